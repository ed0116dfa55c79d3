"""Every registered metric passes the public contract checks of ``ouroboros.testing``
(the sequence metrics, which need a schema with a sequence spec, the sequence variant)."""

from __future__ import annotations

import pytest

from ouroboros import metrics
from ouroboros.testing.metrics import check_metric
from ouroboros.testing.sequences import check_sequence_metric


@pytest.mark.parametrize("name", metrics.names())
def test_metric_contract(name):
    klass = metrics.get(name)
    if "sequence" in klass.requires:
        check_sequence_metric(klass)
    else:
        check_metric(klass)
