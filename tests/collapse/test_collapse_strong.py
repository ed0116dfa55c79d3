"""Strong model collapse on the reference OLS model (Dohmatob et al. 2024)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ouroboros.collapse.strong import mixed_ols_error, strong_collapse_floor
from ouroboros.errors import ParameterError

SIZES = [100, 1_000, 10_000, 100_000]
SHARES = [0.0, 0.05, 0.2]
D, T0 = 10, 50


@pytest.fixture(scope="module")
def run():
    return mixed_ols_error(SIZES, SHARES, dim=D, generator_rows=T0, trials=300, seed=5)


def test_real_only_error_falls_like_d_over_t(run):
    error = run["error"][0]
    for j, size in enumerate(SIZES):
        expected = D / (size - D - 1)  # E tr((XᵀX)⁻¹) for a Gaussian design
        se = error[j].std(ddof=1) / math.sqrt(error.shape[1])
        assert abs(error[j].mean() - expected) <= 4 * se


def test_a_fixed_synthetic_share_sets_a_floor(run):
    for i, share in enumerate(SHARES[1:], start=1):
        error = run["error"][i]
        floor = run["floor"][i, -1]
        # at T = 10^5 the error is the floor π²‖δ‖² plus the vanishing d/T
        gap = error[-1] - floor - D / (SIZES[-1] - D - 1)
        se = gap.std(ddof=1) / math.sqrt(len(gap))
        assert abs(gap.mean()) <= 4 * se + 0.05 * floor.mean(), (share, gap.mean(), se)
        assert error[-1].mean() >= 0.9 * floor.mean()
        # the mean floor is π²σ²d/(T₀ − d − 1)
        expected = strong_collapse_floor(share, dim=D, noise=1.0, generator_rows=T0)
        se_floor = floor.std(ddof=1) / math.sqrt(len(floor))
        assert abs(floor.mean() - expected) <= 4 * se_floor
    # ten times more data: real-only error falls tenfold, a 20% synthetic share barely moves
    means = run["error"].mean(axis=2)
    assert means[0, -1] / means[0, -2] < 0.15
    assert means[2, -1] / means[2, -2] > 0.8
    # even 5% synthetic stops the improvement well above the real-only error
    assert means[1, -1] > 4 * means[0, -1]


def test_bad_arguments():
    with pytest.raises(ParameterError, match="shares"):
        mixed_ols_error([100], [1.0])
    with pytest.raises(ParameterError, match="sizes"):
        mixed_ols_error([5], [0.1])
    with pytest.raises(ParameterError, match="generator_rows"):
        mixed_ols_error([100], [0.1], generator_rows=5)
    assert np.isfinite(mixed_ols_error([12], [0.5], trials=4, seed=1)["error"]).all()
