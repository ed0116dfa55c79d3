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
from ouroboros.metrics.context import K_NEIGHBOURS, KNN_ROWS, EvaluationContext
from ouroboros.metrics.neighbours import cross_pass, nearest

#: levels α and β of the integrated α-precision and β-recall
LEVELS = np.arange(1, 20) / 20


def diversity_scores(real: np.ndarray, fake: np.ndarray, k: int = K_NEIGHBOURS) -> dict:
    """Every diversity number of two samples (rows are points), density uncapped.

    Keys: precision, recall, density, coverage, alpha_precision, beta_recall,
    authenticity, and the α and β curves.
    """
    return _manifold(real, fake, nearest(real, real, k + 1)[0], nearest(fake, fake, k + 1)[0], k)


def _manifold(real, fake, real_neighbours, fake_neighbours, k, found=None) -> dict:
    """Every diversity number from the samples, their self-neighbour distances and a cross pass.

    ``real_neighbours``/``fake_neighbours``: squared distances of each row to
    its k + 1 nearest rows of its own sample (itself first).
    """
    real_radius = real_neighbours[:, k]
    if found is None:
        found = cross_pass(fake, real, real_radius, fake_neighbours[:, k], len(real))
    out = {
        "precision": float(found["in_real_ball"].mean()),
        "recall": float(found["in_fake_ball"].mean()),
        "density": float(found["density_count"].sum() / (k * len(fake))),
        "coverage": float((found["nearest_fake"] < real_radius).mean()),
    }
    centre = real.mean(axis=0)
    radii = np.quantile(np.linalg.norm(real - centre, axis=1), LEVELS)
    fake_norm = np.linalg.norm(fake - centre, axis=1)
    precision_curve = (fake_norm[:, None] <= radii[None, :]).mean(axis=0)

    synthetic_norm = np.linalg.norm(fake - fake.mean(axis=0), axis=1)
    nearest_norm = synthetic_norm[found["nearest_fake_index"]]
    close = found["nearest_fake"] <= real_radius
    thresholds = np.quantile(nearest_norm, LEVELS)
    recall_curve = (close[:, None] & (nearest_norm[:, None] <= thresholds[None, :])).mean(axis=0)

    to_real = found["nearest_two"][:, 0]
    own_radius = real_neighbours[found["nearest_index"], 1]
    authentic = (to_real >= own_radius) & (to_real > 0)
    out.update(
        {
            "alpha_precision": float(1 - 2 * np.mean(np.abs(precision_curve - LEVELS))),
            "beta_recall": float(1 - 2 * np.mean(np.abs(recall_curve - LEVELS))),
            "authenticity": float(authentic.mean()),
            "alpha_curve": precision_curve.tolist(),
            "beta_curve": recall_curve.tolist(),
        }
    )
    return out


def self_neighbours(context: EvaluationContext, table) -> np.ndarray:
    """Squared distances of each embedded row of ``table`` to its k + 1 nearest (itself first)."""
    return context.memo(
        ("self-neighbours", table.key),
        lambda: nearest(context.embedding(table), context.embedding(table), K_NEIGHBOURS + 1)[0],
    )


def cross(context: EvaluationContext, prefix: int | None = None) -> dict:
    """The cached :func:`cross_pass` of the synthetic rows against the real rows."""
    real, fake = context.embedding(context.real), context.embedding(context.synthetic)
    prefix = len(real) if prefix is None else prefix

    def make():
        return cross_pass(
            fake,
            real,
            self_neighbours(context, context.real)[:, K_NEIGHBOURS],
            self_neighbours(context, context.synthetic)[:, K_NEIGHBOURS],
            prefix,
        )

    return context.memo(("cross", context.synthetic.key, prefix), make)


def manifold(context: EvaluationContext) -> dict:
    """Every diversity number for the context's synthetic table, computed once."""

    def make():
        real = context.embedding(context.real)
        fake = context.embedding(context.synthetic)
        out = _manifold(
            real,
            fake,
            self_neighbours(context, context.real),
            self_neighbours(context, context.synthetic),
            K_NEIGHBOURS,
            cross(context),
        )
        out["rows"] = [len(real), len(fake)]
        return out

    return context.memo(("manifold", context.synthetic.key), make)


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
