"""Zero-concentrated differential privacy (zCDP): costs, composition, conversion.

A mechanism is rho-zCDP when the Renyi divergence of order alpha between its outputs on
neighbouring tables is at most ``rho * alpha`` for every alpha > 1 (Bun & Steinke 2016,
"Concentrated Differential Privacy: Simplifications, Extensions, and Lower Bounds").
Costs add under composition. The conversion to (epsilon, delta)-DP is the tight one of
Canonne, Kamath & Steinke 2020 ("The Discrete Gaussian for Differential Privacy",
Proposition 12 / Corollary 13), the one the reference code of MST and AIM uses.
Neighbouring tables differ by one added or removed row.
"""

from __future__ import annotations

import math
from functools import lru_cache

from ouroboros.errors import ParameterError

#: bisection steps of the conversions; 100 halvings reach float precision from these brackets
_STEPS = 100


def gaussian_rho(sigma: float, sensitivity: float = 1.0) -> float:
    """zCDP cost of adding N(0, sigma^2) to a query of L2 ``sensitivity``: Delta^2 / (2 sigma^2)."""
    if not sigma > 0:
        raise ParameterError(f"the Gaussian noise scale sigma must be > 0; got {sigma!r}")
    return sensitivity**2 / (2.0 * sigma**2)


def gaussian_sigma(rho: float, sensitivity: float = 1.0) -> float:
    """The noise scale whose Gaussian mechanism costs exactly ``rho``."""
    if not rho > 0:
        raise ParameterError(f"rho must be > 0 to set a noise scale; got {rho!r}")
    return sensitivity / math.sqrt(2.0 * rho)


def exponential_rho(epsilon: float) -> float:
    """zCDP cost of the exponential mechanism run at ``epsilon``: epsilon^2 / 8.

    The exponential mechanism is epsilon-bounded-range, hence epsilon^2/8-zCDP (Cesar &
    Rogers 2021, "Bounding, Concentrating, and Truncating: Unifying Privacy Loss
    Composition for Data Analytics").
    """
    if epsilon < 0:
        raise ParameterError(f"epsilon must be >= 0; got {epsilon!r}")
    return epsilon**2 / 8.0


def exponential_epsilon(rho: float) -> float:
    """The exponential mechanism's epsilon that costs ``rho``: sqrt(8 rho)."""
    return math.sqrt(8.0 * rho)


def compose(*rhos: float) -> float:
    """zCDP composes additively: the cost of running every mechanism."""
    return float(sum(rhos))


def cdp_delta(rho: float, epsilon: float) -> float:
    """The smallest delta such that rho-zCDP implies (epsilon, delta)-DP.

    delta = min over alpha > 1 of exp((alpha-1)(alpha rho - epsilon)) / (alpha - 1)
    * (1 - 1/alpha)^alpha (Canonne, Kamath & Steinke 2020); the objective is convex in
    alpha, so the minimiser is found by bisection on the derivative.
    """
    _check_nonnegative(rho=rho, epsilon=epsilon)
    if rho == 0:
        return 0.0
    low, high = 1.01, (epsilon + 1.0) / (2.0 * rho) + 2.0
    for _ in range(_STEPS):
        alpha = (low + high) / 2.0
        derivative = (2.0 * alpha - 1.0) * rho - epsilon + math.log1p(-1.0 / alpha)
        if derivative < 0:
            low = alpha
        else:
            high = alpha
    alpha = (low + high) / 2.0
    log_delta = (alpha - 1.0) * (alpha * rho - epsilon) + alpha * math.log1p(-1.0 / alpha)
    return min(math.exp(log_delta - math.log(alpha - 1.0)), 1.0)


@lru_cache(maxsize=256)
def cdp_epsilon(rho: float, delta: float) -> float:
    """The smallest epsilon such that rho-zCDP implies (epsilon, delta)-DP."""
    _check_delta(delta)
    _check_nonnegative(rho=rho)
    if rho == 0:
        return 0.0
    low, high = 0.0, rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta))
    for _ in range(_STEPS):
        epsilon = (low + high) / 2.0
        if cdp_delta(rho, epsilon) <= delta:
            high = epsilon
        else:
            low = epsilon
    return high


@lru_cache(maxsize=256)
def cdp_rho(epsilon: float, delta: float) -> float:
    """The largest rho such that rho-zCDP implies (epsilon, delta)-DP: the budget that a
    requested (epsilon, delta) leaves to zCDP mechanisms."""
    _check_delta(delta)
    _check_nonnegative(epsilon=epsilon)
    low, high = 0.0, epsilon + 1.0
    for _ in range(_STEPS):
        rho = (low + high) / 2.0
        if cdp_delta(rho, epsilon) <= delta:
            low = rho
        else:
            high = rho
    return low


def bun_steinke_epsilon(rho: float, delta: float) -> float:
    """The simpler, looser conversion epsilon = rho + 2 sqrt(rho log(1/delta)) (Bun &
    Steinke 2016, Proposition 1.3); kept to show how much the tight one saves."""
    _check_delta(delta)
    return rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta))


def _check_delta(delta: float) -> None:
    if not 0 < delta < 1:
        raise ParameterError(f"delta must be in (0, 1); got {delta!r}")


def _check_nonnegative(**values: float) -> None:
    for name, value in values.items():
        if not (isinstance(value, (int, float)) and value >= 0 and math.isfinite(value)):
            raise ParameterError(f"{name} must be a finite number >= 0; got {value!r}")
