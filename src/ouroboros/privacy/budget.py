"""The privacy budget of one fit: its split between schema and model, and every spend.

A request for (epsilon, delta)-DP becomes a zCDP budget rho (the largest rho whose
conversion meets the request). Part of delta may be set aside for mechanisms that are
only approximately zCDP (the thresholds that decide which unseen categories are
released); the rest pays the conversion. The budget is split between the schema
statistics (bounds, categories) and the model, every mechanism records its spend, and
the record, written into each model file, must add up to what was asked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ouroboros.errors import OuroborosError, ParameterError
from ouroboros.privacy.accounting import cdp_epsilon, cdp_rho

#: the accountant named in every record
ACCOUNTANT = "zCDP (Bun & Steinke 2016), converted with Canonne, Kamath & Steinke 2020"
#: relative slack for float rounding when checking spends against the budget
_SLACK = 1e-9


class BudgetError(OuroborosError, ValueError):
    """A mechanism would spend more privacy budget than is left."""


@dataclass
class Spend:
    """One mechanism's cost: its part (``"schema"`` or ``"model"``), what it measured,
    the mechanism, its zCDP cost ``rho``, any ``delta`` it needs outside zCDP, and its
    parameters (noise scale, sensitivity, how many queries)."""

    part: str
    what: str
    mechanism: str
    rho: float
    delta: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class PrivacyBudget:
    """``epsilon``/``delta`` as asked; ``schema_share`` of rho goes to the schema statistics
    and ``threshold_delta`` of delta to thresholds (both zero when the schema is public)."""

    epsilon: float
    delta: float
    schema_share: float = 0.0
    threshold_delta: float = 0.0
    spends: list[Spend] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (isinstance(self.epsilon, (int, float)) and self.epsilon > 0):
            raise ParameterError(f"epsilon must be a number > 0; got {self.epsilon!r}")
        if not (isinstance(self.delta, (int, float)) and 0 < self.delta < 1):
            raise ParameterError(f"delta must be in (0, 1); got {self.delta!r}")
        if not 0 <= self.schema_share < 1:
            raise ParameterError(f"schema_share must be in [0, 1); got {self.schema_share!r}")
        if not 0 <= self.threshold_delta < self.delta:
            raise ParameterError(
                f"threshold_delta must be in [0, delta={self.delta}); got {self.threshold_delta!r}"
            )

    # ------------------------------------------------------------ the split
    @property
    def conversion_delta(self) -> float:
        """The delta that pays the zCDP to (epsilon, delta) conversion."""
        return self.delta - self.threshold_delta

    @property
    def rho(self) -> float:
        """The whole zCDP budget."""
        return cdp_rho(self.epsilon, self.conversion_delta)

    def allotted(self, part: str) -> float:
        """The rho of ``part``: ``"schema"`` gets ``schema_share``, ``"model"`` the rest."""
        if part == "schema":
            return self.rho * self.schema_share
        if part == "model":
            return self.rho * (1.0 - self.schema_share)
        raise ParameterError(f"a budget part is 'schema' or 'model'; got {part!r}")

    def spent(self, part: str | None = None) -> float:
        """The rho spent so far, by ``part`` or in all."""
        return sum(s.rho for s in self.spends if part is None or s.part == part)

    def remaining(self, part: str) -> float:
        return max(self.allotted(part) - self.spent(part), 0.0)

    def spend(
        self,
        part: str,
        what: str,
        mechanism: str,
        rho: float,
        delta: float = 0.0,
        **params: Any,
    ) -> Spend:
        """Record a mechanism's cost, refusing one that overdraws ``part``."""
        allotted = self.allotted(part)
        if self.spent(part) + rho > allotted * (1 + _SLACK) + 1e-15:
            raise BudgetError(
                f"{mechanism} on {what} would spend rho={rho:.6g} of the {part} budget, of "
                f"which {self.remaining(part):.6g} is left (rho={allotted:.6g} in all); "
                "raise epsilon or measure less"
            )
        delta_used = sum(s.delta for s in self.spends) + delta
        if delta_used > self.threshold_delta * (1 + _SLACK) + 1e-300:
            raise BudgetError(
                f"{mechanism} on {what} needs delta={delta:.3g} beyond zCDP, more than the "
                f"{self.threshold_delta:.3g} set aside for thresholds"
            )
        record = Spend(part, what, mechanism, float(rho), float(delta), params)
        self.spends.append(record)
        return record

    # ------------------------------------------------------------ the guarantee
    def epsilon_spent(self) -> float:
        """The epsilon of what was spent, at this budget's delta (never above ``epsilon``)."""
        rho = self.spent()
        if rho <= 0:
            return 0.0
        return min(cdp_epsilon(rho, self.conversion_delta), float(self.epsilon))

    def delta_spent(self) -> float:
        """The delta of the guarantee: the conversion's plus what the thresholds used."""
        return self.conversion_delta + sum(s.delta for s in self.spends)

    def to_dict(self) -> dict[str, Any]:
        """The auditable record: request, accountant, split, every spend and the totals."""
        return {
            "epsilon": float(self.epsilon),
            "delta": float(self.delta),
            "accountant": ACCOUNTANT,
            "rho": self.rho,
            "conversion_delta": self.conversion_delta,
            "threshold_delta": float(self.threshold_delta),
            "schema_share": float(self.schema_share),
            "split": {
                "schema": {"allotted_rho": self.allotted("schema"), "rho": self.spent("schema")},
                "model": {"allotted_rho": self.allotted("model"), "rho": self.spent("model")},
            },
            "spends": [asdict(s) for s in self.spends],
            "rho_spent": self.spent(),
            "epsilon_spent": self.epsilon_spent(),
            "delta_spent": self.delta_spent(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrivacyBudget:
        budget = cls(
            float(data["epsilon"]),
            float(data["delta"]),
            float(data.get("schema_share", 0.0)),
            float(data.get("threshold_delta", 0.0)),
        )
        budget.spends = [Spend(**s) for s in data.get("spends", [])]
        return budget
