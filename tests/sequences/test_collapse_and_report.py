"""The collapse lab runs a sequence generator unchanged; the report draws the sequence
section."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from ouroboros import metrics, synthesizers
from ouroboros.collapse import CollapseExperiment, strategies
from ouroboros.collapse.experiment import default_metrics
from ouroboros.report.sequence import sequence_figures
from ouroboros.testing.sequences import sequence_schema, sequence_table


def test_default_metrics_take_the_sequence_ones_only_for_sequences():
    plain, sequential = set(default_metrics()), set(default_metrics(sequence=True))
    assert "autocorrelation_drift" not in plain and "discriminative_score" not in plain
    assert {"autocorrelation_drift", "discriminative_score", "long_sequences_kept"} <= sequential
    assert plain <= sequential


@pytest.mark.slow
def test_two_generations_of_a_sequence_generator_in_the_collapse_lab():
    real = sequence_table(60, seed=0)
    names = ["change_tail_kept", "long_sequences_kept", "autocorrelation_drift", "tail_kept"]
    exp = CollapseExperiment(
        "sequence_bootstrap",
        real,
        holdout=0.3,
        generations=2,
        strategy="replace",
        seeds=1,
        schema=sequence_schema(real),
        metrics=names,
    )
    plan = exp.plan()
    entities = set(plan.holdout["entity"])
    assert not entities & set(plan.train["entity"]), "the holdout must take whole entities"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = exp.run(workers=1)
    table = result.table
    assert sorted(table["generation"].unique()) == [0, 1]
    assert set(names) <= set(table["metric"])
    assert table["value"].notna().all()


def _generation(table, schema, seed):
    return synthesizers.create("sequence_bootstrap", seed=seed).fit(table, schema, guard="off")


@pytest.mark.parametrize("text_keys", [False, True])
def test_real_and_synthetic_entities_stay_apart_when_strategies_mix_them(text_keys):
    real = sequence_table(30, seed=0)
    if text_keys:  # a text key already spelt like the generated ones
        real["entity"] = "s" + (real["entity"] - 999).astype(str)
    schema = sequence_schema(real)
    samples = [_generation(real, schema, 0).sample(25, seed=1)]
    size = real["entity"].nunique()  # the lab counts a sequence table in entities
    pool = strategies.Pool(real, real.iloc[:0], lambda k: samples[k], size, schema)
    rng = np.random.default_rng(0)
    both = strategies.parse("accumulate").training_set(1, pool, rng).data
    assert both["entity"].nunique() == 30 + 25
    samples.append(_generation(both, sequence_schema(both), 2).sample(20, seed=3))
    third = strategies.parse("accumulate").training_set(2, pool, rng).data
    assert third["entity"].nunique() == 30 + 25 + 20
    mixed = strategies.parse("mix:0.5").training_set(2, pool, rng).data
    sources = [set(real["entity"]), set(samples[1]["entity"])]
    assert set(mixed["entity"]) <= sources[0] | sources[1] and not sources[0] & sources[1]


def test_the_report_draws_acf_curves_and_example_sequences(tmp_path):
    real, other = (
        sequence_table(40, seed=0, mean_length=12),
        sequence_table(40, seed=1, mean_length=12),
    )
    result = metrics.evaluate(
        real, other, schema=sequence_schema(real), metrics=["autocorrelation_error"]
    )
    data = json.loads(result.to_json())
    found = sequence_figures({r["name"]: r for r in data["metrics"]})
    assert [f["title"] for f in found] == ["Autocorrelation", "Example sequences"]
    assert all(f["image"].startswith("data:image/png;base64,") for f in found)
    page = result.to_html(tmp_path / "report.html").read_text()
    assert "Sequences" in page and "Example sequences" in page
