"""Torch threads follow the cores other processes leave free (issue #17's busy machine)."""

from __future__ import annotations

import itertools

import pytest
import torch

from ouroboros import _threads
from ouroboros._threads import CpuShare
from ouroboros.synthesizers.torch_utils import device
from ouroboros.synthesizers.torch_utils.device import adapt_threads, threads


def _readings(monkeypatch, *readings):
    """Feed CpuShare (wall, machine busy seconds, own CPU seconds) readings, on 2 cores."""
    monkeypatch.setattr(_threads, "cores", lambda: 2)
    feed = iter(readings)
    monkeypatch.setattr(CpuShare, "_reading", staticmethod(lambda: next(feed)))


@pytest.mark.parametrize(
    ("busy", "own", "free"),
    [(0.1, 0.0, 2), (1.8, 1.8, 2), (1.0, 0.2, 1), (1.5, 0.0, 1), (2.0, 0.0, 1), (0.45, 0.0, 2)],
)
def test_free_cores_counts_what_others_used(monkeypatch, busy, own, free):
    _readings(monkeypatch, (0.0, 10.0, 5.0), (1.0, 10.0 + busy, 5.0 + own))
    assert CpuShare().free_cores() == free


def test_free_cores_without_kernel_counters_is_every_core(monkeypatch):
    _readings(monkeypatch, None, None)
    assert CpuShare().free_cores() == 2


def test_free_cores_on_this_machine_is_a_valid_count():
    share = CpuShare()
    for _ in range(200_000):
        pass
    assert 1 <= share.free_cores() <= _threads.cores()


def test_threads_none_follows_the_free_cores_and_restores(monkeypatch):
    counts = itertools.chain([2, 1], itertools.repeat(2))
    monkeypatch.setattr(CpuShare, "free_cores", lambda self: next(counts))
    monkeypatch.setattr(device._Adaptive, "recent", (-10.0, 1))
    monkeypatch.setattr(device, "_PROBE", 0.0)
    before = torch.get_num_threads()
    with threads(None):
        assert torch.get_num_threads() == 2
        adapt_threads()
        assert torch.get_num_threads() == 1
        with threads(None):  # a draw inside a fit keeps the fit's policy
            adapt_threads()
            assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == before


def test_a_fixed_count_never_adapts(monkeypatch):
    monkeypatch.setattr(CpuShare, "free_cores", lambda self: pytest.fail("probed"))
    with threads(1):
        adapt_threads()
        assert torch.get_num_threads() == 1
