"""AIM: adaptive, iterative selection of marginals under zCDP (McKenna, Mullins, Sheldon &
Miklau 2022, "AIM: An Adaptive and Iterative Mechanism for Differentially Private
Synthetic Data").

After every 1-way marginal, each round picks the candidate marginal (from the workload:
all ``degree``-way marginals and their subsets) that the current model gets most wrong,
by the exponential mechanism on its L1 error minus the error the noise alone would
cause, weighted by how much of the workload it covers; candidates that would grow the
junction tree past a share of ``max_model_size`` proportional to the budget spent are
skipped. The chosen marginal is measured with Gaussian noise and the model re-estimated
(warm-started Private-PGM). When a measurement barely changed the model, the noise is
halved and the selection sharpened (annealing); the last round spends what is left.

Beside its full resolution, every candidate of two or more attributes is offered at
coarser ones (``RESOLUTIONS`` groups per attribute: runs of the attribute's order, of
about equal mass under the noisy 1-way marginals, so post-processing). Private-PGM fits
such grouped counts as any linear query (McKenna, Sheldon & Miklau 2019), and the
exponential mechanism weighs a coarse table's smaller noise (its bias term counts its
cells) against the detail it gives up: on a small table at a small budget a 32 x 32 pair
is mostly noise while a 4 x 4 one is not, the reason fixed-size grids lose to adaptive
ones in Qardaji, Yang & Li 2013 ("Differentially private grids for geospatial data").
"""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

import numpy as np

from ouroboros.privacy.accounting import exponential_rho, gaussian_rho
from ouroboros.synthesizers.marginal import MarginalSynthesizer, marginal_counts
from ouroboros.synthesizers.mst import exponential_mechanism
from ouroboros.synthesizers.params import Integer, Number, Param
from ouroboros.synthesizers.pgm import GraphicalModel, coarsen, estimate, model_size_mb

#: share of each round's budget spent measuring (the rest selects), as in the reference
MEASURE_SHARE = 0.9
#: groups per attribute of the coarser resolutions a marginal may be measured at
RESOLUTIONS = (4, 8, 16)
#: a candidate measurement: a clique and its resolution (``None``: every code)
Key = tuple[tuple[int, ...], int | None]


class AIMSynthesizer(MarginalSynthesizer):
    """Differentially private AIM over a workload of all ``degree``-way marginals."""

    name: ClassVar[str] = "aim"
    mechanism: ClassVar[str] = (
        "AIM (McKenna et al. 2022): Gaussian marginals + exponential-mechanism selection"
    )
    #: the last estimate starts from the rounds' warm-started model: fewer steps suffice
    defaults: ClassVar[dict] = {"iterations": 300}
    parameters: ClassVar[dict[str, Param]] = {
        "degree": Param(2, Integer(minimum=1)),
        # megabytes of clique tables (the reference's 80 is far past 2 minutes here)
        "max_model_size": Param(1.0, Number(0.0, closed="neither")),
        "max_cells": Param(10_000, Integer(minimum=1)),
        "rounds": Param(None, Integer(minimum=1, optional=True)),
        "round_iterations": Param(100, Integer(minimum=1)),
    }
    test_params: ClassVar[dict] = {
        "epsilon": 100.0,
        "schema_share": 0.2,
        "iterations": 50,
        "round_iterations": 10,
        "bins": 8,
        "rounds": 6,
    }

    def _measure_all(self, codes, sizes, rng) -> GraphicalModel:
        d = len(sizes)
        rho = self.budget_.allotted("model")
        rounds = int(self.rounds or 16 * d)
        # the 1-way marginals take d measurement shares on top of the rounds' own
        sigma = math.sqrt((rounds + d) / (2 * MEASURE_SHARE * rho))
        epsilon = math.sqrt(8 * (1 - MEASURE_SHARE) * rho / rounds)
        measurements = [self._measure(codes, sizes, (a,), sigma, rng) for a in range(d)]
        model = estimate(sizes, measurements, iterations=int(self.round_iterations))
        levels = self._levels(model, sizes)
        candidates = self._candidates(sizes, levels)
        answers = {key: _answer(codes, sizes, key, levels) for key in candidates}
        self.rounds_ = 0
        while True:
            left = self.budget_.remaining("model")
            last = left < 2 * (gaussian_rho(sigma) + exponential_rho(epsilon))
            if last:
                sigma = math.sqrt(1 / (2 * MEASURE_SHARE * left))
                epsilon = math.sqrt(8 * (1 - MEASURE_SHARE) * left)
            spent = self.budget_.spent("model") + gaussian_rho(sigma) + exponential_rho(epsilon)
            limit = float(self.max_model_size) * spent / rho
            cliques = [m.clique for m in measurements] + model.tree.cliques
            fits = {c: _fits(c, cliques, model, sizes, limit) for c in {k[0] for k in candidates}}
            small = [k for k in candidates if fits[k[0]]]
            if not small:
                break
            key = self._select(small, candidates, answers, model, levels, epsilon, sigma, rng)
            groups = _groups(key, levels)
            before = coarsen(model.marginal(key[0]), groups)
            measurements.append(self._measure(codes, sizes, key[0], sigma, rng, groups))
            model = estimate(
                sizes, measurements, iterations=int(self.round_iterations), warm=model,
                total=model.total,
            )  # fmt: skip
            self.rounds_ += 1
            after = coarsen(model.marginal(key[0]), groups)
            if np.abs(after - before).sum() <= sigma * math.sqrt(2 / math.pi) * after.size:
                sigma, epsilon = sigma / 2, epsilon * 2
            if last:
                break
        return estimate(sizes, measurements, iterations=int(self.iterations), warm=model)

    def _workload(self, sizes: tuple[int, ...]) -> dict[tuple[int, ...], float]:
        """Every ``degree``-way marginal, each of weight 1."""
        degree = min(int(self.degree), len(sizes))
        return {c: 1.0 for c in itertools.combinations(range(len(sizes)), degree)}

    def _levels(self, model: GraphicalModel, sizes) -> dict[int, list[np.ndarray | None]]:
        """Per coarser resolution (groups per attribute), each attribute's map from codes
        to groups of about equal mass under the noisy 1-way marginals (post-processing),
        contiguous in the attribute's order; ``None`` where it has few codes already."""
        levels = {}
        for k in RESOLUTIONS:
            maps = []
            for a, size in enumerate(sizes):
                if size <= k:
                    maps.append(None)
                    continue
                weights = np.maximum(model.marginal((a,)), 0.0) + 1e-9
                order = _order(self.transformer_.modelled[a], weights)
                maps.append(equal_mass_groups(weights, order, k))
            levels[k] = maps
        return levels

    def _candidates(self, sizes, levels) -> dict[Key, float]:
        """The workload's closure, each clique at its full resolution and at every coarser
        one that merges some of its codes, within ``max_cells`` measured cells."""
        out = {}
        for clique, weight in _closure(self._workload(sizes)).items():
            keys = [(clique, None)]
            if len(clique) > 1:
                keys += [(clique, k) for k in RESOLUTIONS if any(sizes[a] > k for a in clique)]
            for key in keys:
                groups = _groups(key, levels)
                shape = [sizes[a] if g is None else int(g.max()) + 1 for a, g in zip(
                    clique, groups or [None] * len(clique), strict=True)]  # fmt: skip
                if math.prod(shape) <= int(self.max_cells):
                    out[key] = weight
        return out

    def _select(self, small, candidates, answers, model, levels, epsilon, sigma, rng) -> Key:
        """The exponential mechanism on weighted L1 error less the noise's own error."""
        scores, weights, fine = [], [], {}
        for key in small:
            if key[0] not in fine:
                fine[key[0]] = model.marginal(key[0])
            weight = candidates[key]
            answer = answers[key]
            error = np.abs(answer - coarsen(fine[key[0]], _groups(key, levels))).sum()
            bias = math.sqrt(2 / math.pi) * sigma * answer.size
            scores.append(weight * (error - bias))
            weights.append(abs(weight))
        pick = exponential_mechanism(np.array(scores), epsilon, max(weights), rng)
        self.budget_.spend(
            "model", "marginal selection", "exponential mechanism (weighted L1 error)",
            exponential_rho(epsilon), epsilon=float(epsilon), candidates=len(small),
            sensitivity=float(max(weights)),
        )  # fmt: skip
        return small[pick]


