"""Every figure of the reports: matplotlib's Agg canvas, embedded as PNG data URIs.

One palette, one way to turn a figure into a ``data:image/png;base64,...`` string
(:func:`png`). Each chart takes plain data (lists, dicts, frames) and returns such a
string, or ``None`` when there is nothing to draw. No text of a figure is placed in
the HTML: names in figures are pixels.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ouroboros.report.format import is_missing

REAL = "#3b6ea5"
SYNTHETIC = "#e07b39"
HOLDOUT = "#6a9955"
GUIDE = "#555555"
#: one colour per strategy or series, in order
SERIES = (
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
)
DPI = 90


def colours(names: Sequence[str]) -> dict[str, str]:
    """A colour of :data:`SERIES` for each name, in order (cycling)."""
    return {name: SERIES[i % len(SERIES)] for i, name in enumerate(names)}


def figure(width: float, height: float) -> Figure:
    """A new figure on an Agg canvas (no display, thread-safe: no pyplot state)."""
    out = Figure(figsize=(width, height))
    FigureCanvasAgg(out)
    return out


def png(fig: Figure) -> str:
    """The figure as a PNG data URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _short(label: str, width: int = 18) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def _bare(axes: Axes, *sides: str) -> None:
    for side in sides:
        axes.spines[side].set_visible(False)


def _shared_bins(axes: Axes, edges: np.ndarray, series: Sequence[tuple[str, Any, str]]) -> None:
    """Histograms on the same bins, each filled half-transparent with a solid outline,
    so both shapes and where they differ show at once."""
    for label, shares, colour in series:
        values = np.asarray(shares, dtype=float)
        axes.stairs(values, edges, color=colour, fill=True, alpha=0.35, label=label)
        axes.stairs(values, edges, color=colour, linewidth=1.4)


def numeric_marginal(histogram: Mapping) -> str | None:
    """Real and synthetic shares per bin of one numeric column, on shared bins."""
    if not histogram or not histogram.get("edges"):
        return None
    fig = figure(3.4, 2.2)
    axes = fig.add_subplot()
    _shared_bins(
        axes,
        np.asarray(histogram["edges"], dtype=float),
        [("real", histogram["real"], REAL), ("synthetic", histogram["synthetic"], SYNTHETIC)],
    )
    axes.set_yticks([])
    axes.tick_params(labelsize=7)
    axes.legend(fontsize=7, frameon=False)
    _bare(axes, "top", "right", "left")
    return png(fig)


def categorical_marginal(frequencies: Mapping) -> str | None:
    """Real and synthetic shares of the most frequent categories, as paired bars."""
    if not frequencies or not frequencies.get("labels"):
        return None
    labels = [_short(str(v)) for v in frequencies["labels"]]
    y = np.arange(len(labels))
    fig = figure(3.4, 0.35 + 0.18 * len(labels))
    axes = fig.add_subplot()
    axes.barh(y - 0.2, frequencies["real"], height=0.4, color=REAL, label="real")
    axes.barh(y + 0.2, frequencies["synthetic"], height=0.4, color=SYNTHETIC, label="synthetic")
    axes.set_yticks(y, labels, fontsize=7)
    axes.invert_yaxis()
    axes.tick_params(axis="x", labelsize=7)
    axes.legend(fontsize=7, frameon=False, loc="lower right")
    _bare(axes, "top", "right")
    return png(fig)


def correlation_difference(details: Mapping) -> str | None:
    """Heatmap of |Spearman real - Spearman synthetic| over the numeric pairs."""
    columns = details.get("columns") or []
    if len(columns) < 2:
        return None
    real = np.array(details["real"], dtype=float)
    synthetic = np.array(details["synthetic"], dtype=float)
    difference = np.abs(real - synthetic)
    size = min(2.0 + 0.35 * len(columns), 12.0)
    fig = figure(size + 1.0, size)
    axes = fig.add_subplot()
    image = axes.imshow(difference, vmin=0.0, vmax=max(0.2, float(np.nanmax(difference))))
    image.set_cmap("magma_r")
    labels = [_short(str(c), 14) for c in columns]
    fontsize = 8 if len(columns) <= 20 else 6
    axes.set_xticks(range(len(columns)), labels, rotation=90, fontsize=fontsize)
    axes.set_yticks(range(len(columns)), labels, fontsize=fontsize)
    colourbar = fig.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    colourbar.ax.tick_params(labelsize=7)
    colourbar.set_label("|ρ real − ρ synthetic|", fontsize=8)
    return png(fig)


