"""Sequences: ``sequence`` and ``sequence_bootstrap`` beside SDV's PARSynthesizer.

Two tables: the NYC weather series of Newark airport (one long hourly series: the
first ``--hours`` hours train, the next as many are the holdout) and Diabetes 130-US
hospitals (encounters per patient as sequences, patients with two encounters or more:
``--patients`` train, half as many other patients are the holdout). Each generator
fits on the training part and draws as many sequences (one series of as many hours,
or as many patients); the sequence metrics score the draw against the training part,
and their ceilings score the holdout the same way. PAR (``bench/.venv-sdv``, sdv 2.0.0)
runs as a subprocess with ``--par-epochs`` epochs (default 128, PAR's own default; at
64 epochs PAR fitted Diabetes in 835 s on two busy cores) and, on the long series,
segments of 64 hours.

    python bench/sequences.py            # about 40 minutes on two busy cores, PAR most of it
    python bench/sequences.py --quick    # smaller subsets and epochs, a smoke run
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
from _results import machine, markdown_table, write_section
from peers import SHARED_DATASETS, peer_python

from ouroboros import metrics, synthesizers
from ouroboros.schema import Schema

WEATHER = ["time_hour", "temp", "dewp", "humid", "wind_dir", "wind_speed", "precip", "pressure"]
DIABETES_STATIC = ["race", "gender"]
DIABETES_EVENTS = [
    "age",
    "admission_type_id",
    "time_in_hospital",
    "num_lab_procedures",
    "num_medications",
    "number_inpatient",
    "A1Cresult",
    "insulin",
    "readmitted",
]
SHOWN = {
    "discriminative_score": "disc.",
    "autocorrelation_error": "ACF err",
    "partial_autocorrelation_error": "PACF err",
    "cross_correlation_error": "xcorr err",
    "transition_error": "transitions",
    "sequence_length_distance": "lengths KS",
    "time_gap_distance": "gaps KS",
    "predictive_score": "predictive",
}

PAR_SCRIPT = r"""
import json, sys, time, warnings
import pandas as pd
warnings.simplefilter("ignore")
from sdv.metadata import Metadata
from sdv.sequential import PARSynthesizer
job = json.loads(open(sys.argv[1]).read())
data = pd.read_csv(job["train"])
for column in job.get("datetimes", []):
    data[column] = pd.to_datetime(data[column], utc=True)
metadata = Metadata.detect_from_dataframes({"t": data})
for column in job.get("datetimes", []):
    metadata.update_column(column, sdtype="datetime", table_name="t")
metadata.update_column(job["key"], sdtype="id", table_name="t")
table = metadata.tables["t"]
if table.primary_key in (job["key"], job["index"]):
    metadata.remove_primary_key(table_name="t")
if job["index"] not in job.get("datetimes", []):
    metadata.update_column(job["index"], sdtype="numerical", table_name="t")
metadata.set_sequence_key(job["key"], table_name="t")
metadata.set_sequence_index(job["index"], table_name="t")
model = PARSynthesizer(metadata, epochs=job["epochs"], context_columns=job["context"],
                       segment_size=job.get("segment"), cuda=False, verbose=False)
