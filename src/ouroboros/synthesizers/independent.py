"""Independent marginals: every column drawn on its own.

The floor that every other generator must beat: marginals are kept (numeric
columns through their quantile transform, categories by frequency), and every
dependence between columns is thrown away.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ouroboros.synthesizers.base import Tags
from ouroboros.synthesizers.gaussian_copula import GaussianCopulaSynthesizer


class IndependentSynthesizer(GaussianCopulaSynthesizer):
    """Per-column marginals with no dependence (a copula with identity correlation)."""

    name: ClassVar[str] = "independent"
    tags: ClassVar[Tags] = Tags(conditioning="rejection")
    #: no correlation to estimate; a small subsample is enough for the bookkeeping
    correlation_rows: ClassVar[int] = 1_000

    def __init__(self, *, seed: int | None = None):
        self.seed = seed

    def _correlation(self, matrix: np.ndarray, blocks: list) -> np.ndarray:
        return np.eye(
            sum(len(v) if b.discrete else 1 for b, v in zip(blocks, self.levels_, strict=True))
        )

    def _latent(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((n, len(self.correlation_)), dtype=np.float32)
