"""The shared, cached encoding every metric reads, so a full suite encodes each table once.

:class:`EvaluationContext` turns the real, synthetic and holdout tables into
numpy arrays once (numeric columns as float64, categories as integer codes in
one vocabulary fitted on the real table), and caches what several metrics use:
sorted values, ranks, binned codes, row hashes, the fixed embedding of a row
subsample, nearest-neighbour distances, fitted classifiers.

Everything linear in the number of rows uses every row. Only the super-linear
steps subsample, with the fixed sizes below (see :func:`subsampling_notes`).
"""

from __future__ import annotations

import copy
import math
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ouroboros.errors import DataError, ParameterError, SchemaError
from ouroboros.schema import NUMERIC_KINDS, ColumnKind, ColumnSchema, Schema
from ouroboros.values import datetime_seconds

#: rows per table for the k-nearest-neighbour metrics (diversity and privacy):
#: exact distances cost O(n^2)
KNN_ROWS = 10_000
#: real and synthetic rows each for the detection classifier, and its folds
DETECTION_ROWS = 10_000
DETECTION_FOLDS = 3
#: training rows and test rows for the utility and fairness models
UTILITY_ROWS = 20_000
#: neighbours for precision, recall, density, coverage and beta-recall
K_NEIGHBOURS = 5
#: principal components kept in the embedding
EMBED_DIM = 32
#: most frequent categories one-hot encoded in the embedding; the rest share one column
EMBED_CATEGORIES = 10
#: most frequent categories kept apart in pair metrics; the rest are pooled
PAIR_CATEGORIES = 20
#: quantile bins of a numeric column in mixed pairs
NUMERIC_BINS = 10


def subsampling_notes() -> list[str]:
    """Which metrics subsample, how much and why, in words (shown in reports)."""
    return [
        f"Diversity and privacy (nearest-neighbour distances, O(n²)): at most {KNN_ROWS:,} "
        "rows of each table, drawn at random without replacement.",
        f"Detection (gradient boosting, {DETECTION_FOLDS}-fold): at most {DETECTION_ROWS:,} real and "
        f"{DETECTION_ROWS:,} synthetic rows.",
        f"Utility and fairness models: trained on at most {UTILITY_ROWS:,} rows and tested on "
        f"at most {UTILITY_ROWS:,} rows.",
        "Unique-row ratio: the larger table is subsampled to the size of the smaller one so "
        "both are compared at the same size.",
        "Every other metric (marginals, pairs, missingness, coverage, copies, tails, variance, "
        "entropy) uses every row.",
    ]


def _seed_for(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])


def _hashable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


