"""Fairness: does the synthetic data keep, or amplify, the differences between groups?

Groups are the values of the sensitive column (the quartiles of the real
column when it is numeric); groups under 1% of the real rows are pooled into
one. Three measures, real against synthetic:

- group shares: 1 - total-variation distance of the group frequencies;
- outcome gap: the spread (largest minus smallest) across groups of the rate
  of the rarest real target class (classification) or of the mean target in
  real standard deviations (regression); the score is synthetic spread over
  real spread, so bias amplification shows as a ratio above 1 (Zemel et al.
  2013 call the rate spread statistical parity);
- utility gap: the spread across groups of the test error of the boosting
  model trained on synthetic rows over that of the one trained on real rows
  (errors: 1 - accuracy, or mean absolute error in target standard deviations).

Spreads below ``MIN_GAP`` (0.05, about the sampling noise of a group's rate
over a hundred rows) in the real data are taken as ``MIN_GAP``, so that the
ratios stay finite and noise between two small spreads is not read as bias.
"""

from __future__ import annotations

import math

import numpy as np

from ouroboros.metrics.base import Metric, MetricResult
from ouroboros.metrics.context import EncodedTable, EvaluationContext
from ouroboros.metrics.utility import _Utility, is_classification, predictions

#: groups under this share of the real rows are pooled
MIN_GROUP_SHARE = 0.01
#: groups with fewer rows than this in a table are left out of its spreads
MIN_GROUP_ROWS = 20
#: floor of the real spread in the ratios
MIN_GAP = 0.05


def groups(context: EvaluationContext, table: EncodedTable) -> tuple[np.ndarray, list[str]]:
    """Group number of every row of ``table`` (-1: missing) and the group labels."""
    column = context.sensitive

    def make():
        if column in context.numeric_columns:
            edges = np.unique(np.quantile(context.real.sorted(column), [0.25, 0.5, 0.75]))
            values = table.numeric[column]
            out = np.searchsorted(edges, values, side="right").astype(np.int64)
            out[np.isnan(values)] = -1
            bounds = [-np.inf, *edges, np.inf]
            labels = [f"[{bounds[i]:.4g}, {bounds[i + 1]:.4g})" for i in range(len(bounds) - 1)]
            return out, labels
        real_counts = context.real.counts(column, context.n_levels(column))[:-1]
        n_real_levels = context.n_real_levels[column]
        shares = real_counts[:n_real_levels] / max(real_counts.sum(), 1)
        kept = int(np.sum(shares >= MIN_GROUP_SHARE))  # levels are in real frequency order
        codes = table.codes[column]
        out = np.where(codes < 0, -1, np.minimum(codes, kept)).astype(np.int64)
        labels = [str(v) for v in context.levels[column][:kept]]
        if kept < context.n_levels(column):
            labels.append("(other)")
        return out, labels

    return table.cached(f"groups:{column}", make)


