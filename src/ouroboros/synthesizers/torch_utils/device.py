"""Torch devices, seeding and threads for the neural generators.

Everything random goes through a per-instance :class:`torch.Generator` (batches, noise)
or through module construction under :func:`seeded`, which forks the global torch
state and restores it afterwards, so that fitting never changes anyone else's seeds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
import torch

from ouroboros._threads import CpuShare
from ouroboros.errors import ParameterError
from ouroboros.synthesizers.params import Constraint


def resolve_device(device: str) -> torch.device:
    """The torch device named by ``device``: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``
    or ``"auto"`` (a GPU when one is available, else the CPU)."""
    if not isinstance(device, str):
        raise ParameterError(f"parameter 'device' must be a string; got {device!r}")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ParameterError(
            f"parameter 'device' must be 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'; got {device!r}"
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(
            f"parameter 'device' is {device!r} but torch sees no CUDA GPU; use 'cpu' or 'auto'"
        )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ParameterError(f"parameter 'device' is {device!r} but MPS is not available")
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise ParameterError(f"parameter 'device' must be cpu, cuda or mps; got {device!r}")
    return resolved


def torch_generator(rng: np.random.Generator, device: torch.device) -> torch.Generator:
    """A torch generator on ``device`` seeded from the instance's numpy generator."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(rng.integers(2**62)))
    return generator


@contextmanager
def seeded(rng: np.random.Generator, device: torch.device) -> Iterator[None]:
    """Run a block (module construction, parametrisations) with the global torch random
    state seeded from ``rng``, restoring the caller's state afterwards."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type):
        torch.manual_seed(int(rng.integers(2**62)))
        yield


#: the thread policy of the fit or draw running in this context (see :func:`threads`)
_POLICY: ContextVar[_Adaptive | None] = ContextVar("ouroboros_torch_threads", default=None)
#: seconds of the first reading of the free cores, before any thread is started
_PROBE = 0.1


#: seconds for which a reading stands in for a new probe (draws in quick succession)
_FRESH = 2.0


class _Adaptive:
    """Torch threads that follow the cores other processes leave free."""

    #: the latest reading of this process: (monotonic time, free cores)
    recent: tuple[float, int] = (-_FRESH, 1)

    def __init__(self) -> None:
        self.share = CpuShare()
        stamp, count = _Adaptive.recent
        if time.monotonic() - stamp > _FRESH:
            time.sleep(_PROBE)
            count = self._read()
        torch.set_num_threads(count)

    def _read(self) -> int:
        count = self.share.free_cores()
        _Adaptive.recent = (time.monotonic(), count)
        return count

    def adapt(self) -> None:
        count = self._read()
        if count != torch.get_num_threads():
            torch.set_num_threads(count)


@contextmanager
def threads(count: int | None) -> Iterator[None]:
    """Use ``count`` CPU threads inside the block; ``None`` uses the cores that other
    processes leave free, read now and again at every :func:`adapt_threads` (each epoch).

    On a busy machine torch's OpenMP threads wait at every operation for a partner the
    scheduler has put aside, so a fit on as many threads as cores ran several times
    slower than on one; following the free cores keeps the quiet machine's speed."""
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
        token = _POLICY.set(None)
    else:
        token = _POLICY.set(_POLICY.get() or _Adaptive())
    try:
        yield
    finally:
        _POLICY.reset(token)
        torch.set_num_threads(before)


def adapt_threads() -> None:
    """Follow the free cores again, inside ``threads(None)``; otherwise nothing."""
    policy = _POLICY.get()
    if policy is not None:
        policy.adapt()


class DeviceName(Constraint):
    """A device :func:`resolve_device` accepts (its errors say what is available)."""

    annotation = "str"

    def accepts(self, value: Any) -> bool:
        resolve_device(value)
        return True

    @property
    def description(self) -> str:
        return "'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'"
