"""Grids of collapse experiments declared in one TOML file, run on any runner, kept in the store.

A sweep crosses datasets × synthesizers; each cell is a
:class:`~ouroboros.collapse.CollapseExperiment` over the sweep's strategies × seeds.
The trajectories of every cell go to the runner as one batch, so a cluster is kept
busy across cells; each cell becomes a run in the store (metrics, provenance,
artifacts), grouped under one run for the sweep.

.. code-block:: toml

    name = "adult-grid"
    generations = 5
    seeds = 3                      # or [0, 1, 2]
    strategies = ["replace", "accumulate", "mix:0.2"]
    holdout = 0.3                  # fraction of each dataset kept out for evaluation
    reports = true                 # an HTML report per cell (default)
    metrics = ["tv_complement", "detection_auc"]   # optional (default: the lab's set)

    [[datasets]]
    name = "adult"
    path = "data/adult.csv.gz"     # relative to this file; or: builtin = "adult"
    target = "income"              # optional
    rows = 5000                    # optional: a random sample of the rows
    drop = ["split"]               # optional: columns to leave out

    [[synthesizers]]
    name = "gaussian_copula"

    [[synthesizers]]
    name = "ctgan"
    label = "ctgan-small"          # optional, to tell apart two uses of one generator
    params = { epochs = 20 }
    gpus = 0.25                    # optional: what each trajectory asks the runner for

    [runner]                       # optional; the command line overrides it
    name = "ray"
    address = "auto"
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ouroboros.errors import CollapseError, MissingDependencyError, OuroborosError, ParameterError
from ouroboros.io import read_table
from ouroboros.runners import Resources, Runner, Task, TaskResult, get_runner
from ouroboros.store import Store, open_store

Progress = Callable[[int, int], None]

_TOP_KEYS = {
    "name",
    "generations",
    "seeds",
    "strategies",
    "holdout",
    "sample_size",
    "metrics",
    "seed",
    "output",
    "store",
    "datasets",
    "synthesizers",
    "runner",
    "reports",
}
_DATASET_KEYS = {"name", "path", "builtin", "target", "rows", "drop"}
_SYNTH_KEYS = {"name", "label", "params", "cpus", "gpus"}
_RUNNER_KEYS = {"name", "workers", "address", "max_retries"}


def _toml() -> Any:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError as exc:
            raise MissingDependencyError(
                "reading sweep files on Python 3.10 needs tomli: pip install tomli"
            ) from exc
    return tomllib


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in ".-_" else "-" for c in text)


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the grid: a file or a bundled table, optionally sampled and trimmed."""

    name: str
    path: Path | None = None
    builtin: str | None = None
    target: str | None = None
    rows: int | None = None
    drop: tuple[str, ...] = ()

    def load(self, seed: int) -> pd.DataFrame:
        if self.path is not None:
            table = read_table(self.path)
        else:
            from ouroboros import datasets

            table = datasets.load(self.builtin)
        missing = [c for c in self.drop if c not in table.columns]
        if missing:
            raise ParameterError(
                f"dataset {self.name!r}: cannot drop {missing}; columns are {list(table.columns)}"
            )
        table = table.drop(columns=list(self.drop))
        if self.rows is not None and self.rows < len(table):
            keep = np.sort(np.random.default_rng(seed).choice(len(table), self.rows, replace=False))
            table = table.iloc[keep].reset_index(drop=True)
        return table

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": None if self.path is None else str(self.path),
            "builtin": self.builtin,
            "target": self.target,
            "rows": self.rows,
            "drop": list(self.drop),
        }


