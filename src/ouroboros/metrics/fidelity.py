"""Fidelity: how closely the synthetic marginals and pairs follow the real ones.

Per column: Kolmogorov-Smirnov and total-variation complements, Wasserstein
distance, missing-rate similarity, range and category coverage. Per pair:
rank (Spearman) correlation similarity for numeric pairs, contingency
similarity for categorical pairs, and for mixed pairs the contingency
similarity after cutting the numeric column at the real deciles (the
measures of SDMetrics' quality report, computed on every row).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ouroboros.metrics.base import Metric, MetricResult, mean_of
from ouroboros.metrics.context import EvaluationContext

#: bins of the marginal histograms kept for the report
HISTOGRAM_BINS = 30
#: categories per column kept for the report's bar charts
REPORT_CATEGORIES = 12


def pair_label(a: str, b: str) -> str:
    return f"{a} × {b}"


def _unique_sorted(values: np.ndarray) -> np.ndarray:
    if len(values) == 0:
        return values
    return values[np.r_[True, values[1:] != values[:-1]]]


def ecdf_distances(real: np.ndarray, synthetic: np.ndarray) -> tuple[float, float]:
    """Kolmogorov-Smirnov statistic and 1-Wasserstein distance of two sorted samples.

    Both ECDFs are evaluated on the union of the observed values, so ties and
    discrete columns are handled exactly.
    """
    if len(real) == 0 or len(synthetic) == 0:
        return math.nan, math.nan
    # merging two sorted runs: the stable sort (timsort, radix) is linear here
    grid = _unique_sorted(
        np.sort(np.r_[_unique_sorted(real), _unique_sorted(synthetic)], kind="stable")
    )
    gap = np.abs(
        np.searchsorted(real, grid, side="right") / len(real)
        - np.searchsorted(synthetic, grid, side="right") / len(synthetic)
    )
    return float(gap.max()), float(np.sum(gap[:-1] * np.diff(grid)))


def _marginals(context: EvaluationContext, column: str) -> tuple[float, float]:
    return context.memo(
        ("ecdf", context.synthetic.key, column),
        lambda: ecdf_distances(context.real.sorted(column), context.synthetic.sorted(column)),
    )


def _total_variation(p: np.ndarray, q: np.ndarray) -> float:
    total_p, total_q = p.sum(), q.sum()
    if total_p == 0 or total_q == 0:
        return math.nan
    return 0.5 * float(np.abs(p / total_p - q / total_q).sum())


def _category_counts(context: EvaluationContext, column: str):
    n_levels = context.n_levels(column)
    return context.real.counts(column, n_levels), context.synthetic.counts(column, n_levels)


class _NeedsColumns(Metric):
    min_numeric = 0
    min_categorical = 0

    def not_applicable(self, context: EvaluationContext) -> str | None:
        if len(context.numeric_columns) < self.min_numeric:
            return f"needs at least {self.min_numeric} numeric column(s)"
        if len(context.categorical_columns) < self.min_categorical:
            return f"needs at least {self.min_categorical} categorical column(s)"
        return super().not_applicable(context)


class KSComplement(_NeedsColumns):
    """1 - Kolmogorov-Smirnov statistic per numeric column (Massey 1951), averaged."""

    name = "ks_complement"
    category = "fidelity"
    direction = "higher"
    best, worst = 1.0, 0.0
    min_numeric = 1

    def _compute(self, context: EvaluationContext) -> MetricResult:
        rows = [(c, 1 - _marginals(context, c)[0]) for c in context.numeric_columns]
        histograms = {c: _histogram(context, c) for c in context.numeric_columns}
        return MetricResult(mean_of(rows), rows, {"histograms": histograms})


def _histogram(context: EvaluationContext, column: str) -> dict:
    real, synthetic = context.real.sorted(column), context.synthetic.sorted(column)
    if len(real) == 0:
        return {}
    low, high = np.quantile(real, [0.005, 0.995])
    if not high > low:
        low, high = real[0], real[-1]
    if not high > low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    shares = []
    for values in (real, synthetic):
        counts = np.histogram(values, bins=edges)[0]
        shares.append((counts / max(len(values), 1)).tolist())
    return {"edges": edges.tolist(), "real": shares[0], "synthetic": shares[1]}


class TVComplement(_NeedsColumns):
    """1 - total-variation distance of each categorical column's frequencies (missing a level)."""

    name = "tv_complement"
    category = "fidelity"
    direction = "higher"
    best, worst = 1.0, 0.0
    min_categorical = 1

    def _compute(self, context: EvaluationContext) -> MetricResult:
        rows, frequencies = [], {}
        for column in context.categorical_columns:
            real, synthetic = _category_counts(context, column)
            rows.append((column, 1 - _total_variation(real, synthetic)))
            frequencies[column] = _frequencies(context, column, real, synthetic)
        return MetricResult(mean_of(rows), rows, {"frequencies": frequencies})


