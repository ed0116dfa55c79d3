"""How each rule is kept by construction: which column it derives, from which others.

A rule becomes a step: an ordering ``x >= expr`` models a non-negative gap and derives
the greater side, ``x = expr + gap`` (the lesser when the greater is not a column or is
produced by another rule); an equality ``x == expr`` derives ``x``; a linear
(in)equality without a lone column on either side isolates one (``a + b > c + d``
derives ``a = c + d - b + gap``); a dependency maps its
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

import numpy as np

from ouroboros.rules.language import (
    BinOp,
    Call,
    Col,
    Compare,
    Conditional,
    Dependency,
    Expression,
    Fixed,
    Neg,
    Node,
    Num,
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


def _expression_steps(index: int, tree: Node) -> list[Step]:
    if not isinstance(tree, Compare) or tree.op == "!=":
        return []
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
        return [Step(index, "together", (right.arg.name,), (left.arg.name,), right.arg.name)]
    sides = [(left, right, op), (right, left, _FLIP[op])]
    if op in ("<", "<="):
        sides.reverse()  # the greater side is derived: lower column + non-negative gap
    out = []
    for side, other, sign_op in sides:
        if isinstance(side, Col) and side.name not in node_columns(other):
            inputs = tuple(node_columns(other))
            if not inputs and sign_op != "==":
                return []  # a range: kept by the bounded transforms, checked
            out.append(_derive(index, side.name, other, sign_op))
    lone = {s.target for s in out}
    return out + [s for s in _isolated(index, tree) if s.target not in lone]


def _derive(index: int, target: str, expr: Node, op: str) -> Step:
    """``target op expr`` kept as ``target = expr (+/- gap)``."""
    inputs = tuple(node_columns(expr))
    return Step(index, "derive", (target,), inputs, target, expr, _SIGN[op], op in ("<", ">"))


#: a linear form: coefficients of columns (by name), of opaque terms (non-linear
#: sub-expressions such as ``abs(x)`` or ``x * y``, by node) and of the constant (``None``)
Form = dict[str | Node | None, float]


def linear_form(node: Node) -> Form:
    """``node`` as a sum of coefficients times columns, opaque terms and a constant."""
    if isinstance(node, Col):
        return {node.name: 1.0}
    if isinstance(node, Num):
        return {None: float(node.value)}
    if isinstance(node, Neg):
        return _scaled(linear_form(node.operand), -1.0)
    if isinstance(node, BinOp):
        left, right = linear_form(node.left), linear_form(node.right)
        if node.op in "+-":
            sign = 1.0 if node.op == "+" else -1.0
            out = dict(left)
            for key, coef in right.items():
                out[key] = out.get(key, 0.0) + sign * coef
            return {k: v for k, v in out.items() if v != 0}
        if node.op == "*" and set(left) <= {None}:
            return _scaled(right, left.get(None, 0.0))
        if node.op == "*" and set(right) <= {None}:
            return _scaled(left, right.get(None, 0.0))
        if node.op == "/" and set(right) == {None}:
            return _scaled(left, 1.0 / right[None])
    return {node: 1.0}


def _scaled(form: Form, factor: float) -> Form:
    return {k: v * factor for k, v in form.items() if v * factor != 0}


def _term(tree: Node | None, coef: float, key: str | Node | None) -> Node:
    """``tree + coef * key`` (a column name, an opaque term, or ``None``: the constant),
    written with the sign outside so that unit coefficients need no multiplication."""
    size = abs(coef)
    term: Node = Num(size) if key is None else Col(key) if isinstance(key, str) else key
    if key is not None and size != 1:
        term = BinOp("*", Num(size), term)
    if tree is None:
        return term if coef > 0 else Neg(term)
    return BinOp("+" if coef > 0 else "-", tree, term)


def _isolated(index: int, tree: Compare) -> list[Step]:
    """Steps for an (in)equality linear in some column without being a lone column on
    either side: ``k * x + rest op 0`` gives ``x op' -rest / k`` (``a + b > c + d``:
    ``a = c + d - b + gap``; ``abs(a) <= b + c``: ``b = abs(a) - c + gap``). A column
    inside a non-linear term (``abs(x)``, ``x * y``) cannot be isolated. Unit
    coefficients come first (no division, so integer columns invert exactly), then a
    derived greater side."""
    form = linear_form(BinOp("-", tree.left, tree.right))
    blocked = {
        c for key in form if not isinstance(key, (str, type(None))) for c in node_columns(key)
    }
    out = []
    for target, k in form.items():
        if not isinstance(target, str) or target in blocked:
            continue
        rest = [(key, coef) for key, coef in form.items() if key != target]
        if not any(key is not None for key, _ in rest):
            continue  # one column against constants: a range
        unit, expr = abs(k) == 1, None
        for key, coef in sorted(rest, key=lambda item: item[0] is None):
            expr = _term(expr, -coef / k if unit else -coef * np.sign(k), key)
        if not unit:
            expr = BinOp("/", expr, Num(abs(k)))
        out.append(_derive(index, target, expr, tree.op if k > 0 else _FLIP[tree.op]))
    return sorted(out, key=lambda s: (abs(form[s.target]) != 1, s.sign < 0))


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


def candidates(index: int, rule: Rule) -> list[Step]:
    """The steps that could keep ``rule`` by construction, preferred first (none: it
    is checked only)."""
    if isinstance(rule, Expression):
        return _expression_steps(index, rule.tree)
    if isinstance(rule, Conditional):
        step = _conditional_step(index, rule)
        return [] if step is None else [step]
    if isinstance(rule, Dependency):
        return [Step(index, "lookup", rule.dependents, rule.determinants)]
    if isinstance(rule, Fixed):
        return [Step(index, "combine", rule.members)]
    return []


def step_for(index: int, rule: Rule) -> Step | None:
    """The preferred step that keeps ``rule`` by construction, or ``None`` (checked only)."""
    steps = candidates(index, rule)
    return steps[0] if steps else None


def plan(rules: list[Rule], modelled: Iterable[str], refuse: Iterable[int] = ()) -> Plan:
    """Steps for ``rules`` in order of priority; ``modelled`` are the columns a generator
    models (not identifiers or constants); rules in ``refuse`` are only checked."""
    modelled, refuse = set(modelled), set(refuse)
    out, producer, graph = Plan(), {}, {}
    for index, rule in enumerate(rules):
        for step in [] if index in refuse else candidates(index, rule):
            trial = _fits(step, modelled, producer, graph)
            if trial is not None:
                graph = trial
                producer.update({c: step for c in step.produces})
                out.steps.append(step)
                break
        else:
            out.checked.append(index)
    out.steps = _ordered(out.steps, producer)
    return out


def _fits(
    step: Step, modelled: set[str], producer: dict[str, Step], graph: dict[str, set[str]]
) -> dict[str, set[str]] | None:
    """The dependency graph with ``step`` added, or ``None`` where it reads or writes an
    unmodelled column, writes a column another step writes, or closes a cycle."""
    if not set(step.produces + step.inputs) <= modelled:
        return None
    if any(c in producer for c in step.produces):
        return None
    trial = {k: set(v) for k, v in graph.items()}
    for column in step.produces:
        trial.setdefault(column, set()).update(step.inputs)
    try:
        tuple(TopologicalSorter(trial).static_order())
    except CycleError:
        return None
    return trial


def _ordered(steps: list[Step], producer: dict[str, Step]) -> list[Step]:
    """Steps so that each runs after the steps producing its inputs."""
    sorter = TopologicalSorter()
    for step in steps:
        sorter.add(step.index, *(producer[c].index for c in step.inputs if c in producer))
    by_index = {s.index: s for s in steps}
    return [by_index[i] for i in sorter.static_order()]
