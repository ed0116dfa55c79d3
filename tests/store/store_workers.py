"""Writer processes for the store tests (spawned processes import this module)."""

from __future__ import annotations

import time
from pathlib import Path

from ouroboros.io import atomic_write_text
from ouroboros.store import SQLiteStore, open_store


def write_many(url: str, worker: int, transactions: int) -> str:
    """Open the store (maybe creating it), make one run and log one metric per transaction."""
    store = open_store(url)
    run_id = store.create_run("test", f"worker-{worker}", {"worker": worker})
    for generation in range(transactions):
        store.log_metrics(
            run_id,
            [
                {"seed": worker, "generation": generation, "metric": "a", "value": generation},
                {"seed": worker, "generation": generation, "metric": "b", "value": -generation},
            ],
        )
        store.list_runs(limit=3)  # readers interleaved with the writers
    store.finish_run(run_id)
    store.close()
    return run_id


def write_batches(url: str, run_id: str, rows: int, first: int, progress: str) -> None:
    """Log batches of ``rows`` metric rows (``seed`` numbers the batch from ``first``)
    forever, writing the count of committed batches to ``progress`` after each commit."""
    store = open_store(url)
    batch = first
    while True:
        store.log_metrics(
            run_id,
            [{"seed": batch, "generation": i, "metric": "m", "value": i} for i in range(rows)],
        )
        batch += 1
        atomic_write_text(progress, str(batch - first))  # a kill never leaves it empty


class _StallBeforeCommit(SQLiteStore):
    """A store whose writes stop between their last statement and COMMIT."""

    def __init__(self, path: str, marker: str):
        super().__init__(path)
        self.marker = marker

    def _write(self, work):
        def stalled(conn):
            result = work(conn)
            Path(self.marker).touch()
            time.sleep(600)
            return result

        return super()._write(stalled)


def write_then_stall(path: str, run_id: str, rows: int, marker: str) -> None:
    """Insert ``rows`` metric rows, then wait to be killed before the transaction commits."""
    store = _StallBeforeCommit(path, marker)
    store.log_metrics(
        run_id, [{"seed": 7, "generation": i, "metric": "m", "value": i} for i in range(rows)]
    )
