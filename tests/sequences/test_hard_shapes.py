"""The shapes the sequence issue names: entities of 1 to a thousand events, irregular gaps,
missing values and categorical events; one series with a trend, a daily and a weekly
season."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ouroboros import synthesizers
from ouroboros.schema import Schema


def _ragged_table(seed: int = 0) -> pd.DataFrame:
    """Entities of 1 to 1,000 events at irregular gaps (each its own rate), a random walk and
    a categorical event, each with a tenth of the cells missing, and a static group."""
    rng = np.random.default_rng(seed)
    lengths = np.concatenate([np.ones(12, int), rng.integers(2, 25, 40), [1000]])
    parts = []
    for entity, length in enumerate(lengths):
        gaps = rng.exponential(3600 * rng.uniform(0.5, 5), length)
        x = np.cumsum(rng.normal(0, 1, length))
        event = rng.choice(["open", "pay", "close"], length).astype(object)
        x[rng.random(length) < 0.1] = np.nan
        event[rng.random(length) < 0.1] = None
        when = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.cumsum(gaps), unit="s")
        parts.append(
            pd.DataFrame(
                {"id": f"e{entity}", "when": when, "x": x, "ev": event, "grp": f"g{entity % 3}"}
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize(
    "name", [pytest.param("sequence", marks=pytest.mark.slow), "sequence_bootstrap"]
)
def test_ragged_entities_with_gaps_and_missing_values(name):
    table = _ragged_table()
    schema = Schema.detect(table).with_sequence(table, key="id", index="when")
    assert schema.sequence.static == ["grp"]
    params = {"epochs": 2, "min_steps": 60} if name == "sequence" else {}
    model = synthesizers.create(name, seed=0, **params).fit(table, schema, guard="off")
    out = model.sample(53, seed=1)
    assert list(out.columns) == list(table.columns)
    assert out["when"].dtype == table["when"].dtype
    lengths = out.groupby("id").size()
    assert lengths.min() == 1 and lengths.max() >= 200, "lengths of 1 and long ones survive"
    assert out.groupby("id")["grp"].nunique().max() == 1, "static columns stay static"
    ordered = out.groupby("id")["when"].apply(lambda t: t.is_monotonic_increasing)
    assert ordered.all()
    for column in ("x", "ev"):
        assert 0.03 < out[column].isna().mean() < 0.2, f"{column}: missing share kept"
    assert set(out["ev"].dropna()) <= {"open", "pay", "close"}


def _shape(series: pd.DataFrame) -> dict[str, float]:
    """Trend per hour, daily swing of the hourly means, weekend lift over weekdays."""
    stamps, values = pd.DatetimeIndex(series["t"]), series["y"].to_numpy()
    daily = pd.Series(values).groupby(stamps.hour).mean()
    weekend = pd.Series(values).groupby(stamps.day_of_week >= 5).mean()
    return {
        "trend": float(np.polyfit(np.arange(len(values)), values, 1)[0]),
        "daily swing": float(daily.max() - daily.min()),
        "weekend lift": float(weekend[True] - weekend[False]),
    }


@pytest.mark.slow
def test_a_trend_a_daily_and_a_weekly_season_survive_the_learned_generator():
    hours = 24 * 7 * 6
    time = pd.date_range("2024-01-01", periods=hours, freq="h")
    rng = np.random.default_rng(0)
    y = (
        0.01 * np.arange(hours)
        + 3 * np.sin(2 * np.pi * time.hour / 24)
        + 2 * (time.day_of_week >= 5)
        + rng.normal(0, 0.5, hours)
    )
    series = pd.DataFrame({"t": time, "y": np.round(y, 3)})
    schema = Schema.detect(series).with_sequence(series, index="t")
    model = synthesizers.create("sequence", seed=0, epochs=12, min_steps=150)
    out = model.fit(series, schema, guard="off").sample(hours, seed=2)
    real, synthetic = _shape(series), _shape(out)
    for name, value in real.items():
        assert abs(synthetic[name] - value) < 0.3 * abs(value), (name, synthetic[name], value)
