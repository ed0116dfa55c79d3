"""Contract checks for sequence generators and sequence metrics.

The row checks of :mod:`ouroboros.testing.synthesizers` assume that ``sample(n)`` gives
``n`` independent rows; a sequence generator (``tags.sequential``) gives ``n`` entities
with their events instead, so these checks take their place: the same promises (fit
returns self, same seed same output, save and load keep samples, kinds survive,
conditions are met, missing values come back), read on entities. A sequence metric's
checks use event tables whose distortion is the one a sequence metric must see: events
shuffled within entities and lengths changed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ouroboros.errors import ConditionError, NotFittedError, ParameterError
from ouroboros.schema import Schema
from ouroboros.synthesizers.base import Synthesizer

Factory = Callable[[int], Synthesizer]
#: how far the sampled missing rate may be from the training rate
MISSING_RATE_TOLERANCE = 0.15


def sequence_table(n_entities: int = 80, seed: int = 0, mean_length: float = 6.0) -> pd.DataFrame:
    """Entities with a static group, Poisson lengths, irregular hourly times, an AR(1)
    value pushed up after every "z" event, a Markov chain of events and an AR(1) amount
    driven by the value (a lagged cross-correlation) with missing values."""
    rng = np.random.default_rng(seed)
    rows = []
    for entity in range(n_entities):
        group = rng.choice(["a", "b", "c"], p=[0.5, 0.3, 0.2])
        length = int(rng.poisson(mean_length)) + 1
        when = pd.Timestamp("2024-01-01") + pd.Timedelta(hours=int(rng.integers(0, 2000)))
        value, state, level = rng.normal(), int(rng.integers(3)), 20.0
        for _ in range(length):
            when += pd.Timedelta(hours=int(rng.choice([1, 1, 2, 6])))
            shock = 3.0 if state == 2 else 0.0  # the event before moves the value
            value = 0.7 * value + rng.normal(0, 1) + (0.6 if group == "c" else 0.0) + shock
            state = (state + 1) % 3 if rng.random() < 0.7 else state
            level = 0.8 * level + float(rng.gamma(2, 2)) + 1.5 * value
            amount = np.nan if rng.random() < 0.15 else round(level, 2)
            rows.append(
                {
                    "entity": 1000 + entity,
                    "group": group,
                    "time": when.strftime("%Y-%m-%d %H:%M"),
                    "value": round(value, 3),
                    "event": "xyz"[state],
                    "amount": amount,
                }
            )
    return pd.DataFrame(rows)


def sequence_schema(table: pd.DataFrame, key: str | None = "entity", index: str = "time") -> Schema:
    """The detected schema of ``table`` with its sequence spec."""
    return Schema.detect(table).with_sequence(table, key=key, index=index)


def _fit(factory: Factory, seed: int, data: pd.DataFrame) -> Synthesizer:
    return factory(seed).fit(data, sequence_schema(data))


def check_sequence_fit_and_before_fit(factory: Factory, data: pd.DataFrame) -> None:
    model = factory(0)
    try:
        model.sample(3)
    except NotFittedError:
        pass
    else:
        raise AssertionError("sample before fit must raise NotFittedError")
    assert model.fit(data, sequence_schema(data)) is model, "fit must return self"


def check_sequence_entities_and_dtypes(factory: Factory, data: pd.DataFrame) -> None:
    model = _fit(factory, 0, data)
    out = model.sample(17, seed=1)
    assert out["entity"].nunique() == 17, f"sample(17) gave {out['entity'].nunique()} entities"
    assert list(out.columns) == list(data.columns), "columns differ from the training columns"
    for column in data.columns:
        assert out[column].dtype == data[column].dtype, f"column {column!r}: dtype changed"
    per_entity = out.groupby("entity")["group"].nunique()
    assert (per_entity == 1).all(), "a static column varies within an entity"
    stamps = pd.to_datetime(out["time"], format="%Y-%m-%d %H:%M")
    ordered = stamps.groupby(out["entity"]).apply(lambda s: s.is_monotonic_increasing)
    assert ordered.all(), "events of an entity are not in time order"
    for bad in (0, -3, 2.5):
        try:
            model.sample(bad)
        except ParameterError:
            continue
        raise AssertionError(f"sample({bad!r}) must raise ParameterError")


def check_sequence_same_seed(factory: Factory, data: pd.DataFrame) -> None:
    if not factory(0).tags.deterministic:
        return
    first, second = _fit(factory, 7, data), _fit(factory, 7, data)
    pd.testing.assert_frame_equal(first.sample(12, seed=3), second.sample(12, seed=3))
    pd.testing.assert_frame_equal(first.sample(12), second.sample(12))
    assert not first.sample(12, seed=4).equals(first.sample(12, seed=5)), (
        "different seeds gave identical samples"
    )


def check_sequence_save_load(factory: Factory, data: pd.DataFrame) -> None:
    model = _fit(factory, 0, data)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.ouro"
        model.save(path)
        loaded = Synthesizer.load(path)
    assert type(loaded) is type(model), "load returned another class"
    assert loaded.get_params() == model.get_params(), "parameters changed through save/load"
    pd.testing.assert_frame_equal(model.sample(9, seed=11), loaded.sample(9, seed=11))
    pd.testing.assert_frame_equal(model.sample(9), loaded.sample(9))


def check_sequence_kinds_survive(factory: Factory, data: pd.DataFrame) -> None:
    model = _fit(factory, 0, data)
    out = model.sample(60, seed=2)
    for column in ("group", "event"):
        unseen = set(out[column].dropna()) - set(data[column].dropna())
        assert not unseen, f"column {column!r}: invented categories {sorted(unseen)[:5]}"
    expected = data["amount"].isna().mean()
    rate = out["amount"].isna().mean()
    assert abs(rate - expected) <= MISSING_RATE_TOLERANCE, (
        f"missing rate {rate:.3f} in the sample, {expected:.3f} in the training data"
    )


def check_sequence_conditions(factory: Factory, data: pd.DataFrame) -> None:
    model = _fit(factory, 0, data)
    out = model.sample(8, seed=1, conditions={"group": "c"})
    assert out["entity"].nunique() == 8 and (out["group"] == "c").all(), (
        "a condition on a static column was not met"
    )
    for conditions in ({"group": "never-seen"}, {"event": "x"}):
        try:
            model.sample(3, conditions=conditions)
        except ConditionError:
            continue
        raise AssertionError(f"conditions {conditions} must raise ConditionError")


def check_single_series(factory: Factory, data: pd.DataFrame) -> None:
    """Without a key the table is one series: ``sample(n)`` gives ``n`` steps from ``start``."""
    series = data.drop(columns=["entity", "group"]).iloc[:120].reset_index(drop=True)
    series["time"] = (pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(120), "h")).strftime(
        "%Y-%m-%d %H:%M"
    )
    model = factory(0).fit(series, sequence_schema(series, key=None))
    out = model.sample(50, seed=1)
    assert len(out) == 50, f"sample(50) of one series gave {len(out)} steps"
    assert out["time"].iloc[0] == series["time"].iloc[0], "the series does not start at its start"
    later = model.sample(5, seed=1, start="2030-06-01 00:00")
    assert later["time"].iloc[0] == "2030-06-01 00:00", "start= did not set the first time"


ALL_SEQUENCE_CHECKS = (
    check_sequence_fit_and_before_fit,
    check_sequence_entities_and_dtypes,
    check_sequence_same_seed,
    check_sequence_save_load,
    check_sequence_kinds_survive,
    check_sequence_conditions,
    check_single_series,
)


def check_sequence_synthesizer(factory: Factory, data: pd.DataFrame | None = None) -> None:
    """Run every sequence contract check on generators made by ``factory(seed)``."""
    data = sequence_table() if data is None else data
    for check in ALL_SEQUENCE_CHECKS:
        check(factory, data)


# ---------------------------------------------------------------- metrics
def shuffle_within(table: pd.DataFrame, key: str = "entity", index: str = "time") -> pd.DataFrame:
    """A collapsed, orderless copy: events shuffled within each entity, numbers shrunk to a
    third of their spread around the entity's mean, times evenly spaced by an hour, every
    other entity cut to its first event; order, memory, transitions, gaps, large changes
    and long sequences are lost."""
    rng = np.random.default_rng(0)
    parts = []
    for number, (_, part) in enumerate(table.groupby(key, sort=False)):
        part = part.reset_index(drop=True)
        moved = part.iloc[rng.permutation(len(part))].reset_index(drop=True)
        first = pd.to_datetime(part[index].iloc[0])
        moved[index] = (first + pd.to_timedelta(np.arange(len(part)), "h")).strftime(
            "%Y-%m-%d %H:%M"
        )
        for column in ("value", "amount"):
            moved[column] = moved[column].mean() + (moved[column] - moved[column].mean()) / 3
        parts.append(moved.iloc[:1] if number % 2 else moved)
    return pd.concat(parts, ignore_index=True)[list(table.columns)]


def check_sequence_metric(factory) -> None:
    """A sequence metric scores identical data near its best, a fresh sample of the same
    process better than shuffled events, and the same inputs alike."""
    from ouroboros.metrics.registry import check_metric_class

    metric = factory()
    check_metric_class(type(metric))
    real, holdout, fresh = (sequence_table(80, seed=s, mean_length=12) for s in (0, 1, 2))
    schema = sequence_schema(real)
    degraded = shuffle_within(real)

    def score(synthetic: pd.DataFrame, seed: int = 0) -> float:
        result = metric.compute(real, synthetic, holdout=holdout, schema=schema)
        assert all(isinstance(label, str) for label, _ in result.rows), "row labels must be str"
        return result.value

    same = score(real.copy())
    assert metric.goodness(same) >= 0.9, f"{metric.name}: identical data scores {same}"
    good, bad = score(fresh), score(degraded)
    assert metric.better(good, bad) and metric.goodness(good) - metric.goodness(bad) >= 0.05, (
        f"{metric.name}: a fresh sample scores {good}, shuffled events {bad}"
    )
    assert score(fresh) == good, f"{metric.name}: the same inputs gave two values"
