"""``TableTransformer``: a whole table to a float32 matrix and back, driven by a Schema.

Numeric, integer and datetime columns go through a converter (to float64) and
a numeric encoder, plus a present/missing indicator when they had missing
values; categorical columns through a categorical encoder; identifier and
constant columns are not modelled and are regenerated on inversion. The
encoders come by name from :data:`~ouroboros.transforms.encoders.ENCODERS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ouroboros._threads import child_rngs, thread_map
from ouroboros.errors import (
    ConditionError,
    DataError,
    ModelFileError,
    ParameterError,
    SchemaError,
    check_param,
)
from ouroboros.schema import NUMERIC_KINDS, ColumnKind, ColumnSchema, Schema, check_table
from ouroboros.transforms.base import Span, check_fitted
from ouroboros.transforms.categorical import CategoricalEncoder, OneHotEncoder
from ouroboros.transforms.encoders import ENCODERS, EncoderSpec, describe, make_encoder
from ouroboros.transforms.identifiers import ConstantFiller, IdentifierGenerator
from ouroboros.transforms.numeric import NumericEncoder
from ouroboros.transforms.values import DatetimeConverter, NumberConverter

#: 2: the parameters are one ``encoders`` mapping (1: numeric, categorical, max_* options)
STATE_VERSION = 2
#: the encoder of each column kind unless told otherwise; "numeric" stands for the
#: continuous, integer and datetime kinds that have no entry of their own
DEFAULT_ENCODERS: dict[str, EncoderSpec] = {"numeric": "mode", "categorical": "onehot"}
_ENCODER_KEYS = ("numeric", "continuous", "integer", "datetime", "categorical")
#: rows from which columns are decoded on several threads (below, threads cost more)
_PARALLEL_ROWS = 20_000
_CONVERTERS = {"number": NumberConverter, "datetime": DatetimeConverter}


class _NumericColumn:
    """Converter to float64, numeric encoder, then a present/missing one-hot if needed."""

    type = "numeric"

    def __init__(
        self,
        name: str,
        converter: NumberConverter | DatetimeConverter,
        encoder: NumericEncoder,
    ):
        self.name, self.converter, self.encoder = name, converter, encoder

    def fit(self, values: pd.Series, column: ColumnSchema, rng: np.random.Generator) -> None:
        numbers = self.converter.fit(values, column).to_float(values)
        missing = np.isnan(numbers)
        self.has_missing = bool(missing.any())
        present = numbers[~missing]
        self.fill = float(np.median(present))
        self.encoder.fit(present, rng)

    def spans(self) -> list[Span]:
        spans = self.encoder.spans(self.name)
        if self.has_missing:
            spans.append(Span(self.name, "missing", 2, "softmax"))
        return spans

    def transform(
        self, values: pd.Series, rng: np.random.Generator | None, out: np.ndarray
    ) -> None:
        numbers = self.converter.to_float(values)
        missing = np.isnan(numbers)
        if missing.any():
            if not self.has_missing:
                raise DataError(
                    f"column {self.name!r} has missing values but had none when fitted; "
                    "refit on data with missing values or fill them"
                )
            present = numbers[~missing]
            # Drawing fills from the observed values keeps the value's marginal intact.
            if rng is not None and len(present):
                numbers[missing] = rng.choice(present, size=int(missing.sum()))
            else:
                numbers[missing] = self.fill
        width = self.encoder.width
        self.encoder.transform(numbers, rng, out=out[:, :width])
        if self.has_missing:
            out[:, width] = ~missing
            out[:, width + 1] = missing

    def inverse(self, block: np.ndarray, rng: np.random.Generator) -> pd.Series:
        width = self.encoder.width
        numbers = self.encoder.inverse(block[:, :width])
        missing = None
        if self.has_missing:
            missing = block[:, width + 1] > block[:, width]
        return self.converter.from_float(numbers, missing)

    def to_state(self) -> dict[str, Any]:
        converter = "datetime" if isinstance(self.converter, DatetimeConverter) else "number"
        return {
            "type": self.type,
            "name": self.name,
            "converter": {"type": converter, **self.converter.to_state()},
            "encoder": self.encoder.to_state(),
            "has_missing": self.has_missing,
            "fill": self.fill,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> _NumericColumn:
        converter = _lookup(_CONVERTERS, state["converter"]["type"], "converter")
        encoder = _encoder_class(state["encoder"]["type"], NumericEncoder)
        column = cls(
            state["name"],
            converter.from_state(state["converter"]),
            encoder.from_state(state["encoder"]),
        )
        column.has_missing, column.fill = bool(state["has_missing"]), float(state["fill"])
        return column


class _CategoricalColumn:
    type = "categorical"

    def __init__(self, name: str, encoder: CategoricalEncoder):
        self.name, self.encoder = name, encoder

    def fit(self, values: pd.Series, column: ColumnSchema, rng: np.random.Generator) -> None:
        self.encoder.fit(values)

    def spans(self) -> list[Span]:
        return self.encoder.spans(self.name)

    def transform(
        self, values: pd.Series, rng: np.random.Generator | None, out: np.ndarray
    ) -> None:
        self.encoder.transform(values, out=out)

    def inverse(self, block: np.ndarray, rng: np.random.Generator) -> pd.Series:
        return self.encoder.inverse(block, rng)

    def to_state(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "encoder": self.encoder.to_state()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> _CategoricalColumn:
        encoder = _encoder_class(state["encoder"]["type"], CategoricalEncoder)
        return cls(state["name"], encoder.from_state(state["encoder"]))


class _GeneratedColumn:
    """An identifier or constant column: no matrix columns, regenerated on inversion."""

    type = "generated"

    def __init__(self, name: str, generator: IdentifierGenerator | ConstantFiller):
        self.name, self.generator = name, generator

    def fit(self, values: pd.Series, column: ColumnSchema, rng: np.random.Generator) -> None:
        self.generator.fit(values, column)

    def spans(self) -> list[Span]:
        return []

    def generate(self, n: int, rng: np.random.Generator) -> pd.Series:
        return self.generator.generate(n, rng)

    def to_state(self) -> dict[str, Any]:
        kind = "identifier" if isinstance(self.generator, IdentifierGenerator) else "constant"
        return {
            "type": self.type,
            "name": self.name,
            "generator": {"type": kind, **self.generator.to_state()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> _GeneratedColumn:
        kinds = {"identifier": IdentifierGenerator, "constant": ConstantFiller}
        generator = _lookup(kinds, state["generator"]["type"], "generator")
        return cls(state["name"], generator.from_state(state["generator"]))


_COLUMN_TYPES = {c.type: c for c in (_NumericColumn, _CategoricalColumn, _GeneratedColumn)}


def _lookup(table: dict[str, Any], name: str, what: str) -> Any:
    try:
        return table[name]
    except (KeyError, TypeError) as exc:
        raise ModelFileError(
            f"unknown {what} {name!r} in the transformer state; allowed are {sorted(table)}"
        ) from exc


def _encoder_class(name: str, base: type) -> type:
    """The registered encoder ``name``, which must subclass ``base``."""
    cls = _lookup(ENCODERS, name, "encoder")
    if not issubclass(cls, base):
        raise ModelFileError(f"encoder {name!r} in the transformer state is not a {base.__name__}")
    return cls


def _legacy_params(params: dict[str, Any]) -> dict[str, Any]:
    """Version-1 parameters (an encoder name per family plus its options) as ``encoders``."""
    numeric = params.get("numeric", "mode")
    options = {
        "mode": {
            "max_modes": params.get("max_modes", 10),
            "max_rows": params.get("gmm_max_rows", 20_000),
        },
        "quantile": {"max_rows": params.get("quantile_max_rows", 100_000)},
    }.get(numeric, {})
    categorical = [
        params.get("categorical", "onehot"),
        {"max_categories": params.get("max_categories", 100)},
    ]
    return {"encoders": {"numeric": [numeric, options], "categorical": categorical}}


class TableTransformer:
    """Reversible, vectorised encoding of a table into a float32 matrix, driven by a Schema.

    Parameters
    ----------
    encoders:
        the encoder of each column kind, over :data:`DEFAULT_ENCODERS`: keys
        ``"numeric"`` (continuous, integer and datetime, the last as UTC
        seconds), ``"continuous"``, ``"integer"``, ``"datetime"`` and
        ``"categorical"``; values a name registered in
        :data:`~ouroboros.transforms.encoders.ENCODERS`, a ``(name, options)``
        pair or an unfitted encoder (copied for each column). Built in:
        ``"mode"`` (mode-specific normalisation, Xu et al. 2019, "Modeling
        Tabular Data using Conditional GAN"; ``max_modes``, ``max_rows``),
        ``"quantile"`` (empirical CDF to a standard normal; ``max_rows``),
        ``"standard"`` (zero mean, unit variance), ``"onehot"`` (a softmax
        block) and ``"ordinal"`` (the block position scaled to [0, 1]); both
        categorical ones take ``max_categories``, the widest block, rarer
        categories being pooled into "other" and resampled by frequency.
    """

    def __init__(self, schema: Schema, *, encoders: Mapping[str, EncoderSpec] | None = None):
        self.schema = schema
        self.encoders = dict(encoders or {})

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters other than the schema, as JSON values."""
        merged = {**DEFAULT_ENCODERS, **self.encoders}
        return {"encoders": {key: describe(spec, key) for key, spec in merged.items()}}

    def _check_params(self) -> None:
        check_param("schema", self.schema, isinstance(self.schema, Schema), "an ouroboros Schema")
        unknown = sorted(set(self.encoders) - set(_ENCODER_KEYS))
        if unknown:
            raise ParameterError(
                f"parameter 'encoders': unknown keys {unknown}; use {list(_ENCODER_KEYS)}"
            )
        for key in ("continuous", "integer", "datetime", "categorical"):
            self._encoder(ColumnKind(key))

    def _encoder(self, kind: ColumnKind) -> NumericEncoder | CategoricalEncoder:
        """A fresh encoder for a column of ``kind``."""
        merged = {**DEFAULT_ENCODERS, **self.encoders}
        key = kind.value if kind.value in merged else "numeric"
        base = NumericEncoder if kind in NUMERIC_KINDS else CategoricalEncoder
        return make_encoder(merged[key], key, base)

    def _column(self, column: ColumnSchema):
        if column.kind is ColumnKind.CATEGORICAL:
            return _CategoricalColumn(column.name, self._encoder(column.kind))
        if column.kind in NUMERIC_KINDS:
            converter = (
                DatetimeConverter() if column.kind is ColumnKind.DATETIME else NumberConverter()
            )
            return _NumericColumn(column.name, converter, self._encoder(column.kind))
        if column.kind is ColumnKind.IDENTIFIER:
            return _GeneratedColumn(column.name, IdentifierGenerator())
        return _GeneratedColumn(column.name, ConstantFiller())

    # ------------------------------------------------------------ fit / transform
    def fit(self, data: pd.DataFrame, rng: np.random.Generator) -> TableTransformer:
        """Fit every column's encoder on ``data`` (which must match the schema)."""
        self._check_params()
        check_param("rng", rng, isinstance(rng, np.random.Generator), "a numpy Generator")
        self.schema.validate(data)
        columns = []
        for column in self.schema.columns:
            pipeline = self._column(column)
            pipeline.fit(data[column.name], column, rng)
            columns.append(pipeline)
        self._set_columns(columns)
        return self

    def _set_columns(self, columns: list) -> None:
        self.columns_ = columns
        self.output_info_: list[Span] = []
        self.slices_: dict[str, tuple[int, int]] = {}
        start = 0
        for pipeline in columns:
            spans = pipeline.spans()
            stop = start + sum(span.width for span in spans)
            self.slices_[pipeline.name] = (start, stop)
            self.output_info_.extend(spans)
            start = stop
        self.output_dim_ = start

    @property
    def output_info(self) -> list[Span]:
        """Spans in matrix column order."""
        check_fitted(self, "output_info_")
        return list(self.output_info_)

    @property
    def output_dim(self) -> int:
        check_fitted(self, "output_dim_")
        return self.output_dim_

    def _modelled(self) -> list:
        return [c for c in self.columns_ if not isinstance(c, _GeneratedColumn)]

    def transform(self, data: pd.DataFrame, rng: np.random.Generator | None = None) -> np.ndarray:
        """Encode the modelled columns of ``data`` into a float32 ``(n, output_dim)`` matrix.

        ``rng`` draws the mixture mode of each value from its posterior and the
        stand-in values of missing cells; without it the most likely mode and the
        training median are used.
        """
        check_fitted(self, "columns_")
        check_table(data)
        absent = [c.name for c in self._modelled() if c.name not in data.columns]
        if absent:
            raise SchemaError(f"columns {absent} are in the schema but not in the data")
        matrix = np.empty((len(data), self.output_dim_), dtype=np.float32)
        for pipeline in self._modelled():
            start, stop = self.slices_[pipeline.name]
            pipeline.transform(data[pipeline.name], rng, matrix[:, start:stop])
        return matrix

    def inverse_transform(self, matrix: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        """Decode a matrix (any finite numbers) into a table with every schema column.

        Values are rounded, clipped to the training range and cast to the training
        dtypes; categories are only training ones; identifier columns are fresh
        unique values and constant columns are refilled.
        """
        check_fitted(self, "columns_")
        check_param("rng", rng, isinstance(rng, np.random.Generator), "a numpy Generator")
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape[1] != self.output_dim_:
            raise DataError(
                f"expected a matrix of shape (n, {self.output_dim_}); got {matrix.shape}"
            )
        if not np.isfinite(matrix).all():
            raise DataError(
                "the matrix holds NaN or infinite values; the generator diverged, "
                "so retrain it (e.g. with a lower learning rate)"
            )
        n = len(matrix)
        rngs = child_rngs(rng, len(self.columns_))

        def decode(k: int) -> pd.Series:
            pipeline = self.columns_[k]
            if isinstance(pipeline, _GeneratedColumn):
                return pipeline.generate(n, rngs[k])
            start, stop = self.slices_[pipeline.name]
            return pipeline.inverse(matrix[:, start:stop], rngs[k])

        decoded = thread_map(decode, range(len(self.columns_)), parallel=n >= _PARALLEL_ROWS)
        names = [pipeline.name for pipeline in self.columns_]
        return pd.DataFrame(dict(zip(names, decoded, strict=True)), index=pd.RangeIndex(n))

    def fresh_identifiers(self, table: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """``table`` with its identifier columns drawn afresh for all rows at once, so that
        rows put together from several draws keep unique identifiers."""
        check_fitted(self, "columns_")
        pipelines = [
            p for p in self.columns_
            if isinstance(p, _GeneratedColumn) and isinstance(p.generator, IdentifierGenerator)
        ]  # fmt: skip
        if not pipelines:
            return table
        table = table.copy()
        for pipeline, child in zip(pipelines, child_rngs(rng, len(pipelines)), strict=True):
            table[pipeline.name] = pipeline.generate(len(table), child).set_axis(table.index)
        return table

    # ------------------------------------------------------------ layout queries
    def _pipeline(self, column: str):
        check_fitted(self, "columns_")
        for pipeline in self.columns_:
            if pipeline.name == column:
                return pipeline
        raise ParameterError(f"no column {column!r}; columns are {self.schema.names}")

    def spans_for(self, column: str) -> list[tuple[int, int, Span]]:
        """``(start, stop, span)`` of each block of ``column`` (empty if not modelled)."""
        pipeline = self._pipeline(column)
        out, start = [], self.slices_[pipeline.name][0]
        for span in pipeline.spans():
            out.append((start, start + span.width, span))
            start += span.width
        return out

    def discrete_columns(self) -> list[str]:
        """Columns encoded as one one-hot block (the conditional vector of CTGAN)."""
        check_fitted(self, "columns_")
        return [
            c.name
            for c in self.columns_
            if isinstance(c, _CategoricalColumn) and isinstance(c.encoder, OneHotEncoder)
        ]

    def _onehot(self, column: str) -> _CategoricalColumn:
        pipeline = self._pipeline(column)
        if not (
            isinstance(pipeline, _CategoricalColumn) and isinstance(pipeline.encoder, OneHotEncoder)
        ):
            raise ConditionError(
                f"column {column!r} is not encoded as a one-hot block; "
                f"one-hot columns are {self.discrete_columns()}"
            )
        return pipeline

    def category_block(self, column: str) -> tuple[int, int, list]:
        """``(start, stop, categories)`` of a one-hot column, in block order.

        None stands for the missing category and :data:`OTHER` (last) for the
        pooled rare categories.
        """
        pipeline = self._onehot(column)
        start, stop = self.slices_[column]
        return start, stop, pipeline.encoder.block_categories()

    def encode_condition(self, column: str, value: Any) -> int:
        """Position of ``value`` in ``column``'s one-hot block.

        Raises :class:`ConditionError` for a value unseen in training or pooled into "other".
        """
        try:
            return self._onehot(column).encoder.index_of(value)
        except ConditionError as exc:
            raise ConditionError(f"column {column!r}: {exc}") from exc

    # ------------------------------------------------------------ state
    def to_state(self) -> dict[str, Any]:
        """Fitted state as JSON values and numpy arrays (no objects)."""
        check_fitted(self, "columns_")
        return {
            "version": STATE_VERSION,
            "params": self.get_params(),
            "columns": [pipeline.to_state() for pipeline in self.columns_],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], schema: Schema) -> TableTransformer:
        """Rebuild a fitted transformer from :meth:`to_state` and the schema it was fitted with."""
        try:
            version = int(state["version"])
            params, columns = dict(state["params"]), list(state["columns"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"the transformer state is incomplete: {exc}") from exc
        if version > STATE_VERSION:
            raise ModelFileError(
                f"transformer state version {version} is newer than this ouroboros reads "
                f"({STATE_VERSION}); upgrade ouroboros"
            )
        if version < 2:
            params = _legacy_params(params)
        try:
            transformer = cls(schema, **params)
            transformer._check_params()
        except (ParameterError, TypeError) as exc:
            raise ModelFileError(
                f"the transformer state's parameters are not usable: {exc}"
            ) from exc
        try:
            pipelines = [
                _lookup(_COLUMN_TYPES, c["type"], "column type").from_state(c) for c in columns
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"the transformer state is damaged: {exc!r}") from exc
        names = [p.name for p in pipelines]
        if names != schema.names:
            raise SchemaError(
                f"the transformer was fitted on columns {names} but the schema has "
                f"{schema.names}; pass the schema it was fitted with"
            )
        transformer._set_columns(pipelines)
        return transformer
