"""``ouro rules``, and the rules ``ouro fit --rules/--auto-rules`` applies."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from ouroboros.cli._common import console
from ouroboros.errors import ParameterError
from ouroboros.io import atomic_write_text, read_table
from ouroboros.schema import Schema
from ouroboros.synthesizers import Synthesizer


def read_rules(path: Path) -> list[str]:
    """Rules from a JSON file: a list of strings, or an object with a ``rules`` list
    (what ``ouro rules -o`` and ``ouro schema -o`` write)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ParameterError(f"--rules {str(path)!r} is not valid JSON: {exc}") from exc
    rules = data.get("rules", []) if isinstance(data, dict) else data
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise ParameterError(f"--rules {str(path)!r} must hold a list of rule strings")
    return rules


#: ``ouro fit`` discovers the rules of its data and keeps them unless ``--no-auto-rules``.
#: Measured by ``bench/rules.py`` (6 public tables, 5 generators, 2 seeds; README, Rules):
#: the discovered rules removed every violation (up to 81% of rows broke one without
#: them) and never cost quality beyond seed noise (SDMetrics quality up to +0.045,
#: detection AUC down by up to 0.13), for a fit time within +-25% and a discovery under 0.2 s
#: on 3,000 rows (6.6 s on 1,000,000 x 29).
AUTO_RULES = True


def auto_rules(model: Synthesizer, asked: bool | None) -> bool:
    """Whether ``ouro fit`` discovers rules: as ``asked`` (``--auto-rules`` or
    ``--no-auto-rules``), else :data:`AUTO_RULES`, except for fits that refuse rules:
    differentially private ones (rules found on the private rows would leak) and
    sequence generators."""
    if asked is not None:
        return asked
    private = model.tags.differential_privacy and bool(getattr(model, "dp", True))
    return AUTO_RULES and not (private or model.tags.sequential)


def fit_rules(
    table: pd.DataFrame,
    schema: Schema | Path | None,
    rules_file: Path | None,
    auto: bool,
    tolerance: float,
) -> list[str]:
    """The rules ``ouro fit`` passes on: those of ``rules_file``, then the discovered ones."""
    rules = read_rules(rules_file) if rules_file is not None else []
    if auto:
        detected = Schema.load(schema).conform(table) if schema else Schema.detect(table)
        found = detected.discover_rules(table, tolerance)
        rules += [f.rule for f in found]
        if found:
            console.print(
                f"{len(found)} rules discovered and kept (--no-auto-rules: none): "
                + "; ".join(f.rule for f in found)
            )
    return rules


def rules(
    data: Path = typer.Argument(..., help="Table (CSV or Parquet)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the rules JSON here."),
    tolerance: float = typer.Option(
        0.0, "--tolerance", help="Share of rows a proposed rule may break."
    ),
) -> None:
    """Propose the rules DATA obeys on every row (pass them to `ouro fit --rules`)."""
    table = read_table(data)
    found = Schema.detect(table).discover_rules(table, tolerance)
    listing = Table("rule", "family", "why it was kept")
    for finding in found:
        listing.add_row(finding.rule, finding.family, finding.reason)
    console.print(listing, markup=False)
    text = json.dumps(
        {
            "rules": [f.rule for f in found],
            "reasons": [{"rule": f.rule, "family": f.family, "reason": f.reason} for f in found],
        },
        indent=2,
        ensure_ascii=False,
    )
    if output is None:
        typer.echo(text)
        return
    atomic_write_text(output, text + "\n")
    console.print(f"{len(found)} rules written to [bold]{output}[/]")


def register(app: typer.Typer) -> None:
    app.command()(rules)
