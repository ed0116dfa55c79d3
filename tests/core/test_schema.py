import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouroboros.errors import DataError, SchemaError
from ouroboros.schema import SCHEMA_VERSION, ColumnKind, Schema


def kinds(schema):
    return {c.name: c.kind for c in schema.columns}


def test_detects_every_kind(mixed_table):
    schema = Schema.detect(mixed_table)
    assert kinds(schema) == {
        "id": ColumnKind.IDENTIFIER,
        "group": ColumnKind.CATEGORICAL,
        "amount": ColumnKind.CONTINUOUS,
        "count": ColumnKind.INTEGER,
        "flag": ColumnKind.CATEGORICAL,
        "date": ColumnKind.DATETIME,
        "city": ColumnKind.CATEGORICAL,
        "constant": ColumnKind.CONSTANT,
    }
    assert schema["date"].datetime_format == "%Y-%m-%d"
    assert schema["amount"].precision == 2
    assert 0.05 < schema["amount"].missing_fraction < 0.2
    assert schema["flag"].dtype == "bool"
    assert schema["constant"].value == "same"
    assert schema["group"].categories[0] == "a"
    assert sum(schema["group"].frequencies) == pytest.approx(1)
    assert schema["id"].identifier["type"] == "integer"


def test_low_cardinality_integers_are_categorical():
    df = pd.DataFrame(
        {"code": [1, 2, 3, 1, 2, 3] * 5, "age": [20 + (i * 7) % 23 for i in range(30)]}
    )
    schema = Schema.detect(df)
    assert schema["code"].kind is ColumnKind.CATEGORICAL
    assert schema["code"].categories == [1, 2, 3]
    assert schema["age"].kind is ColumnKind.INTEGER


def test_timezone_aware_datetimes_keep_their_zone():
    stamps = pd.date_range("2024-01-01", periods=50, freq="h", tz="Europe/Paris")
    schema = Schema.detect(pd.DataFrame({"t": stamps}))
    assert schema["t"].kind is ColumnKind.DATETIME
    assert schema["t"].timezone == "Europe/Paris"
    assert schema["t"].min.startswith("2024-01-01T00:00:00+01:00")


def test_string_identifiers_record_their_shape():
    df = pd.DataFrame({"order": [f"ORD-{i:05d}" for i in range(40)], "x": range(40)})
    shape = Schema.detect(df)["order"].identifier
    assert shape["prefix"].startswith("ORD-")
    assert set(shape["alphabet"]) <= set("0123456789")


def test_json_round_trip_and_version(mixed_table, tmp_path):
    schema = Schema.detect(mixed_table)
    path = tmp_path / "schema.json"
    schema.save(path)
    data = json.loads(path.read_text())
    assert data["format_version"] == SCHEMA_VERSION
    assert Schema.load(path) == schema
    data["format_version"] = SCHEMA_VERSION + 1
    with pytest.raises(SchemaError, match="newer"):
        Schema.from_dict(data)


def test_invalid_schema_lists_every_problem():
    bad = {
        "columns": [
            {"name": "a", "kind": "banana", "dtype": "int64"},
            {"name": "b", "kind": "integer", "dtype": "int64", "colour": "red"},
        ]
    }
    with pytest.raises(SchemaError) as info:
        Schema.from_dict(bad)
    assert len(info.value.problems) == 2
    assert "'a'" in str(info.value) and "'b'" in str(info.value)


def test_validate_collects_all_mismatches(mixed_table):
    schema = Schema.detect(mixed_table)
    broken = mixed_table.drop(columns=["group"]).assign(extra=1)
    broken["count"] = "lots"
    with pytest.raises(SchemaError) as info:
        schema.validate(broken)
    text = str(info.value)
    assert len(info.value.problems) == 3
    assert "group" in text and "extra" in text and "count" in text


def test_edited_kind_is_authoritative(mixed_table):
    schema = Schema.detect(mixed_table)
    schema["count"].kind = ColumnKind.CATEGORICAL
    conformed = schema.conform(mixed_table)
    assert conformed["count"].kind is ColumnKind.CATEGORICAL
    assert set(conformed["count"].categories) == set(mixed_table["count"].unique())


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame(), "no columns"),
        (pd.DataFrame({"a": pd.Series([], dtype=float)}), "empty"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), "duplicate"),
        (pd.DataFrame({0: [1, 2], 1: [3, 4]}), "must be strings"),
        (pd.DataFrame({"x": [1.0, np.inf, 2.0]}), "'x' holds infinite"),
        (pd.DataFrame({"m": pd.Series([1, "a", 2.5], dtype=object)}), "'m' mixes numbers"),
    ],
)
def test_bad_tables_get_clear_errors(frame, message):
    with pytest.raises(DataError, match=message):
        Schema.detect(frame)


