"""``detect`` and ``ouro detect``: the watermark survives what happens to real files."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from ouroboros import datasets, synthesizers
from ouroboros.cli import run
from ouroboros.lineage import publish, resolve, row_hashes
from ouroboros.lineage.detect import detect, watermark_test
from ouroboros.store import open_store

KEYS = ("synthetic", "p_value", "synthetic_share", "rows", "rows_flagged", "lineage")


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    return datasets.load("adult")


@pytest.fixture(scope="module")
def model(adult: pd.DataFrame):
    return synthesizers.create("gaussian_copula", seed=0).fit(adult.iloc[:2500], guard="off")


@pytest.fixture(scope="module")
def marked(model) -> pd.DataFrame:
    table = model.sample(2000, seed=1)
    table.attrs = {}  # the record is gone: only the watermark can tell
    return table


def _csv_round_trip(frame: pd.DataFrame) -> pd.DataFrame:
    text = io.StringIO()
    frame.to_csv(text, index=False)
    return pd.read_csv(io.StringIO(text.getvalue()))


def test_a_sample_is_detected_and_the_result_has_the_keys(model) -> None:
    table = model.sample(300, seed=2)
    result = detect(table)
    assert set(KEYS) <= set(result)
    assert result["synthetic"] and result["p_value"] < 1e-6 and result["rows"] == 300
    assert result["lineage"]["kind"] == "synthetic" and result["synthetic_share"] == 1.0
    assert result["evidence"] == ["lineage record", "watermark"]
    json.dumps(result)


@pytest.mark.parametrize(
    ("change", "share"),
    [
        pytest.param(_csv_round_trip, 0.8, id="csv round trip"),
        pytest.param(lambda f: f.sample(frac=1.0, random_state=3), 0.8, id="shuffled rows"),
        pytest.param(lambda f: f[f.columns[::2]], 0.6, id="half the columns dropped"),
        pytest.param(lambda f: f.round(0), 0.8, id="rounded to the schema's precision"),
        pytest.param(lambda f: f.iloc[:300], 0.5, id="300 of the rows"),
    ],
)
def test_the_watermark_survives(marked: pd.DataFrame, change, share: float) -> None:
    result = detect(change(marked))
    assert result["synthetic"] and result["p_value"] < 1e-6, result["watermark"]
    assert result["evidence"] == ["watermark"] and result["synthetic_share"] > share


def test_the_verdict_does_not_depend_on_the_order_of_rows(marked, adult) -> None:
    mixed = pd.concat([adult.iloc[2500:7500], marked.iloc[:250]], ignore_index=True)
    first = watermark_test(mixed)
    again = watermark_test(mixed.sample(frac=1.0, random_state=5))
    assert first["p_value"] == again["p_value"] and first["share"] == again["share"]


def test_without_its_one_fine_grained_column_adult_says_it_cannot_be_tested(marked) -> None:
    """The mark lives in units of fine-grained values (only those leave the model's
    frequencies alone); a half of Adult without fnlwgt has none, and detect says so."""
    half = marked.sample(frac=0.5, axis=1, random_state=2)
    assert "fnlwgt" not in half.columns
    result = detect(half)
    assert not result["synthetic"] and not result["watermark"]["can_test"]
    assert "fine-grained" in result["watermark"]["reason"]


def test_five_percent_mixed_into_real_rows_is_found_with_its_share(model, adult) -> None:
    real = adult.iloc[2500:4500]
    synthetic = model.sample(105, seed=4)
    mixed = pd.concat([real, synthetic], ignore_index=True).sample(frac=1.0, random_state=0)
    result = detect(_csv_round_trip(mixed))
    truth = 105 / len(mixed)
    assert result["synthetic"] and result["p_value"] < 1e-6
    assert abs(result["synthetic_share"] - truth) <= 0.03


def test_real_rows_and_other_keys_raise_no_alarm(marked, adult) -> None:
    assert not detect(adult.iloc[2500:4500])["synthetic"]
    other = watermark_test(marked, b"another key".ljust(32, b"\0"))
    assert other["can_test"] and other["p_value"] > 1e-3


def test_a_table_of_few_categories_says_it_cannot_be_tested() -> None:
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"a": rng.choice(list("xyz"), 3000), "b": rng.choice(list("pq"), 3000)})
    result = detect(table)
    assert not result["synthetic"] and not result["watermark"]["can_test"]
    assert "occurs only once" in result["watermark"]["reason"]


def test_the_catalog_knows_rows_without_watermark_or_record(model, adult, tmp_path) -> None:
    table = model.sample(400, seed=6, watermark=False)
    store = open_store(f"sqlite:///{tmp_path / 'catalog.db'}")
    publish(resolve(table), store, row_hashes(table))
    copy = pd.concat([adult.iloc[2500:2900], table.iloc[:200]], ignore_index=True)
    copy.attrs = {}
    result = detect(copy, store=store)
    assert result["synthetic"] and result["evidence"] == [
        "catalog: 200 rows of stored synthetic tables"
    ]
    assert result["synthetic_share"] == pytest.approx(200 / 600)
    stripped = table.copy()
    stripped.attrs = {}
    found = detect(stripped, store=store)
    assert found["lineage"]["kind"] == "synthetic" and found["synthetic_share"] == 1.0
    store.close()


def test_ouro_detect_writes_json_with_the_keys(marked, adult, tmp_path, capsys) -> None:
    path = tmp_path / "found.csv"
    marked.to_csv(path, index=False)
    out = tmp_path / "result.json"
    assert run(["detect", str(path), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(KEYS) <= set(result) and result["synthetic"]
    assert "synthetic" in capsys.readouterr().out
    adult.iloc[:1000].to_csv(tmp_path / "real.csv", index=False)
    assert run(["detect", str(tmp_path / "real.csv")]) == 0
    assert "no synthetic rows found" in capsys.readouterr().out


@pytest.mark.slow
def test_on_real_tables_false_alarms_are_as_rare_as_chance(shared_datasets) -> None:
    """200 random keys on two real tables: p < 1e-3 at most as often as chance allows
    (Binomial(400, 1e-3): three or more alarms has probability 0.008)."""
    adult = datasets.load("adult")
    california = pd.read_csv(shared_datasets / "california_housing.csv.gz").iloc[:5000]
    rng = np.random.default_rng(2026)
    p_values = []
    for table in (adult, california):
        for _ in range(200):
            p_values.append(watermark_test(table, rng.bytes(32))["p_value"])
    p_values = np.array(p_values)
    assert (p_values < 1e-3).sum() <= 2
    assert 0.03 <= (p_values < 0.1).mean() <= 0.17