class EncodedTable:
    """One table as arrays: ``numeric[col]`` (float64, NaN missing), ``codes[col]`` (-1 missing)."""

    def __init__(
        self, key: str, n: int, numeric: dict[str, np.ndarray], codes: dict[str, np.ndarray]
    ):
        self.key = key
        self.n = n
        self.numeric = numeric
        self.codes = codes
        self.cache: dict[str, Any] = {}

    def cached(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self.cache:
            self.cache[name] = make()
        return self.cache[name]

    def take(self, index: np.ndarray, key: str) -> EncodedTable:
        """The rows at ``index`` as a new table."""
        return EncodedTable(
            key,
            len(index),
            {c: v[index] for c, v in self.numeric.items()},
            {c: v[index] for c, v in self.codes.items()},
        )

    def sorted(self, column: str) -> np.ndarray:
        """Non-missing values of a numeric column, sorted."""
        return self._order(column)[0]

    def ranks(self, column: str) -> np.ndarray:
        """Mid-ranks of a numeric column (ties share their mean rank), NaN where missing."""
        return self._order(column)[1]

    def _order(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        def make():
            values = self.numeric[column]
            present = np.flatnonzero(~np.isnan(values))
            counted = _counting_order(values[present])
            if counted is not None:
                ordered, mid_ranks = counted
                ranks = np.full(len(values), np.nan)
                ranks[present] = mid_ranks
                return ordered, ranks
            order = np.argsort(values[present], kind="stable")
            ordered = values[present][order]
            # mid-rank of a tie run = mean of its first and last positions
            starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
            ends = np.r_[starts[1:], len(ordered)] - 1
            lengths = ends - starts + 1
            mid = np.repeat((starts + ends) / 2.0 + 1.0, lengths)
            ranks = np.full(len(values), np.nan)
            ranks[present[order]] = mid
            return ordered, ranks

        return self.cached(f"order:{column}", make)

    def missing_rate(self, column: str) -> float:
        if self.n == 0:
            return math.nan
        if column in self.numeric:
            return float(np.isnan(self.numeric[column]).mean())
        return float((self.codes[column] < 0).mean())

    def counts(self, column: str, n_levels: int) -> np.ndarray:
        """Counts per category code (``n_levels`` of them) followed by the missing count."""
        codes = self.codes[column]
        return np.bincount(np.where(codes < 0, n_levels, codes), minlength=n_levels + 1)

    def permutation(self, seed: int) -> np.ndarray:
        """A fixed random order of the rows; subsamples are its prefixes, hence nested."""
        return self.cached("permutation", lambda: _seed_for(seed, self.key).permutation(self.n))


class EvaluationContext:
    """Real, synthetic and holdout tables encoded once, with caches shared by every metric.

    Column kinds come from ``schema`` (detected on ``real`` when not given):
    continuous, integer and datetime columns (as seconds) are numeric,
    categorical ones are categories; identifier and constant columns are left out.
    """

    def __init__(
        self,
        real: pd.DataFrame,
        synthetic: pd.DataFrame,
        holdout: pd.DataFrame | None = None,
        *,
        schema: Schema | None = None,
        target: str | None = None,
        sensitive: str | None = None,
        seed: int = 0,
    ):
        _check_frame(real, "real")
        _check_frame(synthetic, "synthetic")
        if holdout is not None:
            _check_frame(holdout, "holdout")
        if schema is None:
            schema = Schema.detect(real)
        elif not isinstance(schema, Schema):
            raise ParameterError(
                f"parameter 'schema' must be an ouroboros Schema; got {type(schema).__name__}"
            )
        self.schema = schema
        self.seed = int(seed)
        infos = [c for c in schema.columns if c.kind in NUMERIC_KINDS + (ColumnKind.CATEGORICAL,)]
        self.numeric_columns = [c.name for c in infos if c.kind in NUMERIC_KINDS]
        self.categorical_columns = [c.name for c in infos if c.kind is ColumnKind.CATEGORICAL]
        self.columns = [c.name for c in infos]
        if not self.columns:
            raise DataError(
                "no column can be evaluated: every column is an identifier or a constant"
            )
        self.ignored_columns = [c.name for c in schema.columns if c.name not in self.columns]
        frames = {"real": real, "synthetic": synthetic}
        if holdout is not None:
            frames["holdout"] = holdout
        problems = [
            f"the {role} table lacks columns {missing}"
            for role, frame in frames.items()
            if (missing := [c for c in self.columns if c not in frame.columns])
        ]
        if problems:
            raise SchemaError(problems)
        self.target = _check_role_column(target, "target", self)
        self.sensitive = _check_role_column(sensitive, "sensitive", self)
        self.levels: dict[str, list[Any]] = {}
        self.n_real_levels: dict[str, int] = {}
        self._vocab: dict[str, dict[Any, int]] = {}
        infos_by_name = {c.name: c for c in infos}
        self.real = self._encode(real, "real", infos_by_name, fit=True)
        self.synthetic = self._encode(synthetic, "synthetic", infos_by_name)
        self.holdout = (
            self._encode(holdout, "holdout", infos_by_name) if holdout is not None else None
        )
        self._fit_scales()
        self.shared: dict[Any, Any] = {}
        self._is_view = False
        self._views: dict[str, EvaluationContext] = {}

    # ------------------------------------------------------------------ encoding
    def _encode(
        self, frame: pd.DataFrame, key: str, infos: dict[str, ColumnSchema], fit: bool = False
    ) -> EncodedTable:
        numeric = {c: _numeric_values(frame[c], infos[c], key) for c in self.numeric_columns}
        codes = {c: self._category_codes(frame[c], c, fit) for c in self.categorical_columns}
        return EncodedTable(key, len(frame), numeric, codes)

    def _category_codes(self, values: pd.Series, column: str, fit: bool) -> np.ndarray:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        if fit:
            counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
            order = np.argsort(-counts, kind="stable")
            levels = [_hashable(uniques[i]) for i in order]
            self.levels[column] = levels
            self.n_real_levels[column] = len(levels)
            self._vocab[column] = {v: i for i, v in enumerate(levels)}
        vocab, levels = self._vocab[column], self.levels[column]
        mapping = np.empty(len(uniques), dtype=np.int32)
        for i, value in enumerate(uniques):
            value = _hashable(value)
            if value not in vocab:
                vocab[value] = len(levels)
                levels.append(value)
            mapping[i] = vocab[value]
        out = np.full(len(codes), -1, dtype=np.int32)
        present = codes >= 0
        out[present] = mapping[codes[present]]
        return out

    def _fit_scales(self) -> None:
        """Robust centre and scale per numeric column, fitted on the real table."""
        self.centre, self.scale, self.edges = {}, {}, {}
        self.real_has_missing = {}
        for column in self.numeric_columns:
            values = self.real.sorted(column)
            self.real_has_missing[column] = bool(np.isnan(self.real.numeric[column]).any())
            if len(values) == 0:
                self.centre[column], self.scale[column] = 0.0, 1.0
                self.edges[column] = np.array([])
                continue
            q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
            # the IQR of a normal is 1.349 sd; fall back to the sd, then to 1
            scale = (q3 - q1) / 1.349
            if not scale > 0:
                scale = float(np.std(values))
            self.centre[column] = float(median)
            self.scale[column] = float(scale) if scale > 0 else 1.0
            quantiles = np.quantile(values, np.arange(1, NUMERIC_BINS) / NUMERIC_BINS)
            self.edges[column] = np.unique(quantiles)
        for column in self.categorical_columns:
            self.real_has_missing[column] = bool((self.real.codes[column] < 0).any())

    # ------------------------------------------------------------------ views
    def _view(self, key: str, synthetic: EncodedTable, holdout: EncodedTable | None):
        """A shallow copy with other synthetic and holdout tables; encodings and caches shared."""
        if key not in self._views:
            view = copy.copy(self)
            view.synthetic, view.holdout = synthetic, holdout
            view._is_view = True
            view._views = {}
            self._views[key] = view
        return self._views[key]

    def _holdout_halves(self) -> tuple[EncodedTable, EncodedTable]:
        def make():
            order = self.holdout.permutation(self.seed)
            half = self.holdout.n // 2
            return (
                self.holdout.take(np.sort(order[:half]), "holdout:reference"),
                self.holdout.take(np.sort(order[half:]), "holdout:stand-in"),
            )

        return self.holdout.cached("halves", make)

    def for_metric(self, uses_holdout: bool) -> EvaluationContext:
        """The context a metric's own value is computed in.

        Metrics that read the holdout as a reference see its first half, so that
        their ceiling (computed on the second half) is comparable.
        """
        if self._is_view or not uses_holdout or self.holdout is None or self.holdout.n < 4:
            return self
        reference, _ = self._holdout_halves()
        return self._view("main", self.synthetic, reference)

    def ceiling(self, uses_holdout: bool) -> EvaluationContext | None:
        """The context of the ceiling: holdout rows in place of the synthetic ones.

        ``None`` without a holdout (or, for metrics that read the holdout as a
        reference, with fewer than four holdout rows to split).
        """
        if self.holdout is None:
            return None
        if not uses_holdout:
            return self._view("ceiling", self.holdout, self.holdout)
        if self.holdout.n < 4:
            return None
        reference, stand_in = self._holdout_halves()
        return self._view("ceiling:split", stand_in, reference)

    # ------------------------------------------------------------------ shared helpers
    def memo(self, key: Any, make: Callable[[], Any]) -> Any:
        """Cache ``make()`` under ``key`` for every view of this context."""
        if key not in self.shared:
            self.shared[key] = make()
        return self.shared[key]

    def n_levels(self, column: str) -> int:
        return len(self.levels[column])

    def sample_index(self, table: EncodedTable, n: int) -> np.ndarray:
        """A fixed random subsample of at most ``n`` rows, in random order.

        Subsamples of one table are prefixes of one permutation, so a smaller
        one is a random part of a larger one.
        """
        return table.permutation(self.seed)[:n]

    def pair_codes(self, table: EncodedTable, column: str) -> tuple[np.ndarray, int]:
        """Small integer codes for pair metrics and their number of levels.

        Numeric columns: deciles of the real column, then missing. Categorical
        columns: the most frequent real categories, one pooled level for the
        rest, then missing.
        """
        if column in self.numeric_columns:
            edges = self.edges[column]
            n_levels = len(edges) + 2

            def make():
                values = table.numeric[column]
                codes = np.searchsorted(edges, values, side="right").astype(np.uint8)
                codes[np.isnan(values)] = n_levels - 1
                return codes

        else:
            top = min(self.n_real_levels[column], PAIR_CATEGORIES)
            n_levels = top + 2

            def make():
                codes = table.codes[column]
                out = np.minimum(codes, top).astype(np.uint8)
                out[codes < 0] = n_levels - 1
                return out

        return table.cached(f"pair:{column}", make), n_levels

    def row_hash(self, table: EncodedTable) -> np.ndarray:
        """A 64-bit hash of every row over the evaluated columns (equal rows, equal hashes)."""

        def make():
            h = np.full(table.n, 0x9E3779B97F4A7C15, dtype=np.uint64)
            for column in self.columns:
                if column in table.numeric:
                    values = table.numeric[column].copy()
                    values[np.isnan(values)] = np.nan  # one bit pattern for every NaN
                    values += 0.0  # -0.0 and 0.0 alike
                    bits = values.view(np.uint64)
                else:
                    bits = table.codes[column].astype(np.int64).view(np.uint64)
                h = _mix(h ^ _mix(bits + np.uint64(0x632BE59BD9B4E019)))
            return h

        return table.cached("row_hash", make)

    # ------------------------------------------------------------------ embedding
    def embedding(self, table: EncodedTable) -> np.ndarray:
        """The fixed embedding of the nearest-neighbour subsample of ``table``.

        Numeric columns are centred on the real median and divided by the real
        IQR/1.349 (missing values at the centre, plus a missing indicator when
        the real column has missing values); categorical columns are one-hot on
        the ten most frequent real categories, one column for the rest and one
        for missing, each scaled by 1/sqrt(2) so that a changed category is a
        distance of one. The result is projected on the leading principal
        components of the real rows (at most ``EMBED_DIM``), fixed given the
        real data.
        """

        def make():
            components, mean = self._pca()
            return (self.features(table, self.knn_index(table)) - mean) @ components

        return self.memo(("embedding", table.key), make)

    def knn_index(self, table: EncodedTable) -> np.ndarray:
        return self.sample_index(table, KNN_ROWS)

    def features(
        self, table: EncodedTable, index: np.ndarray, exclude: tuple[str, ...] = ()
    ) -> np.ndarray:
        """Rows ``index`` as standardised numeric and one-hot categorical features.

        The embedding before projection, also the input of the linear models.
        """
        blocks = []
        for column in self.numeric_columns:
            if column in exclude:
                continue
            values = table.numeric[column][index]
            missing = np.isnan(values)
            blocks.append(
                np.where(missing, 0.0, (values - self.centre[column]) / self.scale[column])
            )
            if self.real_has_missing[column]:
                blocks.append(missing.astype(float))
        weight = 1 / math.sqrt(2)
        for column in self.categorical_columns:
            if column in exclude:
                continue
            codes = table.codes[column][index]
            top = min(self.n_real_levels[column], EMBED_CATEGORIES)
            width = top + 1 + int(self.real_has_missing[column])
            onehot = np.zeros((len(index), width))
            slot = np.where(codes < 0, top + 1, np.minimum(codes, top))
            keep = slot < width
            onehot[np.flatnonzero(keep), slot[keep]] = weight
            blocks.append(onehot)
        return np.column_stack(blocks) if blocks else np.zeros((len(index), 0))

    def _pca(self) -> tuple[np.ndarray, np.ndarray]:
        def make():
            raw = self.features(self.real, self.knn_index(self.real))
            mean = raw.mean(axis=0)
            cov = np.cov(raw - mean, rowvar=False).reshape(raw.shape[1], raw.shape[1])
            eigval, eigvec = np.linalg.eigh(cov)
            order = np.argsort(eigval)[::-1][:EMBED_DIM]
            # fix each component's sign so the embedding does not depend on the solver
            vectors = eigvec[:, order]
            signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(len(order))])
            self.shared["embedding_variance"] = float(
                eigval[order].sum() / max(eigval.sum(), 1e-300)
            )
            return vectors * np.where(signs == 0, 1, signs), mean

        return self.memo("pca", make)

    # ------------------------------------------------------------------ description
    def describe(self) -> dict[str, Any]:
        """Sizes and settings for the report."""
        return {
            "rows": {
                "real": self.real.n,
                "synthetic": self.synthetic.n,
                "holdout": None if self.holdout is None else self.holdout.n,
            },
            "numeric_columns": list(self.numeric_columns),
            "categorical_columns": list(self.categorical_columns),
            "ignored_columns": list(self.ignored_columns),
            "target": self.target,
            "sensitive": self.sensitive,
            "seed": self.seed,
            "embedding_variance_kept": self.shared.get("embedding_variance"),
        }


