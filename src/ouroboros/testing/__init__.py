"""Public contract checks for generators and metrics, for built-ins and plugins alike."""

from ouroboros.testing.metrics import check_metric
from ouroboros.testing.synthesizers import ALL_CHECKS, check_synthesizer, contract_table

__all__ = ["ALL_CHECKS", "check_metric", "check_synthesizer", "contract_table"]
