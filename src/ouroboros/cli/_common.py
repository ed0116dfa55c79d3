"""Shared pieces of the ``ouro`` commands: console, progress, argument parsing."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ouroboros.errors import ParameterError

if TYPE_CHECKING:
    import pandas as pd

    from ouroboros.schema import Schema

console = Console(stderr=True)


@contextlib.contextmanager
def step(description: str) -> Iterator[None]:
    """A spinner with elapsed time around one step (shown on stderr)."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=1)
        yield
        progress.update(task, completed=1)


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``["epochs=10", "device=cpu"]`` -> ``{"epochs": 10, "device": "cpu"}`` (values as JSON)."""
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ParameterError(f"--param expects KEY=VALUE; got {item!r}")
        try:
            params[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            params[key.strip()] = raw
    return params


def parse_conditions(items: list[str] | None) -> dict[str, Any]:
    """``["sex=Female", "age=30..40"]`` -> ``{"sex": "Female", "age": (30, 40)}``: a value
    (read as JSON where it parses, else text) or a ``LOW..HIGH`` range (either end may be
    a date or a time, or empty for no bound)."""
    conditions: dict[str, Any] = {}
    for item in items or []:
        column, sep, raw = item.partition("=")
        if not sep or not column:
            raise ParameterError(
                f"--condition expects COLUMN=VALUE or COLUMN=LOW..HIGH; got {item!r}"
            )
        low, dots, high = raw.partition("..")
        if dots:
            conditions[column] = (_value(low) if low else None, _value(high) if high else None)
        else:
            conditions[column] = _value(raw)
    return conditions


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def sequence_schema(
    table: pd.DataFrame, schema: Path | None, key: str | None, index: str | None
) -> Schema | Path | None:
    """The schema to fit with: ``schema`` (a JSON path) as given, or, with ``--sequence-key``
    or ``--sequence-index``, it (or the detected one) declaring the table as sequences."""
    if key is None and index is None:
        return schema
    from ouroboros.schema import Schema

    loaded = Schema.load(schema) if schema is not None else Schema.detect(table)
    return loaded.with_sequence(table, key=key, index=index)
