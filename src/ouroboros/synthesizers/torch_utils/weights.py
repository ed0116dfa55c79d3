"""Network weights: a moving average of them, and their arrays for the model file."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn


class Average:
    """Exponential moving average of a module's weights (Polyak averaging), with the usual
    warm-up: the decay after ``k`` updates is ``min(decay, (1 + k) / (10 + k))``."""

    def __init__(self, module: nn.Module, decay: float):
        self.module = copy.deepcopy(module)
        self.decay = decay
        self.updates = 0
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        self.updates += 1
        rate = 1.0 - min(self.decay, (1 + self.updates) / (10 + self.updates))
        for mine, theirs in zip(self.module.parameters(), source.parameters(), strict=True):
            mine.lerp_(theirs, rate)
        for mine, theirs in zip(self.module.buffers(), source.buffers(), strict=True):
            mine.copy_(theirs)


def module_arrays(module: nn.Module) -> dict[str, np.ndarray]:
    """A module's ``state_dict`` as numpy arrays (for the JSON + npz model file)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def load_module_arrays(module: nn.Module, arrays: dict[str, Any]) -> None:
    """Load arrays written by :func:`module_arrays` (shapes and names must match)."""
    device = next(iter(module.state_dict().values())).device
    state = {k: torch.as_tensor(np.asarray(v), device=device) for k, v in arrays.items()}
    module.load_state_dict(state, strict=True)
