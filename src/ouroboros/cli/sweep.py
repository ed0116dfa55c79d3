"""``ouro sweep CONFIG.toml``: a grid of collapse experiments on a local pool or Ray."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ouroboros.cli._common import console
from ouroboros.runners import RUNNERS, get_runner
from ouroboros.store import STORE_ENV, default_url
from ouroboros.sweep import SweepConfig, run_sweep


def sweep(
    config: Path = typer.Argument(..., help="Sweep file (TOML): datasets, synthesizers, grid."),
    runner: str = typer.Option(
        None, "--runner", help=f"Where tasks run: {' or '.join(RUNNERS)} (default: the file's)."
    ),
    workers: int = typer.Option(None, "--workers", "-w", min=1, help="Local worker processes."),
    address: str = typer.Option(
        None, "--address", help="Ray cluster: auto or HOST:PORT (default: a private local Ray)."
    ),
    max_retries: int = typer.Option(
        None, "--max-retries", min=0, help="Retries of a failed or lost task."
    ),
    store: str = typer.Option(
        None, "--store", help=f"Run store URL (default: the file's, ${STORE_ENV}, runs.db)."
    ),
    output: Path = typer.Option(
        None, "--output", "-o", help="Folder for checkpoints, results and reports."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoints."),
) -> None:
    """Run every (dataset, synthesizer) cell of a sweep file and keep the results in the store."""
    settings = SweepConfig.from_toml(config)
    chosen = dict(settings.runner)
    for key, value in (
        ("name", runner),
        ("workers", workers),
        ("address", address),
        ("max_retries", max_retries),
    ):
        if value is not None:
            chosen[key] = value
    executor = get_runner(
        chosen.get("name", "local"),
        workers=chosen.get("workers", 1),
        address=chosen.get("address"),
        max_retries=chosen.get("max_retries"),
    )
    url = store or settings.store or default_url()
    console.print(
        f"sweep {settings.name}: {len(settings.cells)} cells, {settings.trajectories} "
        f"trajectories x {settings.generations} generations on the {chosen.get('name', 'local')} "
        f"runner; store {url}",
        markup=False,
        highlight=False,
    )
    with Progress(
        TextColumn("generations"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("generations", total=settings.trajectories * settings.generations)
        result = run_sweep(
            settings,
            runner=executor,
            store=url,
            output=output,
            resume=resume,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    out = Console()
    table = Table("cell", "run", "status", title=Text(f"sweep {settings.name} ({result.sweep_id})"))
    for key, run_id in result.run_ids.items():
        status = "failed: " + result.errors[key] if key in result.errors else "finished"
        table.add_row(Text(key), Text(run_id), Text(status))
    out.print(table)
    where = f" --store {url}" if url != default_url() else ""
    out.print(
        f"results in {result.output}; compare the cells with: "
        f"ouro runs compare {result.sweep_id}{where} -o compare.html",
        markup=False,
        highlight=False,
    )
    if not result.ok:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add ``ouro sweep`` to ``app``."""
    app.command("sweep")(sweep)
