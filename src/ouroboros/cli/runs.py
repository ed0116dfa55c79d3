"""``ouro runs list``, ``ouro runs show ID`` and ``ouro runs compare ID ID ...``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ouroboros.report.format import MISSING
from ouroboros.store import STORE_ENV, Store, compare, default_url, open_store, store_exists

STORE_HELP = (
    "Run store URL, e.g. sqlite:///runs.db or postgresql://USER@HOST:PORT/DB "
    f"(default: ${STORE_ENV}, else sqlite:///runs.db)."
)


def _store(url: str | None) -> Store:
    return open_store(url, create=False)


def _texts(*values: object) -> list[Text]:
    """Cells shown as they are: data never goes through rich markup."""
    return [Text("" if v is None else str(v)) for v in values]


def _fmt(value: float) -> str:
    return MISSING if value != value else f"{value:.4g}"


def list_runs(
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    kind: str = typer.Option(None, "--kind", help="Only runs of this kind (collapse, sweep...)."),
    status: str = typer.Option(None, "--status", help="Only runs with this status."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="Newest N runs."),
) -> None:
    """List the stored runs, newest first (an absent store simply has no runs yet)."""
    url, out = store or default_url(), Console()
    if not store_exists(url):
        out.print(f"no runs yet: there is no run store at {url}", markup=False)
        return
    opened = _store(url)
    runs = opened.list_runs(kind=kind, status=status, limit=limit)
    if not runs:
        out.print(f"no runs in {opened.url}", markup=False)
        return
    table = Table(title=Text(f"runs in {opened.url}"))
    for column in ("id", "created (UTC)", "kind", "name", "status", "parent"):
        table.add_column(column, no_wrap=column in ("id", "created (UTC)"), overflow="fold")
    for run in runs:
        created = run.created.replace("T", " ").removesuffix("+00:00")
        table.add_row(*_texts(run.id, created, run.kind, run.name, run.status, run.parent))
    out.print(table)


def show(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix of it)."),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Show one run: its configuration, environment, artifacts and metrics."""
    opened, out = _store(store), Console()
    run = opened.get_run(run_id)
    info = Table(show_header=False, title=f"run {run.id}")
    for field in ("name", "kind", "status", "created", "finished", "parent", "error"):
        value = getattr(run, field)
        if value:
            info.add_row(*_texts(field, value))
    info.add_row(*_texts("config", json.dumps(run.config, indent=1, sort_keys=True)))
    info.add_row(*_texts("environment", json.dumps(run.env, sort_keys=True)))
    out.print(info)
    children = opened.list_runs(parent=run.id)
    if children:
        ids = " ".join(child.id for child in children)
        out.print(f"{len(children)} runs belong to this one: {ids}", markup=False)
    artifacts = opened.artifacts(run.id)
    if artifacts:
        table = Table("artifact", "path", title="artifacts")
        for name, path in artifacts.items():
            table.add_row(*_texts(name, path))
        out.print(table)
    summary = compare.summary(opened, [run.id])
    if summary.empty:
        out.print("no metrics logged")
        return
    table = Table("metric", "strategy", "first generation", "last generation", title="metrics")
    for row in summary.to_dict("records"):
        first, last = _fmt(row[f"{run.id}:first"]), _fmt(row[f"{run.id}:last"])
        table.add_row(*_texts(row["metric"], row["strategy"], first, last))
    out.print(table)


def compare_runs(
    run_ids: list[str] = typer.Argument(
        ..., help="Run ids (or unique prefixes) to compare; a sweep stands for its cells."
    ),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    output: Path = typer.Option(
        None, "--output", "-o", help="Also write an HTML report with the curves side by side."
    ),
) -> None:
    """Compare runs: first and last generation of every metric, and optionally their curves."""
    opened, out = _store(store), Console()
    runs = compare.runs(opened, run_ids)
    ids = [run.id for run in runs]
    summary = compare.summary(opened, ids)
    table = Table(title="first -> last generation (mean over seeds)")
    table.add_column("metric")
    table.add_column("strategy")
    names = {run.id: run.name for run in runs}
    for run_id in ids:
        table.add_column(Text(f"{names[run_id]}\n{run_id[:8]}"))
    for row in summary.to_dict("records"):
        cells = [f"{_fmt(row[f'{i}:first'])} -> {_fmt(row[f'{i}:last'])}" for i in ids]
        table.add_row(*_texts(row["metric"], row["strategy"], *cells))
    out.print(table)
    if output is not None:
        compare.write_html(opened, ids, output)
        out.print(f"report written to {output}", markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``runs`` command group to ``app``."""
    runs = typer.Typer(
        help="Inspect and compare the runs kept in the run store.", no_args_is_help=True
    )
    runs.command("list")(list_runs)
    runs.command("show")(show)
    runs.command("compare")(compare_runs)
    app.add_typer(runs, name="runs")
