"""Numbers and datetimes to float64 and back: precision, range, dtype, timezone, format."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_series_equal

from ouroboros.errors import DataError, NotFittedError
from ouroboros.schema import ColumnKind, ColumnSchema, detect_column
from ouroboros.transforms import DatetimeConverter, NumberConverter

FORMATS = ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M", "%Y-%m-%dT%H:%M:%SZ", "%Y%m%d"]
TIMEZONES = [None, "UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]


def _round_trip(converter, series: pd.Series) -> pd.Series:
    numbers = converter.to_float(series)
    return converter.from_float(numbers, np.isnan(numbers))


@st.composite
def decimal_series(draw) -> pd.Series:
    precision = draw(st.integers(0, 6))
    n = draw(st.integers(1, 50))
    ints = draw(st.lists(st.integers(-(10**9), 10**9), min_size=n, max_size=n))
    values = np.array(ints, dtype=np.float64) / 10**precision
    if draw(st.booleans()):
        values[np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))] = np.nan
    dtype = draw(st.sampled_from(["float64", "float32", "Float64"]))
    return pd.Series(values, name="x").astype(dtype)


@given(series=decimal_series())
@settings(max_examples=60, deadline=None)
def test_continuous_round_trip_to_the_recorded_precision(series):
    if series.isna().all():
        return
    column = detect_column(series, kind=ColumnKind.CONTINUOUS)
    converter = NumberConverter().fit(series, column)
    assert_series_equal(_round_trip(converter, series), series, check_names=False)


@given(
    ints=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=50),
    dtype=st.sampled_from(["int64", "int32", "Int64", "float64", "uint16"]),
    missing=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_integer_round_trip_keeps_the_dtype(ints, dtype, missing):
    values = np.array(ints)
    if dtype == "int32":
        values = values % 2**31
    if dtype == "uint16":
        values = np.abs(values) % 2**16
    series = pd.Series(values, name="n").astype(dtype)
    if missing and dtype in ("Int64", "float64") and len(series) > 1:
        series.iloc[0] = None
    column = detect_column(series, kind=ColumnKind.INTEGER)
    converter = NumberConverter().fit(series, column)
    assert_series_equal(_round_trip(converter, series), series, check_names=False)


def test_from_float_rounds_clips_and_restores_missing():
    series = pd.Series([1.25, 2.5, None, 4.75], name="x")
    converter = NumberConverter().fit(series, detect_column(series))
    out = converter.from_float(np.array([0.0, 2.4999, 3.0, 99.0]), np.array([0, 0, 1, 0], bool))
    assert out.tolist()[:2] == [1.25, 2.5] and np.isnan(out[2]) and out[3] == 4.75
    ints = pd.Series([3, 7, 5], name="n")
    converter = NumberConverter().fit(ints, detect_column(ints, kind=ColumnKind.INTEGER))
    out = converter.from_float(np.array([2.6, 6.5, 100.0]))
    assert out.tolist() == [3, 6, 7] and out.dtype == np.int64


def test_numbers_stored_as_text_come_back_as_text():
    series = pd.Series(["1", "20", None, "300"], dtype="str", name="t")
    column = ColumnSchema("t", ColumnKind.INTEGER, "str", precision=0)
    converter = NumberConverter().fit(series, column)
    assert_series_equal(_round_trip(converter, series), series, check_names=False)


def test_cap_precision_means_full_precision():
    series = pd.Series([1 / 3, 2 / 3, 1e-13], name="x")
    column = ColumnSchema("x", ColumnKind.CONTINUOUS, "float64", precision=10)
    converter = NumberConverter().fit(series, column)
    assert_series_equal(_round_trip(converter, series), series, check_names=False)


@st.composite
def datetime_series(draw) -> tuple[pd.Series, ColumnSchema]:
    n = draw(st.integers(1, 40))
    resolution = draw(st.sampled_from(["D", "h", "min", "s", "ms"]))
    stamps = draw(
        st.lists(
            st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1)),
            min_size=n,
            max_size=n,
        )
    )
    series = pd.Series(pd.to_datetime(stamps), name="t").dt.floor(resolution)
    if draw(st.booleans()) and n > 1:
        series.iloc[draw(st.integers(0, n - 1))] = pd.NaT
    if draw(st.booleans()):
        fmt = draw(st.sampled_from(FORMATS))
        text = series.dt.strftime(fmt).astype(draw(st.sampled_from(["str", "object"])))
        return text, ColumnSchema("t", ColumnKind.DATETIME, str(text.dtype), datetime_format=fmt)
    tz = draw(st.sampled_from(TIMEZONES))
    if tz is not None:
        series = series.dt.tz_localize("UTC").dt.tz_convert(tz)
    unit = draw(st.sampled_from(["ns", "us", "ms", "s"]))
    if resolution == "ms" and unit == "s":
        unit = "ms"
    series = series.dt.as_unit(unit)
    return series, ColumnSchema("t", ColumnKind.DATETIME, str(series.dtype))


@given(case=datetime_series())
@settings(max_examples=80, deadline=None)
def test_datetime_round_trip_keeps_format_timezone_and_dtype(case):
    series, column = case
    if series.isna().all():
        return
    converter = DatetimeConverter().fit(series, column)
    back = _round_trip(converter, series)
    if series.dtype == object:
        series = series.where(series.notna(), np.nan)
    assert_series_equal(back, series, check_names=False)


def test_datetime_resolution_and_clipping():
    series = pd.Series(pd.to_datetime(["2020-01-01 10:00", "2020-01-03 12:00"]), name="t")
    converter = DatetimeConverter().fit(series, detect_column(series))
    assert converter.step_ == 3600 * 10 ** {"s": 0, "ms": 3, "us": 6, "ns": 9}[converter.unit_]
    seconds = converter.to_float(series)
    out = converter.from_float(np.array([seconds[0] + 1799, seconds[0] - 1e9, seconds[1] + 1e9]))
    assert out.tolist() == [series[0], series[0], series[1]]


def test_fixed_offset_strings_keep_their_offset():
    series = pd.Series(["2021-03-01T10:00:00+0100", "2021-06-01T18:30:00+0100"], name="t")
    column = detect_column(series)
    assert column.kind is ColumnKind.DATETIME
    converter = DatetimeConverter().fit(series, column)
    assert_series_equal(_round_trip(converter, series), series, check_names=False)


def test_datetime_errors():
    with pytest.raises(NotFittedError):
        DatetimeConverter().to_float(pd.Series(["2020-01-01"]))
    text = pd.Series(["2020-01-01", "2020-02-01"], name="t")
    with pytest.raises(DataError, match="datetime_format"):
        DatetimeConverter().fit(text, ColumnSchema("t", ColumnKind.DATETIME, "str"))
    column = ColumnSchema("t", ColumnKind.DATETIME, "str", datetime_format="%Y-%m-%d")
    converter = DatetimeConverter().fit(text, column)
    with pytest.raises(DataError, match="format"):
        converter.to_float(pd.Series(["01/02/2020"], name="t"))
