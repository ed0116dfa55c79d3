"""Fit time, sampling throughput and peak memory of ``gaussian_copula`` beside SDV.

Runs each measurement in a fresh subprocess (our library in the project's venv,
SDV's ``GaussianCopulaSynthesizer`` in the peer venv, see ``bench/peers.py``) on
Adult (48,842 rows) and on a 1,000,000-row table made by resampling Adult, and
writes the ``foundation`` section of ``bench/RESULTS.md``.

    .venv/bin/python bench/foundation.py [--repeats 3] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


#: draws timed after each fit; the median is reported
SAMPLE_REPEATS = 3


def worker(library: str, data_path: str, n_sample: int) -> dict:
    """One fit and ``SAMPLE_REPEATS`` draws in this process; prints nothing, returns figures."""
    import pandas as pd

    table = pd.read_parquet(data_path)
    base_mb = _peak_mb()
    start, cpu = time.perf_counter(), time.process_time()
    if library == "ours":
        from ouroboros.synthesizers import create

        model = create("gaussian_copula", seed=0).fit(table)
        fit_s, fit_cpu = time.perf_counter() - start, time.process_time() - cpu

        def draw():
            return model.sample(n_sample, seed=1)
    else:
        from sdv.metadata import Metadata
        from sdv.single_table import GaussianCopulaSynthesizer

        metadata = Metadata.detect_from_dataframes({"table": table})
        model = GaussianCopulaSynthesizer(metadata)
        model.fit({"table": table})  # SDV 2 takes a dict of one table
        fit_s, fit_cpu = time.perf_counter() - start, time.process_time() - cpu

        def draw():
            out = model.sample(n_sample)
            return next(iter(out.values())) if isinstance(out, dict) else out

    timings = []
    for _ in range(SAMPLE_REPEATS):
        start, cpu = time.perf_counter(), time.process_time()
        out = draw()
        timings.append((time.perf_counter() - start, time.process_time() - cpu))
        assert len(out) == n_sample
        del out
    sample_s, sample_cpu = sorted(timings)[len(timings) // 2]
    return {
        "fit_s": fit_s,
        "fit_cpu_s": fit_cpu,
        "sample_s": sample_s,
        "rows_per_s": n_sample / sample_s,
        "rows_per_cpu_s": n_sample / sample_cpu,
        "peak_mb": _peak_mb(),
        "data_mb": base_mb,
    }


def run_worker(python: str, library: str, data_path: Path, n_sample: int) -> dict:
    command = [python, __file__, "--worker", library, str(data_path), str(n_sample)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{library} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    import pandas as pd
    from _results import machine, markdown_table, write_section
    from peers import SHARED_DATASETS, peer_python

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    adult = pd.read_csv(SHARED_DATASETS / "adult.csv.gz").drop(columns="split")
    big = adult.sample(n=args.rows, replace=True, random_state=0).reset_index(drop=True)
    pythons = {"ours": sys.executable, "sdv": peer_python()}
    load_before = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for label, table, repeats in (
            ("Adult", adult, args.repeats),
            (f"{args.rows:,} rows", big, 1),
        ):
            path = Path(folder) / "data.parquet"
            table.to_parquet(path)
            figures = {}
            for library, python in pythons.items():
                runs = [run_worker(python, library, path, len(table)) for _ in range(repeats)]
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                figures[library] = med
                print(
                    f"{label:>16} {library:>5}: {json.dumps({k: round(v, 2) for k, v in med.items()})}"
                )
            ours, sdv = figures["ours"], figures["sdv"]
            rows.append(
                {
                    "table": label,
                    "repeats": repeats,
                    "fit s (ours / SDV)": f"{ours['fit_s']:.2f} / {sdv['fit_s']:.2f}",
                    "fit speed-up": f"{sdv['fit_s'] / ours['fit_s']:.1f}x",
                    "fit CPU s (ours / SDV)": f"{ours['fit_cpu_s']:.2f} / {sdv['fit_cpu_s']:.2f}",
                    "sample rows/s (ours / SDV)": f"{ours['rows_per_s']:,.0f} / {sdv['rows_per_s']:,.0f}",
                    "sample rows/CPU-s (ours / SDV)": f"{ours['rows_per_cpu_s']:,.0f} / {sdv['rows_per_cpu_s']:,.0f}",
                    "peak MB (ours / SDV)": f"{ours['peak_mb']:,.0f} / {sdv['peak_mb']:,.0f}",
                    "peak ratio": f"{ours['peak_mb'] / sdv['peak_mb']:.2f}",
                }
            )
    body = (
        "## Foundation: `gaussian_copula` vs SDV `GaussianCopulaSynthesizer`\n\n"
        f"Command: `.venv/bin/python bench/foundation.py --repeats {args.repeats} --rows {args.rows}`"
        f" (machine: {machine()}). Each cell is a median over fresh processes; peak memory is the\n"
        "process's maximum resident set size, data loading included (both load the same Parquet\n"
        "file). Sampling draws as many rows as the table has, three times after each fit (the\n"
        "median draw is shown). Targets on the 1M-row table: fit at least 3x faster, peak memory\n"
        "at most half of SDV's, sampling at least 1,000,000 rows/s.\n"
        f"1-minute load average before the run: {load_before:.1f}, after: {os.getloadavg()[0]:.1f}"
        " (above the core count means other jobs shared the cores; CPU seconds, which such\n"
        "sharing inflates much less than wall time, are shown beside).\n\n" + markdown_table(rows)
    )
    write_section("foundation", body)
    print(body)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        main()
