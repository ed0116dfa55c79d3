"""``ouro collapse``: run the collapse lab on a table and write results, checkpoints, report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ouroboros.cli._common import console, parse_params, sequence_schema
from ouroboros.cli.lineage import STORE_HELP, catalog_tables
from ouroboros.collapse.result import CHECKPOINTS
from ouroboros.errors import CollapseError, ParameterError
from ouroboros.io import read_table

if TYPE_CHECKING:
    import pandas as pd

    from ouroboros.collapse import CollapseExperiment, CollapseResult
    from ouroboros.runners import Runner
    from ouroboros.schema import Schema


def _seeds(text: str) -> int | list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise ParameterError(
            f"--seeds takes a number of seeds (3) or a list (0,5,9); got {text!r}"
        ) from None
    if len(numbers) == 1 and "," not in text:
        return numbers[0]
    return numbers


def _real(
    data: Path, schema: Path | None, key: str | None, index: str | None
) -> tuple[Path | pd.DataFrame, Schema | Path | None]:
    """The real table (a path, or the table read once when a sequence spec is given on the
    command line) and the schema to run with."""
    if key is None and index is None:
        return data, schema
    real = read_table(data)
    return real, sequence_schema(real, schema, key, index)


def _unit(schema: Schema | Path | None) -> str:
    """What the lab counts: rows, or the entities or steps of a sequence table."""
    from ouroboros.collapse.units import Units
    from ouroboros.schema import Schema

    return Units.of(Schema.load(schema) if isinstance(schema, Path) else schema).kind


def collapse(
    data: Path = typer.Argument(..., help="Real table (CSV or Parquet)."),
    synth: str = typer.Option("gaussian_copula", "--synth", "-s", help="Generator name."),
    param: list[str] = typer.Option(None, "--param", "-p", help="Generator KEY=VALUE."),
    generations: int = typer.Option(10, "--generations", "-g", help="Generations per run."),
    strategy: str = typer.Option(
        "replace,accumulate",
        "--strategy",
        help="Comma-separated strategies: replace, accumulate, accumulate-subsample, "
        "mix:λ, fresh:λ, curate[:keep].",
    ),
    seeds: str = typer.Option("3", "--seeds", help="Number of seeds (3) or a list (0,5,9)."),
    holdout_frac: float = typer.Option(
        0.3, "--holdout-frac", help="Share of DATA kept out of training for evaluation."
    ),
    holdout: Path = typer.Option(
        None, "--holdout", help="Real holdout table instead of --holdout-frac."
    ),
    sample_size: int = typer.Option(
        None,
        "--sample-size",
        help="Training rows (entities of a sequence table) per generation; default: as many "
        "as fit.",
    ),
    metrics: str = typer.Option(
        None, "--metrics", help="Comma-separated metric names (default: the lab's set)."
    ),
    target: str = typer.Option(None, "--target", help="Target column, for utility metrics."),
    schema: Path = typer.Option(None, "--schema", help="Schema JSON (from `ouro schema`)."),
    sequence_key: str = typer.Option(
        None, "--sequence-key", help="Entity column: one sequence per value (sequence models)."
    ),
    sequence_index: str = typer.Option(
        None, "--sequence-index", help="Order column of the events: a datetime or step number."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for results and report."),
    workers: int = typer.Option(1, "--workers", "-w", help="Parallel worker processes."),
    runner: str = typer.Option("local", "--runner", help="local or ray."),
    address: str = typer.Option(None, "--address", help="Ray address (auto or HOST:PORT)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in -o."),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Retrain a generator on its own output for several generations and report collapse.

    Every generation's sample carries its lineage record and is kept in the lineage
    catalog (`--store`)."""
    from ouroboros.collapse import CollapseExperiment
    from ouroboros.runners import get_runner

    if output.exists() and any(output.iterdir()) and not resume:
        raise CollapseError(
            f"{str(output)!r} is not empty; pass --resume to continue the run there or "
            "choose another folder"
        )
    real, given = _real(data, schema, sequence_key, sequence_index)
    experiment = CollapseExperiment(
        (synth, parse_params(param)),
        real,
        holdout=holdout if holdout is not None else holdout_frac,
        generations=generations,
        strategy=strategy,
        seeds=_seeds(seeds),
        sample_size=sample_size,
        metrics=[m.strip() for m in metrics.split(",") if m.strip()] if metrics else None,
        target=target,
        schema=given,
    )
    plan = experiment.plan()
    unit = _unit(given)
    console.print(
        f"{synth}: {generations} generations x {len(plan.strategies)} strategies x "
        f"{len(plan.seeds)} seeds, {plan.sample_size:,} training {unit} per generation, "
        f"{len(plan.metrics)} metrics"
    )
    chosen = None if runner == "local" else get_runner(runner, workers=workers, address=address)
    output.mkdir(parents=True, exist_ok=True)
    result = _run(experiment, output, workers, resume, chosen)
    _save(result, output, store)


def _save(result: CollapseResult, output: Path, store: str | None) -> None:
    """Write the results and report, catalog every generation's sample, print the summary."""
    paths = result.save(output)
    kept = catalog_tables(sorted((output / CHECKPOINTS).glob("**/gen-*/sample.parquet")), store)
    console.print(f"{kept} generation samples kept in the lineage catalog", markup=False)
    for line in result.summary():
        console.print(f"- {line}", markup=False, highlight=False)
    if len(result.failures):
        console.print(f"[yellow]{len(result.failures)} generation(s) failed; see the report[/]")
    console.print(f"results in [bold]{paths['results']}[/], report in [bold]{paths['report']}[/]")


def _run(
    experiment: CollapseExperiment, output: Path, workers: int, resume: bool, runner: Runner | None
) -> CollapseResult:
    """Run the experiment with a progress bar, checkpointing under ``output``."""
    with Progress(
        TextColumn("generations"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("collapse", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return experiment.run(
            workers=workers,
            checkpoint_dir=output / CHECKPOINTS,
            resume=resume,
            runner=runner,
            progress=progress,
        )


def register(app: typer.Typer) -> None:
    app.command("collapse")(collapse)
