"""A collapse result built by hand, shared by the report tests."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ouroboros.collapse import CollapseResult
from ouroboros.collapse.result import METRIC_COLUMNS, PROVENANCE_COLUMNS, TABLE_COLUMNS


@pytest.fixture
def collapse_result() -> CollapseResult:
    """A small lab result built by hand: two strategies, one metric without a ceiling,
    one strategy without the other metric (a missing drift)."""
    rows = [
        (seed, strategy, generation, metric, 0.9 - 0.1 * generation + 0.01 * seed)
        for seed in (0, 1)
        for strategy in ("replace", "mix:0.2")
        for generation in range(3)
        for metric in ("coverage", "tail_share")
        if not (metric == "tail_share" and strategy == "mix:0.2")  # no drift: a missing cell
    ]
    provenance = [
        (seed, strategy, g, "real" if g == 0 else "synthetic", None if g == 0 else g - 1, 100)
        for seed in (0, 1)
        for strategy in ("replace", "mix:0.2")
        for g in range(3)
    ]
    metrics = [
        ("coverage", "collapse", "higher", 1.0, 0.0, math.nan),  # no ceiling: missing
        ("tail_share", "collapse", "higher", 1.0, 0.0, 0.95),
    ]
    config = {
        "synthesizer": {"name": "independent", "params": {}},
        "strategies": ["replace", "mix:0.2"],
        "generations": 3,
        "seeds": [0, 1],
        "sample_size": 100,
        "train_rows": 300,
        "holdout_rows": 100,
        "metrics": ["coverage", "tail_share"],
        "target": None,
        "categorical_frequencies": {"colour": [0.5, 0.3, 0.14, 0.04, 0.02]},
    }
    provenance = pd.DataFrame(provenance, columns=PROVENANCE_COLUMNS)
    provenance["source_generation"] = provenance["source_generation"].astype("Int64")
    generations = pd.DataFrame(
        [(s, k, g, "ok", None) for s in (0, 1) for k in config["strategies"] for g in range(3)]
        + [(2, "replace", 0, "failed", "RuntimeError: <b>boom</b>")],
        columns=["seed", "strategy", "generation", "status", "error"],
    )
    return CollapseResult(
        pd.DataFrame(rows, columns=TABLE_COLUMNS),
        provenance,
        generations,
        pd.DataFrame(metrics, columns=METRIC_COLUMNS),
        config,
    )
