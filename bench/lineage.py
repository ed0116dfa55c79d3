"""Cost of the lineage content hash on a 1,000,000-row table, and its round-trip stability.

Adult (16 columns, 10 of text) and California housing (10 numeric columns) are tiled to
1,000,000 rows; the script times ``content_hash`` (row hashes plus the sha256) and checks
that a 100,000-row slice hashes alike after our Parquet and CSV round trips. Writes its
section of ``bench/RESULTS.md``.

    .venv/bin/python bench/lineage.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, markdown_table, write_section  # noqa: E402

from ouroboros.io import read_table, write_table  # noqa: E402
from ouroboros.lineage import content_hash  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"
ROWS = 1_000_000
REPEATS = 5


def _tiled(name: str) -> pd.DataFrame:
    table = read_table(DATA / name)
    copies = -(-ROWS // len(table))
    return pd.concat([table] * copies, ignore_index=True).iloc[:ROWS].reset_index(drop=True)


def _seconds(call) -> tuple[float, float]:
    """The best and the median wall time of :data:`REPEATS` calls (under load the best
    is the closer estimate of the cost itself)."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    load = os.getloadavg()[0]
    rows = []
    for name in ("adult.csv.gz", "california_housing.csv.gz"):
        table = _tiled(name)
        best, median = _seconds(lambda table=table: content_hash(table))
        piece = table.iloc[:100_000]
        expected = content_hash(piece)
        with tempfile.TemporaryDirectory() as folder:
            write_table(piece, Path(folder) / "t.parquet")
            write_table(piece, Path(folder) / "t.csv")
            same = (
                content_hash(read_table(Path(folder) / "t.parquet")) == expected
                and content_hash(read_table(Path(folder) / "t.csv")) == expected
            )
        rows.append(
            {
                "table": name.split(".")[0],
                "rows": f"{len(table):,}",
                "columns": table.shape[1],
                "text columns": table.select_dtypes(exclude="number").shape[1],
                "content_hash, best (s)": round(best, 3),
                "median (s)": round(median, 3),
                "million rows/s (best)": round(len(table) / best / 1e6, 2),
                "same hash after Parquet and CSV": "yes" if same else "NO",
            }
        )
        print(rows[-1], flush=True)
    body = "\n".join(
        [
            "## Lineage: content hash of a 1,000,000-row table",
            "",
            "`.venv/bin/python bench/lineage.py` on " + machine() + f"; load average {load:.1f} "
            "when it started (the machine is shared: timings were taken under load, so they "
            "are upper bounds). Best and median of 5 runs; the content hash includes the row "
            "hashes, which is what `fit` computes of its training data; the round-trip check hashes a 100,000-row "
            "slice in memory, after `write_table`/`read_table` as Parquet and as CSV.",
            "",
            markdown_table(rows),
        ]
    )
    print(write_section("lineage", body))


if __name__ == "__main__":
    main()
