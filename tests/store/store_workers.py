"""Writer processes for the store tests (spawned processes import this module)."""

from __future__ import annotations

import time
from pathlib import Path

from ouroboros.io import atomic_write_text
from ouroboros.store import open_store


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


def write_then_stall(url: str, run_id: str, rows: int, marker: str) -> None:
    """Insert ``rows`` metric rows, then wait to be killed before the transaction commits."""
    store = open_store(url)
    write = store._write

    def stalled_write(work):
        def stalled(conn):
            result = work(conn)
            Path(marker).touch()
            time.sleep(600)
            return result

        return write(stalled)

    store._write = stalled_write
    store.log_metrics(
        run_id, [{"seed": 7, "generation": i, "metric": "m", "value": i} for i in range(rows)]
    )


def put_catalog(url: str, worker: int, tables: int) -> None:
    """Write lineage records, row hashes and releases, some shared with other workers."""
    import numpy as np

    store = open_store(url)
    for t in range(tables):
        key = f"table-{t % 3}"  # every worker also rewrites the shared tables
        store.put_lineage(key, {"worker": worker, "t": t})
        store.put_row_hashes(key, np.arange(100 * (t % 3), 100 * (t % 3) + 100, dtype=np.uint64))
        store.record_release("data", {"mechanism": "aim", "epsilon": 0.1, "delta": 0.0})
    store.close()


class OverBudget(Exception):
    """A release refused by the test's budget check."""


def spend(url: str, dataset: str, attempts: int, budget: float) -> int:
    """Try ``attempts`` releases of epsilon 1 of ``dataset`` against a total ``budget``;
    return how many were recorded."""
    store = open_store(url)

    def check(earlier):
        if sum(release["epsilon"] for release in earlier) + 1.0 > budget:
            raise OverBudget

    recorded = 0
    for _ in range(attempts):
        try:
            release = {"mechanism": "aim", "epsilon": 1.0, "delta": 0.0}
            store.record_release(dataset, release, check=check)
            recorded += 1
        except OverBudget:
            pass
    store.close()
    return recorded
