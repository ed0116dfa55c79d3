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
from ouroboros.synthesizers.pgm import GraphicalModel, cells, estimate, model_size_mb

#: share of each round's budget spent measuring (the rest selects), as in the reference
MEASURE_SHARE = 0.9


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
        "round_iterations": Param(50, Integer(minimum=1)),
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
        workload = self._workload(sizes)
        candidates = _closure(workload)
        answers = {c: marginal_counts(codes, sizes, c) for c in candidates}
        # the 1-way marginals take d measurement shares on top of the rounds' own
        sigma = math.sqrt((rounds + d) / (2 * MEASURE_SHARE * rho))
        epsilon = math.sqrt(8 * (1 - MEASURE_SHARE) * rho / rounds)
        measurements = [self._measure(codes, sizes, (a,), sigma, rng) for a in range(d)]
        model = estimate(sizes, measurements, iterations=int(self.round_iterations))
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
            small = [c for c in candidates if _fits(c, cliques, model, sizes, limit)]
            if not small:
                break
            clique = self._select(small, candidates, answers, model, epsilon, sigma, rng)
            before = model.marginal(clique)
            measurements.append(self._measure(codes, sizes, clique, sigma, rng))
            model = estimate(
                sizes, measurements, iterations=int(self.round_iterations), warm=model,
                total=model.total,
            )  # fmt: skip
            self.rounds_ += 1
            after = model.marginal(clique)
            if np.abs(after - before).sum() <= sigma * math.sqrt(2 / math.pi) * after.size:
                sigma, epsilon = sigma / 2, epsilon * 2
            if last:
                break
        return estimate(sizes, measurements, iterations=int(self.iterations), warm=model)

    def _workload(self, sizes: tuple[int, ...]) -> dict[tuple[int, ...], float]:
        """Every ``degree``-way marginal small enough, and its weight in the workload."""
        d = len(sizes)
        degree = min(int(self.degree), d)
        workload = [c for c in itertools.combinations(range(d), degree)]
        return {c: 1.0 for c in workload if cells(c, sizes) <= int(self.max_cells)}

    def _select(self, small, candidates, answers, model, epsilon, sigma, rng):
        """The exponential mechanism on weighted L1 error less the noise's own error."""
        scores, weights = [], []
        for clique in small:
            weight = candidates[clique]
            error = np.abs(answers[clique] - model.marginal(clique)).sum()
            bias = math.sqrt(2 / math.pi) * sigma * cells(clique, model.sizes)
            scores.append(weight * (error - bias))
            weights.append(abs(weight))
        pick = exponential_mechanism(np.array(scores), epsilon, max(weights), rng)
        self.budget_.spend(
            "model", "marginal selection", "exponential mechanism (weighted L1 error)",
            exponential_rho(epsilon), epsilon=float(epsilon), candidates=len(small),
            sensitivity=float(max(weights)),
        )  # fmt: skip
        return small[pick]


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
