"""`ouro evaluate --model` and the report show a DP model's privacy record: mechanism,
epsilon, delta, the accountant and its parameters, the split between schema and model."""

from __future__ import annotations

import json

import pytest
from test_mst import correlated, public_schema

from ouroboros.cli import run
from ouroboros.privacy.audit import NOT_PRIVATE, model_privacy, privacy_summary
from ouroboros.report import render_evaluation
from ouroboros.synthesizers import registry


def _fields(summary: dict) -> dict[str, str]:
    return dict(summary["rows"])


def test_evaluate_shows_a_marginal_models_record_in_terminal_json_and_html(tmp_path, capsys):
    data, schema, model = tmp_path / "d.csv", tmp_path / "s.json", tmp_path / "m.ouro"
    correlated(600).to_csv(data, index=False)
    public_schema().save(schema)
    fit = ["fit", str(data), "--synth", "mst", "--schema", str(schema), "--guard", "off"]
    assert run([*fit, "--epsilon", "1", "--delta", "1e-6", "-o", str(model)]) == 0
    synthetic = tmp_path / "syn.csv"
    assert run(["sample", str(model), "-n", "300", "-o", str(synthetic)]) == 0
    capsys.readouterr()
    html, scores = tmp_path / "r.html", tmp_path / "r.json"
    argv = ["evaluate", str(data), str(synthetic), "--model", str(model), "-m", "tv_complement"]
    assert run([*argv, "-o", str(html), "--json", str(scores)]) == 0
    captured = capsys.readouterr()
    out = " ".join((captured.out + captured.err).split())
    for text in ("privacy record", "zCDP", "budget split", "budget spends", "exponential"):
        assert text in out
    record = json.loads(scores.read_text())["info"]["privacy_record"]
    fields = _fields(record)
    assert fields["mechanism"].startswith("MST")
    assert "epsilon 1, delta 1e-06" in fields["guarantee"]
    assert "schema: share 0" in fields["budget split"] and "model: rho" in fields["budget split"]
    page = html.read_text()
    assert "Privacy guarantee of the model" in page and "Budget spends by mechanism" in page
    # the report drawn again from the JSON keeps it
    assert "Privacy guarantee of the model" in render_evaluation(json.loads(scores.read_text()))


def test_a_dp_sgd_record_names_its_accountant_parameters_and_split():
    pytest.importorskip("opacus")
    from test_dpsgd import DATA, _dp

    model = _dp("tvae", epochs=1, epsilon=50.0, schema_share=0.2).fit(DATA.drop(columns=["city"]))
    fields = _fields(model_privacy(model))
    assert fields["mechanism"] == "DP-SGD"
    assert fields["accountant"].startswith("rdp")
    params = fields["accountant parameters"]
    for text in ("noise multiplier", "sample rate", "Poisson", "steps of", "max grad norm"):
        assert text in params
    assert "schema: share 0.2" in fields["budget split"]
    assert "measured" in fields["schema"]
    spends = model_privacy(model)["spends"]
    assert [s[0] for s in spends].count("schema") >= 1
    assert spends[-1][1] == "network weights"
    totals = model_privacy(model)["totals"]
    assert {row[0] for row in totals} == {"schema", "model"}


def test_a_model_without_privacy_says_so():
    model = registry.create("independent", seed=0).fit(correlated(200))
    summary = model_privacy(model)
    assert not summary["private"] and _fields(summary)["guarantee"] == NOT_PRIVATE
    assert privacy_summary(None, "x")["spends"] == []
