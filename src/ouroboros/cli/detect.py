"""``ouro detect``: is a table synthetic? Its lineage record, the catalog, the watermark."""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path
from typing import Any

import typer

from ouroboros.cli._common import console, step
from ouroboros.errors import ParameterError
from ouroboros.io import atomic_write_text, read_table
from ouroboros.lineage.detect import DEFAULT_SIGNIFICANCE, detect
from ouroboros.lineage.frames import training_lineage
from ouroboros.lineage.guard import SOURCE_KEY, SyntheticDataWarning, check, check_policy

STORE_HELP = "Catalog to search (a store URL; default: the run store's, if it exists)."


def detect_command(
    data: Path = typer.Argument(..., help="Table to test (CSV or Parquet)."),
    json_out: Path = typer.Option(None, "--json", help="Write the full result as JSON here."),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
    significance: float = typer.Option(
        DEFAULT_SIGNIFICANCE, "--significance", help="p-value under which rows count as marked."
    ),
) -> None:
    """Test DATA for synthetic rows: lineage record, catalog, then the keyed watermark."""
    from ouroboros.lineage.catalog import open_catalog

    with step(f"reading {data.name}"):
        table = read_table(data)
    catalog = open_catalog(store, create=False)
    try:
        with step(f"testing {len(table):,} rows"):
            result = detect(table, significance=significance, store=catalog)
    finally:
        if catalog is not None:
            catalog.close()
    _sequences_untestable(result)
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(result, indent=2, default=str) + "\n")
    test = result["watermark"]
    verdict = "synthetic" if result["synthetic"] else "no synthetic rows found"
    typer.echo(f"{data}: {verdict}")
    typer.echo(
        f"  rows {result['rows']:,}, estimated synthetic share {result['synthetic_share']:.1%}"
    )
    if test["can_test"]:
        typer.echo(
            f"  watermark p-value {result['p_value']:.3g} (key {test['key_id']}); "
            f"{test['rows_flagged']:,} rows flagged, {test['rows_flagged_by_chance']:.0f} "
            "expected by chance"
        )
    else:
        typer.echo(f"  watermark: cannot test this table: {test['reason']}")
    if result["lineage"] is not None:
        record = result["lineage"]
        typer.echo(
            f"  lineage: {record['kind']}, depth {record['depth']} ({record['content_hash'][:12]})"
        )
    for line in result["evidence"]:
        typer.echo(f"  evidence: {line}")
    if json_out is not None:
        console.print(f"result written to [bold]{json_out}[/]")


def _sequences_untestable(result: dict[str, Any]) -> None:
    """Mark the watermark test void when the table's record names a sequence generator
    and no watermark key: sequence samples carry no watermark, so their events would only
    be tested as rows that were never selected."""
    record = result["lineage"] or {}
    model = record.get("model")
    if not model or record.get("watermark_key_id") is not None:
        return
    from ouroboros.synthesizers.registry import get

    try:
        sequential = get(model["generator"]).tags.sequential
    except (ParameterError, ImportError):  # a generator unknown here, or its extra missing
        return
    if sequential:
        reason = (
            f"its lineage record names the sequence generator {model['generator']!r}, whose "
            "tables carry no watermark"
        )
        void = {"can_test": False, "reason": reason, "p_value": 1.0, "share": 0.0}
        result["watermark"] = {**result["watermark"], **void, "rows_flagged": 0}
        result["p_value"] = 1.0
        result["evidence"] = [e for e in result["evidence"] if e != "watermark"]
        result["synthetic"] = bool(result["evidence"])


def guard_options(guard: str, allow: bool, share: float, depth: int | None) -> dict[str, Any]:
    """The ``fit`` keyword arguments of ``ouro fit``'s guard options, checked now."""
    check_policy(guard, share, depth)
    return {
        "guard": guard,
        "allow_synthetic": allow,
        "max_synthetic_share": share,
        "max_depth": depth,
    }


def guarded_fit(model: Any, table: Any, path: Path, options: dict[str, Any], **fit: Any) -> None:
    """``model.fit(table, **fit)`` behind the guard, whose warning is printed as one line
    naming ``path`` (a generator whose ``fit`` takes no guard options is checked here)."""
    table.attrs[SOURCE_KEY] = str(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SyntheticDataWarning)
        if "guard" in inspect.signature(model.fit).parameters:
            model.fit(table, **fit, **options)
        else:
            record = training_lineage(table)
            policy = {k: v for k, v in options.items() if k != "guard"}
            model.guard_ = check(table, record, policy=options["guard"], **policy)
            model.fit(table, **fit)
    for item in caught:
        if issubclass(item.category, SyntheticDataWarning):
            console.print(f"warning: {item.message}", markup=False, soft_wrap=True)
        else:
            warnings.showwarning(item.message, item.category, item.filename, item.lineno)


def register(app: typer.Typer) -> None:
    app.command("detect")(detect_command)
