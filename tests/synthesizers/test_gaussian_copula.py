"""The Gaussian copula's own behaviour, beyond the shared contract checks."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import ouroboros._threads as threads
from ouroboros.datasets import load
from ouroboros.synthesizers import create
from ouroboros.synthesizers.gaussian_copula import _standard_normal, _top


@pytest.fixture(scope="module")
def adult():
    return load("adult")


@pytest.fixture(scope="module")
def model(adult):
    return create("gaussian_copula", seed=0).fit(adult)


@given(rows=st.integers(1, 40), cols=st.integers(1, 7), seed=st.integers(0, 2**32))
@settings(max_examples=50, deadline=None)
def test_top_is_the_argmax_of_shifted_scores(rows, cols, seed):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((rows, cols)).astype(np.float32)
    shift = rng.standard_normal(rows).astype(np.float32)
    np.testing.assert_array_equal(_top(scores, shift), np.argmax(scores + shift[:, None], axis=0))


@pytest.mark.parametrize("shape", [(3, 7), (110, 16_384), (1, 1)])
def test_box_muller_normals_are_standard_normal(shape):
    draws = _standard_normal(np.random.default_rng(1), shape)
    assert draws.shape == shape and draws.dtype == np.float32
    if draws.size > 1000:
        assert stats.kstest(draws.ravel()[::7], "norm").pvalue > 1e-3
        assert abs(np.corrcoef(draws[0], draws[1])[0, 1]) < 0.05


def test_rows_do_not_depend_on_the_number_of_threads(model, monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 1)
    one = model.sample(40_000, seed=2)
    monkeypatch.setattr(threads, "cores", lambda: 4)
    pd.testing.assert_frame_equal(one, model.sample(40_000, seed=2))


def test_non_monotone_category_associations_survive(adult, model):
    """Relationship given sex is far from independent in Adult (husbands are men, wives
    women); one latent per category keeps most of it, an independent model none."""

    def error(table: pd.DataFrame) -> float:
        real = pd.crosstab(adult["sex"], adult["relationship"], normalize="index")
        fake = pd.crosstab(table["sex"], table["relationship"], normalize="index")
        return float((real - fake.reindex_like(real).fillna(0)).abs().to_numpy().max())

    floor = create("independent", seed=0).fit(adult).sample(20_000, seed=4)
    assert error(model.sample(20_000, seed=4)) < 0.5 * error(floor)


def test_threads_follow_the_blas_limit_in_force():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        assert threads.cores() == 1
    assert threads.cores() >= 1
