"""Rules benchmark: discovered rules kept by construction, at what cost in quality and time.

For each public table of ``../shared/datasets``: the rules ``Schema.discover_rules``
proposes (and how long discovery takes), then every generator fitted with and without them
(a table where none is found is only listed: with and without are the same fit). Reported
per run: the share of synthetic rows breaking any discovered rule, SDMetrics' QualityReport
score (in the peer interpreter, see ``bench/peers.py``), the classifier two-sample AUC of
``bench/quality.py``, and fit and sampling times; per generator, the fit time with rules
over the fit time without. Everything runs on one thread; the neural generators train at
the modest epochs of ``FAST``; samples are drawn without the watermark (its
row selection costs the same with and without rules).

    python bench/rules.py                                  # 6 tables x 5 generators, 2 seeds
    python bench/rules.py --tables adult --generators gaussian_copula,tvae --seeds 0,1,2
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _results import machine, markdown_table, write_section  # noqa: E402
from peers import peer_python  # noqa: E402
from quality import detection_auc  # noqa: E402

from ouroboros import synthesizers  # noqa: E402
from ouroboros.io import read_table  # noqa: E402
from ouroboros.rules import Columns, parse, violations  # noqa: E402
from ouroboros.schema import Schema  # noqa: E402
from ouroboros.transforms.rules import datetime_formats  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "datasets"
TABLES = [
    "nycflights13_weather",
    "adult",
    "california_housing",
    "credit_card_default",
    "diabetes130",
    "german_credit",
]
GENERATORS = ["gaussian_copula", "ctgan", "tvae", "tabddpm", "argn"]
#: cheap settings so the whole grid fits in minutes on one core
FAST = {
    "ctgan": {"epochs": 30},
    "tvae": {"epochs": 30},
    "tabddpm": {"epochs": 30},
    "argn": {"epochs": 10, "early_stopping": False},
}


def broken_share(sample, schema: Schema, real) -> float:
    """Share of rows breaking at least one rule of ``schema``."""
    formats = datetime_formats(schema)
    columns, reference = Columns(sample, formats), Columns(real, formats)
    mask = np.zeros(len(sample), dtype=bool)
    for text in schema.rules:
        mask |= violations(parse(text, sample.columns), columns, reference)
    return float(mask.mean())


def dates_as_seconds(frame, schema: Schema):
    """``frame`` with its datetime columns as seconds (the classifier takes numbers)."""
    out = frame.copy()
    columns = Columns(frame, datetime_formats(schema))
    for name in datetime_formats(schema):
        out[name] = columns[name][0]
    return out


def sdmetrics_quality(real, synth, work: Path) -> float:
    """SDMetrics' QualityReport score, run through ``bench/quality.py`` in the peer interpreter."""
    real_path, synth_path, result = work / "real.csv", work / "synth.csv", work / "q.json"
    real.to_csv(real_path, index=False)
    synth.to_csv(synth_path, index=False)
    cmd = [peer_python(), str(HERE / "quality.py"), "_quality", "--real", str(real_path)]
    subprocess.run([*cmd, "--synth", str(synth_path), "--result", str(result)], check=True)
    return json.loads(result.read_text())["quality"]


def run_one(name, params, train, test, schema, seed, work) -> dict:
    model = synthesizers.create(name, seed=seed, **params)
    started = time.perf_counter()
    model.fit(train, schema=schema)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    synth = model.sample(len(train), seed=seed + 1, watermark=False)
    sample_s = time.perf_counter() - started
    return {
        "fit_s": fit_s,
        "sample_s": sample_s,
        "quality": sdmetrics_quality(test, synth, work),
        "auc": detection_auc(dates_as_seconds(test, schema), dates_as_seconds(synth, schema), seed),
        "synth": synth,
    }


