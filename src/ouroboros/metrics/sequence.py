"""Sequence metrics: lengths, time gaps, autocorrelation, cross-correlation, transitions,
and the discriminative and predictive scores of TimeGAN (Yoon, Jarrett & van der Schaar
2019, "Time-series Generative Adversarial Networks").

They need a schema with a sequence spec (``Schema.sequence``). Each is computed on
pooled within-entity statistics (:mod:`~ouroboros.metrics.sequence_view`); the ceiling,
computed by :func:`~ouroboros.metrics.evaluate` with real holdout entities in place of
the synthetic ones, shows the sampling noise a perfect generator would still score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import StratifiedGroupKFold

from ouroboros.metrics.base import Metric, MetricResult, mean_of
from ouroboros.metrics.context import EvaluationContext
from ouroboros.metrics.sequence_view import (
    MAX_LAG,
    TOP_CATEGORIES,
    EventView,
    acf,
    cross_correlation,
    entity_features,
    examples,
    ks_distance,
    pacf,
    pair_counts,
    sequence_columns,
    transitions,
    view,
)

#: entities of each table the classifiers use at most
CLASSIFIER_ENTITIES = 5_000
#: events of each table the next-step models train and test on at most
PREDICTIVE_EVENTS = 20_000
#: previous events the next-step model reads
PREDICTIVE_LAGS = 3
#: numeric column pairs whose cross-correlation is compared at most
MAX_PAIRS = 15


class _Sequence(Metric):
    category = "sequence"
    direction = "lower"
    best, worst = 0.0, 1.0
    requires = frozenset({"sequence"})

    def _views(self, context: EvaluationContext) -> tuple[EventView, EventView]:
        return view(context, context.real), view(context, context.synthetic)


def _mean_abs(a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean absolute difference over the lags both curves define, weighted (by the real
    pairs behind each lag: the short lags, known best, count most)."""
    keep = np.isfinite(a) & np.isfinite(b)
    if not keep.any():
        return np.nan
    w = np.ones(len(a)) if weights is None else np.asarray(weights, dtype=np.float64)
    return float(np.average(np.abs(a[keep] - b[keep]), weights=w[keep]))


class SequenceLengthDistance(_Sequence):
    """Kolmogorov-Smirnov distance between the real and synthetic numbers of events per entity."""

    name = "sequence_length_distance"

    def not_applicable(self, context: EvaluationContext) -> str | None:
        reason = super().not_applicable(context)
        if reason is None and context.schema.sequence.key is None:
            return "one series has no entities to count events of"
        return reason

    def _compute(self, context: EvaluationContext) -> MetricResult:
        real, synthetic = self._views(context)
        value = ks_distance(np.sort(real.lengths), np.sort(synthetic.lengths))
        quantiles = [0.5, 0.9, 0.99]
        details = {
            "real_quantiles": np.quantile(real.lengths, quantiles).tolist(),
            "synthetic_quantiles": np.quantile(synthetic.lengths, quantiles).tolist(),
        }
        return MetricResult(value, [("length", value)], details)


class TimeGapDistance(_Sequence):
    """Kolmogorov-Smirnov distance between the real and synthetic times between events."""

    name = "time_gap_distance"

    def not_applicable(self, context: EvaluationContext) -> str | None:
        reason = super().not_applicable(context)
        spec = context.schema.sequence
        if reason is None and (spec.index is None or spec.index not in context.numeric_columns):
            return "needs a datetime or numeric sequence index"
        return reason

    def _compute(self, context: EvaluationContext) -> MetricResult:
        real, synthetic = self._views(context)
        a = np.sort(real.gaps[np.isfinite(real.gaps)])
        b = np.sort(synthetic.gaps[np.isfinite(synthetic.gaps)])
        value = ks_distance(a, b) if len(a) and len(b) else (0.0 if len(a) == len(b) else 1.0)
        return MetricResult(value, [("gap", value)])


class AutocorrelationError(_Sequence):
    """Mean absolute difference of the autocorrelation at lags 1-24, per numeric event column
    and of its absolute changes (volatility clustering), each lag weighted by its real pairs."""

    name = "autocorrelation_error"

    def _curves(self, events: EventView, numeric: list[str]) -> dict[str, np.ndarray]:
        out = {}
        for column in numeric:
            x = events.numeric[column]
            out[column] = acf(events, x)
            lagged = np.r_[np.nan, x[:-1]]
            lagged[events.firsts] = np.nan
            out[f"|Δ{column}|"] = acf(events, np.abs(x - lagged))
        return out

    def _compute(self, context: EvaluationContext) -> MetricResult:
        real, synthetic = self._views(context)
        numeric, _ = sequence_columns(context)
        ours = self._curves(real, numeric)
        theirs = self._curves(synthetic, numeric)
        weights = pair_counts(real)
        rows = [(label, _mean_abs(ours[label], theirs[label], weights)) for label in ours]
        rows = [(label, v) for label, v in rows if np.isfinite(v)]
        details = {
            "lags": list(range(1, MAX_LAG + 1)),
            "real": {k: _plain(v) for k, v in ours.items()},
            "synthetic": {k: _plain(v) for k, v in theirs.items()},
        }
        if numeric:
            details["examples"] = {
                "column": numeric[0],
                "real": examples(real, numeric[0]),
                "synthetic": examples(synthetic, numeric[0]),
            }
        return MetricResult(mean_of(rows) if rows else 0.0, rows, details)


