"""``evaluate()`` runs the suite; :class:`Evaluation` holds the results and exports them.

Each metric is computed once on the synthetic data and, when a holdout is
given, once more with holdout rows in place of the synthetic ones: the
*ceiling*, what a perfect generator would get on data of that size.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import ouroboros
from ouroboros.causal.graph import graph_record
from ouroboros.errors import FileFormatError, ParameterError
from ouroboros.metrics.base import CATEGORIES, Metric
from ouroboros.metrics.causal import InterventionError
from ouroboros.metrics.context import EvaluationContext, subsampling_notes
from ouroboros.metrics.registry import resolve
from ouroboros.schema import Schema

FORMAT = "ouroboros-evaluation"
FORMAT_VERSION = 1

#: a category's verdict from the gap to its ceiling (or, without one, from its score)
_GAP_LEVELS = (0.02, 0.10, 0.25)
_SCORE_LEVELS = (0.95, 0.85, 0.70)
_VERDICTS = {
    "fidelity": (
        "Columns and column pairs follow the real data as closely as real data does.",
        "Columns and column pairs follow the real data closely, with small differences.",
        "Some columns or column pairs differ noticeably from the real data.",
        "Many columns or column pairs differ strongly from the real data.",
    ),
    "detection": (
        "A classifier cannot tell synthetic rows from real ones.",
        "A classifier tells synthetic rows from real ones only slightly.",
        "A classifier tells many synthetic rows apart; see which columns give them away.",
        "A classifier tells synthetic rows from real ones easily.",
    ),
    "diversity": (
        "Synthetic rows cover the real data and stay within it.",
        "Synthetic rows cover the real data nearly as well as real data does.",
        "Parts of the real data are missed, or synthetic rows fall outside it.",
        "Synthetic rows cover little of the real data, or lie outside it.",
    ),
    "privacy": (
        "No sign that training rows are copied or leaked.",
        "Synthetic rows are slightly closer to training rows than unseen real rows are.",
        "Synthetic rows sit noticeably close to training rows: a memorisation risk.",
        "Training rows are copied or nearly copied: do not release this data.",
    ),
    "utility": (
        "Models trained on synthetic data predict the target as well as on real data.",
        "Models trained on synthetic data predict the target almost as well.",
        "Models trained on synthetic data predict the target noticeably worse.",
        "Models trained on synthetic data predict the target much worse.",
    ),
    "fairness": (
        "Group shares and the gaps between groups are kept.",
        "Group shares and the gaps between groups are kept with small changes.",
        "Group shares or the gaps between groups change noticeably.",
        "Group shares or the gaps between groups change strongly: check for amplified bias.",
    ),
    "collapse": (
        "No sign of collapse: tails, variance and variety are kept.",
        "A slight loss of tails or variety.",
        "Tails or variety are noticeably reduced: an early sign of collapse.",
        "Tails, variance or variety are largely lost: the data has collapsed.",
    ),
    "sequence": (
        "Sequences follow the real ones as closely as real sequences do.",
        "Sequences follow the real ones closely: lengths, gaps and dynamics differ slightly.",
        "Lengths, gaps, autocorrelation or transitions differ noticeably from the real ones.",
        "Sequences differ strongly from the real ones: a classifier tells them apart.",
    ),
}


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _jsonable(value: Any) -> Any:
    """Numpy scalars and arrays as plain Python; NaN and infinities as ``None``."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _finite(value)
    return value


