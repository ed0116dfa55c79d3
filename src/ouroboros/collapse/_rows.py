"""Rows of the reference models, vectorised over trials, and the selections strategies make.

A block of rows is a tuple of arrays of shape ``(trials, n)`` (one array per variable);
a strategy's :meth:`~ouroboros.collapse.strategies.Strategy.reference_step` builds the
next training set from such blocks with the helpers here.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

Rows = tuple[np.ndarray, ...]
Params = dict[str, np.ndarray]


class ReferenceModel(Protocol):
    """What a reference model offers a strategy's reference step."""

    def truth(self, trials: int) -> Params:
        """The true parameters, one row per trial."""

    def sample(self, params: Params, n: int, rng: np.random.Generator) -> Rows:
        """``n`` rows per trial from the model with ``params``."""

    def log_ratio(self, rows: Rows, params: Params) -> np.ndarray:
        """log p_true(row) - log p_model(row): the oracle verifier's score."""


def concat(blocks: list[Rows]) -> Rows:
    """The blocks side by side: every trial's rows of all blocks."""
    return tuple(np.concatenate(parts, axis=1) for parts in zip(*blocks, strict=True))


def take(rows: Rows, index: np.ndarray) -> Rows:
    """Per trial, the rows at ``index`` (shape ``(trials, k)``)."""
    return tuple(np.take_along_axis(part, index, axis=1) for part in rows)


def where(mask: np.ndarray, a: Rows, b: Rows) -> Rows:
    """Rows of ``a`` where ``mask`` holds, else of ``b``."""
    return tuple(np.where(mask, x, y) for x, y in zip(a, b, strict=True))


def smallest(keys: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k smallest keys of each row (k >= 1)."""
    if k >= keys.shape[1]:
        return np.broadcast_to(np.arange(keys.shape[1]), keys.shape).copy()
    return np.argpartition(keys, k - 1, axis=1)[:, :k]


def slots(trials: int, size: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """A mask with exactly k True slots per trial, chosen uniformly."""
    mask = np.zeros((trials, size), dtype=bool)
    if k:
        np.put_along_axis(mask, smallest(rng.random((trials, size)), k), True, axis=1)
    return mask


class CorrectedModel:
    """A reference model whose samples pass the ideal corrector of strength ``gamma``
    (Gillman et al. 2024, "Self-Correcting Self-Consuming Loops for Generative Model
    Training"): each row is replaced, with probability γ/(1 + γ), by a draw from the truth,
    so the model's distribution p becomes (p + γ·p*)/(1 + γ)."""

    def __init__(self, model: Any, gamma: float):
        self.model, self.share = model, gamma / (1.0 + gamma)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def sample(self, params: Params, n: int, rng: np.random.Generator) -> Rows:
        drawn = self.model.sample(params, n, rng)
        trials = drawn[0].shape[0]
        truth = self.model.sample(self.model.truth(trials), n, rng)
        return where(rng.random((trials, n)) < self.share, truth, drawn)