def test_entirely_missing_and_one_row_are_handled():
    schema = Schema.detect(pd.DataFrame({"gone": [np.nan] * 5, "x": [1, 2, 3, 4, 5]}))
    assert schema["gone"].kind is ColumnKind.CONSTANT
    assert schema["gone"].missing_fraction == 1.0
    one = Schema.detect(pd.DataFrame({"a": [1.5], "b": ["x"]}))
    assert {c.kind for c in one.columns} == {ColumnKind.CONSTANT}


def test_odd_names_survive_json():
    names = ["<script>alert(1)</script>", 'quote"d', "ünïcødé 数据"]
    df = pd.DataFrame({n: [1.5, 2.5, 3.5] for n in names})
    schema = Schema.detect(df)
    assert Schema.from_json(schema.to_json()).names == names


# ---------------------------------------------------------------- date formats and notes
#: formats a user's file may hold; the first field decides day-first where it is above 12
REAL_WORLD_FORMATS = [
    "%d.%m.%Y %H:%M",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%b %d, %Y",
    "%d %b %Y",
    "%d-%m-%Y %H:%M:%S",
    "%Y-%m-%d %H:%M",
]


@given(
    fmt=st.sampled_from(REAL_WORLD_FORMATS),
    stamps=st.lists(
        st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2069, 12, 31)),
        min_size=12,
        max_size=40,
        unique=True,
    ),
)
@settings(max_examples=60, deadline=None)
def test_datetime_format_is_detected_and_prints_the_values_back(fmt, stamps):
    stamps = [s.replace(second=0 if "%S" not in fmt else s.second, microsecond=0) for s in stamps]
    # one unambiguous value: day 13 in January (month first or day first cannot be mixed up)
    stamps.append(dt.datetime(2024, 1, 13, 8, 30))
    text = pd.Series([s.strftime(fmt) for s in stamps], name="when")
    column = Schema.detect(text.to_frame())["when"]
    assert column.kind is ColumnKind.DATETIME
    assert column.datetime_format == fmt
    assert column.note is None
    parsed = pd.to_datetime(text, format=column.datetime_format)
    assert (parsed.dt.strftime(column.datetime_format) == text).all()


@pytest.mark.parametrize(
    ("value", "fmt"),
    [
        ("01.01.2024 00:00", "%d.%m.%Y %H:%M"),
        ("31/12/2024", "%d/%m/%Y"),
        ("Jan 01, 2024", "%b %d, %Y"),
    ],
)
def test_the_issue_examples_are_dates(value, fmt):
    first = dt.datetime.strptime(value, fmt)
    values = [(first + dt.timedelta(days=i)).strftime(fmt) for i in range(30)]
    column = Schema.detect(pd.DataFrame({"d": values}))["d"]
    assert (column.kind, column.datetime_format) == (ColumnKind.DATETIME, fmt)


def test_month_names_and_codes_are_not_dates():
    months = ["January", "February", "March"] * 10
    codes = [f"A{i}" for i in range(30)]
    schema = Schema.detect(pd.DataFrame({"month": months, "code": codes}))
    assert schema["month"].kind is ColumnKind.CATEGORICAL
    assert schema["code"].kind is ColumnKind.IDENTIFIER and schema["code"].note is None


@pytest.mark.parametrize(
    ("values", "what", "example"),
    [
        (
            [f"{1 + i % 12}/{1 + i % 28}/2024 {i:02d}:00" for i in range(24)],
            "dates",
            "1/1/2024 00:00",
        ),
        ([f"ORD-2024-{i:03d}" for i in range(30)], None, None),
        ([f"${1000 + 37 * i:,}.50" for i in range(30)], "numbers", "$1,000.50"),
        ([f"{i}.{i:03d},5" for i in range(1, 31)], "numbers", "1.001,5"),
        ([f"{i / 7:.2f}%" for i in range(30)], "numbers", "0.00%"),
        ([f"user-{i}" for i in range(30)], None, None),
    ],
)
def test_unique_text_that_looks_like_dates_or_numbers_gets_a_note(values, what, example):
    schema = Schema.detect(pd.DataFrame({"v": values}))
    column = schema["v"]
    assert column.kind is ColumnKind.IDENTIFIER
    if what is None:
        assert column.note is None
        return
    assert column.note.startswith(f"values look like {what} (e.g. {example!r})")
    assert "regenerated as random text" in column.note
    assert ("datetime_format" in column.note) == (what == "dates")
    again = Schema.from_json(schema.to_json())
    assert again["v"].note == column.note


def test_conform_keeps_extras_and_recomputes_notes():
    data = pd.DataFrame({"v": [f"${i},000" for i in range(1, 31)], "x": range(30)})
    schema = Schema.detect(data)
    schema.extras["csv"] = {"delimiter": ";", "decimal": ","}
    schema["v"].note = None
    conformed = schema.conform(data)
    assert conformed.extras == schema.extras
    assert conformed["v"].note.startswith("values look like numbers")
