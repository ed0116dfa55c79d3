"""CTGAN's conditional vectors: training-by-sampling of Xu et al. (2019).

Xu, Skoularidou, Cuesta-Infante & Veeramachaneni (2019), "Modeling Tabular Data using
Conditional GAN": a condition picks one discrete column uniformly, then one of its
categories by (log-)frequency, and is paired with a real row that has it.
"""

from __future__ import annotations

import numpy as np
import torch


class ConditionSampler:
    """Conditional vectors and the real rows that match them (training-by-sampling).

    Every category of every discrete column has a global index into the conditional
    vector; rows are grouped by category once, so drawing a real row of category ``g``
    is one lookup.
    """

    def __init__(
        self,
        counts: list[np.ndarray],
        device: torch.device,
        codes: list[np.ndarray] | None = None,
    ):
        widths = [len(c) for c in counts]
        self.device = device
        self.n_columns = len(counts)
        self.widths = torch.as_tensor(widths, dtype=torch.long, device=device)
        self.offsets = torch.cumsum(self.widths, 0) - self.widths
        self.dim = int(sum(widths))
        padded = np.zeros((len(counts), max(widths, default=0)))
        for j, count in enumerate(counts):
            padded[j, : len(count)] = count
        flat = np.concatenate(counts) if counts else np.zeros(0)
        self.flat_count = torch.as_tensor(flat, dtype=torch.float64, device=device)
        self.log_cdf = self._cdf(np.log1p(padded))
        self.cdf = self._cdf(padded)
        if codes is not None:
            n = len(codes[0]) if codes else 0
            rows = [np.argsort(c, kind="stable") for c in codes]
            first = [j * n + np.cumsum(c) - c for j, c in enumerate(counts)]
            self.rows = torch.as_tensor(
                np.concatenate(rows or [[]]).astype(np.int64), device=device
            )
            self.first = torch.as_tensor(
                np.concatenate(first or [[]]).astype(np.int64), device=device
            )

    @classmethod
    def from_codes(
        cls, codes: list[np.ndarray], widths: list[int], device: torch.device
    ) -> ConditionSampler:
        counts = [
            np.bincount(c, minlength=w).astype(np.float64)
            for c, w in zip(codes, widths, strict=True)
        ]
        return cls(counts, device, codes)

    def _cdf(self, weights: np.ndarray) -> torch.Tensor:
        totals = np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
        cdf = np.cumsum(weights / totals, axis=1)
        cdf[:, -1:] = 1.0 + 1e-6  # so that u < 1 always finds a category
        return torch.as_tensor(cdf, dtype=torch.float64, device=self.device)

    def draw(
        self, n: int, generator: torch.Generator, log_frequency: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(column, category)`` of ``n`` conditions: columns uniform, categories by
        log-frequency (training) or frequency (sampling)."""
        column = torch.randint(self.n_columns, (n,), generator=generator, device=self.device)
        cdf = (self.log_cdf if log_frequency else self.cdf)[column]
        u = torch.rand((n, 1), generator=generator, device=self.device, dtype=torch.float64)
        category = torch.searchsorted(cdf, u).squeeze(1)
        category = torch.minimum(category, self.widths[column] - 1)
        return column, category

    def vector(self, column: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        out = torch.zeros((len(column), self.dim), device=self.device)
        out[torch.arange(len(column), device=self.device), self.offsets[column] + category] = 1
        return out

    def real_rows(
        self, column: torch.Tensor, category: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """A random training row having each ``(column, category)``."""
        g = self.offsets[column] + category
        u = torch.rand(len(g), generator=generator, device=self.device, dtype=torch.float64)
        pick = (u * self.flat_count[g]).long()
        return self.rows[self.first[g] + pick]
