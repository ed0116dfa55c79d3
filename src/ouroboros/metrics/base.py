"""The :class:`Metric` contract and the :class:`MetricResult` it returns.

A metric describes itself (name, category, direction, what it needs, the value
identical data gets) so that reports, scorecards and collapse curves need no
special cases (the idea of synthcity's ``metrics/core/metric.py``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd
from threadpoolctl import threadpool_limits

from ouroboros.errors import ParameterError

if TYPE_CHECKING:
    from ouroboros.metrics.context import EvaluationContext
    from ouroboros.schema import Schema

CATEGORIES = (
    "fidelity",
    "detection",
    "diversity",
    "privacy",
    "utility",
    "fairness",
    "collapse",
    "sequence",
)
DIRECTIONS = ("higher", "lower")
#: "sequence": a schema with a sequence spec (entity key or order column)
REQUIREMENTS = ("holdout", "target", "sensitive", "sequence")
#: what makes a metric worse: a distorted table, copied training rows, amplified bias
SENSITIVITIES = ("distortion", "memorisation", "bias")


@dataclass
class MetricResult:
    """What one metric computed.

    ``value`` is the headline number; ``rows`` are the per-column (or per-pair,
    per-model) values it aggregates, as ``(label, value)``; ``details`` holds
    JSON-ready numbers for the report (histograms, matrices, raw ratios).
    """

    value: float
    rows: list[tuple[str, float]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


class Metric(ABC):
    """A score of a synthetic table against the real one.

    Class attributes describe the metric:

    - ``name``, ``category`` (one of :data:`CATEGORIES`), ``direction``
      (``"higher"`` or ``"lower"`` is better);
    - ``requires``: which of ``holdout``, ``target``, ``sensitive``, ``sequence`` must be given;
    - ``uses_holdout``: the metric reads the holdout as a reference (privacy,
      utility). Its ceiling then splits the holdout in two halves: one stays the
      reference, the other plays the perfect generator;
    - ``best`` / ``worst``: the value identical data gets, and the value at or
      beyond which the scorecard counts zero;
    - ``sensitive_to``: what the metric penalises (:data:`SENSITIVITIES`); the
      contract checks degrade the data that way and expect a worse value;
    - ``subsample``: how the metric subsamples, in words, or ``None``.
    """

    name: ClassVar[str]
    category: ClassVar[str]
    direction: ClassVar[str]
    best: ClassVar[float]
    worst: ClassVar[float]
    requires: ClassVar[frozenset[str]] = frozenset()
    uses_holdout: ClassVar[bool] = False
    sensitive_to: ClassVar[str] = "distortion"
    subsample: ClassVar[str | None] = None

    def compute(
        self,
        real: pd.DataFrame,
        synthetic: pd.DataFrame,
        *,
        holdout: pd.DataFrame | None = None,
        schema: Schema | None = None,
        target: str | None = None,
        sensitive: str | None = None,
        context: EvaluationContext | None = None,
    ) -> MetricResult:
        """Score ``synthetic`` against ``real``.

        ``context`` is the shared, cached encoding built by
        :func:`ouroboros.metrics.evaluate`; without it one is built here.
        """
        from ouroboros.metrics.context import EvaluationContext

        if context is None:
            context = EvaluationContext(
                real, synthetic, holdout, schema=schema, target=target, sensitive=sensitive
            )
        context = context.for_metric(self.uses_holdout)
        reason = self.not_applicable(context)
        if reason is not None:
            raise ParameterError(f"metric {self.name!r} cannot be computed: {reason}")
        # one thread: busy-waiting BLAS and OpenMP threads slow down tenfold and more when
        # the cores are shared (parallel tests, collapse runs); run evaluations side by side
        with threadpool_limits(1):
            result = self._compute(context)
        result.value = float(result.value)
        return result

    def not_applicable(self, context: EvaluationContext) -> str | None:
        """Why the metric cannot run on this data, or ``None`` when it can."""
        given = {
            "holdout": context.holdout is not None,
            "target": context.target is not None,
            "sensitive": context.sensitive is not None,
            "sequence": getattr(context.schema, "sequence", None) is not None,
        }
        missing = [r for r in REQUIREMENTS if r in self.requires and not given[r]]
        if missing:
            words = {
                "holdout": "a holdout",
                "target": "a target",
                "sensitive": "a sensitive column",
                "sequence": "a schema with a sequence key or index (Schema.sequence)",
            }
            return "needs " + " and ".join(words[m] for m in missing)
        return None

    @abstractmethod
    def _compute(self, context: EvaluationContext) -> MetricResult:
        """Compute the metric from the shared context."""

    def goodness(self, value: float) -> float:
        """``value`` mapped onto [0, 1] between ``worst`` (0) and ``best`` (1)."""
        if value is None or not math.isfinite(value):
            return math.nan
        share = (value - self.worst) / (self.best - self.worst)
        return min(max(share, 0.0), 1.0)

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b`` in this metric's direction."""
        return a > b if self.direction == "higher" else a < b

    @classmethod
    def describe(cls) -> str:
        """The first line of the class docstring."""
        doc = (cls.__doc__ or "").strip().splitlines()
        return doc[0] if doc else cls.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def mean_of(rows: list[tuple[str, float]]) -> float:
    """The mean of the finite row values (NaN when there are none)."""
    values = [v for _, v in rows if v is not None and math.isfinite(v)]
    return sum(values) / len(values) if values else math.nan
