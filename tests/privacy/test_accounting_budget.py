"""The budget of a fit: its split between schema and model adds up, and never overdraws."""

from __future__ import annotations

import pytest

from ouroboros.errors import ParameterError
from ouroboros.privacy import BudgetError, PrivacyBudget, cdp_rho


def test_split_adds_up_to_the_requested_budget():
    budget = PrivacyBudget(1.0, 1e-6, schema_share=0.1, threshold_delta=1e-7)
    assert budget.rho == pytest.approx(cdp_rho(1.0, 1e-6 - 1e-7))
    assert budget.allotted("schema") + budget.allotted("model") == pytest.approx(budget.rho)
    assert budget.allotted("schema") == pytest.approx(0.1 * budget.rho)
    budget.spend("schema", "age", "Gaussian", budget.allotted("schema") / 2, delta=5e-8)
    budget.spend("schema", "sex", "Gaussian", budget.allotted("schema") / 2, delta=5e-8)
    for k in range(9):
        budget.spend("model", f"m{k}", "Gaussian", budget.allotted("model") / 9)
    record = budget.to_dict()
    assert record["rho_spent"] == pytest.approx(budget.rho)
    assert sum(s["rho"] for s in record["spends"]) == pytest.approx(budget.rho)
    parts = record["split"]
    assert parts["schema"]["rho"] + parts["model"]["rho"] == pytest.approx(record["rho"])
    assert record["epsilon_spent"] == pytest.approx(1.0, rel=1e-6)
    assert record["delta_spent"] == pytest.approx(1e-6)
    assert PrivacyBudget.from_dict(record).to_dict() == record


def test_overdrawing_a_part_is_refused_with_what_is_left():
    budget = PrivacyBudget(1.0, 1e-6, schema_share=0.2)
    budget.spend("model", "a", "Gaussian", budget.allotted("model") * 0.75)
    with pytest.raises(BudgetError, match=r"model budget, of which .* is left"):
        budget.spend("model", "b", "Gaussian", budget.allotted("model") * 0.5)
    with pytest.raises(BudgetError, match="schema budget"):
        budget.spend("schema", "c", "Gaussian", budget.allotted("schema") * 1.01)
    with pytest.raises(BudgetError, match="beyond zCDP"):
        budget.spend("schema", "d", "thresholded counts", 1e-9, delta=1e-9)


def test_spending_less_reports_a_smaller_epsilon():
    budget = PrivacyBudget(2.0, 1e-6)
    budget.spend("model", "a", "Gaussian", budget.rho / 4)
    assert 0 < budget.epsilon_spent() < 2.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"epsilon": 0.0, "delta": 1e-6},
        {"epsilon": 1.0, "delta": 0.0},
        {"epsilon": 1.0, "delta": 1e-6, "schema_share": 1.0},
        {"epsilon": 1.0, "delta": 1e-6, "threshold_delta": 1e-6},
    ],
)
def test_bad_requests_are_refused(kwargs):
    with pytest.raises(ParameterError):
        PrivacyBudget(**kwargs)
