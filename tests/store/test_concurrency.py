"""Many processes writing one store at once, on each backend; writers killed mid-write lose
only their own uncommitted transaction."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import store_workers

from ouroboros.store import SQLiteStore, open_store

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")


def _spawn():
    return multiprocessing.get_context("spawn")


def _wait_for(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


def _intact(store) -> None:
    """SQLite's own check of the file; a PostgreSQL server keeps its files itself."""
    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_many_processes_write_at_once_and_nothing_is_lost(store_url):
    workers, transactions = 4, 20
    # Every process opens the store while it may not exist yet: the first migration races too.
    with ProcessPoolExecutor(max_workers=workers, mp_context=_spawn()) as pool:
        futures = [
            pool.submit(store_workers.write_many, store_url, w, transactions)
            for w in range(workers)
        ]
        run_ids = [f.result(timeout=120) for f in futures]
    store = open_store(store_url)
    assert len(set(run_ids)) == workers
    assert {r.status for r in store.list_runs()} == {"finished"}
    metrics = store.metrics(run_ids)
    assert len(metrics) == workers * transactions * 2
    for worker, run_id in enumerate(run_ids):
        mine = metrics[(metrics["run_id"] == run_id) & (metrics["metric"] == "a")]
        assert sorted(mine["generation"]) == list(range(transactions))
        assert set(mine["seed"]) == {worker}
    _intact(store)


def test_many_processes_share_the_catalog_and_the_ledger(store_url):
    workers, tables, budget = 3, 6, 5
    with ProcessPoolExecutor(max_workers=workers, mp_context=_spawn()) as pool:
        futures = [
            pool.submit(store_workers.put_catalog, store_url, w, tables) for w in range(workers)
        ]
        for future in futures:
            future.result(timeout=120)
        spent = [
            pool.submit(store_workers.spend, store_url, "budgeted", 4, float(budget))
            for _ in range(workers)
        ]
        recorded = sum(f.result(timeout=120) for f in spent)
    store = open_store(store_url)
    assert {store.get_lineage(f"table-{t}")["t"] % 3 for t in range(3)} == {0, 1, 2}
    assert store.match_row_hashes(np.arange(300, dtype=np.uint64)) == {
        f"table-{t}": 100 for t in range(3)
    }
    assert len(store.releases("data")) == workers * tables
    # Each budget check sees every release committed before it: the budget is spent
    # exactly, never overshot by two processes passing their checks at once.
    assert recorded == budget
    assert sum(r["epsilon"] for r in store.releases("budgeted")) == budget
    _intact(store)


def test_a_writer_killed_before_commit_leaves_the_store_as_it_was(store_url):
    store = open_store(store_url)
    run_id = store.create_run("collapse", "adult")
    store.log_metrics(run_id, [{"metric": "kept", "value": 1.0}])
    store.close()

    marker = Path(os.environ.get("TMPDIR", "/tmp")) / f"in-transaction-{os.getpid()}-{run_id}"
    process = _spawn().Process(
        target=store_workers.write_then_stall, args=(store_url, run_id, 5000, str(marker))
    )
    process.start()
    try:
        _wait_for(marker)  # its rows are written, its transaction still open
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        marker.unlink(missing_ok=True)

    _intact(store)
    reopened = open_store(store_url, timeout=10)
    assert list(reopened.metrics([run_id])["metric"]) == ["kept"]
    # The dead writer's lock went with it: writing works at once.
    reopened.log_metrics(run_id, [{"metric": "after", "value": 2.0}])
    assert set(reopened.metrics([run_id])["metric"]) == {"kept", "after"}


def test_writers_killed_at_random_moments_keep_whole_batches(store_url, tmp_path):
    store = open_store(store_url)
    run_id = store.create_run("collapse", "adult")
    rows, before = 2000, 0
    for attempt in range(3):
        progress = tmp_path / f"progress-{attempt}"
        process = _spawn().Process(
            target=store_workers.write_batches,
            args=(store_url, run_id, rows, 1000 * attempt, str(progress)),
        )
        process.start()
        _wait_for(progress)
        time.sleep(0.05 * (attempt + 1))
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        committed = int(progress.read_text())
        _intact(store)
        stored = store.metrics([run_id])
        # All-or-nothing per batch: whole batches only, at least those reported done
        # (the last one may have committed just before its progress note).
        assert len(stored) % rows == 0
        assert committed <= len(stored) // rows - before <= committed + 1
        assert stored.groupby("seed").size().eq(rows).all()
        before = len(stored) // rows