@dataclass(frozen=True)
class SynthesizerSpec:
    """One generator of the grid, with its hyper-parameters and a label unique in the sweep.

    ``cpus`` and ``gpus`` (a fraction shares a GPU) are what each of its trajectories
    asks the runner for; None keeps the lab's request (one CPU).
    """

    label: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    cpus: float | None = None
    gpus: float | None = None

    @property
    def resources(self) -> Resources | None:
        if self.cpus is None and self.gpus is None:
            return None
        default = Resources()
        return Resources(
            cpus=default.cpus if self.cpus is None else self.cpus,
            gpus=default.gpus if self.gpus is None else self.gpus,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "name": self.name,
            "params": self.params,
            "cpus": self.cpus,
            "gpus": self.gpus,
        }


@dataclass(frozen=True)
class Cell:
    """One (dataset, synthesizer) pair: a collapse experiment over every strategy and seed."""

    dataset: DatasetSpec
    synthesizer: SynthesizerSpec

    @property
    def key(self) -> str:
        return f"{self.dataset.name}/{self.synthesizer.label}"

    @property
    def folder(self) -> str:
        return f"{_slug(self.dataset.name)}__{_slug(self.synthesizer.label)}"


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep file; build it with :meth:`from_toml` or :meth:`from_dict`."""

    name: str
    datasets: tuple[DatasetSpec, ...]
    synthesizers: tuple[SynthesizerSpec, ...]
    strategies: tuple[str, ...]
    seeds: tuple[int, ...]
    generations: int
    holdout: float = 0.3
    sample_size: int | None = None
    metrics: tuple[str, ...] | None = None
    seed: int = 0
    output: Path | None = None
    store: str | None = None
    runner: dict[str, Any] = field(default_factory=dict)
    reports: bool = True

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> SweepConfig:
        """Read and validate a sweep file; relative paths in it are relative to its folder."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
            raise ParameterError(f"cannot read the sweep file {str(path)!r}: {exc}") from exc
        toml = _toml()
        try:
            data = toml.loads(text)
        except toml.TOMLDecodeError as exc:
            raise ParameterError(f"sweep file {str(path)!r} is not valid TOML: {exc}") from exc
        return cls.from_dict(data, base=path.parent, source=str(path))

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, base: str | os.PathLike = ".", source: str = "sweep"
    ) -> SweepConfig:
        """Validate a sweep given as a dict (the TOML structure); report every problem at once."""
        problems: list[str] = []
        base = Path(base)

        def need(ok: bool, message: str) -> bool:
            if not ok:
                problems.append(message)
            return ok

        def unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
            extra = sorted(set(table) - allowed)
            need(not extra, f"{where}: unknown keys {extra}; allowed: {sorted(allowed)}")

        if not isinstance(data, dict):
            raise ParameterError(f"{source}: a sweep must be a table of settings")
        unknown(data, _TOP_KEYS, "sweep")
        name = data.get("name", Path(source).stem)
        need(isinstance(name, str) and name != "", "'name' must be a non-empty string")
        generations = data.get("generations")
        need(
            _is_int(generations) and generations >= 1,
            f"'generations' must be an integer >= 1; got {generations!r}",
        )
        seeds = data.get("seeds", 1)
        if _is_int(seeds) and seeds >= 1:
            seeds = tuple(range(seeds))
        elif need(
            isinstance(seeds, list)
            and seeds
            and all(_is_int(s) and s >= 0 for s in seeds)
            and len(set(seeds)) == len(seeds),
            f"'seeds' must be a count >= 1 or a list of distinct seeds >= 0; got {seeds!r}",
        ):
            seeds = tuple(seeds)
        strategies = data.get("strategies")
        if isinstance(strategies, str):
            strategies = [s.strip() for s in strategies.split(",") if s.strip()]
        if need(
            isinstance(strategies, list)
            and strategies
            and all(isinstance(s, str) for s in strategies),
            f"'strategies' must be a list of strategy names; got {strategies!r}",
        ):
            from ouroboros.collapse import strategies as registry

            for spec in strategies:
                try:
                    registry.parse(spec)
                except OuroborosError as exc:
                    problems.append(f"strategy {spec!r}: {exc}")
        holdout = data.get("holdout", 0.3)
        need(
            isinstance(holdout, float) and 0 < holdout < 1,
            f"'holdout' must be a fraction in (0, 1); got {holdout!r}",
        )
        sample_size = data.get("sample_size")
        need(
            sample_size is None or (_is_int(sample_size) and sample_size >= 2),
            f"'sample_size' must be an integer >= 2; got {sample_size!r}",
        )
        metrics = data.get("metrics")
        if metrics is not None and need(
            isinstance(metrics, list) and metrics and all(isinstance(m, str) for m in metrics),
            f"'metrics' must be a list of metric names; got {metrics!r}",
        ):
            from ouroboros import metrics as metric_registry

            known = set(metric_registry.list())
            wrong = [m for m in metrics if m not in known]
            need(not wrong, f"unknown metrics {wrong}; available: {sorted(known)}")
        seed = data.get("seed", 0)
        need(_is_int(seed) and seed >= 0, f"'seed' must be an integer >= 0; got {seed!r}")
        output = data.get("output")
        need(output is None or isinstance(output, str), "'output' must be a folder path")
        store = data.get("store")
        need(store is None or isinstance(store, str), "'store' must be a URL")
        reports = data.get("reports", True)
        need(isinstance(reports, bool), f"'reports' must be true or false; got {reports!r}")

        datasets = _datasets(data.get("datasets"), base, need, unknown)
        synthesizers = _synthesizers(data.get("synthesizers"), need, unknown)
        runner = data.get("runner", {})
        if need(isinstance(runner, dict), "'runner' must be a table"):
            unknown(runner, _RUNNER_KEYS, "[runner]")
            need(
                runner.get("name", "local") in ("local", "ray"),
                f"[runner] 'name' must be local or ray; got {runner.get('name')!r}",
            )
            workers = runner.get("workers", 1)
            need(
                _is_int(workers) and workers >= 1,
                f"[runner] 'workers' must be >= 1; got {workers!r}",
            )
            address, retries = runner.get("address"), runner.get("max_retries")
            need(address is None or isinstance(address, str), "[runner] 'address' must be text")
            need(
                retries is None or (_is_int(retries) and retries >= 0),
                f"[runner] 'max_retries' must be an integer >= 0; got {retries!r}",
            )
        if problems:
            listing = "\n".join(f"- {p}" for p in problems)
            raise ParameterError(f"{source}: {len(problems)} problem(s) in the sweep:\n{listing}")
        return cls(
            name=name,
            datasets=tuple(datasets),
            synthesizers=tuple(synthesizers),
            strategies=tuple(strategies),
            seeds=seeds,
            generations=generations,
            holdout=holdout,
            sample_size=sample_size,
            metrics=None if metrics is None else tuple(metrics),
            seed=seed,
            output=None if output is None else base / output,
            store=store,
            runner=dict(runner),
            reports=reports,
        )

    @property
    def cells(self) -> list[Cell]:
        return [Cell(d, s) for d in self.datasets for s in self.synthesizers]

    @property
    def trajectories(self) -> int:
        return len(self.cells) * len(self.strategies) * len(self.seeds)

    def to_dict(self) -> dict[str, Any]:
        """The resolved sweep, as stored with its run."""
        return {
            "name": self.name,
            "datasets": [d.to_dict() for d in self.datasets],
            "synthesizers": [s.to_dict() for s in self.synthesizers],
            "strategies": list(self.strategies),
            "seeds": list(self.seeds),
            "generations": self.generations,
            "holdout": self.holdout,
            "sample_size": self.sample_size,
            "metrics": None if self.metrics is None else list(self.metrics),
            "seed": self.seed,
            "reports": self.reports,
        }


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _datasets(items: Any, base: Path, need, unknown) -> list[DatasetSpec]:
    if not need(
        isinstance(items, list) and items and all(isinstance(i, dict) for i in items),
        "the sweep needs at least one [[datasets]] table",
    ):
        return []
    specs = []
    for i, item in enumerate(items):
        where = f"[[datasets]] #{i + 1}"
        unknown(item, _DATASET_KEYS, where)
        path, builtin = item.get("path"), item.get("builtin")
        if not need(
            (path is None) != (builtin is None), f"{where}: give either 'path' or 'builtin'"
        ):
            continue
        if path is not None:
            path = base / path
            need(path.is_file(), f"{where}: no file {str(path)!r}")
        else:
            from ouroboros import datasets

            need(
                builtin in datasets.list(),
                f"{where}: no bundled dataset {builtin!r}; bundled: {datasets.list()}",
            )
        name = item.get("name", Path(str(path or builtin)).name.split(".")[0])
        rows, drop, target = item.get("rows"), item.get("drop", []), item.get("target")
        need(rows is None or (_is_int(rows) and rows >= 4), f"{where}: 'rows' must be >= 4")
        need(
            isinstance(drop, list) and all(isinstance(c, str) for c in drop),
            f"{where}: 'drop' must be a list of column names",
        )
        need(target is None or isinstance(target, str), f"{where}: 'target' must be a column name")
        specs.append(DatasetSpec(str(name), path, builtin, target, rows, tuple(drop or ())))
    names = [s.name for s in specs]
    need(len(set(names)) == len(names), f"dataset names must be unique; got {names}")
    return specs


