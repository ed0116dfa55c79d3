"""The comparison of stored runs: one chart per metric with one panel per run (generations
on the x-axis, shared y-axis, a line and a seed band per strategy), and the first and
last generation of every metric side by side.

It renders what the store gathered: the runs (duck-typed: ``id``, ``name``, ``kind``,
``status``, ``error``, ``created``, ``finished``, ``config``), their curves and their
summary table (see :mod:`ouroboros.store.compare`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ouroboros.io import atomic_write_text
from ouroboros.report import figures, templating


def _charts(runs: Sequence[Any], curves: Any) -> list[dict]:
    palette = figures.colours(list(dict.fromkeys(curves["strategy"])))
    charts = []
    for metric in dict.fromkeys(curves["metric"]):
        mine = curves[curves["metric"] == metric]
        panels = [(f"{run.name} ({run.id[:8]})", mine[mine["run_id"] == run.id]) for run in runs]
        charts.append(
            {"metric": metric, "image": figures.generation_chart(panels, palette, title=metric)}
        )
    return charts


def render_compare(runs: Sequence[Any], curves: Any, summary: Any, *, store: str = "") -> str:
    """The comparison report as HTML text.

    ``curves`` has the columns run_id, metric, strategy, generation, mean, min, max and
    seeds; ``summary`` one row per metric and strategy with the columns
    ``<run id>:first`` and ``<run id>:last``; ``store`` names where the runs came from.
    """
    rows = [
        {
            "metric": row["metric"],
            "strategy": row["strategy"],
            "cells": [(row.get(f"{r.id}:first"), row.get(f"{r.id}:last")) for r in runs],
        }
        for row in summary.to_dict("records")
    ]
    return templating.render(
        "compare.html.j2",
        runs=[{"run": r, "config": json.dumps(r.config, indent=1, sort_keys=True)} for r in runs],
        charts=_charts(runs, curves),
        rows=rows,
        store=store,
    )


def write_compare(
    runs: Sequence[Any], curves: Any, summary: Any, path: str | os.PathLike, *, store: str = ""
) -> Path:
    """Write :func:`render_compare`'s report to ``path`` atomically and return the path."""
    return atomic_write_text(path, render_compare(runs, curves, summary, store=store))
