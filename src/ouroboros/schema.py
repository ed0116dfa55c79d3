"""Column kinds, their detection, and the versioned JSON :class:`Schema`.

A schema records, per column, its kind and what inversion needs to give the
table back exactly: the pandas dtype, range, categories with frequencies,
missing fraction, decimal precision, datetime format and timezone, and the
shape of identifiers. Users may edit the JSON and pass it back; the kind they
set is authoritative and the statistics are recomputed from the data.
"""

from __future__ import annotations

import json
import math
import os
import string
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ouroboros.errors import DataError, SchemaError
from ouroboros.io import atomic_write_text
from ouroboros.rules import discover, parse_all
from ouroboros.sequence_schema import SequenceSpec
from ouroboros.values import datetime_seconds, guess_datetime_format, unparsed_kind

SCHEMA_VERSION = 1
MAX_PRECISION = 10
#: integer columns with at most this many distinct values are categorical
CATEGORICAL_INTEGER_MAX = 10
#: columns of fewer rows are never taken for identifiers
IDENTIFIER_MIN_ROWS = 10


class ColumnKind(str, Enum):
    """What a column is, which decides how it is modelled."""

    CONTINUOUS = "continuous"
    INTEGER = "integer"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"
    IDENTIFIER = "identifier"
    CONSTANT = "constant"


NUMERIC_KINDS = (ColumnKind.CONTINUOUS, ColumnKind.INTEGER, ColumnKind.DATETIME)


