"""The private schema: public statistics are kept as given, missing ones are measured with
budget or refused, never read off the data silently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ouroboros.errors import SchemaError
from ouroboros.privacy import resolve
from ouroboros.schema import ColumnKind, ColumnSchema, Schema


def _table(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": rng.lognormal(10, 1, n),
            "city": rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2]),
            "flag": rng.random(n) < 0.4,
        }
    )


def _public() -> Schema:
    return Schema(
        columns=[
            ColumnSchema("age", ColumnKind.INTEGER, "int64", min=0, max=120),
            ColumnSchema("income", ColumnKind.CONTINUOUS, "float64", min=0.0, max=1e6),
            ColumnSchema(
                "city",
                ColumnKind.CATEGORICAL,
                "object",
                categories=["north", "south", "east", "west"],
            ),
            ColumnSchema("flag", ColumnKind.CATEGORICAL, "bool"),
        ]
    )


def _resolve(data, schema=None, share=None, seed=0):
    return resolve(
        data, schema, epsilon=1.0, delta=1e-6, schema_share=share,
        rng=np.random.default_rng(seed), owner="AIMSynthesizer",
    )  # fmt: skip


def test_data_derived_bounds_are_refused_naming_columns_and_the_two_ways_out():
    with pytest.raises(SchemaError) as caught:
        _resolve(_table())
    message = str(caught.value)
    for column in ("'age'", "'income'", "'city'"):
        assert column in message
    assert "'flag'" not in message  # a bool's categories are public by its dtype
    assert "schema=" in message and "schema_share=" in message


def test_a_public_schema_is_kept_as_given_and_costs_nothing():
    data = _table()
    private = _resolve(data, _public())
    assert private.budget.allotted("schema") == 0.0 and not private.budget.spends
    age, city = private.schema["age"], private.schema["city"]
    assert (age.min, age.max) == (0, 120)  # not the data's 18 and 89
    assert city.categories == ["north", "south", "east", "west"] and city.frequencies is None
    assert private.schema.n_rows is None
    assert set(private.sources.values()) == {"public"}


def test_a_partial_schema_measures_only_what_it_lacks():
    schema = _public()
    schema.columns[1] = ColumnSchema("income", ColumnKind.CONTINUOUS, "float64")
    with pytest.raises(SchemaError, match="'income'"):
        _resolve(_table(), schema)
    private = _resolve(_table(), schema, share=0.1)
    assert private.sources["income"] == "measured" and private.sources["age"] == "public"
    assert {s.what for s in private.budget.spends} == {"income"}
    spent = sum(s.rho for s in private.budget.spends)
    assert spent == pytest.approx(private.budget.allotted("schema"))


def test_measured_statistics_are_noisy_bounds_and_thresholded_categories():
    data = _table(20_000)
    data.loc[:0, "city"] = "one-of-a-kind"  # a category held by one row is not released
    private = _resolve(data, share=0.2)
    schema = private.schema
    assert set(schema["city"].categories) == {"north", "south", "east"}
    low, high = schema["income"].min, schema["income"].max
    assert low <= np.quantile(data["income"], 0.02) and high >= np.quantile(data["income"], 0.95)
    assert schema["age"].min <= 20 and schema["age"].max >= 85
    record = private.budget.to_dict()
    assert record["split"]["schema"]["rho"] == pytest.approx(
        record["split"]["schema"]["allotted_rho"]
    )
    assert record["threshold_delta"] > 0 and record["delta_spent"] <= 1e-6 * (1 + 1e-9)


def test_missing_values_against_a_public_schema_that_says_none_are_refused():
    data = _table()
    data.loc[:10, "income"] = np.nan
    with pytest.raises(SchemaError, match="'income' has missing values"):
        _resolve(data, _public())
