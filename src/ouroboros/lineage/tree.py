"""The ancestry of a table: its record, found in the file or the catalog, drawn as a tree.

``dataset <- model <- training data <- ...``: a synthetic table's child in the tree is
the model it was sampled from, whose child is the training table; a mixed table's
children are the tables it took rows from. Records come from the table's own record
(its embedded ancestors first), then the catalog; a table met twice (the accumulate
strategy trains on every earlier generation) is drawn once and referred to after.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ouroboros.io import read_table
from ouroboros.lineage.catalog import lookup
from ouroboros.lineage.frames import recorded, resolve
from ouroboros.lineage.hashing import content_hash, row_hashes
from ouroboros.lineage.record import LineageRecord
from ouroboros.store import Store

#: how many levels of ancestry a tree shows
MAX_LEVELS = 64


@dataclass(frozen=True)
class FileLineage:
    """The lineage found for a file: ``source`` says where the record came from
    (``"file"``: its Parquet metadata or sidecar; ``"catalog"``: the store, by content
    hash; ``"none"``: no record, so the table counts as real)."""

    path: Path
    record: LineageRecord
    source: str
    content_hash: str


def inspect_table(path: str | os.PathLike, store: Store | None = None) -> FileLineage:
    """Read ``path`` and find its lineage: its own record (checked against its content),
    else the catalog's record for its content hash, else none (real, depth 0)."""
    path = Path(path)
    frame = read_table(path)
    hashes = row_hashes(frame)
    key = content_hash(frame, hashes)
    own = recorded(frame)
    record = resolve(frame, store, hashes)
    if own is not None and own.content_hash in (key, *(p.content_hash for p in record.parents)):
        source = "file"  # its own record, or (edited since) the record of what it came from
    else:
        source = "none" if lookup(key, store) is None else "catalog"
    return FileLineage(path, record, source, key)


def ancestry(record: LineageRecord, store: Store | None = None) -> dict[str, LineageRecord]:
    """Every table of ``record``'s ancestry that a record is known for, by content hash:
    the embedded ancestors, then the catalog for the others (and their ancestors)."""
    known: dict[str, LineageRecord] = {record.content_hash: record}
    embedded = {k: v for k, v in record.ancestors.items()}
    queue = deque(p.content_hash for p in record.parents)
    while queue:
        key = queue.popleft()
        if key in known:
            continue
        if key in embedded:
            found: LineageRecord | None = LineageRecord.from_dict(embedded[key])
        else:
            found = lookup(key, store)
            if found is not None:
                embedded.update({k: v for k, v in found.ancestors.items() if k not in embedded})
        if found is None:
            continue
        known[key] = found
        queue.extend(p.content_hash for p in found.parents)
    return known


def _summary(record: LineageRecord) -> dict[str, Any]:
    return {
        "content_hash": record.content_hash,
        "kind": record.kind,
        "rows": record.rows,
        "depth": record.depth,
        "real_share": record.real_share,
        "synthetic_share": record.synthetic_share,
        "created": record.created,
        "watermark_key_id": record.watermark_key_id,
    }


def tree(record: LineageRecord, store: Store | None = None) -> dict[str, Any]:
    """The ancestry as nested JSON-able nodes.

    A node has ``table`` (content hash, kind, rows, depth, shares), ``model`` (for a
    synthetic table), ``rows_taken`` (rows its child took from it), ``parents`` and two
    flags: ``repeated`` (drawn earlier in the tree; its parents are left out) and
    ``missing`` (no record is known: only the parent's figures are).
    """
    known = ancestry(record, store)
    drawn: set[str] = set()

    def node(rec: LineageRecord, rows_taken: int | None, level: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "table": _summary(rec),
            "model": None if rec.model is None else rec.model.to_dict(),
            "rows_taken": rows_taken,
            "repeated": rec.content_hash in drawn,
            "missing": False,
            "parents": [],
        }
        if out["repeated"] or level >= MAX_LEVELS:
            return out
        drawn.add(rec.content_hash)
        for parent in rec.parents:
            found = known.get(parent.content_hash)
            if found is not None:
                out["parents"].append(node(found, parent.rows, level + 1))
                continue
            out["parents"].append(
                {
                    "table": {
                        "content_hash": parent.content_hash,
                        "kind": parent.kind,
                        "rows": None,
                        "depth": parent.depth,
                        "real_share": parent.real_share,
                        "synthetic_share": parent.synthetic_share,
                        "created": None,
                        "watermark_key_id": None,
                    },
                    "model": None,
                    "rows_taken": parent.rows,
                    "repeated": False,
                    "missing": True,
                    "parents": [],
                }
            )
        return out

    return node(record, None, 0)


# ---------------------------------------------------------------- drawing
def _table_label(table: dict[str, Any], name: str | None) -> str:
    title = name or table["content_hash"][:12]
    parts = [f"[bold]{title}[/]", table["kind"]]
    if table.get("rows") is not None:
        parts.append(f"{table['rows']:,} rows")
    parts.append(f"depth {table['depth']}")
    parts.append(f"real share {table['real_share']:.1%}")
    if table["kind"] != "real":
        what = "of training data" if table["kind"] == "synthetic" else "of rows"
        parts.append(f"synthetic share {table['synthetic_share']:.1%} {what}")
    if table.get("watermark_key_id"):
        parts.append(f"watermark key {table['watermark_key_id']}")
    return " · ".join(parts)


def _model_label(model: dict[str, Any]) -> str:
    seed = "" if model.get("seed") is None else f" seed {model['seed']}"
    draw = "" if model.get("sample_seed") is None else f", sample seed {model['sample_seed']}"
    file = f", file sha256 {model['file_sha256'][:12]}" if model.get("file_sha256") else ""
    return (
        f"model [cyan]{model['generator']}[/]{seed}{draw}, "
        f"ouroboros {model['library_version']}{file}"
    )


def render(node: dict[str, Any], name: str | None = None):
    """A :class:`rich.tree.Tree` of :func:`tree`'s nodes; the root is labelled ``name``."""
    from rich.markup import escape
    from rich.tree import Tree

    def add(parent: Tree | None, item: dict[str, Any], title: str | None, how: str) -> Tree:
        label = _table_label(item["table"], escape(title) if title else None)
        if item["rows_taken"] is not None and parent is not None:
            label = f"← {how} {item['rows_taken']:,} rows of " + label
        if item["repeated"]:
            label += " [dim](shown above)[/]"
        if item["missing"]:
            label += " [dim](no record in the file or the catalog)[/]"
        branch = Tree(label) if parent is None else parent.add(label)
        below, how = branch, "took"
        if item["model"] is not None:
            below, how = branch.add("← sampled from " + _model_label(item["model"])), "trained on"
        for child in item["parents"]:
            add(below, child, None, how)
        return branch

    return add(None, node, name, "took")
