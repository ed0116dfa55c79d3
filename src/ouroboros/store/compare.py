"""Side-by-side comparison of stored runs: the data of a summary table and of curves.

A sweep's run stands for the runs of its cells. :func:`write_html` hands what it
gathered to :func:`ouroboros.report.write_compare`, the HTML report.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ouroboros.errors import ParameterError
from ouroboros.store.base import Run, Store

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


def write_html(store: Store, run_ids: Sequence[str], path: str | os.PathLike) -> Path:
    """Write the comparison report of ``run_ids`` to ``path`` (one self-contained file)."""
    from ouroboros.report import write_compare

    chosen = runs(store, run_ids)
    ids = [run.id for run in chosen]
    return write_compare(chosen, curves(store, ids), summary(store, ids), path, store=store.url)
