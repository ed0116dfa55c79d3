"""AIM fits and samples on small data within its budget, reproducibly."""

from __future__ import annotations

import pandas as pd
import pytest
from test_mst import correlated, public_schema

from ouroboros.synthesizers import registry
from ouroboros.synthesizers.aim import AIMSynthesizer, _closure
from ouroboros.synthesizers.base import Synthesizer

FAST = {"iterations": 60, "round_iterations": 10, "rounds": 8, "bins": 16}


@pytest.fixture(scope="module")
def fitted():
    return AIMSynthesizer(seed=0, epsilon=5.0, **FAST).fit(correlated(), schema=public_schema())


def test_registered_with_its_parameters():
    assert registry.get("aim") is AIMSynthesizer
    names = AIMSynthesizer.param_names()
    for name in ("epsilon", "delta", "degree", "max_model_size", "rounds", "schema_share"):
        assert name in names


def test_measures_pairs_and_keeps_the_dependence(fitted):
    assert any(len(c) >= 2 for c in fitted.model_.tree.cliques)
    out = fitted.sample(3000, seed=1)
    real = correlated()
    assert (out["a"] == out["b"]).mean() == pytest.approx((real["a"] == real["b"]).mean(), abs=0.06)


def test_spends_exactly_its_budget_in_rounds(fitted):
    record = fitted.privacy_
    assert sum(s["rho"] for s in record["spends"]) == pytest.approx(record["rho"], rel=1e-9)
    selections = [s for s in record["spends"] if "exponential" in s["mechanism"]]
    assert len(selections) == fitted.rounds_ >= 1
    assert fitted.epsilon_spent_ == pytest.approx(5.0, rel=1e-6)


def test_same_seed_same_rows_and_round_trip(fitted, tmp_path):
    again = AIMSynthesizer(seed=0, epsilon=5.0, **FAST).fit(correlated(), schema=public_schema())
    pd.testing.assert_frame_equal(fitted.sample(80, seed=5), again.sample(80, seed=5))
    loaded = Synthesizer.load(fitted.save(tmp_path / "aim.ouro"))
    pd.testing.assert_frame_equal(fitted.sample(80, seed=5), loaded.sample(80, seed=5))
    assert loaded.describe()["privacy"]["mechanism"].startswith("AIM")


def test_model_size_cap_keeps_cliques_small():
    model = AIMSynthesizer(seed=0, epsilon=5.0, max_model_size=1e-4, **FAST)
    model.fit(correlated(), schema=public_schema())
    assert all(len(c) == 1 for c in model.model_.tree.cliques)


def test_workload_closure_weights_cover_subsets():
    closure = _closure({(0, 1): 1.0, (1, 2): 1.0})
    assert closure[(1,)] == 2.0 and closure[(0,)] == 1.0 and closure[(0, 1)] == 3.0