start = time.perf_counter()
model.fit({"t": data})
fit = time.perf_counter() - start
start = time.perf_counter()
out = model.sample_sequences(job["n"], sequence_length=job.get("length"))["t"]
sample = time.perf_counter() - start
out.to_csv(job["out"], index=False)
print(json.dumps({"fit_s": fit, "sample_s": sample}))
"""


def load_weather(hours: int) -> tuple[pd.DataFrame, pd.DataFrame, Schema]:
    table = pd.read_csv(SHARED_DATASETS / "nycflights13_weather.csv.gz")
    table = table[table["origin"] == "EWR"][WEATHER].reset_index(drop=True)
    table["time_hour"] = pd.to_datetime(table["time_hour"], utc=True)
    train, holdout = table.iloc[:hours].reset_index(drop=True), table.iloc[hours : 2 * hours]
    schema = Schema.detect(train).with_sequence(train, index="time_hour")
    return train, holdout.reset_index(drop=True), schema


def load_diabetes(patients: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, Schema]:
    columns = ["patient_nbr", "encounter_id", *DIABETES_STATIC, *DIABETES_EVENTS]
    table = pd.read_csv(SHARED_DATASETS / "diabetes130.csv.gz", usecols=columns)[columns]
    # race and gender are the patient's; the few patients recorded with two keep their first
    first = table.groupby("patient_nbr")[DIABETES_STATIC].transform("first")
    table[DIABETES_STATIC] = first
    counts = table["patient_nbr"].value_counts()
    chosen = np.random.default_rng(seed).permutation(counts.index[counts >= 2].to_numpy())
    train_ids, holdout_ids = chosen[:patients], chosen[patients : patients + patients // 2]
    train = table[table["patient_nbr"].isin(train_ids)].reset_index(drop=True)
    holdout = table[table["patient_nbr"].isin(holdout_ids)].reset_index(drop=True)
    schema = Schema.detect(train).with_sequence(
        train, key="patient_nbr", index="encounter_id", static=DIABETES_STATIC
    )
    return train, holdout, schema


def run_ours(name: str, train, schema, n: int, params: dict) -> tuple[pd.DataFrame, float, float]:
    model = synthesizers.create(name, seed=0, **params)
    start = time.perf_counter()
    model.fit(train, schema)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    out = model.sample(n, seed=1)
    return out, fit, time.perf_counter() - start


def run_par(dataset: str, train, schema, n: int, epochs: int, folder: Path):
    spec = schema.sequence
    data, key = train, spec.key
    if key is None:  # SDV 2.0 wants a sequence key: one constant key is one sequence
        key, data = "series", train.assign(series=0)
    job = {
        "train": str(folder / f"{dataset}-train.csv"),
        "out": str(folder / f"{dataset}-par.csv"),
        "key": key,
        "index": spec.index,
        "context": list(spec.static),
        "epochs": epochs,
        "n": 1 if spec.key is None else n,
        "length": n if spec.key is None else None,
        "segment": 64 if spec.key is None else None,
        "datetimes": [c for c in train.columns if str(train[c].dtype).startswith("datetime")],
    }
    data.to_csv(job["train"], index=False)
    path = folder / f"{dataset}-job.json"
    path.write_text(json.dumps(job))
    done = subprocess.run(
        [peer_python(), "-c", PAR_SCRIPT, str(path)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"PAR failed on {dataset}:\n{done.stderr[-3000:]}")
    timing = json.loads(done.stdout.strip().splitlines()[-1])
    out = pd.read_csv(job["out"])
    for column in job["datetimes"]:
        out[column] = pd.to_datetime(out[column], utc=True)
    out = out[list(train.columns)]
    for column in train.columns:
        if str(train[column].dtype) != str(out[column].dtype) and column not in job["datetimes"]:
            out[column] = out[column].astype(train[column].dtype, errors="ignore")
    return out, timing["fit_s"], timing["sample_s"]


def scores(train, other, holdout, schema) -> dict[str, float]:
    names = [n for n in SHOWN if n in metrics.names()]
    chosen = [
        n for n in names if metrics.get(n)().not_applicable(_context(train, other, schema)) is None
    ]
    result = metrics.evaluate(train, other, schema=schema, metrics=chosen, ceilings=False)
    return {n: result[n].value for n in chosen}


def _context(train, other, schema):
    from ouroboros.metrics.context import EvaluationContext

    return EvaluationContext(train, other, None, schema=schema)


def bench(dataset: str, train, holdout, schema, n: int, args, folder: Path) -> list[dict]:
    rows = []
    ceiling = scores(train, holdout, None, schema)
    rows.append({"generator": "holdout (ceiling)", **{SHOWN[k]: v for k, v in ceiling.items()}})
    runs = [
        ("sequence", lambda: run_ours("sequence", train, schema, n, args.ours)),
        ("sequence_bootstrap", lambda: run_ours("sequence_bootstrap", train, schema, n, {})),
        (
            f"SDV PAR ({args.par_epochs} epochs)",
            lambda: run_par(dataset, train, schema, n, args.par_epochs, folder),
        ),
    ]
    for label, run in runs:
        load = os.getloadavg()[0]
        out, fit, sample = run()
        values = scores(train, out, None, schema)
        row = {"generator": label, "fit s": fit, "sample s": sample, "load": load}
        rows.append({**row, **{SHOWN[k]: v for k, v in values.items()}})
        print(dataset, json.dumps(rows[-1], default=float), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=1440)
    parser.add_argument("--patients", type=int, default=600)
    parser.add_argument("--par-epochs", type=int, default=128)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args()
    args.ours = {}
    if args.quick:
        args.hours, args.patients, args.par_epochs = 240, 200, 2
        args.ours = {"epochs": 2, "min_steps": 20}
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(uptime, flush=True)
    tables = {}
    with tempfile.TemporaryDirectory(prefix="ouro-seq-bench-") as scratch:
        train, holdout, schema = load_weather(args.hours)
        tables["weather"] = bench(
            "weather", train, holdout, schema, args.hours, args, Path(scratch)
        )
        train, holdout, schema = load_diabetes(args.patients)
        n = train["patient_nbr"].nunique()
        tables["diabetes"] = bench("diabetes", train, holdout, schema, n, args, Path(scratch))
    columns = ["generator", "fit s", "sample s", *SHOWN.values(), "load"]
    body = [
        "## Sequences (`bench/sequences.py`)",
        "",
        f"`python bench/sequences.py{' --quick' if args.quick else ''}` on {machine()}; "
        f"`uptime` at the start: `{uptime}`. Timings were taken under load (other "
        "processes shared the two cores; the load column is the 1-minute average when "
        "each run began), so compare them within a table only.",
        "",
        f"NYC weather, Newark (one hourly series): {args.hours} training hours, the next "
        f"{args.hours} as holdout; each generator draws one series of {args.hours} hours.",
        "",
        markdown_table(tables["weather"], [c for c in columns if c not in ("lengths KS",)]),
        "",
        f"Diabetes 130-US (encounters per patient, patients with 2+ encounters): "
        f"{args.patients} training patients, {args.patients // 2} other patients as holdout; "
        "each generator draws as many patients as it trained on. Static: race, gender.",
        "",
        markdown_table(tables["diabetes"], columns),
        "",
        "Lower is better everywhere but `predictive` (TSTR next-step error over the error of a "
        "model trained on real sequences: 1 is as useful as real data). `disc.` is TimeGAN's "
        "|accuracy - 0.5| of a classifier on whole-sequence features. PAR is SDV 2.0.0's "
        f"PARSynthesizer with {args.par_epochs} epochs "
        f"({'its default' if args.par_epochs == 128 else 'its default is 128'}). "
        "`sequence` runs its defaults: a mixture head over the "
        "normal scores of numeric event columns with more than 20 distinct values.",
    ]
    print("\n".join(body))
    if not args.no_results:
        write_section("sequences", "\n".join(body))


if __name__ == "__main__":
    sys.exit(main())