def _synthesizers(items: Any, need, unknown) -> list[SynthesizerSpec]:
    if not need(
        isinstance(items, list) and items and all(isinstance(i, dict) for i in items),
        "the sweep needs at least one [[synthesizers]] table",
    ):
        return []
    from ouroboros import synthesizers

    specs = []
    for i, item in enumerate(items):
        where = f"[[synthesizers]] #{i + 1}"
        unknown(item, _SYNTH_KEYS, where)
        name, params = item.get("name"), item.get("params", {})
        if not need(isinstance(params, dict), f"{where}: 'params' must be a table"):
            continue
        try:
            synthesizers.create(name, **params)
        except OuroborosError as exc:
            problems_text = str(exc).splitlines()[0]
            need(False, f"{where}: {problems_text}")
            continue
        cpus, gpus = item.get("cpus"), item.get("gpus")
        for key, value in (("cpus", cpus), ("gpus", gpus)):
            need(
                value is None or (isinstance(value, (int, float)) and value >= 0),
                f"{where}: '{key}' must be a number >= 0; got {value!r}",
            )
        label = str(item.get("label", name))
        specs.append(SynthesizerSpec(label, name, dict(params), cpus, gpus))
    labels = [s.label for s in specs]
    need(
        len(set(labels)) == len(labels),
        f"synthesizer labels must be unique (set 'label' to tell them apart); got {labels}",
    )
    return specs