class PartialAutocorrelationError(_Sequence):
    """Mean absolute difference of the partial autocorrelation at lags 1-24, per numeric
    event column, each lag weighted by its real pairs."""

    name = "partial_autocorrelation_error"

    def _compute(self, context: EvaluationContext) -> MetricResult:
        real, synthetic = self._views(context)
        numeric, _ = sequence_columns(context)
        rows = []
        for column in numeric:
            a = pacf(acf(real, real.numeric[column]))
            b = pacf(acf(synthetic, synthetic.numeric[column]))
            value = _mean_abs(a, b, pair_counts(real))
            if np.isfinite(value):
                rows.append((column, value))
        return MetricResult(mean_of(rows) if rows else 0.0, rows)


class CrossCorrelationError(_Sequence):
    """Mean absolute difference of the correlation between numeric event columns at lags
    -3 to 3 (same entity)."""

    name = "cross_correlation_error"

    def _compute(self, context: EvaluationContext) -> MetricResult:
        real, synthetic = self._views(context)
        numeric, _ = sequence_columns(context)
        pairs = [(a, b) for i, a in enumerate(numeric) for b in numeric[i + 1 :]][:MAX_PAIRS]
        rows = []
        for a, b in pairs:
            value = _mean_abs(cross_correlation(real, a, b), cross_correlation(synthetic, a, b))
            if np.isfinite(value):
                rows.append((f"{a} ~ {b}", value))
        return MetricResult(mean_of(rows) if rows else 0.0, rows)


class TransitionError(_Sequence):
    """Total variation distance between the real and synthetic transition matrices of each
    categorical event column (next category given the current one), weighted by how often
    each current category occurs in the real data."""

    name = "transition_error"

    def _compute(self, context: EvaluationContext) -> MetricResult:
        real, synthetic = self._views(context)
        _, categorical = sequence_columns(context)
        rows, details = [], {}
        for column in categorical:
            levels = min(context.n_real_levels[column], TOP_CATEGORIES)
            a = transitions(real, column, levels).astype(np.float64)
            b = transitions(synthetic, column, levels).astype(np.float64)
            if a.sum() == 0:
                continue
            pa = a / np.maximum(a.sum(axis=1, keepdims=True), 1)
            pb = b / np.maximum(b.sum(axis=1, keepdims=True), 1)
            # a current category the synthetic data never leaves from counts as all wrong
            tv = np.where(b.sum(axis=1) > 0, 0.5 * np.abs(pa - pb).sum(axis=1), 1.0)
            weight = a.sum(axis=1) / a.sum()
            rows.append((column, float(np.sum(weight * tv))))
            details[column] = {"real": pa.round(4).tolist(), "synthetic": pb.round(4).tolist()}
        return MetricResult(mean_of(rows) if rows else 0.0, rows, details)


class DiscriminativeScore(_Sequence):
    """TimeGAN's discriminative score: ``|accuracy - 0.5|`` of a classifier telling real from
    synthetic sequences by whole-sequence features (0: indistinguishable).

    Gradient-boosted trees, 3-fold, on at most 5,000 entities of each table (one long
    series is cut into windows of 24 events); features: length, per numeric column mean,
    spread, ends, extremes, lag-1 products and absolute changes, category shares and
    change rates, gaps and static values."""

    name = "discriminative_score"
    best, worst = 0.0, 0.5
    subsample = f"at most {CLASSIFIER_ENTITIES:,} entities of each table"

    def _compute(self, context: EvaluationContext) -> MetricResult:
        real, synthetic = self._views(context)
        if context.schema.sequence.key is None:
            real, synthetic = real.windows(), synthetic.windows()
        numeric, categorical = sequence_columns(context)
        x_real = entity_features(real, numeric, categorical)
        x_fake = entity_features(synthetic, numeric, categorical)
        rng = np.random.default_rng(context.seed)
        m = min(len(x_real), len(x_fake), CLASSIFIER_ENTITIES)
        if m < 6:
            return MetricResult(np.nan, [], {"reason": "fewer than 6 sequences"})
        x_real = x_real[rng.choice(len(x_real), m, replace=False)]
        x_fake = x_fake[rng.choice(len(x_fake), m, replace=False)]
        x = np.vstack([x_real, x_fake])
        y = np.r_[np.zeros(m), np.ones(m)]
        # a sequence and its exact copy share a fold: a copy is not told apart by its twin
        groups = pd.factorize(pd.util.hash_pandas_object(pd.DataFrame(x), index=False))[0]
        folds = StratifiedGroupKFold(3, shuffle=True, random_state=context.seed)
        predicted = np.empty(len(y))
        for train, test in folds.split(x, y, groups):
            model = HistGradientBoostingClassifier(
                max_iter=100, early_stopping=False, random_state=context.seed
            )
            predicted[test] = model.fit(x[train], y[train]).predict(x[test])
        accuracy = float(np.mean(predicted == y))
        value = abs(accuracy - 0.5)
        return MetricResult(value, [("sequences", value)], {"accuracy": accuracy, "entities": m})


