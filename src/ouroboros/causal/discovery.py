"""Causal discovery from data with background knowledge, through causal-learn.

``pc`` runs the PC algorithm (Spirtes, Glymour & Scheines 2000, "Causation, Prediction,
and Search") with the knowledge as causal-learn background knowledge; the edges PC leaves
undirected are oriented by the tiers, then by column order, never into a cycle. Its
conditional-independence test is the degenerate-Gaussian likelihood-ratio test for mixed
data (Andrews, Ramsey & Cooper 2019, "Learning high-dimensional directed acyclic graphs
with mixed data-types"): a numeric column enters as its normal scores (the nonparanormal
of Harris & Drton 2013), a categorical one as the indicators of its levels, so a category
whose effect is not monotone in any order of its levels is still seen. ``lingam`` runs
DirectLiNGAM (Shimizu et al. 2011, after Shimizu et al. 2006, "A linear non-Gaussian
acyclic model for causal discovery"), which orients every edge when the noise is
non-Gaussian; it takes one score per column, so categories enter as normal scores of
their codes ordered by frequency, a lossy summary.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import numpy as np
from scipy.special import ndtri
from scipy.stats import chi2, rankdata

from ouroboros.causal.graph import CausalGraph, Edge, Knowledge
from ouroboros.errors import MissingDependencyError

METHODS = ("pc", "lingam")
#: DirectLiNGAM coefficients (on standardised scores) below this are taken as no edge
_LINGAM_THRESHOLD = 0.1
#: levels under this share of the rows join the reference level in the mixed CI test
_RARE_LEVEL = 0.01
_MIXED_TEST = "ouroboros_mixed"
_REGISTERED: list[type] = []  # the test class, once registered with causal-learn


def normal_scores(values: np.ndarray) -> np.ndarray:
    """Rank-based normal scores of one column (ties share their mid-rank)."""
    ranks = rankdata(values, method="average")
    return ndtri(ranks / (len(values) + 1))


def _require() -> None:
    if importlib.util.find_spec("causallearn") is None:
        raise MissingDependencyError(
            "causal discovery needs the optional extra 'causal' (causal-learn not installed); "
            "install it with: pip install 'ouroboros-synth[causal]', or give the graph (dag=)"
        )


def indicators(codes: np.ndarray) -> np.ndarray:
    """The indicator columns of a categorical column's codes: one per level held by at
    least 1% of the rows, the most frequent level (and the rare ones) the reference."""
    counts = np.bincount(codes)
    kept = [k for k in np.argsort(-counts)[1:] if counts[k] >= _RARE_LEVEL * len(codes)]
    return np.column_stack([codes == k for k in kept] or [np.zeros(len(codes))]).astype(float)


def mixed_pvalue(cov: np.ndarray, n: int, x: list[int], y: list[int], z: list[int]) -> float:
    """The p-value of ``X _||_ Y | Z`` for blocks of columns of a covariance matrix: the
    likelihood ratio of Gaussian regressions of ``X`` on ``Z`` with and without ``Y``,
    chi-squared with ``|X| |Y|`` degrees of freedom (Bartlett's scaling)."""
    xy = [*x, *y]
    part = cov[np.ix_(xy, xy)]
    if z:
        cross = cov[np.ix_(xy, z)]
        inner = cov[np.ix_(z, z)] + 1e-9 * np.eye(len(z))
        part = part - cross @ np.linalg.solve(inner, cross.T)
    part = part + 1e-9 * np.eye(len(xy))
    dx = len(x)
    gap = (
        np.linalg.slogdet(part[:dx, :dx])[1]
        + np.linalg.slogdet(part[dx:, dx:])[1]
        - np.linalg.slogdet(part)[1]
    )
    scale = max(n - len(z) - (len(x) + len(y) + 3) / 2, 1.0)
    return float(chi2.sf(max(scale * gap, 0.0), len(x) * len(y)))


def discover(
    scores: np.ndarray,
    nodes: Sequence[str],
    knowledge: Knowledge,
    method: str = "pc",
    alpha: float = 0.01,
    seed: int = 0,
    blocks: Sequence[np.ndarray] | None = None,
) -> CausalGraph:
    """A DAG over ``nodes`` from ``scores`` (rows by nodes, one numeric score per node);
    ``blocks`` (one ``(rows, width)`` array per node: normal scores, or indicators of a
    category's levels) feed PC's mixed-data test, else each node's score is its block."""
    _require()
    nodes = list(nodes)
    if blocks is None:
        blocks = [scores[:, [k]] for k in range(len(nodes))]
    found = (
        _pc(scores, list(blocks), nodes, knowledge, alpha)
        if method == "pc"
        else _lingam(scores, nodes, knowledge, seed)
    )
    return _orient(nodes, found, knowledge)


def _register_mixed_test() -> None:
    """Register the mixed-data test with causal-learn (once): its kwargs carry the blocks."""
    from causallearn.utils import cit

    if _REGISTERED:
        return

    class MixedTest(cit.CIT_Base):
        def __init__(self, data, blocks=(), **kwargs):
            super().__init__(data, **kwargs)
            self.check_cache_method_consistent(_MIXED_TEST, cit.NO_SPECIFIED_PARAMETERS_MSG)
            widths = np.cumsum([0, *(b.shape[1] for b in blocks)])
            self.columns = [list(range(a, b)) for a, b in zip(widths[:-1], widths[1:], strict=True)]
            self.cov = np.cov(np.hstack(blocks), rowvar=False).reshape(widths[-1], widths[-1])

        def __call__(self, X, Y, condition_set=None):
            xs, ys, zs, key = self.get_formatted_XYZ_and_cachekey(X, Y, condition_set)
            if key not in self.pvalue_cache:
                z = [c for node in zs for c in self.columns[node]]
                self.pvalue_cache[key] = mixed_pvalue(
                    self.cov, self.sample_size, self.columns[xs[0]], self.columns[ys[0]], z
                )
            return self.pvalue_cache[key]

    cit.register_ci_test(_MIXED_TEST, MixedTest)
    _REGISTERED.append(MixedTest)


def _pc(
    scores: np.ndarray,
    blocks: list[np.ndarray],
    nodes: list[str],
    knowledge: Knowledge,
    alpha: float,
):
    from causallearn.graph.GraphNode import GraphNode
    from causallearn.search.ConstraintBased.PC import pc
    from causallearn.utils.PCUtils.BackgroundKnowledge import BackgroundKnowledge

    graph_nodes = {name: GraphNode(name) for name in nodes}
    background = BackgroundKnowledge()
    for a, b in knowledge.forbidden:
        background.add_forbidden_by_node(graph_nodes[a], graph_nodes[b])
    for a, b in knowledge.required:
        background.add_required_by_node(graph_nodes[a], graph_nodes[b])
    for index, tier in enumerate(knowledge.tiers):
        for name in tier:
            background.add_node_to_tier(graph_nodes[name], index)
    _register_mixed_test()
    result = pc(
        scores,
        alpha,
        _MIXED_TEST,
        background_knowledge=background,
        show_progress=False,
        node_names=nodes,
        blocks=blocks,
    )
    matrix = result.G.graph
    directed, undirected = [], []
    for i in range(len(nodes)):
        for j in range(i + 1, len(nodes)):
            if matrix[j, i] == 1 and matrix[i, j] == -1:
                directed.append((nodes[i], nodes[j]))
            elif matrix[i, j] == 1 and matrix[j, i] == -1:
                directed.append((nodes[j], nodes[i]))
            elif matrix[i, j] != 0:
                undirected.append((nodes[i], nodes[j]))
    return directed, undirected


def _lingam(scores: np.ndarray, nodes: list[str], knowledge: Knowledge, seed: int):
    from causallearn.search.FCMBased.lingam import DirectLiNGAM

    index = {name: k for k, name in enumerate(nodes)}
    prior = -np.ones((len(nodes), len(nodes)), dtype=int)
    for a, b in knowledge.forbidden:
        prior[index[b], index[a]] = 0
    for a, b in knowledge.required:
        prior[index[b], index[a]] = 1
    for i, a in enumerate(nodes):
        for j, b in enumerate(nodes):
            ta, tb = knowledge.tier(a), knowledge.tier(b)
            if ta is not None and tb is not None and tb > ta:
                prior[i, j] = 0  # a later tier has no path into an earlier one
    np.fill_diagonal(prior, -1)
    model = DirectLiNGAM(random_state=seed, prior_knowledge=prior)
    model.fit((scores - scores.mean(0)) / np.maximum(scores.std(0), 1e-12))
    weights = model.adjacency_matrix_
    directed = [
        (nodes[j], nodes[i])
        for i in range(len(nodes))
        for j in range(len(nodes))
        if abs(weights[i, j]) > _LINGAM_THRESHOLD
    ]
    return directed, []


def _orient(
    nodes: list[str], found: tuple[list[Edge], list[Edge]], knowledge: Knowledge
) -> CausalGraph:
    """A DAG from directed and undirected edges: required edges first, then the directed
    ones the knowledge allows, then each undirected edge in an allowed direction; an edge
    that would close a cycle is dropped."""
    directed, undirected = found
    edges: list[Edge] = []

    def add(edge: Edge) -> bool:
        if edge in edges or (edge[1], edge[0]) in edges or not knowledge.allows(*edge):
            return False
        trial = CausalGraph(tuple(nodes), (*edges, edge))
        if trial.find_cycle():
            return False
        edges.append(edge)
        return True

    for edge in knowledge.required:
        if not add(edge):
            edges.append(edge)  # a required edge stays; a cycle is caught by build()
    for edge in directed:
        add(edge)
    for a, b in undirected:
        first = (a, b) if _before(a, b, nodes, knowledge) else (b, a)
        if not add(first):
            add((first[1], first[0]))
    return CausalGraph.build(nodes, edges)


def _before(a: str, b: str, nodes: list[str], knowledge: Knowledge) -> bool:
    ta, tb = knowledge.tier(a), knowledge.tier(b)
    if ta is not None and tb is not None and ta != tb:
        return ta < tb
    return nodes.index(a) < nodes.index(b)
