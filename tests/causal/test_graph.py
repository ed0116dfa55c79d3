"""The causal graph: validation, order, knowledge, JSON, and discovery with knowledge."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import norm

from ouroboros.causal.discovery import discover, indicators, mixed_pvalue, normal_scores
from ouroboros.causal.graph import CausalGraph, Knowledge, read_dag
from ouroboros.causal.simulate import scenarios
from ouroboros.errors import ParameterError

NODES = ["a", "b", "c", "d"]


def test_order_parents_and_reach():
    graph = CausalGraph.build(NODES, [("c", "b"), ("a", "c"), ("b", "d")])
    assert graph.order() == ["a", "c", "b", "d"]
    assert graph.parents("b") == ["c"]
    assert graph.descendants("a") == {"b", "c", "d"}
    assert graph.ancestors("d") == {"a", "b", "c"}


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        ([("a", "b"), ("b", "c"), ("c", "a")], "a cycle a -> b -> c -> a"),
        ([("a", "a")], "self-loops on ['a']"),
        ([("a", "zz")], "unknown columns ['zz']"),
        ([("a", "b"), ("a", "b")], "duplicate edges"),
        ([("a", "b", "c")], "pairs"),
    ],
)
def test_bad_graphs_are_named(edges, message):
    with pytest.raises(ParameterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        CausalGraph.build(NODES, edges)


def test_json_round_trip_and_file(tmp_path):
    graph = CausalGraph.build(NODES, [("a", "b"), ("b", "c")])
    assert CausalGraph.from_dict(json.loads(json.dumps(graph.to_dict()))) == graph
    path = tmp_path / "dag.json"
    path.write_text(json.dumps({"edges": [["a", "b"]]}))
    assert read_dag(path) == [("a", "b")]
    path.write_text("{not json")
    with pytest.raises(ParameterError, match="cannot read the graph file"):
        read_dag(path)


def test_knowledge_allows():
    knowledge = Knowledge.build(
        forbidden=[["a", "b"]], required=[["c", "d"]], tiers=[["a"], ["c", "d"]]
    )
    assert not knowledge.allows("a", "b")
    assert not knowledge.allows("d", "c")  # the reverse of a required edge
    assert not knowledge.allows("c", "a")  # a later tier never causes an earlier one
    assert knowledge.allows("a", "c")
    assert knowledge.columns() == {"a", "b", "c", "d"}


def _scores(scm, n=3000):
    table = scm.sample(n, np.random.default_rng(1))
    columns = []
    for name in table.columns:
        values = table[name]
        if values.dtype.kind in "fi":
            columns.append(normal_scores(values.to_numpy(float)))
        else:
            codes = values.map({k: i for i, k in enumerate(values.value_counts().index)})
            columns.append(normal_scores(codes.to_numpy(float)))
    return np.column_stack(columns), list(table.columns)


def test_pc_recovers_the_dose_graph():
    scm = scenarios()["dose"]
    scores, nodes = _scores(scm)
    assert set(discover(scores, nodes, Knowledge(), "pc").edges) == set(scm.edges)


@pytest.mark.parametrize("method", ["pc", "lingam"])
def test_discovery_obeys_background_knowledge(method):
    scm = scenarios()["tutoring"]
    scores, nodes = _scores(scm)
    knowledge = Knowledge.build(
        forbidden=[["school", "passed"]],
        required=[["tutoring", "passed"]],
        tiers=[["school"], ["ability"], ["tutoring", "passed"]],
    )
    graph = discover(scores, nodes, knowledge, method)
    assert ("school", "passed") not in graph.edges
    assert ("tutoring", "passed") in graph.edges
    assert all(knowledge.allows(a, b) for a, b in graph.edges)
    assert not graph.find_cycle()


@pytest.mark.parametrize(
    ("knowledge", "message"),
    [
        ({"forbidden": [["a", "b"]], "required": [["a", "b"]]}, "both forbidden and required"),
        ({"tiers": [["a"], ["a", "b"]]}, r"more than one tier: \['a'\]"),
        ({"required": [["b", "a"]], "tiers": [["a"], ["b"]]}, "into an earlier tier"),
    ],
)
def test_contradictory_knowledge_is_named(knowledge, message):
    with pytest.raises(ParameterError, match=message):
        Knowledge.build(**knowledge)


def test_a_given_graph_is_checked_against_knowledge():
    knowledge = Knowledge.build(forbidden=[["a", "b"]], required=[["c", "d"]], tiers=[["d"], ["b"]])
    graph = CausalGraph.build(NODES, [("a", "b"), ("b", "d")])
    broken = knowledge.violations(graph)
    assert broken == [
        "it has forbidden edges [('a', 'b')]",
        "it lacks required edges [('c', 'd')]",
        "edges [('b', 'd')] go into an earlier tier",
    ]


def test_the_mixed_test_sees_a_category_without_a_trend_in_its_codes():
    rng = np.random.default_rng(0)
    n = 4000
    codes = rng.integers(0, 3, n)
    y = np.array([0.5, -1.0, 0.5])[codes] + rng.normal(0, 1, n)  # no trend in code order
    blocks = [indicators(codes), normal_scores(y)[:, None]]
    cov = np.cov(np.hstack(blocks), rowvar=False)
    assert mixed_pvalue(cov, n, [0, 1], [2], []) < 1e-6
    scalar = np.cov(np.column_stack([normal_scores(codes.astype(float)), y]), rowvar=False)
    assert mixed_pvalue(scalar, n, [0], [1], []) > 1e-3  # one score per column misses it
    # a scalar pair: the likelihood ratio is Fisher's z test of the partial correlation
    x, z = rng.normal(size=n), rng.normal(size=n)
    w = 0.05 * x + z + rng.normal(size=n)
    cov = np.cov(np.column_stack([x, w, z]), rowvar=False)
    r = -np.linalg.inv(cov)[0, 1] / np.sqrt(np.linalg.inv(cov)[0, 0] * np.linalg.inv(cov)[1, 1])
    fisher = 2 * norm.sf(np.sqrt(n - 4) * abs(np.arctanh(r)))
    assert mixed_pvalue(cov, n, [0], [1], [2]) == pytest.approx(fisher, rel=0.05)
