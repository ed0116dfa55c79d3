"""Shared pieces of the ``ouro`` commands: console, progress, argument parsing."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ouroboros.errors import ParameterError

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
