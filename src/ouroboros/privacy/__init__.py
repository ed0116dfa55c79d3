"""Differential privacy: zCDP accounting, the budget of a fit, the private schema, the ledger.

Sampling from a fitted DP model, saving it and evaluating its samples spend no budget:
they only post-process what was released.
"""

from ouroboros.privacy.accounting import (
    cdp_delta,
    cdp_epsilon,
    cdp_rho,
    compose,
    exponential_rho,
    gaussian_rho,
    gaussian_sigma,
)
from ouroboros.privacy.budget import ACCOUNTANT, BudgetError, PrivacyBudget, Spend
from ouroboros.privacy.schema import PrivateSchema, resolve, resolve_fit

__all__ = [
    "ACCOUNTANT",
    "BudgetError",
    "PrivacyBudget",
    "PrivateSchema",
    "Spend",
    "cdp_delta",
    "cdp_epsilon",
    "cdp_rho",
    "compose",
    "exponential_rho",
    "gaussian_rho",
    "gaussian_sigma",
    "resolve",
    "resolve_fit",
]
