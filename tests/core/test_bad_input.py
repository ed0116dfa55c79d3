"""The bad inputs the foundation issue lists, through the Python API."""

import numpy as np
import pandas as pd
import pytest

from ouroboros import synthesizers
from ouroboros.errors import DataError, ParameterError
from ouroboros.schema import ColumnKind


def fit(frame, name="gaussian_copula"):
    return synthesizers.create(name, seed=0).fit(frame)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"a": pd.Series([], dtype=float)}), "empty"),
        (pd.DataFrame([[1, 2], [3, 4]], columns=["a", "a"]), "duplicate column names"),
        (pd.DataFrame({0: [1.0, 2.0], "b": [1, 2]}), "column names must be strings"),
        (pd.DataFrame({"x": [1.0, np.inf, 3.0, 4.0]}), "column 'x' holds infinite values"),
        (pd.DataFrame({"m": pd.Series(["a", 1, "b", 2.0], dtype=object)}), "column 'm' mixes"),
    ],
)
def test_unusable_tables_raise_clear_errors(frame, message):
    with pytest.raises(DataError, match=message):
        fit(frame)


def test_one_row_gives_copies_of_it():
    frame = pd.DataFrame({"a": [1.5], "b": ["x"], "c": [3]})
    out = fit(frame).sample(4, seed=0)
    assert out.to_dict("list") == {"a": [1.5] * 4, "b": ["x"] * 4, "c": [3] * 4}
    assert list(out.dtypes) == list(frame.dtypes)


def test_entirely_missing_and_constant_columns_are_kept(mixed_table):
    frame = mixed_table.assign(gone=np.nan, same=7)
    out = fit(frame).sample(50, seed=0)
    assert out["gone"].isna().all()
    assert (out["same"] == 7).all()
    assert out["same"].dtype == frame["same"].dtype


def test_odd_column_names_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    names = ["<script>alert(1)</script>", 'it\'s "quoted"', "ünïcødé 数据 🐍"]
    frame = pd.DataFrame({names[0]: rng.normal(size=80), names[1]: rng.choice(["a", "b"], 80)})
    frame[names[2]] = rng.integers(0, 50, 80)
    model = fit(frame)
    model.save(tmp_path / "m.ouro")
    out = synthesizers.load(tmp_path / "m.ouro").sample(10, seed=1)
    assert list(out.columns) == names


def test_three_hundred_thousand_distinct_values():
    rng = np.random.default_rng(0)
    n = 600_000
    frame = pd.DataFrame(
        {
            "code": pd.Series(rng.integers(0, 300_000, n)).map("c{:06d}".format),
            "value": rng.normal(size=n),
        }
    )
    assert frame["code"].nunique() > 250_000
    model = fit(frame)
    assert model.schema_["code"].kind is ColumnKind.CATEGORICAL
    assert model.transformer_.output_dim < 200, "one-hot width must stay bounded"
    out = model.sample(1000, seed=0)
    assert out["code"].isin(set(frame["code"])).all()


def test_unique_strings_are_identifiers_regenerated_fresh():
    frame = pd.DataFrame({"key": [f"K{i:06d}" for i in range(300)], "x": np.arange(300) % 7})
    model = fit(frame)
    assert model.schema_["key"].kind is ColumnKind.IDENTIFIER
    out = model.sample(300, seed=0)
    assert out["key"].is_unique
    assert out["key"].str.match(r"^K\d{6}$").all()


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "10"])
def test_non_positive_or_non_integer_n(mixed_table, n):
    model = fit(mixed_table)
    with pytest.raises(ParameterError, match="'n' must be a positive integer"):
        model.sample(n)


def test_save_into_missing_folder_fails_cleanly(tmp_path, mixed_table):
    model = fit(mixed_table)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        model.save(tmp_path / "nope" / "m.ouro")
    assert not (tmp_path / "nope").exists()
