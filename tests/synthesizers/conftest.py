"""Fixtures for the generator tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread):
    """Tiny networks train fastest on one thread (and CI machines are shared)."""
