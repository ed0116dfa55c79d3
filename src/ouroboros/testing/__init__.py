"""Public contract checks for generators and metrics, for built-ins and plugins alike."""

from ouroboros.testing.files import check_damaged_file, damage, damages
from ouroboros.testing.metrics import check_metric
from ouroboros.testing.synthesizers import (
    ALL_CHECKS,
    check_synthesizer,
    contract_table,
    fast_factory,
)

__all__ = [
    "ALL_CHECKS",
    "check_damaged_file",
    "check_metric",
    "check_synthesizer",
    "contract_table",
    "damage",
    "damages",
    "fast_factory",
]
