"""Strong model collapse on the reference OLS model (Dohmatob et al. 2024, "Strong Model
Collapse").

A regression is trained on T rows of which a fixed share π carry labels from a
synthetic generator, itself an OLS model fitted on ``generator_rows`` real rows (so its
coefficients are off by δ ~ N(0, σ²(X₀ᵀX₀)⁻¹)). The fitted coefficients tend to
(1−π)w* + π(w* + δ) as T grows, so the test error ‖ŵ − w*‖² tends to the floor π²‖δ‖²,
whose mean is π²σ²d/(T₀ − d − 1), instead of σ²d/(T − d − 1) → 0: more data stops
helping however small π is.

Vectorised over trials with exact Gram matrices: for a design with rows N(0, I_d) the
Gram matrix of k rows is Wishart(k, I_d), and the noise term Xᵀε given the Gram matrix G
is N(0, σ²G), so no T×d design is ever held in memory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from ouroboros.errors import ParameterError, check_param

#: below this many rows a Gram matrix is built from explicit rows (Wishart needs k >= d)
_EXPLICIT_ROWS = 64


def _gram(rows: int, dim: int, trials: int, rng: np.random.Generator) -> np.ndarray:
    """Gram matrices XᵀX of ``rows`` rows of N(0, I_dim), one per trial."""
    if rows == 0:
        return np.zeros((trials, dim, dim))
    if rows < max(_EXPLICIT_ROWS, dim):
        x = rng.standard_normal((trials, rows, dim))
        return x.transpose(0, 2, 1) @ x
    draws = stats.wishart(df=rows, scale=np.eye(dim)).rvs(size=trials, random_state=rng)
    return np.asarray(draws).reshape(trials, dim, dim)


def _noise_term(gram: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Xᵀε given XᵀX: N(0, σ²·XᵀX), one vector per trial."""
    chol = np.linalg.cholesky(gram)
    return noise * (chol @ rng.standard_normal(gram.shape[:2])[:, :, None])[..., 0]


def mixed_ols_error(
    sizes: Sequence[int],
    shares: Sequence[float],
    *,
    dim: int = 10,
    noise: float = 1.0,
    generator_rows: int = 50,
    trials: int = 400,
    seed: int | None = None,
) -> dict[str, np.ndarray]:
    """Test error ‖ŵ − w*‖² of OLS on T rows with a share π of synthetic labels.

    Returns ``error`` of shape ``(len(shares), len(sizes), trials)``, ``floor`` (the
    per-trial limit π²‖δ‖², same shape) and ``shift`` (‖δ‖² per trial). Every (share,
    size) uses the same generator error δ per trial, as one team's generator would be.
    """
    check_param("dim", dim, isinstance(dim, int) and dim >= 1, "a positive integer")
    check_param("noise", noise, isinstance(noise, (int, float)) and noise > 0, "positive")
    check_param(
        "generator_rows",
        generator_rows,
        isinstance(generator_rows, int) and generator_rows >= dim + 2,
        f"an integer >= dim + 2 = {dim + 2}",
    )
    check_param("trials", trials, isinstance(trials, int) and trials >= 2, "an integer >= 2")
    for size in sizes:
        if not (isinstance(size, (int, np.integer)) and size >= dim + 2):
            raise ParameterError(f"parameter 'sizes': every size must be >= dim + 2; got {size}")
    for share in shares:
        if not (isinstance(share, (int, float)) and 0 <= share < 1 and math.isfinite(share)):
            raise ParameterError(f"parameter 'shares': every share must be in [0, 1); got {share}")
    rng = np.random.default_rng(seed)
    g0 = _gram(generator_rows, dim, trials, rng)
    delta = np.linalg.solve(g0, _noise_term(g0, noise, rng)[:, :, None])[..., 0]
    shift = (delta**2).sum(axis=1)
    error = np.empty((len(shares), len(sizes), trials))
    for i, share in enumerate(shares):
        for j, size in enumerate(sizes):
            synthetic = round(share * size)
            g_real = _gram(int(size) - synthetic, dim, trials, rng)
            g_syn = _gram(synthetic, dim, trials, rng)
            gram = g_real + g_syn
            bias = (g_syn @ delta[:, :, None])[..., 0]
            offset = np.linalg.solve(gram, (bias + _noise_term(gram, noise, rng))[:, :, None])
            error[i, j] = (offset[..., 0] ** 2).sum(axis=1)
    floor = np.asarray(shares, dtype=float)[:, None, None] ** 2 * shift[None, None, :]
    return {"error": error, "floor": np.broadcast_to(floor, error.shape).copy(), "shift": shift}


def strong_collapse_floor(share: float, *, dim: int, noise: float, generator_rows: int) -> float:
    """The mean error floor π²σ²d/(T₀ − d − 1) that no amount of mixed data goes below."""
    return share**2 * noise**2 * dim / (generator_rows - dim - 1)
