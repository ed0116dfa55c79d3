"""The ``causal`` generator: graphs given every way, interventions, counterfactuals,
fairness by design and the model file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ouroboros import synthesizers
from ouroboros.causal.simulate import scenarios
from ouroboros.errors import ConditionError, DataError, OuroborosWarning, ParameterError
from ouroboros.synthesizers.causal import CausalSynthesizer

LINEAR = [("x", "y"), ("y", "z"), ("x", "z")]


def _linear(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.gamma(2.0, 1.0, n)
    y = 2.0 * x + rng.normal(0, 1, n)
    z = -1.0 * y + 0.5 * x + rng.laplace(0, 1, n)
    return pd.DataFrame({"x": x, "y": y, "z": z})


def _fair_table(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    sex = np.where(rng.random(n) < 0.5, "F", "M")
    hours = 35 + 6 * (sex == "M") + rng.normal(0, 4, n)
    age = rng.uniform(20, 60, n)
    income = np.where(
        rng.random(n) < 1 / (1 + np.exp(-(-6 + 0.1 * hours + 0.03 * age + 1.0 * (sex == "M")))),
        ">50K",
        "<=50K",
    )
    return pd.DataFrame({"sex": sex, "hours": hours, "age": age, "income": income})


FAIR_DAG = [("sex", "hours"), ("sex", "income"), ("hours", "income"), ("age", "income")]


@pytest.fixture(scope="module")
def linear_model():
    return CausalSynthesizer(seed=0, dag=LINEAR, knots=0).fit(_linear(20000))


def test_graph_as_list_dict_file_or_discovered(tmp_path):
    data = _linear(1500)
    path = tmp_path / "dag.json"
    path.write_text(json.dumps({"edges": [list(e) for e in LINEAR]}))
    for dag in (LINEAR, {"edges": LINEAR}, str(path)):
        assert set(CausalSynthesizer(seed=0, dag=dag).fit(data).graph_.edges) == set(LINEAR)
    found = CausalSynthesizer(seed=0, tiers=[["x"], ["y"], ["z"]]).fit(data).graph_
    assert set(found.edges) == set(LINEAR)


@pytest.mark.parametrize(
    ("dag", "message"),
    [
        ([("x", "y"), ("y", "x")], "a cycle"),
        ([("x", "nope")], "unknown columns"),
        ([("z", "z")], "self-loops"),
    ],
)
def test_bad_graph_is_a_clear_error(dag, message):
    with pytest.raises(ParameterError, match=message):
        CausalSynthesizer(dag=dag).fit(_linear(200))


def test_knowledge_on_unknown_columns_is_refused():
    with pytest.raises(ParameterError, match="unknown columns"):
        CausalSynthesizer(forbidden=[["x", "w"]]).fit(_linear(200))


def test_interventions_by_value_distribution_and_shift(linear_model):
    base = linear_model.sample(20000, seed=1)
    set_x = linear_model.sample(20000, seed=1, interventions={"x": 3.0})
    assert np.allclose(set_x["x"], 3.0)
    assert set_x["y"].mean() == pytest.approx(6.0, abs=0.1)  # E[y | do(x=3)] = 2 * 3
    assert set_x["z"].mean() == pytest.approx(-6.0 + 1.5, abs=0.15)
    shifted = linear_model.sample(20000, seed=1, interventions={"x": "+1"})
    assert shifted["x"].mean() - base["x"].mean() == pytest.approx(1.0, abs=0.05)
    assert shifted["y"].mean() - base["y"].mean() == pytest.approx(2.0, abs=0.1)
    drawn = linear_model.sample(
        20000, seed=1, interventions={"x": lambda n, rng: rng.uniform(1.0, 2.0, n)}
    )
    assert drawn["x"].between(1.0, 2.0).all() and drawn["y"].mean() == pytest.approx(3.0, abs=0.1)


def test_categorical_interventions_and_errors():
    scm = scenarios()["tutoring"]
    model = CausalSynthesizer(seed=0, dag=list(scm.edges)).fit(
        scm.sample(4000, np.random.default_rng(0))
    )
    forced = model.sample(500, seed=2, interventions={"tutoring": "yes"})
    assert (forced["tutoring"] == "yes").all()
    mixed = model.sample(4000, seed=2, interventions={"tutoring": {"yes": 0.2, "no": 0.8}})
    assert (mixed["tutoring"] == "yes").mean() == pytest.approx(0.2, abs=0.03)
    # do() leaves the treatment's causes alone, unlike conditioning on the treatment
    natural = model.sample(4000, seed=2)
    assert forced["ability"].mean() == pytest.approx(natural["ability"].mean(), abs=0.1)
    with pytest.raises(ConditionError, match="'maybe' was never seen in training"):
        model.sample(10, interventions={"tutoring": "maybe"})
    with pytest.raises(ConditionError, match="no such modelled column"):
        model.sample(10, interventions={"nope": 1})
    with pytest.raises(ConditionError, match="neither a number nor a shift"):
        model.sample(10, interventions={"ability": "+x"})


def test_interventional_effect_matches_the_truth():
    scm = scenarios()["dose"]
    model = CausalSynthesizer(seed=0, dag=list(scm.edges)).fit(
        scm.sample(4000, np.random.default_rng(0))
    )
    treated = model.sample(20000, seed=3, interventions={"dose": "+1"})
    control = model.sample(20000, seed=3)
    effect = scm.outcome_mean(treated) - scm.outcome_mean(control)
    assert effect == pytest.approx(scm.true_effect(100_000), abs=0.1)


def test_counterfactual_on_a_linear_scm_is_exact(linear_model):
    rows = _linear(50, seed=9)
    rows = rows[rows["x"].between(0.5, 5)].reset_index(drop=True)
    out = linear_model.counterfactual(rows, {"x": 2.0})
    assert np.allclose(out["x"], 2.0)
    y_cf = rows["y"] + 2.0 * (2.0 - rows["x"])
    z_cf = rows["z"] - (y_cf - rows["y"]) + 0.5 * (2.0 - rows["x"])
    assert np.abs(out["y"] - y_cf).max() < 0.06  # only the coefficients' estimation error
    assert np.abs(out["z"] - z_cf).max() < 0.08
    same = linear_model.counterfactual(rows, {"x": lambda n, rng: rows["x"].to_numpy()})
    assert np.abs(same[["y", "z"]] - rows[["y", "z"]]).to_numpy().max() < 1e-4  # consistency
    upstream = linear_model.counterfactual(rows, {"y": "+1"})
    pd.testing.assert_series_equal(upstream["x"], rows["x"])  # not a descendant: untouched
    assert np.abs(upstream["z"] - (rows["z"] - 1.0)).max() < 0.1


def test_counterfactual_refusals(linear_model):
    rows = _linear(5, seed=3)
    rows.loc[0, "y"] = np.nan
    with pytest.raises(DataError, match="missing values in"):
        linear_model.counterfactual(rows, {"x": 1.0})
    with pytest.raises(ParameterError, match="at least one intervention"):
        linear_model.counterfactual(rows, {})
    cut = CausalSynthesizer(seed=0, dag=LINEAR, remove_edges=[["x", "z"]]).fit(_linear(500))
    with pytest.raises(ParameterError, match="unset remove_edges"):
        cut.counterfactual(_linear(5), {"x": 1.0})


def _sex_coefficient(table: pd.DataFrame) -> float:
    """The coefficient of sex in a linear probability model of income on its allowed parents."""
    x = np.column_stack(
        [np.ones(len(table)), table["hours"], table["age"], (table["sex"] == "M").astype(float)]
    )
    y = (table["income"] == ">50K").to_numpy(float)
    return float(np.linalg.lstsq(x, y, rcond=None)[0][3])


def test_fair_removes_the_dependence():
    data = _fair_table()
    model = CausalSynthesizer(seed=0, dag=FAIR_DAG).fit(data)
    assert _sex_coefficient(model.sample(20000, seed=1)) > 0.1
    model.set_params(remove_edges=[["sex", "income"]])
    assert abs(_sex_coefficient(model.sample(20000, seed=1))) < 0.02
    model.set_params(remove_edges=None, fair={"sensitive": "sex", "target": "income"})
    fair = model.sample(20000, seed=1)
    rates = fair.groupby("sex")["income"].apply(lambda s: (s == ">50K").mean())
    assert abs(rates["M"] - rates["F"]) < 0.02  # every path cut: demographic parity
    assert abs(fair.groupby("sex")["hours"].mean().diff().iloc[-1]) < 0.3  # sex -> hours cut too
    assert data.groupby("sex")["hours"].mean().diff().iloc[-1] > 5
    model.set_params(fair={"sensitive": "sex", "target": "income", "paths": "direct"})
    direct = model.sample(20000, seed=1)
    assert abs(_sex_coefficient(direct)) < 0.02
    assert direct.groupby("sex")["hours"].mean().diff().iloc[-1] > 5  # the mediator path stays
    model.set_params(fair={"sensitive": "sex", "target": "nope"})
    with pytest.raises(ParameterError, match="unknown columns"):
        model.sample(10)


def test_save_load_keeps_graph_and_interventions(tmp_path):
    model = CausalSynthesizer(seed=0, dag=LINEAR).fit(_linear(800))
    path = model.save(tmp_path / "causal.ouro")
    loaded = synthesizers.load(path)
    assert loaded.graph_ == model.graph_
    pd.testing.assert_frame_equal(
        model.sample(100, seed=4, interventions={"x": "+1"}),
        loaded.sample(100, seed=4, interventions={"x": "+1"}),
    )


def test_cli_fit_with_a_dag_and_sample_with_interventions(tmp_path, capsys):
    from ouroboros.cli import run

    data, dag, model = tmp_path / "data.csv", tmp_path / "dag.json", tmp_path / "m.ouro"
    _linear(600).to_csv(data, index=False)
    dag.write_text(json.dumps([list(e) for e in LINEAR]))
    page = tmp_path / "graph.html"
    fit = ["fit", str(data), "--synth", "causal", "--dag", str(dag), "-o", str(model)]
    assert run([*fit, "--graph", str(page), "--param", 'remove_edges=[["x", "z"]]']) == 0
    assert synthesizers.load(model).graph_.edges == tuple(LINEAR)
    html = page.read_text()
    assert "data:image/png;base64," in html and "<td>x</td><td>z</td><td>cut</td>" in html
    out = tmp_path / "do.csv"
    args = ["sample", str(model), "-n", "50", "-o", str(out), "--seed", "1"]
    assert run([*args, "--intervene", "x=2.5", "--intervene", "y=+1"]) == 0
    assert np.allclose(pd.read_csv(out)["x"], 2.5)
    dag.write_text(json.dumps([["x", "y"], ["y", "x"]]))
    assert run(["fit", str(data), "--synth", "causal", "--dag", str(dag), "-o", str(model)]) == 1
    assert "a cycle" in capsys.readouterr().err


def test_point_masses_are_kept_and_counterfactuals_stay_consistent():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, 5000)
    gain = np.where(rng.random(5000) < 1 / (1 + np.exp(-(x - 2))), np.exp(3 + x), 0.0)
    data = pd.DataFrame({"x": x, "gain": np.round(gain, 2)})
    model = CausalSynthesizer(seed=0, dag=[("x", "gain")]).fit(data)
    out = model.sample(20000, seed=1)
    assert (out["gain"] == 0).mean() == pytest.approx((data["gain"] == 0).mean(), abs=0.02)
    more = model.sample(20000, seed=1, interventions={"x": "+1"})
    assert (more["gain"] == 0).mean() < (out["gain"] == 0).mean() - 0.03  # do(x + 1) lifts it
    same = model.counterfactual(
        data.head(200), {"x": lambda n, rng: data["x"].head(200).to_numpy()}
    )
    assert np.abs(same["gain"] - data["gain"].head(200)).max() < 1e-2


def test_discovery_sees_categorical_causes_through_their_levels():
    scm = scenarios()["dose"]  # region's effect on income is not monotone in any code order
    found = CausalSynthesizer(seed=0).fit(scm.sample(3000, np.random.default_rng(0))).graph_
    assert set(found.edges) == set(scm.edges)


def test_a_given_graph_must_agree_with_given_knowledge():
    with pytest.raises(ParameterError, match=r"contradicts .* into an earlier tier"):
        CausalSynthesizer(dag=LINEAR, tiers=[["z"], ["x"]]).fit(_linear(200))
    with pytest.raises(ParameterError, match="contradictory background knowledge"):
        CausalSynthesizer(forbidden=[["x", "y"]], required=[["x", "y"]]).fit(_linear(200))


def test_counterfactual_rows_need_every_column_and_numbers_may_be_text(linear_model):
    with pytest.raises(DataError, match=r"lack the training columns \['z'\]"):
        linear_model.counterfactual(_linear(5).drop(columns="z"), {"x": 1.0})
    as_text = linear_model.sample(50, seed=1, interventions={"x": "3"})
    assert np.allclose(as_text["x"], 3.0)


def test_fair_warns_when_nothing_can_be_cut():
    data = _fair_table(1500)
    model = CausalSynthesizer(seed=0, dag=[("income", "sex"), ("hours", "income")]).fit(data)
    model.set_params(fair={"sensitive": "sex", "target": "income"})
    with pytest.warns(OuroborosWarning, match="'income' causes 'sex' there"):
        model.sample(10, seed=0)
