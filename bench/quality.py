"""Quality benchmark: our generators beside SDV's and MOSTLY AI's, on Adult and California housing.

For every (dataset, generator) pair: fit time (wall and CPU seconds), sampling time, peak memory
(resident set of the worker process); SDMetrics' ``QualityReport`` score with its column-shape
and column-pair parts (the peer's own judge); a classifier two-sample test (gradient boosting,
5-fold, AUC; 0.5 means indistinguishable); train-synthetic-test-real against train-real-test-real
utility on the target; the share of synthetic rows that copy a training row exactly. The ceiling
row scores the real test set as if it were synthetic.

The peers are SDV's three generators and MOSTLY AI's TabularARGN (``mostlyai-engine``; Tiwald
et al. 2025), at its defaults (``mostly_argn``) and with its training capped at the wall time
our ``argn`` took (``mostly_argn_capped``; run ``argn`` first). Peers and SDMetrics are never
project dependencies: they run in the peer interpreter
(``OURO_BENCH_PYTHON`` or ``bench/.venv-sdv``, see ``bench/peers.py``) as subprocesses of this
script, exchanging CSV files in a work folder. Each fit runs in its own worker process so
that time and memory are its own; finished fits are reused with ``--reuse``.

    python bench/quality.py                       # everything (about 45 min on 2 CPU cores)
    python bench/quality.py --datasets adult --generators tvae,tabddpm --no-results
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from peers import peer_python

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "datasets"

OURS = ["gaussian_copula", "ctgan", "tvae", "tabddpm", "argn"]
PEERS = ["sdv_gaussian_copula", "sdv_ctgan", "sdv_tvae", "mostly_argn", "mostly_argn_capped"]
#: MOSTLY AI's TabularARGN trained no longer than our ``argn`` took (equal training time)
CAPPED_TO = "argn"
CEILING = "real_test"
DATASETS = {
    "adult": {"file": "adult.csv.gz", "target": "income", "task": "classification"},
    "california": {
        "file": "california_housing.csv.gz",
        "target": "median_house_value",
        "task": "regression",
    },
}


# --------------------------------------------------------------------------- data
def load_split(name: str):
    """Return (train, test) for a benchmark dataset: Adult's classic split, California 70/30."""
    import numpy as np
    import pandas as pd

    spec = DATASETS[name]
    df = pd.read_csv(DATA / spec["file"])
    if "split" in df.columns:
        train = df[df["split"] == "train"].drop(columns="split").reset_index(drop=True)
        test = df[df["split"] == "test"].drop(columns="split").reset_index(drop=True)
        return train, test
    order = np.random.default_rng(0).permutation(len(df))
    cut = int(round(0.7 * len(df)))
    return (
        df.iloc[np.sort(order[:cut])].reset_index(drop=True),
        df.iloc[np.sort(order[cut:])].reset_index(drop=True),
    )


def sdv_metadata(df) -> dict:
    """SDV single-table metadata: numbers numerical, everything else categorical.

    SDV's detector marks California's longitude/latitude as PII and would anonymise them;
    forcing plain sdtypes keeps the comparison about modelling.
    """
    import pandas as pd

    columns = {}
    for col in df.columns:
        if pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col]):
            columns[col] = {"sdtype": "numerical"}
        else:
            columns[col] = {"sdtype": "categorical"}
    return {"columns": columns}


