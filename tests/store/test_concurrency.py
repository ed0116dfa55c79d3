"""Many processes writing one store at once; writers killed mid-write lose only their own
uncommitted transaction."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import store_workers

from ouroboros.store import open_store

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")

HERE = Path(__file__).resolve().parent


def _spawn():
    return multiprocessing.get_context("spawn")


def _wait_for(path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def test_many_processes_write_at_once_and_nothing_is_lost(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    workers, transactions = 4, 20
    # Every process opens the file while it may not exist yet: the first migration races too.
    with ProcessPoolExecutor(max_workers=workers, mp_context=_spawn()) as pool:
        futures = [
            pool.submit(store_workers.write_many, url, w, transactions) for w in range(workers)
        ]
        run_ids = [f.result(timeout=120) for f in futures]
    store = open_store(url)
    assert len(set(run_ids)) == workers
    assert {r.status for r in store.list_runs()} == {"finished"}
    metrics = store.metrics(run_ids)
    assert len(metrics) == workers * transactions * 2
    for worker, run_id in enumerate(run_ids):
        mine = metrics[(metrics["run_id"] == run_id) & (metrics["metric"] == "a")]
        assert sorted(mine["generation"]) == list(range(transactions))
        assert set(mine["seed"]) == {worker}
    assert _integrity(store.path) == "ok"


def test_a_writer_killed_before_commit_leaves_the_store_as_it_was(tmp_path):
    path = tmp_path / "runs.db"
    store = open_store(f"sqlite:///{path}")
    run_id = store.create_run("collapse", "adult")
    store.log_metrics(run_id, [{"metric": "kept", "value": 1.0}])
    store.close()

    marker = tmp_path / "in-transaction"
    process = _spawn().Process(
        target=store_workers.write_then_stall, args=(str(path), run_id, 5000, str(marker))
    )
    process.start()
    try:
        _wait_for(marker)  # its rows are written, its transaction still open
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.join()

    assert _integrity(path) == "ok"
    reopened = open_store(f"sqlite:///{path}", timeout=5)
    assert list(reopened.metrics([run_id])["metric"]) == ["kept"]
    # The dead writer's lock went with it: writing works at once.
    reopened.log_metrics(run_id, [{"metric": "after", "value": 2.0}])
    assert set(reopened.metrics([run_id])["metric"]) == {"kept", "after"}


def test_writers_killed_at_random_moments_keep_whole_batches(tmp_path):
    path = tmp_path / "runs.db"
    store = open_store(f"sqlite:///{path}")
    run_id = store.create_run("collapse", "adult")
    rows, before = 2000, 0
    for attempt in range(3):
        progress = tmp_path / f"progress-{attempt}"
        process = _spawn().Process(
            target=store_workers.write_batches,
            args=(store.url, run_id, rows, 1000 * attempt, str(progress)),
        )
        process.start()
        _wait_for(progress)
        time.sleep(0.05 * (attempt + 1))
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        committed = int(progress.read_text())
        assert _integrity(path) == "ok"
        stored = store.metrics([run_id])
        # All-or-nothing per batch: whole batches only, at least those reported done
        # (the last one may have committed just before its progress note).
        assert len(stored) % rows == 0
        assert committed <= len(stored) // rows - before <= committed + 1
        assert stored.groupby("seed").size().eq(rows).all()
        before = len(stored) // rows
