"""zCDP accounting against published values and closed forms."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from ouroboros.errors import ParameterError
from ouroboros.privacy.accounting import (
    bun_steinke_epsilon,
    cdp_delta,
    cdp_epsilon,
    cdp_rho,
    compose,
    exponential_epsilon,
    exponential_rho,
    gaussian_rho,
    gaussian_sigma,
)

#: outputs of the reference cdp2adp.py (Steinke 2020, as shipped in private-pgm's
#: mechanisms/ and used by its MST and AIM), run with its 1000-step bisections
REFERENCE_RHO = {
    (0.5, 1e-6): 0.006641524356660502,
    (1.0, 1e-6): 0.024355970359538372,
    (1.0, 1e-9): 0.014973057673588523,
    (3.0, 1e-6): 0.18506984065340149,
    (10.0, 1e-6): 1.5392787638667285,
}
REFERENCE_EPSILON = {(0.1, 1e-6): 2.141938928385474, (1.0, 1e-5): 7.0771966958063395}


@pytest.mark.parametrize(("epsilon", "delta"), sorted(REFERENCE_RHO))
def test_rho_matches_the_reference_code(epsilon, delta):
    assert cdp_rho(epsilon, delta) == pytest.approx(REFERENCE_RHO[epsilon, delta], rel=1e-12)


@pytest.mark.parametrize(("rho", "delta"), sorted(REFERENCE_EPSILON))
def test_epsilon_matches_the_reference_code(rho, delta):
    assert cdp_epsilon(rho, delta) == pytest.approx(REFERENCE_EPSILON[rho, delta], rel=1e-12)


def _gaussian_delta(sigma: float, epsilon: float) -> float:
    """The exact privacy profile of the Gaussian mechanism, sensitivity 1 (Balle & Wang
    2018, "Improving the Gaussian Mechanism for Differential Privacy", Theorem 8)."""
    return norm.cdf(0.5 / sigma - epsilon * sigma) - math.exp(epsilon) * norm.cdf(
        -0.5 / sigma - epsilon * sigma
    )


@pytest.mark.parametrize("rho", [0.01, 0.05, 0.5])
@pytest.mark.parametrize("epsilon", [0.5, 1.0, 3.0])
def test_the_conversion_bounds_the_exact_gaussian_profile_and_is_close(rho, epsilon):
    exact = _gaussian_delta(gaussian_sigma(rho), epsilon)
    bound = cdp_delta(rho, epsilon)
    assert exact <= bound
    if exact > 1e-12:  # in the range that matters the bound is within a small factor
        assert bound <= 10 * exact


@settings(max_examples=15, deadline=None)
@given(
    rho=st.floats(1e-4, 10.0),
    delta=st.floats(1e-12, 1e-2),
)
def test_tight_conversion_beats_bun_steinke_and_inverts(rho, delta):
    epsilon = cdp_epsilon(rho, delta)
    assert epsilon <= bun_steinke_epsilon(rho, delta) + 1e-12
    assert cdp_delta(rho, epsilon) <= delta * (1 + 1e-9)
    assert cdp_rho(epsilon, delta) == pytest.approx(rho, rel=1e-6)


def test_mechanism_costs_and_composition():
    assert gaussian_rho(2.0) == pytest.approx(1 / 8)
    assert gaussian_rho(2.0, sensitivity=3.0) == pytest.approx(9 / 8)
    assert gaussian_sigma(gaussian_rho(1.7)) == pytest.approx(1.7)
    assert exponential_rho(0.4) == pytest.approx(0.02)
    assert exponential_epsilon(exponential_rho(0.4)) == pytest.approx(0.4)
    assert compose(0.1, 0.2, 0.3) == pytest.approx(0.6)
    assert cdp_delta(0.0, 1.0) == 0.0 and cdp_epsilon(0.0, 1e-6) == 0.0


@pytest.mark.parametrize("bad", [0.0, 1.0, -1e-6, 2.0])
def test_delta_outside_the_open_unit_interval_is_refused(bad):
    with pytest.raises(ParameterError, match="delta"):
        cdp_rho(1.0, bad)
    with pytest.raises(ParameterError, match="sigma"):
        gaussian_rho(0.0)
