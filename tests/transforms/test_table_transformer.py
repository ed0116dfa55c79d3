"""TableTransformer: round trips over whole tables, valid inverses of any matrix, layout, state."""

from __future__ import annotations

import datetime as dt
import io
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from ouroboros.errors import (
    ConditionError,
    DataError,
    ModelFileError,
    NotFittedError,
    ParameterError,
    SchemaError,
)
from ouroboros.schema import ColumnKind, Schema
from ouroboros.synthesizers.modelfile import flatten_state, unflatten_state
from ouroboros.transforms import OTHER, OneHotEncoder, Span, TableTransformer

NUMERIC = ["mode", "quantile", "standard"]
CATEGORICAL = ["onehot", "ordinal"]
K = ColumnKind


@st.composite
def tables(draw) -> tuple[pd.DataFrame, dict[str, ColumnKind]]:
    """A table with every modelled kind; magnitudes the float32 matrix holds exactly."""
    n = draw(st.integers(2, 40))

    def column(strategy):
        return draw(st.lists(strategy, min_size=n, max_size=n))

    def with_missing(values):
        mask = column(st.booleans()) if draw(st.booleans()) else [False] * n
        return [None if m else v for v, m in zip(values, mask, strict=True)]

    cents = column(st.integers(-100_000, 100_000))
    hours = column(st.integers(0, 24 * 365 * 10))
    start = pd.Timestamp("2015-01-01")
    stamps = start + pd.to_timedelta(np.array(hours), unit="h")
    text = stamps.strftime("%Y-%m-%d %H:%M")
    data = pd.DataFrame(
        {
            "integer": pd.Series(column(st.integers(-50_000, 50_000)), dtype="int64"),
            "nullable": pd.Series(with_missing(column(st.integers(0, 9_999))), dtype="Int64"),
            "price": pd.Series(with_missing([c / 100 for c in cents]), dtype="float64"),
            "label": pd.Series(with_missing(column(st.sampled_from(["a", "b", "ccc", "", "é"])))),
            "flag": pd.Series(column(st.booleans()), dtype="bool"),
            "code": pd.Series(column(st.sampled_from([3, 10, 42])), dtype="int64"),
            "when": pd.Series(with_missing(list(text)), dtype="str"),
            "aware": pd.Series(stamps).dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo"),
        }
    )
    data["label"] = data["label"].astype("str")
    kinds = {
        "integer": K.INTEGER,
        "nullable": K.INTEGER,
        "price": K.CONTINUOUS,
        "label": K.CATEGORICAL,
        "flag": K.CATEGORICAL,
        "code": K.CATEGORICAL,
        "when": K.DATETIME,
        "aware": K.DATETIME,
    }
    return data, kinds


def _usable(data: pd.DataFrame) -> bool:
    numeric = ["integer", "nullable", "price", "when", "aware"]
    return not any(data[c].isna().all() for c in numeric)


