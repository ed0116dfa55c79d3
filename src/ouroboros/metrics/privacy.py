"""Privacy: does the synthetic data give away the rows it was trained on?

Distances are Euclidean in the context's fixed embedding, on at most
``KNN_ROWS`` rows per table (for the DCR share, the training rows are cut to
the number of holdout rows, so that a generator that never saw the training
rows puts half of its rows nearer to each). A subsample only sees the
memorisation of the training rows it holds: with N training rows, a copied row
is seen with probability about ``KNN_ROWS / N``. Exact copies are therefore
also counted on every row, by hashing whole rows.

- distance to closest record (DCR): the median distance of a synthetic row to
  its nearest training row, over the same for a holdout row (1: as far as
  unseen real data; Park et al. 2018, "Data Synthesis based on Generative
  Adversarial Networks");
- DCR share: the share of synthetic rows closer to the training rows than to
  the holdout rows (0.5 is ideal; Platzer & Reutterer 2021, "Holdout-Based
  Fidelity and Privacy Assessment of Mixed-Type Synthetic Data");
- exact-copy rate; nearest-neighbour distance ratio (NNDR: nearest over second
  nearest training row, median; near 0 for copies);
- membership inference: an attacker calls a candidate row a training member
  when a synthetic row lies close to it; the ROC AUC of that distance over
  training members against holdout non-members (0.5: no better than chance;
  Hilprecht et al. 2019, "Monte Carlo and Reconstruction Membership Inference
  Attacks against Generative Models").
"""

from __future__ import annotations

import numpy as np

from ouroboros.metrics.base import Metric, MetricResult
from ouroboros.metrics.context import KNN_ROWS, EvaluationContext
from ouroboros.metrics.diversity import cross
from ouroboros.metrics.neighbours import nearest_both_ways
from ouroboros.metrics.stats import roc_auc

#: bins of the distance-to-closest-record histogram in the report
DCR_BINS = 40


def _distances(context: EvaluationContext) -> dict:
    """Nearest distances between the synthetic, training and holdout subsamples."""

    def make():
        synthetic = context.embedding(context.synthetic)
        train = context.embedding(context.real)
        holdout = context.embedding(context.holdout)
        m = min(len(train), len(holdout))
        holdout = holdout[:m]
        found = cross(context, m)
        synthetic_to_holdout, holdout_to_synthetic = nearest_both_ways(synthetic, holdout)
        holdout_to_train = context.memo(
            ("holdout-to-train", context.holdout.key),
            lambda: nearest_both_ways(holdout, train)[0],
        )
        return {
            "synthetic_to_train": np.sqrt(found["nearest_two"][:, 0]),
            "holdout_to_train": np.sqrt(holdout_to_train),
            "synthetic_to_prefix": np.sqrt(found["nearest_prefix"]),
            "synthetic_to_holdout": np.sqrt(synthetic_to_holdout),
            "train_to_synthetic": np.sqrt(found["nearest_fake"][:m]),
            "holdout_to_synthetic": np.sqrt(holdout_to_synthetic),
            "rows": {"synthetic": len(synthetic), "training": len(train), "holdout": m},
        }

    return context.memo(("privacy", context.synthetic.key, context.holdout.key), make)


class _Privacy(Metric):
    category = "privacy"
    sensitive_to = "memorisation"
    subsample = (
        f"at most {KNN_ROWS:,} rows of each table (exact k-NN distances are O(n²)); "
        "memorised rows are seen only when their original is in the subsample"
    )

    def not_applicable(self, context: EvaluationContext) -> str | None:
        if min(context.real.n, context.synthetic.n) < 3:
            return "needs at least 3 real and 3 synthetic rows"
        return super().not_applicable(context)


class _HoldoutPrivacy(_Privacy):
    requires = frozenset({"holdout"})
    uses_holdout = True


