"""DP generators on discretised Adult and California, beside mbi's and smartnoise's.

Each dataset is discretised once (bench/privacy_data.py: Adult as in private-pgm's
example, California in 32 bins a number) and the domain is public, so all of the budget
goes to the model. Rows: ``aim`` and ``mst`` (on the codes), ``tvae`` with ``dp=True``
(on the codes decoded to values, within the public bounds), and the peers on the same
codes in their own environments: private-pgm's reference MST on ``mbi`` 2.0
(bench/peer_mbi_mst.py) and smartnoise-synth's MST and AIM (bench/peer_smartnoise.py).
Every synthetic table is coded again and scored against the training split: the mean
two-way total variation over all column pairs, SDMetrics' quality (in the SDV
interpreter), gradient-boosting detection AUC, and train-synthetic-test-real utility on
the real test split (Adult: macro F1 on ``income``; California: R^2 on
``median_house_value``), all on the decoded values. Fit time and the peak RSS of the
process that fitted (a fresh one per row). delta = 1e-6 everywhere.

    .venv/bin/python bench/privacy.py --dataset adult [--epsilons 0.5,1,3,10]
        [--generators aim,mst,tvae_dp] [--peers mbi_mst,sn_mst,sn_aim] [--peer-epsilons 1]

The peers' environments (``make bench-env-dp``; ignored by git; never dependencies of
the project):

    python -m venv bench/.venv-mbi && bench/.venv-mbi/bin/pip install "mbi==2.0.0"
    python -m venv bench/.venv-smartnoise && bench/.venv-smartnoise/bin/pip install "smartnoise-synth==1.0.8"
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import machine, markdown_table, write_section  # noqa: E402
from privacy_data import TARGETS, Discretisation, load, two_way_tv  # noqa: E402
from privacy_dpsgd import sdmetrics_quality  # noqa: E402
from quality import detection_auc, utility_score  # noqa: E402

from ouroboros.privacy import cdp_rho  # noqa: E402
from ouroboros.synthesizers import registry  # noqa: E402

DELTA = 1e-6
EVAL_ROWS = 5_000
#: our generators: (registry name, parameters, fitted on "codes" or decoded "values")
OURS = {
    "aim": ("aim", {}, "codes"),
    "mst": ("mst", {}, "codes"),
    "tvae_dp": (
        "tvae",
        {
            "dp": True,
            "epochs": 4,
            "batch_size": 250,
            "width": 64,
            "layers": 1,
            "latent_dim": 32,
            "learning_rate": 0.005,
            "n_threads": 2,
            "time_budget": 100,
        },
        "values",
    ),
}
ENVS = {
    "mbi": HERE / ".venv-mbi" / "bin" / "python",
    "sn": HERE / ".venv-smartnoise" / "bin" / "python",
}
PEER_LABELS = {
    "mbi_mst": "mbi 2.0 MST (peer)",
    "sn_mst": "smartnoise MST (peer)",
    "sn_aim": "smartnoise AIM (peer)",
}


# --------------------------------------------------------------------------- fits
def _fit_child(name: str, params: dict, table: pd.DataFrame, schema, seed: int) -> dict:
    model = registry.create(name, **params)
    start = time.perf_counter()
    model.fit(table, schema=schema)
    seconds = time.perf_counter() - start
    synthetic = model.sample(len(table), seed=seed, watermark=False)
    return {
        "synthetic": synthetic,
        "seconds": seconds,
        "spent": getattr(model, "epsilon_spent_", None),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "steps": (getattr(model, "privacy_", None) or {}).get("steps"),
    }


def fit_ours(key: str, epsilon: float | None, disc: Discretisation, train: pd.DataFrame) -> dict:
    """Fit in a fresh child process, so that its peak RSS is this fit's alone."""
    name, extra, space = OURS.get(key, (key, {}, "codes"))
    params = {"seed": 0, **extra}
    if epsilon is not None:
        params.update(epsilon=epsilon, delta=DELTA)
    table, schema = (
        (train, disc.code_schema())
        if space == "codes"
        else (disc.decode(train), disc.value_schema())
    )
    if epsilon is None:
        schema = None
    with multiprocessing.get_context("fork").Pool(1, maxtasksperchild=1) as pool:
        got = pool.apply(_fit_child, (name, params, table, schema, 0))
    synthetic = got.pop("synthetic")
    got["codes"] = synthetic if space == "codes" else disc.encode(synthetic)
    return got


