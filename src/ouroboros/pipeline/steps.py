"""The steps of a pipeline: what each takes from the config and from earlier steps, and makes.

Each step is a :class:`Step`: its slice of the config (a dict, hashed into its key), the
files of earlier steps it reads (their content hashes go into the key too) and a
function that writes its outputs into a fresh folder. The orchestration, caching and
resuming live in :mod:`ouroboros.pipeline.run`; a step knows nothing of them.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ouroboros.io import (
    CSV_SUFFIXES,
    LINEAGE_KEY,
    CsvFormat,
    atomic_write_bytes,
    lineage_sidecar,
    read_table,
    read_table_format,
    write_table,
)
from ouroboros.pipeline.cache import Entry, file_hash
from ouroboros.pipeline.config import PipelineConfig


@dataclass
class Context:
    """What a step's function sees: the config, the entries of the steps before it, notes."""

    config: PipelineConfig
    entries: dict[str, Entry]
    say: Callable[[str], None]

    def file(self, step: str, name: str) -> Path:
        return self.entries[step].path(name)

    def table(self, step: str, name: str) -> pd.DataFrame:
        return read_table(self.file(step, name))

    def schema(self):
        from ouroboros.schema import Schema

        return Schema.load(self.file("schema", "schema.json"))


@dataclass(frozen=True)
class Step:
    """One step: its name, its config slice, the earlier files it reads, its function."""

    name: str
    config: Callable[[PipelineConfig], dict[str, Any]]
    reads: tuple[tuple[str, str], ...]
    make: Callable[[Context, Path, dict[str, Any]], None]
    describe: str


# ------------------------------------------------------------------ source
def source_files(config: PipelineConfig) -> dict[str, str | None]:
    """The external files the source step reads: role -> path (None when not given)."""
    source = config.source
    if source.get("builtin") is not None:
        from ouroboros import datasets

        name = datasets.info(source["builtin"])["file"]
        data = str(resources.files(datasets.__name__).joinpath("data", name))
    else:
        data = source["path"]
    return {"data": data, "holdout": source.get("holdout_path"), "schema": source.get("schema")}


def fingerprint(path: str, memo: dict[str, Any]) -> str:
    """The content hash of ``path``, reused from ``memo`` while its size and mtime hold."""
    stat = os.stat(path)
    mark = [stat.st_size, stat.st_mtime_ns]
    known = memo.get(path)
    if known is not None and known[:2] == mark:
        return known[2]
    digest = file_hash(path)
    memo[path] = [*mark, digest]
    return digest


def _source_config(config: PipelineConfig) -> dict[str, Any]:
    return {k: config.source.get(k) for k in ("holdout", "seed")}


def _make_source(ctx: Context, out: Path, meta: dict[str, Any]) -> None:
    files = source_files(ctx.config)
    ctx.say(f"reading {Path(files['data']).name}")
    table, csv_format = read_table_format(files["data"])
    if files["holdout"] is not None:
        train, holdout = table, read_table(files["holdout"])
        if list(holdout.columns) != list(table.columns):
            from ouroboros.errors import DataError

            raise DataError(
                f"source.holdout_path: its columns {list(holdout.columns)} differ from the "
                f"source's {list(table.columns)}"
            )
    else:
        order = np.random.default_rng(ctx.config.source["seed"]).permutation(len(table))
        size = int(round(ctx.config.source["holdout"] * len(table)))
        holdout = table.iloc[np.sort(order[:size])].reset_index(drop=True)
        train = table.iloc[np.sort(order[size:])].reset_index(drop=True)
    split = [train] if files["holdout"] is not None else [train, holdout]
    meta["lineage"] = _split_lineage(table, split, files["data"])
    if files["holdout"] is not None:
        _split_lineage(holdout, [holdout], files["holdout"])
    write_table(train, out / "train.parquet", store=False)  # caches: in no catalog
    write_table(holdout, out / "holdout.parquet", store=False)
    meta.update(
        rows=len(train),
        holdout_rows=len(holdout),
        columns=list(table.columns),
        csv=csv_format.to_dict() if csv_format is not None else None,
    )


