"""MST: a maximum spanning tree of noisy pair marginals (McKenna, Miklau & Sheldon 2021,
"Winning the NIST Contest: A scalable and general approach to differentially private
synthetic data").

The model's zCDP budget goes in three equal parts: every 1-way marginal; choosing the
pairs of a spanning tree, one edge at a time by the exponential mechanism on how badly
the independent model (from the noisy 1-way marginals) misses each pair's marginal (L1,
sensitivity 1); measuring the chosen pair marginals. Values whose noisy count is below
three noise scales are pooled into one code before the pairs are measured (the
reference's domain compression), then Private-PGM estimates the tree-shaped model.
"""

from __future__ import annotations

import itertools
from typing import ClassVar

import numpy as np

from ouroboros.privacy.accounting import exponential_rho, gaussian_sigma
from ouroboros.synthesizers.marginal import MarginalSynthesizer, marginal_counts
from ouroboros.synthesizers.pgm import GraphicalModel, Measurement, estimate

#: noisy counts below this many noise scales are pooled (the reference's choice)
POOL_BELOW_SIGMAS = 3.0


class MSTSynthesizer(MarginalSynthesizer):
    """Differentially private MST: 1-way marginals, a noisy maximum spanning tree of pairs."""

    name: ClassVar[str] = "mst"
    mechanism: ClassVar[str] = (
        "MST (McKenna et al. 2021): Gaussian marginals + exponential mechanism"
    )
    test_params: ClassVar[dict] = {
        "epsilon": 100.0,
        "schema_share": 0.2,
        "iterations": 50,
        "bins": 8,
    }

    def _measure_all(self, codes, sizes, rng) -> GraphicalModel:
        rho = self.budget_.allotted("model") / 3.0
        d = len(sizes)
        # every 1-way marginal together: rho/3, split evenly
        sigma1 = gaussian_sigma(rho / d)
        oneway = [self._measure(codes, sizes, (a,), sigma1, rng) for a in range(d)]
        pools = [_pool(m.values, sigma1) for m in oneway]
        self.pools_ = pools
        small = tuple(int(p["map"].max()) + 1 for p in pools)
        coded = np.column_stack([p["map"][codes[:, a]] for a, p in enumerate(pools)])
        measurements = [_pooled(m, p, sigma1) for m, p in zip(oneway, pools, strict=True)]
        edges = self._select(coded, small, measurements, rho, rng) if d > 1 else []
        if edges:
            sigma2 = gaussian_sigma(rho / len(edges))
            measurements += [self._measure(coded, small, e, sigma2, rng) for e in edges]
        return estimate(small, measurements, iterations=int(self.iterations))

    def _select(self, coded, sizes, oneway, rho, rng) -> list[tuple[int, int]]:
        """A spanning tree, one edge per exponential mechanism draw (Kruskal order)."""
        d = len(sizes)
        probs = [np.maximum(m.values, 0) + 1e-9 for m in oneway]
        probs = [p / p.sum() for p in probs]
        total = max(float(np.mean([m.values.sum() for m in oneway])), 1.0)
        scores = {}
        for a, b in itertools.combinations(range(d), 2):
            guess = np.outer(probs[a], probs[b]) * total
            scores[a, b] = float(np.abs(marginal_counts(coded, sizes, (a, b)) - guess).sum())
        epsilon = np.sqrt(8.0 * rho / (d - 1))
        group = list(range(d))

        def find(i: int) -> int:
            while group[i] != i:
                group[i] = group[group[i]]
                i = group[i]
            return i

        chosen = []
        for _ in range(d - 1):
            candidates = [e for e in scores if find(e[0]) != find(e[1])]
            quality = np.array([scores[e] for e in candidates])
            pick = candidates[exponential_mechanism(quality, epsilon, 1.0, rng)]
            self.budget_.spend(
                "model", "spanning-tree edge", "exponential mechanism (L1 error, sensitivity 1)",
                exponential_rho(epsilon), epsilon=float(epsilon), candidates=len(candidates),
            )  # fmt: skip
            group[find(pick[0])] = find(pick[1])
            chosen.append(pick)
        return chosen

    def _sample(self, n, rng):
        return _unpool(self.model_.sample(n, rng), self.pools_, rng)

    def _get_state(self):
        return {**super()._get_state(), "pools": self.pools_}

    def _set_state(self, state):
        super()._set_state(state)
        self.pools_ = [
            {"map": np.asarray(p["map"], dtype=np.int64), "weights": np.asarray(p["weights"])}
            for p in state["pools"]
        ]


def exponential_mechanism(
    quality: np.ndarray, epsilon: float, sensitivity: float, rng: np.random.Generator
) -> int:
    """The index drawn with probability proportional to exp(epsilon q / (2 sensitivity))
    (McSherry & Talwar 2007), by the Gumbel-max trick."""
    logits = epsilon * (quality - quality.max()) / (2.0 * sensitivity)
    return int(np.argmax(logits + rng.gumbel(size=len(quality))))


def _pool(noisy: np.ndarray, sigma: float) -> dict[str, np.ndarray]:
    """Codes with noisy counts under the pooling threshold share one code (the last);
    ``weights`` spread a pooled code back over its values (post-processing only)."""
    rare = noisy < POOL_BELOW_SIGMAS * sigma
    if rare.sum() <= 1:
        return {"map": np.arange(len(noisy)), "weights": np.ones(len(noisy))}
    mapping = np.empty(len(noisy), dtype=np.int64)
    mapping[~rare] = np.arange(int((~rare).sum()))
    mapping[rare] = int((~rare).sum())
    return {"map": mapping, "weights": np.maximum(noisy, 0.0) + 1e-3}


def _pooled(m: Measurement, pool: dict[str, np.ndarray], sigma: float) -> Measurement:
    """A 1-way measurement on the pooled codes: a pooled cell is the sum of its cells,
    its noise scale sqrt(k) times larger."""
    size = int(pool["map"].max()) + 1
    values = np.bincount(pool["map"], weights=m.values, minlength=size)
    pooled = np.bincount(pool["map"], minlength=size)
    return Measurement(m.clique, values, sigma * np.sqrt(pooled.astype(np.float64)))


def _unpool(codes: np.ndarray, pools: list[dict], rng: np.random.Generator) -> np.ndarray:
    out = codes.copy()
    for a, pool in enumerate(pools):
        mapping = pool["map"]
        last = int(mapping.max())
        members = np.flatnonzero(mapping == last)
        if len(members) <= 1:  # nothing pooled: codes are the original ones
            continue
        kept = np.argsort(mapping, kind="stable")[:last]  # original code of each kept code
        pooled_rows = codes[:, a] == last
        out[~pooled_rows, a] = kept[codes[~pooled_rows, a]]
        weights = pool["weights"][members]
        out[pooled_rows, a] = rng.choice(
            members, size=int(pooled_rows.sum()), p=weights / weights.sum()
        )
    return out