# ---------------------------------------------------------------------- batching
class _Batch:
    """Gathers the tasks that several experiments hand to their runners, runs them as one
    batch on the real runner, and gives each experiment back its own results."""

    def __init__(self, runner: Runner, members: int):
        self.runner = runner
        self.waiting = members
        self.lock = threading.Condition()
        self.tasks: list[Task] = []
        self.owners: dict[str, tuple[queue.Queue, str]] = {}
        self.inboxes: list[queue.Queue] = []

    def submit(
        self, member: str, tasks: Sequence[Task], resources: Resources | None
    ) -> queue.Queue:
        inbox: queue.Queue = queue.Queue()
        with self.lock:
            for task in tasks:
                key = f"{member}|{task.key}"
                resources_ = task.resources if resources is None else resources
                self.tasks.append(replace(task, key=key, resources=resources_))
                self.owners[key] = (inbox, task.key)
            self.inboxes.append(inbox)
            self.waiting -= 1
            self.lock.notify_all()
        return inbox

    def withdraw(self) -> None:
        with self.lock:
            self.waiting -= 1
            self.lock.notify_all()

    def run(self) -> None:
        with self.lock:
            self.lock.wait_for(lambda: self.waiting <= 0)
        try:
            for result in self.runner.run(self.tasks):
                inbox, key = self.owners[result.key]
                inbox.put(replace(result, key=key))
        except Exception as exc:
            for inbox in self.inboxes:
                inbox.put(exc)
            raise