def _split_lineage(table: pd.DataFrame, parts: list[pd.DataFrame], name: str) -> dict[str, Any]:
    """Attach to each part of ``table`` its record, derived from the table's (its own
    record, else the catalog's by content hash, else real); the table's record, summed up."""
    from ouroboros import lineage
    from ouroboros.lineage.guard import SOURCE_KEY

    source = lineage.LineageRecord.from_dict(lineage.training_lineage(table))
    lineage.attach(table, source)
    for part in parts:
        part.attrs[LINEAGE_KEY] = table.attrs[LINEAGE_KEY]
        lineage.attach(part, lineage.resolve(part))
        part.attrs[SOURCE_KEY] = name
    return {"kind": source.kind, "depth": source.depth, "real_share": source.real_share}


# ------------------------------------------------------------------ schema
def _make_schema(ctx: Context, out: Path, meta: dict[str, Any]) -> None:
    from ouroboros.schema import Schema

    train = ctx.table("source", "train.parquet")
    given = ctx.config.source.get("schema")
    schema = Schema.load(given) if given is not None else Schema.detect(train)
    csv = ctx.entries["source"].meta.get("csv")
    if csv is not None:
        schema.extras["csv"] = csv
    schema.save(out / "schema.json")
    meta["columns"] = len(schema.columns)


# ------------------------------------------------------------------ fit
def generator_spec(config: PipelineConfig) -> dict[str, Any]:
    g = config.generator
    return {"name": g["name"], "seed": g["seed"], "params": g["params"]}


GUARD_KEYS = ("guard", "max_synthetic_share", "max_depth", "allow_synthetic")


def guard_settings(config: PipelineConfig) -> dict[str, Any]:
    """The contamination guard's policy and thresholds for every fit of the pipeline."""
    return {k: config.generator[k] for k in GUARD_KEYS}


def _fit_config(config: PipelineConfig) -> dict[str, Any]:
    return {**generator_spec(config), **guard_settings(config)}


def fit_model(
    spec: dict[str, Any],
    train: pd.DataFrame,
    schema,
    path: Path | None = None,
    guard: dict[str, Any] | None = None,
) -> Any:
    """A generator of ``spec`` fitted on ``train`` through the fit's own input checks and
    the contamination guard (``guard``: its policy and thresholds); saved to ``path``."""
    from ouroboros import synthesizers

    model = synthesizers.create(spec["name"], **{"seed": spec["seed"], **spec["params"]})
    model.fit(train, schema=schema, **(guard or {}))
    if path is not None:
        model.save(path)
    return model


def _make_fit(ctx: Context, out: Path, meta: dict[str, Any]) -> None:
    auto = ctx.config.generator["name"] == "auto"
    spec = ctx.entries["select"].meta["chosen"] if auto else generator_spec(ctx.config)
    train = ctx.table("source", "train.parquet")
    ctx.say(f"fitting {spec['name']} on {len(train):,} rows x {train.shape[1]} columns")
    model = fit_model(spec, train, ctx.schema(), out / "model.ouro", guard_settings(ctx.config))
    meta["generator"] = spec
    meta["guard"] = getattr(model, "guard_", None)


# ------------------------------------------------------------------ sample
def _sample_config(config: PipelineConfig) -> dict[str, Any]:
    seed = config.sample.get("seed")
    return {
        "rows": config.sample.get("rows"),
        "seed": config.generator["seed"] if seed is None else seed,
        "watermark": config.sample["watermark"],
        "correct": config.generator.get("correct"),
    }


