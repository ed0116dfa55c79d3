"""The contamination guard in ``fit`` and ``ouro fit``: warn, strict, off, thresholds."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from ouroboros import datasets, synthesizers
from ouroboros.cli import run
from ouroboros.errors import ParameterError
from ouroboros.lineage import guard
from ouroboros.lineage.guard import SyntheticDataError, SyntheticDataWarning


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
