"""AIM fits and samples on small data within its budget, reproducibly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_mst import correlated, public_schema

from ouroboros.schema import ColumnKind, ColumnSchema, Schema
from ouroboros.synthesizers import registry
from ouroboros.synthesizers.aim import AIMSynthesizer, _closure, _order, equal_mass_groups
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


def test_equal_mass_groups_are_runs_of_the_order_and_a_heavy_code_stands_alone():
    weights = np.array([1.0, 1.0, 90.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0])
    groups = equal_mass_groups(weights, np.arange(10), 4)
    assert groups.max() + 1 <= 4
    assert np.all(np.diff(groups) >= 0)  # runs of the order
    assert (groups == groups[2]).sum() == 1  # 90% of the mass: a group of its own
    shuffled = np.array([3, 1, 0, 2])
    by_order = equal_mass_groups(np.ones(4), shuffled, 2)
    assert by_order[3] == by_order[1] != by_order[0] == by_order[2]


def test_order_follows_numbers_and_pools_rare_labels():
    numbers = {"type": "categorical", "categories": [10, 2, 7]}
    assert list(_order(numbers, np.ones(3))) == [1, 2, 0]
    labels = {"type": "categorical", "categories": ["a", "b", "c"]}
    assert list(_order(labels, np.array([1.0, 5.0, 3.0]))) == [1, 2, 0]


def wide(n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, Schema]:
    """Two 32-level columns that move together: their full pair table (1024 cells) is
    mostly noise at epsilon 1 on 4000 rows, a coarse one is not."""
    rng = np.random.default_rng(seed)
    u = rng.integers(0, 32, n)
    v = np.clip(u + rng.integers(-2, 3, n), 0, 31)
    levels = list(range(32))
    schema = Schema(
        columns=[
            ColumnSchema("u", ColumnKind.CATEGORICAL, "int64", categories=levels),
            ColumnSchema("v", ColumnKind.CATEGORICAL, "int64", categories=levels),
        ]
    )
    return pd.DataFrame({"u": u, "v": v}), schema


def test_at_a_small_budget_it_measures_a_coarse_pair_and_keeps_the_dependence():
    data, schema = wide()
    model = AIMSynthesizer(seed=0, epsilon=1.0, **{**FAST, "rounds": 4}).fit(data, schema=schema)
    pairs = [s for s in model.privacy_["spends"] if s["what"] == "uxv"]
    assert pairs and min(s["params"]["cells"] for s in pairs) < 32 * 32
    out = model.sample(4000, seed=1)
    assert np.corrcoef(out["u"], out["v"])[0, 1] > 0.8