def _make_sample(ctx: Context, out: Path, meta: dict[str, Any]) -> None:
    from ouroboros import synthesizers

    settings = _sample_config(ctx.config)
    model = synthesizers.load(ctx.file("fit", "model.ouro"))
    rows = settings["rows"] or int(model.n_training_rows_)
    ctx.say(f"sampling {rows:,} rows")
    # a generator that overrides ``sample`` without the watermark embeds none
    takes = "watermark" in inspect.signature(model.sample).parameters
    options = {"watermark": settings["watermark"]} if takes else {}
    synthetic = model.sample(rows, seed=settings["seed"], **options)
    meta["watermarked"] = bool(takes and settings["watermark"])
    if settings["correct"] is not None:
        synthetic, meta["correction"] = correct_sample(ctx, synthetic, settings)
    write_table(synthetic, out / "synthetic.parquet", store=False)  # a cache, not published
    meta["rows"] = rows


def correct_sample(
    ctx: Context, synthetic: pd.DataFrame, settings: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The sample after a corrector of :mod:`ouroboros.collapse.correctors` (importance
    resampling by a real-vs-synthetic classifier, or rule repair), with a lineage record
    derived from the sample's."""
    from ouroboros import lineage
    from ouroboros.collapse.correctors import parse
    from ouroboros.collapse.strategies import Pool

    ctx.say(f"correcting the sample with {settings['correct']}")
    train = ctx.table("source", "train.parquet")
    pool = Pool(
        real=train,
        reserve=train.iloc[:0],
        synthetic=lambda _generation: synthetic,
        size=len(train),
        schema=ctx.schema(),
        target=ctx.config.source.get("target"),
    )
    # one OpenMP thread, as the metrics use: the classifier's small fits slow down many
    # times over when their threads compete with other processes for the cores
    with threadpool_limits(1):
        corrected = parse(settings["correct"]).correct(
            synthetic, pool, np.random.default_rng(settings["seed"])
        )
    table = corrected.data
    table.attrs[LINEAGE_KEY] = synthetic.attrs.get(LINEAGE_KEY)
    if table.attrs[LINEAGE_KEY] is None:
        del table.attrs[LINEAGE_KEY]
    else:
        lineage.attach(table, lineage.resolve(table))
    return table, {"corrector": settings["correct"], **corrected.info}


# ------------------------------------------------------------------ evaluate
def metric_names(config: PipelineConfig) -> list[str] | None:
    """The metrics to compute: ``[evaluate] metrics`` plus those the gate needs (None: all)."""
    from ouroboros.pipeline.gate import parse_gate

    chosen = config.evaluate.get("metrics")
    if chosen is None:
        return None
    needed = [t.metric for t in parse_gate(config.gate)[0] if t.metric is not None]
    return list(dict.fromkeys([*chosen, *needed]))


def _evaluate_config(config: PipelineConfig) -> dict[str, Any]:
    return {
        "metrics": metric_names(config),
        "seed": config.evaluate["seed"],
        "target": config.source.get("target"),
        "sensitive": config.source.get("sensitive"),
    }


def evaluate_tables(
    ctx: Context, synthetic: pd.DataFrame, *, holdout: pd.DataFrame | None = None, train=None
):
    """The evaluation of ``synthetic`` against the training rows, with the holdout's ceilings."""
    from ouroboros.metrics import evaluate

    settings = _evaluate_config(ctx.config)
    return evaluate(
        ctx.table("source", "train.parquet") if train is None else train,
        synthetic,
        holdout=ctx.table("source", "holdout.parquet") if holdout is None else holdout,
        target=settings["target"],
        sensitive=settings["sensitive"],
        metrics=settings["metrics"],
        schema=ctx.schema(),
        seed=settings["seed"],
    )


def _make_evaluate(ctx: Context, out: Path, meta: dict[str, Any]) -> None:
    ctx.say("evaluating")
    evaluation = evaluate_tables(ctx, ctx.table("sample", "synthetic.parquet"))
    evaluation.to_json(out / "evaluation.json")
    meta["metrics"] = len(evaluation.records)


# ------------------------------------------------------------------ gate
def _make_gate(ctx: Context, out: Path, meta: dict[str, Any]) -> None:
    from ouroboros.metrics import Evaluation
    from ouroboros.pipeline import gate
    from ouroboros.report.pipeline import write_pipeline_report

    evaluation = Evaluation.from_json(ctx.file("evaluate", "evaluation.json").read_text("utf-8"))
    thresholds = gate.parse_gate(ctx.config.gate)[0]
    outcome = gate.to_dict(gate.check(evaluation, thresholds))
    (out / "gate.json").write_text(json.dumps(outcome, indent=2), encoding="utf-8")
    extra = {"gate": outcome, "generator": ctx.entries["fit"].meta.get("generator")}
    if "select" in ctx.entries and ctx.config.generator["name"] == "auto":
        extra["comparison"] = ctx.entries["select"].meta.get("comparison")
    write_pipeline_report(evaluation.to_dict(), extra, out / "report.html")
    meta["passed"] = outcome["passed"]


def _gate_config(config: PipelineConfig) -> dict[str, Any]:
    return {"gate": config.gate}


STEPS = (
    Step("source", _source_config, (), _make_source, "read the source, split off the holdout"),
    Step("schema", lambda c: {}, (("source", "train.parquet"),), _make_schema, "detect the schema"),
    Step(
        "fit",
        _fit_config,
        (("source", "train.parquet"), ("schema", "schema.json")),
        _make_fit,
        "fit the generator",
    ),
    Step("sample", _sample_config, (("fit", "model.ouro"),), _make_sample, "sample rows"),
    Step(
        "evaluate",
        _evaluate_config,
        (
            ("source", "train.parquet"),
            ("source", "holdout.parquet"),
            ("schema", "schema.json"),
            ("sample", "synthetic.parquet"),
        ),
        _make_evaluate,
        "evaluate against the holdout's ceilings",
    ),
    Step("gate", _gate_config, (("evaluate", "evaluation.json"),), _make_gate, "check the gate"),
)


def steps_for(config: PipelineConfig, steps: tuple[Step, ...] = STEPS) -> tuple[Step, ...]:
    """The steps of ``config``: with ``name = "auto"``, the comparison of generators runs
    before the fit, whose key then includes its choice."""
    if config.generator["name"] != "auto":
        return steps
    from ouroboros.pipeline.auto import make_select, select_config

    select = Step(
        "select",
        select_config,
        (("source", "train.parquet"), ("schema", "schema.json")),
        make_select,
        "compare the generators on a validation split",
    )
    out: list[Step] = []
    for step in steps:
        if step.name == "fit":
            out.append(select)
            step = dataclasses.replace(step, reads=(*step.reads, ("select", "selection.json")))
        out.append(step)
    return tuple(out)


def _catalog(table: pd.DataFrame, url: str | bool | None) -> None:
    """Keep the published table's lineage record and row hashes in the catalog, so that a
    copy of the file found elsewhere is recognised by its hash alone."""
    from ouroboros import lineage

    record = lineage.recorded(table)
    if record is None or url is False:
        return
    with lineage.open_catalog(url) as store:
        lineage.publish(record, store, lineage.row_hashes(table))


def publish_table(entries: dict[str, Entry], config: PipelineConfig) -> list[Path]:
    """Write the sample to ``[publish] path`` (in the source's CSV dialect for a CSV) with
    its lineage record (Parquet metadata or the CSV's sidecar), and into the catalog; the
    files written (table, sidecar, model)."""
    synthetic = read_table(entries["sample"].path("synthetic.parquet"))
    csv = entries["source"].meta.get("csv")
    target = Path(config.publish["path"])
    write_table(synthetic, target, CsvFormat.from_dict(csv) if csv else None, store=False)
    _catalog(synthetic, config.publish.get("catalog"))
    written = [target]
    if lineage_sidecar(target).is_file() and target.name.lower().endswith(CSV_SUFFIXES):
        written.append(lineage_sidecar(target))
    if config.publish.get("model") is not None:
        model = entries["fit"].path("model.ouro").read_bytes()
        written.append(atomic_write_bytes(config.publish["model"], model))
    return written
