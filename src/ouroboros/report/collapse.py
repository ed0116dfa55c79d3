"""The collapse lab's report: one chart per metric, the training sets' provenance, the
reference model's prediction and a plain-language summary.

It renders a collapse result duck-typed (its ``metrics``, ``provenance``,
``generations``, ``failures`` and ``config``, ``strategies``, ``curves(metric)``,
``drift()`` and ``summary()``); the theory curves and the strategies' descriptions are
computed by the collapse lab and handed in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ouroboros.io import atomic_write_text
from ouroboros.report import figures, templating

_ARROWS = {"higher": "higher is better", "lower": "lower is better"}


def _chart(result: Any, info: Any, palette: Mapping[str, str]) -> str:
    """The metric of row ``info`` by generation, strategies in the result's order."""
    order = {name: i for i, name in enumerate(result.strategies)}
    frame = result.curves(info.metric).rename(columns={"count": "seeds"})
    frame = frame[frame["strategy"].isin(order)].sort_values(
        "strategy", key=lambda s: s.map(order), kind="stable"
    )
    arrow = _ARROWS.get(info.direction, "")
    return figures.generation_chart(
        [("", frame)],
        palette,
        title=f"{info.metric}  ({info.category}; {arrow})",
        xlabel="generation (0 = trained on real data)",
        ceiling=info.ceiling,
    )


def _charts(result: Any, palette: Mapping[str, str]) -> list[dict]:
    """Per metric: its chart and, per strategy, the drift from generation 0 (or None)."""
    drifts = {(d.strategy, d.metric): d for d in result.drift()}
    return [
        {
            "metric": row.metric,
            "category": row.category,
            "direction": row.direction,
            "ceiling": row.ceiling,
            "image": _chart(result, row, palette),
            "cells": [drifts.get((strategy, row.metric)) for strategy in result.strategies],
        }
        for row in result.metrics.itertuples(index=False)
    ]


def _rules(result: Any, descriptions: Mapping[str, str]) -> list[dict]:
    """One row per strategy: what it trains on, its source, how many metrics degraded."""
    drifts = result.drift()
    generations = result.generations
    citations = result.config.get("citations") or {}
    rules = []
    for spec in result.strategies:
        mine = [d for d in drifts if d.strategy == spec]
        keep = None
        if "keep_rate" in generations:
            rates = generations.loc[generations["strategy"] == spec, "keep_rate"].dropna()
            keep = float(rates.mean()) if len(rates) else None
        rules.append(
            {
                "spec": spec,
                "citation": citations.get(spec, ""),
                "description": descriptions.get(spec, ""),
                "degraded": sum(d.verdict == "degraded" for d in mine),
                "metrics": len(mine),
                "keep_rate": keep,
            }
        )
    return rules


def _provenance(result: Any) -> str | None:
    """Training rows per generation of each strategy's first seed, stacked by source."""
    frame = result.provenance
    if frame.empty:
        return None
    rows_of_seed = frame[frame["seed"] == frame["seed"].min()]
    generations = int(result.config.get("generations", frame["generation"].max() + 1))
    stacks: dict[str, dict[int | None, list[float]]] = {}
    for strategy in [s for s in result.strategies if s in set(frame["strategy"])]:
        rows = rows_of_seed[rows_of_seed["strategy"] == strategy]
        stacks[strategy] = {}
        for source in [None, *range(generations)]:
            found = rows["source_generation"]
            part = rows[found.isna()] if source is None else rows[found == source]
            if part.empty:
                continue
            heights = np.zeros(generations)
            heights[part["generation"].to_numpy(dtype=int)] = part["rows"].to_numpy(dtype=float)
            stacks[strategy][source] = heights.tolist()
    return figures.provenance_chart(stacks, generations)


def _real_shares(result: Any) -> list[dict]:
    """Per strategy: the mean share of real rows in the training sets of generations 1..,
    over seeds (generation 0 trains on real rows for every strategy)."""
    frame, runs = result.provenance, result.generations
    if frame.empty or "train_rows" not in runs:
        return []
    later = frame[frame["generation"] >= 1]
    real = later[later["source"] == "real"].groupby(["strategy", "seed", "generation"])["rows"]
    sizes = runs[runs["generation"] >= 1].set_index(["strategy", "seed", "generation"])
    shares = (real.sum() / sizes["train_rows"]).fillna(0.0)
    out = []
    for spec in result.strategies:
        mine = shares[shares.index.get_level_values(0) == spec] if len(shares) else shares
        if len(mine):
            out.append({"spec": spec, "share": float(mine.mean()), "max": float(mine.max())})
    return out


#: the adaptive controller's columns of the generations table, and their headings
_LEVERS = {
    "adaptive_drift": "drift",
    "adaptive_real_share": "real share",
    "adaptive_accumulate": "from earlier generations",
    "adaptive_from_generation_0": "from generation 0",
    "adaptive_correct": "correction γ",
    "adaptive_bank": "budget banked",
}


def _decisions(result: Any) -> list[dict]:
    """Per adaptive strategy, its first seed's decisions generation by generation."""
    runs = result.generations
    if "decision" not in runs:
        return []
    out = []
    for spec in result.strategies:
        mine = runs[(runs["strategy"] == spec) & runs["decision"].notna()]
        if mine.empty:
            continue
        mine = mine[mine["seed"] == mine["seed"].min()].sort_values("generation")
        rows = [
            {
                "generation": int(r["generation"]),
                "values": [r.get(c) for c in _LEVERS],
                "decision": r["decision"],
            }
            for r in mine.to_dict("records")
        ]
        out.append({"spec": spec, "seed": int(mine["seed"].iloc[0]), "rows": rows})
    return out


def render_collapse(
    result: Any,
    *,
    theory: Mapping[str, Sequence[float]] | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> str:
    """The report of a collapse result as HTML text.

    ``theory`` maps strategies to the reference model's share of real categories kept
    per generation (no theory section when empty); ``descriptions`` says what each
    strategy trains on.
    """
    palette = figures.colours(result.strategies)
    failures = result.failures
    return templating.render(
        "collapse.html.j2",
        config=result.config,
        summary=result.summary(),
        charts=_charts(result, palette),
        strategies=result.strategies,
        rules=_rules(result, descriptions or {}),
        provenance=_provenance(result),
        theory=figures.theory_chart(theory, palette) if theory else None,
        failures=failures.to_dict("records") if len(failures) else [],
        real_shares=_real_shares(result),
        decisions=_decisions(result),
        levers=list(_LEVERS.values()),
    )


def write_collapse(
    result: Any,
    path: str | os.PathLike,
    *,
    theory: Mapping[str, Sequence[float]] | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> Path:
    """Write :func:`render_collapse`'s report to ``path`` atomically and return the path."""
    return atomic_write_text(
        path, render_collapse(result, theory=theory, descriptions=descriptions)
    )