@dataclass
class MetricRecord:
    """One metric's outcome: its description, value and ceiling, rows and details."""

    name: str
    category: str
    direction: str
    best: float
    worst: float
    description: str
    subsample: str | None
    value: float | None
    ceiling: float | None
    goodness: float | None
    ceiling_goodness: float | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    ceiling_details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class Evaluation:
    """The results of :func:`evaluate`: a tidy table, scores, a scorecard; JSON and HTML."""

    def __init__(self, records: list[MetricRecord], skipped: dict[str, str], info: dict):
        self.records = records
        self.skipped = skipped
        self.info = info

    def __repr__(self) -> str:
        return f"Evaluation({len(self.records)} metrics, {len(self.skipped)} skipped)"

    def __getitem__(self, name: str) -> MetricRecord:
        for record in self.records:
            if record.name == name:
                return record
        raise KeyError(f"no metric {name!r} in this evaluation; it has {self.names}")

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.records]

    @property
    def table(self) -> pd.DataFrame:
        """Tidy: one row per metric (column empty) and per column, pair or model it covers."""
        out = []
        for r in self.records:
            base = {"metric": r.name, "category": r.category, "direction": r.direction}
            out.append({**base, "column": None, "value": r.value, "ceiling": r.ceiling})
            out.extend({**base, **row} for row in r.rows)
        columns = ["metric", "category", "direction", "column", "value", "ceiling"]
        frame = pd.DataFrame(out, columns=columns)
        frame[["value", "ceiling"]] = frame[["value", "ceiling"]].astype(float)
        return frame

    def scores(self) -> pd.DataFrame:
        """One row per metric: metric, category, direction, value, ceiling."""
        frame = pd.DataFrame(
            [(r.name, r.category, r.direction, r.value, r.ceiling) for r in self.records],
            columns=["metric", "category", "direction", "value", "ceiling"],
        )
        frame[["value", "ceiling"]] = frame[["value", "ceiling"]].astype(float)
        return frame

    def category_scores(self) -> pd.DataFrame:
        """The scorecard: per category, the mean goodness in [0, 1], its ceiling and a verdict.

        A metric's goodness maps its value linearly from ``worst`` (0) to
        ``best`` (1), clipped. ``level`` runs from 0 (as good as real data) to 3.
        """
        rows = []
        for category in CATEGORIES:
            records = [r for r in self.records if r.category == category]
            scores = [r.goodness for r in records if r.goodness is not None]
            if not scores:
                continue
            score = float(np.mean(scores))
            ceilings = [r.ceiling_goodness for r in records if r.ceiling_goodness is not None]
            ceiling = float(np.mean(ceilings)) if len(ceilings) == len(scores) else None
            rows.append(
                {
                    "category": category,
                    "score": score,
                    "ceiling": ceiling,
                    "metrics": len(scores),
                    "level": level(score, ceiling),
                    "verdict": verdict(category, score, ceiling),
                }
            )
        columns = ["category", "score", "ceiling", "metrics", "level", "verdict"]
        return pd.DataFrame(rows, columns=columns)

    # ------------------------------------------------------------------ export
    def to_dict(self) -> dict[str, Any]:
        """Every number of the evaluation as JSON-ready data (what JSON and HTML show)."""
        scorecard = self.category_scores()
        return _jsonable(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "ouroboros_version": ouroboros.__version__,
                "info": self.info,
                "scorecard": scorecard.astype(object)
                .where(scorecard.notna(), None)
                .to_dict(orient="records"),
                "metrics": [vars(r) for r in self.records],
                "skipped": self.skipped,
            }
        )

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The evaluation as JSON text; also written (atomically) to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
        if path is not None:
            from ouroboros.io import atomic_write_text

            atomic_write_text(path, text + "\n")
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise FileFormatError("not an ouroboros evaluation (its 'format' field is missing)")
        if int(data.get("format_version", 0)) > FORMAT_VERSION:
            raise FileFormatError(
                f"evaluation format {data['format_version']} is newer than this ouroboros "
                f"reads ({FORMAT_VERSION}); upgrade ouroboros"
            )
        try:
            records = [MetricRecord(**m) for m in data["metrics"]]
        except (KeyError, TypeError) as exc:
            raise FileFormatError(f"malformed evaluation: {exc}") from exc
        return cls(records, dict(data.get("skipped", {})), dict(data.get("info", {})))

    @classmethod
    def from_json(cls, text: str) -> Evaluation:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise FileFormatError(f"the evaluation is not valid JSON: {exc}") from exc

    def to_html(self, path: str | os.PathLike, *, title: str | None = None) -> Path:
        """Write the self-contained HTML report (works offline) to ``path``."""
        from ouroboros.report import write_evaluation

        return write_evaluation(self.to_dict(), path, title=title)


def level(score: float, ceiling: float | None) -> int:
    """0 (as good as real data) to 3 (far from it): from the gap to the ceiling when there is
    one, else from the score."""
    if ceiling is not None:
        return sum(ceiling - score > limit for limit in _GAP_LEVELS)
    return sum(score < limit for limit in _SCORE_LEVELS)


def verdict(category: str, score: float, ceiling: float | None) -> str:
    """A plain-language sentence for a category's score (against its ceiling when known)."""
    sentence = _VERDICTS[category][level(score, ceiling)]
    return sentence if ceiling is not None else f"{sentence} (no holdout: no ceiling to compare)"


