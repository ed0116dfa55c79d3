"""``[generator] name = "auto"``: the generators compared on a validation split; and the
corrected settings ``[adapt]`` tries when the gate fails.

Selection fits every candidate on the training rows less a validation split, samples as
many rows as the split holds and scores them against it with the pipeline's metrics;
the best mean scorecard wins. The first candidate always runs; the next ones start only
while ``time_budget`` seconds last, and one with a ``time_budget`` parameter of its own
(the neural generators) gets an equal share of what is left, so the budget holds for
them too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ouroboros.errors import OuroborosError
from ouroboros.pipeline.config import PipelineConfig

#: candidates of ``name = "auto"`` without a ``candidates`` list, cheapest first
DEFAULT_CANDIDATES = ("gaussian_copula", "causal", "independent", "tvae", "ctgan", "tabddpm")
#: default seconds of ``name = "auto"``
DEFAULT_BUDGET = 300.0
VALIDATION = 0.25


def candidates(config: PipelineConfig | None) -> list[str]:
    """The generators ``name = "auto"`` compares: ``candidates``, else the installed defaults."""
    from ouroboros import synthesizers

    given = None if config is None else config.generator.get("candidates")
    if given:
        return list(given)
    return [name for name in DEFAULT_CANDIDATES if name in synthesizers.names()]


def _params(config: PipelineConfig, name: str) -> dict[str, Any]:
    """A candidate's parameters: ``params`` of auto is a table per generator name."""
    return dict(config.generator["params"].get(name, {}))


def select_config(config: PipelineConfig) -> dict[str, Any]:
    g = config.generator
    return {
        "candidates": candidates(config),
        "params": g["params"],
        "seed": g["seed"],
        "time_budget": g.get("time_budget") or DEFAULT_BUDGET,
    }


def make_select(ctx, out: Path, meta: dict[str, Any]) -> None:
    """The select step: compare the candidates, record the comparison, keep the best."""
    from ouroboros import synthesizers
    from ouroboros.pipeline.steps import evaluate_tables, fit_model, guard_settings

    settings = select_config(ctx.config)
    train = ctx.table("source", "train.parquet")
    order = np.random.default_rng(settings["seed"]).permutation(len(train))
    size = max(1, int(round(VALIDATION * len(train))))
    validation = train.iloc[np.sort(order[:size])].reset_index(drop=True)
    fitting = train.iloc[np.sort(order[size:])].reset_index(drop=True)
    schema, budget, started = ctx.schema(), float(settings["time_budget"]), time.perf_counter()
    rows: list[dict[str, Any]] = []
    names = settings["candidates"]
    for i, name in enumerate(names):
        left = budget - (time.perf_counter() - started)
        spec = {"name": name, "seed": settings["seed"], "params": _params(ctx.config, name)}
        if left <= 0 and i > 0:
            rows.append({**spec, "score": None, "seconds": 0.0, "note": "not tried: budget spent"})
            continue
        if "time_budget" in synthesizers.get(name).param_names():
            spec["params"].setdefault("time_budget", max(left, 1.0) / (len(names) - i))
        ctx.say(f"auto: trying {name} ({left:.0f} s of the budget left)")
        tic = time.perf_counter()
        try:
            model = fit_model(spec, fitting, schema, guard=guard_settings(ctx.config))
            evaluation = evaluate_tables(
                ctx,
                model.sample(len(validation), seed=spec["seed"]),
                holdout=validation,
                train=fitting,
            )
        except (OuroborosError, ValueError) as exc:
            note = f"failed: {str(exc).splitlines()[0]}"
            rows.append({**spec, "score": None, "seconds": time.perf_counter() - tic, "note": note})
            continue
        card = evaluation.category_scores()
        score = float(card["score"].mean()) if len(card) else None
        rows.append({**spec, "score": score, "seconds": time.perf_counter() - tic, "note": ""})
    scored = [r for r in rows if r["score"] is not None]
    if not scored:
        raise OuroborosError(
            "generator name = 'auto': no candidate could be fitted and scored: "
            + "; ".join(f"{r['name']}: {r['note']}" for r in rows)
        )
    best = max(scored, key=lambda r: r["score"])
    for r in rows:
        r["note"] = r["note"] or ("kept: best scorecard" if r is best else "")
    meta["chosen"] = {k: best[k] for k in ("name", "seed", "params")}
    meta["comparison"] = rows
    meta["ranking"] = [r["name"] for r in sorted(scored, key=lambda r: -r["score"])]
    (out / "selection.json").write_text(json.dumps(meta, indent=2, default=str), "utf-8")


def corrections(
    spec: dict[str, Any],
    ranking: list[str],
    tried: list[str],
    correct: str | None = None,
    params: dict[str, dict[str, Any]] | None = None,
) -> Iterator[dict]:
    """The settings ``[adapt]`` tries after ``spec`` failed the gate, in order: the same
    model with its sample corrected by ``correct`` (no refit), the same generator trained
    twice as long (when it has epochs), then the next generators of the auto ranking (or
    of the default candidates), each with its table of ``params`` under ``name = "auto"``."""
    from ouroboros import synthesizers

    if correct is not None:
        yield {**spec, "correct": correct}
    klass = synthesizers.get(spec["name"])
    if "epochs" in klass.param_names():
        epochs = spec["params"].get("epochs", klass().get_params().get("epochs"))
        if isinstance(epochs, int):
            yield {**spec, "params": {**spec["params"], "epochs": epochs * 2}}
    others = ranking or [n for n in DEFAULT_CANDIDATES if n in synthesizers.names()]
    for name in others:
        if name != spec["name"] and name not in tried:
            yield {"name": name, "seed": spec["seed"], "params": dict((params or {}).get(name, {}))}
