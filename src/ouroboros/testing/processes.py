"""Tables made by known processes, and the estimators that check a generator recovers them:
an AR(1) series, entities with Poisson lengths, an AR(1) value and a Markov chain of events."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: the Markov chain of events: row = current state, column = next state
TRANSITIONS = np.array([[0.1, 0.7, 0.2], [0.3, 0.1, 0.6], [0.5, 0.4, 0.1]])
STATES = ["idle", "run", "stop"]


def ar1_series(n: int, phi: float, seed: int = 0) -> pd.DataFrame:
    """One AR(1) series ``x_t = phi x_{t-1} + e_t`` indexed by step."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    x[0] = rng.normal(0, 1 / np.sqrt(1 - phi**2))
    for t in range(1, n):
        x[t] = phi * x[t - 1] + rng.normal()
    return pd.DataFrame({"step": np.arange(n), "x": np.round(x, 4)})


def entity_table(n_entities: int, rate: float, phi: float, seed: int = 0) -> pd.DataFrame:
    """Entities of ``1 + Poisson(rate)`` events: an AR(1) value and a Markov chain of events."""
    rng = np.random.default_rng(seed)
    rows = []
    for entity in range(n_entities):
        length = 1 + int(rng.poisson(rate))
        x = rng.normal(0, 1 / np.sqrt(1 - phi**2))
        state = int(rng.integers(3))
        for step in range(length):
            if step:
                x = phi * x + rng.normal()
                state = int(rng.choice(3, p=TRANSITIONS[state]))
            rows.append({"id": entity, "step": step, "x": round(x, 4), "event": STATES[state]})
    return pd.DataFrame(rows)


def lag1(table: pd.DataFrame, key: str | None = None) -> float:
    """The pooled lag-1 autocorrelation about zero (the processes have mean 0), over the
    pairs of consecutive events of the same entity."""
    x = table["x"].to_numpy()
    same = np.ones(len(x) - 1, dtype=bool)
    if key is not None:
        ids = table[key].to_numpy()
        same = ids[1:] == ids[:-1]
    a, b = x[:-1][same], x[1:][same]
    return float(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b)))


def transition_matrix(table: pd.DataFrame, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Estimated transition probabilities and the counts of each current state."""
    codes = table["event"].map({s: i for i, s in enumerate(STATES)}).to_numpy()
    ids = table[key].to_numpy()
    same = ids[1:] == ids[:-1]
    counts = np.zeros((3, 3))
    np.add.at(counts, (codes[:-1][same], codes[1:][same]), 1)
    totals = counts.sum(axis=1)
    return counts / np.maximum(totals[:, None], 1), totals