def _record(metric: Metric, result, ceiling, seconds: float) -> MetricRecord:
    ceiling_rows = dict(ceiling.rows) if ceiling is not None else {}
    value = _finite(result.value)
    ceiling_value = _finite(ceiling.value) if ceiling is not None else None
    return MetricRecord(
        name=metric.name,
        category=metric.category,
        direction=metric.direction,
        best=float(metric.best),
        worst=float(metric.worst),
        description=metric.describe(),
        subsample=metric.subsample,
        value=value,
        ceiling=ceiling_value,
        goodness=_finite(metric.goodness(value)) if value is not None else None,
        ceiling_goodness=(
            _finite(metric.goodness(ceiling_value)) if ceiling_value is not None else None
        ),
        rows=[
            {"column": label, "value": _finite(v), "ceiling": _finite(ceiling_rows.get(label))}
            for label, v in result.rows
        ],
        details=_jsonable(result.details),
        ceiling_details=_jsonable(ceiling.details) if ceiling is not None else {},
        seconds=seconds,
    )


def _with_graph(metric: Metric, edges: list) -> Metric:
    """``intervention_error`` without a graph of its own gets the evaluation's graph."""
    if isinstance(metric, InterventionError) and metric.graph is None:
        return InterventionError(graph=edges, treatment=metric.treatment, outcome=metric.outcome)
    return metric


def evaluate(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    holdout: pd.DataFrame | None = None,
    target: str | None = None,
    sensitive: str | None = None,
    metrics=None,
    schema: Schema | None = None,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
    ceilings: bool = True,
    graph: Any = None,
) -> Evaluation:
    """Score ``synthetic`` against ``real`` with every applicable metric (or ``metrics``).

    ``holdout``: real rows the generator never saw; with it every metric also
    gets its ceiling, and the privacy metrics that compare against unseen data
    run. ``target`` enables utility, ``sensitive`` fairness. ``metrics``: names,
    classes or instances; a metric named explicitly that cannot run raises
    :class:`ParameterError`, one from the default set is skipped with its
    reason. ``progress(name, done, total)`` is called before each metric.
    ``ceilings=False`` skips the ceilings, which depend on ``real`` and ``holdout`` only:
    a caller scoring many samples against the same rows computes them once.
    ``graph``: a causal graph (a fitted ``causal`` model, edges or a JSON file), drawn in
    the report and given to ``intervention_error`` as the graph it adjusts by.
    """
    explicit = metrics is not None
    chosen = resolve(metrics)
    drawn = None if graph is None else graph_record(graph, list(real.columns))
    if drawn is not None:
        chosen = [_with_graph(metric, drawn["edges"]) for metric in chosen]
    if not explicit and getattr(schema, "sequence", None) is None:
        # a table of rows, not of sequences: the sequence metrics are not part of its set
        chosen = [metric for metric in chosen if "sequence" not in metric.requires]
    context = EvaluationContext(
        real, synthetic, holdout, schema=schema, target=target, sensitive=sensitive, seed=seed
    )
    started = time.perf_counter()
    records, skipped = [], {}
    for i, metric in enumerate(chosen):
        if progress is not None:
            progress(metric.name, i, len(chosen))
        reason = metric.not_applicable(context)
        if reason is not None:
            if explicit:
                raise ParameterError(f"metric {metric.name!r} cannot be computed: {reason}")
            skipped[metric.name] = reason
            continue
        tic = time.perf_counter()
        result = metric.compute(real, synthetic, context=context.for_metric(metric.uses_holdout))
        ceiling_context = context.ceiling(metric.uses_holdout) if ceilings else None
        ceiling = None
        if ceiling_context is not None and metric.not_applicable(ceiling_context) is None:
            ceiling = metric.compute(real, synthetic, context=ceiling_context)
        records.append(_record(metric, result, ceiling, time.perf_counter() - tic))
    if progress is not None:
        progress("", len(chosen), len(chosen))
    info = context.describe()
    if drawn is not None:
        info["causal_graph"] = drawn
    info["subsampling"] = subsampling_notes()
    info["seconds"] = time.perf_counter() - started
    info["ceiling"] = (
        "each metric recomputed with holdout rows in place of the synthetic rows; metrics that "
        "compare against the holdout use one half of it as the reference and the other half "
        "as the stand-in"
        if holdout is not None
        else None
    )
    return Evaluation(records, skipped, info)
