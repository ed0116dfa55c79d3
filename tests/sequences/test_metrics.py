"""Sequence metrics: correctness on known curves, applicability, evaluate and collapse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouroboros import metrics
from ouroboros.metrics.context import EvaluationContext
from ouroboros.metrics.sequence_view import acf, ks_distance, pacf, transitions, view
from ouroboros.schema import Schema
from ouroboros.testing.processes import ar1_series, entity_table
from ouroboros.testing.sequences import sequence_schema, sequence_table, shuffle_within

SEQUENCE_METRICS = [n for n in metrics.names() if "sequence" in metrics.get(n).requires]


def _context(real, synthetic, key="id", index="step", holdout=None):
    schema = Schema.detect(real).with_sequence(real, key=key, index=index)
    return EvaluationContext(real, synthetic, holdout, schema=schema)


@settings(max_examples=40, deadline=None)
@given(phi=st.floats(-0.9, 0.9), lags=st.integers(2, 12))
def test_the_pacf_of_an_ar1_curve_is_phi_then_zero(phi, lags):
    curve = pacf(phi ** np.arange(1, lags + 1))
    assert curve[0] == pytest.approx(phi)
    assert np.allclose(curve[1:], 0, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=30),
    st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=30),
)
def test_ks_distance_is_a_symmetric_distance_in_0_1(a, b):
    a, b = np.sort(a), np.sort(b)
    assert ks_distance(a, a) == 0.0
    assert ks_distance(a, b) == pytest.approx(ks_distance(b, a))
    assert 0.0 <= ks_distance(a, b) <= 1.0


def test_the_acf_of_an_ar1_series_is_its_coefficient_within_sampling_error():
    phi, n = 0.6, 4000
    real = ar1_series(n, phi)
    context = _context(real, real, key=None)
    events = view(context, context.real)
    curve = acf(events, events.numeric["x"], 3)
    assert np.allclose(curve, phi ** np.arange(1, 4), atol=4 * np.sqrt(1 / n) * 2)


def test_transitions_count_only_pairs_within_an_entity():
    table = pd.DataFrame({"id": [1, 1, 1, 2, 2], "step": [0, 1, 2, 0, 1], "e": list("abaab")})
    table = pd.concat([table] * 3, ignore_index=True).assign(id=lambda t: t.index // 5 * 10 + t.id)
    context = _context(table, table)
    counts = transitions(view(context, context.real), "e", 2)
    assert counts[:2, :2].tolist() == [[0, 6], [3, 0]]


def test_lengths_and_gaps_of_a_copy_score_zero_and_cut_entities_score_worse():
    real = entity_table(200, 4.0, 0.5)
    short = real[real["step"] < 2].reset_index(drop=True)
    schema = Schema.detect(real).with_sequence(real, key="id", index="step")
    same = metrics.evaluate(real, real.copy(), schema=schema, metrics=["sequence_length_distance"])
    cut = metrics.evaluate(real, short, schema=schema, metrics=["sequence_length_distance"])
    assert same["sequence_length_distance"].value == 0.0
    assert cut["sequence_length_distance"].value > 0.5


def test_evaluate_runs_the_sequence_metrics_only_with_a_sequence_spec():
    real, holdout = sequence_table(40, seed=0), sequence_table(40, seed=1)
    with_spec = metrics.evaluate(real, holdout, holdout=holdout, schema=sequence_schema(real))
    assert set(SEQUENCE_METRICS) <= set(with_spec.names)
    record = with_spec["discriminative_score"]
    assert record.category == "sequence" and record.ceiling is not None
    assert "sequence" in set(with_spec.category_scores()["category"])
    without = metrics.evaluate(real, holdout, metrics=None)
    assert not set(SEQUENCE_METRICS) & set(without.names)


def test_the_collapse_indicators_see_a_collapsed_copy():
    real = sequence_table(80, seed=0, mean_length=12)
    schema = sequence_schema(real)
    names = ["change_tail_kept", "long_sequences_kept", "autocorrelation_drift"]
    fine = metrics.evaluate(
        real, sequence_table(80, seed=2, mean_length=12), schema=schema, metrics=names
    )
    collapsed = metrics.evaluate(real, shuffle_within(real), schema=schema, metrics=names)
    for name in names:
        assert metrics.get(name)().better(fine[name].value, collapsed[name].value), name
