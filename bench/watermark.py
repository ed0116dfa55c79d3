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
from unittest import mock

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import machine, markdown_table, write_section  # noqa: E402
from quality import detection_auc, load_split  # noqa: E402

from ouroboros import synthesizers  # noqa: E402
from ouroboros.io import write_table  # noqa: E402
from ouroboros.lineage import guard, training_lineage  # noqa: E402
from ouroboros.lineage import watermark as wm  # noqa: E402
from ouroboros.lineage.detect import detect, watermark_test  # noqa: E402
from ouroboros.lineage.frames import training_reference  # noqa: E402
from ouroboros.store import STORE_ENV  # noqa: E402

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


#: the samples compared: label, watermark on, FINE_RATIO (None: the library's)
VARIANTS = (("plain", False, None), ("watermarked", True, None))
#: the rule before fine-grained units: every unit that occurs once in its block counts
BEFORE = ("watermarked, every rare unit counts (before)", True, float("inf"))


def quality_cost(dataset: str, rows: int, seeds: int, variants=VARIANTS) -> list[dict]:
    train, _ = load_split(dataset)
    train = train.sample(min(len(train), 10_000), random_state=0).reset_index(drop=True)
    model = synthesizers.create("gaussian_copula", seed=0).fit(train, guard="off")
    judge = train.sample(min(len(train), rows), random_state=1).reset_index(drop=True)
    out = []
    library_ratio = wm.FINE_RATIO
    for label, marked, ratio in variants:
        wm.FINE_RATIO = library_ratio if ratio is None else ratio
        try:
            for seed in range(seeds):
                clock = time.perf_counter()
                synth = model.sample(rows, seed=seed, watermark=marked)
                seconds = time.perf_counter() - clock
                synth.attrs = {}
                out.append(
                    {
                        "dataset": dataset,
                        "sample": label,
                        "seed": seed,
                        "quality": sdmetrics_quality(judge, synth),
                        "auc": detection_auc(judge, synth[judge.columns], seed),
                        "sample_s": seconds,
                    }
                )
                print(out[-1], flush=True)
        finally:
            wm.FINE_RATIO = library_ratio
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


def guard_cost(rows: int, repeats: int = 3) -> dict:
    """The guard on ``rows`` sampled Adult rows (no record: a stripped file) against a
    ``gaussian_copula`` fit of them, with a catalog that holds another sample of the model
    (so the row hashes are matched for real). Best of ``repeats`` interleaved runs each:
    the machine is shared, and the best is the closest to the cost itself."""
    train, _ = load_split("adult")
    model = synthesizers.create("gaussian_copula", seed=0).fit(train, guard="off")
    table = model.sample(rows, seed=1, watermark=False)
    table.attrs = {}
    times: dict[str, list[float]] = {"lineage": [], "guard": [], "fit": []}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'catalog.db'}"
        with mock.patch.dict(os.environ, {STORE_ENV: url}):
            write_table(model.sample(10_000, seed=2), Path(folder) / "published.parquet")
            for _ in range(repeats):
                clock = time.perf_counter()
                record = training_lineage(table)
                training_reference(table)  # what fit keeps for the chance match rate
                times["lineage"].append(time.perf_counter() - clock)
                clock = time.perf_counter()
                found = guard.check(table, record, policy="warn")
                times["guard"].append(time.perf_counter() - clock)
                clock = time.perf_counter()
                synthesizers.create("gaussian_copula", seed=0).fit(table, guard="off")
                times["fit"].append(time.perf_counter() - clock)
                print({k: round(v[-1], 3) for k, v in times.items()}, flush=True)
    best = {k: min(v) for k, v in times.items()}
    result = {"rows": rows, "guard_s": best["guard"], "fit_s": best["fit"]}
    result.update(ratio=best["guard"] / best["fit"], lineage_s=best["lineage"])
    result["total_ratio"] = (best["lineage"] + best["guard"]) / best["fit"]
    result["median_ratio"] = float(
        np.median([(a + b) / c for a, b, c in zip(*times.values(), strict=True)])
    )
    result.update(guard_rows=min(rows, guard.GUARD_ROWS), repeats=repeats)
    result["found"] = bool(found["synthetic"])
    print(result, flush=True)
    return result


def _summary(rows: list[dict]) -> list[dict]:
    out = []
    frame = pd.DataFrame(rows)
    for (dataset, label), group in frame.groupby(["dataset", "sample"], sort=False):
        quality = group["quality"].dropna()
        out.append(
            {
                "dataset": dataset,
                "sample": label,
                "SDMetrics quality": f"{quality.mean():.4f} ± {quality.std():.4f}"
                if len(quality)
                else "n/a",
                "detection AUC": f"{group['auc'].mean():.4f} ± {group['auc'].std():.4f}",
                "sample time (s)": f"{group['sample_s'].median():.2f}",
            }
        )
    return out


