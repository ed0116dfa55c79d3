"""Event tables seen as sequences, for the sequence metrics.

:func:`view` puts one encoded table of an :class:`EvaluationContext` in sequence order
(by entity key, then index) and caches it on the table; the helpers compute pooled
within-entity statistics from it: autocorrelation (every pair ``(x_t, x_{t+k})`` of the
same entity, centred and scaled by the table's mean and variance), partial
autocorrelation (Durbin-Levinson), cross-correlation, transition matrices, and one row of
whole-sequence features per entity (the classifier input of the discriminative score,
Yoon, Jarrett & van der Schaar 2019, "Time-series Generative Adversarial Networks").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ouroboros.metrics.context import EncodedTable, EvaluationContext

#: lags of the autocorrelation and cross-correlation curves
MAX_LAG = 24
#: pairs a lag needs before its correlation counts
MIN_PAIRS = 50
#: events per window when one long series is cut into sequences for the classifiers
SERIES_WINDOW = 24
#: categories kept apart in transition matrices and sequence features
TOP_CATEGORIES = 10


@dataclass
class EventView:
    """One table's events in sequence order."""

    owner: np.ndarray  # entity number of each event
    lengths: np.ndarray
    numeric: dict[str, np.ndarray]
    codes: dict[str, np.ndarray]
    gaps: np.ndarray | None  # time since the entity's previous event (NaN for the first)
    static: list[str]

    @property
    def firsts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)

    def same(self, lag: int) -> np.ndarray:
        """Mask of the events ``i`` whose event ``i + lag`` belongs to the same entity."""
        n = len(self.owner)
        if lag >= n:
            return np.zeros(0, dtype=bool)
        return self.owner[:-lag] == self.owner[lag:] if lag else np.ones(n, dtype=bool)

    def windows(self) -> EventView:
        """One long series cut into sequences of :data:`SERIES_WINDOW` events."""
        n = len(self.owner)
        owner = np.arange(n) // SERIES_WINDOW
        gaps = None if self.gaps is None else self.gaps.copy()
        if gaps is not None:
            gaps[::SERIES_WINDOW] = np.nan
        return EventView(owner, np.bincount(owner), self.numeric, self.codes, gaps, self.static)


def sequence_columns(context: EvaluationContext) -> tuple[list[str], list[str]]:
    """The numeric and categorical event columns (neither key, index nor static)."""
    spec = context.schema.sequence
    skip = {*spec.roles, *spec.static}
    numeric = [c for c in context.numeric_columns if c not in skip]
    categorical = [c for c in context.categorical_columns if c not in skip]
    return numeric, categorical


def view(context: EvaluationContext, table: EncodedTable) -> EventView:
    """``table`` in sequence order (cached on the table)."""

    def make() -> EventView:
        spec = context.schema.sequence
        n = table.n
        entity = np.zeros(n, dtype=np.int64)
        if spec.key is not None:
            raw = table.numeric.get(spec.key, table.codes.get(spec.key))
            if raw is None:  # an identifier key: every row its own entity
                raw = np.arange(n)
            entity = pd.factorize(raw, use_na_sentinel=False)[0].astype(np.int64)
        when = table.numeric.get(spec.index) if spec.index is not None else None
        keys = (np.arange(n), entity) if when is None else (np.arange(n), when, entity)
        order = np.lexsort(keys)
        owner = entity[order]
        # renumber entities in their sorted order so that each is one run
        owner = np.concatenate([[0], np.cumsum(owner[1:] != owner[:-1])]) if n else owner
        lengths = np.bincount(owner) if n else np.zeros(0, dtype=np.int64)
        numeric = {c: v[order] for c, v in table.numeric.items()}
        codes = {c: v[order] for c, v in table.codes.items()}
        gaps = None
        if when is not None:
            ordered = when[order]
            gaps = np.diff(ordered, prepend=np.nan)
            gaps[np.r_[True, owner[1:] != owner[:-1]] if n else []] = np.nan
        return EventView(owner, lengths, numeric, codes, gaps, list(spec.static))

    return table.cached("sequence_view", make)


def changes(events: EventView, column: str) -> np.ndarray:
    """Within-entity changes ``x_t - x_{t-1}`` of a numeric column (missing dropped)."""
    x = events.numeric[column]
    same = events.same(1)
    delta = (x[1:] - x[:-1])[same]
    return delta[np.isfinite(delta)]


def centred(events: EventView, x: np.ndarray) -> np.ndarray:
    """``x`` less its entity's mean (its mean, for one series): the within-entity
    variation, so that differences between entities do not pass for memory."""
    x = np.asarray(x, dtype=np.float64)
    present = np.isfinite(x)
    if len(events.lengths) <= 1:
        return x - (np.mean(x[present]) if present.any() else 0.0)
    sums = np.bincount(events.owner, np.where(present, x, 0.0), minlength=len(events.lengths))
    counts = np.bincount(events.owner, present, minlength=len(events.lengths))
    return x - (sums / np.maximum(counts, 1))[events.owner]


def _pooled(events: EventView, x: np.ndarray, y: np.ndarray, lag: int) -> float:
    """Correlation of ``x_t`` with ``y_{t+lag}`` over pairs of the same entity (``x`` and
    ``y`` centred by :func:`centred`)."""
    if lag < 0:
        return _pooled(events, y, x, -lag)
    same = events.same(lag)
    if not len(same):
        return np.nan
    a, b = (x[:-lag], y[lag:]) if lag else (x, y)
    keep = same & np.isfinite(a) & np.isfinite(b)
    if keep.sum() < MIN_PAIRS:
        return np.nan
    sx, sy = np.sqrt(np.nanmean(x * x)), np.sqrt(np.nanmean(y * y))
    if not (sx > 0 and sy > 0):
        return np.nan
    return float(np.mean(a[keep] * b[keep]) / (sx * sy))


