"""Figures of the HTML report, drawn with matplotlib and embedded as PNG data URIs.

Each function takes the JSON-ready details a metric stored and returns a
``data:image/png;base64,...`` string, or ``None`` when there is nothing to draw.
No text of a figure is ever placed in the HTML: names in figures are pixels.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

REAL = "#3b6ea5"
SYNTHETIC = "#e07b39"
HOLDOUT = "#6a9955"
DPI = 80


def _png(figure: Figure) -> str:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _short(label: str, width: int = 18) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def numeric_marginal(histogram: dict) -> str | None:
    """Real and synthetic shares per bin of one numeric column, as overlaid steps."""
    if not histogram or not histogram.get("edges"):
        return None
    edges = np.asarray(histogram["edges"], dtype=float)
    figure = Figure(figsize=(3.4, 2.2))
    axes = figure.add_subplot()
    for key, colour in (("real", REAL), ("synthetic", SYNTHETIC)):
        shares = np.asarray(histogram[key], dtype=float)
        axes.stairs(shares, edges, color=colour, label=key, fill=key == "real", alpha=0.45)
    axes.set_yticks([])
    axes.tick_params(labelsize=7)
    axes.legend(fontsize=7, frameon=False)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    return _png(figure)


def categorical_marginal(frequencies: dict) -> str | None:
    """Real and synthetic shares of the most frequent categories, as paired bars."""
    if not frequencies or not frequencies.get("labels"):
        return None
    labels = [_short(str(v)) for v in frequencies["labels"]]
    y = np.arange(len(labels))
    figure = Figure(figsize=(3.4, 0.35 + 0.18 * len(labels)))
    axes = figure.add_subplot()
    axes.barh(y - 0.2, frequencies["real"], height=0.4, color=REAL, label="real")
    axes.barh(y + 0.2, frequencies["synthetic"], height=0.4, color=SYNTHETIC, label="synthetic")
    axes.set_yticks(y, labels, fontsize=7)
    axes.invert_yaxis()
    axes.tick_params(axis="x", labelsize=7)
    axes.legend(fontsize=7, frameon=False, loc="lower right")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return _png(figure)


def correlation_difference(details: dict) -> str | None:
    """Heatmap of |Spearman real - Spearman synthetic| over the numeric pairs."""
    columns = details.get("columns") or []
    if len(columns) < 2:
        return None
    real = np.array(details["real"], dtype=float)
    synthetic = np.array(details["synthetic"], dtype=float)
    difference = np.abs(real - synthetic)
    size = min(2.0 + 0.35 * len(columns), 12.0)
    figure = Figure(figsize=(size + 1.0, size))
    axes = figure.add_subplot()
    image = axes.imshow(difference, vmin=0.0, vmax=max(0.2, float(np.nanmax(difference))))
    image.set_cmap("magma_r")
    labels = [_short(str(c), 14) for c in columns]
    fontsize = 8 if len(columns) <= 20 else 6
    axes.set_xticks(range(len(columns)), labels, rotation=90, fontsize=fontsize)
    axes.set_yticks(range(len(columns)), labels, fontsize=fontsize)
    colourbar = figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    colourbar.ax.tick_params(labelsize=7)
    colourbar.set_label("|ρ real − ρ synthetic|", fontsize=8)
    return _png(figure)


def dcr_histogram(histogram: dict) -> str | None:
    """Distances to the closest training row: synthetic rows beside holdout rows."""
    if not histogram or not histogram.get("edges"):
        return None
    edges = np.asarray(histogram["edges"], dtype=float)
    figure = Figure(figsize=(5.0, 2.6))
    axes = figure.add_subplot()
    axes.stairs(histogram["holdout"], edges, color=HOLDOUT, fill=True, alpha=0.4, label="holdout")
    axes.stairs(histogram["synthetic"], edges, color=SYNTHETIC, linewidth=1.8, label="synthetic")
    axes.set_xlabel("distance to the closest training row (embedding units)", fontsize=8)
    axes.set_ylabel("share of rows", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.legend(fontsize=8, frameon=False)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return _png(figure)


def curve(levels: list[float], values: list[float], label: str) -> str | None:
    """An α-precision or β-recall curve against the ideal diagonal."""
    if not levels or not values or not all(math.isfinite(v) for v in values):
        return None
    figure = Figure(figsize=(2.6, 2.4))
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="ideal")
    axes.plot(levels, values, color=SYNTHETIC, linewidth=1.8, label="synthetic")
    axes.set_xlabel(label, fontsize=8)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.tick_params(labelsize=7)
    axes.legend(fontsize=7, frameon=False)
    return _png(figure)