def _histogram(first: np.ndarray, second: np.ndarray) -> dict:
    high = float(np.quantile(np.r_[first, second], 0.99))
    edges = np.linspace(0.0, high if high > 0 else 1.0, DCR_BINS + 1)
    return {
        "edges": edges.tolist(),
        "synthetic": (np.histogram(np.minimum(first, edges[-1]), edges)[0] / len(first)).tolist(),
        "holdout": (np.histogram(np.minimum(second, edges[-1]), edges)[0] / len(second)).tolist(),
    }


class DCRRatio(_HoldoutPrivacy):
    """Median distance to the closest training row, synthetic over holdout rows (1: as unseen)."""

    name = "dcr_ratio"
    direction = "higher"
    best, worst = 1.0, 0.0

    def _compute(self, context: EvaluationContext) -> MetricResult:
        found = _distances(context)
        synthetic, holdout = found["synthetic_to_train"], found["holdout_to_train"]
        median_holdout = float(np.median(holdout))
        value = float(np.median(synthetic)) / median_holdout if median_holdout > 0 else np.nan
        details = {
            "median_synthetic": float(np.median(synthetic)),
            "median_holdout": median_holdout,
            "p5_synthetic": float(np.quantile(synthetic, 0.05)),
            "p5_holdout": float(np.quantile(holdout, 0.05)),
            "histogram": _histogram(synthetic, holdout),
            "rows": found["rows"],
        }
        return MetricResult(value, [], details)


class DCRShare(_HoldoutPrivacy):
    """Share of synthetic rows closer to the training rows than to the holdout rows (0.5 ideal)."""

    name = "dcr_share"
    direction = "lower"
    best, worst = 0.5, 1.0

    def _compute(self, context: EvaluationContext) -> MetricResult:
        found = _distances(context)
        train, holdout = found["synthetic_to_prefix"], found["synthetic_to_holdout"]
        share = np.mean(train < holdout) + 0.5 * np.mean(train == holdout)
        return MetricResult(float(share), [], {"rows": found["rows"]})


class MembershipAUC(_HoldoutPrivacy):
    """ROC AUC of a distance-based membership-inference attack (0.5: chance; below is chance)."""

    name = "membership_auc"
    direction = "lower"
    best, worst = 0.5, 1.0

    def _compute(self, context: EvaluationContext) -> MetricResult:
        found = _distances(context)
        members, others = found["train_to_synthetic"], found["holdout_to_synthetic"]
        labels = np.r_[np.ones(len(members)), np.zeros(len(others))]
        auc = float(roc_auc(labels, -np.r_[members, others]))
        return MetricResult(max(auc, 0.5), [], {"raw_auc": auc, "rows": found["rows"]})


class ExactCopyRate(_Privacy):
    """Share of synthetic rows identical to some training row on every evaluated column."""

    name = "exact_copy_rate"
    direction = "lower"
    best, worst = 0.0, 1.0
    subsample = None

    def _compute(self, context: EvaluationContext) -> MetricResult:
        real = context.real.cached("sorted_hash", lambda: np.sort(context.row_hash(context.real)))
        synthetic = context.row_hash(context.synthetic)
        position = np.minimum(np.searchsorted(real, synthetic), len(real) - 1)
        copies = real[position] == synthetic
        return MetricResult(float(copies.mean()), [], {"copies": int(copies.sum())})


class NNDR(_Privacy):
    """Median nearest-neighbour distance ratio of synthetic rows to training rows (0: copies)."""

    name = "nndr"
    direction = "higher"
    best, worst = 1.0, 0.0

    def _compute(self, context: EvaluationContext) -> MetricResult:
        squared = cross(context)["nearest_two"]
        if squared.shape[1] < 2:
            return MetricResult(np.nan)
        first, second = np.sqrt(squared[:, 0]), np.sqrt(squared[:, 1])
        ratio = np.divide(first, second, out=np.zeros_like(first), where=second > 0)
        return MetricResult(float(np.median(ratio)), [], {"p5": float(np.quantile(ratio, 0.05))})


METRICS = (DCRRatio, DCRShare, ExactCopyRate, NNDR, MembershipAUC)
