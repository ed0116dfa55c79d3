"""The contamination guard in ``fit`` and ``ouro fit``: warn, strict, off, thresholds."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ouroboros import datasets, lineage, synthesizers
from ouroboros.cli import run
from ouroboros.errors import ParameterError
from ouroboros.lineage import detect, guard, publish
from ouroboros.lineage.catalog import chance_match_rate
from ouroboros.lineage.guard import SyntheticDataError, SyntheticDataWarning
from ouroboros.store import open_store


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return datasets.load("adult").iloc[:1000].reset_index(drop=True)


@pytest.fixture(scope="module")
def sampled(real: pd.DataFrame) -> pd.DataFrame:
    model = synthesizers.create("gaussian_copula", seed=0).fit(real, guard="off")
    return model.sample(500, seed=1)


def _copula():
    return synthesizers.create("gaussian_copula", seed=0)


def _stripped(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.attrs = {}
    return out


def test_warn_names_the_share_the_depth_and_the_way_out(sampled) -> None:
    with pytest.warns(SyntheticDataWarning) as caught:
        model = _copula().fit(sampled)
    assert len(caught) == 1
    text = str(caught[0].message)
    assert "the training data" in text and "100.0%" in text and "depth 1" in text
    assert "allow_synthetic=True" in text and "strict" in text
    assert model.guard_["synthetic"] and not model.guard_["allowed"]


def test_strict_refuses_unless_allowed(sampled) -> None:
    with pytest.raises(SyntheticDataError, match="allow_synthetic"):
        _copula().fit(sampled, guard="strict")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = _copula().fit(sampled, guard="strict", allow_synthetic=True)
    assert model.guard_["allowed"] and model.guard_["source"] == "lineage record"


def test_off_checks_nothing_and_real_data_passes(real, sampled) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _copula().fit(sampled, guard="off").guard_ is None
        model = _copula().fit(real, guard="strict")
    assert not model.guard_["synthetic"] and model.guard_["allowed"]


def test_the_watermark_catches_a_table_that_lost_its_record(real, sampled) -> None:
    mixed = pd.concat([real, _stripped(sampled)], ignore_index=True)
    mixed.attrs = {}
    with pytest.raises(SyntheticDataError, match=r"\(watermark\).*depth at least 1"):
        _copula().fit(mixed, guard="strict")


def test_thresholds_let_data_within_them_pass(sampled) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _copula().fit(sampled, guard="strict", max_synthetic_share=1.0)
    with pytest.raises(SyntheticDataError, match="max_depth=0"):
        _copula().fit(sampled, guard="strict", max_synthetic_share=1.0, max_depth=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _copula().fit(sampled, guard="strict", max_synthetic_share=1.0, max_depth=1)


def test_bad_policies_are_refused_before_any_work(real) -> None:
    with pytest.raises(ParameterError, match="'guard'"):
        _copula().fit(real, guard="loud")
    with pytest.raises(ParameterError, match="max_synthetic_share"):
        _copula().fit(real, max_synthetic_share=2)
    with pytest.raises(ParameterError, match="max_depth"):
        _copula().fit(real, max_depth=-1)


def test_the_guard_reads_a_bounded_number_of_rows(real, monkeypatch) -> None:
    seen = []
    original = guard.watermark_test
    monkeypatch.setattr(guard, "GUARD_ROWS", 500)
    monkeypatch.setattr(guard, "watermark_test", lambda f, k: seen.append(len(f)) or original(f, k))
    guard.check(real, None, store=None)
    assert seen == [500]


def test_ouro_fit_warns_refuses_and_allows(sampled, tmp_path, capsys) -> None:
    path = tmp_path / "synthetic.csv"
    _stripped(sampled).to_csv(path, index=False)
    model = tmp_path / "m.ouro"
    assert run(["fit", str(path), "-o", str(model)]) == 0
    err = capsys.readouterr().err
    assert f"warning: {path}" in err and "(watermark)" in err
    assert run(["fit", str(path), "-o", str(model), "--guard", "strict"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "--allow-synthetic" in err[-1]
    assert not any(line.startswith("  ") for line in err)  # one line, no continuation
    code = run(["fit", str(path), "-o", str(model), "--guard", "strict", "--allow-synthetic"])
    assert code == 0


def test_the_collapse_lab_feeds_synthetic_data_on_purpose_and_records_it(tmp_path) -> None:
    from ouroboros.collapse import CollapseExperiment
    from ouroboros.collapse.experiment import trajectory_dir
    from ouroboros.collapse.trajectory import read_records

    table = datasets.load("adult").iloc[:400, :6]
    experiment = CollapseExperiment(
        "independent", table, holdout=0.25, generations=2, strategy="replace", seeds=1,
        metrics=["category_coverage"],
    )  # fmt: skip
    experiment.run(checkpoint_dir=tmp_path)
    records = read_records(trajectory_dir(tmp_path, "replace", 0), 2)
    assert "guard_synthetic_share" not in records[0].info  # generation 0: real data
    assert records[1].info["guard_synthetic_share"] == 1.0
    assert records[1].info["guard_allowed"] == 1.0


# ---------------------------------------------------------------- rows equal by chance
def _few_values(n: int, seed: int) -> pd.DataFrame:
    """A population of few distinct rows: about one real row in eight equals one of 2,000
    sampled rows by chance."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    return pd.DataFrame(
        {
            "a": np.clip(np.round(4 + 2.5 * z + rng.normal(size=n)), 0, 12).astype(int),
            "b": rng.choice(list("pqrstuvw"), n, p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05]),
            "c": (z + rng.normal(size=n) > 0).astype(int),
            "d": rng.zipf(1.6, n).clip(max=40),
            "e": rng.choice(list("xyzwv"), n),
            "f": rng.integers(0, 6, n),
        }
    )


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A model's real training rows, the table it sampled, and a catalog that holds it."""
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('catalog') / 'catalog.db'}")
    train = _few_values(3000, 1)
    table = synthesizers.create("independent", seed=0).fit(train, guard="off").sample(2000, seed=1)
    publish(lineage.recorded(table), store, lineage.row_hashes(table))
    yield train, table, store
    store.close()


