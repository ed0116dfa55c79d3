"""The collapse lab runs a sequence generator unchanged; the report draws the sequence
section."""

from __future__ import annotations

import json
import warnings

import pytest

from ouroboros import metrics
from ouroboros.collapse import CollapseExperiment
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