def _frequencies(context: EvaluationContext, column: str, real, synthetic) -> dict:
    """Shares of the most frequent categories, the rest pooled, then missing."""
    levels = context.levels[column]
    order = np.argsort(-(real[:-1] + synthetic[:-1]), kind="stable")
    top = order[:REPORT_CATEGORIES]
    labels = [str(levels[i]) for i in top]
    out_real = (real[top] / max(real.sum(), 1)).tolist()
    out_synth = (synthetic[top] / max(synthetic.sum(), 1)).tolist()
    rest = order[REPORT_CATEGORIES:]
    if len(rest):
        labels.append(f"({len(rest)} others)")
        out_real.append(float(real[rest].sum() / max(real.sum(), 1)))
        out_synth.append(float(synthetic[rest].sum() / max(synthetic.sum(), 1)))
    if real[-1] or synthetic[-1]:
        labels.append("(missing)")
        out_real.append(float(real[-1] / max(real.sum(), 1)))
        out_synth.append(float(synthetic[-1] / max(synthetic.sum(), 1)))
    return {"labels": labels, "real": out_real, "synthetic": out_synth}


class Wasserstein(_NeedsColumns):
    """1-Wasserstein distance per numeric column in units of the real standard deviation."""

    name = "wasserstein"
    category = "fidelity"
    direction = "lower"
    best, worst = 0.0, 1.0
    min_numeric = 1

    def _compute(self, context: EvaluationContext) -> MetricResult:
        rows = []
        for column in context.numeric_columns:
            real = context.real.sorted(column)
            scale = float(np.std(real)) if len(real) else 0.0
            rows.append((column, _marginals(context, column)[1] / (scale if scale > 0 else 1.0)))
        return MetricResult(mean_of(rows), rows)


def spearman_matrix(context: EvaluationContext, table) -> np.ndarray:
    """Spearman correlations of the numeric columns, on pairwise-complete rows."""

    def make():
        ranks = np.column_stack([table.ranks(c) for c in context.numeric_columns])
        present = ~np.isnan(ranks)
        x = np.where(present, ranks, 0.0)
        m = present.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            count = m.T @ m
            sum_given = x.T @ m  # [i, j]: sum of column i over rows where j is present
            sq_given = (x * x).T @ m
            cross = x.T @ x
            mean_i = sum_given / count
            cov = cross / count - mean_i * mean_i.T
            var_i = sq_given / count - mean_i**2
            corr = cov / np.sqrt(var_i * var_i.T)
        return np.clip(corr, -1.0, 1.0)

    return context.memo(("spearman", table.key), make)


class CorrelationSimilarity(_NeedsColumns):
    """1 - |ρ_real - ρ_synthetic| / 2 per numeric pair, ρ the Spearman correlation."""

    name = "correlation_similarity"
    category = "fidelity"
    direction = "higher"
    best, worst = 1.0, 0.0
    min_numeric = 2

    def _compute(self, context: EvaluationContext) -> MetricResult:
        real = spearman_matrix(context, context.real)
        # a column constant in the synthetic data has no correlation: count it as zero
        synthetic = np.nan_to_num(spearman_matrix(context, context.synthetic), nan=0.0)
        columns = context.numeric_columns
        rows = [
            (pair_label(columns[i], columns[j]), 1 - abs(real[i, j] - synthetic[i, j]) / 2)
            for i, j in itertools.combinations(range(len(columns)), 2)
            if math.isfinite(real[i, j])
        ]
        details = {
            "columns": list(columns),
            "real": _json_matrix(real),
            "synthetic": _json_matrix(synthetic),
        }
        return MetricResult(mean_of(rows), rows, details)


