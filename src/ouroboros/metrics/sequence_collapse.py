"""Collapse indicators for sequences: what recursive training takes from them first.

As with rows (:mod:`~ouroboros.metrics.collapse`; Shumailov et al. 2024, Dohmatob et al.
2024), collapse removes tails and shrinks variety; on sequences the tails are the large
changes from one event to the next (shocks, volatility) and the long sequences, and the
dynamics drift towards a smoother, shorter memory. Each "kept" indicator is a ratio of
what the synthetic data keeps to what the real data has, capped at 1; the drift is the
change of the autocorrelation curve.
"""

from __future__ import annotations

import numpy as np

from ouroboros.metrics.base import Metric, MetricResult, mean_of
from ouroboros.metrics.context import EvaluationContext
from ouroboros.metrics.sequence_view import acf, changes, sequence_columns, view

#: changes beyond this real quantile of the absolute change are the tail
CHANGE_QUANTILE = 0.99
#: sequences longer than this real quantile of the length are the long ones
LONG_QUANTILE = 0.9
#: lags of the drift's autocorrelation curve
DRIFT_LAGS = 5


class _SequenceCollapse(Metric):
    category = "collapse"
    direction = "higher"
    best, worst = 1.0, 0.0
    requires = frozenset({"sequence"})


class ChangeTailKept(_SequenceCollapse):
    """Share of the large event-to-event changes kept: synthetic share of absolute changes
    beyond the real 99th percentile, over the real share, per numeric event column."""

    name = "change_tail_kept"

    def _compute(self, context: EvaluationContext) -> MetricResult:
        real, synthetic = view(context, context.real), view(context, context.synthetic)
        raw = []
        for column in sequence_columns(context)[0]:
            a, b = np.abs(changes(real, column)), np.abs(changes(synthetic, column))
            if len(a) < 20:
                continue
            edge = np.quantile(a, CHANGE_QUANTILE)
            real_share = float(np.mean(a > edge))
            if real_share > 0:
                raw.append((column, float(np.mean(b > edge)) / real_share if len(b) else 0.0))
        rows = [(label, min(v, 1.0)) for label, v in raw]
        return MetricResult(mean_of(rows) if rows else 1.0, rows, {"raw": dict(raw)})


class LongSequencesKept(_SequenceCollapse):
    """Share of the long sequences kept: synthetic share of entities longer than the real
    90th percentile of the length, over the real share."""

    name = "long_sequences_kept"

    def not_applicable(self, context: EvaluationContext) -> str | None:
        reason = super().not_applicable(context)
        if reason is None and context.schema.sequence.key is None:
            return "one series has no entities to count events of"
        return reason

    def _compute(self, context: EvaluationContext) -> MetricResult:
        real, synthetic = view(context, context.real), view(context, context.synthetic)
        edge = np.quantile(real.lengths, LONG_QUANTILE)
        real_share = float(np.mean(real.lengths > edge))
        if real_share == 0:
            return MetricResult(1.0, [("length", 1.0)], {"raw": 1.0})
        ratio = float(np.mean(synthetic.lengths > edge)) / real_share
        return MetricResult(min(ratio, 1.0), [("length", min(ratio, 1.0))], {"raw": ratio})


class AutocorrelationDrift(_SequenceCollapse):
    """How far the autocorrelation moved: mean absolute change of the autocorrelation at
    lags 1-5 per numeric event column (0: the same memory)."""

    name = "autocorrelation_drift"
    direction = "lower"
    best, worst = 0.0, 0.5

    def _compute(self, context: EvaluationContext) -> MetricResult:
        real, synthetic = view(context, context.real), view(context, context.synthetic)
        rows, details = [], {}
        for column in sequence_columns(context)[0]:
            a = acf(real, real.numeric[column], DRIFT_LAGS)
            b = acf(synthetic, synthetic.numeric[column], DRIFT_LAGS)
            keep = np.isfinite(a) & np.isfinite(b)
            if keep.any():
                rows.append((column, float(np.mean(np.abs(a[keep] - b[keep])))))
                details[column] = {"real": float(np.nanmean(a)), "synthetic": float(np.nanmean(b))}
        return MetricResult(mean_of(rows) if rows else 0.0, rows, {"mean_acf": details})


METRICS = (ChangeTailKept, LongSequencesKept, AutocorrelationDrift)