def dcr_histogram(histogram: Mapping) -> str | None:
    """Distances to the closest training row: synthetic rows beside holdout rows."""
    if not histogram or not histogram.get("edges"):
        return None
    fig = figure(5.0, 2.6)
    axes = fig.add_subplot()
    _shared_bins(
        axes,
        np.asarray(histogram["edges"], dtype=float),
        [
            ("holdout", histogram["holdout"], HOLDOUT),
            ("synthetic", histogram["synthetic"], SYNTHETIC),
        ],
    )
    axes.set_xlabel("distance to the closest training row (embedding units)", fontsize=8)
    axes.set_ylabel("share of rows", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.legend(fontsize=8, frameon=False)
    _bare(axes, "top", "right")
    return png(fig)


def curve(levels: Sequence[float] | None, values: Sequence[float] | None, label: str) -> str | None:
    """An α-precision or β-recall curve against the ideal diagonal."""
    if not levels or not values or not all(math.isfinite(v) for v in values):
        return None
    fig = figure(2.6, 2.4)
    axes = fig.add_subplot()
    axes.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="ideal")
    axes.plot(levels, values, color=SYNTHETIC, linewidth=1.8, label="synthetic")
    axes.set_xlabel(label, fontsize=8)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.tick_params(labelsize=7)
    axes.legend(fontsize=7, frameon=False)
    return png(fig)


def _generation_lines(axes: Axes, frame: Any, palette: Mapping[str, str]) -> None:
    """One line per strategy (mean over seeds), a min-max band where seeds > 1."""
    for strategy, part in frame.groupby("strategy", sort=False):
        part = part.sort_values("generation")
        x = part["generation"].to_numpy(dtype=float)
        colour = palette[strategy]
        axes.plot(x, part["mean"], marker="o", ms=3, lw=1.6, color=colour, label=strategy)
        if (part["seeds"] > 1).any():
            axes.fill_between(x, part["min"], part["max"], color=colour, alpha=0.15, lw=0)


def generation_chart(
    panels: Sequence[tuple[str, Any]],
    palette: Mapping[str, str],
    *,
    title: str,
    xlabel: str = "generation",
    ceiling: float | None = None,
) -> str:
    """A metric by generation, one panel per ``(title, frame)`` on a shared y-axis.

    Each frame has the columns strategy, generation, mean, min, max and seeds. The
    dotted line marks generation 0; a dashed line the real-vs-real ``ceiling``.
    """
    single = len(panels) == 1
    fig = figure(5.6, 3.4) if single else figure(min(3.4 * len(panels), 14), 3.0)
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    for ax, (name, frame) in zip(axes, panels, strict=True):
        _generation_lines(ax, frame, palette)
        ax.axvline(0, color=GUIDE, ls=":", lw=1)
        if not is_missing(ceiling):
            ax.axhline(ceiling, color="#333333", ls="--", lw=1, label="real vs real")
        if frame.empty:
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.legend(fontsize=7, frameon=False)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return png(fig)


def _source_colour(source: int | None, generations: int) -> Any:
    if source is None:
        return "#2b8a3e"
    shade = 0.35 + 0.55 * source / max(generations - 1, 1)
    return (shade, shade * 0.55, 0.15)


