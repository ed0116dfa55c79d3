"""Directed acyclic graphs over a table's columns, and background knowledge about them.

A graph is a list of ``(parent, child)`` edges over named nodes; :class:`CausalGraph`
validates it once (unknown columns, self-loops and cycles are named in one error), gives
the topological order that sampling follows (Pearl 2009, "Causality", ch. 1) and travels
as JSON. :class:`Knowledge` holds what a user knows before discovery: forbidden and
required edges, and tiers ("age comes before education"), whose later tiers never cause
earlier ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ouroboros.errors import ParameterError

Edge = tuple[str, str]


def _edges(value: Any, what: str) -> list[Edge]:
    """``value`` as a list of ``(parent, child)`` string pairs, or a clear error."""
    if value is None:
        return []
    if isinstance(value, dict) and "edges" in value:
        value = value["edges"]
    try:
        pairs = [tuple(edge) for edge in value]
    except TypeError as exc:
        raise ParameterError(
            f"{what} must be a list of [parent, child] pairs; got {value!r}"
        ) from exc
    bad = [p for p in pairs if len(p) != 2 or not all(isinstance(x, str) for x in p)]
    if bad:
        raise ParameterError(f"{what} must be [parent, child] pairs of column names; got {bad[:3]}")
    return [(a, b) for a, b in pairs]


@dataclass(frozen=True)
class CausalGraph:
    """A DAG over ``nodes``; build it with :meth:`build`, which checks it."""

    nodes: tuple[str, ...]
    edges: tuple[Edge, ...]

    @classmethod
    def build(cls, nodes: Sequence[str], edges: Any) -> CausalGraph:
        """Check ``edges`` against ``nodes``: every problem (unknown columns, self-loops,
        duplicate edges, a cycle) is reported in one :class:`ParameterError`."""
        pairs = _edges(edges, "the graph")
        known, problems = set(nodes), []
        unknown = sorted({x for edge in pairs for x in edge} - known)
        if unknown:
            problems.append(f"unknown columns {unknown} (columns are {list(nodes)})")
        loops = sorted({a for a, b in pairs if a == b})
        if loops:
            problems.append(f"self-loops on {loops}")
        if len(set(pairs)) != len(pairs):
            problems.append("duplicate edges")
        if problems:
            raise ParameterError("invalid causal graph: " + "; ".join(problems))
        graph = cls(tuple(nodes), tuple(pairs))
        cycle = graph.find_cycle()
        if cycle:
            raise ParameterError("invalid causal graph: a cycle " + " -> ".join(cycle))
        return graph

    def parents(self, node: str) -> list[str]:
        """The parents of ``node``, in node order."""
        direct = {a for a, b in self.edges if b == node}
        return [n for n in self.nodes if n in direct]

    def children(self, node: str) -> list[str]:
        direct = {b for a, b in self.edges if a == node}
        return [n for n in self.nodes if n in direct]

    def _reach(self, start: str, step) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in step(todo.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    def descendants(self, node: str) -> set[str]:
        """Nodes reachable from ``node`` along directed edges (``node`` excluded)."""
        return self._reach(node, self.children)

    def ancestors(self, node: str) -> set[str]:
        return self._reach(node, self.parents)

    def find_cycle(self) -> list[str]:
        """One directed cycle as a closed list of nodes, or ``[]`` for a DAG."""
        state: dict[str, int] = {}
        stack: list[str] = []

        def visit(node: str) -> list[str]:
            state[node] = 1
            stack.append(node)
            for child in self.children(node):
                if state.get(child) == 1:
                    return [*stack[stack.index(child) :], child]
                if child not in state and (found := visit(child)):
                    return found
            stack.pop()
            state[node] = 2
            return []

        for node in self.nodes:
            if node not in state and (found := visit(node)):
                return found
        return []

    def order(self) -> list[str]:
        """A topological order (Kahn's algorithm), ties broken by node order."""
        indegree = {n: len(self.parents(n)) for n in self.nodes}
        ready = [n for n in self.nodes if indegree[n] == 0]
        out = []
        while ready:
            node = ready.pop(0)
            out.append(node)
            for child in self.children(node):
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
            ready.sort(key=self.nodes.index)
        return out

    def without(self, edges: Iterable[Edge]) -> CausalGraph:
        """The graph with ``edges`` removed (edges it does not have are ignored)."""
        drop = set(edges)
        return CausalGraph(self.nodes, tuple(e for e in self.edges if e not in drop))

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": list(self.nodes), "edges": [list(e) for e in self.edges]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CausalGraph:
        return cls.build(list(data["nodes"]), data["edges"])


def graph_record(value: Any, columns: Sequence[str]) -> dict[str, list]:
    """A graph to draw, as JSON-ready ``{"nodes", "edges", "removed"}``, from a fitted causal
    model (its ``graph_`` and the edges it cuts at sampling), a :class:`CausalGraph`, a dict
    ``{"nodes", "edges"}``, an edge list or a JSON file of one; lists are checked against
    ``columns``."""
    removed: list = []
    if hasattr(value, "graph_") and callable(getattr(value, "removed_edges", None)):
        removed = sorted(value.removed_edges())
        value = value.graph_
    elif hasattr(value, "sample") and hasattr(value, "fit"):
        name = getattr(value, "name", type(value).__name__)
        raise ParameterError(
            f"a {name!r} model has no causal graph (only a fitted 'causal' model has one)"
        )
    if isinstance(value, (str, os.PathLike)):
        value = read_dag(value)
    if isinstance(value, dict) and "nodes" in value:
        value = CausalGraph.from_dict(value)
    graph = value if isinstance(value, CausalGraph) else CausalGraph.build(columns, value)
    return {**graph.to_dict(), "removed": [list(e) for e in removed]}


def read_dag(path: str | os.PathLike) -> list[Edge]:
    """Edges from a JSON file holding ``[[parent, child], ...]`` or ``{"edges": [...]}``."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ParameterError(f"cannot read the graph file {str(path)!r}: {exc}") from exc
    return _edges(data, f"the graph in {str(path)!r}")


@dataclass(frozen=True)
class Knowledge:
    """Background knowledge for discovery: ``forbidden`` and ``required`` edges, and
    ``tiers`` (lists of columns; no column causes one in an earlier tier)."""

    forbidden: tuple[Edge, ...] = ()
    required: tuple[Edge, ...] = ()
    tiers: tuple[tuple[str, ...], ...] = field(default=())

    @classmethod
    def build(cls, forbidden: Any = None, required: Any = None, tiers: Any = None) -> Knowledge:
        """Knowledge from plain lists, checked for shape and for contradictions (an edge
        both forbidden and required, a column in two tiers, a required edge into an earlier
        tier), all named in one :class:`ParameterError`."""
        tiers = tiers or []
        if not all(isinstance(t, (list, tuple)) for t in tiers):
            raise ParameterError(f"tiers must be a list of lists of columns; got {tiers!r}")
        knowledge = cls(
            tuple(_edges(forbidden, "forbidden")),
            tuple(_edges(required, "required")),
            tuple(tuple(t) for t in tiers),
        )
        placed = [c for tier in knowledge.tiers for c in tier]
        problems = []
        twice = sorted({c for c in placed if placed.count(c) > 1})
        if twice:
            problems.append(f"columns in more than one tier: {twice}")
        both = sorted(set(knowledge.forbidden) & set(knowledge.required))
        if both:
            problems.append(f"edges both forbidden and required: {both}")
        if not twice:
            against = [e for e in knowledge.required if not knowledge._tiers_allow(*e)]
            if against:
                problems.append(f"required edges into an earlier tier: {against}")
        if problems:
            raise ParameterError("contradictory background knowledge: " + "; ".join(problems))
        return knowledge

    def violations(self, graph: CausalGraph) -> list[str]:
        """What of the knowledge a given graph breaks, in words (empty: none)."""
        problems = []
        forbidden = sorted(set(graph.edges) & set(self.forbidden))
        if forbidden:
            problems.append(f"it has forbidden edges {forbidden}")
        missing = sorted(set(self.required) - set(graph.edges))
        if missing:
            problems.append(f"it lacks required edges {missing}")
        against = sorted(e for e in graph.edges if not self._tiers_allow(*e))
        if against:
            problems.append(f"edges {against} go into an earlier tier")
        return problems

    def columns(self) -> set[str]:
        """Every column the knowledge names."""
        named = {x for e in (*self.forbidden, *self.required) for x in e}
        return named | {c for tier in self.tiers for c in tier}

    def tier(self, node: str) -> int | None:
        for index, members in enumerate(self.tiers):
            if node in members:
                return index
        return None

    def allows(self, parent: str, child: str) -> bool:
        """Whether the edge ``parent -> child`` is consistent with the knowledge."""
        if (parent, child) in self.forbidden:
            return False
        if (child, parent) in self.required:
            return False
        return self._tiers_allow(parent, child)

    def _tiers_allow(self, parent: str, child: str) -> bool:
        a, b = self.tier(parent), self.tier(child)
        return a is None or b is None or a <= b
