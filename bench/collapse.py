"""Collapse benchmark: recursive training on UCI Adult, four strategies, three seeds.

Runs the collapse lab for 10 generations x {replace, accumulate, mix:0.1, curate} x 3 seeds
on Adult with the Gaussian copula, writes the lab's HTML report to
``bench/collapse_report.html`` and a section of ``bench/RESULTS.md``: wall time of the full
experiment with two worker processes, the speed-up of ``workers=2`` over ``workers=1`` (the
same experiment cut to ``--speedup-generations`` generations, run both ways in this script),
and generation 0 against the last generation on the metrics the literature watches: tail
share (``tail_kept``), ``coverage``, ``detection_auc`` and utility (``tstr_ratio``).

    python bench/collapse.py                      # about 20-40 min on 2 CPU cores
    python bench/collapse.py --generations 3 --seeds 1 --no-results   # a quick look

The Gaussian copula is used because it fits Adult in about a second, which is what lets 120
generations fit the budget on two cores; the deep generators (``tvae``, ``ctgan``) take
10-100 times longer per fit there and score no better at generation 0 on this sample size
(the lab runs them unchanged: pass ``--generator tvae --param epochs=50``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "datasets" / "adult.csv.gz"
REPORT = HERE / "collapse_report.html"
KEY_METRICS = ["tail_kept", "coverage", "detection_auc", "tstr_ratio"]
METRICS = KEY_METRICS + [
    "category_coverage",
    "variance_ratio",
    "entropy_ratio",
    "precision",
    "recall",
    "density",
    "ks_complement",
    "tv_complement",
    "correlation_similarity",
]
STRATEGIES = "replace,accumulate,mix:0.1,curate"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", default="gaussian_copula")
    parser.add_argument("--param", action="append", default=[], help="generator KEY=VALUE")
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--size", type=int, default=2000, help="training rows per generation")
    parser.add_argument("--holdout", type=int, default=3000, help="real holdout rows")
    parser.add_argument("--speedup-generations", type=int, default=3)
    parser.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    return parser.parse_args()


def load(size: int, holdout: int):
    import pandas as pd

    table = pd.read_csv(DATA).drop(columns="split")
    table = table.sample(size + holdout, random_state=0).reset_index(drop=True)
    return table.iloc[:size].reset_index(drop=True), table.iloc[size:].reset_index(drop=True)


def experiment(args, real, holdout, generations: int):
    from ouroboros.collapse import CollapseExperiment

    params = {}
    for item in args.param:
        key, _, raw = item.partition("=")
        params[key] = json.loads(raw)
    return CollapseExperiment(
        (args.generator, params),
        real,
        holdout=holdout,
        generations=generations,
        strategy=STRATEGIES,
        seeds=args.seeds,
        metrics=METRICS,
        target="income",
    )


def timed_run(exp, workers: int, label: str):
    scratch = Path(tempfile.mkdtemp(prefix="ouro-bench-collapse-"))
    started = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter() - started
        if done == total or now - last[0] > 30:
            last[0] = now
            print(f"  [{label}] {done}/{total} generations, {now:.0f}s", flush=True)

    try:
        result = exp.run(workers=workers, checkpoint_dir=scratch / "ck", progress=progress)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return result, time.perf_counter() - started


def key_table(result, last: int) -> list[dict]:
    table = result.table[result.table["metric"].isin(KEY_METRICS)]
    rows = []
    for strategy in result.strategies:
        row = {"strategy": strategy}
        for metric in KEY_METRICS:
            mine = table[(table["strategy"] == strategy) & (table["metric"] == metric)]
            start = mine.loc[mine["generation"] == 0, "value"]
            end = mine.loc[mine["generation"] == last, "value"]
            row[metric] = (
                f"{start.mean():.3f} → {end.mean():.3f} ± {end.std(ddof=1):.3f}"
                if len(end) > 1
                else f"{start.mean():.3f} → {end.mean():.3f}"
            )
        rows.append(row)
    return rows


def main() -> int:
    args = arguments()
    if not DATA.is_file():
        print(f"Adult not found at {DATA}; the benchmark needs ../shared/datasets", file=sys.stderr)
        return 1
    sys.path.insert(0, str(HERE))
    from _results import machine, markdown_table, write_section

    real, holdout = load(args.size, args.holdout)
    load_before = os.getloadavg()
    print(f"full experiment: {args.generations} generations x {STRATEGIES} x {args.seeds} seeds")
    full = experiment(args, real, holdout, args.generations)
    result, full_seconds = timed_run(full, 2, "workers=2")
    result.to_html(REPORT)
    short = experiment(args, real, holdout, args.speedup_generations)
    _, one = timed_run(short, 1, "speed-up, workers=1")
    _, two = timed_run(short, 2, "speed-up, workers=2")
    load_after = os.getloadavg()
    last = args.generations - 1
    summary = result.summary()
    failures = len(result.failures)

    print(f"\nfull experiment with workers=2: {full_seconds:.0f} s")
    print(
        f"{args.speedup_generations}-generation experiment: workers=1 {one:.0f} s, "
        f"workers=2 {two:.0f} s, speed-up {one / two:.2f}x"
    )
    print(markdown_table(key_table(result, last)))
    print("\n".join(summary))
    if failures:
        print(f"{failures} generations failed", file=sys.stderr)
    if args.no_results:
        return 0
    command = "python bench/collapse.py " + " ".join(sys.argv[1:])
    trajectories = len(result.strategies) * args.seeds
    body = f"""## Collapse lab on Adult (`bench/collapse.py`)

Command: `{command.strip()}` on {machine()} (load average {load_before[0]:.1f} at the start,
{load_after[0]:.1f} at the end: other jobs shared the two cores). Generator
`{args.generator}`, {args.size:,} training rows per generation drawn from Adult, {args.holdout:,}
real holdout rows, {args.generations} generations x {trajectories} trajectories
({STRATEGIES} x {args.seeds} seeds), {len(METRICS)} metrics per generation (target `income`).
Report: [`bench/collapse_report.html`](collapse_report.html).

| run | wall time |
|---|---|
| full experiment, `workers=2` | {full_seconds / 60:.1f} min |
| {args.speedup_generations} generations, `workers=1` | {one:.0f} s |
| {args.speedup_generations} generations, `workers=2` | {two:.0f} s |
| speed-up of `workers=2` over `workers=1` | **{one / two:.2f}x** |

Generation 0 → generation {last} (mean over seeds ± their standard deviation); higher is
better except `detection_auc` (0.5 is indistinguishable from real):

{markdown_table(key_table(result, last))}

The lab's own summary:

{chr(10).join(f"- {line}" for line in summary)}
"""
    write_section("collapse", body)
    print(f"\nwrote the 'collapse' section of {HERE / 'RESULTS.md'} and {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
