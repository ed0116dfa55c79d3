"""A structural causal model over the table's columns: interventions, counterfactuals and
fair-by-design data.

Each column is a node with a conditional model of its parents in a DAG, given by the user
(``dag=``) or discovered from data with background knowledge (:mod:`ouroboros.causal`);
sampling follows the topological order. Because every node is a structural equation,
``sample(n, interventions=...)`` draws from the interventional distribution ``do(X = x)``
and :meth:`CausalSynthesizer.counterfactual` answers "what would these rows have been"
by Pearl's three steps, abduction, action and prediction (Pearl 2009, "Causality", ch. 7).
``remove_edges`` and ``fair`` cut causal paths from a sensitive column to a target at
sampling time, after DECAF (van Breugel et al. 2021, "DECAF: Generating Fair Synthetic
Data Using Causally-Aware Generative Networks"): a removed parent's input is drawn from its
own (sampled) marginal, independently of the row.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ouroboros.causal.discovery import METHODS, discover, indicators, normal_scores
from ouroboros.causal.graph import CausalGraph, Edge, Knowledge, read_dag
from ouroboros.errors import ConditionError, DataError, OuroborosWarning, ParameterError
from ouroboros.schema import ColumnKind
from ouroboros.synthesizers.base import Synthesizer, Tags
from ouroboros.synthesizers.causal_nodes import Basis, NodeModel, NodeValues
from ouroboros.synthesizers.params import Anything, Integer, Number, OneOf, Param

Intervention = tuple[str, Any]


class CausalSynthesizer(Synthesizer):
    """Structural causal model over a given or discovered graph (Pearl 2009).

    Each column is a model of its parents (:mod:`~ouroboros.synthesizers.causal_nodes`).

    Parameters
    ----------
    dag:
        The graph: ``[[parent, child], ...]``, ``{"edges": [...]}`` or a JSON file of either;
        ``None`` discovers it. Columns it does not name are roots.
    discovery, alpha:
        ``"pc"`` (default: on the simulated benchmark it found the true graph far more often
        than DirectLiNGAM) or ``"lingam"``; the significance level of PC's tests.
    forbidden, required, tiers:
        Background knowledge for discovery: edge lists, and lists of columns in causal order.
    remove_edges:
        Edges cut at sampling time (``[["sex", "income"]]``).
    fair:
        ``{"sensitive": s, "target": t, "paths": "all" | "direct"}``: cut every causal path
        from ``s`` to ``t`` (its edges into ancestors of ``t``), or the direct edge only.
    knots, ridge:
        Hinges per numeric parent in the piecewise-linear basis; the ridge penalty.
    """

    name: ClassVar[str] = "causal"
    tags: ClassVar[Tags] = Tags(conditioning="rejection")
    parameters: ClassVar[dict[str, Param]] = {
        "dag": Param(None, Anything()),
        "discovery": Param("pc", OneOf(METHODS)),
        "alpha": Param(0.01, Number(0.0, 1.0, closed="neither")),
        "forbidden": Param(None, Anything()),
        "required": Param(None, Anything()),
        "tiers": Param(None, Anything()),
        "remove_edges": Param(None, Anything()),
        "fair": Param(None, Anything()),
        "knots": Param(4, Integer(0)),
        "ridge": Param(1e-3, Number(0.0)),
    }

    def _transformer_options(self) -> dict[str, Any]:
        return {"encoders": {"numeric": "standard", "categorical": "onehot"}}

    # --------------------------------------------------------------- fit
    def _layout(self) -> dict[str, dict]:
        """Where each modelled column lives in the matrix."""
        layout = {}
        for column in self.schema_.names:
            spans = self.transformer_.spans_for(column)
            if not spans:
                continue
            start, stop, span = spans[0]
            if span.kind == "category":
                layout[column] = {"type": "categorical", "start": start, "stop": stop}
            else:
                missing = spans[1][0] if len(spans) > 1 else None
                layout[column] = {
                    "type": "numeric",
                    "start": start,
                    "stop": stop,
                    "missing": missing,
                }
        return layout

    def _values(self, matrix: np.ndarray) -> dict[str, NodeValues]:
        values = {}
        for name, info in self.layout_.items():
            if info["type"] == "categorical":
                block = matrix[:, info["start"] : info["stop"]]
                values[name] = NodeValues(code=np.argmax(block, axis=1))
            else:
                m = info["missing"]
                missing = None if m is None else matrix[:, m + 1] > matrix[:, m]
                values[name] = NodeValues(
                    number=matrix[:, info["start"]].astype(np.float64), missing=missing
                )
        return values

    def _graph(self, values: dict[str, NodeValues]) -> CausalGraph:
        nodes = list(self.layout_)
        knowledge = Knowledge.build(self.forbidden, self.required, self.tiers)
        unknown = sorted(knowledge.columns() - set(nodes))
        if unknown:
            raise ParameterError(f"background knowledge names unknown columns {unknown}")
        if self.dag is not None:
            edges = read_dag(self.dag) if isinstance(self.dag, (str, os.PathLike)) else self.dag
            graph = CausalGraph.build(nodes, edges)
            broken = knowledge.violations(graph)
            if broken:
                raise ParameterError(
                    "the given graph (dag=) contradicts the background knowledge: "
                    + "; ".join(broken)
                )
            return graph
        if len(nodes) < 2:
            return CausalGraph.build(nodes, [])
        scores = np.column_stack([_score(values[n]) for n in nodes])
        blocks = [
            scores[:, [k]] if values[n].code is None else indicators(values[n].code)
            for k, n in enumerate(nodes)
        ]
        return discover(
            scores, nodes, knowledge, self.discovery, self.alpha, self.seed or 0, blocks
        )

    def _fit(self, matrix: np.ndarray, rng: np.random.Generator) -> None:
        self.layout_ = self._layout()
        values = self._values(matrix)
        self.graph_ = self._graph(values)
        self.order_ = self.graph_.order()
        self.nodes_ = {}
        for node in self.order_:
            parents = self.graph_.parents(node)
            basis = Basis.fit(parents, values, self.layout_, self.knots)
            self.nodes_[node] = NodeModel.fit(
                self.layout_[node], basis, values, values[node], self.ridge
            )
        self.template_ = self.transformer_.inverse_transform(
            np.zeros((1, self.transformer_.output_dim), dtype=np.float32), np.random.default_rng(0)
        )

    # --------------------------------------------------------------- sampling
    def sample(
        self,
        n: int,
        seed: int | None = None,
        conditions: dict[str, Any] | None = None,
        interventions: dict[str, Any] | None = None,
        watermark: bool = True,
    ) -> pd.DataFrame:
        """Draw ``n`` rows; ``interventions`` draws them under ``do()``.

        Each intervention maps a column to a value (``do(X = x)``), to a shift of a numeric
        column (``"+5"``, ``"-2.5"``), or to a distribution: a callable ``f(n, rng)``
        returning raw values, or for a categorical column a ``{value: probability}`` map.
        ``conditions`` then filter the interventional rows, as for any generator.
        """
        self._check_fitted()
        # The compiled interventions travel to _sample through the instance for this call.
        self._active = self._compile(interventions or {})
        try:
            return super().sample(n, seed, conditions, watermark=watermark)
        finally:
            self._active = {}

    def removed_edges(self) -> set[Edge]:
        """The edges cut at sampling time by ``remove_edges`` and ``fair``."""
        removed = {tuple(e) for e in (self.remove_edges or [])}
        if self.fair:
            try:
                sensitive, target = self.fair["sensitive"], self.fair["target"]
            except (KeyError, TypeError) as exc:
                raise ParameterError(
                    f"parameter 'fair' must be {{'sensitive': column, 'target': column}}; got {self.fair!r}"
                ) from exc
            unknown = sorted({sensitive, target} - set(self.layout_))
            if unknown:
                raise ParameterError(f"parameter 'fair' names unknown columns {unknown}")
            paths = self.fair.get("paths", "all")
            if paths not in ("all", "direct"):
                raise ParameterError(f"fair['paths'] must be 'all' or 'direct'; got {paths!r}")
            reach = {target} if paths == "direct" else self.graph_.ancestors(target) | {target}
            cut = {(sensitive, c) for c in self.graph_.children(sensitive) if c in reach}
            if not cut:
                _warn_uncut(self.graph_, sensitive, target, paths)
            removed |= cut
        unknown = sorted(removed - set(self.graph_.edges))
        if unknown:
            raise ParameterError(f"cannot remove edges {unknown}: the graph has no such edges")
        return removed

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        removed, active = self.removed_edges(), getattr(self, "_active", {})
        values: dict[str, NodeValues] = {}
        for node in self.order_:
            model = self.nodes_[node]
            inputs = _cut(values, model.basis.parents, node, removed, rng)
            drawn = model.draw(inputs, n, rng)
            if node in active:
                drawn = self._apply(node, active[node], drawn, n, rng)
            values[node] = drawn
        return self._matrix(values, n)

    def _matrix(self, values: dict[str, NodeValues], n: int) -> np.ndarray:
        matrix = np.zeros((n, self.transformer_.output_dim), dtype=np.float32)
        for name, info in self.layout_.items():
            got = values[name]
            if info["type"] == "categorical":
                matrix[np.arange(n), info["start"] + got.code] = 1.0
                continue
            matrix[:, info["start"]] = got.number
            if info["missing"] is not None:
                missing = np.zeros(n, bool) if got.missing is None else got.missing
                matrix[:, info["missing"]] = ~missing
                matrix[:, info["missing"] + 1] = missing
        return matrix

    # --------------------------------------------------------------- interventions
    def _encode(self, column: str, raw: Any) -> NodeValues:
        """Raw values of one column in the node's encoding (numbers or codes)."""
        raw = np.atleast_1d(np.asarray(raw, dtype=object))
        frame = self.template_.iloc[np.zeros(len(raw), dtype=int)].reset_index(drop=True)
        frame[column] = pd.array(raw).astype(self.template_[column].dtype)
        try:
            return self._values(self.transformer_.transform(frame))[column]
        except (TypeError, ValueError) as exc:
            raise ConditionError(
                f"intervention on {column!r}: cannot use {raw[:3]!r}: {exc}"
            ) from exc

    def _compile(self, interventions: dict[str, Any]) -> dict[str, Intervention]:
        """Check every intervention against the schema; one error lists every problem."""
        compiled, problems = {}, []
        for column, wanted in interventions.items():
            info = self.layout_.get(column)
            if info is None:
                problems.append(f"intervention on {column!r}: no such modelled column")
                continue
            try:
                compiled[column] = self._compile_one(column, info, wanted)
            except ConditionError as exc:
                problems.append(str(exc))
        if problems:
            raise ConditionError("; ".join(problems))
        return compiled

    def _compile_one(self, column: str, info: dict, wanted: Any) -> Intervention:
        if callable(wanted):
            return ("draw", wanted)
        if info["type"] == "categorical":
            if isinstance(wanted, dict):
                codes = [self._code(column, v) for v in wanted]
                p = np.asarray(list(wanted.values()), dtype=np.float64)
                if (p < 0).any() or p.sum() <= 0:
                    raise ConditionError(f"intervention on {column!r}: probabilities must be >= 0")
                return ("mix", (np.asarray(codes), p / p.sum()))
            return ("set", NodeValues(code=np.asarray([self._code(column, wanted)])))
        shift = _shift(wanted)
        if shift is not None:
            delta = self._encode(column, [shift]).number - self._encode(column, [0]).number
            return ("shift", float(delta[0]))
        if isinstance(wanted, str) and self.schema_[column].kind is not ColumnKind.DATETIME:
            try:
                wanted = float(wanted)
            except ValueError:
                raise ConditionError(
                    f"intervention on {column!r}: {wanted!r} is neither a number nor a shift "
                    "such as '+5'"
                ) from None
        return ("set", self._encode(column, [wanted]))

    def _code(self, column: str, value: Any) -> int:
        return self.transformer_.encode_condition(column, value)

    def _apply(
        self, column: str, action: Intervention, drawn: NodeValues, n: int, rng: np.random.Generator
    ) -> NodeValues:
        kind, payload = action
        if kind == "shift":
            return NodeValues(number=drawn.number + payload, missing=drawn.missing)
        if kind == "mix":
            codes, p = payload
            return NodeValues(code=codes[rng.choice(len(codes), size=n, p=p)])
        if kind == "draw":
            return self._encode(column, np.asarray(payload(n, rng), dtype=object))
        if payload.code is not None:
            return NodeValues(code=np.repeat(payload.code, n))
        return NodeValues(number=np.repeat(payload.number, n), missing=np.zeros(n, dtype=bool))

    # --------------------------------------------------------------- counterfactuals
    def counterfactual(
        self, rows: pd.DataFrame, interventions: dict[str, Any], seed: int | None = None
    ) -> pd.DataFrame:
        """What ``rows`` would have been under ``interventions`` (Pearl 2009, ch. 7):
        abduction of each node's noise from the row, the intervention, then prediction of
        the intervened columns' descendants; other columns keep their factual values.

        Numeric nodes have additive noise, so their counterfactual is exact; a categorical
        node's noise is only known to lie in its category's interval, so ``seed`` draws it.
        Rows with missing cells in the columns involved are refused, as is a model with
        cut edges (``remove_edges``/``fair``): the cut changes the equations themselves.
        """
        self._check_fitted()
        if self.removed_edges():
            raise ParameterError(
                "counterfactuals follow the fitted equations; unset remove_edges and fair first"
            )
        actions = self._compile(interventions)
        if not actions:
            raise ParameterError("counterfactual needs at least one intervention")
        affected = set(actions).union(*(self.graph_.descendants(c) for c in actions))
        involved = affected.union(*(self.graph_.parents(c) for c in affected))
        lacking = [c for c in self.schema_.names if c not in rows.columns]
        if lacking:
            raise DataError(f"counterfactual rows lack the training columns {lacking}")
        gaps = [c for c in sorted(involved) if rows[c].isna().any()] if not rows.empty else []
        if gaps:
            raise DataError(f"counterfactual rows have missing values in {gaps}; fill them first")
        rng = np.random.default_rng(seed)
        n = len(rows)
        factual = self._values(self.transformer_.transform(rows.reset_index(drop=True)))
        values = dict(factual)
        for node in self.order_:
            if node not in affected:
                continue
            model = self.nodes_[node]
            noise = model.abduct(factual, factual[node], rng)
            values[node] = model.predict(values, noise, n)
            if node in actions:
                values[node] = self._apply(node, actions[node], values[node], n, rng)
        decoded = self.transformer_.inverse_transform(self._matrix(values, n), rng)
        out = rows.reset_index(drop=True).copy()
        for column in sorted(affected):
            out[column] = decoded[column].to_numpy()
        return out

    # --------------------------------------------------------------- state
    def _get_state(self) -> dict[str, Any]:
        return {
            "graph": self.graph_.to_dict(),
            "layout": self.layout_,
            "nodes": {name: model.to_state() for name, model in self.nodes_.items()},
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self.graph_ = CausalGraph.from_dict(state["graph"])
        self.layout_ = {k: dict(v) for k, v in state["layout"].items()}
        self.order_ = self.graph_.order()
        self.nodes_ = {name: NodeModel.from_state(s) for name, s in state["nodes"].items()}
        self.template_ = self.transformer_.inverse_transform(
            np.zeros((1, self.transformer_.output_dim), dtype=np.float32), np.random.default_rng(0)
        )


def _warn_uncut(graph: CausalGraph, sensitive: str, target: str, paths: str) -> None:
    """``fair`` found nothing to cut: say why, and when the dependence stays."""
    what = "direct edge" if paths == "direct" else "causal path"
    message = f"fair: the graph has no {what} from {sensitive!r} to {target!r}; nothing is cut"
    if sensitive in graph.descendants(target):
        message += (
            f", and {target!r} causes {sensitive!r} there, so the two stay dependent "
            f"(give tiers with {sensitive!r} before {target!r})"
        )
    warnings.warn(message, OuroborosWarning, stacklevel=3)


def _score(got: NodeValues) -> np.ndarray:
    """One number per row for discovery: normal scores of values, or of category codes
    ordered by frequency."""
    if got.code is not None:
        order = np.argsort(np.argsort(-np.bincount(got.code)))
        return normal_scores(order[got.code].astype(np.float64))
    return normal_scores(got.number)


def _shift(wanted: Any) -> float | None:
    """The shift ``d`` of a ``"+d"``/``"-d"`` intervention, or ``None``."""
    if not (isinstance(wanted, str) and wanted[:1] in "+-"):
        return None
    try:
        return float(wanted)
    except ValueError:
        return None


def _cut(
    values: dict[str, NodeValues],
    parents: list[str],
    node: str,
    removed: set[Edge],
    rng: np.random.Generator,
) -> dict[str, NodeValues]:
    """The parents' values for ``node``, with each cut parent replaced by a permutation of
    its sampled values: its marginal, independent of the row (DECAF's edge removal)."""
    cut = [p for p in parents if (p, node) in removed]
    if not cut:
        return values
    inputs = dict(values)
    for parent in cut:
        got = values[parent]
        order = rng.permutation(len(got.code if got.code is not None else got.number))
        inputs[parent] = NodeValues(
            number=None if got.number is None else got.number[order],
            missing=None if got.missing is None else got.missing[order],
            code=None if got.code is None else got.code[order],
        )
    return inputs
