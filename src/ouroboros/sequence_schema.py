"""The sequence part of a schema: which column names the entity, which orders its events,
and which columns are static (constant within every entity).

A table of events is one sequence per entity (a customer, a patient, a machine), ordered by
the index column (a datetime or a step number). Without a key the whole table is one long
series; without an index the events keep the table's row order. Stored in the schema's JSON
under ``"sequence"``::

    {"key": "patient", "index": "visit_time", "static": ["sex", "birth_year"]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ouroboros.errors import DataError, SchemaError
from ouroboros.values import datetime_seconds

#: a column is detected as static when it is constant within every entity and at least
#: this many entities have more than one event (otherwise nothing shows it is constant)
STATIC_MIN_ENTITIES = 2


@dataclass
class SequenceSpec:
    """Entity key, order column and static columns of an event table (each may be absent)."""

    key: str | None = None
    index: str | None = None
    static: list[str] = field(default_factory=list)

    @property
    def roles(self) -> list[str]:
        """The key and index columns that are set."""
        return [c for c in (self.key, self.index) if c is not None]

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "index": self.index, "static": list(self.static)}

    @classmethod
    def from_dict(cls, data: Any) -> SequenceSpec:
        if not isinstance(data, dict) or set(data) - {"key", "index", "static"}:
            raise SchemaError(
                "the schema's 'sequence' must be an object with 'key', 'index' and 'static' "
                f"(a list of column names); got {data!r}"
            )
        static = data.get("static") or []
        if not isinstance(static, list) or not all(isinstance(c, str) for c in static):
            raise SchemaError(f"sequence 'static' must be a list of column names; got {static!r}")
        for role in ("key", "index"):
            if data.get(role) is not None and not isinstance(data[role], str):
                raise SchemaError(f"sequence {role!r} must be a column name; got {data[role]!r}")
        return cls(data.get("key"), data.get("index"), list(static))

    def problems(self, names: list[str]) -> list[str]:
        """Every way this spec disagrees with the schema's column ``names``."""
        out = []
        for role, column in (("key", self.key), ("index", self.index)):
            if column is not None and column not in names:
                out.append(f"sequence {role} {column!r} is not a column; columns are {names}")
        if self.key is not None and self.key == self.index:
            out.append(f"sequence key and index are the same column {self.key!r}")
        for column in self.static:
            if column not in names:
                out.append(f"static column {column!r} is not a column")
            elif column in self.roles:
                out.append(f"static column {column!r} is also the sequence key or index")
        if self.static and self.key is None:
            out.append("static columns need a sequence key (one series has no entities)")
        return out

    @classmethod
    def detect(
        cls,
        data: pd.DataFrame,
        key: str | None = None,
        index: str | None = None,
        static: list[str] | None = None,
    ) -> SequenceSpec:
        """The spec for ``data``: ``static`` as given, or every column constant within each
        entity (missing counts as a value) when ``key`` is set."""
        spec = cls(key, index, list(static or []))
        problems = spec.problems(list(data.columns))
        if problems:
            raise DataError("; ".join(problems))
        if static is None and key is not None:
            spec.static = constant_within(data, key, exclude=spec.roles)
        if index is not None and data[index].isna().any():
            raise DataError(
                f"the sequence index {index!r} has {int(data[index].isna().sum())} missing "
                "values; every event needs its time or step: fill or drop those rows"
            )
        return spec

    def event_columns(self, names: list[str]) -> list[str]:
        """The columns that vary from event to event."""
        skip = {*self.roles, *self.static}
        return [c for c in names if c not in skip]


def constant_within(data: pd.DataFrame, key: str, exclude: list[str] = ()) -> list[str]:
    """Columns of ``data`` constant within every entity of ``key`` (missing is a value)."""
    groups = data.groupby(key, sort=False, dropna=False)
    if int((groups.size() > 1).sum()) < STATIC_MIN_ENTITIES:
        return []
    out = []
    for column in data.columns:
        if column == key or column in exclude:
            continue
        filled = data[column].astype(object).where(data[column].notna(), "\0missing")
        if (filled.groupby(data[key], sort=False, dropna=False).nunique() <= 1).all():
            out.append(column)
    return out


def entity_order(
    data: pd.DataFrame, spec: SequenceSpec, datetime_format: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions that put ``data`` in sequence order (by key in order of first
    appearance, then by index, ties kept in table order), and the length of each entity."""
    n = len(data)
    if spec.key is None:
        entity = np.zeros(n, dtype=np.int64)
    else:
        entity = pd.factorize(data[spec.key], use_na_sentinel=False)[0].astype(np.int64)
    if spec.index is None:
        order = np.lexsort((np.arange(n), entity))
    else:
        when = index_numbers(data[spec.index], datetime_format)
        order = np.lexsort((np.arange(n), when, entity))
    lengths = np.bincount(entity, minlength=int(entity.max()) + 1 if n else 0)
    return order, lengths


def index_numbers(values: pd.Series, datetime_format: str | None = None) -> np.ndarray:
    """An index column as float64: datetimes (or text in ``datetime_format``) as UTC
    seconds since the epoch, numbers as they are."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        values = pd.to_datetime(values.astype(str), format=datetime_format or "mixed")
    return np.asarray(datetime_seconds(values), dtype="float64")
