"""The default run store: one SQLite file in WAL mode, safe for many writing processes."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from ouroboros.errors import StoreError, check_param
from ouroboros.store.base import (
    METRIC_COLUMNS,
    PROVENANCE_COLUMNS,
    STATUSES,
    Run,
    Store,
    environment,
    metric_rows,
    provenance_rows,
)

T = TypeVar("T")

_METRIC_KEY = "run_id, IFNULL(seed, -1), IFNULL(strategy, ''), IFNULL(generation, -1), metric"
_PROVENANCE_KEY = (
    "run_id, IFNULL(seed, -1), IFNULL(strategy, ''), IFNULL(generation, -1), source, "
    "IFNULL(source_generation, -1)"
)

#: ``MIGRATIONS[k]`` takes a store from schema version ``k`` to ``k + 1``. Append only:
#: a released migration never changes, so every older file upgrades the same way.
MIGRATIONS: list[tuple[str, ...]] = [
    # 1: runs, their metrics and artifact paths.
    (
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY, created TEXT NOT NULL, kind TEXT NOT NULL,
            name TEXT NOT NULL, status TEXT NOT NULL, config TEXT NOT NULL)""",
        """CREATE TABLE metrics (
            run_id TEXT NOT NULL REFERENCES runs(id), seed INTEGER, strategy TEXT,
            generation INTEGER, metric TEXT NOT NULL, value REAL)""",
        """CREATE TABLE artifacts (
            run_id TEXT NOT NULL REFERENCES runs(id), name TEXT NOT NULL, path TEXT NOT NULL,
            PRIMARY KEY (run_id, name))""",
    ),
    # 2: how a run ended and where it ran, sweeps grouping their runs, training-data
    # provenance, and one metric row per key, so that a retried writer replaces its
    # rows instead of duplicating them (duplicates already stored keep the latest).
    (
        "ALTER TABLE runs ADD COLUMN finished TEXT",
        "ALTER TABLE runs ADD COLUMN error TEXT",
        "ALTER TABLE runs ADD COLUMN env TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE runs ADD COLUMN parent TEXT REFERENCES runs(id)",
        """CREATE TABLE provenance (
            run_id TEXT NOT NULL REFERENCES runs(id), seed INTEGER, strategy TEXT,
            generation INTEGER, source TEXT NOT NULL, source_generation INTEGER,
            rows INTEGER NOT NULL)""",
        f"DELETE FROM metrics WHERE rowid NOT IN "
        f"(SELECT MAX(rowid) FROM metrics GROUP BY {_METRIC_KEY})",
        f"CREATE UNIQUE INDEX metrics_key ON metrics ({_METRIC_KEY})",
        f"CREATE UNIQUE INDEX provenance_key ON provenance ({_PROVENANCE_KEY})",
        "CREATE INDEX runs_created ON runs (created)",
        "CREATE INDEX runs_parent ON runs (parent)",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)

