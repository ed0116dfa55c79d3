"""The causal graph in the evaluation report: from a fitted model, from edges, from the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ouroboros import metrics, synthesizers
from ouroboros.causal.graph import graph_record
from ouroboros.causal.simulate import scenarios
from ouroboros.errors import ParameterError
from ouroboros.metrics import Evaluation

SCM = scenarios()["tutoring"]


@pytest.fixture(scope="module")
def tables():
    real = SCM.sample(1500, np.random.default_rng(0))
    model = synthesizers.create(
        "causal", seed=0, dag=list(SCM.edges), remove_edges=[["school", "passed"]]
    ).fit(real)
    return real, model, model.sample(1500, seed=1)


def _graph_section(html: str) -> str:
    start = html.index('<section id="causal-graph">')
    return html[start : html.index("</section>", start)]


def test_the_report_draws_a_causal_models_graph(tables, tmp_path):
    real, model, synthetic = tables
    evaluation = metrics.evaluate(
        real, synthetic, metrics=["ks_complement"], ceilings=False, graph=model
    )
    record = evaluation.info["causal_graph"]
    assert record["removed"] == [["school", "passed"]]
    assert {tuple(e) for e in record["edges"]} == set(SCM.edges)
    html = evaluation.to_html(tmp_path / "report.html").read_text()
    section = _graph_section(html)
    assert 'href="#causal-graph"' in html
    assert "data:image/png;base64," in section
    for a, b in SCM.edges:
        state = "cut" if (a, b) == ("school", "passed") else "kept"
        assert f"<td>{a}</td><td>{b}</td><td>{state}</td>" in section
    # the graph travels in the JSON: `ouro report` draws it again
    again = Evaluation.from_json(evaluation.to_json()).to_html(tmp_path / "again.html")
    assert "<td>school</td><td>ability</td>" in _graph_section(again.read_text())


def test_no_graph_no_section(tables, tmp_path):
    real, _, synthetic = tables
    evaluation = metrics.evaluate(real, synthetic, metrics=["ks_complement"], ceilings=False)
    assert "causal_graph" not in evaluation.info
    assert 'id="causal-graph"' not in evaluation.to_html(tmp_path / "r.html").read_text()


def test_a_given_graph_is_checked_and_adjusts_intervention_error(tables, tmp_path):
    real, _, synthetic = tables
    evaluation = metrics.evaluate(
        real,
        synthetic,
        target="passed",
        sensitive="tutoring",
        metrics=["intervention_error"],
        ceilings=False,
        graph=list(SCM.edges),
    )
    assert evaluation["intervention_error"].details["adjusted_for"] == ["school", "ability"]
    with pytest.raises(ParameterError, match=r"unknown columns \['nope'\]"):
        metrics.evaluate(real, synthetic, metrics=["ks_complement"], graph=[["school", "nope"]])
    with pytest.raises(ParameterError, match="a cycle"):
        graph_record([["school", "ability"], ["ability", "school"]], list(real.columns))
    copula = synthesizers.create("gaussian_copula", seed=0).fit(real.head(200))
    with pytest.raises(ParameterError, match="has no causal graph"):
        graph_record(copula, list(real.columns))
    dag = tmp_path / "dag.json"
    dag.write_text(json.dumps({"edges": [["school", "passed"]]}))
    assert graph_record(dag, list(real.columns))["edges"] == [["school", "passed"]]


def test_cli_evaluate_with_a_causal_model_or_a_dag(tables, tmp_path):
    from ouroboros.cli import run

    real, model, synthetic = tables
    paths = {name: tmp_path / f"{name}.csv" for name in ("real", "synthetic")}
    real.to_csv(paths["real"], index=False)
    synthetic.to_csv(paths["synthetic"], index=False)
    saved = model.save(tmp_path / "m.ouro")
    base = ["evaluate", str(paths["real"]), str(paths["synthetic"]), "-m", "ks_complement"]
    report = tmp_path / "report.html"
    assert run([*base, "--model", str(saved), "-o", str(report)]) == 0
    assert "<td>school</td><td>passed</td><td>cut</td>" in _graph_section(report.read_text())
    dag = tmp_path / "dag.json"
    dag.write_text(json.dumps([["school", "ability"], ["ability", "passed"]]))
    assert run([*base, "--dag", str(dag), "-o", str(report)]) == 0
    section = _graph_section(report.read_text())
    assert "<td>ability</td><td>passed</td><td>kept</td>" in section
    assert "<td>school</td><td>passed</td>" not in section


def test_the_graph_page_of_ouro_fit_still_renders(tables, tmp_path):
    from ouroboros.report.causal import write_graph

    _, model, _ = tables
    page = write_graph(model.graph_.to_dict(), tmp_path / "g.html", model.removed_edges())
    text = page.read_text()
    assert "data:image/png;base64," in text and "<td>school</td><td>passed</td><td>cut</td>" in text
