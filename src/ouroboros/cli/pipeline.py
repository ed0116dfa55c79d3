"""``ouro pipeline run|status CONFIG.toml``: real data to a published synthetic table."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ouroboros.cli._common import console
from ouroboros.pipeline import StepOutcome, run, status

_STYLE = {
    "ran": "green",
    "recomputed": "yellow",
    "cached": "cyan",
    "done": "cyan",
    "blocked": "red",
    "corrupted": "yellow",
    "pending": "dim",
}


def _line(outcome: StepOutcome) -> None:
    ran = outcome.status in ("ran", "recomputed") and outcome.seconds is not None
    seconds = f" ({outcome.seconds:.1f} s)" if ran else ""
    what = {"cached": "cached, no work", "ran": "done"}.get(outcome.status, outcome.status)
    note = f": {outcome.note}" if outcome.note and outcome.status != "cached" else ""
    console.print(
        Text(f"{outcome.step:>9} ", style="bold")
        + Text(what, style=_STYLE.get(outcome.status, ""))
        + Text(f"{seconds}{note}")
    )


def run_command(
    config: Path = typer.Argument(..., help="Pipeline file (TOML)."),
    cache: Path = typer.Option(
        None, "--cache", help="Folder of cached step outputs (default: .ouro-pipeline beside it)."
    ),
) -> None:
    """Run source → schema → fit → sample → evaluate → gate → publish; cached steps are
    not repeated. Exit code 3 when the gate fails (nothing is published)."""
    result = run(
        config,
        cache=cache,
        say=lambda line: console.print(f"[dim]{line}[/]", highlight=False),
        on_step=_line,
    )
    if all(s.status == "cached" for s in result.steps):
        console.print("nothing to do: every step is cached")
    for attempt in result.attempts if len(result.attempts) > 1 else ():
        verdict = "passed" if attempt["passed"] else "failed: " + "; ".join(attempt["failed"])
        spec = attempt["generator"]
        fix = f", sample corrected by {attempt['correction']}" if attempt.get("correction") else ""
        console.print(
            Text(f"  attempt {attempt['attempt']} ", style="bold")
            + Text(f"{spec['name']} {spec['params']}{fix}: {verdict}")
        )
    for check in result.gate["checks"]:
        style = "green" if check["passed"] else "red"
        console.print(Text("     gate ") + Text(check["text"], style=style))
    console.print(f"report written to [bold]{result.report}[/]", highlight=False)
    if not result.passed:
        failed = len(result.gate["failed"])
        console.print(
            f"[red]the gate failed ({failed} threshold(s)): nothing was published[/]",
            highlight=False,
        )
        raise typer.Exit(code=result.exit_code)
    console.print(f"published [bold]{result.published}[/]", highlight=False)


def status_command(
    config: Path = typer.Argument(..., help="Pipeline file (TOML)."),
    cache: Path = typer.Option(None, "--cache", help="Folder of cached step outputs."),
) -> None:
    """Show each step: done (cached), pending, corrupted, or publish blocked by the gate."""
    table = Table("step", "state", "key", "seconds", "note")
    for outcome in status(config, cache=cache):
        table.add_row(
            Text(outcome.step),
            Text(outcome.status, style=_STYLE.get(outcome.status, "")),
            Text((outcome.key or "—")[:12]),
            Text("—" if outcome.seconds is None else f"{outcome.seconds:.1f}"),
            Text(outcome.note),
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add the ``pipeline`` command group to ``app``."""
    group = typer.Typer(
        help="Run a pipeline from one config: source to published synthetic table.",
        no_args_is_help=True,
    )
    group.command("run")(run_command)
    group.command("status")(status_command)
    app.add_typer(group, name="pipeline")
