"""Exact nearest-neighbour computations by blocked brute force.

Squared distances come from ``|q|^2 + |r|^2 - 2 q.r`` in blocks of rows, so
memory stays bounded and the work goes to BLAS; the distances of the
neighbours finally returned are recomputed directly, so that copies are at
distance exactly zero.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

#: elements of one block of the distance matrix (float64: 32 MB)
BLOCK_ELEMENTS = 4_000_000


def _blocks(queries: np.ndarray, refs: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """``(rows, squared distances of those query rows to every reference)``."""
    ref_sq = np.einsum("ij,ij->i", refs, refs)
    step = max(1, BLOCK_ELEMENTS // max(len(refs), 1))
    for start in range(0, len(queries), step):
        rows = slice(start, min(start + step, len(queries)))
        block = queries[rows]
        d2 = block @ refs.T
        d2 *= -2.0
        d2 += np.einsum("ij,ij->i", block, block)[:, None]
        d2 += ref_sq[None, :]
        np.maximum(d2, 0.0, out=d2)
        yield rows, d2


def _exact(queries: np.ndarray, refs: np.ndarray, index: np.ndarray) -> np.ndarray:
    diff = queries[:, None, :] - refs[index]
    return np.einsum("ijk,ijk->ij", diff, diff)


def nearest(queries: np.ndarray, refs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest references of every query: squared distances and indices, sorted."""
    k = min(k, len(refs))
    index = np.empty((len(queries), k), dtype=np.int64)
    for rows, d2 in _blocks(queries, refs):
        part = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < d2.shape[1] else np.argsort(d2)
        index[rows] = part[:, :k]
    dist = _exact(queries, refs, index)
    order = np.argsort(dist, axis=1, kind="stable")
    return np.take_along_axis(dist, order, axis=1), np.take_along_axis(index, order, axis=1)


def kth_radius(points: np.ndarray, k: int) -> np.ndarray:
    """Squared distance of every point to its ``k``-th nearest other point of the same set."""
    dist, _ = nearest(points, points, k + 1)
    # the point itself is among the k+1 (a duplicate may take its place at distance 0)
    return dist[:, -1]


def prdc_pass(
    fake: np.ndarray, real: np.ndarray, real_radius: np.ndarray, fake_radius: np.ndarray
) -> dict[str, np.ndarray]:
    """One pass over the fake-by-real squared distances for the manifold metrics.

    ``real_radius`` and ``fake_radius`` are squared k-NN radii. Returns, per
    fake row, ``in_real_ball`` (inside some real k-NN ball, ``<=``, Kynkäänniemi
    et al. 2019) and ``density_count`` (real balls holding it, strict ``<``,
    Naeem et al. 2020); per real row, ``nearest_fake`` and ``nearest_index``
    (squared distance to, and index of, the nearest fake row) and
    ``in_fake_ball`` (inside some fake k-NN ball, ``<=``).
    """
    in_real_ball = np.zeros(len(fake), dtype=bool)
    density_count = np.zeros(len(fake), dtype=np.int64)
    nearest_fake = np.full(len(real), np.inf)
    nearest_index = np.zeros(len(real), dtype=np.int64)
    in_fake_ball = np.zeros(len(real), dtype=bool)
    for rows, d2 in _blocks(fake, real):
        in_real_ball[rows] = (d2 <= real_radius[None, :]).any(axis=1)
        density_count[rows] = (d2 < real_radius[None, :]).sum(axis=1)
        closest = d2.argmin(axis=0)
        distance = d2[closest, np.arange(len(real))]
        better = distance < nearest_fake
        nearest_fake[better] = distance[better]
        nearest_index[better] = closest[better] + rows.start
        in_fake_ball |= (d2 <= fake_radius[rows, None]).any(axis=0)
    return {
        "in_real_ball": in_real_ball,
        "density_count": density_count,
        "nearest_fake": nearest_fake,
        "nearest_index": nearest_index,
        "in_fake_ball": in_fake_ball,
    }
