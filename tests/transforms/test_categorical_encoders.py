"""One-hot and ordinal encoders: exact round trips, pooling, conditions, dtypes."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_series_equal

from ouroboros.errors import ConditionError, DataError, NotFittedError, ParameterError
from ouroboros.transforms import OTHER, OneHotEncoder, OrdinalEncoder
from ouroboros.transforms.encoders import ENCODERS as REGISTRY

ENCODERS = [OneHotEncoder, OrdinalEncoder]


@st.composite
def categorical_series(draw) -> pd.Series:
    """A column of one of the dtypes categories come in, with or without missing values."""
    flavour = draw(st.sampled_from(["str", "object", "int64", "Int64", "bool", "boolean", "cat"]))
    n = draw(st.integers(1, 60))
    with_missing = flavour not in ("int64", "bool") and draw(st.booleans())
    if flavour in ("bool", "boolean"):
        pool = [True, False]
    elif flavour in ("int64", "Int64"):
        pool = draw(st.lists(st.integers(-1000, 1000), min_size=1, max_size=8, unique=True))
    else:
        pool = draw(st.lists(st.text(max_size=5), min_size=1, max_size=8, unique=True))
    values = draw(st.lists(st.sampled_from(pool + [None] * with_missing), min_size=n, max_size=n))
    if flavour == "object":
        missing = draw(st.sampled_from([None, np.nan]))
        return pd.Series([missing if v is None else v for v in values], dtype=object, name="c")
    if flavour == "cat":
        return pd.Series(pd.Categorical(values, categories=sorted(pool)), name="c")
    return pd.Series(values, dtype=flavour, name="c")


@pytest.mark.parametrize("cls", ENCODERS)
@given(series=categorical_series(), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_round_trip_is_exact(cls, series, seed):
    encoder = cls(max_categories=100).fit(series)
    block = encoder.transform(series)
    assert block.shape == (len(series), encoder.width)
    back = encoder.inverse(block, np.random.default_rng(seed))
    assert_series_equal(back, series.reset_index(drop=True), check_names=False)


@pytest.mark.parametrize("cls", ENCODERS)
@given(series=categorical_series(), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_inverse_of_noise_gives_only_training_values(cls, series, seed):
    rng = np.random.default_rng(seed)
    encoder = cls(max_categories=3).fit(series)
    back = encoder.inverse(rng.normal(size=(50, encoder.width)) * 3, rng)
    assert back.dtype == series.dtype
    seen = set(series.dropna())
    assert set(back.dropna()) <= seen
    if not series.isna().any():
        assert not back.isna().any()


def test_pooling_keeps_frequent_categories_and_resamples_the_rest(rng):
    counts = {"a": 500, "b": 300, "c": 100, "d": 60, "e": 40}
    series = pd.Series(np.repeat(list(counts), list(counts.values())), name="c")
    encoder = OneHotEncoder(max_categories=3).fit(series)
    assert encoder.block_categories() == ["a", "b", OTHER]
    back = encoder.inverse(encoder.transform(series), rng)
    kept = series.isin(["a", "b"])
    assert (back[kept] == series[kept]).all()
    pooled = back[~kept].value_counts(normalize=True)
    assert set(pooled.index) == {"c", "d", "e"}
    np.testing.assert_allclose(pooled[["c", "d", "e"]], [0.5, 0.3, 0.2], atol=0.08)


def test_missing_is_always_kept_as_its_own_category():
    series = pd.Series(["a"] * 50 + ["b"] * 40 + ["c"] * 30 + [None] * 2, dtype="str")
    encoder = OneHotEncoder(max_categories=3).fit(series)
    assert encoder.block_categories() == ["a", None, OTHER]
    back = encoder.inverse(encoder.transform(series), np.random.default_rng(0))
    assert back.isna().sum() == 2 and back.dtype == series.dtype


def test_ordinal_scales_positions_to_unit_interval():
    series = pd.Series([3, 1, 2, 1], name="c")
    encoder = OrdinalEncoder().fit(series)
    np.testing.assert_allclose(encoder.transform(series)[:, 0], [1.0, 0.0, 0.5, 0.0])
    assert [(s.kind, s.width, s.activation) for s in encoder.spans("c")] == [
        ("category", 1, "linear")
    ]
    back = encoder.inverse(np.array([[-4.0], [0.3], [0.8], [9.0]]), np.random.default_rng(0))
    assert back.tolist() == [1, 2, 3, 3]


def test_index_of_and_conditions():
    series = pd.Series(["x"] * 10 + ["y"] * 5 + ["z"] + [None], dtype=object)
    encoder = OneHotEncoder(max_categories=3).fit(series)
    assert encoder.block_categories() == ["x", None, OTHER]
    assert encoder.index_of("x") == 0
    assert encoder.index_of(None) == encoder.index_of(np.nan) == 1
    with pytest.raises(ConditionError, match="pooled"):
        encoder.index_of("y")
    with pytest.raises(ConditionError, match="never seen"):
        encoder.index_of("w")
    ints = OneHotEncoder().fit(pd.Series([4, 5, 6]))
    assert ints.index_of(np.int64(5)) == 1
    with pytest.raises(ConditionError, match="no missing"):
        ints.index_of(None)


def test_unseen_values_at_transform():
    encoder = OneHotEncoder().fit(pd.Series(["a", "b"], name="c"))
    with pytest.raises(DataError, match="never seen"):
        encoder.transform(pd.Series(["a", "zz"], name="c"))
    with pytest.raises(DataError, match="missing"):
        encoder.transform(pd.Series(["a", None], name="c"))
    pooled = OneHotEncoder(max_categories=2).fit(pd.Series(["a", "a", "b", "c"]))
    block = pooled.transform(pd.Series(["zz"]))
    assert block[0, pooled.other_code] == 1.0


def test_state_round_trip_and_errors(rng):
    series = pd.Series(pd.Categorical(["lo", "hi", "hi", None], categories=["lo", "hi", "mid"]))
    for cls in ENCODERS:
        encoder = cls(max_categories=2).fit(series)
        clone = REGISTRY[encoder.name].from_state(encoder.to_state())
        block = encoder.transform(series)
        a = encoder.inverse(block, np.random.default_rng(1))
        b = clone.inverse(block, np.random.default_rng(1))
        assert_series_equal(a, b)
        assert list(a.dtype.categories) == ["lo", "hi", "mid"]
    with pytest.raises(NotFittedError):
        OneHotEncoder().transform(series)
    with pytest.raises(ParameterError, match="max_categories"):
        OneHotEncoder(max_categories=1).fit(series)


def test_datetime_values_as_categories():
    series = pd.Series(pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-01", None]))
    encoder = OneHotEncoder().fit(series)
    back = encoder.inverse(encoder.transform(series), np.random.default_rng(0))
    assert_series_equal(back, series)


def test_width_is_bounded_with_300k_categories():
    rng = np.random.default_rng(0)
    labels = np.char.add("k", np.arange(300_000).astype(str))
    series = pd.Series(labels[rng.zipf(1.3, 400_000) % len(labels)], dtype="str", name="big")
    start = time.perf_counter()
    encoder = OneHotEncoder(max_categories=50).fit(series)
    block = encoder.transform(series)
    back = encoder.inverse(block, rng)
    elapsed = time.perf_counter() - start
    assert block.shape == (len(series), 50) and block.dtype == np.float32
    assert back.dtype == series.dtype
    assert back.isin(set(series.unique())).all()
    kept = series.isin(encoder.categories_)
    assert (back[kept] == series[kept]).all()
    assert elapsed < 30, f"300k categories took {elapsed:.1f}s: not vectorised?"
