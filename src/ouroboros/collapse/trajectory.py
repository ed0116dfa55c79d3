"""One trajectory of the collapse lab: one strategy, one seed, every generation.

:func:`run_trajectory` is a module-level function of plain arguments so that any
runner (process pool, Ray) can execute it. Each generation is checkpointed in its own
folder (``gen-003/``: ``model.ouro``, ``sample.parquet`` and, written last,
``record.json``); a generation counts as done once its record exists, so a killed or
retried trajectory resumes after its last completed generation and repeats none.

Randomness comes from ``(seed, generation, purpose)`` only, never from the strategy or
the history of the process: generation 0 is the same model for every strategy of a
seed, later generations share random streams across strategies (common random
numbers), and a resumed run gives the numbers of an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import socket
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ouroboros.collapse import strategies
from ouroboros.collapse.records import GenerationRecord, Score
from ouroboros.collapse.units import Units
from ouroboros.io import atomic_write_text, read_table, write_table
from ouroboros.schema import Schema

RECORD = "record.json"
SAMPLE = "sample.parquet"
MODEL = "model.ouro"

# purposes: one independent random stream each
_ORDER, _STRATEGY, _FIT, _SAMPLE, _EXTRA = 1, 2, 3, 4, 5


def generation_rng(seed: int, generation: int, purpose: int) -> np.random.Generator:
    """The random generator of one purpose at one generation of one seed."""
    return np.random.default_rng([seed, generation, purpose])


def generation_seed(seed: int, generation: int, purpose: int) -> int:
    """An integer seed (for a synthesizer) of one purpose at one generation of one seed."""
    return int(np.random.SeedSequence([seed, generation, purpose]).generate_state(1)[0])


def generation_dir(checkpoint_dir: str | os.PathLike, generation: int) -> Path:
    return Path(checkpoint_dir) / f"gen-{generation:03d}"


def read_records(
    checkpoint_dir: str | os.PathLike | None, generations: int
) -> list[GenerationRecord]:
    """Records of the generations completed in a row from 0 (stopping at a failed one)."""
    records: list[GenerationRecord] = []
    if checkpoint_dir is None:
        return records
    for generation in range(generations):
        path = generation_dir(checkpoint_dir, generation) / RECORD
        if not path.is_file():
            break
        record = GenerationRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
        if not record.ok:
            break
        records.append(record)
    return records


def _synthesizer_class(spec: dict[str, Any]) -> type:
    from ouroboros import synthesizers

    cls = spec["cls"]
    return synthesizers.get(cls) if isinstance(cls, str) else cls


def make_synthesizer(spec: dict[str, Any], seed: int):
    """A fresh, unfitted synthesizer from ``{"cls": class or registry name, "params": ...}``."""
    cls = _synthesizer_class(spec)
    params = dict(spec.get("params") or {})
    if "seed" in cls.param_names():
        params["seed"] = seed
    return cls(**params)


def evaluate_sample(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    schema: Schema,
    metrics: Sequence[str] | None,
    target: str | None,
    ceilings: dict[str, float | None] | None = None,
) -> tuple[Score, ...]:
    """One score per metric.

    ``ceilings`` (metric -> ceiling) are the real-vs-real scores already computed for the
    same real and holdout rows; given, they are reused rather than computed again.
    """
    from ouroboros import metrics as metric_registry

    evaluation = metric_registry.evaluate(
        real,
        synthetic,
        holdout=holdout,
        target=target,
        metrics=metrics,
        schema=schema,
        ceilings=ceilings is None,
    )
    return tuple(
        Score(
            metric=str(row["metric"]),
            category=str(row.get("category", "")),
            direction=str(row.get("direction", "")),
            value=_number(row.get("value")),
            ceiling=(
                _number(row.get("ceiling"))
                if ceilings is None
                else ceilings.get(str(row["metric"]))
            ),
        )
        for row in evaluation.scores().to_dict("records")
    )


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def split_real(
    real: pd.DataFrame, size: int, seed: int, units: Units | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The generation-0 training set (``size`` units) and the unused reserve, for one seed:
    rows or whole entities in the seed's random order, or the first ``size`` steps of one
    series and the steps after them."""
    units = units or Units()
    arranged = units.arrange(real, generation_rng(seed, 0, _ORDER))
    first = units.head(arranged, size).reset_index(drop=True)
    return first, units.part(arranged, size).reset_index(drop=True)


