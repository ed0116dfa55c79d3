"""Opening stores written by older (and newer) versions of the schema, on each backend."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from multiprocessing import get_context
from typing import Any

import numpy as np
import pytest

from ouroboros.errors import StoreError
from ouroboros.store import SCHEMA_VERSION, is_postgres, open_store, store_path

# The version-1 layout as released, written out here rather than taken from the code,
# so that this test keeps checking real old stores whatever the migrations become.
V1 = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1);
CREATE TABLE runs (
    id TEXT PRIMARY KEY, created TEXT NOT NULL, kind TEXT NOT NULL,
    name TEXT NOT NULL, status TEXT NOT NULL, config TEXT NOT NULL);
CREATE TABLE metrics (
    run_id TEXT NOT NULL REFERENCES runs(id), seed INTEGER, strategy TEXT,
    generation INTEGER, metric TEXT NOT NULL, value REAL);
CREATE TABLE artifacts (
    run_id TEXT NOT NULL REFERENCES runs(id), name TEXT NOT NULL, path TEXT NOT NULL,
    PRIMARY KEY (run_id, name));
"""


@contextlib.contextmanager
def _raw(url: str) -> Iterator[Any]:
    """A plain connection to the store's database, taking SQLite's SQL on either backend
    (for PostgreSQL, through the store's own translation, as its migrations are)."""
    if not is_postgres(url):
        conn = sqlite3.connect(store_path(url), isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()
        return
    import psycopg

    from ouroboros.store.postgres import translate

    class Translating:
        def __init__(self, conn):
            self.conn = conn

        def execute(self, statement, params=None):
            return self.conn.execute(translate(statement), params)

    with psycopg.connect(url, autocommit=True) as conn:
        yield Translating(conn)


def _write_v1(url: str) -> None:
    with _raw(url) as conn:
        for statement in filter(str.strip, V1.split(";")):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO runs VALUES ('0123456789ab', '2025-01-02T03:04:05+00:00', 'collapse', "
            "'adult', 'finished', ?)",
            (json.dumps({"generations": 3}),),
        )
        rows = [("0123456789ab", 0, "replace", g, "tail_share", 0.1 * g) for g in range(3)] + [
            # v1 kept duplicates written by a retried task: the later one wins on upgrade.
            ("0123456789ab", 0, "replace", 2, "tail_share", 9.0),
            ("0123456789ab", None, None, None, "wall_seconds", 12.5),
            ("0123456789ab", None, None, None, "wall_seconds", 13.5),
        ]
        for row in rows:
            conn.execute("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?)", row)
        conn.execute("INSERT INTO artifacts VALUES ('0123456789ab', 'report', 'runs/adult.html')")


def test_a_version_1_store_is_migrated_on_open(store_url):
    _write_v1(store_url)
    store = open_store(store_url)
    assert store.migrate() == SCHEMA_VERSION == 3

    run = store.get_run("0123")
    assert (run.kind, run.name, run.status, run.config) == (
        "collapse",
        "adult",
        "finished",
        {"generations": 3},
    )
    assert (run.finished, run.error, run.env, run.parent) == (None, None, {}, None)
    metrics = store.metrics([run.id]).set_index(["metric", "generation"])["value"]
    assert len(metrics) == 4
    assert metrics[("tail_share", 2)] == 9.0
    assert metrics["wall_seconds"].tolist() == [13.5]
    assert store.artifacts(run.id) == {"report": "runs/adult.html"}

    # What versions 2 and 3 added works on the migrated store.
    store.log_provenance(run.id, [{"generation": 1, "source": "real", "rows": 10}])
    assert store.provenance([run.id])["rows"].tolist() == [10]
    store.log_metrics(run.id, [{"metric": "wall_seconds", "value": 1.0}])
    assert store.metrics([run.id]).set_index("metric").loc["wall_seconds", "value"] == 1.0
    child = store.create_run("collapse", "next", parent=run.id)
    assert store.get_run(child).parent == run.id
    store.put_lineage("abc", {"depth": 1})
    store.put_row_hashes("abc", np.arange(3, dtype=np.uint64))
    store.record_release("abc", {"mechanism": "mst", "epsilon": 1.0, "delta": 1e-9})
    assert store.match_row_hashes(np.arange(5, dtype=np.uint64)) == {"abc": 3}
    with _raw(store_url) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(3,)]


def _open(url: str) -> int:
    return open_store(url).migrate()


def test_processes_opening_an_old_store_together_migrate_it_once(store_url):
    _write_v1(store_url)
    with get_context("spawn").Pool(3) as pool:
        assert pool.map(_open, [store_url] * 3) == [SCHEMA_VERSION] * 3
    assert len(open_store(store_url).metrics(["0123456789ab"])) == 4


def test_a_newer_schema_is_refused(store_url):
    open_store(store_url).close()
    with _raw(store_url) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match="schema version 99, newer than this ouroboros"):
        open_store(store_url)
