"""The default run store: one SQLite file in WAL mode, safe for many writing processes."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np

from ouroboros.errors import StoreError
from ouroboros.store.migrations import MIGRATIONS, SCHEMA_VERSION
from ouroboros.store.sql import SQLStore

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SQLiteStore"]

#: row hashes sent to SQLite in one statement of a bulk insert
CHUNK = 200_000


def _busy(exc: sqlite3.Error) -> bool:
    message = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in message or "busy" in message)


class SQLiteStore(SQLStore):
    """A run store in one SQLite file (Hipp et al., SQLite, write-ahead logging mode).

    WAL lets readers work while one writer commits; every write is a
    ``BEGIN IMMEDIATE`` transaction, so writers queue on the database lock instead
    of deadlocking, and a writer that finds the file busy retries with jittered
    back-off for up to ``timeout`` seconds. ``synchronous=FULL`` makes a committed
    transaction survive a crash of the process or of the machine.
    """

    begin = "BEGIN IMMEDIATE"
    driver_error = sqlite3.Error

    def __init__(self, path: str | os.PathLike, *, timeout: float = 60.0, create: bool = True):
        super().__init__(timeout=timeout, create=create)
        self.path = Path(path)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    @property
    def _not_a_store(self) -> str:
        return (
            f"{str(self.path)!r} is an SQLite database but not an ouroboros run store "
            "(it has no schema_version table); choose another file"
        )

    def exists(self) -> bool:
        """Whether the store's file exists (nothing is opened or created)."""
        return self.path.exists()

    # ------------------------------------------------------------------ connection
    def _connect(self) -> sqlite3.Connection:
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
        except BaseException:
            conn.close()
            raise
        return conn

    def _configure(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
        except sqlite3.DatabaseError as exc:
            if _busy(exc):
                raise
            raise StoreError(
                f"{str(self.path)!r} is not an ouroboros run store (not an SQLite database: {exc})"
            ) from exc
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")

    def _tables(self, conn: sqlite3.Connection) -> set[str]:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}

    def _retryable(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.Error) and _busy(exc)

    def _in_transaction(self, conn: sqlite3.Connection) -> bool:
        return conn.in_transaction

    # ------------------------------------------------------------------ bulk row hashes
    # Hashes travel as one JSON array, unpacked by SQLite's json_each: a statement per
    # row would cost several times more, and lookups in sorted order hit cached pages.
    def _insert_hashes(self, conn: sqlite3.Connection, table: int, hashes: np.ndarray) -> None:
        for start in range(0, hashes.size, CHUNK):
            conn.execute(
                "INSERT INTO row_hashes (hash, table_id) SELECT value, ? FROM json_each(?)",
                (table, json.dumps(hashes[start : start + CHUNK].tolist())),
            )

    def _match_hashes(self, conn: sqlite3.Connection, hashes: np.ndarray) -> list[tuple[str, int]]:
        return conn.execute(
            "SELECT t.content_hash, COUNT(*) FROM json_each(?) q "
            "JOIN row_hashes r ON r.hash = q.value JOIN hashed_tables t ON t.id = r.table_id "
            "GROUP BY t.content_hash",
            (json.dumps(hashes.tolist()),),
        ).fetchall()