def acf(events: EventView, x: np.ndarray, lags: int = MAX_LAG) -> np.ndarray:
    """Pooled within-entity autocorrelation at lags ``1..lags`` (NaN where too few pairs)."""
    x = centred(events, x)
    return np.array([_pooled(events, x, x, k) for k in range(1, lags + 1)])


def pair_counts(events: EventView, lags: int = MAX_LAG) -> np.ndarray:
    """Pairs of events of the same entity at lags ``1..lags``."""
    return np.array([float(events.same(k).sum()) for k in range(1, lags + 1)])


def pacf(correlations: np.ndarray) -> np.ndarray:
    """Partial autocorrelation from the autocorrelation at lags ``1..K`` (Durbin-Levinson),
    up to the first undefined lag."""
    r = np.concatenate([[1.0], correlations])
    defined = np.isfinite(r)
    stop = int(np.argmin(defined)) if not defined.all() else len(r)
    out = np.full(len(correlations), np.nan)
    phi = np.zeros(0)
    for k in range(1, stop):
        if k == 1:
            value = r[1]
        else:
            denominator = 1 - np.dot(phi, r[1:k])
            if abs(denominator) < 1e-12:
                break
            value = (r[k] - np.dot(phi, r[k - 1 : 0 : -1])) / denominator
        if not abs(value) <= 1:  # the sample curve is no longer a valid autocorrelation
            break
        phi = np.concatenate([phi - value * phi[::-1], [value]])
        out[k - 1] = value
    return out


def cross_correlation(events: EventView, x: str, y: str, lags: int = 3) -> np.ndarray:
    """Pooled correlation of ``x_t`` with ``y_{t+k}`` for ``k`` in ``-lags..lags``."""
    a, b = centred(events, events.numeric[x]), centred(events, events.numeric[y])
    return np.array([_pooled(events, a, b, k) for k in range(-lags, lags + 1)])


def transitions(events: EventView, column: str, levels: int) -> np.ndarray:
    """Counts ``(levels + 1, levels + 1)`` of consecutive category pairs within entities;
    codes beyond ``levels`` (and missing) share the last row and column."""
    codes = events.codes[column]
    codes = np.where((codes < 0) | (codes >= levels), levels, codes)
    same = events.same(1)
    pairs = codes[:-1][same] * (levels + 1) + codes[1:][same]
    return np.bincount(pairs, minlength=(levels + 1) ** 2).reshape(levels + 1, levels + 1)


def entity_features(events: EventView, numeric: list[str], categorical: list[str]) -> np.ndarray:
    """One row per entity: its length, per numeric column mean, spread, ends, extremes,
    lag-1 correlation and mean absolute change, per categorical column the shares of the
    most common codes and the rate of changes, the gaps' mean and spread, static values."""
    owner, firsts = events.owner, events.firsts
    frame: dict[str, np.ndarray] = {}
    columns = {f"n:{c}": events.numeric[c] for c in numeric}
    if events.gaps is not None:
        columns["gap"] = events.gaps
    for name, x in columns.items():
        frame[name] = x
        lagged = np.r_[np.nan, x[:-1]]
        lagged[firsts] = np.nan
        frame[f"{name}:abs"] = np.abs(x - lagged)
        frame[f"{name}:prod"] = x * lagged
    for c in categorical:
        codes = events.codes[c]
        for level in range(TOP_CATEGORIES):
            frame[f"c:{c}:{level}"] = (codes == level).astype(np.float64)
        moved = np.r_[np.nan, (codes[1:] != codes[:-1]).astype(np.float64)]
        moved[firsts] = np.nan
        frame[f"c:{c}:moves"] = moved
    table = pd.DataFrame(frame)
    grouped = table.groupby(owner, sort=True)
    parts = [pd.Series(events.lengths, name="length")]
    for name in columns:
        g = grouped[name]
        parts += [g.mean(), g.std(), g.min(), g.max(), g.first(), g.last()]
        parts += [grouped[f"{name}:abs"].mean(), grouped[f"{name}:prod"].mean()]
    for c in categorical:
        names = [f"c:{c}:{level}" for level in range(TOP_CATEGORIES)] + [f"c:{c}:moves"]
        parts.append(grouped[names].mean())
    for c in events.static:
        source = events.numeric.get(c, events.codes.get(c))
        if source is not None:
            parts.append(pd.Series(source[firsts].astype(np.float64), name=f"s:{c}"))
    return np.column_stack(
        [np.asarray(p, dtype=np.float64).reshape(len(firsts), -1) for p in parts]
    )


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic of sorted samples ``a`` and ``b``."""
    if not len(a) or not len(b):
        return 0.0 if len(a) == len(b) else 1.0
    points = np.concatenate([a, b])
    fa = np.searchsorted(a, points, side="right") / len(a)
    fb = np.searchsorted(b, points, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


def examples(events: EventView, column: str, count: int = 3, limit: int = 200) -> list[list]:
    """The values of ``column`` in the ``count`` longest entities (at most ``limit`` events
    each; JSON-ready, ``None`` for missing), for the report."""
    longest = np.argsort(-events.lengths, kind="stable")[:count]
    x = events.numeric[column]
    out = []
    for entity in longest:
        start = events.firsts[entity]
        part = x[start : start + min(int(events.lengths[entity]), limit)]
        out.append([None if not np.isfinite(v) else round(float(v), 5) for v in part])
    return out
