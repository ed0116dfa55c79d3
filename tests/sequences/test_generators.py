"""Sequence generators recover known processes: an AR(1) coefficient, a Markov chain's
transition matrix, Poisson lengths, a daily season; single series and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson
from typer.testing import CliRunner

from ouroboros import synthesizers
from ouroboros.cli import app
from ouroboros.errors import ParameterError
from ouroboros.schema import Schema
from ouroboros.testing.processes import (
    TRANSITIONS,
    ar1_series,
    entity_table,
    lag1,
    transition_matrix,
)

#: standard errors a recovered statistic may be off by
Z = 4.0
FAST_GRU = {"hidden": 32, "embedding_dim": 6, "n_bins": 64, "window": 32, "burn_in": 8}


def _fit(name: str, table: pd.DataFrame, key: str | None, index: str, **params):
    schema = Schema.detect(table).with_sequence(table, key=key, index=index)
    return synthesizers.create(name, seed=0, **params).fit(table, schema)


def test_the_bootstrap_recovers_an_ar1_coefficient():
    phi, n = 0.6, 2000
    real = ar1_series(n, phi)
    out = _fit("sequence_bootstrap", real, None, "step").sample(4000, seed=1)
    se = np.sqrt((1 - phi**2) / n + (1 - phi**2) / 4000)
    assert abs(lag1(out) - lag1(real)) < Z * se
    assert out["step"].tolist()[:3] == [0, 1, 2]


def test_poisson_lengths_and_a_markov_chain_are_kept():
    rate, n = 4.0, 400
    real = entity_table(n, rate, 0.5)
    out = _fit("sequence_bootstrap", real, "id", "step").sample(2000, seed=2)
    lengths = out.groupby("id").size()
    assert abs(lengths.mean() - (1 + rate)) < Z * np.sqrt(rate / n + rate / 2000)
    assert 0.7 < lengths.var() / rate < 1.4
    estimated, totals = transition_matrix(out, "id")
    se = np.sqrt(TRANSITIONS * (1 - TRANSITIONS) / totals[:, None]) + np.sqrt(
        TRANSITIONS * (1 - TRANSITIONS) / (n * rate / 3)
    )
    # runs of real events join at random: one transition in block_length is not the chain's
    assert (np.abs(estimated - TRANSITIONS) < Z * se + 1 / 24).all()


def test_a_daily_season_survives_the_bootstrap():
    hours = pd.date_range("2024-01-01", periods=24 * 60, freq="h")
    rng = np.random.default_rng(0)
    temp = 10 + 5 * np.sin(2 * np.pi * hours.hour / 24) + 0.01 * np.arange(len(hours))
    real = pd.DataFrame({"time": hours, "temp": temp + rng.normal(0, 0.5, len(hours))})
    model = _fit("sequence_bootstrap", real, None, "time")
    out = model.sample(24 * 30, seed=3, start="2024-06-01 00:00")
    assert out["time"].iloc[0] == pd.Timestamp("2024-06-01")
    assert out["time"].diff().dropna().eq(pd.Timedelta(hours=1)).all()
    profile = out.groupby(out["time"].dt.hour)["temp"].mean()
    truth = 5 * np.sin(2 * np.pi * np.arange(24) / 24)
    assert np.corrcoef(profile.to_numpy(), truth)[0, 1] > 0.95


def test_start_needs_one_series():
    real = entity_table(30, 3.0, 0.5)
    model = _fit("sequence_bootstrap", real, "id", "step")
    with pytest.raises(ParameterError, match="start"):
        model.sample(3, start=5)
    series = _fit("sequence_bootstrap", ar1_series(100, 0.5), None, "step")
    assert series.sample(4, seed=0, start=1000)["step"].tolist() == [1000, 1001, 1002, 1003]


def _ar1_se(phi: float, pairs: int) -> float:
    """Standard error of a lag-one autocorrelation estimated on ``pairs`` AR(1) pairs."""
    return float(np.sqrt((1 - phi**2) / pairs))


@pytest.mark.slow
def test_the_recurrent_generator_recovers_ar1_markov_and_lengths():
    """Every statistic within 3 standard errors of the truth, the error of the real
    sample's own estimate and of the synthetic one's combined (no extra slack)."""
    rate, phi, n, n_out, z = 6.0, 0.7, 500, 3000, 3.0
    real = entity_table(n, rate, phi, seed=4)
    model = _fit("sequence", real, "id", "step", epochs=10, min_steps=400, **FAST_GRU)
    out = model.sample(n_out, seed=5)
    lengths = out.groupby("id").size()
    pmf = poisson.pmf(np.arange(13), rate)
    share = np.bincount(lengths - 1, minlength=13)[:13] / n_out
    assert (np.abs(share - pmf) < z * np.sqrt(pmf * (1 - pmf) * (1 / n + 1 / n_out))).all()
    pairs = [int((g.groupby("id").size() - 1).sum()) for g in (real, out)]
    assert abs(lag1(out, "id") - phi) < z * np.hypot(*(_ar1_se(phi, k) for k in pairs))
    # a sample sd's relative error on correlated AR(1) values (Bartlett 1946)
    inflation = (1 + phi**2) / (1 - phi**2)
    sd_se = np.sqrt(inflation / 2 * (1 / len(real) + 1 / len(out)))
    assert abs(out["x"].std() * np.sqrt(1 - phi**2) - 1) < z * sd_se
    estimated, totals = transition_matrix(out, "id")
    _, real_totals = transition_matrix(real, "id")
    var = TRANSITIONS * (1 - TRANSITIONS)
    se = np.sqrt(var / real_totals[:, None] + var / totals[:, None])
    assert (np.abs(estimated - TRANSITIONS) < z * se).all()


@pytest.mark.slow
def test_the_recurrent_generator_keeps_a_smooth_series_smooth():
    """A near-unit-root AR(1) (phi = 0.98): the lag-one coefficient and the mean absolute
    step within 3 standard errors (quantile-bin tokens drew steps several times too big)."""
    phi, n, n_out, z = 0.98, 2000, 4000, 3.0
    real = ar1_series(n, phi, seed=0)
    model = _fit("sequence", real, None, "step", epochs=10, min_steps=400, **FAST_GRU)
    out = model.sample(n_out, seed=1)
    assert abs(lag1(out) - phi) < z * np.hypot(_ar1_se(phi, n), _ar1_se(phi, n_out))
    # steps are about N(0, 1): the mean of |step| has relative sd sqrt(pi / 2 - 1) / sqrt(n)
    step_se = np.sqrt(np.pi / 2 - 1) * np.sqrt(1 / n + 1 / n_out)
    ratio = out["x"].diff().abs().mean() / real["x"].diff().abs().mean()
    assert abs(ratio - 1) < z * step_se


def test_ouro_fit_and_sample_a_sequence_model(tmp_path):
    real = entity_table(40, 3.0, 0.5)
    real["step"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(real["step"] * 2, "h")
    data, model, out = tmp_path / "events.csv", tmp_path / "m.ouro", tmp_path / "out.csv"
    real.to_csv(data, index=False)
    fit = ["fit", str(data), "--synth", "sequence_bootstrap", "--sequence-key", "id"]
    fit += ["--sequence-index", "step", "-o", str(model), "--seed", "0"]
    runner = CliRunner()
    result = runner.invoke(app, fit)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["sample", str(model), "-n", "7", "-o", str(out), "--seed", "1"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns) == list(real.columns) and table["id"].nunique() == 7
    loaded = synthesizers.load(model)
    assert loaded.schema_.sequence.key == "id" and loaded.describe()["sequence"]["entities"] == 40