# --------------------------------------------------------------------------- workers
def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_fit(args) -> None:
    """Fit one generator on ``--train``, sample as many rows, write them and the timings."""
    import pandas as pd

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    train = pd.read_csv(args.train)
    base_rss = _rss_mb()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if args.generator.startswith("sdv_"):
        from sdv.metadata import Metadata
        from sdv.single_table import (
            CTGANSynthesizer,
            GaussianCopulaSynthesizer,
            TVAESynthesizer,
        )

        classes = {
            "sdv_gaussian_copula": GaussianCopulaSynthesizer,
            "sdv_ctgan": CTGANSynthesizer,
            "sdv_tvae": TVAESynthesizer,
        }
        metadata = Metadata.load_from_dict({"tables": {"t": sdv_metadata(train)}})
        options = {} if args.generator == "sdv_gaussian_copula" else {"enable_gpu": args.gpu}
        model = classes[args.generator](metadata, **options)
        model.fit({"t": train})
    elif args.generator.startswith("mostly_"):
        from mostlyai.engine import TabularARGN

        cap = {"max_training_time": args.max_minutes} if args.max_minutes else {}
        device = {"device": "cuda" if args.gpu else "cpu"}
        model = TabularARGN(random_state=args.seed, workspace_dir=args.workspace, **cap, **device)
        model.fit(train)
    else:
        from ouroboros import synthesizers
        from ouroboros.schema import Schema

        # NAME+rules: the generator fitted with the rules discovered on the training rows
        name, _, rules = args.generator.partition("+")
        klass = synthesizers.get(name)
        options = {"device": "auto"} if args.gpu and "device" in klass.param_names() else {}
        model = klass(seed=args.seed, **options)
        model.fit(train, schema=Schema.detect(train, rules=True) if rules else None)
    fit_wall, fit_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    load_fit = os.getloadavg()[0]
    wall0 = time.perf_counter()
    if args.generator.startswith("sdv_"):
        synth = model.sample(num_rows=len(train))["t"]
    elif args.generator.startswith("mostly_"):
        synth = model.sample(n_samples=len(train))
    else:
        synth = model.sample(len(train), seed=args.seed + 1)
    sample_wall = time.perf_counter() - wall0
    synth.to_csv(args.out, index=False)
    result = {
        "fit_s": fit_wall,
        "fit_cpu_s": fit_cpu,
        "sample_s": sample_wall,
        "peak_mb": _rss_mb(),
        "fit_mb": _rss_mb() - base_rss,
        "load": load_fit,
        "threads": args.threads,
        "gpu": args.gpu,
    }
    Path(args.result).write_text(json.dumps(result))


def worker_quality(args) -> None:
    """SDMetrics' QualityReport of ``--synth`` against ``--real`` (runs in the SDV interpreter)."""
    import warnings

    import pandas as pd

    # the single-table report is the one SDV's published scores use; its successor is the
    # multi-table one
    warnings.filterwarnings("ignore", category=FutureWarning)
    from sdmetrics.reports.single_table import QualityReport

    real = pd.read_csv(args.real)
    synth = pd.read_csv(args.synth)
    report = QualityReport()
    report.generate(real, synth[real.columns], sdv_metadata(real), verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    result = {
        "quality": float(report.get_score()),
        "shapes": float(props["Column Shapes"]),
        "pairs": float(props["Column Pair Trends"]),
    }
    Path(args.result).write_text(json.dumps(result))


# --------------------------------------------------------------------------- our judges
def _features(frames, drop=()):
    """Encode frames jointly for gradient boosting: categories as codes, numbers as floats."""
    import numpy as np
    import pandas as pd

    cols = [c for c in frames[0].columns if c not in drop]
    out = [np.empty((len(f), len(cols))) for f in frames]
    categorical = []
    for j, col in enumerate(cols):
        values = [f[col] for f in frames]
        if all(
            pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v) for v in values
        ):
            for o, v in zip(out, values, strict=True):
                o[:, j] = v.astype("float64").to_numpy(na_value=np.nan)
            categorical.append(False)
        else:
            joined = pd.concat([v.astype("string") for v in values], ignore_index=True)
            codes, _ = pd.factorize(joined, use_na_sentinel=True)
            codes = np.where(codes < 0, np.nan, codes).astype("float64")
            start = 0
            for o, v in zip(out, values, strict=True):
                o[:, j] = codes[start : start + len(v)]
                start += len(v)
            categorical.append(True)
    return out, np.array(categorical)


