"""Simulated structural causal models with mixed types, nonlinear links and confounding.

Each :class:`SCM` draws a table from its structural equations and, because every equation
is known, the exact interventional distribution under ``do(treatment = value)`` or a shift
of it (Pearl 2009, "Causality", ch. 3): the yardstick for what a generator claims about
interventions. The treatment's parents also drive the outcome, so conditioning on the
treatment (what a correlational generator can do) is biased by confounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

Equation = Callable[[dict[str, np.ndarray], np.random.Generator, int], np.ndarray]


@dataclass(frozen=True)
class SCM:
    """A structural causal model: equations in topological order, the true edges, and the
    treatment, outcome and the two treatment settings whose effect is compared.

    ``treated`` and ``control`` are values set by ``do``, or, for a numeric treatment,
    strings such as ``"+1"`` that shift it.
    """

    name: str
    equations: tuple[tuple[str, Equation], ...]
    edges: tuple[tuple[str, str], ...]
    treatment: str
    outcome: str
    treated: Any
    control: Any
    positive: Any = None  # for a categorical outcome, the value whose probability is compared

    def sample(
        self, n: int, rng: np.random.Generator, interventions: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """``n`` rows; ``interventions`` sets (or with ``"+d"`` shifts) columns by ``do``."""
        interventions = interventions or {}
        values: dict[str, np.ndarray] = {}
        for name, equation in self.equations:
            drawn = equation(values, rng, n)
            if name in interventions:
                wanted = interventions[name]
                if isinstance(wanted, str) and wanted[:1] in "+-" and _is_number(wanted[1:]):
                    drawn = drawn + float(wanted)
                else:
                    drawn = np.full(n, wanted, dtype=drawn.dtype)
            values[name] = drawn
        return pd.DataFrame(values)

    def outcome_mean(self, table: pd.DataFrame) -> float:
        """The mean outcome (the share of ``positive`` for a categorical outcome)."""
        y = table[self.outcome]
        return float((y == self.positive).mean() if self.positive is not None else y.mean())

    def true_effect(self, n: int = 400_000, seed: int = 0) -> float:
        """The average treatment effect ``E[Y | do(treated)] - E[Y | do(control)]``, by
        Monte Carlo on the true equations (common random numbers keep it precise)."""
        treated = self.sample(n, np.random.default_rng(seed), {self.treatment: self.treated})
        control = self.sample(n, np.random.default_rng(seed), {self.treatment: self.control})
        return self.outcome_mean(treated) - self.outcome_mean(control)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _choice(rng: np.random.Generator, p: np.ndarray, labels: list[str]) -> np.ndarray:
    """One label per row from row-wise probabilities ``p`` (n, k)."""
    cumulative = np.cumsum(p, axis=1)
    u = rng.random(len(p))[:, None]
    return np.asarray(labels, dtype=object)[(u > cumulative).sum(axis=1).clip(0, len(labels) - 1)]


def _binary(rng: np.random.Generator, logit: np.ndarray, yes: str = "yes", no: str = "no"):
    return np.where(rng.random(len(logit)) < expit(logit), yes, no).astype(object)


def _smoking() -> SCM:
    """Age and sex confound smoking and health cost; fitness mediates part of the effect."""
    eqs = (
        ("age", lambda v, r, n: np.round(18 + r.gamma(4.0, 8.0, n), 0)),
        ("sex", lambda v, r, n: np.where(r.random(n) < 0.45, "F", "M").astype(object)),
        (
            "smoker",
            lambda v, r, n: _binary(r, -2.0 + 0.05 * (v["age"] - 40) + 1.2 * (v["sex"] == "M")),
        ),
        (
            "fitness",
            lambda v, r, n: (
                10
                - 2.0 * (v["smoker"] == "yes")
                - 0.002 * (v["age"] - 30) ** 2
                + r.normal(0, 1.5, n)
            ),
        ),
        (
            "cost",
            lambda v, r, n: (
                20
                + 6.0 * (v["smoker"] == "yes")
                + 0.02 * (v["age"] - 40) ** 2
                - 1.5 * v["fitness"]
                + 3.0 * (v["sex"] == "M")
                + r.gumbel(0, 2.0, n)
            ),
        ),
    )
    edges = (
        ("age", "smoker"),
        ("sex", "smoker"),
        ("smoker", "fitness"),
        ("age", "fitness"),
        ("smoker", "cost"),
        ("age", "cost"),
        ("fitness", "cost"),
        ("sex", "cost"),
    )
    return SCM("smoking", eqs, edges, "smoker", "cost", "yes", "no")


def _dose() -> SCM:
    """Region and income confound a continuous dose; the response is nonlinear in both."""
    shares = np.array([0.5, 0.3, 0.2])
    eqs = (
        ("region", lambda v, r, n: _choice(r, np.tile(shares, (n, 1)), ["north", "south", "east"])),
        (
            "income",
            lambda v, r, n: np.exp(
                3.0
                + 0.4 * (v["region"] == "south")
                - 0.3 * (v["region"] == "east")
                + r.normal(0, 0.4, n)
            ),
        ),
        (
            "dose",
            lambda v, r, n: (
                2.0 + 0.08 * v["income"] + 1.0 * (v["region"] == "east") + r.laplace(0, 0.6, n)
            ),
        ),
        (
            "response",
            lambda v, r, n: (
                1.5 * v["dose"]
                + 3.0 * np.sqrt(v["income"])
                - 2.0 * (v["region"] == "east")
                + r.normal(0, 1.0, n)
            ),
        ),
    )
    edges = (
        ("region", "income"),
        ("region", "dose"),
        ("income", "dose"),
        ("dose", "response"),
        ("income", "response"),
        ("region", "response"),
    )
    return SCM("dose", eqs, edges, "dose", "response", "+1", "+0")


def _tutoring() -> SCM:
    """School and ability confound tutoring and passing, a categorical outcome."""
    shares = np.array([0.4, 0.35, 0.25])
    eqs = (
        ("school", lambda v, r, n: _choice(r, np.tile(shares, (n, 1)), ["A", "B", "C"])),
        (
            "ability",
            lambda v, r, n: (
                0.5 * (v["school"] == "A") - 0.4 * (v["school"] == "C") + r.normal(0, 1.0, n)
            ),
        ),
        (
            "tutoring",
            lambda v, r, n: _binary(r, -0.5 - 1.2 * v["ability"] + 0.8 * (v["school"] == "A")),
        ),
        (
            "passed",
            lambda v, r, n: _binary(
                r,
                0.2
                + 0.9 * (v["tutoring"] == "yes")
                + 1.5 * v["ability"]
                + 0.7 * (v["school"] == "A"),
            ),
        ),
    )
    edges = (
        ("school", "ability"),
        ("school", "tutoring"),
        ("ability", "tutoring"),
        ("tutoring", "passed"),
        ("ability", "passed"),
        ("school", "passed"),
    )
    return SCM("tutoring", eqs, edges, "tutoring", "passed", "yes", "no", positive="yes")


def scenarios() -> dict[str, SCM]:
    """The simulated SCMs of the causal benchmark and tests, by name."""
    return {scm.name: scm for scm in (_smoking(), _dose(), _tutoring())}