@dataclass
class ColumnSchema:
    """One column: its kind plus what inversion needs to restore it exactly.

    ``min``/``max`` are numbers for numeric kinds and ISO strings for datetimes;
    ``categories``/``frequencies`` exclude missing values; ``identifier`` holds
    the shape used to regenerate fresh identifiers; ``value`` the constant;
    ``note`` what the user should know (text that looks like dates or numbers
    but is regenerated as random identifiers).
    """

    name: str
    kind: ColumnKind
    dtype: str
    missing_fraction: float = 0.0
    min: Any = None
    max: Any = None
    precision: int | None = None
    categories: list[Any] | None = None
    frequencies: list[float] | None = None
    datetime_format: str | None = None
    timezone: str | None = None
    identifier: dict[str, Any] | None = None
    value: Any = None
    note: str | None = None

    @property
    def has_missing(self) -> bool:
        return self.missing_fraction > 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind"] = self.kind.value
        return {k: v for k, v in out.items() if v is not None or k in ("name", "kind", "dtype")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnSchema:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SchemaError(
                f"column {data.get('name')!r}: unknown schema fields {sorted(unknown)}; "
                f"allowed are {sorted(known)}"
            )
        values = dict(data)
        try:
            values["kind"] = ColumnKind(values["kind"])
        except (KeyError, ValueError) as exc:
            raise SchemaError(
                f"column {data.get('name')!r}: kind {data.get('kind')!r} is not one of "
                f"{[k.value for k in ColumnKind]}"
            ) from exc
        return cls(**values)

    def numeric_bounds(self) -> tuple[float, float]:
        """``(min, max)`` as floats (datetimes as UTC seconds since the epoch)."""
        if self.kind is ColumnKind.DATETIME:
            return (datetime_seconds(self.min), datetime_seconds(self.max))
        return (float(self.min), float(self.max))


@dataclass
class Schema:
    """The ordered columns of a table, serialisable to versioned JSON."""

    columns: list[ColumnSchema]
    version: int = SCHEMA_VERSION
    n_rows: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    #: rules every row obeys, as text (see :mod:`ouroboros.rules`)
    rules: list[str] = field(default_factory=list)
    #: entity key, order and static columns of an event table (:mod:`ouroboros.sequence_schema`)
    sequence: SequenceSpec | None = None

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def __getitem__(self, name: str) -> ColumnSchema:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"no column {name!r} in the schema; columns are {self.names}")

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __len__(self) -> int:
        return len(self.columns)

    def of_kind(self, *kinds: ColumnKind | str) -> list[str]:
        """Names of the columns of the given kinds, in table order."""
        wanted = {ColumnKind(k) for k in kinds}
        return [c.name for c in self.columns if c.kind in wanted]

    # ------------------------------------------------------------ detection
    @classmethod
    def detect(
        cls,
        data: pd.DataFrame,
        *,
        kinds: dict[str, ColumnKind | str] | None = None,
        formats: dict[str, str] | None = None,
        rules: bool = False,
    ) -> Schema:
        """Detect the schema of ``data``; ``kinds``/``formats`` force a column's kind/format;
        ``rules=True`` adds the rules that hold on every row (:func:`ouroboros.rules.discover`).

        Raises :class:`DataError` listing every column that cannot be modelled.
        """
        check_table(data)
        kinds = {k: ColumnKind(v) for k, v in (kinds or {}).items()}
        formats = formats or {}
        columns, problems = [], []
        for name in data.columns:
            try:
                columns.append(
                    detect_column(data[name], kind=kinds.get(name), fmt=formats.get(name))
                )
            except DataError as exc:
                problems.append(str(exc))
        if problems:
            raise DataError(
                problems[0]
                if len(problems) == 1
                else f"{len(problems)} columns cannot be used:\n"
                + "\n".join(f"- {p}" for p in problems)
            )
        schema = cls(columns=columns, n_rows=len(data))
        if rules:
            schema.rules = [f.rule for f in schema.discover_rules(data)]
        return schema

    def with_sequence(
        self,
        data: pd.DataFrame,
        key: str | None = None,
        index: str | None = None,
        static: list[str] | None = None,
    ) -> Schema:
        """Set the sequence spec (static columns detected unless given); an index detected
        as an identifier (unique step numbers) becomes an integer, since it orders events."""
        self.sequence = SequenceSpec.detect(data, key=key, index=index, static=static)
        for i, column in enumerate(self.columns):
            if column.name == index and column.kind is ColumnKind.IDENTIFIER:
                self.columns[i] = detect_column(data[index], kind=ColumnKind.INTEGER)
        return self

    def discover_rules(self, data: pd.DataFrame, tolerance: float = 0.0) -> list:
        """The rules ``data`` obeys (all rows but a ``tolerance`` share), with reasons."""
        kinds = {c.name: c.kind.value for c in self.columns}
        formats = {c.name: c.datetime_format for c in self.columns if c.datetime_format}
        return discover(data[self.names], kinds, formats, tolerance)

    def conform(self, data: pd.DataFrame) -> Schema:
        """Re-detect statistics from ``data`` keeping this schema's kinds and formats.

        Used when a user passes an edited schema to ``fit``: the kind they chose
        is authoritative, the ranges and frequencies come from the data.
        """
        self.validate(data)
        kinds = {c.name: c.kind for c in self.columns}
        formats = {c.name: c.datetime_format for c in self.columns if c.datetime_format}
        schema = Schema.detect(data[self.names], kinds=kinds, formats=formats)
        schema.extras = dict(self.extras)
        schema.rules = list(self.rules)
        schema.sequence = self.sequence
        return schema

    # ------------------------------------------------------------ validation
    def validate(self, data: pd.DataFrame) -> None:
        """Raise one :class:`SchemaError` listing every way ``data`` disagrees with the schema."""
        check_table(data)
        problems = []
        missing = [n for n in self.names if n not in data.columns]
        extra = [n for n in data.columns if n not in self.names]
        if missing:
            problems.append(f"columns {missing} are in the schema but not in the data")
        if extra:
            problems.append(
                f"columns {extra} are in the data but not in the schema; "
                "add them to the schema or drop them"
            )
        for column in self.columns:
            if column.name in data.columns:
                problem = _column_problem(column, data[column.name])
                if problem:
                    problems.append(problem)
        if problems:
            raise SchemaError(problems)

    def check(self) -> None:
        """Raise one :class:`SchemaError` for every inconsistency inside the schema itself."""
        problems = []
        if self.version > SCHEMA_VERSION:
            problems.append(
                f"schema format version {self.version} is newer than this ouroboros "
                f"understands ({SCHEMA_VERSION}); upgrade ouroboros"
            )
        seen = set()
        for c in self.columns:
            if c.name in seen:
                problems.append(f"column {c.name!r} appears twice")
            seen.add(c.name)
            if not 0 <= c.missing_fraction <= 1:
                problems.append(f"column {c.name!r}: missing_fraction must be in [0, 1]")
            if (
                c.kind is ColumnKind.CATEGORICAL
                and c.categories is not None
                and c.frequencies is not None
                and len(c.frequencies) != len(c.categories)
            ):
                problems.append(
                    f"column {c.name!r}: 'frequencies' must have one entry per category"
                )
            if (
                c.kind in (ColumnKind.CONTINUOUS, ColumnKind.INTEGER)
                and None
                not in (
                    c.min,
                    c.max,
                )
                and float(c.min) > float(c.max)
            ):
                problems.append(f"column {c.name!r}: min {c.min} is above max {c.max}")
        try:
            parse_all(self.rules, self.names)
        except SchemaError as exc:
            problems.extend(exc.problems)
        if self.sequence is not None:
            problems.extend(self.sequence.problems(self.names))
        if problems:
            raise SchemaError(problems)

    # ------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format_version": self.version, "n_rows": self.n_rows}
        out["columns"] = [c.to_dict() for c in self.columns]
        if self.extras:
            out["extras"] = self.extras
        if self.rules:
            out["rules"] = list(self.rules)
        if self.sequence is not None:
            out["sequence"] = self.sequence.to_dict()
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schema:
        if not isinstance(data, dict) or "columns" not in data:
            raise SchemaError("a schema is a JSON object with a 'columns' list")
        version = int(data.get("format_version", SCHEMA_VERSION))
        problems, columns = [], []
        for entry in data["columns"]:
            try:
                columns.append(ColumnSchema.from_dict(entry))
            except (SchemaError, TypeError) as exc:
                problems.append(str(exc))
        if problems:
            raise SchemaError(problems)
        schema = cls(
            columns=columns,
            version=version,
            n_rows=data.get("n_rows"),
            extras=data.get("extras", {}),
            rules=list(data.get("rules", [])),
        )
        if data.get("sequence") is not None:
            schema.sequence = SequenceSpec.from_dict(data["sequence"])
        schema.check()
        return schema

    @classmethod
    def from_json(cls, text: str) -> Schema:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"the schema is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Schema:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


