"""Torch devices, seeding and threads for the neural generators.

Everything random goes through a per-instance :class:`torch.Generator` (batches, noise)
or through module construction under :func:`seeded`, which forks the global torch
state and restores it afterwards, so that fitting never changes anyone else's seeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

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


@contextmanager
def threads(count: int | None) -> Iterator[None]:
    """Use ``count`` CPU threads inside the block (``None``: leave torch's setting)."""
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class DeviceName(Constraint):
    """A device :func:`resolve_device` accepts (its errors say what is available)."""

    annotation = "str"

    def accepts(self, value: Any) -> bool:
        resolve_device(value)
        return True

    @property
    def description(self) -> str:
        return "'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'"
