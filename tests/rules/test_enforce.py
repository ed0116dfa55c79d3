"""Rules kept by construction in every generator, through save/load and conditions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouroboros import synthesizers
from ouroboros.errors import ConditionError, SchemaError
from ouroboros.rules import Columns, RuleError, parse, violations
from ouroboros.schema import Schema
from ouroboros.transforms.rules import RuleTransform, datetime_formats

RULES = [
    "end >= start",
    "total >= price + tax",
    "code == hour * 100 + minute",
    "education -> education-num",
    "isnull(a) == isnull(b)",
    "if payment == 'cash' then tip == 0",
    "fixed(colour, size)",
    "0 <= tip",
]


def rules_table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10_000, n), "h")
    hour, minute = rng.integers(0, 24, n), rng.integers(0, 60, n)
    price = np.round(rng.gamma(2, 10, n), 2)
    payment = rng.choice(["cash", "card"], n)
    tip = np.where(payment == "cash", 0.0, np.round(rng.uniform(0, 5, n), 2))
    levels = np.array(["HS", "Bachelors", "Masters", "PhD"])
    education = rng.integers(0, 4, n)
    a = rng.normal(size=n)
    a[rng.random(n) < 0.2] = np.nan
    combos = np.array([("red", "S"), ("blue", "M"), ("green", "L")])[rng.integers(0, 3, n)]
    return pd.DataFrame(
        {
            "start": start,
            "end": start + pd.to_timedelta(rng.integers(0, 500, n), "h"),
            "price": price,
            "tax": np.round(price * 0.2, 2),
            "tip": tip,
            "total": np.round(price * 1.2 + tip + rng.uniform(0, 3, n), 2),
            "payment": payment,
            "hour": hour,
            "minute": minute,
            "code": hour * 100 + minute,
            "education": levels[education],
            "education-num": education + 9,
            "a": a,
            "b": np.where(np.isnan(a), np.nan, rng.integers(0, 50, n)),
            "colour": combos[:, 0],
            "size": combos[:, 1],
        }
    )


def broken(table: pd.DataFrame, schema: Schema, reference: pd.DataFrame) -> dict[str, int]:
    formats = datetime_formats(schema)
    columns, ref = Columns(table, formats), Columns(reference, formats)
    return {r: int(violations(parse(r, table.columns), columns, ref).sum()) for r in schema.rules}


def test_the_copula_breaks_them_without_rules():
    data = rules_table()
    model = synthesizers.create("gaussian_copula", seed=0).fit(data)
    schema = Schema.detect(data)
    schema.rules = RULES
    counts = broken(model.sample(400, seed=1), schema, data)
    assert counts["code == hour * 100 + minute"] > 300
    assert counts["education -> education-num"] > 0


@pytest.mark.parametrize(
    "name", ["gaussian_copula", "independent", "ctgan", "tvae", "tabddpm", "argn"]
)
def test_every_generator_keeps_every_rule(name, tmp_path):
    data = rules_table()
    klass = synthesizers.get(name)
    model = synthesizers.create(name, seed=0, **klass.test_params).fit(data, rules=RULES)
    sample = model.sample(300, seed=1)
    assert list(sample.columns) == list(data.columns)
    assert (sample.dtypes == data.dtypes).all()
    assert broken(sample, model.schema_, data) == dict.fromkeys(model.schema_.rules, 0)
    assert model.rules_.checked == [7]  # the range: kept by the bounded transforms
    model.save(tmp_path / "m.ouro")
    loaded = synthesizers.load(tmp_path / "m.ouro")
    assert loaded.schema_.rules == model.schema_.rules
    pd.testing.assert_frame_equal(loaded.sample(50, seed=3), model.sample(50, seed=3))


def test_conditions_honour_the_rules():
    data = rules_table()
    model = synthesizers.create("gaussian_copula", seed=0).fit(data, rules=RULES)
    rows = model.sample(20, seed=0, conditions={"education": "PhD"})
    assert (rows["education-num"] == 12).all()
    rows = model.sample(20, seed=0, conditions={"hour": 7})
    assert (rows["code"] == 700 + rows["minute"]).all()
    rows = model.sample(20, seed=0, conditions={"education": "PhD", "education-num": 12})
    assert len(rows) == 20
    with pytest.raises(ConditionError, match="break the rule .education -> education-num."):
        model.sample(5, conditions={"education": "PhD", "education-num": 9})
    with pytest.raises(ConditionError, match="code == hour"):
        model.sample(5, conditions={"hour": 1, "minute": 2, "code": 5})


def test_a_rule_the_real_rows_break_is_refused_unless_tolerated():
    data = rules_table()
    data.loc[[3, 5], "end"] = data.loc[[3, 5], "start"] - pd.Timedelta("1h")
    model = synthesizers.create("gaussian_copula", seed=0)
    with pytest.raises(RuleError, match=r"'end >= start' is broken by 2 of 400 real rows, e\.g\."):
        model.fit(data, rules=["end >= start"])
    model.fit(data, rules=["end >= start"], rule_tolerance=0.01)
    sample = model.sample(300, seed=1)
    assert (sample["end"] >= sample["start"]).all()


def test_rules_live_in_the_schema_json():
    data = rules_table()
    schema = Schema.detect(data)
    schema.rules = ["end >= start"]
    again = Schema.from_json(schema.to_json())
    assert again.rules == ["end >= start"]
    model = synthesizers.create("independent", seed=0).fit(data, schema=again)
    assert model.schema_.rules == ["end >= start"]
    bad = schema.to_dict() | {"rules": ["nope > 1"]}
    with pytest.raises(SchemaError, match="unknown column 'nope'"):
        Schema.from_dict(bad)


def test_rules_on_missing_values_share_one_indicator():
    data = rules_table()
    model = synthesizers.create("gaussian_copula", seed=0).fit(
        data, rules=["isnull(a) == isnull(b)"]
    )
    sample = model.sample(400, seed=1)
    assert (sample["a"].isna() == sample["b"].isna()).all()
    assert 0.05 < sample["b"].isna().mean() < 0.4


def test_unkept_rules_fall_back_to_rejection_with_a_clear_error():
    data = rules_table()
    model = synthesizers.create("independent", seed=0).fit(data, rules=["price * tax >= 0"])
    assert model.rules_.checked == [0] and len(model.sample(50, seed=0)) == 50
    model = synthesizers.create("independent", seed=0).fit(
        data, rules=["price > 90 or price < 0"], rule_tolerance=1.0
    )
    with pytest.raises(ConditionError, match="the rules were met by only"):
        model.sample(1000, seed=0)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-1000, 1000), st.integers(0, 1000), st.integers(0, 5)),
        min_size=2,
        max_size=30,
    )
)
def test_reparametrised_columns_invert_exactly(rows):
    low, gap, key = (np.array(c) for c in zip(*rows, strict=True))
    data = pd.DataFrame(
        {
            "low": low,
            "high": low + gap,
            "sum": 3 * low - 2 * gap + 7,
            "key": key,
            "dep": key * 10 - 1,
            "stamp": pd.Timestamp("2020-01-01") + pd.to_timedelta(low, "s"),
            "later": pd.Timestamp("2020-01-01") + pd.to_timedelta(low + gap, "s"),
        }
    )
    schema = Schema.detect(data)
    schema.rules = [
        "high >= low",
        "sum == 3 * low - 2 * (high - low) + 7",
        "key -> dep",
        "later >= stamp",
    ]
    step = RuleTransform(schema)
    inner = step.fit_transform(data, np.random.default_rng(0))
    assert set(inner.columns) <= set(data.columns) | {"high~gap", "later~gap"}
    pd.testing.assert_frame_equal(step.inverse(inner, np.random.default_rng(0)), data)


def test_datetimes_stored_as_text_compare_as_datetimes():
    data = rules_table()[["start", "end", "price"]]
    data = data.assign(
        start=data["start"].dt.strftime("%d/%m/%Y %H:%M"),
        end=data["end"].dt.strftime("%d/%m/%Y %H:%M"),
    )
    model = synthesizers.create("gaussian_copula", seed=0).fit(data, rules=["end >= start"])
    sample = model.sample(300, seed=1)
    start = pd.to_datetime(sample["start"], format="%d/%m/%Y %H:%M")
    end = pd.to_datetime(sample["end"], format="%d/%m/%Y %H:%M")
    assert (end >= start).all() and (end > start).any()
    assert sample["end"].str.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d").all()