# ---------------------------------------------------------------- checks
def check_table(data: pd.DataFrame) -> None:
    """Reject what no generator can learn from, naming the problem and the fix."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(data).__name__}")
    if data.shape[1] == 0:
        raise DataError("the table has no columns")
    if len(data) == 0:
        raise DataError("the table is empty (0 rows); give at least one row")
    non_string = [c for c in data.columns if not isinstance(c, str)]
    if non_string:
        raise DataError(
            f"column names must be strings; got {non_string[:5]!r}: rename them, "
            "e.g. df.columns = df.columns.astype(str)"
        )
    duplicated = sorted(set(data.columns[data.columns.duplicated()]))
    if duplicated:
        raise DataError(f"duplicate column names {duplicated}: give every column a unique name")


def _is_bool_like(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values.dtype):
        return True
    if values.dtype == object:
        return bool(len(values)) and values.map(type).isin([bool, np.bool_]).all()
    return False


def _python(value: Any) -> Any:
    """A numpy/pandas scalar as the plain Python value JSON can hold."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _precision(values: np.ndarray) -> int:
    """Smallest number of decimals that represents every value exactly (capped)."""
    sample = values[:100_000]
    for decimals in range(MAX_PRECISION + 1):
        if np.allclose(np.round(sample, decimals), sample, rtol=1e-9, atol=0):
            return decimals
    return MAX_PRECISION


