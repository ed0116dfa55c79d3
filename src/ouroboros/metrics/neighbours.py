"""Exact nearest-neighbour computations by blocked brute force.

Squared distances come from ``|q|^2 + |r|^2 - 2 q.r`` in float32 blocks of
rows, so memory stays bounded and the work goes to BLAS. They only select
neighbours and count balls; the distances finally returned are recomputed
directly in float64, so that copies are at distance exactly zero. One pass
over a block serves every metric that needs it (the diversity and privacy
metrics share :func:`cross_pass`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

#: elements of one block of the distance matrix (float32: 16 MB)
BLOCK_ELEMENTS = 4_000_000
#: up to this many neighbours, repeated arg-minima beat a partition
_ARGMIN_MAX_K = 16


def _blocks(queries: np.ndarray, refs: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """``(rows, squared distances of those query rows to every reference)``, float32."""
    queries = queries.astype(np.float32)
    refs = refs.astype(np.float32)
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


def exact(queries: np.ndarray, refs: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Squared distances of each query row to the reference rows ``index`` (same shape)."""
    diff = queries.reshape(len(queries), *([1] * (index.ndim - 1)), -1) - refs[index]
    return np.einsum("...k,...k->...", diff, diff)


def nearest(queries: np.ndarray, refs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest references of every query: squared distances and indices, sorted."""
    k = min(k, len(refs))
    index = np.empty((len(queries), k), dtype=np.int64)
    for rows, d2 in _blocks(queries, refs):
        if k == d2.shape[1]:
            index[rows] = np.arange(k)
        elif k <= _ARGMIN_MAX_K:
            lines = np.arange(d2.shape[0])
            for j in range(k):
                index[rows, j] = d2.argmin(axis=1)
                d2[lines, index[rows, j]] = np.inf
        else:
            index[rows] = np.argpartition(d2, k - 1, axis=1)[:, :k]
    dist = exact(queries, refs, index)
    order = np.argsort(dist, axis=1, kind="stable")
    return np.take_along_axis(dist, order, axis=1), np.take_along_axis(index, order, axis=1)


def nearest_both_ways(queries: np.ndarray, refs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared distance of each query to its nearest reference, and of each reference to its
    nearest query, from one pass."""
    row_index = np.empty(len(queries), dtype=np.int64)
    col_best = np.full(len(refs), np.inf, dtype=np.float32)
    col_index = np.zeros(len(refs), dtype=np.int64)
    for rows, d2 in _blocks(queries, refs):
        row_index[rows] = d2.argmin(axis=1)
        closest = d2.argmin(axis=0)
        distance = d2[closest, np.arange(len(refs))]
        better = distance < col_best
        col_best[better] = distance[better]
        col_index[better] = closest[better] + rows.start
    return exact(queries, refs, row_index), exact(refs, queries, col_index)


def cross_pass(
    fake: np.ndarray,
    real: np.ndarray,
    real_radius: np.ndarray,
    fake_radius: np.ndarray,
    prefix: int,
) -> dict[str, np.ndarray]:
    """One pass over the fake-by-real squared distances for the diversity and privacy metrics.

    ``real_radius`` and ``fake_radius`` are squared k-NN radii. Per fake row:
    ``in_real_ball`` (inside some real k-NN ball, ``<=``, Kynkäänniemi et al.
    2019), ``density_count`` (real balls holding it, strict ``<``, Naeem et al.
    2020), ``nearest_two`` (squared distances to the two nearest real rows),
    ``nearest_index`` (index of the nearest) and ``nearest_prefix`` (squared
    distance to the nearest of the first ``prefix`` real rows). Per real row:
    ``nearest_fake`` and ``nearest_fake_index`` (the nearest fake row) and
    ``in_fake_ball`` (inside some fake k-NN ball, ``<=``).
    """
    n_fake, n_real = len(fake), len(real)
    out = {
        "in_real_ball": np.zeros(n_fake, dtype=bool),
        "density_count": np.zeros(n_fake, dtype=np.int64),
        "nearest_index": np.zeros(n_fake, dtype=np.int64),
        "second_index": np.zeros(n_fake, dtype=np.int64),
        "prefix_index": np.zeros(n_fake, dtype=np.int64),
        "nearest_fake_index": np.zeros(n_real, dtype=np.int64),
        "in_fake_ball": np.zeros(n_real, dtype=bool),
    }
    best = np.full(n_real, np.inf, dtype=np.float32)
    columns = np.arange(n_real)
    real_radius = real_radius.astype(np.float32)
    fake_radius = fake_radius.astype(np.float32)
    for rows, d2 in _blocks(fake, real):
        out["in_real_ball"][rows] = (d2 <= real_radius).any(axis=1)
        out["density_count"][rows] = (d2 < real_radius).sum(axis=1)
        out["in_fake_ball"] |= (d2 <= fake_radius[rows, None]).any(axis=0)
        closest = d2.argmin(axis=0)
        distance = d2[closest, columns]
        better = distance < best
        best[better] = distance[better]
        out["nearest_fake_index"][better] = closest[better] + rows.start
        out["prefix_index"][rows] = d2[:, :prefix].argmin(axis=1)
        first = d2.argmin(axis=1)
        out["nearest_index"][rows] = first
        if n_real > 1:
            d2[np.arange(len(first)), first] = np.inf
            out["second_index"][rows] = d2.argmin(axis=1)
    index = np.column_stack([out.pop("nearest_index"), out.pop("second_index")])
    two = exact(fake, real, index)
    swap = two[:, 1] < two[:, 0]
    two[swap] = two[swap][:, ::-1]
    index[swap] = index[swap][:, ::-1]
    out["nearest_two"] = two if n_real > 1 else two[:, :1]
    out["nearest_index"] = index[:, 0]
    out["nearest_prefix"] = exact(fake, real, out.pop("prefix_index"))
    out["nearest_fake"] = exact(real, fake, out["nearest_fake_index"])
    return out
