"""The lineage catalog and the privacy ledger, on any SQL store.

The catalog keys every table by its content hash: its lineage record, and the 64-bit
hashes of its rows, so that a copy of a table, or its rows mixed into another, are
recognised by content alone. The ledger keeps every differentially private release
of a source dataset (by content hash), for composition over all of them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ouroboros.errors import DataError, StoreError
from ouroboros.store.base import (
    Store,
    hash_array,
    json_text,
    key_text,
    now,
    release_fields,
)


def table_id(content_hash: str) -> int:
    """A table's id in ``hashed_tables``: a signed 64-bit number drawn from its content
    hash, so that no backend needs a sequence and every process agrees on it."""
    digest = hashlib.sha256(content_hash.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class SQLCatalog(Store):
    """Catalog and ledger methods over the primitives of :class:`~ouroboros.store.sql.SQLStore`
    (``_write``, ``_read``, ``_execute``, ``upsert``, ``lock``) and two bulk paths that
    each backend writes its fastest way, :meth:`_insert_hashes` and :meth:`_match_hashes`."""

    # ------------------------------------------------------------------ bulk paths
    @abstractmethod
    def _insert_hashes(self, conn: Any, table: int, hashes: np.ndarray) -> None:
        """Insert ``(hash, table)`` rows for the distinct, sorted ``hashes``."""

    @abstractmethod
    def _match_hashes(self, conn: Any, hashes: np.ndarray) -> list[tuple[str, int]]:
        """``(content hash, matched rows)`` for the sorted ``hashes`` (repeats counted)."""

    def _hashes_written(self) -> None:
        """After a commit that added row hashes (a backend may refresh its statistics)."""

    # ------------------------------------------------------------------ lineage
    def put_lineage(self, content_hash: str, record: dict[str, Any]) -> None:
        key = key_text(content_hash, "content_hash")
        if not isinstance(record, dict):
            raise DataError(f"a lineage record must be a dict; got {type(record).__name__}")
        text = json_text(record, f"the lineage record of {key!r}")
        statement = self.upsert("lineage", ("content_hash", "updated", "record"), ("content_hash",))
        self._write(lambda conn: self._execute(conn, statement, (key, now(), text)))

    def get_lineage(self, content_hash: str) -> dict[str, Any] | None:
        key = key_text(content_hash, "content_hash")
        rows = self._read("SELECT record FROM lineage WHERE content_hash = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def put_row_hashes(self, content_hash: str, row_hashes: np.ndarray) -> None:
        key = key_text(content_hash, "content_hash")
        hashes = hash_array(row_hashes, distinct=True)
        table, digest = table_id(key), hashlib.sha256(hashes.tobytes()).hexdigest()
        columns = ("id", "content_hash", "rows", "digest", "updated")

        def put(conn: Any) -> bool:
            self.lock(conn, f"ouroboros.store.hashes:{key}")
            found = self._execute(
                conn, "SELECT content_hash, digest FROM hashed_tables WHERE id = ?", (table,)
            ).fetchone()
            if found is not None and found[0] != key:
                raise StoreError(
                    f"content hashes {found[0]!r} and {key!r} share the table id {table} in "
                    f"{self.url}; hash the table with a longer digest"
                )
            if found is not None and found[1] == digest:
                return False  # the same table again: its hashes are there
            if found is not None:  # rare (a changed row hash): a scan, not an index
                self._execute(conn, "DELETE FROM row_hashes WHERE table_id = ?", (table,))
            row = (table, key, hashes.size, digest, now())
            self._execute(conn, self.upsert("hashed_tables", columns, ("id",)), row)
            if hashes.size:
                self._insert_hashes(conn, table, hashes)
            return True

        if self._write(put):
            self._hashes_written()

    def match_row_hashes(self, row_hashes: np.ndarray) -> dict[str, int]:
        hashes = hash_array(row_hashes, distinct=False)
        if not hashes.size:
            return {}
        rows = self._retry(lambda: self._match_hashes(self._conn(), hashes))
        found = sorted(((str(h), int(n)) for h, n in rows), key=lambda item: (-item[1], item[0]))
        return dict(found)

    # ------------------------------------------------------------------ privacy ledger
    def _releases(self, conn: Any, dataset_hash: str) -> list[dict[str, Any]]:
        rows = self._execute(
            conn,
            "SELECT created, release FROM releases WHERE dataset_hash = ? ORDER BY created, rowid",
            (dataset_hash,),
        ).fetchall()
        return [{**json.loads(release), "created": created} for created, release in rows]

    def record_release(
        self,
        dataset_hash: str,
        release: dict[str, Any],
        *,
        check: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        key = key_text(dataset_hash, "dataset_hash")
        mechanism, epsilon, delta = release_fields(release)
        kept = {name: value for name, value in release.items() if name != "created"}
        text = json_text(kept, f"the release of dataset {key!r}")
        columns: Sequence[str] = ("id", "dataset_hash", "created", "mechanism", "epsilon", "delta")
        statement = (
            f"INSERT INTO releases ({', '.join(columns)}, release) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )

        def insert(conn: Any) -> None:
            self.lock(conn, f"ouroboros.store.release:{key}")
            if check is not None:
                check(self._releases(conn, key))
            created = now("microseconds")
            self._execute(
                conn, statement, (uuid.uuid4().hex, key, created, mechanism, epsilon, delta, text)
            )

        self._write(insert)

    def releases(self, dataset_hash: str) -> list[dict[str, Any]]:
        key = key_text(dataset_hash, "dataset_hash")
        return self._retry(lambda: self._releases(self._conn(), key))
