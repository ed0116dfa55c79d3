"""An event table taken apart for the sequence generators, and put back together.

:func:`split` sorts the events by entity and order and returns two tables: one row per
entity (its static columns, its number of events ``__length__`` and the time or step of
its first event ``__start__``) and one row per event (the time since the entity's
previous event ``__gap__``, 0 for the first, then the event columns). :func:`assemble`
inverts it for generated tables: fresh keys, the index rebuilt as start plus the running
sum of gaps, in the training column's dtype and format. Fresh keys never name a training
entity (integers count on from the largest training key, text keys take a prefix no
training key has), so that a table mixing real and synthetic sequences, as the collapse
lab's ``mix`` and ``accumulate`` strategies build, keeps every entity apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ouroboros.errors import DataError
from ouroboros.schema import ColumnKind, Schema
from ouroboros.sequence_schema import SequenceSpec, entity_order, index_numbers

GAP, LENGTH, START = "__gap__", "__length__", "__start__"
SECONDS_PER_DAY = 86_400.0


@dataclass
class Layout:
    """What assembling needs to know about the training table (JSON-able)."""

    spec: SequenceSpec
    columns: list[str]
    dtypes: dict[str, str]
    events: list[str]
    index_kind: str | None = None  # "datetime", "numeric" or None
    datetime_format: str | None = None
    timezone: str | None = None
    first_start: float = 0.0
    n_entities: int = 1
    max_length: int = 1
    integer_key: bool = True
    key_start: int = 1
    key_prefix: str = "s"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def single(self) -> bool:
        """One long series (no entity key)."""
        return self.spec.key is None

    def to_state(self) -> dict[str, Any]:
        state = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "spec"}
        return {**state, "spec": self.spec.to_dict()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Layout:
        values = dict(state)
        values["spec"] = SequenceSpec.from_dict(values["spec"])
        return cls(**values)


def layout_of(data: pd.DataFrame, schema: Schema) -> Layout:
    """The layout of ``data`` under ``schema`` (its sequence spec, or one series in row order)."""
    spec = schema.sequence or SequenceSpec()
    index_kind, fmt, tz = None, None, None
    if spec.index is not None:
        info = schema[spec.index]
        if info.kind is ColumnKind.DATETIME:
            index_kind, fmt, tz = "datetime", info.datetime_format, info.timezone
        elif info.kind in (ColumnKind.INTEGER, ColumnKind.CONTINUOUS) or (
            pd.api.types.is_numeric_dtype(data[spec.index].dtype)
        ):
            index_kind = "numeric"
        else:
            raise DataError(
                f"the sequence index {spec.index!r} must be a datetime or a number; it is "
                f"{info.kind.value}: set its kind in the schema or choose another column"
            )
    key_dtype = data[spec.key].dtype if spec.key is not None else np.dtype("int64")
    integer_key = bool(pd.api.types.is_integer_dtype(key_dtype))
    key_start, key_prefix = 1, "s"
    if spec.key is not None and len(data):
        keys = data[spec.key]
        if integer_key:
            key_start = int(keys.max()) + 1
        else:
            key_prefix = _fresh_prefix(keys.astype(str))
    return Layout(
        spec=spec,
        columns=list(data.columns),
        dtypes={c: str(data[c].dtype) for c in data.columns},
        events=spec.event_columns(list(data.columns)),
        index_kind=index_kind,
        datetime_format=fmt,
        timezone=tz,
        integer_key=integer_key,
        key_start=key_start,
        key_prefix=key_prefix,
    )


def _fresh_prefix(keys: pd.Series) -> str:
    """``s``, ``s_``, ``s__``...: the first prefix that, followed by digits, names no key."""
    prefix = "s"
    while keys.str.fullmatch(rf"{prefix}\d+").any():
        prefix += "_"
    return prefix


def split(data: pd.DataFrame, layout: Layout) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """The entity table, the event table and each entity's number of events."""
    spec = layout.spec
    order, lengths = entity_order(data, spec, layout.datetime_format)
    events = data.iloc[order].reset_index(drop=True)
    firsts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    entities = events.iloc[firsts][spec.static].reset_index(drop=True)
    entities[LENGTH] = lengths.astype(np.int64)
    table = events[layout.events].copy()
    if spec.index is not None:
        when = index_numbers(events[spec.index], layout.datetime_format)
        gaps = np.diff(when, prepend=when[0])
        gaps[firsts] = 0.0
        table.insert(0, GAP, gaps)
        entities[START] = when[firsts]
        layout.first_start = float(when[0])
    layout.n_entities, layout.max_length = len(lengths), int(lengths.max())
    return entities, table, lengths


def assemble(
    layout: Layout, entities: pd.DataFrame, events: pd.DataFrame, lengths: np.ndarray
) -> pd.DataFrame:
    """A table with the training columns, order and dtypes from generated entities (their
    static columns and ``__start__``) and events (``__gap__`` and the event columns)."""
    spec = layout.spec
    lengths = np.asarray(lengths, dtype=np.int64)
    owner = np.repeat(np.arange(len(lengths)), lengths)
    out: dict[str, Any] = {}
    if spec.key is not None:
        if layout.integer_key:
            out[spec.key] = np.arange(layout.key_start, layout.key_start + len(lengths))[owner]
        else:
            keys = np.arange(1, len(lengths) + 1)[owner]
            out[spec.key] = np.char.add(layout.key_prefix, keys.astype(str))
    for column in spec.static:
        out[column] = entities[column].to_numpy()[owner]
    for column in layout.events:
        out[column] = events[column].to_numpy()
    if spec.index is not None:
        out[spec.index] = _index_values(layout, entities, events, lengths)
    frame = pd.DataFrame({c: out[c] for c in layout.columns})
    for column in layout.columns:
        source = entities if column in spec.static else events
        if column in source:
            frame[column] = frame[column].astype(source[column].dtype)
    if spec.key is not None:
        frame[spec.key] = frame[spec.key].astype(layout.dtypes[spec.key])
    return frame


def _index_values(
    layout: Layout, entities: pd.DataFrame, events: pd.DataFrame, lengths: np.ndarray
) -> Any:
    gaps = np.clip(events[GAP].to_numpy(dtype="float64"), 0, None)
    firsts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    gaps[firsts[lengths > 0]] = 0.0
    starts = entities[START].to_numpy(dtype="float64")
    running = np.cumsum(gaps)
    offset = np.repeat(running[firsts] if len(running) else running, lengths)
    when = np.repeat(starts, lengths) + running - offset
    dtype = layout.dtypes[layout.spec.index]
    if layout.index_kind == "numeric":
        if "int" in dtype:
            return np.round(when).astype(dtype)
        return when.astype(dtype)
    stamps = pd.Series(pd.to_datetime(np.round(when), unit="s"))
    if layout.timezone is not None:
        stamps = stamps.dt.tz_localize("UTC").dt.tz_convert(layout.timezone)
    if layout.datetime_format is not None and not dtype.startswith("datetime"):
        return stamps.dt.strftime(layout.datetime_format).to_numpy(dtype=object)
    return stamps.astype(dtype).to_numpy()


def calendar(seconds: np.ndarray) -> np.ndarray:
    """Sine and cosine of the time of day, day of week and day of year, ``(n, 6)``: the
    seasons a recurrent network cannot count out over thousands of steps."""
    days = np.asarray(seconds, dtype=np.float64) / SECONDS_PER_DAY
    phases = [days % 1.0, ((days + 3) % 7) / 7, (days % 365.25) / 365.25]  # 1970-01-01: Thu
    angles = 2 * np.pi * np.column_stack(phases)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype(np.float32)
