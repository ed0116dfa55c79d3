"""Side-by-side comparison of stored runs: a summary table and a self-contained HTML report.

A sweep's run stands for the runs of its cells.

The report has one chart per metric with one panel per run (generations on the
x-axis, shared y-axis), one line per strategy (mean over seeds) and a band from
the lowest to the highest seed. Figures are embedded as PNG; every string taken
from the store goes through jinja2's autoescaping.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from matplotlib.figure import Figure

from ouroboros import __version__
from ouroboros.errors import ParameterError
from ouroboros.io import atomic_write_text
from ouroboros.store.base import Run, Store

_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]
_NO_STRATEGY = "(none)"


def runs(store: Store, run_ids: Sequence[str]) -> list[Run]:
    """The runs named by ``run_ids`` (ids or prefixes), a sweep standing for its cells."""
    if not run_ids:
        raise ParameterError("give at least one run id to compare; `ouro runs list` shows them")
    found: list[Run] = []
    for run_id in run_ids:
        run = store.get_run(run_id)
        cells = store.list_runs(parent=run.id) if run.kind == "sweep" else []
        found += reversed(cells) if cells else [run]
    return list({run.id: run for run in found}.values())


def curves(store: Store, run_ids: Sequence[str]) -> pd.DataFrame:
    """Per run, strategy, metric and generation: mean, min and max over seeds."""
    frame = store.metrics([run.id for run in runs(store, run_ids)])
    frame = frame.dropna(subset=["generation"]).assign(
        strategy=lambda f: f["strategy"].fillna(_NO_STRATEGY)
    )
    keys = ["run_id", "metric", "strategy", "generation"]
    if frame.empty:
        return pd.DataFrame(columns=[*keys, "mean", "min", "max", "seeds"])
    grouped = frame.groupby(keys, sort=False)["value"]
    out = grouped.agg(["mean", "min", "max", "count"]).reset_index()
    return out.rename(columns={"count": "seeds"})


def summary(store: Store, run_ids: Sequence[str]) -> pd.DataFrame:
    """One row per (metric, strategy), one column per run: the mean over seeds at the
    first and at the last generation (``first``/``last``), or the value of a metric
    logged without generations (in both)."""
    chosen = runs(store, run_ids)
    frame = store.metrics([run.id for run in chosen])
    frame = frame.assign(strategy=frame["strategy"].fillna(_NO_STRATEGY))
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for (run_id, metric, strategy), part in frame.groupby(
        ["run_id", "metric", "strategy"], sort=False
    ):
        timed = part.dropna(subset=["generation"])
        if timed.empty:
            first = last = part["value"].mean()
        else:
            by_generation = timed.groupby("generation")["value"].mean()
            first, last = by_generation.iloc[0], by_generation.iloc[-1]
        row = rows.setdefault((metric, strategy), {"metric": metric, "strategy": strategy})
        row[f"{run_id}:first"] = float(first)
        row[f"{run_id}:last"] = float(last)
    columns = ["metric", "strategy"] + [
        f"{r.id}:{end}" for r in chosen for end in ("first", "last")
    ]
    return pd.DataFrame(list(rows.values()), columns=columns)


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def metric_chart(data: pd.DataFrame, metric: str, runs: list[Run], colors: dict[str, str]) -> str:
    """One panel per run, side by side with a shared y-axis; a line and a seed band per
    strategy."""
    fig = Figure(figsize=(min(3.4 * len(runs), 14), 3.0))
    axes = fig.subplots(1, len(runs), squeeze=False, sharey=True)[0]
    mine = data[data["metric"] == metric]
    for ax, run in zip(axes, runs, strict=True):
        part = mine[mine["run_id"] == run.id]
        for strategy, curve in part.groupby("strategy", sort=False):
            curve = curve.sort_values("generation")
            x = curve["generation"].to_numpy(dtype=float)
            color = colors[strategy]
            ax.plot(x, curve["mean"], marker="o", ms=3, lw=1.5, color=color, label=strategy)
            if (curve["seeds"] > 1).any():
                ax.fill_between(x, curve["min"], curve["max"], color=color, alpha=0.15, lw=0)
        if part.empty:
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"{run.name} ({run.id[:8]})", fontsize=9)
        ax.set_xlabel("generation", fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if not part.empty:
            ax.legend(fontsize=7, frameon=False)
    axes[0].set_ylabel(metric, fontsize=8)
    fig.suptitle(metric, fontsize=10)
    return _png(fig)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_html(store: Store, run_ids: Sequence[str], path: str | os.PathLike) -> Path:
    """Write the comparison report of ``run_ids`` to ``path`` (one self-contained file)."""
    chosen = runs(store, run_ids)
    data = curves(store, [run.id for run in chosen])
    table = summary(store, [run.id for run in chosen])
    strategies = list(dict.fromkeys(data["strategy"]))
    colors = {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(strategies)}
    charts = [
        {"metric": metric, "png": metric_chart(data, metric, chosen, colors)}
        for metric in dict.fromkeys(data["metric"])
    ]
    rows = [
        {
            "metric": row["metric"],
            "strategy": row["strategy"],
            "cells": [(_fmt(row[f"{r.id}:first"]), _fmt(row[f"{r.id}:last"])) for r in chosen],
        }
        for row in table.to_dict("records")
    ]
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    html = env.from_string(_TEMPLATE).render(
        runs=[{"run": r, "config": json.dumps(r.config, indent=1, sort_keys=True)} for r in chosen],
        charts=charts,
        rows=rows,
        store=store.url,
        version=__version__,
    )
    atomic_write_text(path, html)
    return Path(path)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ouroboros: comparing {{ runs|length }} runs</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1300px;padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.5rem} h2{margin-top:2rem;border-bottom:1px solid #ddd}
.muted{color:#666;font-size:.9rem}
.card{border:1px solid #e3e3e3;border-radius:6px;padding:.5rem;margin:.6rem 0;background:#fff}
.card img{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4} pre{margin:0;font-size:.75rem;max-height:16rem;overflow:auto}
</style></head><body>
<h1>Comparing {{ runs|length }} runs</h1>
<p class="muted">From {{ store }}; ouroboros {{ version }}.</p>

<h2>Runs</h2>
<table><tr><th>id</th><th>name</th><th>kind</th><th>status</th><th>created</th>
<th>finished</th><th>configuration</th></tr>
{% for item in runs %}{% set r = item.run %}<tr><td><code>{{ r.id }}</code></td>
<td>{{ r.name }}</td><td>{{ r.kind }}</td><td>{{ r.status }}{% if r.error %}:
{{ r.error }}{% endif %}</td><td>{{ r.created }}</td><td>{{ r.finished or "" }}</td>
<td><pre>{{ item.config }}</pre></td></tr>{% endfor %}
</table>

<h2>Metrics by generation</h2>
<p class="muted">One panel per run, side by side on a shared scale. Lines: mean over
seeds; bands: lowest to highest seed.</p>
{% for c in charts %}<div class="card"><img alt="{{ c.metric }} by generation, per run"
src="data:image/png;base64,{{ c.png }}"></div>
{% else %}<p>None of these runs logged metrics by generation.</p>{% endfor %}

<h2>First and last generation</h2>
<table><tr><th>metric</th><th>strategy</th>
{% for item in runs %}<th>{{ item.run.name }} <code>{{ item.run.id[:8] }}</code></th>{% endfor %}
</tr>
{% for row in rows %}<tr><td>{{ row.metric }}</td><td>{{ row.strategy }}</td>
{% for first, last in row.cells %}<td>{{ first }} &rarr; {{ last }}</td>{% endfor %}</tr>
{% endfor %}</table>
</body></html>
"""
