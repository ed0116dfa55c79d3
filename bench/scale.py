"""How the runners scale on a grid of collapse trajectories (gaussian_copula on Adult).

The same sweep (4 strategies x 6 seeds = 24 trajectories by default) runs on
``LocalRunner(1)``, ``LocalRunner(2)`` and ``RayRunner`` on a real two-node Ray cluster
started here on 127.0.0.1 (head + one worker node, one CPU each, so two slots like
the 2-worker pool). Reported per runner, as medians over the repeats: wall time,
throughput, speed-up and scaling efficiency against ``LocalRunner(1)``, and the
per-task overhead measured with no-op tasks. The runs are interleaved so that
background load hits every runner alike, and every runner must produce the same
numbers as ``LocalRunner(1)`` for the same seeds.

    .venv/bin/python bench/scale.py [--repeats 3] [--rows 3000] [--generations 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# One BLAS/OpenMP thread per task, set before numpy loads and inherited by every
# worker process and Ray node, so that two slots really are two cores.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import pandas as pd  # noqa: E402

from ouroboros.runners import LocalRunner, RayRunner, Runner, Task  # noqa: E402
from ouroboros.sweep import SweepConfig, run_sweep  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests" / "runners")]

from _results import machine, markdown_table, write_section  # noqa: E402
from ray_cluster import LocalRayCluster  # noqa: E402

ADULT = HERE.parent.parent / "shared" / "datasets" / "adult.csv.gz"
STRATEGIES = ["replace", "accumulate", "mix:0.2", "fresh:0.2"]
METRICS = ["tv_complement", "ks_complement", "category_coverage", "range_coverage", "tail_kept"]
NOOPS = 1000


def sweep_config(rows: int, seeds: int, generations: int) -> SweepConfig:
    dataset = (
        {"name": "adult", "path": str(ADULT), "rows": rows, "drop": ["split"]}
        if ADULT.is_file()
        else {"name": "adult", "builtin": "adult", "rows": rows}
    )
    return SweepConfig.from_dict(
        {
            "name": "scale",
            "generations": generations,
            "seeds": seeds,
            "strategies": STRATEGIES,
            "metrics": METRICS,
            "reports": False,
            "datasets": [dataset],
            "synthesizers": [{"name": "gaussian_copula"}],
        }
    )


def time_sweep(config: SweepConfig, runner: Runner) -> tuple[float, pd.DataFrame]:
    with tempfile.TemporaryDirectory(prefix="ouro-scale-") as scratch:
        start = time.perf_counter()
        result = run_sweep(
            config, runner=runner, store=f"sqlite:///{scratch}/runs.db", output=f"{scratch}/out"
        )
        wall = time.perf_counter() - start
    if not result.ok:
        raise RuntimeError(f"the sweep failed: {result.errors}")
    return wall, result.results["adult/gaussian_copula"].table


def time_noops(runner: Runner, count: int) -> float:
    # ``dict`` is a module-level callable every worker can import: the task does nothing.
    tasks = [Task(f"noop-{i}", dict, {"i": i}) for i in range(count)]
    start = time.perf_counter()
    results = list(runner.run(tasks))
    wall = time.perf_counter() - start
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return wall


def _burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def available_parallelism(n: int = 4_000_000, repeats: int = 3) -> float:
    """How many cores this process group gets right now: pure-Python work done by two
    processes at once against one (2.0 on an idle two-core machine)."""
    serial, parallel = [], []
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_burn, [10, 10])
        for _ in range(repeats):
            start = time.perf_counter()
            _burn(n)
            serial.append(time.perf_counter() - start)
            start = time.perf_counter()
            pool.map(_burn, [n, n])
            parallel.append(time.perf_counter() - start)
    return 2 * statistics.median(serial) / statistics.median(parallel)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=3000, help="Adult rows sampled")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--generations", type=int, default=3)
    args = parser.parse_args()
    config = sweep_config(args.rows, args.seeds, args.generations)
    load_before = os.getloadavg()[0]
    cores_before = available_parallelism()

    cluster = LocalRayCluster()
    os.environ["RAY_AUTH_MODE"] = cluster.env["RAY_AUTH_MODE"]  # the driver, like the nodes
    started = time.perf_counter()
    cluster.start(["worker"])
    cluster_start = time.perf_counter() - started
    try:
        runners = {
            "LocalRunner(1)": (LocalRunner(1), 1),
            "LocalRunner(2)": (LocalRunner(2), 2),
            "RayRunner (2 nodes x 1 CPU)": (RayRunner(address=cluster.address), 2),
        }
        walls = {name: [] for name in runners}
        noops = {name: [] for name in runners}
        tables = {}
        for repeat in range(args.repeats):
            for name, (runner, slots) in runners.items():
                wall, table = time_sweep(config, runner)
                walls[name].append(wall)
                tables.setdefault(name, table)
                noops[name].append((time_noops(runner, slots), time_noops(runner, NOOPS)))
                print(f"repeat {repeat + 1}: {name}: sweep {wall:.1f} s", flush=True)
    finally:
        cluster.stop()
    load_after = os.getloadavg()[0]
    cores = statistics.median([cores_before, available_parallelism()])

    reference = tables["LocalRunner(1)"]
    base = statistics.median(walls["LocalRunner(1)"])
    rows = []
    for name, (_, slots) in runners.items():
        wall = statistics.median(walls[name])
        same = tables[name].equals(reference)
        # One no-op task per slot is the start-up; the rest of N no-ops, the per-task cost.
        startup = statistics.median(first for first, _ in noops[name])
        per_task = statistics.median(
            (many - first) * slots / (NOOPS - slots) for first, many in noops[name]
        )
        rows.append(
            {
                "runner": name,
                "slots": slots,
                "sweep wall s (median)": wall,
                "trajectories / min": 60 * config.trajectories / wall,
                "speed-up vs LocalRunner(1)": base / wall,
                "scaling efficiency": base / wall / slots,
                "efficiency vs probe": base / wall / min(slots, cores),
                "start-up s": startup,
                "overhead ms / task / slot": 1000 * per_task * slots,
                "same numbers as LocalRunner(1)": "yes" if same else "NO",
            }
        )
        print(rows[-1], flush=True)

    source = "Adult (../shared, UCI)" if ADULT.is_file() else "bundled Adult sample"
    shared = (
        f"\n**The machine was shared: this benchmark got about {cores:.1f} of its "
        f"{os.cpu_count()} cores, so no runner could go faster than {cores:.1f}x; rerun the "
        "command on an idle machine to see the runners scale.**\n"
        if cores < 0.8 * min(2, os.cpu_count() or 1)
        else ""
    )
    body = f"""## Runners: scaling a grid of collapse trajectories (`bench/scale.py`)

