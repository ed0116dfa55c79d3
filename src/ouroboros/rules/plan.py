"""How each rule is kept by construction: which column it derives, from which others.

A rule becomes a step: an ordering ``x >= expr`` models a non-negative gap and derives
the greater side, ``x = expr + gap`` (the lesser only when the greater is not a column); an equality ``x == expr`` derives ``x``; a dependency maps its
dependents from their determinants; fixed combinations become one category; a
missing-together rule gives the follower the anchor's missingness; ``if c then x == e``
overrides ``x``. A column is produced by one step at most, the steps form no cycle, and
what cannot be reparametrised (or conflicts with an earlier rule) is only checked,
i.e. kept by rejection.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter

from ouroboros.rules.language import (
    Call,
    Col,
    Compare,
    Conditional,
    Dependency,
    Expression,
    Fixed,
    Node,
    Rule,
    node_columns,
)

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}
#: +1: target = expr + gap; -1: target = expr - gap; 0: target = expr
_SIGN = {">": 1, ">=": 1, "<": -1, "<=": -1, "==": 0}


@dataclass(frozen=True)
class Step:
    """One rule kept by construction.

    ``kind`` is ``derive`` (``target`` from ``expr`` and, for ``sign`` +1/-1, a
    modelled gap), ``lookup`` (``produces`` from ``inputs``), ``combine`` (``produces``
    modelled as one category), ``together`` (``target`` missing where ``inputs[0]`` is)
    or ``override`` (``target = expr`` where ``condition`` holds).
    """

    index: int
    kind: str
    produces: tuple[str, ...]
    inputs: tuple[str, ...] = ()
    target: str | None = None
    expr: Node | None = None
    sign: int = 0
    strict: bool = False
    condition: Node | None = None


@dataclass
class Plan:
    """The steps in the order that restores a table, and the rules only checked."""

    steps: list[Step] = field(default_factory=list)
    checked: list[int] = field(default_factory=list)


def _expression_step(index: int, tree: Node) -> Step | None:
    if not isinstance(tree, Compare) or tree.op == "!=":
        return None
    left, right, op = tree.left, tree.right, tree.op
    if (
        op == "=="
        and isinstance(left, Call)
        and isinstance(right, Call)
        and left.func == right.func == "isnull"
        and isinstance(left.arg, Col)
        and isinstance(right.arg, Col)
        and left.arg.name != right.arg.name
    ):
        return Step(index, "together", (right.arg.name,), (left.arg.name,), right.arg.name)
    sides = [(left, right, op), (right, left, _FLIP[op])]
    if op in ("<", "<="):
        sides.reverse()  # the greater side is derived: lower column + non-negative gap
    for side, other, sign_op in sides:
        if isinstance(side, Col) and side.name not in node_columns(other):
            inputs = tuple(node_columns(other))
            if not inputs and sign_op != "==":
                return None  # a range: kept by the bounded transforms, checked
            return Step(
                index,
                "derive",
                (side.name,),
                inputs,
                side.name,
                other,
                _SIGN[sign_op],
                sign_op in ("<", ">"),
            )
    return None


def _conditional_step(index: int, rule: Conditional) -> Step | None:
    then = rule.then
    if not isinstance(then, Compare) or then.op != "==":
        return None
    for side, other in ((then.left, then.right), (then.right, then.left)):
        if not isinstance(side, Col):
            continue
        reads = node_columns(rule.condition) + node_columns(other)
        if side.name not in reads:
            inputs = tuple(dict.fromkeys(reads))
            return Step(
                index, "override", (side.name,), inputs, side.name, other, condition=rule.condition
            )
    return None


def step_for(index: int, rule: Rule) -> Step | None:
    """The step that keeps ``rule`` by construction, or ``None`` (checked only)."""
    if isinstance(rule, Expression):
        return _expression_step(index, rule.tree)
    if isinstance(rule, Conditional):
        return _conditional_step(index, rule)
    if isinstance(rule, Dependency):
        return Step(index, "lookup", rule.dependents, rule.determinants)
    if isinstance(rule, Fixed):
        return Step(index, "combine", rule.members)
    return None


def plan(rules: list[Rule], modelled: Iterable[str], refuse: Iterable[int] = ()) -> Plan:
    """Steps for ``rules`` in order of priority; ``modelled`` are the columns a generator
    models (not identifiers or constants); rules in ``refuse`` are only checked."""
    modelled, refuse = set(modelled), set(refuse)
    out, producer, graph = Plan(), {}, {}
    for index, rule in enumerate(rules):
        step = None if index in refuse else step_for(index, rule)
        touched = set(step.produces + step.inputs) if step else set()
        if step is None or not touched <= modelled or any(c in producer for c in step.produces):
            out.checked.append(index)
            continue
        trial = {k: set(v) for k, v in graph.items()}
        for column in step.produces:
            trial.setdefault(column, set()).update(step.inputs)
        try:
            tuple(TopologicalSorter(trial).static_order())
        except CycleError:
            out.checked.append(index)
            continue
        graph = trial
        producer.update({c: step for c in step.produces})
        out.steps.append(step)
    out.steps = _ordered(out.steps, producer)
    return out


def _ordered(steps: list[Step], producer: dict[str, Step]) -> list[Step]:
    """Steps so that each runs after the steps producing its inputs."""
    sorter = TopologicalSorter()
    for step in steps:
        sorter.add(step.index, *(producer[c].index for c in step.inputs if c in producer))
    by_index = {s.index: s for s in steps}
    return [by_index[i] for i in sorter.static_order()]