def _spread(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return max(finite) - min(finite) if len(finite) >= 2 else math.nan


def _outcomes(context: EvaluationContext, table: EncodedTable) -> list[float]:
    """Per group, the rate of the rarest real target class or the standardised mean target."""
    group, labels = groups(context, table)
    if is_classification(context):
        counts = context.real.counts(context.target, context.n_levels(context.target))
        positive = int(np.argmin(np.where(counts[:-1] > 0, counts[:-1], np.iinfo(np.int64).max)))
        codes = table.codes[context.target]
        present = codes >= 0
        outcome = (codes == positive).astype(float)
    else:
        values = table.numeric[context.target]
        present = ~np.isnan(values)
        real = context.real.sorted(context.target)
        scale = float(np.std(real)) or 1.0
        outcome = np.where(present, values, 0.0) / scale
    rates = []
    for g in range(len(labels)):
        rows = (group == g) & present
        rates.append(float(outcome[rows].mean()) if rows.sum() >= MIN_GROUP_ROWS else math.nan)
    return rates


def _shares(context: EvaluationContext, table: EncodedTable) -> np.ndarray:
    group, labels = groups(context, table)
    return np.bincount(group + 1, minlength=len(labels) + 1) / table.n


class _Fairness(Metric):
    category = "fairness"
    sensitive_to = "bias"
    requires = frozenset({"sensitive"})


class GroupShareSimilarity(_Fairness):
    """1 - total-variation distance of the sensitive groups' shares (missing a group)."""

    name = "group_share_similarity"
    direction = "higher"
    best, worst = 1.0, 0.0

    def _compute(self, context: EvaluationContext) -> MetricResult:
        real, synthetic = _shares(context, context.real), _shares(context, context.synthetic)
        _, labels = groups(context, context.real)
        details = {
            "groups": ["(missing)", *labels],
            "real": real.tolist(),
            "synthetic": synthetic.tolist(),
        }
        return MetricResult(1 - 0.5 * float(np.abs(real - synthetic).sum()), [], details)


class OutcomeGapRatio(_Fairness):
    """Spread of the outcome across groups, synthetic over real (above 1: bias amplified)."""

    name = "outcome_gap_ratio"
    direction = "lower"
    best, worst = 1.0, 2.0
    requires = frozenset({"sensitive", "target"})

    def _compute(self, context: EvaluationContext) -> MetricResult:
        real, synthetic = _outcomes(context, context.real), _outcomes(context, context.synthetic)
        real_gap, synthetic_gap = _spread(real), _spread(synthetic)
        _, labels = groups(context, context.real)
        details = {
            "groups": labels,
            "real": real,
            "synthetic": synthetic,
            "real_gap": real_gap,
            "synthetic_gap": synthetic_gap,
            "outcome": (
                f"rate of the rarest class of {context.target!r}"
                if is_classification(context)
                else f"mean {context.target!r} in real standard deviations"
            ),
        }
        if not (math.isfinite(real_gap) and math.isfinite(synthetic_gap)):
            return MetricResult(math.nan, [], details)
        return MetricResult(synthetic_gap / max(real_gap, MIN_GAP), [], details)


def _group_errors(context: EvaluationContext, found: dict) -> list[float]:
    prediction = found["boosting"]
    group, labels = groups(context, found["test_table"])
    group = group[found["test_index"]]
    y = found["y"]
    if prediction is None:
        return [math.nan] * len(labels)
    if is_classification(context):
        error = (prediction.argmax(axis=1) != y).astype(float)
    else:
        scale = float(np.std(context.real.sorted(context.target))) or 1.0
        error = np.abs(prediction - y) / scale
    return [
        float(error[group == g].mean()) if np.sum(group == g) >= MIN_GROUP_ROWS else math.nan
        for g in range(len(labels))
    ]


class UtilityGapRatio(_Utility, _Fairness):
    """Spread of the model error across groups, trained on synthetic over trained on real."""

    name = "utility_gap_ratio"
    direction = "lower"
    best, worst = 1.0, 2.0
    requires = frozenset({"sensitive", "target"})

    def _compute(self, context: EvaluationContext) -> MetricResult:
        real = _group_errors(context, predictions(context, "real"))
        synthetic = _group_errors(context, predictions(context, "synthetic"))
        real_gap, synthetic_gap = _spread(real), _spread(synthetic)
        _, labels = groups(context, context.real)
        details = {
            "groups": labels,
            "trtr_error": real,
            "tstr_error": synthetic,
            "real_gap": real_gap,
            "synthetic_gap": synthetic_gap,
            "model": "boosting",
        }
        if not (math.isfinite(real_gap) and math.isfinite(synthetic_gap)):
            return MetricResult(math.nan, [], details)
        return MetricResult(synthetic_gap / max(real_gap, MIN_GAP), [], details)


METRICS = (GroupShareSimilarity, OutcomeGapRatio, UtilityGapRatio)
