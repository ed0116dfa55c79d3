"""The run store interface: runs, their configuration, metrics, artifacts and provenance."""

from __future__ import annotations

import math
import numbers
import os
import platform
import socket
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import pandas as pd

import ouroboros
from ouroboros.errors import DataError

STATUSES = ("running", "finished", "failed", "interrupted")
METRIC_COLUMNS = ["run_id", "seed", "strategy", "generation", "metric", "value"]
PROVENANCE_COLUMNS = [
    "run_id",
    "seed",
    "strategy",
    "generation",
    "source",
    "source_generation",
    "rows",
]


@dataclass(frozen=True)
class Run:
    """One stored run: what was run (``kind``, ``name``, ``config``) and how it went.

    ``env`` records where and with what it ran (library and Python versions, host);
    ``parent`` groups the runs of one sweep under the sweep's own run.
    """

    id: str
    kind: str
    name: str
    status: str
    created: str
    finished: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    parent: str | None = None


class Store(ABC):
    """Where runs are kept; chosen by URL with :func:`ouroboros.store.open_store`.

    Concurrency contract, which every implementation keeps:

    - Each method is one transaction: it happens entirely or not at all. A process
      killed in the middle of a call leaves the store as it was before the call.
    - Any number of processes may open the same store and write at the same time;
      writes are serialised by the backend, and a writer that finds the store busy
      waits and retries up to the store's timeout before raising :class:`StoreError`.
    - ``log_metrics`` and ``log_provenance`` are idempotent per key: writing a row
      again (e.g. from a retried task) replaces it, so retries never duplicate rows.
    - A store object belongs to one process; a forked or spawned child opens its own
      (a store object notices a fork and reconnects). Stores are not thread-safe.
    """

    url: str

    @abstractmethod
    def create_run(
        self,
        kind: str,
        name: str,
        config: dict[str, Any] | None = None,
        *,
        parent: str | None = None,
    ) -> str:
        """Record a new run with status ``running``; return its id."""

    @abstractmethod
    def finish_run(self, run_id: str, status: str = "finished", error: str | None = None) -> None:
        """Set a run's final ``status`` (``finished``, ``failed``, ``interrupted``)."""

    @abstractmethod
    def log_metrics(self, run_id: str, rows: pd.DataFrame | Iterable[dict[str, Any]]) -> int:
        """Store metric values (columns ``metric``, ``value`` and optionally ``seed``,
        ``strategy``, ``generation``; others are ignored); return the number of rows."""

    @abstractmethod
    def log_provenance(self, run_id: str, rows: pd.DataFrame | Iterable[dict[str, Any]]) -> int:
        """Store where each generation's training rows came from (columns ``seed``,
        ``strategy``, ``generation``, ``source``, ``source_generation``, ``rows``)."""

    @abstractmethod
    def log_artifact(self, run_id: str, name: str, path: str | os.PathLike) -> None:
        """Record the path of a file the run produced under ``name`` (replacing any earlier)."""

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """The run with this id, or with this unique id prefix."""

    @abstractmethod
    def list_runs(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        parent: str | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        """Runs, newest first, optionally filtered."""

    @abstractmethod
    def metrics(self, run_ids: Sequence[str]) -> pd.DataFrame:
        """Metric rows of these runs (columns :data:`METRIC_COLUMNS`)."""

    @abstractmethod
    def provenance(self, run_ids: Sequence[str]) -> pd.DataFrame:
        """Provenance rows of these runs (columns :data:`PROVENANCE_COLUMNS`)."""

    @abstractmethod
    def artifacts(self, run_id: str) -> dict[str, str]:
        """Artifact paths of a run, by name."""

    @abstractmethod
    def migrate(self) -> int:
        """Open the store, bring it to the newest schema; return the schema version."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection; the store reopens on next use."""

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def environment() -> dict[str, Any]:
    """Where and with what a run is recorded: versions, platform, host and process."""
    return {
        "ouroboros": ouroboros.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def _records(rows: pd.DataFrame | Iterable[dict[str, Any]], what: str) -> list[dict[str, Any]]:
    if isinstance(rows, pd.DataFrame):
        return rows.to_dict("records")
    if isinstance(rows, dict):
        raise DataError(f"{what} rows must be a DataFrame or a list of dicts; got a single dict")
    records = list(rows)
    for record in records:
        if not isinstance(record, dict):
            raise DataError(f"{what} rows must be dicts; got {type(record).__name__}")
    return records


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _optional_int(value: Any, column: str, what: str) -> int | None:
    if _missing(value):
        return None
    if isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer()):
        return int(value)
    raise DataError(f"{what} column {column!r} must hold integers; got {value!r}")


def _optional_text(value: Any) -> str | None:
    return None if _missing(value) else str(value)


def metric_rows(rows: pd.DataFrame | Iterable[dict[str, Any]]) -> list[tuple]:
    """``(seed, strategy, generation, metric, value)`` tuples, validated."""
    out = []
    for record in _records(rows, "metric"):
        if _missing(record.get("metric")) or not str(record["metric"]):
            raise DataError(f"every metric row needs a non-empty 'metric'; got {record!r}")
        if "value" not in record:
            raise DataError(f"every metric row needs a 'value'; got {record!r}")
        value = record["value"]
        if not _missing(value) and not isinstance(value, numbers.Real):
            raise DataError(f"metric {record['metric']!r}: value must be a number; got {value!r}")
        out.append(
            (
                _optional_int(record.get("seed"), "seed", "metric"),
                _optional_text(record.get("strategy")),
                _optional_int(record.get("generation"), "generation", "metric"),
                str(record["metric"]),
                None if _missing(value) else float(value),
            )
        )
    return out


def provenance_rows(rows: pd.DataFrame | Iterable[dict[str, Any]]) -> list[tuple]:
    """``(seed, strategy, generation, source, source_generation, rows)`` tuples, validated."""
    out = []
    for record in _records(rows, "provenance"):
        if _missing(record.get("source")):
            raise DataError(f"every provenance row needs a 'source'; got {record!r}")
        count = _optional_int(record.get("rows"), "rows", "provenance")
        if count is None or count < 0:
            raise DataError(f"provenance 'rows' must be a count >= 0; got {record.get('rows')!r}")
        out.append(
            (
                _optional_int(record.get("seed"), "seed", "provenance"),
                _optional_text(record.get("strategy")),
                _optional_int(record.get("generation"), "generation", "provenance"),
                str(record["source"]),
                _optional_int(record.get("source_generation"), "source_generation", "provenance"),
                count,
            )
        )
    return out
