"""The page of a causal model's graph: the DAG drawn, its edges listed, cut edges marked;
the same view is the graph section of the evaluation report."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ouroboros.io import atomic_write_text
from ouroboros.report.figures import causal_graph
from ouroboros.report.templating import render


def graph_view(graph: dict[str, Any], removed: Sequence[Sequence[str]] = ()) -> dict[str, Any]:
    """What a template draws of ``graph`` (``{"nodes": [...], "edges": [[parent, child], ...],
    "removed": [...]}`` optionally): the picture, the edges, the cut edges and the roots."""
    nodes, edges = list(graph["nodes"]), [tuple(e) for e in graph["edges"]]
    cut = [tuple(e) for e in (*graph.get("removed", ()), *removed)]
    return {
        "image": causal_graph(nodes, edges, cut),
        "nodes": nodes,
        "edges": edges,
        "removed": set(cut),
        "roots": [n for n in nodes if all(b != n for _, b in edges)],
    }


def render_graph(
    graph: dict[str, Any], removed: Sequence[Sequence[str]] = (), title: str | None = None
) -> str:
    """HTML for ``graph`` (``{"nodes": [...], "edges": [[parent, child], ...]}``)."""
    view = graph_view(graph, removed)
    title = title or f"Causal graph: {len(view['nodes'])} columns, {len(view['edges'])} edges"
    return render("causal.html.j2", title=title, graph=view)


def write_graph(
    graph: dict[str, Any],
    path: str | os.PathLike,
    removed: Sequence[Sequence[str]] = (),
    title: str | None = None,
) -> Path:
    """Write :func:`render_graph` to ``path`` atomically."""
    return atomic_write_text(path, render_graph(graph, removed, title))