def equal_mass_groups(weights: np.ndarray, order: np.ndarray, k: int) -> np.ndarray:
    """A map from codes to at most ``k`` groups, each a run of ``order`` holding about
    1/k of ``weights``' mass (a code heavier than that is a group of its own)."""
    share = weights[order] / weights.sum()
    middle = np.cumsum(share) - share / 2
    raw = np.minimum((middle * k).astype(np.int64), k - 1)
    out = np.empty(len(weights), dtype=np.int64)
    out[order] = np.unique(raw, return_inverse=True)[1]
    return out


def _order(spec: dict, weights: np.ndarray) -> np.ndarray:
    """Codes in their natural order: bins of a number, categories that are all numbers by
    value; other categories by decreasing (noisy) count, so that rare ones pool."""
    if spec["type"] == "numeric":
        return np.arange(len(weights))
    labels = spec["categories"]
    if labels and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in labels):
        by_value = np.argsort(np.asarray(labels, dtype=np.float64), kind="stable")
        return np.r_[by_value, np.arange(len(labels), len(weights))]  # missing code last
    return np.argsort(-weights, kind="stable")


def _groups(key: Key, levels) -> tuple[np.ndarray | None, ...] | None:
    clique, k = key
    return None if k is None else tuple(levels[k][a] for a in clique)


def _answer(codes, sizes, key: Key, levels) -> np.ndarray:
    return coarsen(marginal_counts(codes, sizes, key[0]), _groups(key, levels))


def _closure(workload: dict[tuple[int, ...], float]) -> dict[tuple[int, ...], float]:
    """Every non-empty subset of a workload clique, weighted by the workload attributes it
    shares (the reference's weighting)."""
    out: dict[tuple[int, ...], float] = {}
    subsets = {
        s for c in workload for r in range(1, len(c) + 1) for s in itertools.combinations(c, r)
    }
    for subset in sorted(subsets):
        out[subset] = float(sum(w * len(set(subset) & set(c)) for c, w in workload.items()))
    return out


def _fits(clique, cliques, model: GraphicalModel, sizes, limit: float) -> bool:
    """Whether adding ``clique`` keeps the junction tree under ``limit`` megabytes (a
    clique the tree already holds always fits)."""
    if model.tree.home(clique) is not None:
        return True
    return model_size_mb([*cliques, clique], len(sizes), sizes) <= limit
