"""``ouro lineage FILE``: where a table came from (its ancestry tree, JSON, OpenLineage)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.console import Console

from ouroboros.lineage import (
    LineageRecord,
    attach_lineage,
    open_catalog,
    publish,
    recorded,
    row_hashes,
    training_lineage,
)
from ouroboros.lineage.tree import FileLineage, ancestry, inspect_table, render, tree
from ouroboros.store import STORE_ENV
from ouroboros.synthesizers.modelfile import read_training_lineage

STORE_HELP = (
    "Lineage catalog (the run store) URL, e.g. sqlite:///runs.db "
    f"(default: ${STORE_ENV}, else sqlite:///runs.db)."
)
_SOURCES = {
    "file": "its own record (Parquet metadata or CSV sidecar)",
    "catalog": "the catalog, found by its content hash",
    "none": "no record in the file or the catalog: it counts as real data",
    "model": "the model file's record of its training data",
}


def ensure_fit_lineage(model: Any, table: pd.DataFrame) -> None:
    """Give a model whose own ``fit`` kept no training lineage the lineage of ``table``."""
    if getattr(model, "training_lineage_", None) is None:
        model.training_lineage_ = training_lineage(table)


def sample_lineage(model: Any, table: pd.DataFrame, seed: int | None) -> None:
    """Attach a sampled table's record, if the model's ``sample`` did not (``write_table``
    then keeps it, and the row hashes, in the catalog)."""
    if recorded(table) is None:
        attach_lineage(model, table, seed)


def catalog_tables(paths: list[Path], store: str | None) -> int:
    """Keep the record and row hashes of every table in ``paths`` that carries a record
    (the collapse lab's ``sample.parquet`` files) in the catalog; how many were kept."""
    from ouroboros.io import read_table

    catalog, kept = None, 0
    try:
        for path in paths:
            table = read_table(path)
            record = recorded(table)
            if record is None:
                continue
            catalog = catalog or open_catalog(store, create=True)
            publish(record, catalog, row_hashes(table))
            kept += 1
    finally:
        if catalog is not None:
            catalog.close()
    return kept


def _inspect(path: Path, store) -> FileLineage:
    if path.suffix == ".ouro":
        found = read_training_lineage(path)
        if found is None:
            raise FileNotFoundError(
                f"{str(path)!r} records no training lineage (written before lineage records); "
                "refit the model to record it"
            )
        record = LineageRecord.from_dict(found)
        return FileLineage(path, record, "model", record.content_hash)
    return inspect_table(path, store)


def lineage(
    file: Path = typer.Argument(..., help="A table (CSV or Parquet) or a model file (.ouro)."),
    as_json: bool = typer.Option(False, "--json", help="Print the record and tree as JSON."),
    openlineage: Path = typer.Option(
        None, "--openlineage", help="Append OpenLineage run events (JSON lines) to this file."
    ),
    store: str = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Show where FILE came from: dataset <- model <- training data <- ..., with each
    table's generation depth and real share."""
    catalog = open_catalog(store, create=False)
    found = _inspect(file, catalog)
    nodes = tree(found.record, catalog)
    if openlineage is not None:
        from ouroboros.lineage.openlineage import events, write_events

        written = events(found.record, ancestry(found.record, catalog), path=file)
        write_events(openlineage, written)
        Console(stderr=True).print(
            f"{len(written)} OpenLineage events appended to {openlineage}", markup=False
        )
    if as_json:
        payload = {
            "file": str(file),
            "content_hash": found.content_hash,
            "source": found.source,
            "record": found.record.to_dict(ancestors=False),
            "tree": nodes,
        }
        typer.echo(json.dumps(payload, indent=1, ensure_ascii=False))
        return
    out = Console()
    out.print(f"{file}: lineage from {_SOURCES[found.source]}", markup=False)
    out.print(render(nodes, file.name))


def register(app: typer.Typer) -> None:
    app.command()(lineage)