def _mixed_types(values: pd.Series) -> bool:
    types = set(values.map(type))
    numeric = {t for t in types if issubclass(t, (int, float, np.number)) and t is not bool}
    text = {t for t in types if issubclass(t, str)}
    return bool(numeric) and bool(text)


def _identifier_shape(values: pd.Series) -> dict[str, Any]:
    if pd.api.types.is_integer_dtype(values.dtype):
        return {"type": "integer", "min": int(values.min()), "max": int(values.max())}
    text = values.astype(str)
    prefix = os.path.commonprefix(text.iloc[:10_000].tolist())
    rest = text.str.slice(len(prefix))
    chars = set("".join(rest.iloc[:2000].tolist()))
    if chars <= set(string.digits):
        alphabet = string.digits
    elif chars <= set(string.hexdigits.lower()):
        alphabet = string.digits + "abcdef"
    elif chars <= set(string.hexdigits.upper()):
        alphabet = string.digits + "ABCDEF"
    elif chars <= set(string.ascii_letters + string.digits):
        alphabet = "".join(sorted(chars | set(string.digits)))
    else:
        alphabet = string.ascii_letters + string.digits
    lengths = rest.str.len()
    return {
        "type": "string",
        "prefix": prefix,
        "alphabet": alphabet,
        "length": int(lengths.mode().iloc[0]) if len(lengths) else 8,
    }


def _identifier_note(present: pd.Series) -> str | None:
    """What to do when unique text looks like dates or numbers that could not be read."""
    if pd.api.types.is_numeric_dtype(present.dtype):
        return None
    found = unparsed_kind(present)
    if found is None:
        return None
    kind, example = found
    fix = (
        "set its kind to 'datetime' and its 'datetime_format' in the schema "
        "(e.g. '%d/%m/%Y'), or write the dates in one format such as 2024-12-31"
        if kind == "dates"
        else "write them as plain numbers (no currency, percent or thousands marks), "
        "e.g. with pd.to_numeric after removing the marks"
    )
    return (
        f"values look like {kind} (e.g. {example!r}) but could not be read as {kind}, "
        f"so they are regenerated as random text; {fix}"
    )


def detect_column(
    values: pd.Series, *, kind: ColumnKind | None = None, fmt: str | None = None
) -> ColumnSchema:
    """Detect one column's schema; ``kind`` and ``fmt`` force the kind and datetime format."""
    name = values.name
    dtype = str(values.dtype)
    missing = values.isna()
    present = values[~missing]
    info = ColumnSchema(
        name=name,
        kind=ColumnKind.CONSTANT,
        dtype=dtype,
        missing_fraction=float(missing.mean()),
    )
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        as_float = present.to_numpy(dtype="float64", na_value=np.nan)
        if np.isinf(as_float).any():
            raise DataError(
                f"column {name!r} holds infinite values ({int(np.isinf(as_float).sum())} rows); "
                "replace them with NaN or finite numbers"
            )
    elif values.dtype == object and _mixed_types(present):
        raise DataError(
            f"column {name!r} mixes numbers and strings; make it all text "
            f"(df[{name!r}] = df[{name!r}].astype(str)) or all numbers (pd.to_numeric)"
        )
    kind = kind or _detect_kind(values, present, fmt)
    info.kind = kind
    if kind is ColumnKind.CONSTANT:
        info.value = _python(present.iloc[0]) if len(present) else None
        if isinstance(info.value, pd.Timestamp):
            info.value = info.value.isoformat()
        return info
    if kind is ColumnKind.IDENTIFIER:
        info.identifier = _identifier_shape(present)
        info.note = _identifier_note(present)
        return info
    if kind is ColumnKind.CATEGORICAL:
        counts = present.value_counts(sort=True)
        info.categories = [_python(v) for v in counts.index]
        info.frequencies = (counts.to_numpy() / max(len(present), 1)).round(12).tolist()
        return info
    if kind is ColumnKind.DATETIME:
        return _datetime_info(info, values, present, fmt)
    if not pd.api.types.is_numeric_dtype(values.dtype):
        try:
            present = pd.to_numeric(present)
        except (ValueError, TypeError) as exc:
            raise DataError(
                f"column {name!r} is set to {kind.value} but holds non-numeric values; "
                "set its kind to categorical or clean the values"
            ) from exc
    numbers = present.to_numpy(dtype="float64")
    if len(numbers) == 0:
        raise DataError(f"column {name!r} is entirely missing; it cannot be {kind.value}")
    info.min, info.max = _python(present.min()), _python(present.max())
    if kind is ColumnKind.INTEGER:
        info.min, info.max = int(info.min), int(info.max)
        info.precision = 0
    else:
        info.min, info.max = float(info.min), float(info.max)
        info.precision = _precision(numbers)
    return info


