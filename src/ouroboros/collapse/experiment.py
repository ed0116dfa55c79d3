"""The collapse lab: retrain a generator on its own output and watch what degrades.

>>> from ouroboros.collapse import CollapseExperiment
>>> exp = CollapseExperiment("gaussian_copula", table, holdout=0.3, generations=10,
...                          strategy="replace,accumulate,mix:0.2", seeds=3)  # doctest: +SKIP
>>> result = exp.run(workers=2, checkpoint_dir="runs/adult")  # doctest: +SKIP
>>> result.to_html("runs/adult/report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ouroboros.collapse.plan import Plan
from ouroboros.collapse.records import GenerationRecord
from ouroboros.collapse.result import CollapseResult
from ouroboros.collapse.strategies import Strategy, parse
from ouroboros.collapse.trajectory import RECORD, read_records, run_trajectory
from ouroboros.collapse.units import Units
from ouroboros.errors import CollapseError, DataError, ParameterError, check_param
from ouroboros.io import atomic_write_text, read_table
from ouroboros.schema import Schema
from ouroboros.sequence_schema import entity_order

#: metric categories the lab evaluates when no metric names are given
DEFAULT_CATEGORIES = ("collapse", "fidelity", "diversity", "detection", "utility")
CONFIG = "experiment.json"
_SPLIT = 0

Progress = Callable[[int, int], None]


def default_metrics(target: str | None = None, sequence: bool = False) -> list[str]:
    """Registered metrics of the :data:`DEFAULT_CATEGORIES` that need no sensitive column
    (no target unless one is given, no sequence spec unless ``sequence``); with
    ``sequence``, the sequence metrics too."""
    from ouroboros import metrics as registry

    names = []
    for name in registry.names():
        metric = registry.get(name)
        needs = set(getattr(metric, "requires", ()))
        categories = (*DEFAULT_CATEGORIES, "sequence") if sequence else DEFAULT_CATEGORIES
        if metric.category not in categories or "sensitive" in needs:
            continue
        if "target" in needs and target is None:
            continue
        if "sequence" in needs and not sequence:
            continue
        names.append(name)
    return names


class CollapseExperiment:
    """Recursive training of one generator under several strategies and seeds.

    Parameters
    ----------
    synthesizer:
        A registry name (``"gaussian_copula"``), a ``(name, params)`` pair, or an unfitted
        :class:`~ouroboros.synthesizers.Synthesizer`; each generation trains a fresh copy
        (same class and parameters, its own seed).
    real:
        The real table (DataFrame, or a CSV/Parquet path).
    holdout:
        Real rows kept out of training for evaluation: a table, a path, or the fraction
        of ``real`` to set aside (split with the first seed).
    generations:
        Generations per trajectory; generation 0 trains on real data.
    strategy:
        One or more strategies (names such as ``"mix:0.2"``, comma-separated text, or
        :class:`~ouroboros.collapse.strategies.Strategy` objects).
    seeds:
        A number of seeds (``3`` means 0, 1, 2) or the seeds themselves.
    sample_size:
        Training units per generation (and synthetic units evaluated): rows of a plain
        table, whole entities of a sequence table with a key, steps of one series; by
        default the most every strategy can afford from the real training data.
    metrics:
        Metric names; by default every registered metric of :data:`DEFAULT_CATEGORIES`.
    target:
        Target column, for utility metrics.
    schema:
        The table's schema (a :class:`~ouroboros.schema.Schema`, its dict or a JSON path);
        by default detected. Give one with a sequence spec (``Schema.with_sequence``) to
        run a sequence generator: the lab then works in whole entities (one series: in
        contiguous stretches, the holdout its last stretch in time; see
        :mod:`ouroboros.collapse.units`), and the sequence metrics join the default ones.
    """

    def __init__(
        self,
        synthesizer: Any,
        real: pd.DataFrame | str | os.PathLike,
        *,
        holdout: pd.DataFrame | float | str | os.PathLike,
        generations: int,
        strategy: str | Strategy | Sequence[str | Strategy],
        seeds: int | Sequence[int],
        sample_size: int | None = None,
        metrics: Sequence[str] | None = None,
        target: str | None = None,
        schema: Any = None,
    ):
        self.synthesizer = synthesizer
        self.real = real
        self.holdout = holdout
        self.generations = generations
        self.strategy = strategy
        self.seeds = seeds
        self.sample_size = sample_size
        self.metrics = metrics
        self.target = target
        self.schema = schema

    # ------------------------------------------------------------ validation
    def _synthesizer_spec(self) -> dict[str, Any]:
        from ouroboros import synthesizers
        from ouroboros.synthesizers.base import Synthesizer

        spec = self.synthesizer
        if isinstance(spec, Synthesizer):
            return {"cls": type(spec), "params": spec.get_params()}
        if isinstance(spec, str):
            name, params = spec, {}
        elif isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str):
            name, params = spec[0], dict(spec[1] or {})
        else:
            raise ParameterError(
                "parameter 'synthesizer' must be a registry name, a (name, params) pair or an "
                f"unfitted Synthesizer; got {spec!r}"
            )
        synthesizers.create(name, **params)  # checks the name and parameter names
        return {"cls": name, "params": params}

    def _strategies(self) -> tuple[Strategy, ...]:
        given = self.strategy
        if isinstance(given, (str, Strategy)):
            given = [given]
        items: list[str | Strategy] = []
        for item in given:
            if isinstance(item, str):
                items += [part for part in item.split(",") if part.strip()]
            else:
                items.append(item)
        if not items:
            raise ParameterError("parameter 'strategy' names no strategy; e.g. 'replace'")
        parsed = tuple(parse(item) for item in items)
        specs = [p.spec for p in parsed]
        if len(set(specs)) != len(specs):
            raise ParameterError(f"parameter 'strategy' repeats a strategy: {specs}")
        return parsed

    def _seeds(self) -> list[int]:
        seeds = self.seeds
        if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
            check_param("seeds", seeds, seeds >= 1, "a positive number of seeds or a list of seeds")
            return list(range(int(seeds)))
        ok = (
            isinstance(seeds, Sequence)
            and len(seeds) > 0
            and all(
                isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0
                for s in seeds
            )
        )
        check_param(
            "seeds",
            seeds,
            ok and len(set(seeds)) == len(seeds),
            "a positive integer or a list of distinct non-negative integers",
        )
        return [int(s) for s in seeds]

    def _tables(self, seeds: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
        real = self.real if isinstance(self.real, pd.DataFrame) else read_table(self.real)
        if not isinstance(real, pd.DataFrame) or len(real) == 0:
            raise DataError("parameter 'real': the real table is empty")
        holdout = self.holdout
        if isinstance(holdout, pd.DataFrame):
            train = real.reset_index(drop=True)
        elif isinstance(holdout, (str, os.PathLike)):
            holdout, train = read_table(holdout), real.reset_index(drop=True)
        elif isinstance(holdout, (float, int)) and not isinstance(holdout, bool):
            check_param(
                "holdout", holdout, 0 < holdout < 1, "a fraction in (0, 1), a table or a path"
            )
            n_holdout = int(round(holdout * len(real)))
            if n_holdout < 2 or len(real) - n_holdout < 2:
                raise CollapseError(
                    f"holdout fraction {holdout} of {len(real)} rows leaves {n_holdout} holdout "
                    f"and {len(real) - n_holdout} training rows; both need at least 2"
                )
            order, n_holdout = _split_order(real, seeds[0], self._given_schema(), n_holdout)
            holdout = real.iloc[order[:n_holdout]].reset_index(drop=True)
            train = real.iloc[order[n_holdout:]].reset_index(drop=True)
        else:
            raise ParameterError(
                f"parameter 'holdout' must be a table, a path or a fraction; got {holdout!r}"
            )
        if len(holdout) == 0:
            raise CollapseError("the holdout has no rows; the lab evaluates against real rows")
        if list(holdout.columns) != list(train.columns):
            raise DataError(
                "the holdout must have the real table's columns in the same order; "
                f"got {list(holdout.columns)} and {list(train.columns)}"
            )
        if self.target is not None and self.target not in train.columns:
            raise ParameterError(
                f"parameter 'target': no column {self.target!r}; columns are {list(train.columns)}"
            )
        return train, holdout.reset_index(drop=True)

    def _given_schema(self) -> Schema | None:
        given = self.schema
        if given is None or isinstance(given, Schema):
            return given
        if isinstance(given, dict):
            return Schema.from_dict(given)
        if isinstance(given, (str, os.PathLike)):
            return Schema.load(given)
        raise ParameterError(
            f"parameter 'schema' must be a Schema, a dict or a JSON path; got {type(given).__name__}"
        )

    def _sequence(self):
        """The sequence spec of the given schema, or None."""
        given = self._given_schema()
        return None if given is None else given.sequence

    def _schema(self, train: pd.DataFrame) -> Schema:
        given = self._given_schema()
        return Schema.detect(train) if given is None else given.conform(train)

    def _size(self, chosen: tuple[Strategy, ...], n_real: int, unit: str = "rows") -> int:
        """Training units per generation: the given ``sample_size``, checked, or the most
        every strategy can afford from the ``n_real`` real training units."""
        generations = self.generations

        def fits(size: int) -> bool:
            return all(s.real_rows_needed(size, generations) <= n_real for s in chosen)

        if self.sample_size is not None:
            size = self.sample_size
            check_param(
                "sample_size", size, isinstance(size, int) and size >= 2, "an integer >= 2 or None"
            )
            if not fits(size):
                needs = {s.spec: s.real_rows_needed(size, generations) for s in chosen}
                raise CollapseError(
                    f"sample_size={size} needs more real training {unit} than the {n_real} "
                    f"available: {needs}; lower sample_size or give more {unit}"
                )
            return size
        if not fits(2):
            raise CollapseError(
                f"{n_real} real training {unit} are too few for these strategies over "
                f"{generations} generations"
            )
        low, high = 2, n_real  # the real units a strategy needs grow with the size
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (middle, high) if fits(middle) else (low, middle - 1)
        return low

    def _metric_names(self) -> tuple[str, ...]:
        from ouroboros import metrics as registry

        if self.metrics is None:
            return tuple(default_metrics(self.target, self._sequence() is not None))
        names = (self.metrics,) if isinstance(self.metrics, str) else tuple(self.metrics)
        known = set(registry.names())
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ParameterError(
                f"parameter 'metrics': unknown metrics {unknown}; available: {sorted(known)}"
            )
        return names

    def plan(self) -> Plan:
        """Validate every parameter and return the resolved experiment (no training)."""
        check_param(
            "generations",
            self.generations,
            isinstance(self.generations, int) and self.generations >= 1,
            "an integer >= 1",
        )
        seeds = self._seeds()
        chosen = self._strategies()
        synth = self._synthesizer_spec()
        train, holdout = self._tables(seeds)
        schema = self._schema(train)
        units = Units.of(schema)
        for strategy in chosen:
            strategy.check_units(units)
        return Plan(
            synthesizer=synth,
            strategies=chosen,
            seeds=tuple(seeds),
            generations=self.generations,
            sample_size=self._size(chosen, units.count(train), units.kind),
            metrics=self._metric_names(),
            target=self.target,
            train=train,
            holdout=holdout,
            schema=schema.to_dict(),
        )

    # ------------------------------------------------------------ running
    def run(
        self,
        workers: int = 1,
        checkpoint_dir: str | os.PathLike | None = None,
        resume: bool = False,
        *,
        runner: Any = None,
        progress: Progress | None = None,
    ) -> CollapseResult:
        """Run every (strategy, seed) trajectory and gather the results.

        ``workers`` processes run trajectories in parallel (a
        :class:`~ouroboros.runners.LocalRunner`) unless a ``runner`` is given.
        ``checkpoint_dir`` keeps every generation; with ``resume=True`` a run
        interrupted there continues where it stopped (without one, checkpoints go to a
        temporary folder removed afterwards). ``progress(done, total)`` is called as
        generations complete. Worker processes start fresh and import the calling script,
        so a script that runs with ``workers > 1`` must do so under
        ``if __name__ == "__main__":``.
        """
        check_param(
            "workers", workers, isinstance(workers, int) and workers >= 1, "an integer >= 1"
        )
        plan = self.plan()
        if checkpoint_dir is None:
            with tempfile.TemporaryDirectory(prefix="ouro-collapse-") as scratch:
                return _execute(plan, Path(scratch), workers, runner, progress)
        root = Path(checkpoint_dir)
        _claim(root, plan.config(), resume)
        return _execute(plan, root, workers, runner, progress)


def _execute(
    plan: Plan, root: Path, workers: int, runner: Any, progress: Progress | None
) -> CollapseResult:
    from ouroboros.runners import LocalRunner, Resources, Task

    tasks, folders = [], {}
    # parallel trajectories share the cores instead of each claiming them all
    threads = max(1, (os.cpu_count() or 1) // workers) if runner is None else None
    for strategy in plan.strategies:
        for seed in plan.seeds:
            key = f"{strategy.spec}|seed={seed}"
            folders[key] = trajectory_dir(root, strategy.spec, seed)
            kwargs = {
                "real": plan.train,
                "holdout": plan.holdout,
                "schema": plan.schema,
                "synthesizer": plan.synthesizer,
                "strategy": strategy,
                "seed": seed,
                "generations": plan.generations,
                "size": plan.sample_size,
                "metrics": list(plan.metrics),
                "target": plan.target,
                "checkpoint_dir": str(folders[key]),
                "threads": threads,
            }
            tasks.append(Task(key, run_trajectory, kwargs, Resources(cpus=1.0)))
    runner = runner or LocalRunner(workers)
    records = _collect(runner, tasks, folders, plan.generations, progress)
    return CollapseResult.from_records(records, plan.config())


def _split_order(
    real: pd.DataFrame, seed: int, schema: Schema | None, n_holdout: int
) -> tuple[np.ndarray, int]:
    """Row positions with the holdout's first, and the holdout's size: rows in random order;
    with a sequence key, whole entities in random order and the holdout ending with an
    entity; for one series, the last ``n_holdout`` steps in time, then the series from its
    start."""
    rng = np.random.default_rng([seed, _SPLIT])
    sequence = None if schema is None else schema.sequence
    if sequence is not None and sequence.key is None:
        order = entity_order(real, sequence, Units.of(schema).datetime_format)[0]
        return np.r_[order[len(real) - n_holdout :], order[: len(real) - n_holdout]], n_holdout
    if sequence is None:
        return rng.permutation(len(real)), n_holdout
    codes = pd.factorize(real[sequence.key], use_na_sentinel=False)[0]
    rank = rng.permutation(codes.max() + 1)[codes]
    order = np.lexsort((np.arange(len(real)), rank))
    ranks = rank[order]
    cut = int(np.searchsorted(ranks, ranks[min(n_holdout, len(real)) - 1], side="right"))
    return order, min(cut, len(real) - 2)


def trajectory_dir(root: str | os.PathLike, spec: str, seed: int) -> Path:
    """Checkpoint folder of one trajectory (``mix:0.2`` becomes ``mix-0.2``)."""
    slug = "".join(c if c.isalnum() or c in ".-_" else "-" for c in spec)
    return Path(root) / slug / f"seed-{seed}"


def _collect(
    runner: Any,
    tasks: list,
    folders: dict[str, Path],
    generations: int,
    progress: Progress | None,
) -> list[GenerationRecord]:
    """Run the tasks, reporting progress from the checkpoints while they run."""
    total = len(tasks) * generations
    done_queue: queue.Queue = queue.Queue()

    def consume() -> None:
        try:
            for result in runner.run(tasks):
                done_queue.put(result)
        except Exception as exc:  # surfaced in the calling thread below
            done_queue.put(exc)
        finally:
            done_queue.put(None)

    thread = threading.Thread(target=consume, name="ouroboros-collapse", daemon=True)
    thread.start()
    results: dict[str, Any] = {}
    reported = -1
    while True:
        try:
            item = done_queue.get(timeout=0.25)
        except queue.Empty:
            item = ...
        if isinstance(item, Exception):
            thread.join()
            raise item
        if item is None:
            break
        if item is not ...:
            results[item.key] = item
        if progress is not None:
            count = sum(_count_done(folders[k], generations) for k in folders)
            if count != reported:
                reported = count
                progress(count, total)
    thread.join()
    records: list[GenerationRecord] = []
    for task in tasks:
        result = results.get(task.key)
        trajectory = list(result.value) if result is not None and result.error is None else []
        if not trajectory:
            trajectory = read_records(folders[task.key], generations)
            if len(trajectory) < generations:
                error = result.error if result is not None else "the runner returned no result"
                lines = [ln for ln in str(error).strip().splitlines() if ln.strip()]
                trajectory.append(
                    GenerationRecord(
                        generation=len(trajectory),
                        strategy=task.kwargs["strategy"].spec,
                        seed=task.kwargs["seed"],
                        status="failed",
                        error=lines[-1] if lines else "unknown error",
                        traceback=str(error),
                    )
                )
        records += trajectory
    if progress is not None:
        progress(sum(_count_done(folders[k], generations) for k in folders), total)
    return records


def _count_done(folder: Path, generations: int) -> int:
    return sum((folder / f"gen-{g:03d}" / RECORD).is_file() for g in range(generations))


def _claim(root: Path, config: dict[str, Any], resume: bool) -> None:
    """Make ``root`` this experiment's checkpoint folder, or check it already is."""
    path = root / CONFIG
    if path.is_file():
        if not resume:
            raise CollapseError(
                f"{str(root)!r} already holds a collapse run; resume it (resume=True, "
                "--resume) or choose another folder"
            )
        stored = json.loads(path.read_text(encoding="utf-8"))
        keys = [k for k in config if k not in ("generations", "citations")]
        changed = [k for k in keys if json.dumps(stored.get(k)) != json.dumps(config[k])]
        if changed:
            raise CollapseError(
                f"cannot resume {str(root)!r}: the experiment differs from the checkpointed "
                f"one in {changed}; rerun with the same settings or choose another folder"
            )
    elif root.exists() and any(root.iterdir()):
        raise CollapseError(
            f"{str(root)!r} is not empty and holds no collapse run; choose an empty folder"
        )
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(config, indent=1))
