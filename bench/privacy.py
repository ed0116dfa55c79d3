"""Marginal-based DP generators on Adult: mean two-way total variation, fit time, memory.

Adult is discretised as in private-pgm's example (``data/adult-domain.json`` there: 14
columns, numeric ones in equal-width bins of the domain sizes below, ``education``
dropped for its twin ``education-num``), and the domain is given to the generators as
a public schema, so the whole budget goes to the model. The figure is the mean, over
all 91 column pairs, of the total variation distance between the real and synthetic
pair marginals. ``independent`` (no privacy, 1-way marginals only) is the floor that
a model of dependence must beat.

    .venv/bin/python bench/privacy.py [--quick] [--mbi PEER_ENV/bin/python]

``--mbi`` runs the peer, private-pgm's reference MST on ``mbi`` 2.0
(bench/peer_mbi_mst.py), at epsilon = 1 on the same codes, in its own environment
(``python -m venv ENV && ENV/bin/pip install "mbi>=2"``: JAX, jaxlib alone 349 MB).
"""

from __future__ import annotations

import argparse
import itertools
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, markdown_table, write_section  # noqa: E402

from ouroboros.privacy import cdp_rho  # noqa: E402
from ouroboros.schema import ColumnKind, ColumnSchema, Schema  # noqa: E402
from ouroboros.synthesizers import registry  # noqa: E402

ADULT = Path("/work/shared/datasets/adult.csv.gz")
#: private-pgm's adult-domain.json
DOMAIN = {
    "age": 85, "workclass": 9, "fnlwgt": 100, "education-num": 16, "marital-status": 7,
    "occupation": 15, "relationship": 6, "race": 5, "sex": 2, "capital-gain": 100,
    "capital-loss": 100, "hours-per-week": 99, "native-country": 42, "income": 2,
}  # fmt: skip
NUMERIC = ("age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week")
#: the reference run quoted in issue 16: MST on mbi 2.0, eps=1, these 2-core machines
REFERENCE = {"mbi MST (issue 16)": (0.040, 95.0)}


def discretised_adult() -> pd.DataFrame:
    """Adult as integer codes over private-pgm's domain sizes."""
    raw = pd.read_csv(ADULT)
    out = {}
    for column, size in DOMAIN.items():
        values = raw[column]
        if column in NUMERIC:
            low, high = float(values.min()), float(values.max())
            edges = np.linspace(low, high, size + 1)
            out[column] = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, size - 1)
        else:
            codes = pd.Categorical(values.fillna("?").astype(str)).codes
            out[column] = np.minimum(codes, size - 1)
    return pd.DataFrame(out).astype("int64")


def public_schema(table: pd.DataFrame) -> Schema:
    """The domain as public knowledge: every column categorical over its codes."""
    columns = [
        ColumnSchema(name=c, kind=ColumnKind.CATEGORICAL, dtype="int64", categories=list(range(s)))
        for c, s in DOMAIN.items()
    ]
    return Schema(columns=columns)