class _Member(Runner):
    """The runner one experiment sees: its tasks join the sweep's batch."""

    def __init__(self, batch: _Batch, name: str, resources: Resources | None):
        self.batch = batch
        self.name = name
        self.resources = resources
        self.submitted = False

    def run(self, tasks: Sequence[Task]) -> Iterator[TaskResult]:
        if self.submitted:
            raise CollapseError(f"sweep cell {self.name!r} asked to run twice")
        self.submitted = True
        inbox = self.batch.submit(self.name, tasks, self.resources)
        for _ in range(len(tasks)):
            item = inbox.get()
            if isinstance(item, Exception):
                raise item
            yield item


# ---------------------------------------------------------------------- running
@dataclass
class SweepResult:
    """What a sweep produced: its run id, and per cell its run id, result or error."""

    sweep_id: str
    run_ids: dict[str, str]
    results: dict[str, Any]
    errors: dict[str, str]
    output: Path

    @property
    def ok(self) -> bool:
        return not self.errors


def run_sweep(
    config: SweepConfig,
    *,
    runner: Runner | None = None,
    store: Store | str | None = None,
    output: str | os.PathLike | None = None,
    resume: bool = False,
    progress: Progress | None = None,
) -> SweepResult:
    """Run every cell of ``config`` on ``runner`` and record each in ``store``.

    ``runner`` defaults to the sweep file's ``[runner]`` (else one local process);
    ``store`` to its ``store`` URL (else the default store); ``output`` (checkpoints,
    results and reports, one folder per cell) to its ``output``, else
    ``runs/<name>``. With ``resume=True`` trajectories continue from their
    checkpoints. ``progress(done, total)`` counts generations.
    """
    from ouroboros.collapse import CollapseExperiment

    if runner is None:
        settings = config.runner
        runner = get_runner(
            settings.get("name", "local"),
            workers=settings.get("workers", 1),
            address=settings.get("address"),
            max_retries=settings.get("max_retries"),
        )
    root = Path(output or config.output or Path("runs") / _slug(config.name))
    cells = config.cells
    experiments, problems, tables = {}, [], {}
    for cell in cells:
        try:
            if cell.dataset.name not in tables:
                tables[cell.dataset.name] = cell.dataset.load(config.seed)
            real = tables[cell.dataset.name]
            experiment = CollapseExperiment(
                (cell.synthesizer.name, cell.synthesizer.params),
                real,
                holdout=config.holdout,
                generations=config.generations,
                strategy=list(config.strategies),
                seeds=list(config.seeds),
                sample_size=config.sample_size,
                metrics=None if config.metrics is None else list(config.metrics),
                target=cell.dataset.target,
            )
            experiment.plan()
            experiments[cell.key] = experiment
        except OuroborosError as exc:
            problems.append(f"{cell.key}: {exc}")
        folder = root / cell.folder
        if not resume and folder.exists() and any(folder.iterdir()):
            problems.append(
                f"{cell.key}: {str(folder)!r} already holds results; resume (--resume) or "
                "choose another output folder"
            )
    if problems:
        listing = "\n".join(f"- {p}" for p in problems)
        raise CollapseError(f"the sweep {config.name!r} cannot start:\n{listing}")

    store = store if isinstance(store, Store) else open_store(store or config.store)
    root.mkdir(parents=True, exist_ok=True)
    sweep_id = store.create_run("sweep", config.name, {**config.to_dict(), "output": str(root)})
    run_ids = {
        cell.key: store.create_run(
            "collapse",
            cell.key,
            {
                **config.to_dict(),
                "datasets": [cell.dataset.to_dict()],
                "synthesizers": [cell.synthesizer.to_dict()],
                "output": str(root / cell.folder),
            },
            parent=sweep_id,
        )
        for cell in cells
    }
    outcome = SweepResult(sweep_id, run_ids, {}, {}, root)
    finished: set[str] = set()
    try:
        _execute(config, experiments, root, runner, resume, progress, store, outcome, finished)
    finally:
        for key, run_id in run_ids.items():
            if key not in finished:
                store.finish_run(run_id, "interrupted")
        if len(finished) < len(cells):
            status = "interrupted"
        else:
            status = "failed" if outcome.errors else "finished"
        store.finish_run(sweep_id, status, error=_errors_text(outcome.errors))
    return outcome


