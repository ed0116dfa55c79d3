"""Random operations that draw from an explicit :class:`torch.Generator`."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def dropout(x: torch.Tensor, p: float, generator: torch.Generator, training: bool) -> torch.Tensor:
    """Inverted dropout drawing its mask from ``generator`` (``nn.Dropout`` uses global state)."""
    if not training or p <= 0:
        return x
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
    return x * keep / (1 - p)


def gumbel(shape: Sequence[int], generator: torch.Generator, device) -> torch.Tensor:
    """Standard Gumbel noise."""
    u = torch.rand(tuple(shape), generator=generator, device=device)
    return -torch.log(-torch.log(u.clamp(1e-10, 1 - 1e-7)))
