"""The privacy ledger: every release from a source dataset, and their total under composition.

A release is one DP model (or table) made from a source dataset, kept in the store under
the dataset's content hash. Releases compose: zCDP costs (``rho``) add, and their sum is
converted once to (epsilon, delta) at the sum of their conversion deltas (Bun & Steinke
2016; Canonne, Kamath & Steinke 2020); releases known only as (epsilon, delta) compose
by the basic theorem (epsilons and deltas add, Dwork & Roth 2014, Theorem 3.16). The
total is the better of "everything basic" and "zCDP part converted, plus the rest".
:func:`record` refuses, inside the store's transaction, a release that would carry the
total past a configured budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ouroboros.errors import OuroborosError
from ouroboros.privacy.accounting import cdp_epsilon

if TYPE_CHECKING:
    from ouroboros.store.base import Store


class BudgetExceededError(OuroborosError, ValueError):
    """A release would spend more of a dataset's total privacy budget than is configured."""


@dataclass(frozen=True)
class Total:
    """The privacy spent on one dataset so far: (``epsilon``, ``delta``) under composition,
    the zCDP ``rho`` of the releases that know it, and how many releases there were."""

    epsilon: float
    delta: float
    rho: float
    releases: int
    basic_epsilon: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "rho": self.rho,
            "releases": self.releases,
            "basic_epsilon": self.basic_epsilon,
        }


def release_of(privacy: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A ledger release from a DP model's ``privacy_`` record (``extra``: e.g. ``model``
    path, ``generator`` name). Generators that account in zCDP give ``rho`` too."""
    release = {
        "mechanism": str(privacy.get("mechanism") or "unknown"),
        "epsilon": float(privacy.get("epsilon_spent", privacy.get("epsilon"))),
        "delta": float(privacy.get("delta_spent", privacy.get("delta"))),
        "accountant": privacy.get("accountant"),
    }
    for key in ("rho_spent", "conversion_delta", "threshold_delta"):
        if privacy.get(key) is not None:
            release[key.replace("_spent", "")] = float(privacy[key])
    return {**release, **extra}


def total(releases: list[dict[str, Any]]) -> Total:
    """The composed (epsilon, delta) of ``releases``."""
    basic_eps = sum(float(r["epsilon"]) for r in releases)
    basic_delta = sum(float(r["delta"]) for r in releases)
    zcdp = [r for r in releases if r.get("rho") is not None and r.get("conversion_delta")]
    rest = [r for r in releases if r not in zcdp]
    rho = sum(float(r["rho"]) for r in zcdp)
    if not zcdp:
        return Total(basic_eps, basic_delta, 0.0, len(releases), basic_eps)
    conversion = sum(float(r["conversion_delta"]) for r in zcdp)
    extra_delta = sum(float(r.get("threshold_delta", 0.0)) for r in zcdp)
    mixed_eps = cdp_epsilon(rho, min(conversion, 0.999)) + sum(float(r["epsilon"]) for r in rest)
    mixed_delta = conversion + extra_delta + sum(float(r["delta"]) for r in rest)
    if mixed_eps <= basic_eps:
        return Total(mixed_eps, mixed_delta, rho, len(releases), basic_eps)
    return Total(basic_eps, basic_delta, rho, len(releases), basic_eps)


def check_budget(
    releases: list[dict[str, Any]],
    release: dict[str, Any],
    *,
    epsilon: float,
    delta: float | None = None,
    dataset: str = "the dataset",
) -> Total:
    """The total after ``release``; raises :class:`BudgetExceededError` when it passes the
    configured ``epsilon`` (or ``delta``) budget."""
    before, after = total(releases), total([*releases, release])
    over_eps = after.epsilon > epsilon * (1 + 1e-9)
    over_delta = delta is not None and after.delta > delta * (1 + 1e-9)
    if over_eps or over_delta:
        budget = f"epsilon={epsilon:g}" + ("" if delta is None else f", delta={delta:g}")
        raise BudgetExceededError(
            f"refusing the release of {release.get('mechanism')!r} (epsilon="
            f"{float(release['epsilon']):g}, delta={float(release['delta']):g}) from {dataset}: "
            f"the {before.releases} earlier releases spent epsilon={before.epsilon:.4g} "
            f"(delta={before.delta:.3g}), and this one would bring the total to epsilon="
            f"{after.epsilon:.4g}, delta={after.delta:.3g}, past the configured budget "
            f"({budget}). Release with a smaller epsilon, or raise the budget if the data's "
            "owner allows it"
        )
    return after


def record(
    store: Store,
    dataset_hash: str,
    release: dict[str, Any],
    *,
    epsilon: float | None = None,
    delta: float | None = None,
) -> Total:
    """Add ``release`` to the ledger of ``dataset_hash`` (refused past a configured budget
    of ``epsilon``/``delta``, checked in the same transaction) and return the new total."""
    outcome: list[Total] = []

    def check(earlier: list[dict[str, Any]]) -> None:
        if epsilon is None:
            outcome.append(total([*earlier, release]))
        else:
            after = check_budget(
                earlier,
                release,
                epsilon=epsilon,
                delta=delta,
                dataset=f"dataset {dataset_hash[:12]}",
            )
            outcome.append(after)

    store.record_release(dataset_hash, release, check=check)
    return outcome[-1]


def spent(store: Store, dataset_hash: str) -> Total:
    """The total spent on ``dataset_hash`` so far."""
    return total(store.releases(dataset_hash))
