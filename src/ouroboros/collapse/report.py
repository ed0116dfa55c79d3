"""The collapse lab's HTML report: one self-contained file, figures embedded, works offline.

One chart per metric (generations on the x-axis, one line per strategy with a band
spanning the seeds, generation 0 and the real-vs-real ceiling marked), the training-set
provenance of each strategy, the reference model's prediction for the same strategies,
and a plain-language summary. Every string from the data goes through jinja2's
autoescaping.
"""

from __future__ import annotations

import base64
import io
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np
from matplotlib.figure import Figure

from ouroboros import __version__
from ouroboros.collapse import reference, strategies
from ouroboros.io import atomic_write_text

if TYPE_CHECKING:
    from ouroboros.collapse.result import CollapseResult

_PALETTE = [
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
]
#: categorical columns and trials the theory panel simulates (a few seconds at most)
_THEORY_COLUMNS = 8
_THEORY_TRIALS = 64


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _colors(names: list[str]) -> dict[str, str]:
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(names)}


def metric_chart(result: CollapseResult, metric: str, colors: dict[str, str]) -> str:
    """Mean over seeds per strategy, a min-max band, generation 0 and the ceiling marked."""
    info = result.metrics.set_index("metric").loc[metric]
    curves = result.curves(metric)
    fig = Figure(figsize=(5.6, 3.4))
    ax = fig.add_subplot()
    for strategy in result.strategies:
        curve = curves[curves["strategy"] == strategy]
        if curve.empty:
            continue
        x = curve["generation"].to_numpy()
        ax.plot(x, curve["mean"], marker="o", ms=3, lw=1.6, color=colors[strategy], label=strategy)
        if (curve["count"] > 1).any():
            ax.fill_between(x, curve["min"], curve["max"], color=colors[strategy], alpha=0.15, lw=0)
    ax.axvline(0, color="#555555", ls=":", lw=1)
    ceiling = info["ceiling"]
    if ceiling is not None and math.isfinite(ceiling):
        ax.axhline(ceiling, color="#333333", ls="--", lw=1, label="real vs real")
    ax.set_xlabel("generation (0 = trained on real data)")
    arrow = {"higher": "higher is better", "lower": "lower is better"}.get(info["direction"], "")
    ax.set_title(f"{metric}  ({info['category']}; {arrow})", fontsize=10)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    return _png(fig)


