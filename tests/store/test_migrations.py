"""Opening stores written by older (and newer) versions of the schema."""

from __future__ import annotations

import json
import sqlite3
from multiprocessing import get_context

import pytest

from ouroboros.errors import StoreError
from ouroboros.store import SCHEMA_VERSION, open_store

# The version-1 layout as released, written out here rather than taken from the code,
# so that this test keeps checking real old files whatever the migrations become.
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


def _write_v1(path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(V1)
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
    conn.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.execute("INSERT INTO artifacts VALUES ('0123456789ab', 'report', 'runs/adult.html')")
    conn.commit()
    conn.close()


def test_a_version_1_file_is_migrated_on_open(tmp_path):
    path = tmp_path / "old.db"
    _write_v1(path)
    store = open_store(f"sqlite:///{path}")
    assert store.migrate() == SCHEMA_VERSION == 2

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

    # What version 2 added works on the migrated file.
    store.log_provenance(run.id, [{"generation": 1, "source": "real", "rows": 10}])
    assert store.provenance([run.id])["rows"].tolist() == [10]
    store.log_metrics(run.id, [{"metric": "wall_seconds", "value": 1.0}])
    assert store.metrics([run.id]).set_index("metric").loc["wall_seconds", "value"] == 1.0
    child = store.create_run("collapse", "next", parent=run.id)
    assert store.get_run(child).parent == run.id
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(2,)]


def _open(url: str) -> int:
    return open_store(url).migrate()


def test_processes_opening_an_old_file_together_migrate_it_once(tmp_path):
    path = tmp_path / "old.db"
    _write_v1(path)
    with get_context("spawn").Pool(3) as pool:
        assert pool.map(_open, [f"sqlite:///{path}"] * 3) == [SCHEMA_VERSION] * 3
    assert len(open_store(f"sqlite:///{path}").metrics(["0123456789ab"])) == 4


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.db"
    open_store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match="schema version 99, newer than this ouroboros"):
        open_store(f"sqlite:///{path}")