def two_way_tv(real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    """Mean total variation distance over every pair of columns."""
    values = []
    for a, b in itertools.combinations(DOMAIN, 2):
        shape = (DOMAIN[a], DOMAIN[b])
        p = np.bincount(
            np.ravel_multi_index((real[a], real[b]), shape), minlength=shape[0] * shape[1]
        )
        q = np.bincount(
            np.ravel_multi_index((synthetic[a], synthetic[b]), shape), minlength=shape[0] * shape[1]
        )
        values.append(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())
    return float(np.mean(values))


def _fit_and_score(name: str, params: dict, table: pd.DataFrame, schema, seed: int) -> dict:
    model = registry.create(name, **params)
    start = time.perf_counter()
    model.fit(table, schema=schema)
    seconds = time.perf_counter() - start
    synthetic = model.sample(len(table), seed=seed, watermark=False)
    return {
        "tv": two_way_tv(table, synthetic),
        "seconds": seconds,
        "spent": getattr(model, "epsilon_spent_", None),
        "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run(name: str, epsilon: float | None, table: pd.DataFrame, schema: Schema, seed: int) -> dict:
    """Fit and score in a fresh child process, so that its peak RSS is this fit's alone."""
    params = (
        {"seed": seed} if epsilon is None else {"seed": seed, "epsilon": epsilon, "delta": 1e-6}
    )
    with multiprocessing.get_context("fork").Pool(1, maxtasksperchild=1) as pool:
        got = pool.apply(_fit_and_score, (name, params, table, schema, seed))
    return {
        "generator": name,
        "epsilon": "none" if epsilon is None else epsilon,
        "2-way TV": round(got["tv"], 4),
        "fit s": round(got["seconds"], 1),
        "peak MB": round(got["rss"]),
        "epsilon spent": "" if got["spent"] is None else round(got["spent"], 4),
    }


def run_mbi(python: str, epsilon: float, table: pd.DataFrame, seed: int) -> dict:
    """The peer in its own environment: reference MST on mbi 2.0, same codes, same TV."""
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "in.npz", Path(folder) / "out.npz"
        sizes = np.array(list(DOMAIN.values()))
        np.savez(source, codes=table.to_numpy(), names=np.array(list(DOMAIN)), sizes=sizes)
        script = Path(__file__).resolve().parent / "peer_mbi_mst.py"
        rho = cdp_rho(epsilon, 1e-6)
        done = subprocess.run(
            [python, str(script), str(source), str(target), repr(rho), str(seed)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
        synthetic = pd.DataFrame(np.load(target)["codes"], columns=list(DOMAIN))
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "generator": "mbi 2.0 MST (peer)",
        "epsilon": epsilon,
        "2-way TV": round(two_way_tv(table, synthetic), 4),
        "fit s": round(seconds, 1),
        "peak MB": f"{peak:.0f} (RSS)",
        "epsilon spent": epsilon,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="eps=1 only, one seed")
    parser.add_argument("--generators", default="mst,aim")
    parser.add_argument("--mbi", help="python of an environment with mbi 2.0 (the peer)")
    args = parser.parse_args()
    table = discretised_adult()
    schema = public_schema(table)
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    epsilons = [1.0] if args.quick else [0.5, 1.0, 3.0, 10.0]
    rows = [run("independent", None, table, None, 0)]
    print(rows[-1], flush=True)
    for name in args.generators.split(","):
        for epsilon in epsilons:
            rows.append(run(name, epsilon, table, schema, 0))
            print(rows[-1], flush=True)
    if args.mbi:
        rows.append(run_mbi(args.mbi, 1.0, table, 0))
        print(rows[-1], flush=True)
    for label, (tv, seconds) in REFERENCE.items():
        rows.append({"generator": label, "epsilon": 1.0, "2-way TV": tv, "fit s": seconds})
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    body = "\n".join(
        [
            "## Differential privacy: marginal-based generators (bench/privacy.py)",
            "",
            f"`{' '.join(['.venv/bin/python', 'bench/privacy.py', *sys.argv[1:]])}` on {machine()}; "
            f"load while running: `{load}` (other sessions share the cores: timings are under load).",
            "",
            f"Adult ({len(table)} rows) discretised as in private-pgm's example (14 columns, "
            "91 pairs, domain given as a public schema so all of the budget goes to the model); "
            "delta = 1e-6; figure: mean two-way total variation between real and synthetic "
            "pair marginals (lower is better). `independent` has no privacy and no dependence. "
            "Peak MB is the maximum RSS of the process that fitted and sampled (one fresh "
            f"process per row; this script's own: {rss:.0f} MB). The peer row (with `--mbi`) is private-pgm's reference MST on "
            "mbi 2.0 in its own environment (JAX; no domain compression, 5000 mirror-descent "
            "iterations as the reference), on the same codes; the last row is the figure quoted "
            "in issue 16, on that session's own discretisation, not rerun. Sampling and "
            "evaluation spend no budget.",
            "",
            markdown_table(rows),
        ]
    )
    write_section("privacy", body)
    print(body)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
