"""Neural fits beside a CPU-bound neighbour: how much slower than on a quiet machine.

Each generator fits the classic Adult training split (32,561 rows) at its defaults, once on
a quiet machine and once beside a neighbour that keeps one and a half cores busy (one
process spinning, a second one spinning half of every 100 ms), as a JAX job or a second
user would. Each fit runs in its own process so that torch starts afresh. The target
(issue #17) is a busy fit within 2.5 times its quiet time.

    python bench/busy.py                             # ctgan, tvae, tabddpm, argn
    python bench/busy.py --generators tvae --repeats 3 --no-results
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _results import machine, markdown_table, write_section

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "datasets" / "adult.csv.gz"
GENERATORS = ["ctgan", "tvae", "tabddpm", "argn"]
TARGET = 2.5


def _spin(duty: float, stop: float) -> None:
    """Keep one core busy for ``duty`` of every 100 ms until ``stop`` (a monotonic time)."""
    x = 0
    while time.monotonic() < stop:
        tick = time.monotonic()
        while time.monotonic() - tick < 0.1 * duty:
            x += 1
        if duty < 1:
            time.sleep(0.1 * (1 - duty))


def neighbour(seconds: float) -> list[mp.Process]:
    """Start the 1.5-core neighbour for ``seconds``."""
    stop = time.monotonic() + seconds
    procs = [mp.Process(target=_spin, args=(d, stop), daemon=True) for d in (1.0, 0.5)]
    for p in procs:
        p.start()
    return procs


def fit_seconds(generator: str, threads: int) -> dict:
    """Fit ``generator`` in a fresh interpreter; its wall and CPU seconds and the threads used."""
    code = (
        "import json, time, pandas as pd, torch; from ouroboros import synthesizers\n"
        f"df = pd.read_csv({str(DATA)!r}); df = df[df['split'] == 'train'].drop(columns='split')\n"
        "w, c = time.perf_counter(), time.process_time()\n"
        f"m = synthesizers.create({generator!r}, seed=0, **{_threads(threads)!r}).fit(df)\n"
        "print(json.dumps({'wall': time.perf_counter() - w, 'cpu': time.process_time() - c,"
        " 'threads': m.n_threads}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _threads(threads: int) -> dict:
    return {"n_threads": threads} if threads else {}


def measure(generator: str, repeats: int, threads: int) -> dict:
    quiet, busy, loads = [], [], []
    for _ in range(repeats):
        quiet.append(fit_seconds(generator, threads)["wall"])
        procs = neighbour(seconds=60 * 30)
        time.sleep(2.0)
        loads.append(os.getloadavg()[0])
        busy.append(fit_seconds(generator, threads)["wall"])
        for p in procs:
            p.terminate()
        for p in procs:
            p.join()
        time.sleep(2.0)
    q, b = statistics.median(quiet), statistics.median(busy)
    return {
        "generator": generator,
        "torch threads": threads or "default",
        "quiet fit (s)": round(q, 1),
        "busy fit (s)": round(b, 1),
        "ratio": round(b / q, 2),
        "target met": "yes" if b / q <= TARGET else "no",
        "load when busy started": round(statistics.median(loads), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generators", default=",".join(GENERATORS))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--threads", type=int, default=0, help="n_threads of every fit (0: the generator's default)"
    )
    parser.add_argument("--section", default="busy")
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows = []
    for name in args.generators.split(","):
        rows.append(measure(name, args.repeats, args.threads))
        print(json.dumps(rows[-1]), flush=True)
    table = markdown_table(rows)
    print(table)
    if not args.no_results:
        body = (
            "## Neural fits beside a CPU-bound neighbour (`bench/busy.py`)\n\n"
            f"Command: `python bench/busy.py --generators {args.generators} --repeats "
            f"{args.repeats} --threads {args.threads}`; {machine()}; load average before the "
            f"run {load_before:.2f}. "
            "Full Adult training split, defaults, one fresh process per fit; the neighbour "
            f"keeps 1.5 cores busy. Median of {args.repeats} run(s); target ratio <= {TARGET}.\n\n"
            f"{table}\n"
        )
        write_section(args.section, body)


if __name__ == "__main__":
    main()
