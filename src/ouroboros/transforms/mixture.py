"""A one-dimensional variational Gaussian mixture with a Dirichlet-process prior.

The model of scikit-learn's ``BayesianGaussianMixture`` (stick-breaking prior on
the weights, Gauss-Wishart prior on each component; Blei & Jordan 2006,
"Variational inference for Dirichlet process mixtures"; Bishop 2006, "Pattern
Recognition and Machine Learning", section 10.2), written for one dimension and
run on groups of sorted values (count, mean, within-group variance) instead of
rows. With the responsibilities shared inside a group, the updates are exact
sums over the rows, and a fit costs groups x components instead of rows x
components: a few milliseconds per column.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, logsumexp

_EPS = 10 * np.finfo(np.float64).eps
_REG_COVAR = 1e-6


def group_values(values: np.ndarray, max_groups: int) -> tuple[np.ndarray, ...]:
    """Sorted values as (means, counts, variances) of at most ``max_groups`` runs.

    Distinct values are their own group when there are few enough; otherwise
    the sorted values are cut into runs of (nearly) equal size.
    """
    distinct, counts = np.unique(values, return_counts=True)
    if len(distinct) <= max_groups:
        return distinct, counts.astype(np.float64), np.zeros(len(distinct))
    ordered = np.sort(values)
    starts = np.linspace(0, len(ordered), max_groups + 1).astype(np.int64)[:-1]
    starts = np.unique(starts)
    counts = np.diff(np.append(starts, len(ordered))).astype(np.float64)
    means = np.add.reduceat(ordered, starts) / counts
    squares = np.add.reduceat(ordered**2, starts) / counts
    return means, counts, np.maximum(squares - means**2, 0.0)


def _kmeans(points: np.ndarray, counts: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Weighted k-means++ seeding then Lloyd steps; returns each point's cluster."""
    centers = [points[rng.choice(len(points), p=counts / counts.sum())]]
    for _ in range(1, k):
        distance = np.min((points[:, None] - np.array(centers)) ** 2, axis=1) * counts
        if distance.sum() <= 0:
            break
        centers.append(points[rng.choice(len(points), p=distance / distance.sum())])
    centers = np.array(centers)
    for _ in range(10):
        labels = np.argmin(np.abs(points[:, None] - centers), axis=1)
        mass = np.bincount(labels, weights=counts, minlength=len(centers))
        moved = np.bincount(labels, weights=counts * points, minlength=len(centers))
        centers = np.where(mass > 0, moved / np.maximum(mass, _EPS), centers)
    return np.argmin(np.abs(points[:, None] - centers), axis=1)


def dirichlet_process_mixture(
    points: np.ndarray,
    counts: np.ndarray,
    variances: np.ndarray,
    n_components: int,
    rng: np.random.Generator,
    *,
    concentration: float = 1e-3,
    max_iter: int = 100,
    tol: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit the mixture to grouped data; return ``(means, stds, weights)`` of every component.

    Priors follow scikit-learn's defaults: mean prior the data mean with
    precision 1, one degree of freedom, covariance prior the data variance.
    """
    total = counts.sum()
    mean_prior = float(np.sum(counts * points) / total)
    covariance_prior = float(np.sum(counts * ((points - mean_prior) ** 2 + variances)) / total)
    covariance_prior = max(covariance_prior, _REG_COVAR)
    labels = _kmeans(points, counts, n_components, rng)
    resp = np.zeros((len(points), n_components))
    resp[np.arange(len(points)), labels] = 1.0
    previous = None
    for _ in range(max_iter):
        # M-step: variational posteriors of the weights, means and precisions.
        weighted = resp * counts[:, None]
        nk = weighted.sum(axis=0) + _EPS
        xk = weighted.T @ points / nk
        sk = (weighted * ((points[:, None] - xk) ** 2 + variances[:, None])).sum(axis=0) / nk
        sk += _REG_COVAR
        tail = np.concatenate((np.cumsum(nk[::-1])[-2::-1], [0.0]))
        sticks = (1.0 + nk, concentration + tail)
        mean_precision = 1.0 + nk
        means = (mean_prior + nk * xk) / mean_precision
        dof = 1.0 + nk
        covariances = (covariance_prior + nk * (sk + (xk - mean_prior) ** 2 / mean_precision)) / dof
        current = np.concatenate((nk / total, means))
        if previous is not None and np.max(np.abs(current - previous)) < tol:
            break
        previous = current
        # E-step: responsibilities from the expected log weights and log densities.
        digamma_sum = digamma(sticks[0] + sticks[1])
        log_weights = digamma(sticks[0]) - digamma_sum
        log_weights[1:] += np.cumsum(digamma(sticks[1]) - digamma_sum)[:-1]
        precision = 1.0 / covariances
        log_density = (
            -0.5 * np.log(2 * np.pi)
            + 0.5 * np.log(precision)
            - 0.5 * precision * ((points[:, None] - means) ** 2 + variances[:, None])
            - 0.5 * np.log(dof)
            + 0.5 * (np.log(2.0) + digamma(0.5 * dof) - 1.0 / mean_precision)
        )
        log_resp = log_weights + log_density
        resp = np.exp(log_resp - logsumexp(log_resp, axis=1, keepdims=True))
    share = sticks[0] / (sticks[0] + sticks[1])
    weights = share * np.concatenate(([1.0], np.cumprod(sticks[1] / (sticks[0] + sticks[1]))[:-1]))
    return means, np.sqrt(covariances), weights / weights.sum()