def fit_peer(key: str, epsilon: float, disc: Discretisation, train: pd.DataFrame, timeout: int):
    """A peer in its own environment on the same codes; ``None`` if it ran out of time."""
    env = ENVS[key.split("_")[0]]
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.npz", Path(folder) / "out.npz"
        sizes = np.array(list(disc.sizes.values()))
        np.savez(source, codes=train.to_numpy(), names=np.array(disc.names), sizes=sizes)
        if key == "mbi_mst":
            argv = [str(HERE / "peer_mbi_mst.py"), str(source), str(target)]
            argv += [repr(cdp_rho(epsilon, DELTA)), "0"]
        else:
            argv = [str(HERE / "peer_smartnoise.py"), key.split("_")[1], str(source)]
            argv += [str(target), repr(epsilon), repr(DELTA), "0"]
        start = time.perf_counter()
        try:
            done = subprocess.run(
                [str(env), *argv], capture_output=True, text=True, check=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return {"timeout": time.perf_counter() - start}
        got = json.loads(done.stdout.strip().splitlines()[-1])
        codes = pd.DataFrame(np.load(target)["codes"], columns=disc.names).astype("int64")
    for column, size in disc.sizes.items():  # a peer may emit a code out of the domain
        codes[column] = codes[column].clip(0, size - 1)
    return {"codes": codes, "seconds": got["seconds"], "rss_mb": got["rss_mb"], "spent": epsilon}


# --------------------------------------------------------------------------- scores
def score(dataset: str, disc: Discretisation, train, test, codes) -> dict:
    """Two-way TV on the codes; quality, detection and utility on the decoded values."""
    target, task = TARGETS[dataset]
    real = disc.decode(train.sample(min(EVAL_ROWS, len(train)), random_state=0))
    fake = disc.decode(codes.sample(min(EVAL_ROWS, len(codes)), random_state=0))
    return {
        "2-way TV": round(two_way_tv(train, codes, disc.sizes), 4),
        "quality": round(sdmetrics_quality(real, fake), 3),
        "detection AUC": round(detection_auc(real, fake), 3),
        "utility": round(utility_score(disc.decode(codes), disc.decode(test), target, task), 3),
    }


def row(label: str, epsilon, got: dict, scores: dict) -> dict:
    return {
        "generator": label,
        "epsilon": "none" if epsilon is None else epsilon,
        **scores,
        "fit s": round(got["seconds"], 1),
        "peak MB": round(got["rss_mb"]),
        "epsilon spent": "" if got.get("spent") is None else round(got["spent"], 3),
        "DP-SGD steps": got.get("steps") or "",
    }


def targets(rows: list[dict]) -> str:
    """The issue's targets at epsilon 1, for each DP generator of ours: MST's two-way TV,
    the best peer's quality and utility, 2 minutes and 4 GB."""
    at1 = [r for r in rows if r["epsilon"] == 1.0 and "2-way TV" in r]
    ours = [r for r in at1 if "(peer)" not in r["generator"]]
    peers = [r for r in at1 if "(peer)" in r["generator"]]
    if not ours or not peers:
        return "Targets at epsilon = 1: not measured (no peer or no generator of ours finished)."
    msts = [r["2-way TV"] for r in peers if "MST" in r["generator"]]
    top = {c: max(peers, key=lambda r: r[c]) for c in ("quality", "utility")}
    lines = [
        f"Targets at epsilon = 1 (MST's best two-way TV {min(msts) if msts else '—'}; best "
        f"peer quality {top['quality']['quality']} ({top['quality']['generator']}), utility "
        f"{top['utility']['utility']} ({top['utility']['generator']})):"
    ]
    for r in ours:
        checks = {
            "TV": bool(msts) and r["2-way TV"] < min(msts),
            "quality": r["quality"] >= top["quality"]["quality"],
            "utility": r["utility"] >= top["utility"]["utility"],
            "2 min, 4 GB": r["fit s"] <= 120 and r["peak MB"] <= 4096,
        }
        verdict = ", ".join(f"{k} {_ok(v)}" for k, v in checks.items())
        lines.append(f"- `{r['generator']}`: {verdict}")
    return "\n".join(lines)


def _ok(flag: bool) -> str:
    return "met" if flag else "NOT met"


# --------------------------------------------------------------------------- main
def _ceiling(dataset: str, disc: Discretisation, train, test) -> dict:
    """The test split in place of synthetic rows; utility: trained on the train split."""
    scores = score(dataset, disc, train, test, test)
    target, task = TARGETS[dataset]
    scores["utility"] = round(utility_score(disc.decode(train), disc.decode(test), target, task), 3)
    return {"generator": "real test split (ceiling)", "epsilon": "", **scores}


def _publish(dataset, args, disc, train, load_avg, rows, done: bool) -> None:
    target, task = TARGETS[dataset]
    metric = "macro F1" if task == "classification" else "R^2"
    command = " ".join([".venv/bin/python", "bench/privacy.py", *sys.argv[1:]])
    body = "\n".join(
        [
            f"## Differential privacy on {dataset}: ours beside mbi and smartnoise (bench/privacy.py)",
            "",
            f"`{command}` on {machine()}; load at the start: `{load_avg}` "
            "(timings are wall-clock on 2 shared cores; the quality figures do not depend on load).",
            "",
            f"{dataset.capitalize()} train split ({len(train)} rows) discretised as "
            "bench/privacy_data.py says "
            f"({len(disc.sizes)} columns, domain public, delta = {DELTA:g}). 2-way TV: mean "
            "total variation between train and synthetic pair marginals on the codes (lower "
            "is better); quality: SDMetrics QualityReport; detection AUC: gradient boosting "
            "telling real from synthetic (0.5 is best); utility: gradient boosting trained on "
            f"synthetic rows, {metric} on `{target}` of the real test split; all but TV on "
            f"{EVAL_ROWS} decoded rows. `independent` has no privacy and no dependence. Peak "
            "MB: maximum RSS of the process that fitted (peers: their own process). "
            f"tvae_dp: {json.dumps(OURS['tvae_dp'][1])} (a time budget stops it early and "
            "it then spends less, as `epsilon spent` shows). Peers ran at epsilon "
            f"{args.peer_epsilons}, within {args.peer_timeout} s each. Sampling and scoring "
            "spend no budget.",
            "",
            markdown_table(rows),
            "",
            targets(rows) if done else "(run in progress)",
        ]
    )
    if not args.no_results:
        write_section("privacy" if dataset == "adult" else f"privacy-{dataset}", body)
    if done:
        print(body)


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(TARGETS), default="adult")
    parser.add_argument("--epsilons", default="0.5,1,3,10")
    parser.add_argument("--generators", default="aim,mst,tvae_dp")
    parser.add_argument("--peers", default="mbi_mst,sn_mst,sn_aim")
    parser.add_argument("--peer-epsilons", default="1")
    parser.add_argument("--neural-epsilons", help="epsilons of the DP-SGD rows (else --epsilons)")
    parser.add_argument("--peer-timeout", type=int, default=300)
    parser.add_argument("--no-results", action="store_true", help="print, do not record")
    parser.add_argument("--rows", type=int, help="fit this many training rows (a smoke test)")
    args = parser.parse_args()
    disc, train, test = load(args.dataset)
    if args.rows:
        train = train.sample(args.rows, random_state=0).reset_index(drop=True)
    load_avg = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    rows = []

    def add(label, epsilon, got):
        rows.append(row(label, epsilon, got, score(args.dataset, disc, train, test, got["codes"])))
        print(json.dumps(rows[-1]), flush=True)
        _publish(args.dataset, args, disc, train, load_avg, rows, done=False)

    add("independent", None, fit_ours("independent", None, disc, train))
    for key in [g for g in args.generators.split(",") if g]:
        neural = OURS.get(key, ("", {}, ""))[1].get("dp") and args.neural_epsilons
        for epsilon in _floats(neural or args.epsilons):
            add(key, epsilon, fit_ours(key, epsilon, disc, train))
    for key in [p for p in args.peers.split(",") if p]:
        if not ENVS[key.split("_")[0]].exists():
            print(f"skipping {key}: its environment is missing (see the docstring)", flush=True)
            continue
        for epsilon in _floats(args.peer_epsilons):
            got = fit_peer(key, epsilon, disc, train, args.peer_timeout)
            if "timeout" in got:
                rows.append(
                    {"generator": PEER_LABELS[key], "epsilon": epsilon,
                     "fit s": f"> {args.peer_timeout} (stopped)"}
                )  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
                continue
            add(PEER_LABELS[key], epsilon, got)
    rows.append(_ceiling(args.dataset, disc, train, test))
    _publish(args.dataset, args, disc, train, load_avg, rows, done=True)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
