"""The pipeline's report: the evaluation report with the gate, its thresholds and misses, the
generators compared (``name = "auto"``) and every attempt (``[adapt]``) on top."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ouroboros.io import atomic_write_text
from ouroboros.report import templating
from ouroboros.report.evaluation import _context


def render_pipeline(data: dict, extra: dict[str, Any], title: str | None = None) -> str:
    """HTML of an evaluation dictionary (``Evaluation.to_dict()``) and the pipeline's ``extra``:
    ``gate`` (from ``ouroboros.pipeline.gate.to_dict``), optional ``generator``,
    ``comparison`` and ``attempts``."""
    context = _context(data, title or "Pipeline: evaluation and gate")
    context.update(
        gate=extra["gate"],
        generator=extra.get("generator"),
        comparison=extra.get("comparison"),
        attempts=extra.get("attempts"),
    )
    return templating.render("pipeline.html.j2", script="sortable.js", **context)


def write_pipeline_report(
    data: dict, extra: dict[str, Any], path: str | os.PathLike, title: str | None = None
) -> Path:
    """Write the pipeline report to ``path`` atomically and return the path."""
    return atomic_write_text(path, render_pipeline(data, extra, title))
