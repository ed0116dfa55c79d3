"""``rule_violations``: the share of synthetic rows breaking each rule of the real data."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ouroboros.metrics.base import Metric, MetricResult
from ouroboros.rules import Columns, RuleError, discover, parse, violations
from ouroboros.rules.language import quote
from ouroboros.schema import ColumnKind

if TYPE_CHECKING:
    from ouroboros.metrics.context import EncodedTable, EvaluationContext


def _arrays(context: EvaluationContext, table: EncodedTable) -> dict:
    kinds = {c.name: c.kind for c in context.schema.columns}
    out = {
        c: (v, "dt" if kinds[c] is ColumnKind.DATETIME else "num") for c, v in table.numeric.items()
    }
    for column, codes in table.codes.items():
        levels = np.array([*context.levels[column], None], dtype=object)
        out[column] = (levels[np.where(codes < 0, len(levels) - 1, codes)], "text")
    return out


def _rules(context: EvaluationContext) -> list[tuple[str, str]]:
    """(rule, where it comes from): declared in the schema, discovered on the real rows,
    the range of every numeric column and the completeness of every complete one."""

    def make() -> list[tuple[str, str]]:
        real = _arrays(context, context.real)
        frame = pd.DataFrame({c: v for c, (v, _) in real.items()})
        kinds = {
            c.name: "continuous" if c.kind is ColumnKind.DATETIME else c.kind.value
            for c in context.schema.columns
            if c.name in frame.columns
        }
        found = [(f.rule, "discovered") for f in discover(frame, kinds)]
        declared = [(r, "declared") for r in context.schema.rules]
        ranges = [
            (f"isnull({quote(c)}) == 0", "complete")
            for c in context.columns
            if context.real.missing_rate(c) == 0
        ]
        for column in context.numeric_columns:
            values = context.real.sorted(column)
            if len(values) and values[0] < values[-1]:
                ranges.append(
                    (f"{float(values[0])!r} <= {quote(column)} <= {float(values[-1])!r}", "range")
                )
        out = dict.fromkeys([*declared, *found, *ranges])
        return [r for r in out if all(c in context.columns for c in _columns(r[0], context))]

    return context.memo("rule_violations:rules", make)


def _columns(text: str, context: EvaluationContext) -> list[str]:
    try:
        return parse(text, context.schema.names).columns
    except RuleError:
        return [""]


class RuleViolations(Metric):
    """Share of synthetic rows breaking each rule: declared, discovered on the real rows,
    each numeric column's real range and each complete column's completeness; the
    headline is the worst rule's share."""

    name = "rule_violations"
    category = "fidelity"
    direction = "lower"
    best, worst = 0.0, 0.25

    def _compute(self, context: EvaluationContext) -> MetricResult:
        rules = _rules(context)
        real = Columns.from_arrays(context.real.n, _arrays(context, context.real))
        synthetic = Columns.from_arrays(context.synthetic.n, _arrays(context, context.synthetic))
        rows = []
        for text, _ in rules:
            broken = violations(parse(text, context.schema.names), synthetic, real)
            rows.append((text, float(broken.mean()) if len(broken) else 0.0))
        details = {"source": {text: source for text, source in rules}}
        return MetricResult(max((v for _, v in rows), default=0.0), rows, details)


METRICS = (RuleViolations,)