def detection_auc(real, synth, seed: int = 0) -> float:
    """Mean 5-fold ROC AUC of gradient boosting telling real from synthetic rows."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    (xr, xs), cat = _features([real, synth])
    x = np.vstack([xr, xs])
    y = np.r_[np.zeros(len(xr)), np.ones(len(xs))]
    aucs = []
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(x, y):
        clf = HistGradientBoostingClassifier(categorical_features=cat, random_state=seed)
        clf.fit(x[tr], y[tr])
        aucs.append(roc_auc_score(y[te], clf.predict_proba(x[te])[:, 1]))
    return float(np.mean(aucs))


def utility_score(train, test, target: str, task: str, seed: int = 0) -> float:
    """Score on real test of gradient boosting trained on ``train``.

    Classification: macro F1 (the mean of every class's F1, so that predicting the majority
    class alone scores about half of a real model; the figures the issue quotes for SDV
    match it); regression: R^2.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import f1_score, r2_score

    (xtr, xte), cat = _features([train, test], drop=[target])
    if task == "regression":
        model = HistGradientBoostingRegressor(categorical_features=cat, random_state=seed)
        model.fit(xtr, train[target].to_numpy(dtype=float))
        return float(r2_score(test[target].to_numpy(dtype=float), model.predict(xte)))
    ytr, yte = train[target].astype(str).to_numpy(), test[target].astype(str).to_numpy()
    model = HistGradientBoostingClassifier(categorical_features=cat, random_state=seed)
    model.fit(xtr, ytr)
    return float(f1_score(yte, model.predict(xte), average="macro"))


def copy_share(train, synth) -> float:
    """Share of synthetic rows equal, in every column, to some training row."""
    import pandas as pd

    def keys(df):
        norm = pd.DataFrame(
            {
                c: (
                    df[c].astype("float64")
                    if pd.api.types.is_numeric_dtype(df[c])
                    else df[c].astype("string")
                )
                for c in train.columns
            }
        )
        return pd.util.hash_pandas_object(norm, index=False)

    return float(keys(synth).isin(set(keys(train))).mean())


# --------------------------------------------------------------------------- driver
def run_fit(
    gen: str, dataset: str, work: Path, seed: int, reuse: bool, threads: int, gpu: bool
) -> dict:
    folder = work / dataset
    res, out = folder / f"{gen}.fit.json", folder / f"{gen}.csv"
    if reuse and res.exists() and out.exists():
        done = json.loads(res.read_text())
        if done.get("threads") == threads and done.get("gpu", False) == gpu:
            return done
    python = peer_python() if gen.startswith(("sdv_", "mostly_")) else sys.executable
    cmd = [python, str(Path(__file__).resolve()), "_fit", "--generator", gen]
    if gen.startswith("mostly_"):
        cmd += ["--workspace", str(folder / f"{gen}.workspace")]
    if gen == "mostly_argn_capped":
        ours = folder / f"{CAPPED_TO}.fit.json"
        if not ours.exists():
            sys.exit(f"{gen} needs {CAPPED_TO}'s fit time: run {CAPPED_TO} first")
        cmd += ["--max-minutes", str(json.loads(ours.read_text())["fit_s"] / 60.0)]
    cmd += ["--train", str(folder / "train.csv"), "--out", str(out), "--result", str(res)]
    cmd += ["--seed", str(seed), "--threads", str(threads)] + (["--gpu"] if gpu else [])
    print(f"[{dataset}] fitting {gen} ...", flush=True)
    subprocess.run(cmd, check=True)
    return json.loads(res.read_text())


def run_quality(gen: str, dataset: str, work: Path, reuse: bool) -> dict:
    folder = work / dataset
    res = folder / f"{gen}.quality.json"
    if reuse and res.exists():
        return json.loads(res.read_text())
    cmd = [peer_python(), str(Path(__file__).resolve()), "_quality"]
    cmd += ["--real", str(folder / "train.csv"), "--synth", str(folder / f"{gen}.csv")]
    cmd += ["--result", str(res)]
    subprocess.run(cmd, check=True)
    return json.loads(res.read_text())


def bench_dataset(
    dataset: str, gens: list[str], work: Path, seed: int, reuse: bool, threads: int, gpu: bool
) -> list:
    import pandas as pd

    spec = DATASETS[dataset]
    folder = work / dataset
    folder.mkdir(parents=True, exist_ok=True)
    train, test = load_split(dataset)
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / f"{CEILING}.csv", index=False)
    trtr = utility_score(train, test, spec["target"], spec["task"], seed)
    rows = []
    for gen in gens:
        fit = {} if gen == CEILING else run_fit(gen, dataset, work, seed, reuse, threads, gpu)
        synth = pd.read_csv(folder / f"{gen}.csv")
        quality = run_quality(gen, dataset, work, reuse)
        row = {"dataset": dataset, "generator": gen, **fit, **quality}
        row["detection_auc"] = detection_auc(train, synth[train.columns], seed)
        tstr = utility_score(synth[train.columns], test, spec["target"], spec["task"], seed)
        row["utility"] = tstr / trtr
        row["copies"] = copy_share(train, synth)
        rows.append(row)
        print(_line(row), flush=True)
    return rows