def _detect_kind(values: pd.Series, present: pd.Series, fmt: str | None) -> ColumnKind:
    n_unique = present.nunique()
    if n_unique <= 1:
        return ColumnKind.CONSTANT
    if _is_bool_like(present) or isinstance(values.dtype, pd.CategoricalDtype):
        return ColumnKind.CATEGORICAL
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return ColumnKind.DATETIME
    unique_per_row = n_unique == len(values) and len(values) >= IDENTIFIER_MIN_ROWS
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = present.to_numpy(dtype="float64")
        integral = pd.api.types.is_integer_dtype(values.dtype) or bool(
            np.all(np.mod(numbers, 1) == 0)
        )
        if not integral:
            return ColumnKind.CONTINUOUS
        if unique_per_row and pd.api.types.is_integer_dtype(values.dtype):
            return ColumnKind.IDENTIFIER
        if n_unique <= CATEGORICAL_INTEGER_MAX:
            return ColumnKind.CATEGORICAL
        return ColumnKind.INTEGER
    if guess_datetime_format(present, fmt) is not None:
        return ColumnKind.DATETIME
    if unique_per_row:
        return ColumnKind.IDENTIFIER
    return ColumnKind.CATEGORICAL


def _datetime_info(
    info: ColumnSchema, values: pd.Series, present: pd.Series, fmt: str | None
) -> ColumnSchema:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = present
        tz = getattr(values.dtype, "tz", None)
        info.timezone = str(tz) if tz is not None else None
    else:
        info.datetime_format = guess_datetime_format(present, fmt)
        if info.datetime_format is None:
            raise DataError(
                f"column {info.name!r} is set to datetime but its values do not share one "
                "date format; give the format in the schema ('datetime_format')"
            )
        stamps = pd.to_datetime(present.astype(str), format=info.datetime_format)
        tz = getattr(stamps.dtype, "tz", None)
        info.timezone = str(tz) if tz is not None else None
    if len(stamps) == 0:
        raise DataError(f"column {info.name!r} is entirely missing; it cannot be datetime")
    info.min, info.max = stamps.min().isoformat(), stamps.max().isoformat()
    return info


def _column_problem(column: ColumnSchema, values: pd.Series) -> str | None:
    present = values.dropna()
    if column.kind in (ColumnKind.CONTINUOUS, ColumnKind.INTEGER):
        if pd.api.types.is_bool_dtype(values.dtype):
            return f"column {column.name!r} is {column.kind.value} in the schema but holds booleans"
        if not pd.api.types.is_numeric_dtype(values.dtype):
            converted = pd.to_numeric(present, errors="coerce")
            bad = present[converted.isna()]
            if len(bad):
                return (
                    f"column {column.name!r} is {column.kind.value} in the schema but holds "
                    f"non-numeric values such as {bad.iloc[0]!r}"
                )
        elif len(present) and not math.isfinite(float(np.abs(present.astype(float)).max())):
            return f"column {column.name!r} holds infinite values; replace them with NaN"
    if column.kind is ColumnKind.DATETIME and column.datetime_format:
        try:
            pd.to_datetime(present.astype(str), format=column.datetime_format)
        except (ValueError, TypeError):
            return (
                f"column {column.name!r}: values do not match the datetime format "
                f"{column.datetime_format!r}"
            )
    return None
