"""Linear rules without a lone column on either side are reparametrised, not rejected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouroboros import synthesizers
from ouroboros.rules import parse, plan
from ouroboros.rules.language import node_string
from ouroboros.rules.plan import candidates
from ouroboros.schema import Schema
from ouroboros.transforms.rules import RuleTransform


def _derived(rule: str) -> list[tuple[str, str, int]]:
    return [(s.target, node_string(s.expr), s.sign) for s in candidates(0, parse(rule))]


def test_a_linear_rule_isolates_a_column():
    assert _derived("a + b > c + d")[0] == ("a", "-b + c + d", 1)
    assert ("d", "a + b - c", -1) in _derived("a + b > c + d")
    assert _derived("2 * a + b == c + 3")[0] == ("b", "-(2 * a) + c + 3", 0)
    assert _derived("2 * a >= 3 * b") == [("a", "3 * b / 2", 1), ("b", "2 * a / 3", -1)]
    assert _derived("abs(a) <= b + c")[0] == ("b", "abs(a) - c", 1)


@pytest.mark.parametrize(
    "rule", ["a * b >= c * d", "abs(a - b) >= abs(c)", "a > 0 or b > 0", "a != b", "a > 3"]
)
def test_only_non_invertible_forms_are_checked(rule):
    assert plan([parse(rule)], "abcd").checked == [0]


def test_a_column_another_rule_produces_is_not_isolated_again():
    rules = [parse("c == a + b"), parse("c >= d + e")]
    kept = plan(rules, "abcde")
    assert kept.checked == []
    assert {s.target for s in kept.steps} == {"c", "d"}


def _round_trip(data: pd.DataFrame, rules: list[str], gaps: int, kind: str) -> None:
    schema = Schema.detect(data, kinds=dict.fromkeys(data.columns, kind))
    schema.rules = rules
    step = RuleTransform(schema)
    inner = step.fit_transform(data, np.random.default_rng(0))
    assert step.checked == []
    assert sum(c.endswith("~gap") for c in inner.columns) == gaps
    pd.testing.assert_frame_equal(step.inverse(inner, np.random.default_rng(0)), data)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(*[st.integers(-10_000, 10_000)] * 3, st.integers(1, 5000), st.integers(-50, 50)),
        min_size=2,
        max_size=30,
    )
)
def test_isolated_integer_columns_invert_exactly(rows):
    b, c, d, gap, e = (np.array(v, dtype="int64") for v in zip(*rows, strict=True))
    data = pd.DataFrame({"a": c + d - b + gap, "b": b, "c": c, "d": d, "e": e, "f": 2 * e + b})
    _round_trip(data, ["a + b > c + d", "f - 2 * e == b"], 1, "integer")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(*[st.integers(-99_999, 99_999)] * 3, st.integers(0, 99_999)),
        min_size=2,
        max_size=30,
    )
)
def test_isolated_decimal_columns_invert_exactly(rows):
    x, y, z, gap = (np.array(v) / 100 for v in zip(*rows, strict=True))
    data = pd.DataFrame({"x": x, "y": y, "z": z, "w": np.round(x + y - z - gap, 2)})
    _round_trip(data, ["x + y >= z + w"], 1, "continuous")


def test_every_sample_keeps_an_isolated_rule_without_rejection():
    rng = np.random.default_rng(0)
    n = 400
    income, other = rng.gamma(2, 1000, n).round(2), rng.gamma(2, 300, n).round(2)
    rent, food = rng.uniform(0, 0.5, n) * income, rng.uniform(0, 0.3, n) * income
    data = pd.DataFrame(
        {"income": income, "other": other, "rent": rent.round(2), "food": food.round(2)}
    )
    rules = ["income + other >= rent + food"]
    model = synthesizers.create("gaussian_copula", seed=0).fit(data, rules=rules)
    assert model.rules_.checked == []
    sample = model.sample(2000, seed=1)
    assert (sample["income"] + sample["other"] >= sample["rent"] + sample["food"] - 1e-6).all()
    plain = synthesizers.create("gaussian_copula", seed=0).fit(data).sample(2000, seed=1)
    assert (plain["income"] + plain["other"] < plain["rent"] + plain["food"]).any()