def _fmt(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _line(r: dict) -> str:
    return (
        f"{r['dataset']:<11}{r['generator']:<21}fit {_fmt(r.get('fit_s'), '7.1f')} s  "
        f"cpu {_fmt(r.get('fit_cpu_s'), '7.1f')} s  quality {r['quality']:.3f}  "
        f"auc {r['detection_auc']:.3f}  utility {r['utility']:.3f}  copies {r['copies']:.4f}"
    )


def targets(rows: list[dict], dataset: str = "adult") -> str:
    """The issue's targets on ``dataset``, checked against this run."""
    by = {r["generator"]: r for r in rows if r["dataset"] == dataset}
    ours = [g for g in OURS if g in by]
    neural = [g for g in ("ctgan", "tvae", "tabddpm") if g in by]
    peers = [g for g in PEERS if g in by]
    if not ours:
        return ""
    lines = []
    best = max(ours, key=lambda g: by[g]["quality"])
    r = by[best]
    lowest_peer_auc = min((by[g]["detection_auc"] for g in peers), default=1.0)
    lines.append(
        f"- best of ours on {dataset}: `{best}`, quality {r['quality']:.3f} (target >= 0.95), "
        f"detection AUC {r['detection_auc']:.3f} (target <= 0.70 and below every SDV "
        f"generator's, lowest {lowest_peer_auc:.3f}), utility {r['utility']:.3f} "
        "(target >= 0.95)"
    )
    for g in neural:
        parts = []
        for peer in ("sdv_tvae", "sdv_ctgan"):
            if peer in by and by[g].get("fit_s"):
                parts.append(
                    f"fits {by[peer]['fit_s'] / by[g]['fit_s']:.1f}x faster than {peer} "
                    f"({by[peer]['fit_cpu_s'] / by[g]['fit_cpu_s']:.1f}x less CPU time; "
                    f"quality {by[g]['quality']:.3f} vs {by[peer]['quality']:.3f})"
                )
        if parts:
            lines.append(f"- `{g}`: " + "; ".join(parts) + " (target: >= 5x, higher quality)")
    for peer in ("mostly_argn", "mostly_argn_capped"):
        if peer in by and "argn" in by:
            lines.append(_versus("argn", peer, by))
    if CEILING in by:
        ceiling = by[CEILING]["copies"]
        worst = max((g for g in by if g != CEILING), key=lambda g: by[g]["copies"])
        lines.append(
            f"- copies: highest `{worst}` {by[worst]['copies']:.4f}, real test split "
            f"{ceiling:.4f} (target: none above the real test split)"
        )
    return "\n".join(lines) + "\n"


def _versus(ours: str, peer: str, by: dict) -> str:
    """Whether ``ours`` beats ``peer`` on quality, detection AUC and utility."""
    a, b = by[ours], by[peer]
    wins = [
        a["quality"] > b["quality"],
        a["detection_auc"] < b["detection_auc"],
        a["utility"] > b["utility"],
    ]
    return (
        f"- `{ours}` vs `{peer}` (fit {_fmt(a.get('fit_s'), '.0f')} s vs "
        f"{_fmt(b.get('fit_s'), '.0f')} s): quality {a['quality']:.3f} vs {b['quality']:.3f}, "
        f"detection AUC {a['detection_auc']:.3f} vs {b['detection_auc']:.3f}, utility "
        f"{a['utility']:.3f} vs {b['utility']:.3f}: better on {sum(wins)} of 3 (target: 3; "
        "and for the best of ours on Adult AUC <= 0.57, quality >= 0.983, utility >= 0.99)"
    )


def markdown(rows: list[dict], command: str) -> str:
    head = (
        "| dataset | generator | fit s (wall) | fit s (CPU) | sample s | peak MB | threads "
        "| load | quality | shapes | pairs | detection AUC | utility | copies |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    body = "".join(
        f"| {r['dataset']} | {r['generator']} | {_fmt(r.get('fit_s'), '.1f')} | "
        f"{_fmt(r.get('fit_cpu_s'), '.1f')} | {_fmt(r.get('sample_s'), '.2f')} | "
        f"{_fmt(r.get('peak_mb'), '.0f')} | {r.get('threads') or '–'} | "
        f"{_fmt(r.get('load'), '.1f')} | "
        f"{r['quality']:.3f} | {r['shapes']:.3f} | {r['pairs']:.3f} | "
        f"{r['detection_auc']:.3f} | {r['utility']:.3f} | {r['copies']:.4f} |\n"
        for r in rows
    )
    return (
        f"Command: `{command}`\n\n"
        "Quality = SDMetrics QualityReport (shapes: column shapes, pairs: column pair trends), "
        "real = training split. Detection AUC: gradient boosting, 5-fold, real training rows "
        "against as many synthetic rows (0.5 = indistinguishable). Utility: gradient boosting "
        "trained on synthetic, scored on the real test split (macro F1, or R^2), divided by "
        "the same trained on the real training split. Copies: share of synthetic rows equal "
        "to a training row. `real_test` is the ceiling: the real test split scored as if it were synthetic. Peak MB: peak resident memory of the worker "
        "process (interpreter, data and model). Threads: torch threads of the fit (– is "
        "torch's default, all cores). Load: 1-minute load average at the end of the fit (2 "
        "cores; above 2 means the fit shared the CPU). Fit CPU seconds count every thread of "
        "the worker; on a shared machine they compare runs more fairly than wall time.\n\n"
        + head
        + body
        + "\n"
        + targets(rows)
    )


def write_results(text: str, gpu: bool, section: str = "quality") -> None:
    import torch
    from _results import machine, write_section

    if gpu:
        device = f"GPU: {torch.cuda.get_device_name()}."
    elif torch.cuda.is_available():
        device = "CPU run; a GPU is present: repeat with `--gpu` to record both."
    else:
        device = "CPU only: no GPU on this machine, so no GPU run."
    title = "Quality against SDV" if section == "quality" else f"Quality: {section}"
    load = f"Load average when the run ended: {os.getloadavg()[0]:.2f}."
    write_section(section, f"## {title}\n\nMachine: {machine()}. {device} {load}\n\n{text}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd")
    fit = sub.add_parser("_fit")
    fit.add_argument("--generator", required=True)
    fit.add_argument("--train", required=True)
    fit.add_argument("--out", required=True)
    fit.add_argument("--result", required=True)
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--threads", type=int, default=0)
    fit.add_argument("--gpu", action="store_true")
    fit.add_argument("--workspace", default=None)
    fit.add_argument("--max-minutes", type=float, default=None)
    qual = sub.add_parser("_quality")
    qual.add_argument("--real", required=True)
    qual.add_argument("--synth", required=True)
    qual.add_argument("--result", required=True)
    parser.add_argument("--datasets", default="adult,california")
    parser.add_argument("--generators", default=",".join(OURS + PEERS + [CEILING]))
    parser.add_argument("--workdir", default="/tmp/ouroboros-bench-quality")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads of every fit, ours and SDV's (0: torch's default); use 1 on a "
        "shared machine, where competing threads spin",
    )
    parser.add_argument(
        "--gpu", action="store_true", help="fit the neural generators, ours and SDV's, on a GPU"
    )
    parser.add_argument("--reuse", action="store_true", help="reuse finished fits and scores")
    parser.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    parser.add_argument(
        "--section",
        default="quality",
        help="the RESULTS.md section to write (a subset run "
        "writes its own, leaving the full table alone)",
    )
    args = parser.parse_args(argv)
    if args.cmd == "_fit":
        worker_fit(args)
        return
    if args.cmd == "_quality":
        worker_quality(args)
        return
    work = Path(args.workdir)
    rows = []
    for dataset in args.datasets.split(","):
        rows += bench_dataset(
            dataset,
            args.generators.split(","),
            work,
            args.seed,
            args.reuse,
            args.threads,
            args.gpu,
        )
    command = "python bench/quality.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = markdown(rows, command.strip())
    print(text)
    if not args.no_results:
        write_results(text, args.gpu, args.section)


if __name__ == "__main__":
    main()
