"""Diversity: does the synthetic data cover the real data, and only it?

Computed in the context's fixed embedding on at most ``KNN_ROWS`` rows of each
table, with k = 5 neighbours:

- precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and
  Recall Metric for Assessing Generative Models"): the share of synthetic rows
  inside some real k-NN ball, and of real rows inside some synthetic one (``<=``);
- density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity
  Metrics for Generative Models"), with strict ``<`` to the k-th neighbour radius;
- α-precision, β-recall and authenticity (Alaa et al. 2022, "How Faithful is
  your Synthetic Data?"). The variant pinned here, without the paper's learned
  one-class embedding:

  * α-precision: ``P(α)`` is the share of synthetic rows within the α-quantile
    of the real rows' distances to the real mean; the score is
    ``1 - 2 mean_α |P(α) - α|`` over α = 0.05, 0.10, ..., 0.95;
  * β-recall: a real row counts at level β when its nearest synthetic row lies
    within its own real k-NN radius and that synthetic row is within the
    β-quantile (over the real rows) of the distances to the synthetic mean;
    ``R(β)`` is the share counted and the score ``1 - 2 mean_β |R(β) - β|``.
    The published code compares with the nearest real row (k = 1), which gives
    a perfect generator about 0.5; the k-NN radius gives it about 1 - 2^-k;
  * authenticity: the share of synthetic rows that are not closer to their
    nearest real row than that row is to its own nearest real neighbour (and
    not at distance zero). Copies of real rows score 0; a fresh sample of the
    real distribution about one half.
"""

from __future__ import annotations

import numpy as np

from ouroboros.metrics.base import Metric, MetricResult
from ouroboros.metrics.context import KNN_ROWS, K_NEIGHBOURS, EvaluationContext
from ouroboros.metrics.neighbours import kth_radius, nearest, prdc_pass

#: levels α and β of the integrated α-precision and β-recall
LEVELS = np.arange(1, 20) / 20


def precision_recall_density_coverage(
    real: np.ndarray, fake: np.ndarray, k: int = K_NEIGHBOURS
) -> dict[str, float]:
    """Precision, recall, density (raw, may exceed 1) and coverage of two embedded samples."""
    real_radius = kth_radius(real, k)
    fake_radius = kth_radius(fake, k)
    found = prdc_pass(fake, real, real_radius, fake_radius)
    return _prdc(found, real_radius, k)


def _prdc(found: dict, real_radius: np.ndarray, k: int) -> dict[str, float]:
    return {
        "precision": float(found["in_real_ball"].mean()),
        "recall": float(found["in_fake_ball"].mean()),
        "density": float(found["density_count"].sum() / (k * len(found["in_real_ball"]))),
        "coverage": float((found["nearest_fake"] < real_radius).mean()),
    }


def alpha_beta_authenticity(
    real: np.ndarray, fake: np.ndarray, k: int = K_NEIGHBOURS
) -> dict[str, float]:
    """Integrated α-precision, β-recall and authenticity of two embedded samples."""
    real_neighbours, _ = nearest(real, real, k + 1)
    found = prdc_pass(fake, real, real_neighbours[:, k], kth_radius(fake, k))
    fake_to_real, fake_nearest = nearest(fake, real, 1)
    return _alpha_beta(real, fake, real_neighbours, found, fake_to_real[:, 0], fake_nearest[:, 0])


def _alpha_beta(real, fake, real_neighbours, found, fake_to_real, fake_nearest, k=K_NEIGHBOURS):
    real_norm = np.linalg.norm(real - real.mean(axis=0), axis=1)
    fake_norm = np.linalg.norm(fake - real.mean(axis=0), axis=1)
    radii = np.quantile(real_norm, LEVELS)
    precision_curve = (fake_norm[:, None] <= radii[None, :]).mean(axis=0)

    synthetic_norm = np.linalg.norm(fake - fake.mean(axis=0), axis=1)
    nearest_norm = synthetic_norm[found["nearest_index"]]
    close = found["nearest_fake"] <= real_neighbours[:, k]
    thresholds = np.quantile(nearest_norm, LEVELS)
    recall_curve = (close[:, None] & (nearest_norm[:, None] <= thresholds[None, :])).mean(axis=0)

    own_radius = real_neighbours[fake_nearest, 1]
    authentic = (fake_to_real >= own_radius) & (fake_to_real > 0)
    return {
        "alpha_precision": float(1 - 2 * np.mean(np.abs(precision_curve - LEVELS))),
        "beta_recall": float(1 - 2 * np.mean(np.abs(recall_curve - LEVELS))),
        "authenticity": float(authentic.mean()),
        "alpha_curve": precision_curve.tolist(),
        "beta_curve": recall_curve.tolist(),
    }


