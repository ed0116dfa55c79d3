"""Private-PGM estimation with measurements at a coarser resolution (grouped codes)."""

from __future__ import annotations

import numpy as np
import pytest

from ouroboros.synthesizers.marginal import marginal_counts
from ouroboros.synthesizers.pgm import Measurement, coarsen, estimate, refine


def test_coarsen_sums_groups_and_refine_is_its_adjoint():
    rng = np.random.default_rng(0)
    table = rng.random((6, 4))
    groups = (np.array([0, 0, 1, 1, 1, 2]), None)
    coarse = coarsen(table, groups)
    assert coarse.shape == (3, 4)
    np.testing.assert_allclose(coarse[1], table[2:5].sum(axis=0))
    other = rng.random((3, 4))
    # <coarsen(x), y> == <x, refine(y)>: the gradient of a grouped measurement is exact
    assert (coarse * other).sum() == pytest.approx((table * refine(other, groups)).sum())


def test_estimate_fits_a_coarse_pair_and_keeps_the_fine_one_way_marginals():
    rng = np.random.default_rng(1)
    n, size = 20_000, 16
    a = rng.integers(0, size, n)
    b = np.clip(a + rng.integers(-1, 2, n), 0, size - 1)
    codes = np.column_stack([a, b])
    sizes = (size, size)
    halves = np.repeat([0, 1, 2, 3], 4)  # 4 groups of 4 codes a column
    groups = (halves, halves)
    measured = [
        Measurement((0,), marginal_counts(codes, sizes, (0,)), 1.0),
        Measurement((1,), marginal_counts(codes, sizes, (1,)), 1.0),
        Measurement((0, 1), coarsen(marginal_counts(codes, sizes, (0, 1)), groups), 1.0, groups),
    ]
    model = estimate(sizes, measured, iterations=300)
    truth = marginal_counts(codes, sizes, (0, 1))
    fitted = model.marginal((0, 1))
    np.testing.assert_allclose(coarsen(fitted, groups), coarsen(truth, groups), rtol=0.02, atol=10)
    np.testing.assert_allclose(fitted.sum(axis=1), truth.sum(axis=1), rtol=0.02, atol=10)
    # the coarse pair alone carries the dependence: the model puts far more mass near the
    # diagonal than independence would
    near = np.abs(np.subtract.outer(np.arange(size), np.arange(size))) <= 4
    independent = np.outer(truth.sum(axis=1), truth.sum(axis=0)) / n
    assert fitted[near].sum() > independent[near].sum() + 0.3 * n
