"""Closed forms of retraining with real rows kept and self-correction (docs/COLLAPSE_THEORY.md).

Bertrand et al. 2024 (``anchor:λ``), Gillman et al. 2024 (``correct=γ``) and the
stationary frequency variance under ``fresh``. Each Monte-Carlo mean is compared with its
closed form within four standard errors over independent trials (per-trial averages over
the stationary generations, so that the correlation between generations does not matter).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ouroboros.collapse import strategies
from ouroboros.collapse.reference import anchor_error, fresh_variance, simulate
from ouroboros.errors import ParameterError

N = 100
BURN_IN, GENERATIONS = 25, 45


def per_trial_mean(values: np.ndarray) -> np.ndarray:
    """Average over the stationary generations, one number per trial."""
    return values[:, BURN_IN:].mean(axis=1)


def mean_and_se(samples: np.ndarray) -> tuple[float, float]:
    return float(samples.mean()), float(samples.std(ddof=1) / math.sqrt(len(samples)))


def assert_close(samples: np.ndarray, expected: float, z: float = 4.0) -> None:
    mean, se = mean_and_se(samples)
    assert abs(mean - expected) <= z * se, (mean, expected, se)


def anchored(ratio: float, correct: float, estimator: str, trials: int, seed: int):
    sim = simulate(
        "gaussian",
        strategy=f"anchor:{ratio:g}",
        generations=GENERATIONS,
        sample_size=N,
        trials=trials,
        seed=seed,
        correct=correct,
        estimator=estimator,
    )
    return per_trial_mean(N * sim["mean"] ** 2)


def test_closed_form_values_of_the_issue():
    assert anchor_error(1, N) == pytest.approx(1.333, abs=5e-4)
    assert anchor_error(4, N) == pytest.approx(1.444, abs=5e-4)
    assert anchor_error(1, N, correct=1) == pytest.approx(0.712, abs=5e-4)
    assert anchor_error(4, N, correct=1) == pytest.approx(0.302, abs=5e-4)
    for ratio in (0.25, 1, 4, 50):
        # without correction: 1 + λ/(1 + 2λ), below 3/2 for every λ
        assert anchor_error(ratio, N) == pytest.approx(1 + ratio / (1 + 2 * ratio))
        assert anchor_error(ratio, N) < 1.5
    assert anchor_error(0, N) == 1.0
    # correction always helps, and more of it helps more
    assert anchor_error(4, N, 3) < anchor_error(4, N, 1) < anchor_error(4, N)


@pytest.mark.parametrize(("ratio", "correct"), [(1, 0), (4, 0), (1, 1), (4, 1)])
def test_anchor_stationary_error_mean_only(ratio, correct):
    samples = anchored(ratio, correct, "known", trials=1500, seed=31 + ratio + 10 * correct)
    assert_close(samples, anchor_error(ratio, N, correct))


@pytest.mark.parametrize(("ratio", "correct"), [(1, 0), (1, 1)])
def test_full_refit_agrees_with_the_mean_only_model(ratio, correct):
    full = anchored(ratio, correct, "mle", trials=1500, seed=41 + 10 * correct)
    known = anchored(ratio, correct, "known", trials=1500, seed=43 + 10 * correct)
    assert_close(full, anchor_error(ratio, N, correct))
    (a, se_a), (b, se_b) = mean_and_se(full), mean_and_se(known)
    assert abs(a - b) <= 4 * math.hypot(se_a, se_b), (a, b)


def test_correction_bounds_replace():
    # replace has no fixed point: the error grows by 1/N a generation; the ideal corrector
    # of strength γ makes it contract by c = 1/(1+γ) (Gillman et al. 2024)
    kwargs = dict(generations=60, sample_size=N, trials=1500, estimator="known")
    plain = simulate("gaussian", strategy="replace", seed=51, **kwargs)
    fixed = simulate("gaussian", strategy="replace", seed=52, correct=1.0, **kwargs)
    assert_close(N * plain["mean"][:, -1] ** 2, 60.0)
    c = 0.5
    # V = 1/N + E[(K/N)^2] V  ->  N·V = 1 / (1 − c² − c(1−c)/N)
    expected = 1 / (1 - c**2 - c * (1 - c) / N)
    assert_close(per_trial_mean(N * fixed["mean"] ** 2), expected)


def test_fresh_stationary_frequency_variance():
    p, rows, share = 0.3, 100, 0.5
    assert fresh_variance(p, rows, share) / (p * (1 - p) / rows) == pytest.approx(1.3245, abs=1e-4)
    sim = simulate(
        "categorical",
        strategy=f"fresh:{1 - share:g}",
        generations=GENERATIONS,
        sample_size=rows,
        trials=3000,
        seed=61,
        probs=[p, 1 - p],
    )
    # E[p̂] = p exactly, so the mean square error is the variance
    assert_close(per_trial_mean((sim["probs"][:, :, 0] - p) ** 2), fresh_variance(p, rows, share))


def test_fresh_variance_rises_with_the_synthetic_share():
    values = [fresh_variance(0.3, 100, a) for a in (0.0, 0.25, 0.5, 0.9)]
    assert values == sorted(values)
    assert values[0] == pytest.approx(0.21 / 100)


def test_anchor_is_a_strategy_with_a_twin():
    anchor = strategies.parse("anchor:4")
    assert anchor.spec == "anchor:4" and anchor.has_reference
    assert anchor.sample_size(100) == 400 and strategies.parse("anchor:0.5").sample_size(100) == 100
    assert "anchor" in strategies.reference_names()
    for bad in ("anchor:-1", "anchor:inf", "anchor:x"):
        with pytest.raises(ParameterError, match="anchor"):
            strategies.parse(bad)
    with pytest.raises(ParameterError, match="correct"):
        simulate("gaussian", generations=2, sample_size=10, trials=2, correct=-1.0)


def test_correction_leaves_the_first_fit_alone():
    kwargs = dict(generations=3, sample_size=20, trials=50, seed=3)
    a = simulate("gaussian", strategy="anchor:1", **kwargs)
    b = simulate("gaussian", strategy="anchor:1", correct=2.0, **kwargs)
    np.testing.assert_array_equal(a["mean"][:, 1], b["mean"][:, 1])
    assert b.correct == 2.0 and a.correct == 0.0