def manifold(context: EvaluationContext) -> dict:
    """Every diversity number for the context's synthetic table, computed once."""

    def make():
        real = context.embedding(context.real)
        fake = context.embedding(context.synthetic)
        real_neighbours = context.memo(
            ("self-neighbours", context.real.key), lambda: nearest(real, real, K_NEIGHBOURS + 1)[0]
        )
        fake_radius = kth_radius(fake, K_NEIGHBOURS)
        found = prdc_pass(fake, real, real_neighbours[:, K_NEIGHBOURS], fake_radius)
        to_real, index = cross_neighbours(context)
        out = _prdc(found, real_neighbours[:, K_NEIGHBOURS], K_NEIGHBOURS)
        out.update(_alpha_beta(real, fake, real_neighbours, found, to_real[:, 0], index[:, 0]))
        out["rows"] = [len(real), len(fake)]
        return out

    return context.memo(("manifold", context.synthetic.key), make)


def cross_neighbours(context: EvaluationContext) -> tuple[np.ndarray, np.ndarray]:
    """Squared distances and indices of every synthetic row's two nearest real rows."""
    return context.memo(
        ("cross-neighbours", context.synthetic.key),
        lambda: nearest(context.embedding(context.synthetic), context.embedding(context.real), 2),
    )


class _Diversity(Metric):
    category = "diversity"
    direction = "higher"
    best, worst = 1.0, 0.0
    subsample = f"at most {KNN_ROWS:,} rows of each table (exact k-NN distances are O(n²))"

    def not_applicable(self, context: EvaluationContext) -> str | None:
        if min(context.real.n, context.synthetic.n) <= K_NEIGHBOURS + 1:
            return f"needs more than {K_NEIGHBOURS + 1} real and synthetic rows"
        return super().not_applicable(context)

    def _compute(self, context: EvaluationContext) -> MetricResult:
        found = manifold(context)
        return MetricResult(found[self.name], [], {"k": K_NEIGHBOURS, "rows": found["rows"]})


class Precision(_Diversity):
    """Share of synthetic rows inside the k-NN ball of some real row (Kynkäänniemi et al. 2019)."""

    name = "precision"


class Recall(_Diversity):
    """Share of real rows inside the k-NN ball of some synthetic row (Kynkäänniemi et al. 2019)."""

    name = "recall"


class Density(_Diversity):
    """Density (Naeem et al. 2020), capped at 1; the raw value is in the details.

    Above 1, synthetic rows crowd the dense regions of the real data, a sign of
    collapse: read it beside coverage.
    """

    name = "density"

    def _compute(self, context: EvaluationContext) -> MetricResult:
        found = manifold(context)
        details = {"raw": found["density"], "k": K_NEIGHBOURS, "rows": found["rows"]}
        return MetricResult(min(found["density"], 1.0), [], details)


class Coverage(_Diversity):
    """Share of real rows whose k-NN ball holds a synthetic row (Naeem et al. 2020)."""

    name = "coverage"


class AlphaPrecision(_Diversity):
    """Integrated α-precision (Alaa et al. 2022): synthetic rows as typical as real ones."""

    name = "alpha_precision"

    def _compute(self, context: EvaluationContext) -> MetricResult:
        found = manifold(context)
        details = {"levels": LEVELS.tolist(), "curve": found["alpha_curve"], "rows": found["rows"]}
        return MetricResult(found[self.name], [], details)


class BetaRecall(_Diversity):
    """Integrated β-recall (Alaa et al. 2022): the real data's variety that is reproduced."""

    name = "beta_recall"

    def _compute(self, context: EvaluationContext) -> MetricResult:
        found = manifold(context)
        details = {"levels": LEVELS.tolist(), "curve": found["beta_curve"], "rows": found["rows"]}
        return MetricResult(found[self.name], [], details)


class Authenticity(_Diversity):
    """Share of synthetic rows that are not closer to a real row than real rows are to each other.

    Alaa et al. 2022; copies score 0, a fresh sample of the real distribution about 0.5.
    """

    name = "authenticity"
    sensitive_to = "memorisation"


METRICS = (Precision, Recall, Density, Coverage, AlphaPrecision, BetaRecall, Authenticity)