_RUN_COLUMNS = "id, kind, name, status, created, finished, config, env, error, parent"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _busy(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message


class SQLiteStore(Store):
    """A run store in one SQLite file (Hipp et al., SQLite, write-ahead logging mode).

    WAL lets readers work while one writer commits; every write is a
    ``BEGIN IMMEDIATE`` transaction, so writers queue on the database lock instead
    of deadlocking, and a writer that finds the file busy retries with jittered
    back-off for up to ``timeout`` seconds. ``synchronous=FULL`` makes a committed
    transaction survive a crash of the process or of the machine.
    """

    def __init__(self, path: str | os.PathLike, *, timeout: float = 60.0, create: bool = True):
        self.path = Path(path)
        self.timeout = timeout
        self.create = create
        self._connection: sqlite3.Connection | None = None
        self._pid: int | None = None

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def __repr__(self) -> str:
        return f"SQLiteStore({self.url!r})"

    # ------------------------------------------------------------------ connection
    def _conn(self) -> sqlite3.Connection:
        # A connection must not cross a fork: the child opens its own.
        if self._connection is None or self._pid != os.getpid():
            self._connection = self._open()
            self._pid = os.getpid()
        return self._connection

    def _open(self) -> sqlite3.Connection:
        check_param(
            "timeout",
            self.timeout,
            isinstance(self.timeout, (int, float)) and self.timeout > 0,
            "a number of seconds > 0",
        )
        if not self.path.parent.is_dir():
            raise StoreError(
                f"cannot open the run store {self.url}: folder {str(self.path.parent)!r} "
                "does not exist; create it first"
            )
        if not self.create and not self.path.exists():
            raise StoreError(f"no run store at {self.url}: the file {str(self.path)!r} is missing")
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the run store {self.url}: {exc}") from exc
        try:
            self._retry(lambda: self._configure(conn))
            self._retry(lambda: self._migrate(conn))
        except Exception:
            conn.close()
            raise
        return conn

    def _configure(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and _busy(exc):
                raise
            raise StoreError(
                f"{str(self.path)!r} is not an ouroboros run store (not an SQLite database: {exc})"
            ) from exc
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")

    def _version(self, conn: sqlite3.Connection) -> int:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if "schema_version" not in tables:
            if tables:
                raise StoreError(
                    f"{str(self.path)!r} is an SQLite database but not an ouroboros run store "
                    "(it has no schema_version table); choose another file"
                )
            return 0
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring the file to :data:`SCHEMA_VERSION`, all migrations in one transaction."""
        if self._version(conn) == SCHEMA_VERSION:
            return
        self._transaction(conn, self._upgrade)

    def _upgrade(self, conn: sqlite3.Connection) -> None:
        version = self._version(conn)  # again, under the write lock
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the run store {self.url} has schema version {version}, newer than this "
                f"ouroboros {environment()['ouroboros']} can read (up to {SCHEMA_VERSION}); "
                "upgrade ouroboros to use it"
            )
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))

    @staticmethod
    def _transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
        conn.execute("BEGIN IMMEDIATE")
        committed = False
        try:
            result = work(conn)
            conn.execute("COMMIT")
            committed = True
            return result
        finally:
            if not committed and conn.in_transaction:
                conn.execute("ROLLBACK")

    def _retry(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt``, retrying while the database is locked, up to the timeout."""
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                return attempt()
            except sqlite3.Error as exc:
                if not (isinstance(exc, sqlite3.OperationalError) and _busy(exc)):
                    raise StoreError(f"run store {self.url}: {exc}") from exc
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"run store {self.url} stayed locked for {self.timeout:g} s; another "
                        "process holds it (raise the timeout or retry later)"
                    ) from exc
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.25)

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return self._retry(lambda: self._transaction(self._conn(), work))

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self._retry(lambda: self._conn().execute(sql, tuple(params)).fetchall())

    def close(self) -> None:
        if self._connection is not None and self._pid == os.getpid():
            self._connection.close()
        self._connection = None

    def migrate(self) -> int:
        return self._retry(lambda: self._version(self._conn()))

    # ------------------------------------------------------------------ writes
    def _require(self, conn: sqlite3.Connection, run_id: str) -> None:
        if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise StoreError(f"no run {run_id!r} in {self.url}")

    def create_run(
        self,
        kind: str,
        name: str,
        config: dict[str, Any] | None = None,
        *,
        parent: str | None = None,
    ) -> str:
        check_param("kind", kind, isinstance(kind, str) and kind != "", "a non-empty string")
        check_param("name", name, isinstance(name, str), "a string")
        try:
            config_json = json.dumps(config or {}, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"the config of run {name!r} cannot be stored as JSON: {exc}") from exc
        run_id = uuid.uuid4().hex[:12]
        env = json.dumps(environment(), sort_keys=True)

        def insert(conn: sqlite3.Connection) -> str:
            if parent is not None:
                self._require(conn, parent)
            conn.execute(
                "INSERT INTO runs (id, created, kind, name, status, config, env, parent) "
                "VALUES (?, ?, ?, ?, 'running', ?, ?, ?)",
                (run_id, _now(), kind, name, config_json, env, parent),
            )
            return run_id

        return self._write(insert)

    def finish_run(self, run_id: str, status: str = "finished", error: str | None = None) -> None:
        check_param("status", status, status in STATUSES[1:], f"one of {', '.join(STATUSES[1:])}")

        def update(conn: sqlite3.Connection) -> None:
            self._require(conn, run_id)
            conn.execute(
                "UPDATE runs SET status = ?, finished = ?, error = ? WHERE id = ?",
                (status, _now(), error, run_id),
            )

        self._write(update)

    def _insert_many(self, run_id: str, sql: str, rows: list[tuple]) -> int:
        def insert(conn: sqlite3.Connection) -> int:
            self._require(conn, run_id)
            conn.executemany(sql, [(run_id, *row) for row in rows])
            return len(rows)

        return self._write(insert)

    def log_metrics(self, run_id: str, rows: pd.DataFrame | Iterable[dict[str, Any]]) -> int:
        return self._insert_many(
            run_id,
            "INSERT OR REPLACE INTO metrics (run_id, seed, strategy, generation, metric, value) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            metric_rows(rows),
        )

    def log_provenance(self, run_id: str, rows: pd.DataFrame | Iterable[dict[str, Any]]) -> int:
        return self._insert_many(
            run_id,
            "INSERT OR REPLACE INTO provenance (run_id, seed, strategy, generation, source, "
            "source_generation, rows) VALUES (?, ?, ?, ?, ?, ?, ?)",
            provenance_rows(rows),
        )

    def log_artifact(self, run_id: str, name: str, path: str | os.PathLike) -> None:
        check_param("name", name, isinstance(name, str) and name != "", "a non-empty string")
        self._insert_many(
            run_id,
            "INSERT OR REPLACE INTO artifacts (run_id, name, path) VALUES (?, ?, ?)",
            [(name, str(path))],
        )

    # ------------------------------------------------------------------ reads
    @staticmethod
    def _run(row: tuple) -> Run:
        rid, kind, name, status, created, finished, config, env, error, parent = row
        return Run(
            id=rid,
            kind=kind,
            name=name,
            status=status,
            created=created,
            finished=finished,
            config=json.loads(config),
            env=json.loads(env),
            error=error,
            parent=parent,
        )

    def get_run(self, run_id: str) -> Run:
        check_param("run_id", run_id, isinstance(run_id, str) and run_id != "", "a run id")
        rows = self._read(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            pattern = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            rows = self._read(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE id LIKE ? ESCAPE '\\' LIMIT 2",
                (pattern + "%",),
            )
        if not rows:
            raise StoreError(f"no run {run_id!r} in {self.url}; `ouro runs list` shows the runs")
        if len(rows) > 1:
            raise StoreError(f"run id prefix {run_id!r} matches several runs; give more of it")
        return self._run(rows[0])

    def list_runs(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        parent: str | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        where, params = [], []
        for column, value in (("kind", kind), ("status", status), ("parent", parent)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = f"SELECT {_RUN_COLUMNS} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created DESC, rowid DESC"
        if limit is not None:
            check_param("limit", limit, isinstance(limit, int) and limit > 0, "an integer > 0")
            sql += f" LIMIT {limit}"
        return [self._run(row) for row in self._read(sql, params)]

    def _rows_of(self, table: str, columns: list[str], run_ids: Sequence[str]) -> pd.DataFrame:
        ids = [self.get_run(run_id).id for run_id in dict.fromkeys(run_ids)]
        if not ids:
            return pd.DataFrame(columns=columns)
        marks = ", ".join("?" * len(ids))
        rows = self._read(
            f"SELECT {', '.join(columns)} FROM {table} WHERE run_id IN ({marks}) ORDER BY rowid",
            ids,
        )
        frame = pd.DataFrame(rows, columns=columns)
        frame["run_id"] = pd.Categorical(frame["run_id"], categories=ids)
        frame = frame.sort_values(
            ["run_id", "strategy", "seed", "generation"], kind="stable", na_position="first"
        ).reset_index(drop=True)
        frame["run_id"] = frame["run_id"].astype(str)
        for column in ("seed", "generation", "source_generation", "rows"):
            if column in frame:
                frame[column] = frame[column].astype("Int64")
        return frame

    def metrics(self, run_ids: Sequence[str]) -> pd.DataFrame:
        frame = self._rows_of("metrics", METRIC_COLUMNS, run_ids)
        frame["value"] = frame["value"].astype(float)
        return frame

    def provenance(self, run_ids: Sequence[str]) -> pd.DataFrame:
        return self._rows_of("provenance", PROVENANCE_COLUMNS, run_ids)

    def artifacts(self, run_id: str) -> dict[str, str]:
        rid = self.get_run(run_id).id
        rows = self._read("SELECT name, path FROM artifacts WHERE run_id = ? ORDER BY name", (rid,))
        return dict(rows)