def run_trajectory(
    *,
    real: pd.DataFrame,
    holdout: pd.DataFrame,
    schema: dict[str, Any],
    synthesizer: dict[str, Any],
    strategy: str | strategies.Strategy,
    seed: int,
    generations: int,
    size: int,
    metrics: Sequence[str] | None = None,
    target: str | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    threads: int | None = None,
) -> list[GenerationRecord]:
    """Train ``generations`` generations under one strategy and seed; return their records.

    ``real`` holds the real training rows, ``holdout`` the real rows kept out for
    evaluation, ``schema`` a :meth:`Schema.to_dict`, ``synthesizer`` a
    ``{"cls": ..., "params": ...}`` spec, ``size`` the training units per generation
    (rows; entities of a keyed sequence table; steps of one series).
    With ``checkpoint_dir``, completed generations are read back instead of recomputed.
    A generation that raises is recorded with status ``"failed"`` and its error, and
    ends the trajectory (later generations have nothing to train on). ``threads`` caps
    the BLAS/OpenMP/torch threads, so that parallel trajectories do not oversubscribe
    the cores.
    """
    chosen = strategies.parse(strategy)
    table_schema = Schema.from_dict(schema)
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    units = Units.of(table_schema)
    real_set, reserve = split_real(real, size, seed, units)
    samples: dict[int, pd.DataFrame] = {}

    def synthetic(generation: int) -> pd.DataFrame:
        if generation not in samples:
            samples[generation] = read_table(generation_dir(folder, generation) / SAMPLE)
        return samples[generation]

    pool = strategies.Pool(real_set, reserve, synthetic, size, table_schema, target)
    records = read_records(folder, generations)
    pool.history = [dict(r.info) for r in records]
    context = _Context(chosen, pool, seed, holdout, table_schema, synthesizer, metrics, target)
    if units.key is not None:
        context.reserved = pd.concat([real[units.key], holdout[units.key]], ignore_index=True)
    if records:
        context.ceilings = records[0].ceilings
    with _thread_limit(threads, _synthesizer_class(synthesizer).tags.requires_torch):
        for generation in range(len(records), generations):
            record = _generation(generation, context, folder, samples)
            records.append(record)
            pool.history.append(dict(record.info))
            if not record.ok:
                break
    return records


@dataclass
class _Context:
    strategy: strategies.Strategy
    pool: strategies.Pool
    seed: int
    holdout: pd.DataFrame
    schema: Schema
    synthesizer: dict[str, Any]
    metrics: Sequence[str] | None
    target: str | None
    #: real-vs-real scores of the metrics: they depend on the real and holdout rows only,
    #: so the first generation computes them and the later ones reuse them
    ceilings: dict[str, float | None] | None = None
    #: the real entity keys (training and holdout) no sample's key may take
    reserved: pd.Series | None = None


@contextlib.contextmanager
def _thread_limit(threads: int | None, uses_torch: bool) -> Iterator[None]:
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    if uses_torch:
        import torch  # noqa: F401 - imported now so that its thread pool can be capped
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(before)


def _generation(
    generation: int, ctx: _Context, folder: Path | None, samples: dict[int, pd.DataFrame]
) -> GenerationRecord:
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    seconds: dict[str, float] = {}
    done: dict[str, Any] = {}
    try:
        _train_and_score(generation, ctx, folder, samples, seconds, done)
    except Exception as exc:  # a failed generation is a result, not a crash of the experiment
        done |= {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        done["traceback"] = traceback.format_exc()
    record = GenerationRecord(
        generation=generation,
        strategy=ctx.strategy.spec,
        seed=ctx.seed,
        computed_by=f"{socket.gethostname()}:{os.getpid()}",
        started=started,
        seconds=seconds,
        **done,
    )
    if folder is not None:
        target_dir = generation_dir(folder, generation)
        target_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target_dir / RECORD, json.dumps(record.to_dict(), indent=1))
    return record


def _with_lineage(train: strategies.TrainingSet, pool: strategies.Pool) -> pd.DataFrame:
    """The training rows carrying the lineage record of the tables they were drawn from
    (so that the model and its sample record depth and real share)."""
    from ouroboros import lineage

    parts = [
        (
            lineage.resolve(pool.real if s.generation is None else pool.synthetic(s.generation)),
            s.rows,
        )
        for s in train.provenance
    ]
    return lineage.mix(train.data.copy(deep=False), parts)