def provenance_chart(
    stacks: Mapping[str, Mapping[int | None, Sequence[float]]], generations: int
) -> str | None:
    """Per strategy, training rows per generation stacked by source: real (None) first,
    then the synthetic rows of each earlier generation."""
    if not stacks:
        return None
    fig = figure(min(3.0 * len(stacks), 12), 2.8)
    axes = fig.subplots(1, len(stacks), squeeze=False, sharey=True)[0]
    for ax, (strategy, sources) in zip(axes, stacks.items(), strict=True):
        bottom = np.zeros(generations)
        for source, heights in sources.items():
            ax.bar(
                np.arange(generations),
                heights,
                bottom=bottom,
                width=0.8,
                color=_source_colour(source, generations),
                lw=0,
                label="real" if source is None else None,
            )
            bottom += np.asarray(heights, dtype=float)
        ax.set_title(strategy, fontsize=9)
        ax.set_xlabel("generation", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("training rows", fontsize=8)
    axes[0].legend(fontsize=7, frameon=False, loc="upper left")
    return png(fig)


def theory_chart(curves: Mapping[str, Sequence[float]], palette: Mapping[str, str]) -> str:
    """The reference model's share of real categories kept, per strategy and generation."""
    fig = figure(5.6, 3.4)
    ax = fig.add_subplot()
    for spec, values in curves.items():
        x = np.arange(len(values))
        ax.plot(x, values, ls="--", marker=".", color=palette.get(spec), label=spec)
    ax.axvline(0, color=GUIDE, ls=":", lw=1)
    ax.set_xlabel("generation (0 = trained on real data)")
    ax.set_ylabel("share of real categories kept")
    ax.set_title("reference model: categorical fitted by frequencies", fontsize=10)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    return png(fig)


def causal_graph(
    nodes: Sequence[str], edges: Sequence[Sequence[str]], removed: Sequence[Sequence[str]] = ()
) -> str | None:
    """A DAG drawn in layers (a node one layer right of its deepest parent); edges cut at
    sampling time are dashed and red."""
    if not nodes:
        return None
    parents = {n: [a for a, b in edges if b == n] for n in nodes}
    layer: dict[str, int] = {}

    def depth(node: str) -> int:
        if node not in layer:
            layer[node] = 1 + max((depth(p) for p in parents[node]), default=-1)
        return layer[node]

    for node in nodes:
        depth(node)
    columns: dict[int, list[str]] = {}
    for node in nodes:
        columns.setdefault(layer[node], []).append(node)
    where = {n: (x, -i + (len(c) - 1) / 2) for x, c in columns.items() for i, n in enumerate(c)}
    height = max(len(c) for c in columns.values())
    cut = {tuple(e) for e in removed}
    drawn = [*edges, *[e for e in removed if tuple(e) not in {tuple(x) for x in edges}]]
    # an edge that skips a layer is an arc, so it does not hide behind the edges it spans
    bend = {(a, b): 0.3 * (-1) ** k for k, (a, b) in enumerate(drawn) if layer[b] - layer[a] > 1}
    bulge = max((0.15 * (layer[b] - layer[a]) for a, b in bend), default=0.0)
    fig = figure(max(3.0, 2.2 * len(columns)), max(2.0, 0.7 * (height + 2 * bulge)))
    axes = fig.add_subplot()
    for a, b in drawn:
        style = {"color": SERIES[1], "linestyle": "--"} if (a, b) in cut else {"color": GUIDE}
        axes.annotate(
            "",
            xy=where[b],
            xytext=where[a],
            arrowprops={
                "arrowstyle": "-|>",
                "shrinkA": 14,
                "shrinkB": 14,
                "lw": 1,
                "connectionstyle": f"arc3,rad={bend.get((a, b), 0.0)}",
                **style,
            },
        )
    for node, (x, y) in where.items():
        axes.text(
            x,
            y,
            _short(node),
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round", "fc": "white", "ec": REAL},
        )
    axes.set_xlim(-0.6, len(columns) - 0.4)
    axes.set_ylim(-height / 2 - 0.1 - bulge, height / 2 + 0.1 + bulge)
    axes.axis("off")
    return png(fig)