def _errors_text(errors: dict[str, str]) -> str | None:
    if not errors:
        return None
    key, message = next(iter(errors.items()))
    return f"{len(errors)} cell(s) failed; first: {key}: {message}"


def _execute(
    config: SweepConfig,
    experiments: dict[str, Any],
    root: Path,
    runner: Runner,
    resume: bool,
    progress: Progress | None,
    store: Store,
    outcome: SweepResult,
    finished: set[str],
) -> None:
    batch = _Batch(runner, len(experiments))
    cells = {cell.key: cell for cell in config.cells}
    done: queue.Queue = queue.Queue()
    total = config.trajectories * config.generations
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def report(key: str, count: int) -> None:
        if progress is None:
            return
        with lock:
            counts[key] = count
            progress(sum(counts.values()), total)

    def cell(key: str, experiment: Any) -> None:
        member = _Member(batch, key, cells[key].synthesizer.resources)
        try:
            result = experiment.run(
                checkpoint_dir=root / cells[key].folder / "checkpoints",
                resume=resume,
                runner=member,
                progress=lambda count, _total: report(key, count),
            )
            done.put((key, result))
        except Exception as exc:  # recorded as this cell's failure; the others go on
            done.put((key, exc))
        finally:
            if not member.submitted:
                batch.withdraw()

    def drive() -> None:
        try:
            batch.run()
        except Exception as exc:
            done.put((None, exc))

    threads = [
        threading.Thread(target=cell, args=(key, exp), name=f"sweep-{key}", daemon=True)
        for key, exp in experiments.items()
    ]
    threads.append(threading.Thread(target=drive, name="sweep-runner", daemon=True))
    for thread in threads:
        thread.start()
    failure: Exception | None = None
    while len(finished) < len(experiments):
        key, item = done.get()
        if key is None:
            failure = item
            continue
        run_id = outcome.run_ids[key]
        if isinstance(item, Exception):
            outcome.errors[key] = f"{type(item).__name__}: {item}"
            store.finish_run(run_id, "failed", error=outcome.errors[key])
        else:
            folder = root / cells[key].folder
            _record(store, run_id, item, folder, config.reports, outcome, key)
        finished.add(key)
    for thread in threads:
        thread.join()
    if failure is not None:
        raise failure


def _record(
    store: Store,
    run_id: str,
    result: Any,
    folder: Path,
    report: bool,
    outcome: SweepResult,
    key: str,
) -> None:
    """Write one cell's results (and report), and log them in the store."""
    store.log_metrics(run_id, result.table)
    store.log_provenance(run_id, result.provenance)
    store.log_artifact(run_id, "results", result.to_parquet(folder / "results.parquet"))
    if report:
        store.log_artifact(run_id, "report", result.to_html(folder / "report.html"))
    store.log_artifact(run_id, "checkpoints", folder / "checkpoints")
    outcome.results[key] = result
    failures = result.failures
    if len(failures):
        first = failures.iloc[0]
        error = (
            f"{len(failures)} trajectory(ies) stopped at a failed generation; first: "
            f"{first['strategy']} seed {first['seed']} generation {first['generation']}: "
            f"{first['error']}"
        )
        outcome.errors[key] = error
        store.finish_run(run_id, "failed", error=error)
    else:
        store.finish_run(run_id, "finished")
