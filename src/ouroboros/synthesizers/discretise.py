"""Columns to integer codes and back, from a differentially private schema only.

The codes are what the marginal-based DP generators (``mst``, ``aim``) model. Every
bin edge and category comes from the schema (public or measured under the budget), so
the mapping itself reveals nothing more about the data. Numeric columns get equal-width
bins between their bounds (one bin per value for integers with a narrow range) and are
decoded uniformly within the bin; a column that may be missing gets one more code.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np
import pandas as pd

from ouroboros.errors import DataError, ModelFileError, SchemaError
from ouroboros.schema import ColumnKind, Schema
from ouroboros.transforms import DatetimeConverter, IdentifierGenerator, NumberConverter
from ouroboros.transforms.base import jsonable, missing_marker, take, typed_values
from ouroboros.values import datetime_seconds

STATE_VERSION = 1


def _step_seconds(fmt: str | None) -> int:
    """The resolution a datetime text format can show, in seconds."""
    if fmt is None or "%S" in fmt or "%f" in fmt or "%T" in fmt:
        return 1
    if "%M" in fmt:
        return 60
    if "%H" in fmt or "%I" in fmt:
        return 3600
    return 86_400


class Discretiser:
    """The codes of a table's modelled columns, and their decoding; built from a schema."""

    def __init__(self, columns: list[dict[str, Any]]):
        self.columns_ = columns

    # ------------------------------------------------------------ building
    @classmethod
    def from_schema(
        cls, schema: Schema, data: pd.DataFrame, bins: int, measured: set[str]
    ) -> Discretiser:
        """Specs for every column of ``schema``; ``data`` is read only for its dtypes and
        how it spells missing values (structure, not statistics). Unknown values of a
        ``measured`` column's categories are folded away; of a public one, refused."""
        return cls([_spec(c, data[c.name], bins, c.name in measured) for c in schema.columns])

    @property
    def modelled(self) -> list[dict[str, Any]]:
        return [c for c in self.columns_ if c["type"] != "identifier"]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(c["size"] for c in self.modelled)

    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.modelled]

    @property
    def output_dim(self) -> int:
        return len(self.modelled)

    # ------------------------------------------------------------ encoding
    def encode(self, data: pd.DataFrame) -> np.ndarray:
        """Integer codes ``(n, modelled columns)``; values outside the bounds are clipped,
        unknown categories of a measured list go to missing (or the first category)."""
        out = np.zeros((len(data), len(self.modelled)), dtype=np.int64)
        for j, spec in enumerate(self.modelled):
            values = data[spec["name"]]
            out[:, j] = (_encode_category if spec["type"] == "categorical" else _encode_number)(
                spec, values
            )
        return out

    def inverse_transform(self, codes: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        """A table with every schema column from ``codes`` (identifiers drawn fresh)."""
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != len(self.modelled):
            raise DataError(f"expected codes of shape (n, {len(self.modelled)}); got {codes.shape}")
        n, out, j = len(codes), {}, 0
        for spec in self.columns_:
            if spec["type"] == "identifier":
                generator = IdentifierGenerator.from_state(spec["generator"])
                out[spec["name"]] = generator.generate(n, rng)
                continue
            column = codes[:, j]
            j += 1
            if spec["type"] == "categorical":
                out[spec["name"]] = _decode_category(spec, column)
            else:
                out[spec["name"]] = _decode_number(spec, column, rng)
        return pd.DataFrame(out, index=pd.RangeIndex(n))

    def fresh_identifiers(self, table: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """``table`` with its identifier columns drawn afresh for all rows at once."""
        specs = [spec for spec in self.columns_ if spec["type"] == "identifier"]
        if not specs:
            return table
        table = table.copy()
        for spec in specs:
            generator = IdentifierGenerator.from_state(spec["generator"])
            table[spec["name"]] = generator.generate(len(table), rng).set_axis(table.index)
        return table

    # ------------------------------------------------------------ state
    def to_state(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "type": "discretiser", "columns": self.columns_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Discretiser:
        if state.get("type") != "discretiser" or int(state.get("version", 0)) > STATE_VERSION:
            raise ModelFileError("the model file's discretiser state is unknown or newer")
        return cls(list(state["columns"]))


# ---------------------------------------------------------------- specs
def _spec(column, values: pd.Series, bins: int, measured: bool) -> dict[str, Any]:
    na = missing_marker(values)
    dtype = str(values.dtype)
    may_miss = bool(column.missing_fraction and column.missing_fraction > 0)
    if column.kind is ColumnKind.IDENTIFIER:
        numeric = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
            values.dtype
        )
        generator = {
            "kind": "integer" if numeric else "string",
            "max": 0,
            "length": 1,
            "prefix": "",
            "alphabet": string.digits,
            "missing_fraction": 0.0,
            "dtype": dtype,
            "na": na,
        }
        return {"type": "identifier", "name": column.name, "generator": generator}
    if column.kind is ColumnKind.CATEGORICAL:
        categories = [jsonable(c) for c in column.categories]
        return {
            "type": "categorical",
            "name": column.name,
            "categories": categories,
            "measured": measured,
            "missing": may_miss,
            "size": len(categories) + may_miss,
            "dtype": dtype,
            "na": na,
            "dtype_categories": categories if dtype == "category" else None,
        }
    if column.kind not in (ColumnKind.CONTINUOUS, ColumnKind.INTEGER, ColumnKind.DATETIME):
        raise SchemaError(f"column {column.name!r}: kind {column.kind.value} cannot be discretised")
    if column.min is None or column.max is None:
        raise SchemaError(f"column {column.name!r} has no bounds in the private schema")
    low, high = column.numeric_bounds()
    if high < low:
        raise SchemaError(f"column {column.name!r}: min {column.min} is above max {column.max}")
    exact = column.kind is ColumnKind.INTEGER and high - low + 1 <= bins
    if exact:
        edges = np.arange(low - 0.5, high + 1.0, 1.0)
    else:
        edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
    spec = {
        "type": "numeric",
        "name": column.name,
        "edges": [float(e) for e in edges],
        "exact": bool(exact),
        "missing": may_miss,
        "size": len(edges) - 1 + may_miss,
        "datetime": column.kind is ColumnKind.DATETIME,
        "format": column.datetime_format,
    }
    if column.kind is ColumnKind.DATETIME:
        is_stamp = pd.api.types.is_datetime64_any_dtype(values.dtype)
        unit = values.dt.unit if is_stamp else "s"
        step = 1 if is_stamp else _step_seconds(column.datetime_format)
        ticks = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
        spec["converter"] = {
            "format": None if is_stamp else column.datetime_format,
            "timezone": column.timezone,
            "unit": unit,
            "step": step * ticks,
            "min": low,
            "max": high,
            "dtype": dtype,
            "na": na,
        }
    else:
        precision = column.precision if column.kind is ColumnKind.CONTINUOUS else 0
        spec["converter"] = {
            "integer": column.kind is ColumnKind.INTEGER,
            "precision": precision,
            "min": low,
            "max": high,
            "dtype": dtype,
            "na": na,
        }
    return spec


# ---------------------------------------------------------------- per kind
def _encode_category(spec: dict[str, Any], values: pd.Series) -> np.ndarray:
    lookup = {_key(c): i for i, c in enumerate(spec["categories"])}
    index, uniques = pd.factorize(values, use_na_sentinel=True)
    keys = [_key(jsonable(v)) for v in uniques]
    per_unique = np.array([lookup.get(k, -1) for k in keys] + [-1], dtype=np.int64)
    missing = index < 0
    codes = per_unique[index]
    unknown = (codes < 0) & ~missing
    if unknown.any() and not spec["measured"]:
        seen = sorted({str(k[1]) for k, c in zip(keys, per_unique, strict=False) if c < 0})[:5]
        raise SchemaError(
            f"column {spec['name']!r} holds values outside its public categories, such as "
            f"{seen}; add them to the schema's 'categories' or map them first"
        )
    fallback = len(spec["categories"]) if spec["missing"] else 0
    codes[unknown | missing] = fallback
    return codes


def _key(value: Any) -> Any:
    """A dictionary key that keeps ``True`` apart from ``1``."""
    return (type(value).__name__ == "bool", value)


def _decode_category(spec: dict[str, Any], codes: np.ndarray) -> pd.Series:
    lookup = list(spec["categories"]) + ([None] if spec["missing"] else [])
    table = typed_values(
        lookup, spec["dtype"], na=spec["na"], categories=spec.get("dtype_categories")
    )
    return take(table, np.minimum(codes, len(lookup) - 1))


def _numbers(spec: dict[str, Any], values: pd.Series) -> np.ndarray:
    if spec["datetime"]:
        stamps = (
            values
            if pd.api.types.is_datetime64_any_dtype(values.dtype)
            else pd.to_datetime(values, format=spec["format"], errors="coerce")
        )
        return np.asarray(datetime_seconds(stamps), dtype=np.float64)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _encode_number(spec: dict[str, Any], values: pd.Series) -> np.ndarray:
    edges = np.asarray(spec["edges"])
    numbers = _numbers(spec, values)
    missing = np.isnan(numbers)
    index = np.searchsorted(edges, np.clip(np.nan_to_num(numbers), edges[0], edges[-1]), "right")
    codes = np.clip(index - 1, 0, len(edges) - 2)
    codes[missing] = len(edges) - 1 if spec["missing"] else 0
    return codes


def _decode_number(spec: dict[str, Any], codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
    edges = np.asarray(spec["edges"])
    bins = len(edges) - 1
    missing = codes >= bins
    inside = np.minimum(codes, bins - 1)
    if spec["exact"]:
        numbers = (edges[inside] + edges[inside + 1]) / 2.0
    else:
        numbers = edges[inside] + rng.random(len(codes)) * (edges[inside + 1] - edges[inside])
    if spec["datetime"]:
        converter = DatetimeConverter.from_state(spec["converter"])
    else:
        converter = NumberConverter.from_state(spec["converter"])
    return converter.from_float(numbers, missing if spec["missing"] else None)
