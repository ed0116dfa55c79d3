"""Running a sweep: one collapse experiment per cell, all on one runner, each kept in the store."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ouroboros.collapse import CollapseExperiment, CollapseResult
from ouroboros.collapse.result import CHECKPOINTS
from ouroboros.errors import CollapseError, OuroborosError
from ouroboros.runners import Runner, get_runner
from ouroboros.store import Store, open_store
from ouroboros.sweep.batching import Batch, BatchMember
from ouroboros.sweep.config import Cell, SweepConfig, slug

Progress = Callable[[int, int], None]


@dataclass
class SweepResult:
    """What a sweep produced: its run id, and per cell its run id, result or error."""

    sweep_id: str
    run_ids: dict[str, str]
    results: dict[str, CollapseResult]
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
    ``store`` to its ``store`` URL (else the default store); ``output`` (one result
    folder per cell, as :meth:`CollapseResult.save` writes it, with its checkpoints) to
    its ``output``, else ``runs/<name>``. With ``resume=True`` trajectories continue
    from their checkpoints. ``progress(done, total)`` counts generations.
    """
    if runner is None:
        settings = config.runner
        runner = get_runner(
            settings.get("name", "local"),
            workers=settings.get("workers", 1),
            address=settings.get("address"),
            max_retries=settings.get("max_retries"),
        )
    root = Path(output or config.output or Path("runs") / slug(config.name))
    experiments = _experiments(config, root, resume)
    store = store if isinstance(store, Store) else open_store(store or config.store)
    root.mkdir(parents=True, exist_ok=True)
    sweep_id = store.create_run("sweep", config.name, {**config.to_dict(), "output": str(root)})
    run_ids = {
        cell.key: store.create_run(
            "collapse", cell.key, _cell_config(config, cell, root), parent=sweep_id
        )
        for cell in config.cells
    }
    outcome = SweepResult(sweep_id, run_ids, {}, {}, root)
    finished: set[str] = set()
    try:
        _execute(config, experiments, root, runner, resume, progress, store, outcome, finished)
    finally:
        for key, run_id in run_ids.items():
            if key not in finished:
                store.finish_run(run_id, "interrupted")
        if len(finished) < len(run_ids):
            status = "interrupted"
        else:
            status = "failed" if outcome.errors else "finished"
        store.finish_run(sweep_id, status, error=_errors_text(outcome.errors))
    return outcome


def _experiments(config: SweepConfig, root: Path, resume: bool) -> dict[str, CollapseExperiment]:
    """One validated experiment per cell; every cell that cannot start is reported at once."""
    experiments, problems, tables = {}, [], {}
    for cell in config.cells:
        try:
            if cell.dataset.name not in tables:
                tables[cell.dataset.name] = cell.dataset.load(config.seed)
            experiment = CollapseExperiment(
                (cell.synthesizer.name, cell.synthesizer.params),
                tables[cell.dataset.name],
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
    return experiments


def _cell_config(config: SweepConfig, cell: Cell, root: Path) -> dict[str, Any]:
    return {
        **config.to_dict(),
        "datasets": [cell.dataset.to_dict()],
        "synthesizers": [cell.synthesizer.to_dict()],
        "output": str(root / cell.folder),
    }


def _errors_text(errors: dict[str, str]) -> str | None:
    if not errors:
        return None
    key, message = next(iter(errors.items()))
    return f"{len(errors)} cell(s) failed; first: {key}: {message}"


def _execute(
    config: SweepConfig,
    experiments: dict[str, CollapseExperiment],
    root: Path,
    runner: Runner,
    resume: bool,
    progress: Progress | None,
    store: Store,
    outcome: SweepResult,
    finished: set[str],
) -> None:
    """Run the cells in threads over one batch; record each as it finishes."""
    batch = Batch(runner, len(experiments))
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

    def cell(key: str, experiment: CollapseExperiment) -> None:
        member = BatchMember(batch, key, cells[key].synthesizer.resources)
        try:
            result = experiment.run(
                checkpoint_dir=root / cells[key].folder / CHECKPOINTS,
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
    failure = _gather(done, len(experiments), root, cells, config.reports, store, outcome, finished)
    for thread in threads:
        thread.join()
    if failure is not None:
        raise failure


def _gather(
    done: queue.Queue,
    expected: int,
    root: Path,
    cells: dict[str, Cell],
    reports: bool,
    store: Store,
    outcome: SweepResult,
    finished: set[str],
) -> Exception | None:
    """Record the cells as they finish; return the runner's own failure, if any."""
    failure: Exception | None = None
    while len(finished) < expected:
        key, item = done.get()
        if key is None:
            failure = item
            continue
        run_id = outcome.run_ids[key]
        if isinstance(item, Exception):
            outcome.errors[key] = f"{type(item).__name__}: {item}"
            store.finish_run(run_id, "failed", error=outcome.errors[key])
        else:
            _record(store, run_id, item, root / cells[key].folder, reports, outcome, key)
        finished.add(key)
    return failure


def _record(
    store: Store,
    run_id: str,
    result: CollapseResult,
    folder: Path,
    report: bool,
    outcome: SweepResult,
    key: str,
) -> None:
    """Save one cell's result folder and log it in the store."""
    store.log_metrics(run_id, result.table)
    store.log_provenance(run_id, result.provenance)
    for name, path in result.save(folder, report=report).items():
        store.log_artifact(run_id, name, path)
    store.log_artifact(run_id, CHECKPOINTS, folder / CHECKPOINTS)
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
