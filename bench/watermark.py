"""Watermark bench: what the keyed watermark costs, how well ``detect`` finds it, and what
the contamination guard costs on a million rows.

1. Quality cost on Adult and California with ``gaussian_copula``: SDMetrics' QualityReport
   (in the peers' interpreter, ``bench/.venv-sdv``) and our detection AUC (gradient
   boosting, 5 folds) of watermarked and unwatermarked samples over several seeds, and the
   sampling time of each.
2. Detection power: real Adult rows (the test split) mixed with watermarked rows at several
   contamination shares; for each share, the fewest rows at which every repetition is
   detected at p < 1e-6, and the share estimate's error at 2,000 real rows.
3. False alarms: the watermark test with 200 random keys on real tables.
4. The guard on a 1,000,000-row table against a ``gaussian_copula`` fit of the same table.

Run: ``.venv/bin/python bench/watermark.py`` (``--quick`` for a smaller run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import machine, markdown_table, write_section  # noqa: E402
from quality import detection_auc, load_split  # noqa: E402

from ouroboros import synthesizers  # noqa: E402
from ouroboros.lineage import guard, training_lineage  # noqa: E402
from ouroboros.lineage.detect import detect, watermark_test  # noqa: E402

SIGNIFICANCE = 1e-6
SHARES = (0.01, 0.02, 0.05, 0.10, 0.25, 1.0)
ROW_GRID = (100, 250, 500, 1000, 2000, 4000, 8000, 16000)


def peer_python() -> str:
    return os.environ.get("OURO_BENCH_PYTHON") or str(
        Path(__file__).resolve().parent / ".venv-sdv" / "bin" / "python"
    )


def sdmetrics_quality(real: pd.DataFrame, synth: pd.DataFrame) -> float | None:
    """SDMetrics' QualityReport score, through bench/quality.py's worker in the peers' env."""
    if not Path(peer_python()).exists():
        return None
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / name for name in ("real.csv", "synth.csv", "result.json")]
        real.to_csv(paths[0], index=False)
        synth.to_csv(paths[1], index=False)
        script = str(Path(__file__).resolve().parent / "quality.py")
        cmd = [peer_python(), script, "_quality", "--real", str(paths[0])]
        cmd += ["--synth", str(paths[1]), "--result", str(paths[2])]
        subprocess.run(cmd, check=True, capture_output=True)
        return json.loads(paths[2].read_text())["quality"]


def quality_cost(dataset: str, rows: int, seeds: int) -> list[dict]:
    train, _ = load_split(dataset)
    train = train.sample(min(len(train), 10_000), random_state=0).reset_index(drop=True)
    model = synthesizers.create("gaussian_copula", seed=0).fit(train, guard="off")
    judge = train.sample(min(len(train), rows), random_state=1).reset_index(drop=True)
    out = []
    for marked in (False, True):
        for seed in range(seeds):
            clock = time.perf_counter()
            synth = model.sample(rows, seed=seed, watermark=marked)
            seconds = time.perf_counter() - clock
            synth.attrs = {}
            out.append(
                {
                    "dataset": dataset,
                    "watermark": marked,
                    "seed": seed,
                    "quality": sdmetrics_quality(judge, synth),
                    "auc": detection_auc(judge, synth[judge.columns], seed),
                    "sample_s": seconds,
                }
            )
            print(out[-1], flush=True)
    return out


