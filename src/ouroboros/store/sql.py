"""What every SQL store shares: transactions, retries, migrations and the run tables.

A backend (:class:`~ouroboros.store.sqlite.SQLiteStore`,
:class:`~ouroboros.store.postgres.PostgresStore`) supplies the connection and the few
dialect differences, each named by one hook: :meth:`SQLStore.sql` (statement text),
:meth:`SQLStore.upsert`, :attr:`SQLStore.begin`, :meth:`SQLStore.lock`, and the bulk
row-hash paths of :class:`~ouroboros.store.catalog.SQLCatalog`.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
import uuid
from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import pandas as pd

from ouroboros.errors import StoreError, check_param
from ouroboros.store.base import (
    METRIC_COLUMNS,
    PROVENANCE_COLUMNS,
    STATUSES,
    Run,
    environment,
    json_text,
    metric_rows,
    now,
    provenance_rows,
)
from ouroboros.store.catalog import SQLCatalog
from ouroboros.store.migrations import METRIC_KEY, MIGRATIONS, PROVENANCE_KEY, SCHEMA_VERSION

T = TypeVar("T")

_RUN_COLUMNS = "id, kind, name, status, created, finished, config, env, error, parent"


class SQLStore(SQLCatalog):
    """A store in an SQL database; see :class:`~ouroboros.store.base.Store` for the contract.

    Each write is one transaction, retried with jittered back-off while the backend
    reports a transient conflict (a busy file, a serialization failure, a deadlock)
    for up to ``timeout`` seconds. A connection belongs to one process: after a fork
    the child opens its own.
    """

    #: the statement that opens a write transaction
    begin = "BEGIN"
    #: the driver's exception root
    driver_error: type[Exception] = Exception

    def __init__(self, *, timeout: float = 60.0, create: bool = True):
        self.timeout = timeout
        self.create = create
        self._connection: Any = None
        self._pid: int | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # ------------------------------------------------------------------ backend hooks
    @abstractmethod
    def _connect(self) -> Any:
        """A new, configured connection in autocommit mode."""

    @abstractmethod
    def _tables(self, conn: Any) -> set[str]:
        """Names of the tables (and indexes) already in the store's database or schema."""

    @abstractmethod
    def _retryable(self, exc: Exception) -> bool:
        """Whether a driver error is a transient conflict worth retrying."""

    @abstractmethod
    def _in_transaction(self, conn: Any) -> bool:
        """Whether ``conn`` has a transaction open."""

    @property
    @abstractmethod
    def _not_a_store(self) -> str:
        """The error for a database that holds tables but is no ouroboros store."""

    def _broken(self, conn: Any) -> bool:
        """Whether ``conn`` can no longer be used (a server gone, a network cut)."""
        return False

    def sql(self, statement: str) -> str:
        """``statement`` (written in SQLite's dialect) in this backend's dialect."""
        return statement

    def upsert(self, table: str, columns: Sequence[str], key: Sequence[str]) -> str:
        """An insert that replaces the row with the same ``key`` (a unique index)."""
        marks = ", ".join("?" * len(columns))
        return f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({marks})"

    def lock(self, conn: Any, name: str) -> None:
        """Inside a write transaction: wait until no other transaction holds ``name``.
        (A backend whose write transactions exclude each other needs nothing.)"""

    def _execute(self, conn: Any, statement: str, params: Sequence[Any] = ()) -> Any:
        return conn.execute(self.sql(statement), tuple(params))

    def _executemany(self, conn: Any, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        conn.executemany(self.sql(statement), rows)

    def _dropped(self) -> None:
        """Forget a connection that an error may have broken."""
        conn, self._connection = self._connection, None
        if conn is not None and self._pid == os.getpid():
            with contextlib.suppress(Exception):  # it is being thrown away
                conn.close()

    # ------------------------------------------------------------------ connection
    def _conn(self) -> Any:
        # A connection must not cross a fork: the child opens its own.
        if self._connection is None or self._pid != os.getpid():
            check_param(
                "timeout",
                self.timeout,
                isinstance(self.timeout, (int, float)) and self.timeout > 0,
                "a number of seconds > 0",
            )
            conn = self._connect()
            try:
                self._retry(lambda: self._migrate(conn))
            except BaseException:
                conn.close()
                raise
            self._connection, self._pid = conn, os.getpid()
        return self._connection

    def close(self) -> None:
        if self._connection is not None and self._pid == os.getpid():
            self._connection.close()
        self._connection = None

    def migrate(self) -> int:
        return self._retry(lambda: self._version(self._conn()))

    def _version(self, conn: Any) -> int:
        tables = self._tables(conn)
        if "schema_version" not in tables:
            if tables:
                raise StoreError(self._not_a_store)
            return 0
        row = self._execute(conn, "SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _migrate(self, conn: Any) -> None:
        """Bring the store to :data:`SCHEMA_VERSION`, all migrations in one transaction."""
        if self._version(conn) != SCHEMA_VERSION:
            self._transaction(conn, self._upgrade)

    def _upgrade(self, conn: Any) -> None:
        self.lock(conn, "ouroboros.store.migrate")
        version = self._version(conn)  # again, now that no other process migrates
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the run store {self.url} has schema version {version}, newer than this "
                f"ouroboros {environment()['ouroboros']} can read (up to {SCHEMA_VERSION}); "
                "upgrade ouroboros to use it"
            )
        if version == SCHEMA_VERSION:
            return
        self._execute(conn, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                self._execute(conn, statement)
        self._execute(conn, "DELETE FROM schema_version")
        self._execute(conn, "INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

    # ------------------------------------------------------------------ transactions
    def _transaction(self, conn: Any, work: Callable[[Any], T]) -> T:
        self._execute(conn, self.begin)
        committed = False
        try:
            result = work(conn)
            self._execute(conn, "COMMIT")
            committed = True
            return result
        finally:
            if not committed and self._in_transaction(conn):
                # On a broken connection the server has already ended the transaction.
                with contextlib.suppress(self.driver_error):
                    self._execute(conn, "ROLLBACK")

    def _retry(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt``, retrying transient conflicts up to the timeout."""
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                return attempt()
            except self.driver_error as exc:
                if not self._retryable(exc):
                    if self._connection is not None and self._broken(self._connection):
                        # Not retried: a write may have committed before the link broke.
                        self._dropped()
                        raise StoreError(
                            f"run store {self.url}: the connection was lost ({exc}); the next "
                            "call reconnects, check whether this one took effect"
                        ) from exc
                    raise StoreError(f"run store {self.url}: {exc}") from exc
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"run store {self.url} stayed locked for {self.timeout:g} s; another "
                        "process holds it (raise the timeout or retry later)"
                    ) from exc
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.25)

    def _write(self, work: Callable[[Any], T]) -> T:
        return self._retry(lambda: self._transaction(self._conn(), work))

    def _read(self, statement: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self._retry(lambda: self._execute(self._conn(), statement, params).fetchall())

    # ------------------------------------------------------------------ run writes
    def _require(self, conn: Any, run_id: str) -> None:
        if self._execute(conn, "SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
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
        config_json = json_text(config or {}, f"the config of run {name!r}")
        run_id = uuid.uuid4().hex[:12]
        env = json.dumps(environment(), sort_keys=True)

        def insert(conn: Any) -> str:
            if parent is not None:
                self._require(conn, parent)
            self._execute(
                conn,
                "INSERT INTO runs (id, created, kind, name, status, config, env, parent) "
                "VALUES (?, ?, ?, ?, 'running', ?, ?, ?)",
                (run_id, now(), kind, name, config_json, env, parent),
            )
            return run_id

        return self._write(insert)

    def finish_run(self, run_id: str, status: str = "finished", error: str | None = None) -> None:
        check_param("status", status, status in STATUSES[1:], f"one of {', '.join(STATUSES[1:])}")

        def update(conn: Any) -> None:
            self._require(conn, run_id)
            self._execute(
                conn,
                "UPDATE runs SET status = ?, finished = ?, error = ? WHERE id = ?",
                (status, now(), error, run_id),
            )

        self._write(update)

    def _insert_many(self, run_id: str, statement: str, rows: list[tuple]) -> int:
        def insert(conn: Any) -> int:
            self._require(conn, run_id)
            if rows:
                self._executemany(conn, statement, [(run_id, *row) for row in rows])
            return len(rows)

        return self._write(insert)

    def log_metrics(self, run_id: str, rows: pd.DataFrame | Iterable[dict[str, Any]]) -> int:
        columns = ("run_id", "seed", "strategy", "generation", "metric", "value")
        statement = self.upsert("metrics", columns, METRIC_KEY)
        return self._insert_many(run_id, statement, metric_rows(rows))

    def log_provenance(self, run_id: str, rows: pd.DataFrame | Iterable[dict[str, Any]]) -> int:
        columns = ("run_id", "seed", "strategy", "generation", "source", "source_generation")
        statement = self.upsert("provenance", (*columns, "rows"), PROVENANCE_KEY)
        return self._insert_many(run_id, statement, provenance_rows(rows))

    def log_artifact(self, run_id: str, name: str, path: str | os.PathLike) -> None:
        check_param("name", name, isinstance(name, str) and name != "", "a non-empty string")
        statement = self.upsert("artifacts", ("run_id", "name", "path"), ("run_id", "name"))
        self._insert_many(run_id, statement, [(name, str(path))])

    # ------------------------------------------------------------------ run reads
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
        statement = f"SELECT {_RUN_COLUMNS} FROM runs"
        if where:
            statement += " WHERE " + " AND ".join(where)
        statement += " ORDER BY created DESC, rowid DESC"
        if limit is not None:
            check_param("limit", limit, isinstance(limit, int) and limit > 0, "an integer > 0")
            statement += f" LIMIT {limit}"
        return [self._run(row) for row in self._read(statement, params)]

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
