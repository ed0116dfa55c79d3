"""``ouro evaluate``, ``ouro metrics`` and ``ouro report``: score synthetic data, list metrics."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ouroboros import metrics as metric_registry
from ouroboros import synthesizers
from ouroboros.cli._common import console, step
from ouroboros.errors import ParameterError
from ouroboros.io import read_table
from ouroboros.metrics import Evaluation, evaluate
from ouroboros.privacy.audit import model_privacy
from ouroboros.schema import Schema


def _check_output(path: Path | None, option: str) -> None:
    if path is not None and not path.parent.exists():
        raise ParameterError(
            f"{option} {str(path)!r}: folder {str(path.parent)!r} does not exist; create it first"
        )


def _print_scorecard(evaluation: Evaluation) -> None:
    table = Table("category", "score", "ceiling", "verdict")
    for row in evaluation.category_scores().itertuples():
        ceiling = "—" if row.ceiling is None or row.ceiling != row.ceiling else f"{row.ceiling:.2f}"
        table.add_row(row.category, f"{row.score:.2f}", ceiling, row.verdict)
    console.print(table)


def _print_privacy(record: dict) -> None:
    """The model's privacy record: guarantee, accountant, split and spends by mechanism."""
    table = Table("privacy record", "", show_header=True)
    for field, text in record["rows"]:
        table.add_row(field, text)
    console.print(table)
    if record["totals"]:
        totals = Table(*record["total_headers"], title="budget spends (each in the report)")
        for row in record["totals"]:
            totals.add_row(*row)
        console.print(totals)


def _from_model(model: Path | None, dag: Path | None) -> tuple[dict | None, object]:
    """The privacy record of the ``--model`` file, and the causal graph to draw: ``--dag``,
    else a causal model's own."""
    if model is None:
        return None, dag
    with step(f"reading the model file {model.name}"):
        loaded = synthesizers.load(model)
        privacy = model_privacy(loaded)
    return privacy, dag if dag is not None or not hasattr(loaded, "graph_") else loaded


def evaluate_command(
    real: Path = typer.Argument(..., help="Real training table (CSV or Parquet)."),
    synthetic: Path = typer.Argument(..., help="Synthetic table to score."),
    holdout: Path = typer.Option(
        None, "--holdout", help="Real rows the generator never saw: ceilings and privacy."
    ),
    target: str = typer.Option(None, "--target", help="Column to predict (utility)."),
    sensitive: str = typer.Option(None, "--sensitive", help="Sensitive column (fairness)."),
    schema: Path = typer.Option(None, "--schema", help="Schema JSON (else detected on REAL)."),
    metric: list[str] = typer.Option(
        None, "--metric", "-m", help="Only this metric (repeatable; see `ouro metrics`)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the subsamples and models."),
    output: Path = typer.Option(None, "--output", "-o", help="HTML report to write."),
    json_path: Path = typer.Option(None, "--json", help="JSON scores to write."),
    model: Path = typer.Option(
        None,
        "--model",
        help="Model file that drew SYNTHETIC: its privacy record is shown, and a causal "
        "model's graph drawn.",
    ),
    dag: Path = typer.Option(
        None,
        "--dag",
        help="Causal graph JSON, [[parent, child], ...], to draw and to adjust "
        "intervention_error by (before a causal --model's own).",
    ),
) -> None:
    """Score SYNTHETIC against REAL: fidelity, detection, diversity, privacy, utility,
    fairness and collapse indicators, each beside its ceiling when a holdout is given."""
    _check_output(output, "--output")
    _check_output(json_path, "--json")
    tables = {}
    for role, path in (("real", real), ("synthetic", synthetic), ("holdout", holdout)):
        if path is not None:
            with step(f"reading {role} table {path.name}"):
                tables[role] = read_table(path)
    loaded_schema = Schema.load(schema) if schema is not None else None
    privacy, graph = _from_model(model, dag)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("encoding", total=None)

        def report(name: str, done: int, total: int) -> None:
            progress.update(task, description=name or "done", completed=done, total=total)

        evaluation = evaluate(
            tables["real"],
            tables["synthetic"],
            holdout=tables.get("holdout"),
            target=target,
            sensitive=sensitive,
            metrics=metric or None,
            schema=loaded_schema,
            seed=seed,
            progress=report,
            graph=graph,
        )
    if privacy is not None:
        evaluation.info["privacy_record"] = privacy
        _print_privacy(privacy)
    _print_scorecard(evaluation)
    for name, reason in evaluation.skipped.items():
        console.print(f"[dim]skipped {name}: {reason}[/]", highlight=False)
    if json_path is not None:
        evaluation.to_json(json_path)
        console.print(f"scores written to [bold]{json_path}[/]", highlight=False)
    if output is not None:
        with step("writing the HTML report"):
            evaluation.to_html(output)
        console.print(f"report written to [bold]{output}[/]", highlight=False)


def metrics_command() -> None:
    """List the available metrics."""
    table = Table("metric", "category", "better", "needs", "description")
    for name in metric_registry.names():
        klass = metric_registry.get(name)
        table.add_row(
            name,
            klass.category,
            klass.direction,
            ", ".join(sorted(klass.requires)) or "—",
            klass.describe(),
        )
    console.print(table)


def report_command(
    scores: Path = typer.Argument(..., help="JSON scores written by `ouro evaluate --json`."),
    output: Path = typer.Option(..., "--output", "-o", help="HTML report to write."),
) -> None:
    """Render the HTML report again from saved JSON scores."""
    _check_output(output, "--output")
    Evaluation.from_json(scores.read_text(encoding="utf-8")).to_html(output)
    console.print(f"report written to [bold]{output}[/]", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate_command)
    app.command("metrics")(metrics_command)
    app.command("report")(report_command)
