"""The privacy ledger sums releases per dataset and refuses one past the budget."""

from __future__ import annotations

import pytest

from ouroboros.privacy import cdp_epsilon, cdp_rho
from ouroboros.privacy.ledger import (
    BudgetExceededError,
    check_budget,
    record,
    release_of,
    spent,
    total,
)
from ouroboros.store import open_store


def _zcdp(epsilon: float, delta: float = 1e-6) -> dict:
    rho = cdp_rho(epsilon, delta)
    return {
        "mechanism": "aim",
        "epsilon": epsilon,
        "delta": delta,
        "rho": rho,
        "conversion_delta": delta,
    }


def test_pure_releases_add_by_basic_composition():
    releases = [
        {"mechanism": "DP-SGD", "epsilon": 1.0, "delta": 1e-6},
        {"mechanism": "DP-SGD", "epsilon": 0.5, "delta": 1e-7},
    ]
    got = total(releases)
    assert got.epsilon == pytest.approx(1.5) and got.delta == pytest.approx(1.1e-6)
    assert got.releases == 2


def test_zcdp_releases_compose_in_rho_tighter_than_adding_epsilons():
    releases = [_zcdp(1.0), _zcdp(1.0), _zcdp(1.0)]
    got = total(releases)
    assert got.rho == pytest.approx(3 * cdp_rho(1.0, 1e-6))
    assert got.epsilon == pytest.approx(cdp_epsilon(got.rho, 3e-6))
    assert got.epsilon < 3.0 == got.basic_epsilon
    mixed = total([*releases, {"mechanism": "DP-SGD", "epsilon": 0.5, "delta": 1e-6}])
    assert mixed.epsilon == pytest.approx(got.epsilon + 0.5)
    assert mixed.delta == pytest.approx(4e-6)


def test_a_release_past_the_budget_is_refused_clearly():
    earlier = [{"mechanism": "aim", "epsilon": 2.5, "delta": 1e-6}]
    check_budget(earlier, {"mechanism": "mst", "epsilon": 0.5, "delta": 1e-6}, epsilon=3.0)
    with pytest.raises(
        BudgetExceededError, match=r"1 earlier releases spent epsilon=2\.5.*budget \(epsilon=3"
    ):
        check_budget(earlier, {"mechanism": "mst", "epsilon": 1.0, "delta": 1e-6}, epsilon=3.0)
    with pytest.raises(BudgetExceededError, match="delta=1e-06"):
        check_budget(
            earlier, {"mechanism": "mst", "epsilon": 0.1, "delta": 1e-6}, epsilon=3.0, delta=1e-6
        )


def test_the_store_ledger_sums_and_refuses(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        privacy = {"mechanism": "AIM", "epsilon": 1.0, "delta": 1e-6, "epsilon_spent": 1.0,
                   "delta_spent": 1e-6, "accountant": "zCDP", "rho_spent": cdp_rho(1.0, 1e-6),
                   "conversion_delta": 1e-6, "threshold_delta": 0.0}  # fmt: skip
        first = record(store, "abc123", release_of(privacy, model="a.ouro"), epsilon=1.6)
        assert first.epsilon == pytest.approx(1.0, rel=1e-6) and first.releases == 1
        second = record(store, "abc123", release_of(privacy, model="b.ouro"), epsilon=1.6)
        assert second.releases == 2 and second.epsilon == pytest.approx(1.4043, abs=1e-4)
        with pytest.raises(BudgetExceededError, match="abc123"):
            record(store, "abc123", release_of(privacy, model="c.ouro"), epsilon=1.6)
        assert len(store.releases("abc123")) == 2  # the refused one left no trace
        assert spent(store, "abc123") == second
        assert spent(store, "other").releases == 0
        assert store.releases("abc123")[0]["model"] == "a.ouro"
