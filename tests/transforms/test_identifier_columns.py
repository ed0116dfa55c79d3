"""Identifier columns regenerate fresh unique values of the same shape; constants refill."""

from __future__ import annotations

import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouroboros.errors import DataError, NotFittedError
from ouroboros.schema import ColumnKind, ColumnSchema, detect_column
from ouroboros.transforms import ConstantFiller, IdentifierGenerator
from ouroboros.transforms.identifiers import fresh_integers

ID = ColumnKind.IDENTIFIER


def _fit(series: pd.Series) -> IdentifierGenerator:
    return IdentifierGenerator().fit(series, ColumnSchema(series.name, ID, str(series.dtype)))


@given(
    start=st.integers(0, 10**12),
    n=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from(["int64", "float64", "Int64", "uint32"]),
)
@settings(max_examples=50, deadline=None)
def test_integer_identifiers_are_fresh_unique_and_typed(start, n, seed, dtype):
    if dtype == "uint32":
        start %= 2**31
    series = pd.Series(np.arange(start, start + n), name="id").astype(dtype)
    generator = _fit(series)
    out = generator.generate(3 * n, np.random.default_rng(seed))
    assert out.dtype == series.dtype
    assert out.is_unique and not out.isin(series).any()
    assert out.min() > series.max()


def test_integer_identifiers_keep_their_digits_when_there_is_room(rng):
    series = pd.Series(rng.choice(np.arange(100_000, 200_000), 500, replace=False), name="id")
    out = _fit(series).generate(2000, rng)
    assert out.astype(str).str.len().eq(6).all()
    assert out.is_unique and out.min() > series.max()


def test_digit_strings_keep_prefix_and_width(rng):
    series = pd.Series([f"CUST-{i:07d}" for i in rng.choice(10**6, 300, replace=False)], name="c")
    generator = _fit(series)
    assert generator.prefix_ == "CUST-"
    out = generator.generate(1000, rng)
    assert out.dtype == series.dtype and out.is_unique
    assert out.str.match(r"^CUST-\d{7}$").all()
    assert not out.isin(series).any()


@given(
    alphabet=st.sampled_from(
        [string.hexdigits[:16], string.ascii_uppercase + string.digits, string.ascii_letters]
    ),
    length=st.integers(1, 12),
    n=st.integers(10, 200),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=40, deadline=None)
def test_random_strings_keep_alphabet_and_are_unique(alphabet, length, n, seed):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, len(alphabet), size=(n, length))
    values = pd.Series(["x_" + "".join(alphabet[c] for c in row) for row in codes], name="s")
    values = values.drop_duplicates().reset_index(drop=True)
    generator = _fit(values)
    out = generator.generate(5 * n, rng)
    assert out.is_unique and out.str.startswith(generator.prefix_).all()
    rest = out.str.slice(len(generator.prefix_))
    assert set("".join(rest)) <= set(generator.alphabet_)
    assert rest.str.len().min() >= generator.length_


def test_identifier_missing_rate_and_object_dtype(rng):
    series = pd.Series([f"u{i}" for i in range(1000)], dtype=object, name="u")
    series[rng.random(1000) < 0.2] = None
    out = _fit(series).generate(5000, rng)
    assert out.dtype == object
    assert abs(out.isna().mean() - series.isna().mean()) < 0.03
    assert out.dropna().is_unique
    assert out[out.isna()].map(lambda v: v is None).all()


def test_fresh_integers_near_int64_limit():
    out = fresh_integers(1000, 2**61, 19, np.random.default_rng(0))
    assert len(set(out.tolist())) == 1000 and out.min() > 2**61


@pytest.mark.parametrize(
    "series",
    [
        pd.Series(["same"] * 5, dtype="str"),
        pd.Series([7, 7, None], dtype="Int64"),
        pd.Series([True] * 3),
        pd.Series(pd.to_datetime(["2020-01-01"] * 3).tz_localize("Europe/Paris")),
        pd.Series(pd.Categorical(["k", "k", None], categories=["k", "z"])),
        pd.Series([np.nan, np.nan]),
        pd.Series(["x", None, "x"], dtype=object),
    ],
)
def test_constant_refills_value_dtype_and_missing_rate(series, rng):
    column = detect_column(series.rename("k"))
    assert column.kind is ColumnKind.CONSTANT
    filler = ConstantFiller().fit(series, column)
    out = filler.generate(4000, rng)
    assert out.dtype == series.dtype
    present = out.dropna().unique()
    assert list(present) == list(series.dropna().unique())
    assert abs(out.isna().mean() - series.isna().mean()) < 0.04
    clone = ConstantFiller.from_state(filler.to_state())
    pd.testing.assert_series_equal(
        clone.generate(50, np.random.default_rng(1)), filler.generate(50, np.random.default_rng(1))
    )


def test_errors():
    with pytest.raises(NotFittedError):
        IdentifierGenerator().generate(3, np.random.default_rng(0))
    with pytest.raises(DataError, match="entirely missing"):
        _fit(pd.Series([None, None], dtype=object, name="x"))


def test_small_integer_dtypes_refuse_to_overflow(rng):
    series = pd.Series(np.arange(250, dtype="uint8"), name="id")
    generator = _fit(series)
    assert generator.generate(5, rng).gt(249).all()
    with pytest.raises(DataError, match="int64"):
        generator.generate(10, rng)
