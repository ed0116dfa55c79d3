"""Correctors for real tables: held-back real rows, importance resampling, rule repair."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from ouroboros.collapse import CollapseExperiment, correctors, strategies
from ouroboros.collapse.reference import anchor_error, simulate
from ouroboros.errors import ParameterError
from ouroboros.rules import Columns, parse_all, violations
from ouroboros.schema import Schema

SIZE = 400


def table(
    n: int, shift: float = 0.0, seed: int = 0, levels=("a", "b", "c", "rare")
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = np.array([0.5, 0.3, 0.17, 0.03])[: len(levels)]
    level = rng.choice(list(levels), n, p=p / p.sum())
    start = rng.normal(10 + shift, 2, n).round(2)
    return pd.DataFrame(
        {"x": rng.normal(shift, 1, n), "level": level, "start": start, "end": start + 1.5}
    )


def pool_of(synthetic: pd.DataFrame, schema=None) -> strategies.Pool:
    real = table(SIZE, seed=1)
    reserve = table(2 * SIZE, seed=2)
    return strategies.Pool(real, reserve, {0: synthetic}.__getitem__, SIZE, schema)


def test_held_back_real_rows_replace_the_expected_share():
    pool = pool_of(table(SIZE, shift=3.0, seed=3))
    for gamma in (0.5, 1.0, 4.0):
        train = strategies.parse(f"replace+real:{gamma:g}").training_set(
            1, pool, np.random.default_rng(int(gamma * 10))
        )
        real = sum(s.rows for s in train.provenance if s.generation is None)
        share = gamma / (1 + gamma)
        assert len(train.data) == SIZE
        assert abs(real - share * SIZE) <= 4 * math.sqrt(SIZE * share * (1 - share))
        assert train.info["corrector_real_rows"] == real
        # the real rows come from the held-back reserve rows, in the provenance's order
        block = train.data.iloc[SIZE - real :]
        assert block["x"].isin(pool.reserve["x"]).all()
    corrected = strategies.parse("replace+real:1")
    assert corrected.real_rows_needed(SIZE, 5) == SIZE + SIZE // 2


def test_held_back_corrector_has_the_ideal_twin():
    spec = strategies.parse("anchor:1+real:1")
    assert spec.has_reference and spec.spec == "anchor:1+real:1"
    kwargs = dict(generations=45, sample_size=100, trials=1500, estimator="known")
    sim = simulate("gaussian", strategy=spec, seed=71, **kwargs)
    values = (100 * sim["mean"] ** 2)[:, 25:].mean(axis=1)
    se = values.std(ddof=1) / math.sqrt(len(values))
    assert abs(values.mean() - anchor_error(1, 100, correct=1)) <= 4 * se


def test_importance_moves_toward_real_but_cannot_restore_a_lost_category():
    synthetic = table(SIZE, shift=0.8, seed=4, levels=("a", "b", "c"))
    pool = pool_of(synthetic)
    with threadpool_limits(limits=1):  # OpenMP threads on a busy machine cost minutes
        train = strategies.parse("replace+importance:4").training_set(
            1, pool, np.random.default_rng(0)
        )
    before = abs(synthetic["x"].mean() - pool.real["x"].mean())
    after = abs(train.data["x"].mean() - pool.real["x"].mean())
    assert after < 0.7 * before
    assert "rare" not in set(train.data["level"])  # reweighting creates no rows
    assert train.info["corrector_real_rows"] == 0
    assert 0 < train.info["correct_effective_rows"] <= 1
    assert len(train.data) == SIZE
    # every output row is one of the synthetic rows
    assert train.data["x"].isin(synthetic["x"]).all()


def test_rule_repair_puts_the_rules_back():
    real = table(SIZE, seed=1)
    schema = Schema.detect(real)
    schema.rules = ["end >= start"]
    synthetic = table(SIZE, seed=5)
    synthetic.loc[:39, "end"] = synthetic.loc[:39, "start"] - 2.0
    pool = pool_of(synthetic, schema)
    train = strategies.parse("replace+rules").training_set(1, pool, np.random.default_rng(0))
    rule = parse_all(schema.rules, schema.names)[0]
    assert not violations(rule, Columns(train.data)).any()
    assert train.info["correct_repaired"] == pytest.approx(0.1)
    assert len(train.data) == SIZE and list(train.data.dtypes) == list(synthetic.dtypes)
    # rows that kept the rule are untouched
    pd.testing.assert_frame_equal(train.data.iloc[40:], synthetic.iloc[40:])


def test_rule_repair_discovers_rules_when_the_schema_has_none():
    synthetic = table(SIZE, seed=6)
    synthetic.loc[:19, "end"] = synthetic.loc[:19, "start"] - 1.0
    train = strategies.parse("replace+rules").training_set(
        1, pool_of(synthetic), np.random.default_rng(0)
    )
    assert (train.data["end"] >= train.data["start"]).all()
    assert train.info["correct_repaired"] == pytest.approx(0.05)


def test_registry_and_errors():
    assert correctors.names() == ["importance", "real", "rules"]
    assert correctors.parse("real").spec == "real:1"
    for bad, match in [
        ("real:-1", ">= 0"),
        ("real:x", "not a number"),
        ("rules:2", "no strength"),
        ("nope", "unknown corrector"),
    ]:
        with pytest.raises(ParameterError, match=match):
            correctors.parse(bad)
    with pytest.raises(ParameterError, match="already has a corrector"):
        strategies.parse("replace+real:1+rules")
    assert strategies.parse("mix:0.2+importance:2") == strategies.parse("mix:0.2+importance:2")


def test_the_lab_runs_a_corrected_strategy():
    data = table(300, seed=8)
    result = CollapseExperiment(
        "independent",
        data,
        holdout=0.2,
        generations=2,
        strategy="replace+real:1",
        seeds=1,
        sample_size=120,
        metrics=["tail_kept"],
    ).run()
    assert result.strategies == ["replace+real:1"]
    assert (result.generations["status"] == "ok").all()


@given(
    gamma=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    base=st.sampled_from(["replace", "mix:0.2", "anchor:3", "accumulate", "adaptive:0.1"]),
    name=st.sampled_from(["real", "importance"]),
)
@settings(max_examples=50, deadline=None)
def test_corrected_specs_round_trip(gamma, base, name):
    strategy = strategies.parse(f"{base}+{name}:{gamma!r}")
    again = strategies.parse(strategy.spec)
    assert again.spec == strategy.spec
    assert again.corrector.share == pytest.approx(gamma / (1 + gamma), rel=1e-5)
