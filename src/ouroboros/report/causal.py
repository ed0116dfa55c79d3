"""The page of a causal model's graph: the DAG drawn, its edges listed, cut edges marked."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ouroboros.io import atomic_write_text
from ouroboros.report.figures import causal_graph
from ouroboros.report.templating import render


def render_graph(
    graph: dict[str, Any], removed: Sequence[Sequence[str]] = (), title: str | None = None
) -> str:
    """HTML for ``graph`` (``{"nodes": [...], "edges": [[parent, child], ...]}``)."""
    nodes, edges = list(graph["nodes"]), [tuple(e) for e in graph["edges"]]
    return render(
        "causal.html.j2",
        title=title or f"Causal graph: {len(nodes)} columns, {len(edges)} edges",
        image=causal_graph(nodes, edges, removed),
        edges=edges,
        removed={tuple(e) for e in removed},
        roots=[n for n in nodes if all(b != n for _, b in edges)],
    )


def write_graph(
    graph: dict[str, Any],
    path: str | os.PathLike,
    removed: Sequence[Sequence[str]] = (),
    title: str | None = None,
) -> Path:
    """Write :func:`render_graph` to ``path`` atomically."""
    return atomic_write_text(path, render_graph(graph, removed, title))