def provenance_chart(result: CollapseResult) -> str | None:
    """Composition of each strategy's training sets (first seed): real rows vs the
    synthetic rows of each earlier generation."""
    frame = result.provenance
    if frame.empty:
        return None
    seed = frame["seed"].min()
    names = [s for s in result.strategies if s in set(frame["strategy"])]
    generations = int(result.config.get("generations", frame["generation"].max() + 1))
    fig = Figure(figsize=(min(3.0 * len(names), 12), 2.8))
    axes = fig.subplots(1, len(names), squeeze=False, sharey=True)[0]
    cmap = _source_colors(generations)
    for ax, strategy in zip(axes, names, strict=True):
        rows = frame[(frame["strategy"] == strategy) & (frame["seed"] == seed)]
        bottom = np.zeros(generations)
        for source in [None, *range(generations)]:
            part = (
                rows[rows["source_generation"].isna()]
                if source is None
                else rows[rows["source_generation"] == source]
            )
            if part.empty:
                continue
            heights = np.zeros(generations)
            heights[part["generation"].to_numpy(dtype=int)] = part["rows"].to_numpy(dtype=float)
            ax.bar(
                np.arange(generations),
                heights,
                bottom=bottom,
                width=0.8,
                color=cmap(source),
                lw=0,
                label="real" if source is None else None,
            )
            bottom += heights
        ax.set_title(strategy, fontsize=9)
        ax.set_xlabel("generation", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("training rows", fontsize=8)
    axes[0].legend(fontsize=7, frameon=False, loc="upper left")
    return _png(fig)


def _source_colors(generations: int):
    def color(source: int | None) -> Any:
        if source is None:
            return "#2b8a3e"
        shade = 0.35 + 0.55 * source / max(generations - 1, 1)
        return (shade, shade * 0.55, 0.15)

    return color


def theory_curves(result: CollapseResult, seed: int = 0) -> dict[str, np.ndarray]:
    """Expected share of real categories still present per lab generation, per strategy,
    for frequency-fitted categorical models with the real columns' frequencies."""
    freqs = result.config.get("categorical_frequencies") or {}
    columns = sorted(freqs, key=lambda c: -len(freqs[c]))[:_THEORY_COLUMNS]
    generations = int(result.config.get("generations", 1))
    size = int(result.config.get("sample_size", 2))
    out = {}
    for spec in result.strategies:
        try:
            rule = strategies.parse(spec)
        except Exception:  # a strategy registered by a plugin the reference does not know
            continue
        if rule.name == "curate":
            # the reference's oracle verifier ranks whole categories at once (every row of
            # a category scores the same), unlike the lab's learned one: not comparable
            continue
        shares = []
        for column in columns:
            probs = np.asarray(freqs[column], dtype=float)
            if len(probs) < 2 or probs.sum() <= 0:
                continue
            try:
                sim = reference.simulate(
                    "categorical",
                    strategy=rule,
                    generations=generations,
                    sample_size=size,
                    trials=_THEORY_TRIALS,
                    seed=seed,
                    probs=probs / probs.sum(),
                )
            except ValueError:
                continue
            alive = (sim["probs"][:, 1:] > 0).sum(axis=2) / len(probs)
            shares.append(alive.mean(axis=0))
        if shares:
            out[spec] = np.mean(shares, axis=0)
    return out


def theory_chart(curves: dict[str, np.ndarray], colors: dict[str, str]) -> str:
    fig = Figure(figsize=(5.6, 3.4))
    ax = fig.add_subplot()
    for spec, curve in curves.items():
        ax.plot(
            np.arange(len(curve)), curve, ls="--", marker=".", color=colors.get(spec), label=spec
        )
    ax.axvline(0, color="#555555", ls=":", lw=1)
    ax.set_xlabel("generation (0 = trained on real data)")
    ax.set_ylabel("share of real categories kept")
    ax.set_title("reference model: categorical fitted by frequencies", fontsize=10)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    return _png(fig)


def render(result: CollapseResult, path: str | os.PathLike, *, theory: bool = True) -> Path:
    """Write the report of ``result`` to ``path``."""
    colors = _colors(result.strategies)
    drifts = {(d.strategy, d.metric): d for d in result.drift()}
    charts = []
    for row in result.metrics.itertuples(index=False):
        cells = []
        for strategy in result.strategies:
            d = drifts.get((strategy, row.metric))
            cells.append(
                None
                if d is None
                else {
                    "start": d.start,
                    "end": d.end,
                    "verdict": d.verdict,
                    "first": d.first,
                }
            )
        charts.append(
            {
                "metric": row.metric,
                "category": row.category,
                "direction": row.direction,
                "ceiling": row.ceiling,
                "png": metric_chart(result, row.metric, colors),
                "cells": cells,
            }
        )
    curves = theory_curves(result) if theory else {}
    config = result.config
    gens = result.generations
    rules = []
    for spec in result.strategies:
        mine = [d for d in drifts.values() if d.strategy == spec]
        keep = None
        if "keep_rate" in gens:
            rates = gens.loc[gens["strategy"] == spec, "keep_rate"].dropna()
            keep = float(rates.mean()) if len(rates) else None
        rules.append(
            {
                "spec": spec,
                "citation": (config.get("citations") or {}).get(spec, ""),
                "description": _description(spec),
                "degraded": sum(d.verdict == "degraded" for d in mine),
                "metrics": len(mine),
                "keep_rate": keep,
            }
        )
    html = _template().render(
        config=config,
        summary=result.summary(),
        charts=charts,
        strategies=result.strategies,
        rules=rules,
        provenance=provenance_chart(result),
        theory=theory_chart(curves, colors) if curves else None,
        failures=result.failures.to_dict("records") if len(result.failures) else [],
        version=__version__,
        fmt=_fmt,
    )
    atomic_write_text(path, html)
    return Path(path)


def _description(spec: str) -> str:
    try:
        return strategies.get(spec.partition(":")[0]).description
    except Exception:  # a strategy unknown to this installation: still render the report
        return ""


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _template() -> jinja2.Template:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_TEMPLATE)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Collapse lab: {{ config.synthesizer.name }}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1200px;padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{margin-top:2rem;border-bottom:1px solid #ddd}
.muted{color:#666;font-size:.9rem} .grid{display:flex;flex-wrap:wrap;gap:1rem}
.card{border:1px solid #e3e3e3;border-radius:6px;padding:.5rem;background:#fff}
.card img{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}
th{background:#f4f4f4} .degraded{color:#b00020;font-weight:600} .improved{color:#1b7f3a}
.summary li{margin:.3rem 0} code{background:#f4f4f4;padding:0 .2rem}
</style></head><body>
<h1>Collapse lab: {{ config.synthesizer.name }}</h1>
<p class="muted">{{ config.generations }} generations &times; {{ strategies|length }} strategies
&times; {{ config.seeds|length }} seeds (seeds {{ config.seeds|join(", ") }});
{{ config.sample_size }} training rows per generation from {{ config.train_rows }} real
training rows; evaluated against {{ config.holdout_rows }} real holdout rows.
ouroboros {{ version }}.</p>

<h2>Summary</h2>
<ul class="summary">{% for line in summary %}<li>{{ line }}</li>{% endfor %}</ul>
<p class="muted">A metric counts as degraded when the mean over seeds at the last generation
is worse than at generation 0 (in the metric's own direction) by more than 2% of the
metric's range (best to worst) and more than twice the typical seed-to-seed spread.</p>

<h2>Strategies</h2>
<table><tr><th>strategy</th><th>what it trains on</th><th>source</th>
<th>degraded metrics</th><th>curate keep rate</th></tr>
{% for r in rules %}<tr><td><code>{{ r.spec }}</code></td><td>{{ r.description }}</td>
<td>{{ r.citation }}</td><td>{{ r.degraded }} / {{ r.metrics }}</td>
<td>{{ fmt(r.keep_rate) if r.keep_rate is not none else "" }}</td></tr>{% endfor %}
</table>

<h2>Metrics by generation</h2>
<p class="muted">Lines: mean over seeds; bands: min to max over seeds; dotted line:
generation 0 (trained on real data); dashed line: the same metric on real holdout rows
(the real-vs-real ceiling).</p>
<div class="grid">{% for c in charts %}<div class="card">
<img alt="{{ c.metric }} by generation" src="data:image/png;base64,{{ c.png }}"></div>
{% endfor %}</div>

<h2>Generation 0 against the last generation</h2>
<table><tr><th>metric</th><th>category</th><th>better</th><th>ceiling</th>
{% for s in strategies %}<th>{{ s }}</th>{% endfor %}</tr>
{% for c in charts %}<tr><td>{{ c.metric }}</td><td>{{ c.category }}</td>
<td>{{ c.direction }}</td><td>{{ fmt(c.ceiling) }}</td>
{% for cell in c.cells %}<td{% if cell and cell.verdict in ("degraded", "improved") %}
 class="{{ cell.verdict }}"{% endif %}>{% if cell %}{{ fmt(cell.start) }} &rarr;
{{ fmt(cell.end) }}{% if cell.first is not none %} (from gen {{ cell.first }}){% endif %}
{% else %}n/a{% endif %}</td>{% endfor %}</tr>{% endfor %}
</table>

{% if provenance %}<h2>Where each training set came from</h2>
<p class="muted">Training rows per generation (first seed): green is real data; the
brown shades are synthetic rows, darker for later source generations.</p>
<div class="card"><img alt="training-set provenance" src="data:image/png;base64,{{ provenance }}">
</div>{% endif %}

{% if theory %}<h2>What the theory predicts</h2>
<p class="muted">The reference model of <code>ouroboros.collapse.reference</code>: each
categorical column's real frequencies refitted by counting {{ config.sample_size }} rows per
generation under the same strategies (Shumailov et al. 2024; categories lost are never
recovered without real data). <code>curate</code> is left out: its verifier there would be
an oracle, not the lab's learned one.</p>
<div class="card"><img alt="reference model prediction" src="data:image/png;base64,{{ theory }}">
</div>{% endif %}

{% if failures %}<h2>Failed generations</h2>
<table><tr><th>strategy</th><th>seed</th><th>generation</th><th>error</th></tr>
{% for f in failures %}<tr><td>{{ f.strategy }}</td><td>{{ f.seed }}</td>
<td>{{ f.generation }}</td><td>{{ f.error }}</td></tr>{% endfor %}</table>{% endif %}

<h2>Settings</h2>
<table><tr><th>synthesizer</th><td>{{ config.synthesizer.name }}
<code>{{ config.synthesizer.params }}</code></td></tr>
<tr><th>metrics</th><td>{{ config.metrics|join(", ") }}</td></tr>
<tr><th>target</th><td>{{ config.target if config.target else "none" }}</td></tr></table>
</body></html>
"""
