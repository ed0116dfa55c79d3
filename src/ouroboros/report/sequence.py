"""The sequence part of an evaluation report: autocorrelation curves and example
sequences, real beside synthetic, drawn from the details of the sequence metrics."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ouroboros.report.figures import GUIDE, REAL, SYNTHETIC, _bare, figure, png

#: autocorrelation curves drawn at most (the first columns of the metric's details)
MAX_CURVES = 6


def _finite(values: Sequence) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]


def acf_curves(lags: Sequence[int], real: Mapping, synthetic: Mapping) -> str | None:
    """One small panel per column: the real and synthetic autocorrelation by lag."""
    labels = [k for k in real if k in synthetic][:MAX_CURVES]
    if not labels or not lags:
        return None
    columns = min(3, len(labels))
    rows = math.ceil(len(labels) / columns)
    fig = figure(2.6 * columns, 2.0 * rows)
    for i, label in enumerate(labels):
        axes = fig.add_subplot(rows, columns, i + 1)
        axes.axhline(0, color=GUIDE, linewidth=0.6)
        axes.plot(lags, _finite(real[label]), color=REAL, linewidth=1.6, label="real")
        axes.plot(
            lags, _finite(synthetic[label]), color=SYNTHETIC, linewidth=1.6, label="synthetic"
        )
        axes.set_title(label, fontsize=8)
        axes.set_ylim(-1, 1)
        axes.tick_params(labelsize=7)
        _bare(axes, "top", "right")
        if i == 0:
            axes.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return png(fig)


def example_sequences(examples: Mapping) -> str | None:
    """A few real sequences of one column (left) beside synthetic ones (right)."""
    real, synthetic = examples.get("real") or [], examples.get("synthetic") or []
    if not real or not synthetic:
        return None
    fig = figure(7.0, 2.2)
    for position, (title, series, colour) in enumerate(
        (("real", real, REAL), ("synthetic", synthetic, SYNTHETIC))
    ):
        axes = fig.add_subplot(1, 2, position + 1)
        for k, values in enumerate(series):
            axes.plot(_finite(values), color=colour, linewidth=1.0, alpha=1.0 - 0.25 * k)
        axes.set_title(f"{title}: {examples.get('column', '')}", fontsize=8)
        axes.set_xlabel("event", fontsize=7)
        axes.tick_params(labelsize=7)
        _bare(axes, "top", "right")
    fig.tight_layout()
    return png(fig)


def sequence_figures(metrics: Mapping[str, Mapping]) -> list[dict]:
    """The figures of the report's sequence section: (title, caption, image)."""
    out = []
    details = metrics.get("autocorrelation_error", {}).get("details", {})
    image = acf_curves(
        details.get("lags", []), details.get("real", {}), details.get("synthetic", {})
    )
    if image:
        out.append(
            {
                "title": "Autocorrelation",
                "caption": "Autocorrelation by lag within entities, real against synthetic, "
                "per numeric event column and of its absolute changes (|Δ|: volatility).",
                "image": image,
            }
        )
    image = example_sequences(details.get("examples", {}))
    if image:
        out.append(
            {
                "title": "Example sequences",
                "caption": "A few real sequences beside synthetic ones (the longest entities "
                "up to 200 events, or the first 200 steps of one series).",
                "image": image,
            }
        )
    return out