def _gaps(rows: list[dict]) -> str:
    """Watermarked minus plain, per dataset, against the seed noise of a difference of
    two means (``sqrt(sd_a^2 / k + sd_b^2 / k)``)."""
    frame = pd.DataFrame(rows)
    lines = []
    for dataset, group in frame.groupby("dataset", sort=False):
        plain = group[group["sample"] == "plain"]
        for label in [v for v in group["sample"].unique() if v != "plain"]:
            marked = group[group["sample"] == label]
            parts = []
            for column, name in (("quality", "SDMetrics quality"), ("auc", "detection AUC")):
                a, b = marked[column].dropna(), plain[column].dropna()
                if len(a) < 2 or len(b) < 2:
                    continue
                noise = float(np.sqrt(a.var() / len(a) + b.var() / len(b)))
                gap = float(a.mean() - b.mean())
                sds = f", {gap / noise:+.1f} sd" if noise > 0 else ""
                parts.append(f"{name} {gap:+.4f} (noise {noise:.4f}{sds})")
            ratio = marked["sample_s"].median() / plain["sample_s"].median()
            parts.append(f"sampling {ratio:.0f}x the plain time")
            lines.append(f"- {dataset}, {label} − plain: " + "; ".join(parts) + ".")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds, rows and keys")
    parser.add_argument(
        "--guard-rows", type=int, default=0, help="only the guard's cost, on this many rows"
    )
    parser.add_argument(
        "--no-guard", action="store_true", help="leave out the guard's cost (its own section)"
    )
    parser.add_argument(
        "--before",
        action="store_true",
        help="also sample Adult with the rule before fine-grained units (every rare unit)",
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
    command += " --no-guard" if args.no_guard else ""
    command += " --before" if args.before else ""
    done: dict = {}

    def publish() -> None:  # the section grows as each part finishes
        body = _markdown(done, command, load, seeds, reps)
        write_section("watermark", body)

    done["power"] = power_curve(reps)
    publish()
    done["alarms"] = false_alarms(keys)
    publish()
    adult = VARIANTS + (BEFORE,) if args.before else VARIANTS
    done["quality"] = quality_cost("adult", rows, seeds, adult)
    publish()
    done["quality"] += quality_cost("california", rows, seeds)
    publish()
    if not args.no_guard:
        done["cost"] = guard_cost(200_000 if args.quick else 1_000_000)
    done["load_end"] = os.getloadavg()[0]
    publish()
    print(_markdown(done, command, load, seeds, reps))


def _markdown(done: dict, command: str, load: float, seeds: int, reps: int) -> str:
    end = f", {done['load_end']:.1f} at the end" if "load_end" in done else ""
    parts = [
        "## Watermark, detection and the guard (`bench/watermark.py`)",
        f"`{command}` on {machine()}; load average {load:.1f} when it started{end} "
        "(timings taken under load from other processes; quality figures do not depend "
        "on it). `gaussian_copula` fitted on 10,000 training rows. Values move by exactly "
        "0: the watermark keeps the greenest rows of 32 times as many drawn and edits no "
        "cell. Only fine-grained units carry the mark (column subsets whose values seen "
        "once far outnumber those seen twice: fnlwgt and its pairs on Adult, most column "
        "pairs on California). A unit that is merely unique in its block of candidates, "
        "such as a category of probability 1/2,000, has one colour shared by many "
        "candidates: selecting on it keeps green levels about twice as often as red ones "
        "(tests/lineage/test_watermark.py), a skew that the `before` row (that rule) shows "
        "costs Adult's SDMetrics quality little at this size, and that dilutes detection.",
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
            _gaps(done["quality"]),
        ]
    if "cost" in done:
        parts.append(_guard_line(done["cost"]))
    elif "load_end" in done:
        parts.append("**Guard cost**: not run here (`--no-guard`); see the guard's section.")
    return "\n\n".join(parts) + "\n"


def _guard_line(cost: dict) -> str:
    repeats = cost.get("repeats", 1)
    return (
        f"**Guard cost** on {cost['rows']:,} rows (best of {repeats} interleaved runs): the "
        f"guard's checks take {cost['guard_s']:.2f} s, {cost['ratio']:.1%} of the "
        f"{cost['fit_s']:.2f} s of a `gaussian_copula` fit of the same table (target < 5%): "
        f"catalog row hashes against a catalog holding a 10,000-row sample of the model, and "
        f'the watermark, on {cost["guard_rows"]:,} rows. That is what `guard="off"` saves. '
        f"Every fit, guard or not, also resolves its training data's lineage record (content "
        f"hash of every row, catalog look-up), which the guard reuses: "
        f"{cost['lineage_s']:.2f} s more, {cost['total_ratio']:.1%} in all (median of the "
        f"runs' ratios {cost.get('median_ratio', cost['total_ratio']):.1%})."
    )


def _guard_markdown(cost: dict, command: str, load: float) -> str:
    return (
        f"## The contamination guard's cost (`bench/watermark.py --guard-rows`)\n\n"
        f"`{command}` on {machine()}; load average {load:.1f} when it started (timings "
        f"taken under load from other processes).\n\n{_guard_line(cost)}\n"
    )


if __name__ == "__main__":
    main()
