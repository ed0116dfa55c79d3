"""How faithful, diverse, private, useful and fair a synthetic table is, and whether it collapses.

``evaluate(real, synthetic, holdout=..., target=..., sensitive=...)`` runs every
applicable metric and returns an :class:`Evaluation` (tidy table, scorecard,
JSON, HTML). Every metric is a :class:`Metric` in one registry: ``get(name)``,
``names()``, ``register(cls)``, and the entry-point group ``ouroboros.metrics``.
"""

from ouroboros.metrics.base import (
    CATEGORIES,
    DIRECTIONS,
    REQUIREMENTS,
    SENSITIVITIES,
    Metric,
    MetricResult,
)
from ouroboros.metrics.context import EvaluationContext, subsampling_notes
from ouroboros.metrics.evaluation import Evaluation, MetricRecord, evaluate
from ouroboros.metrics.registry import ENTRY_POINT_GROUP, get, names, register

__all__ = [
    "CATEGORIES",
    "DIRECTIONS",
    "ENTRY_POINT_GROUP",
    "REQUIREMENTS",
    "SENSITIVITIES",
    "Evaluation",
    "EvaluationContext",
    "Metric",
    "MetricRecord",
    "MetricResult",
    "evaluate",
    "get",
    "names",
    "register",
    "subsampling_notes",
]