def _on_purpose(model: Any) -> dict[str, Any]:
    """The lab feeds synthetic data back on purpose: the fit's guard records it, never
    stops it."""
    accepts = "allow_synthetic" in inspect.signature(model.fit).parameters
    return {"allow_synthetic": True} if accepts else {}


def _guard_info(model: Any) -> dict[str, float]:
    """What the guard found in the training data, for the generation's record."""
    found = getattr(model, "guard_", None)
    if not found or not found.get("synthetic"):
        return {}
    return {"guard_synthetic_share": float(found["share"]), "guard_allowed": 1.0}


def _sample(model: Any, ctx: _Context, total: int, generation: int) -> pd.DataFrame:
    """``total`` units of ``model``: the first ``size`` drawn as every strategy draws them
    (so that generation 0, the same model for all, is scored on the same units), the rest
    after. Entities of a sequence sample are numbered in the generation's own key range
    (:meth:`~ouroboros.collapse.units.Units.relabel`): the first and the extra draw, the
    samples of different generations and the real entities never share a key."""
    from ouroboros import lineage

    size, seed, units = ctx.pool.size, ctx.seed, ctx.pool.units
    first = model.sample(size, seed=generation_seed(seed, generation, _SAMPLE))
    if total <= size and units.key is None:
        return units.head(first, total).reset_index(drop=True)
    parts = [first]
    if total > size:
        parts.append(model.sample(total - size, seed=generation_seed(seed, generation, _EXTRA)))
    records = [(lineage.resolve(part), len(part)) for part in parts]
    if units.key is not None:
        parts[0] = units.head(parts[0], total)
        # entity numbers: generation g's sample holds g·total to (g + 1)·total - 1
        starts = np.cumsum([generation * total] + [units.count(p) for p in parts[:-1]])
        parts = [units.relabel(p, int(n), ctx.reserved) for p, n in zip(parts, starts, strict=True)]
    return lineage.mix(units.concat(parts), records)


def _train_and_score(
    generation: int,
    ctx: _Context,
    folder: Path | None,
    samples: dict[int, pd.DataFrame],
    seconds: dict[str, float],
    done: dict[str, Any],
) -> None:
    """Build the training set, fit, sample, checkpoint and evaluate one generation; the
    record's fields go to ``done`` and the step times to ``seconds`` as they complete."""
    strategy, pool, seed = ctx.strategy, ctx.pool, ctx.seed
    clock = time.perf_counter()
    if generation == 0:
        train = strategies.TrainingSet(pool.real, [strategies.Source(None, len(pool.real))])
    else:
        train = strategy.training_set(generation, pool, generation_rng(seed, generation, _STRATEGY))
        train.data = _with_lineage(train, pool)
    done["provenance"] = tuple(train.provenance)
    done["info"] = {k: float(v) for k, v in train.info.items()}
    if train.explanation:
        done["decision"] = train.explanation
    done["train_rows"] = len(train.data)
    seconds["strategy"] = time.perf_counter() - clock

    clock = time.perf_counter()
    model = make_synthesizer(ctx.synthesizer, generation_seed(seed, generation, _FIT))
    model.fit(train.data, schema=ctx.schema, **_on_purpose(model))
    done["info"].update(_guard_info(model))
    seconds["fit"] = time.perf_counter() - clock

    clock = time.perf_counter()
    sample = _sample(model, ctx, strategy.sample_size(pool.size), generation)
    if folder is not None:
        target_dir = generation_dir(folder, generation)
        target_dir.mkdir(parents=True, exist_ok=True)
        model.save(target_dir / MODEL)
        write_table(sample, target_dir / SAMPLE)
        # train later generations on exactly what a resumed run would read back
        sample = read_table(target_dir / SAMPLE)
    samples[generation] = sample
    seconds["sample"] = time.perf_counter() - clock

    clock = time.perf_counter()
    done["scores"] = evaluate_sample(
        pool.real,
        pool.units.head(sample, pool.size),
        ctx.holdout,
        schema=ctx.schema,
        metrics=ctx.metrics,
        target=ctx.target,
        ceilings=ctx.ceilings,
    )
    if ctx.ceilings is None:
        ctx.ceilings = {score.metric: score.ceiling for score in done["scores"]}
    seconds["evaluate"] = time.perf_counter() - clock
