"""evaluate(), Evaluation and the registry: shapes, exports, validation, plugins."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from ouroboros import metrics
from ouroboros.errors import DataError, FileFormatError, ParameterError, SchemaError
from ouroboros.metrics import CATEGORIES, Evaluation, Metric, MetricResult, evaluate
from ouroboros.testing.metrics import metric_tables

FAST = ["ks_complement", "tv_complement", "exact_copy_rate", "variance_ratio"]


@pytest.fixture(scope="module")
def tables():
    return metric_tables(n=300, seed=3)


@pytest.fixture(scope="module")
def full(tables):
    return evaluate(
        tables["real"],
        tables["fresh"],
        holdout=tables["holdout"],
        target="label",
        sensitive="group",
    )


def test_registry_lists_every_category():
    names = metrics.names()
    assert len(names) == len(set(names)) >= 30
    assert {metrics.get(n).category for n in names} == set(CATEGORIES)
    with pytest.raises(ParameterError, match="unknown metric 'nope'.*ks_complement"):
        metrics.get("nope")


def test_tidy_table_scores_and_scorecard(full):
    table = full.table
    assert list(table.columns) == ["metric", "category", "direction", "column", "value", "ceiling"]
    # a table of rows gets every metric but those that need sequences
    rows_only = {n for n in metrics.names() if "sequence" not in metrics.get(n).requires}
    assert set(table["metric"]) == rows_only
    assert table[table["column"].isna()]["metric"].tolist() == full.names
    pairs = table[table["metric"] == "contingency_similarity"]["column"].dropna()
    assert "group × date" not in set(pairs) and all(" × " in p for p in pairs)
    scores = full.scores()
    assert list(scores.columns) == ["metric", "category", "direction", "value", "ceiling"]
    assert scores["ceiling"].notna().all()
    card = full.category_scores()
    assert list(card["category"]) == [c for c in CATEGORIES if c != "sequence"]
    assert card["score"].between(0, 1).all() and card["ceiling"].between(0, 1).all()
    assert card["verdict"].str.len().gt(10).all()


def test_default_set_skips_what_cannot_run(tables):
    evaluation = evaluate(tables["real"], tables["fresh"])
    assert evaluation.skipped["tstr_ratio"] == "needs a target"
    assert evaluation.skipped["dcr_share"] == "needs a holdout"
    assert evaluation.skipped["utility_gap_ratio"] == "needs a target and a sensitive column"
    assert evaluation.scores()["ceiling"].isna().all()
    assert "no ceiling" in evaluation.category_scores()["verdict"].iloc[0]
    with pytest.raises(ParameterError, match="'dcr_share' cannot be computed: needs a holdout"):
        evaluate(tables["real"], tables["fresh"], metrics=["dcr_share"])


def test_json_round_trip_keeps_every_number(full, tmp_path):
    text = full.to_json(tmp_path / "scores.json")
    assert (tmp_path / "scores.json").read_text().strip() == text
    data = json.loads(text)
    assert data["format"] == "ouroboros-evaluation"
    again = Evaluation.from_json(text)
    pd.testing.assert_frame_equal(again.table, full.table)
    pd.testing.assert_frame_equal(again.category_scores(), full.category_scores())
    assert again.skipped == full.skipped
    with pytest.raises(FileFormatError):
        Evaluation.from_json('{"format": "other"}')
    with pytest.raises(FileFormatError):
        Evaluation.from_json("not json")


def test_same_seed_same_scores_and_compute_matches_evaluate(tables):
    args = (tables["real"], tables["fresh"])
    kwargs = {
        "holdout": tables["holdout"],
        "target": "label",
        "metrics": [*FAST, "dcr_share", "tstr_ratio"],
    }
    first, second = evaluate(*args, **kwargs), evaluate(*args, **kwargs)
    pd.testing.assert_frame_equal(first.table, second.table)
    direct = metrics.get("tstr_ratio")().compute(*args, holdout=tables["holdout"], target="label")
    assert direct.value == first["tstr_ratio"].value


def test_validation_names_the_problem(tables):
    real = tables["real"]
    with pytest.raises(SchemaError, match=r"synthetic table lacks columns \['label'\]"):
        evaluate(real, real.drop(columns="label"), metrics=FAST)
    with pytest.raises(ParameterError, match="parameter 'target': no column 'nope'"):
        evaluate(real, real, target="nope", metrics=FAST)
    with pytest.raises(DataError, match="synthetic table must be a pandas DataFrame"):
        evaluate(real, real.to_numpy(), metrics=FAST)
    with pytest.raises(DataError, match="holdout table is empty"):
        evaluate(real, real, holdout=real.iloc[:0], metrics=FAST)
    bad = real.assign(score=real["score"].astype(object))
    bad.loc[3, "score"] = "oops"
    with pytest.raises(DataError, match="column 'score' .* holds 'oops'"):
        evaluate(real, bad, metrics=FAST)
    with pytest.raises(DataError, match="infinite"):
        evaluate(real, real.assign(score=np.inf), metrics=FAST)
    with pytest.raises(ParameterError, match="given more than once"):
        evaluate(real, real, metrics=["ks_complement", "ks_complement"])


def test_unseen_categories_and_all_missing_columns(tables):
    real = tables["real"]
    synthetic = tables["fresh"].assign(group="never-seen", amount=np.nan)
    evaluation = evaluate(real, synthetic, metrics=FAST + ["category_coverage", "range_coverage"])
    table = evaluation.table.set_index(["metric", "column"])["value"]
    assert table[("tv_complement", "group")] == 0.0
    assert table[("category_coverage", "group")] == 0.0
    assert table[("range_coverage", "amount")] == 0.0
    assert math.isnan(table[("ks_complement", "amount")])


class ConstantMetric(Metric):
    """A plugin metric that always scores one."""

    name = "always_one"
    category = "fidelity"
    direction = "higher"
    best, worst = 1.0, 0.0

    def _compute(self, context) -> MetricResult:
        return MetricResult(1.0, [("x", 1.0)])


def test_plugins_through_entry_points_and_register(monkeypatch, tables):
    class EntryPoint:
        name = "always_one"

        def load(self):
            return ConstantMetric

    monkeypatch.setattr(metrics.registry, "entry_points", lambda group: [EntryPoint()])
    assert "always_one" in metrics.names()
    assert metrics.get("always_one") is ConstantMetric
    for chosen in (["always_one"], [ConstantMetric], ConstantMetric()):
        evaluation = evaluate(tables["real"], tables["fresh"], metrics=chosen)
        assert evaluation.scores()["value"].tolist() == [1.0]
    with pytest.raises(ParameterError, match="taken by a built-in"):
        metrics.register(type("Clash", (ConstantMetric,), {"name": "ks_complement"}))
    with pytest.raises(ParameterError, match="direction 'up'"):
        metrics.register(type("Bad", (ConstantMetric,), {"name": "bad", "direction": "up"}))


def test_regression_target_and_numeric_sensitive_column(tables):
    chosen = ["tstr_ratio", "group_share_similarity", "outcome_gap_ratio", "utility_gap_ratio"]
    evaluation = evaluate(
        tables["real"],
        tables["fresh"],
        holdout=tables["holdout"],
        target="score",
        sensitive="count",
        metrics=chosen,
    )
    utility = evaluation["tstr_ratio"]
    assert utility.details["task"] == "regression"
    assert {row["column"] for row in utility.rows} == {"linear", "boosting"}
    assert 0.7 < utility.value < 1.3
    groups = evaluation["group_share_similarity"].details["groups"]
    assert groups[0] == "(missing)" and len(groups) == 5 and groups[1].startswith("[-inf, ")
    assert evaluation["outcome_gap_ratio"].details["outcome"].startswith("mean 'score'")
    assert all(r.value is not None for r in evaluation.records)
