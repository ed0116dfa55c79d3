"""Discovery proposes the rules that hold, says why, and is not fooled by chance."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from ouroboros import synthesizers
from ouroboros.io import read_table
from ouroboros.rules import Columns, parse, violations
from ouroboros.schema import Schema


def table(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hour, minute = rng.integers(0, 24, n), rng.integers(0, 60, n)
    low = rng.normal(20, 5, n).round(1)
    mid = (low + rng.exponential(3, n)).round(1)
    kind = rng.integers(0, 6, n)
    a = rng.normal(size=n)
    a[rng.random(n) < 0.1] = np.nan
    start = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), "s")
    return pd.DataFrame(
        {
            "hour": hour,
            "minute": minute,
            "code": hour * 100 + minute,
            "low": low,
            "mid": mid,
            "high": (mid + rng.exponential(3, n)).round(1),
            "far": rng.normal(1000, 5, n),
            "noise": rng.normal(size=n),
            "kind": np.array(list("uvwxyz"))[kind],
            "kind-num": kind * 2 + 1,
            "a": a,
            "b": np.where(np.isnan(a), np.nan, rng.normal(size=n)),
            "start": start,
            "end": start + pd.to_timedelta(rng.integers(0, 10**5, n), "s"),
        }
    )


def found(data: pd.DataFrame, tolerance: float = 0.0) -> dict[str, str]:
    return {f.rule: f.reason for f in Schema.detect(data).discover_rules(data, tolerance)}


def test_each_family_is_found_with_its_reason():
    rules = found(table())
    assert set(rules) == {
        "isnull(a) == isnull(b)",
        "code == 100 * hour + minute",
        "kind -> `kind-num`",
        "low <= mid",
        "mid <= high",
        "start <= end",
    }
    assert rules["kind -> `kind-num`"].startswith("one-to-one")
    assert "overlap" in rules["low <= mid"]
    data = table()
    for rule in rules:
        assert not violations(parse(rule, data.columns), Columns(data)).any()


def test_chance_is_guarded_against():
    rules = found(table())
    # implied by the ranges (far is always above), implied by transitivity, or noise
    assert not [r for r in rules if "far" in r or "noise" in r]
    assert "low <= high" not in rules
    rng = np.random.default_rng(1)
    independent = pd.DataFrame(rng.integers(0, 1000, (2000, 6)), columns=list("abcdef"))
    assert found(independent) == {}
    # a dependency needs repeated determinant values: unique keys determine anything
    unique = pd.DataFrame({"key": np.arange(500) * 3, "value": rng.integers(0, 5, 500)})
    assert found(unique) == {}


def test_a_tolerance_admits_rules_a_few_rows_break():
    data = table()
    data.loc[:4, "mid"] = data.loc[:4, "low"] - 1
    assert "low <= mid" not in found(data)
    assert "low <= mid" in found(data, tolerance=0.01)


def test_schema_detect_with_rules_and_auto_rules_keep_them():
    data = table(800)
    schema = Schema.detect(data, rules=True)
    assert "code == 100 * hour + minute" in schema.rules
    model = synthesizers.create("gaussian_copula", seed=0).fit(data, schema=schema)
    sample = model.sample(500, seed=1)
    for rule in schema.rules:
        assert not violations(parse(rule, data.columns), Columns(sample), Columns(data)).any()


def test_discovery_takes_seconds_on_many_rows():
    data = pd.concat([table(50_000, seed=s) for s in range(4)], ignore_index=True)
    schema = Schema.detect(data)
    started = time.perf_counter()
    rules = schema.discover_rules(data)
    assert time.perf_counter() - started < 20
    assert "code == 100 * hour + minute" in {f.rule for f in rules}


@pytest.mark.slow
def test_the_weather_table_keeps_its_physics(shared_datasets):
    data = read_table(shared_datasets / "nycflights13_weather.csv.gz")
    schema = Schema.detect(data, rules=True)
    assert {"dewp <= temp", "time_hour -> month", "time_hour -> hour"} <= set(schema.rules)
    model = synthesizers.create("gaussian_copula", seed=0).fit(data, schema=schema)
    sample = model.sample(5000, seed=1)
    formats = {"time_hour": schema["time_hour"].datetime_format}
    for rule in schema.rules:
        rows = violations(
            parse(rule, data.columns), Columns(sample, formats), Columns(data, formats)
        )
        assert not rows.any(), rule