def _counting_order(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Sorted values and mid-ranks by counting, for whole numbers of a small range.

    Linear instead of O(n log n): most integer columns (ages, counts, codes)
    qualify. ``None`` when the values are not whole numbers or span more than
    four times their number.
    """
    if len(values) == 0:
        return None
    low, high = values.min(), values.max()
    if high - low > 4 * len(values) or not np.array_equal(values, np.round(values)):
        return None
    offsets = (values - low).astype(np.int64)
    counts = np.bincount(offsets)
    levels = np.flatnonzero(counts)
    per_level = counts[levels]
    ends = np.cumsum(per_level)
    mid = np.zeros(len(counts))
    mid[levels] = (ends - per_level + 1 + ends) / 2.0  # mean of 1-based first and last rank
    return np.repeat(levels + low, per_level).astype(np.float64), mid[offsets]


def _mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: spreads every input bit over the whole word."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _check_frame(frame: Any, role: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"the {role} table must be a pandas DataFrame; got {type(frame).__name__}")
    if len(frame) == 0:
        raise DataError(f"the {role} table is empty; give at least one row")


def _check_role_column(name: str | None, role: str, context: EvaluationContext) -> str | None:
    if name is None:
        return None
    if name not in context.schema:
        raise ParameterError(
            f"parameter {role!r}: no column {name!r}; columns are {context.schema.names}"
        )
    if name not in context.columns:
        kind = context.schema[name].kind.value
        raise ParameterError(
            f"parameter {role!r}: column {name!r} is {kind} and cannot be a {role}; "
            "choose a numeric or categorical column"
        )
    return name


def _numeric_values(values: pd.Series, info: ColumnSchema, role: str) -> np.ndarray:
    """A numeric or datetime column as float64 (datetimes as seconds since the epoch, UTC)."""
    if info.kind is ColumnKind.DATETIME:
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            stamps = values
        else:
            present = values.notna()
            stamps = pd.to_datetime(values, format=info.datetime_format, errors="coerce")
            if (stamps.isna() & present).any():
                bad = values[stamps.isna() & present].iloc[0]
                raise DataError(
                    f"column {info.name!r} of the {role} table holds {bad!r}, not a date in "
                    f"format {info.datetime_format!r}"
                )
        return datetime_seconds(stamps)
    if pd.api.types.is_bool_dtype(values.dtype) or not pd.api.types.is_numeric_dtype(values.dtype):
        converted = pd.to_numeric(values, errors="coerce")
        bad = values[converted.isna() & values.notna()]
        if len(bad) or pd.api.types.is_bool_dtype(values.dtype):
            example = bad.iloc[0] if len(bad) else values.iloc[0]
            raise DataError(
                f"column {info.name!r} is {info.kind.value} in the real table but the {role} "
                f"table holds {example!r}; give it numbers"
            )
        values = converted
    out = values.to_numpy(dtype="float64", na_value=np.nan)
    if np.isinf(out).any():
        raise DataError(
            f"column {info.name!r} of the {role} table holds infinite values; replace them "
            "with NaN or finite numbers"
        )
    return out
