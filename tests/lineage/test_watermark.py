"""The keyed watermark: its key, canonical cells, and sampling with it."""

from __future__ import annotations

import io
import os
import stat

import numpy as np
import pandas as pd
import pytest

from ouroboros import datasets, synthesizers
from ouroboros.errors import ParameterError
from ouroboros.lineage import watermark as wm
from ouroboros.testing import contract_table


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    return datasets.load("adult").iloc[:2000].reset_index(drop=True)


@pytest.fixture(scope="module")
def copula(adult: pd.DataFrame):
    return synthesizers.create("gaussian_copula", seed=0).fit(adult, guard="off")


# ---------------------------------------------------------------- the key
def test_the_key_comes_from_the_environment_and_its_id_hides_it(monkeypatch) -> None:
    monkeypatch.setenv(wm.KEY_ENV, "my secret")
    key = wm.load_key()
    assert key == wm.load_key() and len(key) == 32
    assert wm.key_id(key) != wm.key_id(b"other") and "secret" not in wm.key_id(key)
    assert key.hex() not in wm.key_id(key) and len(wm.key_id(key)) == 16


def test_a_key_file_is_made_once_with_owner_only_permissions(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(wm.KEY_ENV, raising=False)
    monkeypatch.setenv(wm.HOME_ENV, str(tmp_path / "home"))
    assert wm.load_key(create=False) is None
    key = wm.load_key()
    path = tmp_path / "home" / wm.KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert wm.load_key() == key and list(path.parent.iterdir()) == [path]
    path.write_text("not hex\n")
    with pytest.raises(ParameterError, match="damaged"):
        wm.load_key()


# ---------------------------------------------------------------- canonical cells
def test_codes_survive_a_csv_round_trip() -> None:
    table = contract_table(200, seed=3)
    text = io.StringIO()
    table.to_csv(text, index=False)
    back = pd.read_csv(io.StringIO(text.getvalue()))
    assert (wm.table_codes(table) == wm.table_codes(back[table.columns])).all()


def test_codes_ignore_float_noise_and_number_spellings() -> None:
    noisy = pd.Series([0.1 + 0.2, 1000.0 * (1 + 1e-15), 3.0, np.nan])
    clean = pd.Series([0.3, 1000.0, 3, None], dtype="Float64")
    assert (wm.column_codes(noisy) == wm.column_codes(clean)).all()
    text = pd.Series(["0.3", "1000", "3", None], dtype=object)
    assert (wm.column_codes(text) == wm.column_codes(noisy)).all()
    assert wm.column_codes(pd.Series([0.3]))[0] != wm.column_codes(pd.Series([0.31]))[0]


def test_row_pvalues_are_uniform_on_unmarked_rows() -> None:
    rng = np.random.default_rng(0)
    rare = rng.integers(1, 30, 20_000)
    green = rng.binomial(rare, wm.GAMMA)
    u = wm.row_pvalues(rare, green, rng.random(len(rare)))
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    assert np.abs(counts - 2000).max() < 4 * np.sqrt(2000 * 0.9)
    assert np.isnan(wm.row_pvalues(np.array([0]), np.array([0]), np.array([0.5])))[0]


# ---------------------------------------------------------------- sampling
def test_sampling_marks_by_default_and_records_the_key_id(copula) -> None:
    marked = copula.sample(300, seed=1)
    plain = copula.sample(300, seed=1, watermark=False)
    record, plain_record = marked.attrs["ouroboros.lineage"], plain.attrs["ouroboros.lineage"]
    assert record["watermark_key_id"] == wm.key_id(wm.load_key())
    assert plain_record["watermark_key_id"] is None
    pd.testing.assert_frame_equal(marked, copula.sample(300, seed=1))
    assert list(marked.dtypes) == list(plain.dtypes) and len(marked) == 300
    with pytest.raises(ParameterError, match="watermark"):
        copula.sample(10, watermark="yes")


def test_marked_rows_are_rows_the_model_draws(copula, adult) -> None:
    """Selection keeps the distribution: frequencies and means stay within seed noise."""
    marked = copula.sample(2000, seed=2)
    plain = copula.sample(2000, seed=3, watermark=False)
    other = copula.sample(2000, seed=4, watermark=False)
    for column in ("education", "occupation", "sex"):
        gap = (
            marked[column]
            .value_counts(normalize=True)
            .sub(plain[column].value_counts(normalize=True), fill_value=0)
        )
        noise = (
            other[column]
            .value_counts(normalize=True)
            .sub(plain[column].value_counts(normalize=True), fill_value=0)
        )
        assert gap.abs().sum() / 2 < max(0.05, 2 * noise.abs().sum() / 2)
    for column in ("age", "hours-per-week", "fnlwgt"):
        spread = adult[column].std() / np.sqrt(2000)
        assert abs(marked[column].mean() - plain[column].mean()) < 5 * spread
        assert marked[column].between(adult[column].min(), adult[column].max()).all()


def test_conditions_and_rules_hold_on_marked_rows(adult) -> None:
    model = synthesizers.create("gaussian_copula", seed=0)
    model.fit(adult, rules=["education-num >= 1"], guard="off")
    out = model.sample(200, seed=5, conditions={"sex": "Female", "age": (30, 40)})
    assert (out["sex"] == "Female").all() and out["age"].between(30, 40).all()
    assert (out["education-num"] >= 1).all()
    assert out.attrs["ouroboros.lineage"]["watermark_key_id"] is not None


def test_select_rows_keeps_the_greenest_rows() -> None:
    pool = contract_table(2000, seed=4)
    rng = np.random.default_rng(0)
    keep = wm.select_rows(pool, 100, b"k" * 32, rng)
    assert len(keep) == 100 and (np.diff(keep) > 0).all()
    assert (wm.select_rows(pool, 5000, b"k" * 32, rng) == np.arange(2000)).all()


def test_a_category_shared_by_many_candidates_gains_nothing_from_its_colour() -> None:
    """The quality skew's cause, pinned: a level that occurs about once per block of
    candidates used to count as a rare unit with one fixed colour, so green levels were
    kept twice as often as red ones. Only fine-grained units count now: selection is
    blind to a shared value's colour, and the mixed table's marginal stays put."""
    rng = np.random.default_rng(0)
    rows = 64_000
    levels = np.array([f"L{v}" for v in range(2000)])
    pool = pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "level": levels[rng.integers(0, len(levels), rows)],
            "group": rng.choice(list("abcde"), rows),
        }
    )
    key = b"k" * 32
    kept = np.zeros(rows, dtype=bool)
    kept[wm.select_rows(pool, 2000, key, rng)] = True
    columns = list(pool.columns)
    keyed = wm.keyed_columns(wm.table_codes(pool), columns, key)
    green = wm.unit_hashes(keyed, columns, (1,), key) <= wm._GREEN_BELOW
    rate = kept.mean()
    spread = np.sqrt(rate * (1 - rate) * (1 / green.sum() + 1 / (~green).sum()))
    assert abs(kept[green].mean() - kept[~green].mean()) < 4 * spread
    # the five groups keep their shares within sampling error (chi-square, 4 df)
    counts = pool.loc[kept, "group"].value_counts().sort_index().to_numpy()
    expected = pool["group"].value_counts(normalize=True).sort_index().to_numpy() * 2000
    assert ((counts - expected) ** 2 / expected).sum() < 18.5  # p = 0.001
    # the mark is still there: most kept rows have a p-value under 1 / OVERSAMPLE
    u = wm.row_pvalues(*wm.row_evidence(wm.table_codes(pool[kept]), columns, key))
    assert np.nanmean(u <= 1 / wm.OVERSAMPLE) > 0.5
