"""Gaussian copula: marginals through the transforms, dependence through a correlation.

Every modelled column is mapped to a standard-normal score: numeric columns by
their quantile-to-normal transform; categorical columns (and missing-value
indicators) by the interval method, where category ``k`` owns the slice
``[F(k-1), F(k))`` of ``[0, 1]`` by its frequency and a uniform draw inside it is
sent through the normal quantile function. The correlation of these scores is
the copula. Categories are ordered along the table's first principal axis
(computed once on a subsample) so that their associations with the other columns
become monotone and survive the linear correlation, rather than depending on an
arbitrary alphabetical or frequency order.

References: Sklar (1959); Nelsen (2006), "An Introduction to Copulas"; Patki,
Wedge & Veeramachaneni (2016), "The Synthetic Data Vault" for the interval
treatment of categorical columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.special import ndtr, ndtri

from ouroboros.errors import check_param
from ouroboros.synthesizers.base import Synthesizer, Tags

_EPS = 1e-6
#: rows used to find the category order and to estimate the correlation
_ORDER_ROWS = 50_000


@dataclass(frozen=True)
class _Block:
    """A span of the encoded matrix seen as one latent normal score."""

    start: int
    stop: int
    discrete: bool  # a category/mode/missing block (one-hot or ordinal)
    onehot: bool


def _blocks(transformer) -> list[_Block]:
    blocks, start = [], 0
    for span in transformer.output_info:
        stop = start + span.width
        discrete = span.activation == "softmax" or span.kind in ("category", "missing", "mode")
        blocks.append(_Block(start, stop, discrete, span.activation == "softmax"))
        start = stop
    return blocks


def _first_axis(design: np.ndarray, iterations: int = 30) -> np.ndarray:
    """Leading right singular vector of ``design`` by power iteration (deterministic start)."""
    vector = np.ones(design.shape[1]) / np.sqrt(design.shape[1])
    for _ in range(iterations):
        vector = design.T @ (design @ vector)
        norm = np.linalg.norm(vector)
        if norm == 0:
            break
        vector /= norm
    return vector


def _levels(matrix: np.ndarray, block: _Block) -> np.ndarray:
    """The values a discrete block takes: one-hot positions, or the ordinal levels seen."""
    if block.onehot:
        return np.arange(block.stop - block.start, dtype=np.float64)
    return np.unique(matrix[:, block.start]).astype(np.float64)


def _codes(matrix: np.ndarray, block: _Block, levels: np.ndarray) -> np.ndarray:
    """Index into ``levels`` of every row of a discrete block."""
    if block.onehot:
        return np.argmax(matrix[:, block.start : block.stop], axis=1)
    position = np.searchsorted(levels, matrix[:, block.start].astype(np.float64))
    return np.clip(position, 0, len(levels) - 1)


class GaussianCopulaSynthesizer(Synthesizer):
    """Gaussian copula over normal scores of every column.

    Parameters
    ----------
    seed:
        Seed of the instance's random generator (same seed, same fit and rows).
    correlation_rows:
        Rows sampled (without replacement) to estimate the correlation and the
        category order; enough for a stable estimate, and keeps 1M-row fits fast.
    """

    name: ClassVar[str] = "gaussian_copula"
    tags: ClassVar[Tags] = Tags(conditioning="rejection")

    def __init__(self, *, seed: int | None = None, correlation_rows: int = 200_000):
        self.seed = seed
        self.correlation_rows = correlation_rows

    def _check_params(self) -> None:
        super()._check_params()
        check_param(
            "correlation_rows",
            self.correlation_rows,
            isinstance(self.correlation_rows, int) and self.correlation_rows >= 2,
            "an integer >= 2",
        )

    def _transformer_options(self) -> dict[str, Any]:
        return {"numeric": "quantile", "categorical": "ordinal"}

    # --------------------------------------------------------------- fit
    def _fit(self, matrix: np.ndarray, rng: np.random.Generator) -> None:
        blocks = _blocks(self.transformer_)
        n = len(matrix)
        self.levels_ = [_levels(matrix, b) if b.discrete else np.zeros(0) for b in blocks]
        counts = {
            i: np.bincount(_codes(matrix, b, self.levels_[i]), minlength=len(self.levels_[i]))
            for i, b in enumerate(blocks)
            if b.discrete
        }
        rows = np.sort(rng.choice(n, size=min(n, self.correlation_rows), replace=False))
        sub = matrix[rows]
        codes = {i: _codes(sub, b, self.levels_[i]) for i, b in enumerate(blocks) if b.discrete}
        self.orders_ = self._category_orders(sub, blocks, codes)
        self.cumulative_ = [
            np.concatenate([[0.0], np.cumsum(counts[i][self.orders_[i]]) / n])
            if b.discrete
            else np.zeros(0)
            for i, b in enumerate(blocks)
        ]
        scores = self._scores(sub, blocks, codes, rng)
        self.correlation_ = self._correlation(scores)

    def _category_orders(self, sub, blocks, codes) -> list[np.ndarray]:
        """Order each discrete block's categories by their mean first-principal-axis score."""
        n = len(sub)
        parts = []
        for i, block in enumerate(blocks):
            if block.discrete:
                width = len(self.levels_[i])
                onehot = np.zeros((n, width), dtype=np.float32)
                onehot[np.arange(n), codes[i]] = 1.0
                parts.append(onehot)
            else:
                parts.append(sub[:, block.start : block.stop])
        orders: list[np.ndarray] = []
        design = np.hstack(parts) if parts else np.zeros((n, 0))
        axis_scores = None
        if design.shape[1] > 1 and n > 2:
            head = design[: min(n, _ORDER_ROWS)].astype(np.float64)
            head = head - head.mean(axis=0)
            scale = head.std(axis=0)
            head = head / np.where(scale > 0, scale, 1.0)
            axis_scores = head @ _first_axis(head)
        for i, block in enumerate(blocks):
            if not block.discrete:
                orders.append(np.zeros(0, dtype=np.int64))
                continue
            width = len(self.levels_[i])
            if axis_scores is None:
                orders.append(np.arange(width))
                continue
            code = codes[i][: len(axis_scores)]
            sums = np.bincount(code, weights=axis_scores, minlength=width)
            counts = np.bincount(code, minlength=width)
            means = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
            orders.append(np.argsort(means, kind="stable"))
        return orders

    def _scores(self, matrix, blocks, codes, rng) -> np.ndarray:
        """Standard-normal scores of every block (one column each)."""
        out = np.empty((len(matrix), len(blocks)), dtype=np.float64)
        for i, block in enumerate(blocks):
            if not block.discrete:
                out[:, i] = matrix[:, block.start]
                continue
            rank = np.argsort(self.orders_[i])[codes[i]]
            low, high = self.cumulative_[i][rank], self.cumulative_[i][rank + 1]
            u = low + rng.random(len(matrix)) * (high - low)
            out[:, i] = ndtri(np.clip(u, _EPS, 1 - _EPS))
        return out

    @staticmethod
    def _correlation(scores: np.ndarray) -> np.ndarray:
        d = scores.shape[1]
        if len(scores) < 2 or d == 0:
            return np.eye(d)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.corrcoef(scores, rowvar=False)
        corr = np.atleast_2d(np.nan_to_num(corr, nan=0.0))
        np.fill_diagonal(corr, 1.0)
        values, vectors = np.linalg.eigh(corr)
        corr = (vectors * np.clip(values, 1e-6, None)) @ vectors.T
        scale = np.sqrt(np.diag(corr))
        return corr / np.outer(scale, scale)

    # --------------------------------------------------------------- sample
    def _latent(self, n: int, rng: np.random.Generator) -> np.ndarray:
        chol = np.linalg.cholesky(self.correlation_)
        return rng.standard_normal((n, len(chol))) @ chol.T

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        blocks = _blocks(self.transformer_)
        z = self._latent(n, rng)
        out = np.zeros((n, self.transformer_.output_dim), dtype=np.float32)
        for i, block in enumerate(blocks):
            if not block.discrete:
                out[:, block.start] = z[:, i]
                continue
            rank = np.searchsorted(self.cumulative_[i], ndtr(z[:, i]), side="right") - 1
            rank = np.clip(rank, 0, len(self.orders_[i]) - 1)
            code = self.orders_[i][rank]
            if block.onehot:
                out[np.arange(n), block.start + code] = 1.0
            else:
                out[:, block.start] = self.levels_[i][code]
        return out

    # --------------------------------------------------------------- state
    def _get_state(self) -> dict[str, Any]:
        return {
            "correlation": self.correlation_,
            "levels": list(self.levels_),
            "orders": list(self.orders_),
            "cumulative": list(self.cumulative_),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self.correlation_ = np.asarray(state["correlation"], dtype=np.float64)
        self.levels_ = [np.asarray(v, dtype=np.float64) for v in state["levels"]]
        self.orders_ = [np.asarray(o, dtype=np.int64) for o in state["orders"]]
        self.cumulative_ = [np.asarray(c, dtype=np.float64) for c in state["cumulative"]]
