"""The reference simulators against every closed form of COLLAPSE_THEORY.md §1-4.

Each check compares a Monte-Carlo mean with its closed form within four standard
errors (plus the stated approximation error where the source gives an approximation).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import digamma, gammaln, zeta

from ouroboros.collapse import strategies
from ouroboros.collapse.reference import simulate
from ouroboros.errors import ParameterError


def assert_mean(samples: np.ndarray, expected: float, *, slack: float = 0.0, z: float = 4.0):
    samples = np.asarray(samples, dtype=float)
    mean = samples.mean()
    se = samples.std(ddof=1) / math.sqrt(len(samples))
    assert abs(mean - expected) <= z * se + slack, (mean, expected, se)


def c4(m: int) -> float:
    return math.sqrt(2 / (m - 1)) * math.exp(gammaln(m / 2) - gammaln((m - 1) / 2))


# ---------------------------------------------------------------- §1 Gaussian, unbiased
@pytest.fixture(scope="module")
def unbiased_m100():
    return simulate(
        "gaussian",
        strategy="replace",
        generations=50,
        sample_size=100,
        trials=10_000,
        seed=11,
        estimator="unbiased",
    )


def test_unbiased_variance_of_generation_10(unbiased_m100):
    mean, var = unbiased_m100["mean"][:, 10], unbiased_m100["var"][:, 10]
    # Var(X^n) = E[sigma_n^2] + E[(mu_n - mu)^2] = sigma^2 (1 + n/M)
    assert_mean(var + mean**2, 1.100)


def test_unbiased_mean_drift_and_martingale(unbiased_m100):
    assert_mean(unbiased_m100["mean"][:, 50] ** 2, 0.50)
    assert_mean(unbiased_m100["var"][:, 5], 1.0)


def test_unbiased_sigma_shrinks_by_c4(unbiased_m100):
    for n in (1, 10, 50):
        assert_mean(np.sqrt(unbiased_m100["var"][:, n]), c4(100) ** n)


def test_unbiased_log_variance_tends_to_minus_infinity():
    m, n = 10, 100
    sim = simulate(
        "gaussian",
        strategy="replace",
        generations=n,
        sample_size=m,
        trials=8_000,
        seed=3,
        estimator="unbiased",
    )
    expected = n * (digamma((m - 1) / 2) + math.log(2 / (m - 1)))
    assert expected == pytest.approx(-11.52, abs=0.01)
    assert_mean(np.log(sim["var"][:, n]), expected)
    # the mean of sigma^2 stays 1 but almost every trial has collapsed
    assert np.median(sim["var"][:, n]) < 1e-4


def test_wasserstein_to_the_original(unbiased_m100):
    n, m = 10, 100
    w2 = unbiased_m100["mean"][:, n] ** 2 + (np.sqrt(unbiased_m100["var"][:, n]) - 1) ** 2
    exact = n / m + 2 * (1 - c4(m) ** n)
    assert exact == pytest.approx(0.150, abs=0.002)
    assert_mean(w2, exact)


# ---------------------------------------------------------------- §1 Gaussian, MLE
def test_mle_variance_decays_geometrically():
    m, n = 100, 50
    sim = simulate(
        "gaussian",
        strategy="replace",
        generations=n,
        sample_size=m,
        trials=10_000,
        seed=5,
        estimator="mle",
        mean=2.0,
        var=1.0,
    )
    assert ((m - 1) / m) ** n == pytest.approx(0.6050, abs=1e-4)
    assert_mean(sim["var"][:, n], ((m - 1) / m) ** n)
    assert_mean((sim["mean"][:, n] - 2.0) ** 2, 1 - ((m - 1) / m) ** n)
    assert sim.truth["estimator"] == "mle"


# ---------------------------------------------------------------- §2 categorical
def test_categorical_absorbs_in_proportion_to_p():
    p = np.array([0.5, 0.3, 0.15, 0.05])
    sim = simulate(
        "categorical",
        strategy="replace",
        generations=300,
        sample_size=20,
        trials=4_000,
        seed=7,
        probs=p,
    )
    probs = sim["probs"]
    single = probs.max(axis=2) == 1.0
    assert single[:, -1].all()
    # once absorbed, a chain stays absorbed
    assert np.all(single[:, 1:] >= single[:, :-1])
    winner = probs[:, -1].argmax(axis=1)
    for j, pj in enumerate(p):
        assert_mean(winner == j, pj)
    # Wright-Fisher diffusion approximation of the mean absorption time (~30 generations)
    first = single.argmax(axis=1)
    approx = -2 * 20 * np.sum((1 - p) * np.log(1 - p))
    assert approx == pytest.approx(31.3, abs=0.1)
    assert_mean(first, approx, slack=0.1 * approx)


# ---------------------------------------------------------------- §3 OLS, fixed design
@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("replace", 10 / 39 * 10),
        ("accumulate", 10 / 39 * sum(1 / i**2 for i in range(1, 11))),
    ],
)
def test_ols_test_error(strategy, expected):
    d, t, n = 10, 50, 10
    sim = simulate(
        "ols",
        strategy=strategy,
        generations=n,
        sample_size=t,
        trials=4_000,
        seed=13,
        dim=d,
        noise=1.0,
    )
    error = ((sim["coef"] - sim.truth["coef"]) ** 2).sum(axis=2)
    assert_mean(error[:, n], expected)
    assert_mean(error[:, 1], d / (t - d - 1))
    if strategy == "accumulate":
        assert expected == pytest.approx(0.3974, abs=1e-4)
        assert error[:, n].mean() < 10 / 39 * math.pi**2 / 6
    else:
        assert expected == pytest.approx(2.564, abs=1e-3)


def test_gaussian_accumulation_stays_bounded():
    m, n = 20, 50
    kwargs = dict(generations=n, sample_size=m, trials=4_000, seed=17, estimator="mle")
    acc = simulate("gaussian", strategy="accumulate", **kwargs)
    rep = simulate("gaussian", strategy="replace", **kwargs)
    bound = sum(1 / i**2 for i in range(1, n + 1)) / m
    assert bound <= 1.645 / m
    # Kazdan et al. give the sum as an approximation; allow its 10%
    assert_mean(acc["mean"][:, n] ** 2, bound, slack=0.1 * bound)
    assert_mean(acc["var"][:, n], 0.92, slack=0.02)
    # MLE: sigma_n^2 = sigma_{n-1}^2 chi2_{M-1} / M, so E log sigma_n^2 = n E log(chi2_{M-1} / M)
    step = digamma((m - 1) / 2) + math.log(2 / (m - 1)) + math.log1p(-1 / m)
    assert_mean(np.log(rep["var"][:, n]), n * step)
    assert ((m - 1) / m) ** n == pytest.approx(0.077, abs=1e-3)


# ---------------------------------------------------------------- §4 tails
def zipf(k: int, beta: float = 2.0) -> np.ndarray:
    p = np.arange(1, k + 1, dtype=float) ** -beta
    return p / p.sum()


def test_zipf_error_of_a_memorising_model():
    big = np.arange(1, 10**7 + 1, dtype=float) ** -2.0 / zeta(2)
    assert np.sum(big * (1 - big) ** 10_000) == pytest.approx(6.909e-3, rel=1e-3)
    p = zipf(20_000)
    t = 10_000
    sim = simulate("categorical", generations=1, sample_size=t, trials=200, seed=19, probs=p)
    unseen = sim["probs"][:, 1] == 0
    assert_mean((unseen * p).sum(axis=1), np.sum(p * (1 - p) ** t))


def test_zipf_tail_cut_sets_a_floor():
    k, t = 100, 10_000
    p = np.arange(1, 10**7 + 1, dtype=float) ** -2.0 / zeta(2)
    floor = p[k:].sum()
    assert floor == pytest.approx(6.049e-3, rel=1e-3)
    q = p[:k] / p[:k].sum()
    for size in (t, 10 * t):
        sim = simulate("categorical", generations=1, sample_size=size, trials=100, seed=23, probs=q)
        unseen = sim["probs"][:, 1] == 0
        error = (unseen * p[:k]).sum(axis=1) + floor
        assert error.min() >= floor
        if size == t:
            assert_mean(error, floor + np.sum(p[:k] * (1 - q) ** size))
    # ten times more data buys nothing: the error sits on the floor
    assert error.mean() == pytest.approx(floor, rel=1e-3)


# ---------------------------------------------------------------- strategies and errors
@pytest.mark.parametrize(
    "strategy", ["replace", "accumulate", "accumulate-subsample", "mix:0.3", "fresh:0.3", "curate"]
)
@pytest.mark.parametrize("model", ["gaussian", "categorical", "ols"])
def test_every_strategy_runs_on_every_model(model, strategy):
    params = {"dim": 3} if model == "ols" else {}
    a = simulate(
        model, strategy=strategy, generations=4, sample_size=12, trials=50, seed=1, **params
    )
    b = simulate(
        model, strategy=strategy, generations=4, sample_size=12, trials=50, seed=1, **params
    )
    for key, value in a.params.items():
        assert value.shape[:2] == (50, 5)
        assert np.all(np.isfinite(value))
        np.testing.assert_array_equal(value, b.params[key])
    assert a.strategy == strategies.parse(strategy).spec


def test_real_data_shares_bound_the_drift():
    kwargs = dict(generations=30, sample_size=20, trials=2_000, seed=29, estimator="mle")
    drift = {
        s: np.log(simulate("gaussian", strategy=s, **kwargs)["var"][:, -1]).mean()
        for s in ("replace", "mix:0.5", "fresh:0.5", "curate", "accumulate")
    }
    # the expected log-variance under replace falls like n (log((M-1)/M) + E log chi2/M)
    assert drift["replace"] < -1.5
    for strategy in ("mix:0.5", "fresh:0.5", "accumulate", "curate"):
        assert drift[strategy] > drift["replace"] + 1.0, drift
    # mix with share 1 and fresh with share 0 are the two extremes
    full = simulate("gaussian", strategy="mix:1", **kwargs)
    np.testing.assert_allclose(full["var"][:, 2], full["var"][:, 1])
    zero = simulate("gaussian", strategy="fresh:0", **kwargs)
    assert np.log(zero["var"][:, -1]).mean() == pytest.approx(drift["replace"], abs=0.1)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (dict(model="poisson"), "model"),
        (dict(model="gaussian", strategy="mix:1.5"), r"\[0, 1\]"),
        (dict(model="gaussian", strategy="mix:-0.1"), r"\[0, 1\]"),
        (dict(model="gaussian", strategy="unknown"), "unknown strategy"),
        (dict(model="gaussian", sample_size=1), "sample_size"),
        (dict(model="gaussian", estimator="median"), "estimator"),
        (dict(model="categorical", probs=[0.5, 0.6]), "probs"),
        (dict(model="ols", dim=10, sample_size=11), "dim \\+ 2"),
        (dict(model="gaussian", shape=3), "shape"),
    ],
)
def test_bad_parameters(call, match):
    kwargs = dict(generations=2, sample_size=10, trials=5, seed=0) | call
    with pytest.raises(ParameterError, match=match):
        simulate(**kwargs)
