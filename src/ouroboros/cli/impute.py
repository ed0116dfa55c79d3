"""``ouro impute``: fill the missing cells of a table from a saved model."""

from __future__ import annotations

from pathlib import Path

import typer

from ouroboros import synthesizers
from ouroboros.cli._common import console, parse_params, step
from ouroboros.errors import ParameterError
from ouroboros.io import read_table_format, write_table


def impute(
    model: Path = typer.Argument(..., help="Model file written by `ouro fit` (argn)."),
    data: Path = typer.Argument(..., help="Table with missing cells (.csv or .parquet)."),
    output: Path = typer.Option(..., "--output", "-o", help="Filled table to write."),
    seed: int = typer.Option(None, "--seed", help="Random seed (same seed, same fill)."),
    param: list[str] = typer.Option(
        None, "--param", "-p", help="Sampling setting KEY=VALUE, e.g. temperature=0.8."
    ),
) -> None:
    """Fill only the missing cells of DATA, each row given its observed cells."""
    loaded = synthesizers.load(model)
    if not hasattr(loaded, "impute"):
        raise ParameterError(f"a {loaded.name!r} model cannot impute; fit one with --synth argn")
    if param:
        loaded.set_params(**parse_params(param))
    frame, csv_format = read_table_format(data)
    holes = int(frame.isna().to_numpy().sum())
    with step(f"imputing {holes:,} missing cells"):
        filled = loaded.impute(frame, seed=seed)
    write_table(filled, output, csv_format)
    console.print(f"{holes:,} cells filled, written to [bold]{output}[/]")


def register(app: typer.Typer) -> None:
    app.command()(impute)