def test_real_rows_that_equal_published_ones_by_chance_are_not_flagged(published) -> None:
    train, table, store = published
    assert 0.05 < lineage.recorded(table).chance_match_rate < 0.3
    for real in (_few_values(3000, 2), _few_values(30_000, 3), train):
        result = detect(real, store=store)
        assert result["catalog"]["tables"], "rows do equal published ones by chance"
        assert not result["synthetic"] and result["synthetic_share"] == 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            verdict = guard.check(real, None, store=store, policy="strict")
        assert not verdict["synthetic"]


# 10% and more: on this population, where one real row in eight matches by chance, 5% lies
# at the edge of what p < 1e-6 can tell apart from chance in 3,000 rows
@pytest.mark.parametrize("synthetic", [1000, 300])
def test_a_mix_with_the_published_table_is_caught_with_its_share(published, synthetic) -> None:
    _, table, store = published
    mixed = pd.concat(
        [_stripped(table).iloc[:synthetic], _few_values(3000 - synthetic, 4)], ignore_index=True
    )
    mixed.attrs = {}
    result = detect(mixed, store=store)
    assert any(line.startswith("catalog: ") for line in result["evidence"])
    assert result["synthetic_share"] == pytest.approx(synthetic / 3000, abs=0.03)
    assert result["catalog"]["expected_by_chance"] > 0
    with pytest.raises(SyntheticDataError, match=r"\(catalog rows\)"):
        guard.check(mixed, None, store=store, policy="strict")
    copy = detect(_stripped(table), store=store)
    assert copy["lineage"]["kind"] == "synthetic" and copy["synthetic_share"] == 1.0


def test_the_chance_rate_counts_repeats_and_the_training_rows() -> None:
    hashes = np.array([1, 1, 2, 3, 4, 4, 4, 5], dtype=np.uint64)
    assert chance_match_rate(hashes) == pytest.approx(5 / 8)  # rows equal to another row
    reproduced = np.array([2, 3, 5, 9], dtype=np.uint64)  # training rows the model gave back
    assert chance_match_rate(hashes, reproduced) == pytest.approx(3 / 4)
    assert chance_match_rate(np.zeros(0, dtype=np.uint64)) == 0.0