def power_curve(reps: int) -> tuple[list[dict], dict]:
    train, test = load_split("adult")
    model = synthesizers.create("gaussian_copula", seed=0).fit(
        train.sample(10_000, random_state=0), guard="off"
    )
    marked = model.sample(max(ROW_GRID), seed=7)
    marked.attrs = {}
    rng = np.random.default_rng(0)
    curve = []
    for share in SHARES:
        needed = None
        for total in ROW_GRID:
            found = 0
            for _ in range(reps):
                n_syn = max(1, int(round(share * total)))
                parts = [marked.iloc[rng.choice(len(marked), n_syn, replace=False)]]
                if total > n_syn:
                    parts.append(test.iloc[rng.choice(len(test), total - n_syn, replace=False)])
                mixed = pd.concat(parts, ignore_index=True)
                found += detect(mixed)["p_value"] < SIGNIFICANCE
            if found == reps:
                needed = total
                break
        curve.append({"share": share, "rows_needed": needed})
        print(curve[-1], flush=True)
    errors, p_values = [], []
    for _ in range(2 * reps):
        mixed = pd.concat(
            [
                test.iloc[rng.choice(len(test), 2000, replace=False)],
                marked.iloc[rng.choice(len(marked), 105, replace=False)],
            ],
            ignore_index=True,
        )
        result = detect(mixed.sample(frac=1.0, random_state=int(rng.integers(1 << 30))))
        errors.append(result["synthetic_share"] - 105 / 2105)
        p_values.append(result["p_value"])
    mix = {"max_abs_error": float(np.max(np.abs(errors))), "worst_p": float(np.max(p_values))}
    mix["mean_error"] = float(np.mean(errors))
    print(mix, flush=True)
    return curve, mix


def false_alarms(keys: int) -> list[dict]:
    rng = np.random.default_rng(2026)
    out = []
    for dataset in ("adult", "california"):
        _, test = load_split(dataset)
        table = test.iloc[:5000]
        p = np.array([watermark_test(table, rng.bytes(32))["p_value"] for _ in range(keys)])
        out.append(
            {
                "table": f"{dataset} ({len(table):,} real rows)",
                "keys": keys,
                "p<1e-3": int((p < 1e-3).sum()),
                "p<0.01": int((p < 0.01).sum()),
                "p<0.1": int((p < 0.1).sum()),
            }
        )
        print(out[-1], flush=True)
    return out


def guard_cost(rows: int) -> dict:
    train, _ = load_split("adult")
    model = synthesizers.create("gaussian_copula", seed=0).fit(train, guard="off")
    table = model.sample(rows, seed=1, watermark=False)
    table.attrs = {}
    clock = time.perf_counter()
    record = training_lineage(table)
    lineage_s = time.perf_counter() - clock
    clock = time.perf_counter()
    found = guard.check(table, record, policy="warn")
    guard_s = time.perf_counter() - clock
    clock = time.perf_counter()
    synthesizers.create("gaussian_copula", seed=0).fit(table, guard="off")
    fit_s = time.perf_counter() - clock
    result = {"rows": rows, "guard_s": guard_s, "fit_s": fit_s, "ratio": guard_s / fit_s}
    result.update(lineage_s=lineage_s, total_ratio=(lineage_s + guard_s) / fit_s)
    result["guard_rows"] = min(rows, guard.GUARD_ROWS)
    result["found"] = bool(found["synthetic"])
    print(result, flush=True)
    return result