class PredictiveScore(_Sequence):
    """TimeGAN's predictive score as a ratio: the next-step error of a model trained on
    synthetic sequences and tested on real ones, over that of the same model trained on
    real sequences (1: as useful as real data).

    Gradient-boosted trees predict each numeric event column (and the gap) from the three
    previous events; real entities are split in two, one half trains the reference model,
    the other is the test set of both; both train on as many events; mean absolute
    errors, averaged over columns."""

    name = "predictive_score"
    best, worst = 1.0, 2.0
    subsample = f"at most {PREDICTIVE_EVENTS:,} events of each table"

    def not_applicable(self, context: EvaluationContext) -> str | None:
        reason = super().not_applicable(context)
        if reason is None and not sequence_columns(context)[0]:
            return "needs a numeric event column to predict"
        return reason

    def _compute(self, context: EvaluationContext) -> MetricResult:
        real, synthetic = self._views(context)
        numeric, categorical = sequence_columns(context)
        targets = list(numeric)
        rng = np.random.default_rng(context.seed)
        n_entities = len(real.lengths)
        if n_entities > 1:
            half = rng.random(n_entities) < 0.5
            train_mask, test_mask = half[real.owner], ~half[real.owner]
        else:  # one series: its first half trains, its second half tests
            cut = len(real.owner) // 2
            train_mask = np.arange(len(real.owner)) < cut
            test_mask = ~train_mask
        x_r, y_r = _lagged(real, numeric, categorical)
        x_s, y_s = _lagged(synthetic, numeric, categorical)
        rows = []
        for j, column in enumerate(targets):
            test = _rows(test_mask & np.isfinite(y_r[:, j]), rng)
            own = _rows(train_mask & np.isfinite(y_r[:, j]), rng)
            theirs = _rows(np.isfinite(y_s[:, j]), rng)
            if len(test) < 10 or len(own) < 10 or len(theirs) < 10:
                continue
            size = min(len(own), len(theirs))  # both models learn from as many events
            own = np.sort(rng.choice(own, size, replace=False))
            theirs = np.sort(rng.choice(theirs, size, replace=False))
            reference = _mae(x_r[own], y_r[own, j], x_r[test], y_r[test, j], context.seed)
            tstr = _mae(x_s[theirs], y_s[theirs, j], x_r[test], y_r[test, j], context.seed)
            if reference > 0:
                rows.append((column, tstr / reference))
        return MetricResult(mean_of(rows) if rows else np.nan, rows)


def _lagged(
    events: EventView, numeric: list[str], categorical: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Features (the previous events' values, codes and gaps, and the position) and targets."""
    columns = [events.numeric[c] for c in numeric]
    columns += [events.codes[c].astype(np.float64) for c in categorical]
    if events.gaps is not None:
        columns.append(events.gaps)
    base = np.column_stack(columns) if columns else np.zeros((len(events.owner), 0))
    firsts = events.firsts
    position = np.arange(len(events.owner)) - np.repeat(firsts, events.lengths)
    parts = [position[:, None].astype(np.float64)]
    for k in range(1, PREDICTIVE_LAGS + 1):
        shifted = np.full_like(base, np.nan)
        shifted[k:] = base[:-k]
        shifted[position < k] = np.nan
        parts.append(shifted)
    return np.hstack(parts), np.column_stack([events.numeric[c] for c in numeric])


def _rows(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rows = np.flatnonzero(mask)
    if len(rows) > PREDICTIVE_EVENTS:
        rows = np.sort(rng.choice(rows, PREDICTIVE_EVENTS, replace=False))
    return rows


def _mae(x_train, y_train, x_test, y_test, seed: int) -> float:
    model = HistGradientBoostingRegressor(max_iter=60, early_stopping=False, random_state=seed)
    return float(np.mean(np.abs(model.fit(x_train, y_train).predict(x_test) - y_test)))


def _plain(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 5) for v in values]


METRICS = (
    SequenceLengthDistance,
    TimeGapDistance,
    AutocorrelationError,
    PartialAutocorrelationError,
    CrossCorrelationError,
    TransitionError,
    DiscriminativeScore,
    PredictiveScore,
)
