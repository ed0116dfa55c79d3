"""Rules the data obeys: a safe language, vectorised checks, discovery and the plan
that keeps each rule by construction (see :mod:`ouroboros.transforms.rules`)."""

from ouroboros.rules.discovery import Finding, discover
from ouroboros.rules.evaluate import Columns, truth, value, violations
from ouroboros.rules.language import Rule, RuleError, parse, parse_all
from ouroboros.rules.plan import Plan, Step, plan

__all__ = [
    "Columns",
    "Finding",
    "Plan",
    "Rule",
    "RuleError",
    "Step",
    "discover",
    "parse",
    "parse_all",
    "plan",
    "truth",
    "value",
    "violations",
]