def bench_table(table: str, generators: list[str], seeds: list[int], rows: int) -> tuple:
    data = read_table(DATA / f"{table}.csv.gz")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data))
    train = data.iloc[order[:rows]].reset_index(drop=True)
    test = data.iloc[order[rows : 2 * rows]].reset_index(drop=True)
    plain = Schema.detect(train)
    started = time.perf_counter()
    found = plain.discover_rules(train)
    discovery_s = time.perf_counter() - started
    ruled = Schema.from_dict(plain.to_dict())
    ruled.rules = [f.rule for f in found]
    out = []
    if not found:
        return found, discovery_s, len(train), out
    with tempfile.TemporaryDirectory() as tmp:
        for name in generators:
            params = {**FAST.get(name, {})}
            if "n_threads" in synthesizers.get(name).param_names():
                params["n_threads"] = 1
            for seed in seeds:
                for label, schema in (("without", plain), ("with", ruled)):
                    result = run_one(name, params, train, test, schema, seed, Path(tmp))
                    result["broken"] = broken_share(result.pop("synth"), ruled, train)
                    out.append(
                        {"table": table, "generator": name, "rules": label, "seed": seed, **result}
                    )
                    print(
                        table,
                        name,
                        label,
                        seed,
                        {k: round(v, 3) for k, v in result.items()},
                        flush=True,
                    )
    return found, discovery_s, len(train), out


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and spread across seeds per (table, generator, rules)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["table"], row["generator"], row["rules"]), []).append(row)
    fit_means = {k: np.mean([i["fit_s"] for i in v]) for k, v in groups.items()}
    out = []
    for (table, generator, rules), items in groups.items():
        plain = fit_means.get((table, generator, "without"))
        cost = f"{fit_means[(table, generator, rules)] / plain:.2f}" if plain else "–"

        def stat(key: str, digits: int = 3, items: list[dict] = items) -> str:
            values = np.array([i[key] for i in items])
            spread = f" ± {values.std():.{digits}f}" if len(values) > 1 else ""
            return f"{values.mean():.{digits}f}{spread}"

        out.append(
            {
                "table": table,
                "generator": generator,
                "rules": rules,
                "rows breaking a rule": stat("broken"),
                "SDMetrics quality": stat("quality"),
                "detection AUC": stat("auc"),
                "fit (s)": stat("fit_s", 1),
                "sample (s)": stat("sample_s", 2),
                "fit time vs without": cost,
            }
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--generators", default=",".join(GENERATORS))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args(argv)
    tables, generators = args.tables.split(","), args.generators.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    rows, found_lines = [], []
    started, load_before = time.perf_counter(), os.getloadavg()
    for table in tables:
        found, discovery_s, n, results = bench_table(table, generators, seeds, args.rows)
        rows += results
        found_lines.append(
            f"- **{table}** ({n:,} training rows, {len(found)} rules found, "
            f"discovery {discovery_s:.2f} s):"
        )
        found_lines += [f"  - `` {f.rule} `` ({f.family}: {f.reason})" for f in found] or [
            "  - none"
        ]
    summary = summarise(rows)
    print(markdown_table(summary))
    command = "python bench/rules.py " + " ".join(argv if argv is not None else sys.argv[1:])
    body = (
        "## Rules: discovered and kept by construction (`bench/rules.py`)\n\n"
        f"Command: `{command.strip()}`; {machine()}, one thread; "
        f"{len(seeds)} seeds; subset: tables {tables}, generators {generators} "
        f"({FAST} where listed); took {time.perf_counter() - started:.0f} s; "
        f"load average {load_before[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
        "(the machine was shared: timings are under that load, quality figures are not "
        "affected).\n\n"
        "Rules discovered on the training rows:\n\n" + "\n".join(found_lines) + "\n\n"
        "Rows breaking a rule: share of synthetic rows breaking any discovered rule (with "
        "rules: the rules applied). Fit time vs without: mean fit time with the rules over "
        "the mean without. Samples are drawn without the watermark (its row selection is the "
        "same with and without rules). "
        "Quality and detection AUC are computed against a real test split of the same size.\n\n"
        + markdown_table(summary)
    )
    if not args.no_results:
        write_section("rules", body)


if __name__ == "__main__":
    main()