@pytest.mark.parametrize("numeric", NUMERIC)
@pytest.mark.parametrize("categorical", CATEGORICAL)
@given(case=tables(), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_gives_the_table_back(numeric, categorical, case, seed):
    data, kinds = case
    if not _usable(data):
        return
    schema = Schema.detect(data, kinds=kinds, formats={"when": "%Y-%m-%d %H:%M"})
    transformer = TableTransformer(
        schema, encoders={"numeric": numeric, "categorical": categorical}
    )
    transformer.fit(data, np.random.default_rng(seed))
    matrix = transformer.transform(data, np.random.default_rng(seed + 1))
    assert matrix.dtype == np.float32 and matrix.shape == (len(data), transformer.output_dim)
    back = transformer.inverse_transform(matrix, np.random.default_rng(seed + 2))
    assert_frame_equal(back, data)


def _check_valid(back: pd.DataFrame, data: pd.DataFrame, schema: Schema) -> None:
    assert list(back.columns) == list(data.columns)
    assert back.dtypes.equals(data.dtypes)
    for column in schema.columns:
        got, real = back[column.name], data[column.name]
        if column.kind is K.CATEGORICAL:
            assert set(got.dropna()) <= set(real.dropna())
        elif column.kind in (K.INTEGER, K.CONTINUOUS):
            assert got.min() >= real.min() and got.max() <= real.max()
        elif column.kind is K.DATETIME:
            if column.datetime_format:
                got = pd.to_datetime(got, format=column.datetime_format)
                real = pd.to_datetime(real, format=column.datetime_format)
            assert got.min() >= real.min() and got.max() <= real.max()
        elif column.kind is K.IDENTIFIER:
            assert got.dropna().is_unique
        if not real.isna().any() and column.kind is not K.IDENTIFIER:
            assert not got.isna().any(), column.name


@pytest.mark.parametrize("numeric", NUMERIC)
@pytest.mark.parametrize("categorical", CATEGORICAL)
@given(case=tables(), seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([1.0, 10.0]))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_inverse_of_noise_is_a_valid_table(numeric, categorical, case, seed, scale):
    data, kinds = case
    if not _usable(data):
        return
    schema = Schema.detect(data, kinds=kinds, formats={"when": "%Y-%m-%d %H:%M"})
    rng = np.random.default_rng(seed)
    few = (categorical, {"max_categories": 2})
    transformer = TableTransformer(schema, encoders={"numeric": numeric, "categorical": few}).fit(
        data, rng
    )
    noise = rng.normal(size=(64, transformer.output_dim)) * scale
    _check_valid(transformer.inverse_transform(noise, rng), data, schema)


def test_mixed_table_round_trip_and_regenerated_columns(mixed_table, rng):
    schema = Schema.detect(mixed_table)
    transformer = TableTransformer(
        schema, encoders={"categorical": ("onehot", {"max_categories": 200})}
    ).fit(mixed_table, rng)
    back = transformer.inverse_transform(transformer.transform(mixed_table, rng), rng)
    generated = schema.of_kind(K.IDENTIFIER, K.CONSTANT)
    assert set(generated) == {"id", "constant"}
    modelled = [c for c in mixed_table.columns if c not in generated]
    assert_frame_equal(back[modelled], mixed_table[modelled])
    assert back["id"].is_unique and not back["id"].isin(mixed_table["id"]).any()
    assert (back["constant"] == "same").all() and back.dtypes.equals(mixed_table.dtypes)
    _check_valid(back, mixed_table, schema)


def test_layout_queries(mixed_table, rng):
    schema = Schema.detect(mixed_table)
    transformer = TableTransformer(
        schema, encoders={"categorical": ("onehot", {"max_categories": 5})}
    ).fit(mixed_table, rng)
    info = transformer.output_info
    assert sum(s.width for s in info) == transformer.output_dim
    assert all(isinstance(s, Span) and s.activation in ("tanh", "softmax", "linear") for s in info)
    assert transformer.spans_for("id") == []
    (start, stop, value), (_, _, modes), (_, end, missing) = transformer.spans_for("amount")
    assert (value.kind, value.activation) == ("value", "tanh")
    assert (modes.kind, missing.kind, missing.width) == ("mode", "missing", 2)
    assert [c for c in transformer.discrete_columns()] == ["group", "flag", "city"]
    start, stop, categories = transformer.category_block("group")
    assert categories == ["a", "b", "c"] and stop - start == 3
    matrix = transformer.transform(mixed_table, rng)
    np.testing.assert_array_equal(
        matrix[:, start + transformer.encode_condition("group", "b")], mixed_table["group"] == "b"
    )
    _, _, cities = transformer.category_block("city")
    assert len(cities) == 5 and cities[-1] is OTHER
    assert transformer.encode_condition("flag", True) == 1
    with pytest.raises(ConditionError, match="city"):
        transformer.encode_condition("city", "nowhere")
    with pytest.raises(ConditionError, match="one-hot"):
        transformer.category_block("amount")
    with pytest.raises(ParameterError, match="no column"):
        transformer.spans_for("nope")


def test_ordinal_has_no_discrete_columns(mixed_table, rng):
    schema = Schema.detect(mixed_table)
    transformer = TableTransformer(schema, encoders={"categorical": "ordinal"}).fit(
        mixed_table, rng
    )
    assert transformer.discrete_columns() == []
    ((_, _, span),) = transformer.spans_for("group")
    assert (span.kind, span.width, span.activation) == ("category", 1, "linear")


@pytest.mark.parametrize("numeric", NUMERIC)
def test_state_survives_a_model_file_round_trip(numeric, mixed_table, rng):
    schema = Schema.detect(mixed_table)
    transformer = TableTransformer(
        schema, encoders={"numeric": numeric, "categorical": OneHotEncoder(max_categories=4)}
    )
    transformer.fit(mixed_table, rng)
    arrays: dict[str, np.ndarray] = {}
    text = json.dumps(flatten_state(transformer.to_state(), arrays), allow_nan=False)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        state = unflatten_state(json.loads(text), {k: npz[k] for k in npz.files})
    clone = TableTransformer.from_state(state, Schema.from_json(schema.to_json()))
    assert clone.output_info == transformer.output_info
    matrix = transformer.transform(mixed_table)
    np.testing.assert_array_equal(clone.transform(mixed_table), matrix)
    noise = rng.normal(size=(40, transformer.output_dim))
    assert_frame_equal(
        clone.inverse_transform(noise, np.random.default_rng(9)),
        transformer.inverse_transform(noise, np.random.default_rng(9)),
    )


def test_from_state_rejects_mismatches(mixed_table, rng):
    schema = Schema.detect(mixed_table)
    state = TableTransformer(schema).fit(mixed_table, rng).to_state()
    other = Schema.detect(mixed_table.drop(columns=["city"]))
    with pytest.raises(SchemaError, match="fitted on columns"):
        TableTransformer.from_state(state, other)
    with pytest.raises(ModelFileError, match="newer"):
        TableTransformer.from_state({**state, "version": 99}, schema)
    bad = {**state, "columns": [{**state["columns"][0], "type": "pickle"}]}
    with pytest.raises(ModelFileError, match="unknown column type"):
        TableTransformer.from_state(bad, schema)
    with pytest.raises(ModelFileError, match="incomplete"):
        TableTransformer.from_state({"version": 1}, schema)


def test_same_rng_same_output(mixed_table):
    schema = Schema.detect(mixed_table)

    def run(seed):
        transformer = TableTransformer(schema).fit(mixed_table, np.random.default_rng(seed))
        matrix = transformer.transform(mixed_table, np.random.default_rng(seed))
        return matrix, transformer.inverse_transform(matrix, np.random.default_rng(seed))

    (m1, t1), (m2, t2), (m3, _) = run(4), run(4), run(5)
    np.testing.assert_array_equal(m1, m2)
    assert_frame_equal(t1, t2)
    assert not np.array_equal(m1, m3)


def test_transform_without_rng_is_deterministic(mixed_table, rng):
    transformer = TableTransformer(Schema.detect(mixed_table)).fit(mixed_table, rng)
    np.testing.assert_array_equal(
        transformer.transform(mixed_table), transformer.transform(mixed_table)
    )


def test_missing_rate_is_restored_from_the_indicator(rng):
    data = pd.DataFrame({"x": rng.normal(size=2000)})
    data.loc[rng.random(2000) < 0.3, "x"] = np.nan
    transformer = TableTransformer(Schema.detect(data)).fit(data, rng)
    matrix = transformer.transform(data, rng)
    (_, _, _), (_, _, _), (start, stop, span) = transformer.spans_for("x")
    assert span.kind == "missing"
    np.testing.assert_array_equal(matrix[:, start + 1], data["x"].isna())
    shuffled = matrix[rng.permutation(len(matrix))]
    back = transformer.inverse_transform(shuffled, rng)
    assert back["x"].isna().mean() == pytest.approx(data["x"].isna().mean())


def test_errors(mixed_table, rng):
    schema = Schema.detect(mixed_table)
    with pytest.raises(NotFittedError):
        TableTransformer(schema).transform(mixed_table)
    with pytest.raises(NotFittedError):
        TableTransformer(schema).output_dim  # noqa: B018
    for bad, message in (
        ({"numeric": "log"}, "'log' for 'numeric' is not registered"),
        ({"categorical": "hash"}, "'hash' for 'categorical'"),
        ({"categorical": "mode"}, "cannot encode 'categorical'"),
        ({"datetime": OneHotEncoder()}, "cannot encode 'datetime'"),
        ({"numerical": "mode"}, "unknown keys"),
        ({"numeric": ("mode", {"modes": 3})}, "bad options"),
        ({"numeric": ("mode", 3)}, "name, a \\(name, options\\) pair"),
        ({"categorical": ("onehot", {"max_categories": 1})}, "max_categories"),
        ({"numeric": ("mode", {"max_modes": 0})}, "max_modes"),
        ({"numeric": ("mode", {"max_rows": True})}, "max_rows"),
        ({"numeric": ("quantile", {"max_rows": 1.5})}, "max_rows"),
    ):
        with pytest.raises(ParameterError, match=message):
            TableTransformer(schema, encoders=bad).fit(mixed_table, rng)
    with pytest.raises(ParameterError, match="rng"):
        TableTransformer(schema).fit(mixed_table, 0)
    with pytest.raises(SchemaError, match="not in the data"):
        TableTransformer(schema).fit(mixed_table.drop(columns=["amount"]), rng)
    transformer = TableTransformer(schema).fit(mixed_table, rng)
    with pytest.raises(SchemaError, match="amount"):
        transformer.transform(mixed_table.drop(columns=["amount"]))
    with pytest.raises(DataError, match="shape"):
        transformer.inverse_transform(np.zeros((3, 2)), rng)
    bad = np.zeros((3, transformer.output_dim))
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        transformer.inverse_transform(bad, rng)
    no_missing = mixed_table.dropna()
    strict = TableTransformer(schema).fit(no_missing, rng)
    with pytest.raises(DataError, match="missing values"):
        strict.transform(mixed_table)


def test_empty_matrix_gives_empty_typed_table(mixed_table, rng):
    transformer = TableTransformer(Schema.detect(mixed_table)).fit(mixed_table, rng)
    back = transformer.inverse_transform(np.zeros((0, transformer.output_dim)), rng)
    assert len(back) == 0 and back.dtypes.equals(mixed_table.dtypes)


def test_datetime_text_with_timezone_offsets(rng):
    stamps = [
        dt.datetime(2022, 1, 1, 8) + dt.timedelta(hours=int(h)) for h in rng.integers(0, 5000, 50)
    ]
    data = pd.DataFrame({"t": [s.strftime("%Y-%m-%dT%H:%M:%S+0530") for s in stamps]})
    schema = Schema.detect(data)
    assert schema["t"].kind is K.DATETIME
    transformer = TableTransformer(schema).fit(data, rng)
    assert_frame_equal(transformer.inverse_transform(transformer.transform(data, rng), rng), data)
