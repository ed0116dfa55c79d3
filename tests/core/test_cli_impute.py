"""``ouro impute``: only the missing cells change, seeded, and a clear error elsewhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ouroboros import synthesizers
from ouroboros.cli import run
from ouroboros.errors import ParameterError
from ouroboros.synthesizers.argn import ARGNSynthesizer
from ouroboros.testing import contract_table


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return contract_table(300, seed=1)


@pytest.fixture(scope="module")
def model(tmp_path_factory, table):
    path = tmp_path_factory.mktemp("impute") / "argn.ouro"
    ARGNSynthesizer(seed=0, **ARGNSynthesizer.test_params).fit(table).save(path)
    return path


def _holed(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    holed = table.head(40).copy()
    rng = np.random.default_rng(seed)
    for column in holed.columns:
        holed[column] = holed[column].mask(rng.random(len(holed)) < 0.3)
    return holed


def test_impute_fills_only_the_missing_cells(tmp_path, table, model):
    holed = _holed(table)
    source = tmp_path / "holed.csv"
    holed.to_csv(source, index=False)
    out, again = tmp_path / "filled.csv", tmp_path / "again.csv"
    assert run(["impute", str(model), str(source), "-o", str(out), "--seed", "2"]) == 0
    assert run(["impute", str(model), str(source), "-o", str(again), "--seed", "2"]) == 0
    written, read_back = pd.read_csv(out), pd.read_csv(source)
    observed = read_back.notna()
    assert written.notna().sum().sum() > read_back.notna().sum().sum()
    for column in read_back.columns:
        kept = observed[column]
        mine, theirs = written.loc[kept, column], read_back.loc[kept, column]
        if pd.api.types.is_numeric_dtype(theirs):
            assert np.allclose(mine.astype(float), theirs.astype(float)), column
        else:
            assert (mine.astype(str) == theirs.astype(str)).all(), column
    pd.testing.assert_frame_equal(written, pd.read_csv(again))


def test_impute_with_a_bad_setting_or_a_model_that_cannot(tmp_path, table, model, capsys):
    source = tmp_path / "holed.csv"
    _holed(table).to_csv(source, index=False)
    out = tmp_path / "filled.csv"
    bad = ["impute", str(model), str(source), "-o", str(out), "-p", "temperature=-1"]
    assert run(bad) == 1
    assert "temperature" in capsys.readouterr().err and not out.exists()
    copula = tmp_path / "copula.ouro"
    synthesizers.create("gaussian_copula", seed=0).fit(table).save(copula)
    assert run(["impute", str(copula), str(source), "-o", str(out)]) == 1
    assert "cannot impute" in capsys.readouterr().err and not out.exists()


def test_sample_with_conditions_and_a_sampling_setting(tmp_path, model):
    out = tmp_path / "conditioned.csv"
    argv = ["sample", str(model), "-n", "60", "-o", str(out), "--seed", "3"]
    argv += ["-c", "group=c", "-c", "count=25..40", "-c", "date=2024-03-01..2024-06-30"]
    assert run([*argv, "-p", "temperature=0.7"]) == 0
    rows = pd.read_csv(out)
    assert len(rows) == 60 and (rows["group"] == "c").all()
    assert rows["count"].between(25, 40).all()
    assert pd.to_datetime(rows["date"]).between("2024-03-01", "2024-06-30").all()


def test_condition_arguments_parse_values_ranges_and_times():
    from ouroboros.cli._common import parse_conditions

    parsed = parse_conditions(["a=3", "b=x", "c=1.5..", "d=..-2", "t=2024-01-01 10:00..12:30"])
    assert parsed == {"a": 3, "b": "x", "c": (1.5, None), "d": (None, -2)} | {
        "t": ("2024-01-01 10:00", "12:30")
    }
    with pytest.raises(ParameterError, match="COLUMN=VALUE"):
        parse_conditions(["nonsense"])
