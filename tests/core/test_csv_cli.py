"""A European CSV through ``ouro``: the sample comes back in the input's dialect and formats."""

import json

import numpy as np
import pandas as pd
import pytest

from ouroboros.cli import run


@pytest.fixture
def european_csv(tmp_path):
    rng = np.random.default_rng(4)
    n = 60
    stamps = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="min")
    text = "Datum;Preis;Menge;Betrag\n" + "".join(
        f"{s.strftime('%d.%m.%Y %H:%M')};{str(round(p, 2)).replace('.', ',')};{m};${b:,}.00\n"
        for s, p, m, b in zip(
            stamps,
            rng.gamma(2.0, 30.0, n),
            rng.integers(1, 40, n),
            rng.permutation(n) * 1000 + 1000,
            strict=True,
        )
    )
    path = tmp_path / "preise.csv"
    path.write_text(text)
    return path


def test_fit_then_sample_writes_the_input_dialect(tmp_path, european_csv, capsys):
    model = tmp_path / "m.ouro"
    assert run(["fit", str(european_csv), "--seed", "1", "-o", str(model)]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "column 'Betrag'" in warning[0]
    assert "look like numbers" in warning[0]
    out = tmp_path / "y.csv"
    assert run(["sample", str(model), "-n", "30", "-o", str(out), "--seed", "2"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "Datum;Preis;Menge;Betrag"
    cells = [line.split(";") for line in lines[1:]]
    assert len(cells) == 30 and all(len(row) == 4 for row in cells)
    prices = [float(row[1].replace(",", ".")) for row in cells]
    assert all("." not in row[1] for row in cells) and min(prices) > 0
    dates = pd.to_datetime(pd.Series([row[0] for row in cells]), format="%d.%m.%Y %H:%M")
    assert dates.between("2024-01-01", "2026-01-01").all()
    parquet = tmp_path / "y.parquet"
    assert run(["sample", str(model), "-n", "5", "-o", str(parquet), "--seed", "2"]) == 0
    assert pd.read_parquet(parquet)["Preis"].dtype == "float64"


def test_schema_records_the_dialect_and_notes(tmp_path, european_csv, capsys):
    assert run(["schema", str(european_csv)]) == 0
    captured = capsys.readouterr()
    schema = json.loads(captured.out)
    assert schema["extras"]["csv"] == {"delimiter": ";", "decimal": ","}
    columns = {c["name"]: c for c in schema["columns"]}
    assert columns["Datum"]["kind"] == "datetime"
    assert columns["Datum"]["datetime_format"] == "%d.%m.%Y %H:%M"
    assert columns["Preis"]["kind"] == "continuous"
    assert columns["Betrag"]["kind"] == "identifier" and "note" in columns["Betrag"]
    assert "warning: column 'Betrag'" in captured.err
