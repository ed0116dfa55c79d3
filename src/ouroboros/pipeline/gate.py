"""The gate: thresholds on an evaluation's metrics and scorecard categories; all must hold.

A threshold is written ``"<= 0.9"`` (also ``<``, ``>=``, ``>``, ``==``) or as a bare
number, which means "at least this good" in the quantity's own direction. The quantity
is a metric's value (``detection_auc``), a scorecard category's score in [0, 1]
(``privacy``), or one of the counts in :data:`COUNTS` (``exact_copies``).
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import asdict, dataclass
from typing import Any

from ouroboros.metrics import CATEGORIES, Evaluation
from ouroboros.metrics import names as metric_names

_OPERATORS = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
}
_PATTERN = re.compile(r"^\s*(<=|>=|==|<|>)\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*$")

#: count name -> (the metric it comes from, the detail holding it); lower is better
COUNTS = {"exact_copies": ("exact_copy_rate", "copies")}


@dataclass(frozen=True)
class Threshold:
    """One line of ``[gate]``: ``quantity op limit``."""

    quantity: str
    op: str
    limit: float

    @property
    def metric(self) -> str | None:
        """The metric the evaluation must compute for this threshold (None for a category)."""
        if self.quantity in COUNTS:
            return COUNTS[self.quantity][0]
        return None if self.quantity in CATEGORIES else self.quantity

    def __str__(self) -> str:
        return f"{self.quantity} {self.op} {self.limit:g}"


@dataclass(frozen=True)
class Check:
    """The outcome of one threshold: the value found, whether it holds, the miss."""

    quantity: str
    op: str
    limit: float
    value: float | None
    passed: bool
    miss: float | None
    note: str = ""

    def describe(self) -> str:
        if self.value is None:
            return f"{self.quantity} {self.op} {self.limit:g}: {self.note}"
        state = "holds" if self.passed else f"fails by {self.miss:.4g}"
        return f"{self.quantity} = {self.value:.4g}, needs {self.op} {self.limit:g}: {state}"


def _direction(quantity: str) -> str:
    from ouroboros.metrics import get

    if quantity in COUNTS or quantity not in metric_names():
        return "lower" if quantity in COUNTS else "higher"
    return get(quantity).direction


def parse_gate(table: dict[str, Any]) -> tuple[list[Threshold], list[tuple[str, str]]]:
    """The thresholds of a ``[gate]`` table and the problems found, as (key, message)."""
    known = set(metric_names()) | set(CATEGORIES) | set(COUNTS)
    thresholds, problems = [], []
    for key, raw in table.items():
        if key not in known:
            problems.append(
                (
                    key,
                    "not a metric, scorecard category or count; see `ouro metrics` "
                    f"(categories: {', '.join(CATEGORIES)}; counts: {', '.join(COUNTS)})",
                )
            )
            continue
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            op = "<=" if _direction(key) == "lower" else ">="
            thresholds.append(Threshold(key, op, float(raw)))
            continue
        match = _PATTERN.match(raw) if isinstance(raw, str) else None
        if match is None:
            problems.append((key, f'must be a threshold such as "<= 0.9" or a number; got {raw!r}'))
            continue
        thresholds.append(Threshold(key, match.group(1), float(match.group(2))))
    return thresholds, problems


def _value(evaluation: Evaluation, quantity: str) -> tuple[float | None, str]:
    if quantity in CATEGORIES:
        card = evaluation.category_scores()
        row = card[card["category"] == quantity]
        if row.empty:
            return None, f"no metric of category {quantity!r} was computed"
        return float(row["score"].iloc[0]), ""
    metric, detail = COUNTS.get(quantity, (quantity, None))
    if metric in evaluation.skipped:
        return None, f"{metric} was not computed: {evaluation.skipped[metric]}"
    try:
        record = evaluation[metric]
    except KeyError:
        return None, f"{metric} was not computed"
    value = record.value if detail is None else record.details.get(detail)
    if value is None or not math.isfinite(float(value)):
        return None, f"{metric} has no finite value"
    return float(value), ""


def check(evaluation: Evaluation, thresholds: list[Threshold]) -> list[Check]:
    """Each threshold against ``evaluation``; a quantity that is missing fails."""
    out = []
    for t in thresholds:
        value, note = _value(evaluation, t.quantity)
        if value is None:
            out.append(Check(t.quantity, t.op, t.limit, None, False, None, note))
            continue
        passed = bool(_OPERATORS[t.op](value, t.limit))
        miss = None if passed else abs(value - t.limit)
        out.append(Check(t.quantity, t.op, t.limit, value, passed, miss))
    return out


def to_dict(checks: list[Check]) -> dict[str, Any]:
    """The gate's outcome as JSON-ready data."""
    return {
        "passed": all(c.passed for c in checks),
        "checks": [{**asdict(c), "text": c.describe()} for c in checks],
        "failed": [c.describe() for c in checks if not c.passed],
    }
