"""Every registered metric passes the public contract checks of ``ouroboros.testing``."""

from __future__ import annotations

import pytest

from ouroboros import metrics
from ouroboros.testing.metrics import check_metric


@pytest.mark.parametrize("name", metrics.names())
def test_metric_contract(name):
    check_metric(metrics.get(name))