Command: `.venv/bin/python bench/scale.py --repeats {args.repeats} --rows {args.rows} \
--seeds {args.seeds} --generations {args.generations}`

- Machine: {machine()}; 1-minute load average {load_before:.1f} before, {load_after:.1f} after.
- Cores this benchmark actually got (probe: pure-Python work in 2 processes against 1, before
  and after, median): **{cores:.2f}**. "Efficiency vs probe" divides the speed-up by
  min(slots, probe) instead of by the slots.
- Grid: `gaussian_copula` on {args.rows} rows of {source}; {len(STRATEGIES)} strategies
  ({", ".join(STRATEGIES)}) x {args.seeds} seeds = {config.trajectories} trajectories of
  {args.generations} generations; metrics {", ".join(METRICS)}; one BLAS thread per task.
- Each sweep goes through `run_sweep` (store, checkpoints, results files) and includes the
  runner's start-up (process pool, or connecting to Ray). The Ray cluster (head + one worker
  node on 127.0.0.1, one CPU each, in this benchmark's session) took {cluster_start:.0f} s to
  start, not counted. Medians of {args.repeats} interleaved repeats.
- Start-up: one no-op task per slot; overhead per task: {NOOPS} no-op tasks after start-up,
  wall time x slots / tasks.

{shared}
{markdown_table(rows)}
"""
    write_section("scale", body)
    print(f"wrote the 'scale' section of {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
