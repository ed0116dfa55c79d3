"""The store interface: runs (configuration, metrics, artifacts, provenance), the lineage
catalog (records and row hashes of tables, by content hash) and the privacy ledger."""

from __future__ import annotations

import json
import math
import numbers
import os
import platform
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd

import ouroboros
from ouroboros.errors import DataError, StoreError

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
      again (e.g. from a retried task) replaces it, so retries never duplicate rows;
      so are ``put_lineage`` and ``put_row_hashes`` per content hash.
    - ``record_release`` with a ``check`` is atomic: no two processes both pass a
      check against the same earlier releases of one dataset.
    - A store object belongs to one process; a forked or spawned child opens its own
      (a store object notices a fork and reconnects). Stores are not thread-safe.
    """

    #: where the store is, for messages (a PostgreSQL URL with its password masked)
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

    # ------------------------------------------------------------------ lineage catalog
    @abstractmethod
    def put_lineage(self, content_hash: str, record: dict[str, Any]) -> None:
        """Store (or replace) the lineage record of the table with this content hash."""

    @abstractmethod
    def get_lineage(self, content_hash: str) -> dict[str, Any] | None:
        """The lineage record stored for this content hash, or ``None``."""

    @abstractmethod
    def put_row_hashes(self, content_hash: str, row_hashes: np.ndarray) -> None:
        """Store the 64-bit hashes of a table's rows (any unsigned or signed integer array;
        duplicates are kept once), replacing any stored for the same content hash."""

    @abstractmethod
    def match_row_hashes(self, row_hashes: np.ndarray) -> dict[str, int]:
        """For each stored table sharing rows with ``row_hashes``: how many of the given
        rows (counted with repeats) it holds, keyed by its content hash."""

    # ------------------------------------------------------------------ privacy ledger
    @abstractmethod
    def record_release(
        self,
        dataset_hash: str,
        release: dict[str, Any],
        *,
        check: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        """Add a release (``mechanism``, ``epsilon``, ``delta``, and e.g. ``accountant``,
        ``model``) to the ledger of the source dataset ``dataset_hash``; ``created`` is added.

        ``check``, if given, is called with the dataset's earlier releases inside the same
        transaction, no other release of that dataset being recorded meanwhile: raising
        refuses the release (a budget check that two processes cannot both pass).
        """

    @abstractmethod
    def releases(self, dataset_hash: str) -> list[dict[str, Any]]:
        """The releases recorded for ``dataset_hash``, oldest first, each with ``created``."""

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


def now(timespec: str = "seconds") -> str:
    """The time in UTC, ISO 8601 (``timespec`` as :meth:`datetime.isoformat` takes it)."""
    return datetime.now(timezone.utc).isoformat(timespec=timespec)


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


def key_text(value: Any, name: str) -> str:
    """A content hash (any non-empty string) used as a key."""
    if not isinstance(value, str) or not value:
        raise DataError(f"{name} must be a non-empty string (a content hash); got {value!r}")
    return value


def json_text(value: Any, what: str) -> str:
    """``value`` as canonical JSON text; a :class:`StoreError` when it cannot be stored."""
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} cannot be stored as JSON: {exc}") from exc


def _signed(row_hashes: Any) -> np.ndarray:
    array = np.asarray(row_hashes)
    if array.ndim != 1 or not (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
        raise DataError(
            "row_hashes must be a 1-D array of integers (numpy uint64 row hashes); "
            f"got shape {array.shape} of {array.dtype}"
        )
    if np.issubdtype(array.dtype, np.unsignedinteger):
        return array.astype(np.uint64).view(np.int64)
    return array.astype(np.int64)


def hash_array(row_hashes: Any, *, distinct: bool) -> np.ndarray:
    """Row hashes, sorted, as the signed 64-bit integers that hold their bits (SQL
    integers are signed: a uint64 is stored as its two's-complement twin); each once
    if ``distinct``, else with its repeats."""
    ordered = np.sort(_signed(row_hashes))
    if distinct and ordered.size:  # (np.unique hashes first: many times slower here)
        ordered = ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]
    return ordered


def release_fields(release: Any) -> tuple[str, float, float]:
    """The ``mechanism``, ``epsilon`` and ``delta`` of a release, validated."""
    if not isinstance(release, dict):
        raise DataError(f"a release must be a dict; got {type(release).__name__}")
    mechanism = release.get("mechanism")
    if not isinstance(mechanism, str) or not mechanism:
        raise DataError(f"a release needs a 'mechanism' (e.g. 'aim'); got {mechanism!r}")
    bounds = {"epsilon": math.inf, "delta": 1.0}
    values = []
    for name, top in bounds.items():
        value = release.get(name)
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not ok or not 0 <= float(value) <= top or math.isinf(float(value)):
            raise DataError(
                f"a release needs a finite number {name!r} >= 0"
                + (" and <= 1" if name == "delta" else "")
                + f"; got {value!r}"
            )
        values.append(float(value))
    return mechanism, values[0], values[1]