def _json_matrix(matrix: np.ndarray) -> list[list[float | None]]:
    return [[float(v) if math.isfinite(v) else None for v in row] for row in matrix]


def _pair_similarity(context: EvaluationContext, a: str, b: str) -> float:
    tables = []
    for table in (context.real, context.synthetic):
        codes_a, levels_a = context.pair_codes(table, a)
        codes_b, levels_b = context.pair_codes(table, b)
        joint = codes_a.astype(np.int32) * levels_b + codes_b
        tables.append(np.bincount(joint, minlength=levels_a * levels_b))
    return 1 - _total_variation(*tables)


class ContingencySimilarity(_NeedsColumns):
    """1 - total-variation distance of the joint frequencies of each categorical pair.

    The 20 most frequent real categories of a column are kept apart, the rest
    pooled, missing values a level of their own.
    """

    name = "contingency_similarity"
    category = "fidelity"
    direction = "higher"
    best, worst = 1.0, 0.0
    min_categorical = 2

    def _compute(self, context: EvaluationContext) -> MetricResult:
        rows = [
            (pair_label(a, b), _pair_similarity(context, a, b))
            for a, b in itertools.combinations(context.categorical_columns, 2)
        ]
        return MetricResult(mean_of(rows), rows)


class MixedPairSimilarity(_NeedsColumns):
    """Contingency similarity of each numeric-categorical pair, the numeric cut at real deciles."""

    name = "mixed_pair_similarity"
    category = "fidelity"
    direction = "higher"
    best, worst = 1.0, 0.0
    min_numeric = 1
    min_categorical = 1

    def _compute(self, context: EvaluationContext) -> MetricResult:
        rows = [
            (pair_label(a, b), _pair_similarity(context, a, b))
            for a in context.numeric_columns
            for b in context.categorical_columns
        ]
        return MetricResult(mean_of(rows), rows)


class MissingRateSimilarity(Metric):
    """1 - |missing rate real - missing rate synthetic| per column."""

    name = "missing_rate_similarity"
    category = "fidelity"
    direction = "higher"
    best, worst = 1.0, 0.0

    def _compute(self, context: EvaluationContext) -> MetricResult:
        rows = [
            (c, 1 - abs(context.real.missing_rate(c) - context.synthetic.missing_rate(c)))
            for c in context.columns
        ]
        return MetricResult(mean_of(rows), rows)


class RangeCoverage(_NeedsColumns):
    """Share of each real numeric column's [min, max] that the synthetic values span."""

    name = "range_coverage"
    category = "fidelity"
    direction = "higher"
    best, worst = 1.0, 0.0
    min_numeric = 1

    def _compute(self, context: EvaluationContext) -> MetricResult:
        rows = []
        for column in context.numeric_columns:
            real, synthetic = context.real.sorted(column), context.synthetic.sorted(column)
            if len(real) == 0 or real[-1] == real[0]:
                continue
            if len(synthetic) == 0:
                rows.append((column, 0.0))
                continue
            span = min(real[-1], synthetic[-1]) - max(real[0], synthetic[0])
            rows.append((column, float(np.clip(span / (real[-1] - real[0]), 0.0, 1.0))))
        return MetricResult(mean_of(rows), rows)


class CategoryCoverage(_NeedsColumns):
    """Share of each categorical column's real categories that appear in the synthetic data."""

    name = "category_coverage"
    category = "fidelity"
    direction = "higher"
    best, worst = 1.0, 0.0
    min_categorical = 1

    def _compute(self, context: EvaluationContext) -> MetricResult:
        rows = []
        for column in context.categorical_columns:
            n_real = context.n_real_levels[column]
            if n_real == 0:
                continue
            _, synthetic = _category_counts(context, column)
            rows.append((column, float((synthetic[:n_real] > 0).mean())))
        return MetricResult(mean_of(rows), rows)


METRICS = (
    KSComplement,
    TVComplement,
    Wasserstein,
    CorrelationSimilarity,
    ContingencySimilarity,
    MixedPairSimilarity,
    MissingRateSimilarity,
    RangeCoverage,
    CategoryCoverage,
)
