"""Collapse indicators: the early signs of a generator losing the real data's variety.

Model collapse removes the tails first and shrinks variance (Shumailov et al.
2024, "AI models collapse when trained on recursively generated data";
Dohmatob et al. 2024, "A Tale of Tails"). Each indicator is a ratio of what
the synthetic data keeps to what the real data has, per column, capped at 1 so
that an excess in one column cannot hide a loss in another; the uncapped
ratios are in the details. All use every row.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from ouroboros.metrics.base import Metric, MetricResult, mean_of
from ouroboros.metrics.context import EvaluationContext

#: numeric tails are the rows beyond these real quantiles
TAIL_QUANTILES = (0.01, 0.99)
#: categories rarer than this share of the real rows are the categorical tail
RARE_SHARE = 0.01


def _capped(raw: list[tuple[str, float]]) -> list[tuple[str, float]]:
    return [(label, min(value, 1.0)) for label, value in raw]


class _Collapse(Metric):
    category = "collapse"
    direction = "higher"
    best, worst = 1.0, 0.0

    def _compute(self, context: EvaluationContext) -> MetricResult:
        raw = self._ratios(context)
        rows = _capped(raw)
        return MetricResult(mean_of(rows), rows, {"raw": dict(raw)})

    @abstractmethod
    def _ratios(self, context: EvaluationContext) -> list[tuple[str, float]]:
        """Uncapped synthetic-over-real ratios, per column."""


def _tail_share(values: np.ndarray, low: float, high: float) -> float:
    if len(values) == 0:
        return 0.0
    below = np.searchsorted(values, low, side="left")
    above = len(values) - np.searchsorted(values, high, side="right")
    return (below + above) / len(values)


class TailKept(_Collapse):
    """Share of the real tails kept: rows beyond the real 1st/99th percentiles, rare categories.

    Per numeric column, the synthetic share of rows beyond the real 1st and
    99th percentiles over the real share; per categorical column, the synthetic
    share of the categories rarer than 1% in the real data over their real share.
    """

    name = "tail_kept"

    def _ratios(self, context: EvaluationContext) -> list[tuple[str, float]]:
        out = []
        for column in context.numeric_columns:
            real = context.real.sorted(column)
            if len(real) == 0:
                continue
            low, high = np.quantile(real, TAIL_QUANTILES)
            real_share = _tail_share(real, low, high)
            if real_share > 0:
                synthetic = _tail_share(context.synthetic.sorted(column), low, high)
                out.append((column, synthetic / real_share))
        for column in context.categorical_columns:
            n_levels, n_real = context.n_levels(column), context.n_real_levels[column]
            real = context.real.counts(column, n_levels)[:n_real]
            rare = real / max(real.sum(), 1) < RARE_SHARE
            if rare.any():
                synthetic = context.synthetic.counts(column, n_levels)[:-1]
                synthetic_share = synthetic[:n_real][rare].sum() / max(synthetic.sum(), 1)
                out.append((column, synthetic_share / (real[rare].sum() / real.sum())))
        return out


class VarianceRatio(_Collapse):
    """Synthetic over real variance per numeric column (Shumailov et al. 2024), capped at 1."""

    name = "variance_ratio"

    def not_applicable(self, context: EvaluationContext) -> str | None:
        if not context.numeric_columns:
            return "needs a numeric column"
        return super().not_applicable(context)

    def _ratios(self, context: EvaluationContext) -> list[tuple[str, float]]:
        out = []
        for column in context.numeric_columns:
            real, synthetic = context.real.sorted(column), context.synthetic.sorted(column)
            if len(real) > 1 and np.var(real) > 0:
                ratio = np.var(synthetic) / np.var(real) if len(synthetic) > 1 else 0.0
                out.append((column, float(ratio)))
        return out


def _entropy(counts: np.ndarray) -> float:
    shares = counts[counts > 0] / counts.sum()
    return float(-(shares * np.log(shares)).sum())


class EntropyRatio(_Collapse):
    """Synthetic over real Shannon entropy per categorical column (missing a level), capped at 1."""

    name = "entropy_ratio"

    def not_applicable(self, context: EvaluationContext) -> str | None:
        if not context.categorical_columns:
            return "needs a categorical column"
        return super().not_applicable(context)

    def _ratios(self, context: EvaluationContext) -> list[tuple[str, float]]:
        out = []
        for column in context.categorical_columns:
            n_levels = context.n_levels(column)
            real = _entropy(context.real.counts(column, n_levels))
            if real > 0:
                synthetic = _entropy(context.synthetic.counts(column, n_levels))
                out.append((column, synthetic / real))
        return out


class UniqueRowRatio(_Collapse):
    """Share of distinct rows, synthetic over real, both at the size of the smaller table."""

    name = "unique_row_ratio"

    def _ratios(self, context: EvaluationContext) -> list[tuple[str, float]]:
        n = min(context.real.n, context.synthetic.n)
        shares = []
        for table in (context.real, context.synthetic):
            hashes = np.sort(context.row_hash(table)[context.sample_index(table, n)])
            shares.append((1 + np.count_nonzero(hashes[1:] != hashes[:-1])) / n)
        return [("(all columns)", shares[1] / shares[0])]


METRICS = (TailKept, VarianceRatio, EntropyRatio, UniqueRowRatio)