def _summary(rows: list[dict]) -> list[dict]:
    out = []
    frame = pd.DataFrame(rows)
    for (dataset, marked), group in frame.groupby(["dataset", "watermark"], sort=False):
        quality = group["quality"].dropna()
        out.append(
            {
                "dataset": dataset,
                "sample": "watermarked" if marked else "plain",
                "SDMetrics quality": f"{quality.mean():.4f} ± {quality.std():.4f}"
                if len(quality)
                else "n/a",
                "detection AUC": f"{group['auc'].mean():.4f} ± {group['auc'].std():.4f}",
                "sample time (s)": f"{group['sample_s'].median():.2f}",
            }
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds, rows and keys")
    parser.add_argument(
        "--guard-rows", type=int, default=0, help="only the guard's cost, on this many rows"
    )
    args = parser.parse_args(argv)
    if args.guard_rows:
        load = os.getloadavg()[0]
        cost = guard_cost(args.guard_rows)
        command = f"python bench/watermark.py --guard-rows {args.guard_rows}"
        body = _guard_markdown(cost, command, load)
        write_section("watermark-guard", body)
        print(body)
        return
    rows, seeds, reps, keys = (1000, 2, 2, 50) if args.quick else (5000, 3, 3, 200)
    load = os.getloadavg()[0]
    command = "python bench/watermark.py" + (" --quick" if args.quick else "")
    done: dict = {}

    def publish() -> None:  # the section grows as each part finishes
        body = _markdown(done, command, load, seeds, reps)
        write_section("watermark", body)

    done["power"] = power_curve(reps)
    publish()
    done["alarms"] = false_alarms(keys)
    publish()
    done["quality"] = quality_cost("adult", rows, seeds) + quality_cost("california", rows, seeds)
    publish()
    done["cost"] = guard_cost(200_000 if args.quick else 1_000_000)
    publish()
    print(_markdown(done, command, load, seeds, reps))


def _markdown(done: dict, command: str, load: float, seeds: int, reps: int) -> str:
    parts = [
        "## Watermark, detection and the guard (`bench/watermark.py`)",
        f"`{command}` on {machine()}; load average {load:.1f} when it started (timings "
        "taken under load from other processes). `gaussian_copula` fitted on 10,000 "
        "training rows. Values move by exactly 0: the watermark keeps the greenest rows of "
        "32 times as many drawn and edits no cell.",
    ]
    if "power" in done:
        curve, mix = done["power"]
        rows = [
            {
                "synthetic share": f"{c['share']:.0%}",
                "rows needed (p < 1e-6)": c["rows_needed"] or "> 16,000",
            }
            for c in curve
        ]
        parts += [
            f"**Detection power**: Adult test rows mixed with watermarked rows; the fewest "
            f"rows at which each of {reps} repetitions is detected at p < 1e-6.",
            markdown_table(rows),
            f"5% synthetic rows (105) in 2,000 real rows, {2 * reps} repetitions: worst "
            f"p-value {mix['worst_p']:.2g}; share estimate off by at most "
            f"{mix['max_abs_error'] * 100:.1f} points (mean {mix['mean_error'] * 100:+.1f}).",
        ]
    if "alarms" in done:
        parts += [
            "**False alarms**: the watermark test with random keys on real tables "
            "(by chance, 1 key in 1,000 gives p < 1e-3, 1 in 100 p < 0.01, 1 in 10 p < 0.1).",
            markdown_table(done["alarms"]),
        ]
    if "quality" in done:
        parts += [
            f"**Quality cost**: samples as large as the judged training rows, {seeds} seeds "
            "each; SDMetrics QualityReport and our detection AUC (mean ± sd over seeds).",
            markdown_table(_summary(done["quality"])),
        ]
    if "cost" in done:
        parts.append(_guard_line(done["cost"]))
    return "\n\n".join(parts) + "\n"


def _guard_line(cost: dict) -> str:
    return (
        f"**Guard cost** on {cost['rows']:,} rows: {cost['guard_s']:.2f} s (catalog row "
        f"hashes and the watermark, on {cost['guard_rows']:,} rows; the lineage record "
        f"the fit resolves anyway is reused) against {cost['fit_s']:.2f} s for a "
        f"`gaussian_copula` fit of the same table: {cost['ratio']:.1%} (target < 5%). "
        f"Resolving the lineage record (content hash of every row, catalog look-up), "
        f"which every fit does for its model's lineage, guard or not, took "
        f"{cost['lineage_s']:.2f} s more: {cost['total_ratio']:.1%} in all."
    )


def _guard_markdown(cost: dict, command: str, load: float) -> str:
    return (
        f"## The contamination guard's cost (`bench/watermark.py --guard-rows`)\n\n"
        f"`{command}` on {machine()}; load average {load:.1f} when it started (timings "
        f"taken under load from other processes).\n\n{_guard_line(cost)}\n"
    )


if __name__ == "__main__":
    main()
