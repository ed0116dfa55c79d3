"""Round trips and edge cases of the numeric encoders and the mixture fit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ouroboros.errors import DataError, NotFittedError, ParameterError
from ouroboros.transforms import ModeEncoder, QuantileEncoder, StandardEncoder
from ouroboros.transforms.encoders import ENCODERS
from ouroboros.transforms.mixture import dirichlet_process_mixture, group_values

FACTORIES = {
    "standard": StandardEncoder,
    "quantile": lambda: QuantileEncoder(max_rows=50),
    "mode": lambda: ModeEncoder(max_modes=5, max_rows=60),
}

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
values_strategy = st.one_of(
    arrays(np.float64, st.integers(1, 120), elements=finite),
    # heavy ties and a far outlier: a spike plus tails, as in capital-gain
    st.builds(
        lambda n, spike, tail: np.concatenate([np.full(n, spike), tail]),
        st.integers(1, 80),
        finite,
        arrays(np.float64, st.integers(0, 20), elements=finite),
    ),
)


@pytest.mark.parametrize("name", sorted(FACTORIES))
@given(values=values_strategy, seed=st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_round_trip_is_exact_up_to_float_error(name, values, seed):
    encoder = FACTORIES[name]().fit(values, np.random.default_rng(seed))
    block = encoder.transform(values, np.random.default_rng(seed + 1))
    assert block.shape == (len(values), encoder.width)
    scale = max(1.0, float(np.ptp(values)), float(np.abs(values).max()))
    np.testing.assert_allclose(encoder.inverse(block), values, rtol=0, atol=1e-9 * scale)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_round_trip_survives_state(name, rng):
    values = np.concatenate([rng.normal(0, 1, 300), rng.normal(50, 3, 100)])
    encoder = FACTORIES[name]().fit(values, rng)
    clone = ENCODERS[name].from_state(encoder.to_state())
    block = encoder.transform(values)
    np.testing.assert_array_equal(clone.transform(values), block)
    np.testing.assert_array_equal(clone.inverse(block), encoder.inverse(block))


@given(block=arrays(np.float64, (30, 1), elements=st.floats(-50, 50)))
@settings(max_examples=30, deadline=None)
def test_quantile_inverse_stays_within_the_training_range(block):
    values = np.random.default_rng(0).lognormal(size=200)
    encoder = QuantileEncoder().fit(values, np.random.default_rng(1))
    out = encoder.inverse(block)
    assert out.min() >= values.min() and out.max() <= values.max()


def test_mode_encoder_spans_and_tanh_range(rng):
    values = np.concatenate([rng.normal(-10, 1, 2000), rng.normal(10, 1, 2000)])
    encoder = ModeEncoder(max_modes=10).fit(values, rng)
    spans = encoder.spans("x")
    assert [(s.kind, s.activation) for s in spans] == [("value", "tanh"), ("mode", "softmax")]
    block = encoder.transform(values, rng)
    assert np.abs(block[:, 0]).max() <= 1.0
    np.testing.assert_array_equal(block[:, 1:].sum(axis=1), 1.0)
    # the two clusters land on disjoint modes
    left = set(np.argmax(block[:2000, 1:], axis=1))
    right = set(np.argmax(block[2000:, 1:], axis=1))
    assert not left & right


def test_mode_encoder_covers_outliers_with_a_catch_all_mode(rng):
    values = np.concatenate([np.zeros(5000), rng.uniform(1000, 5000, 200), [99_999.0] * 3])
    encoder = ModeEncoder(max_modes=3, max_rows=1000).fit(values, rng)
    assert encoder.n_modes <= 3
    block = encoder.transform(values, rng)
    assert np.abs(block[:, 0]).max() <= 1.0
    np.testing.assert_allclose(encoder.inverse(block), values, atol=1e-7)


def test_mode_encoder_gives_heavy_values_a_point_mode(rng):
    values = np.concatenate([np.zeros(900), rng.lognormal(8, 1, 100)])
    encoder = ModeEncoder().fit(values, rng)
    zero = int(np.flatnonzero(encoder.means_ == 0)[0])
    assert encoder.stds_[zero] == 0 and encoder.weights_[zero] == pytest.approx(0.9)
    block = encoder.transform(values, rng)
    assert (np.argmax(block[:900, 1:], axis=1) == zero).all()
    assert (np.argmax(block[900:, 1:], axis=1) != zero).all()
    np.testing.assert_allclose(encoder.inverse(block), values, rtol=1e-12)
    # whatever scalar a generator puts beside the point mode, it decodes to the point
    block[:900, 0] = rng.uniform(-1, 1, 900)
    assert (encoder.inverse(block)[:900] == 0).all()


def test_mode_encoder_of_point_values_only_sends_unseen_values_to_the_nearest(rng):
    values = rng.choice([0.0, 1.0, 5.0], size=600)
    encoder = ModeEncoder(point_share=0.1).fit(values, rng)
    assert (encoder.stds_ == 0).sum() == 3
    np.testing.assert_array_equal(encoder.inverse(encoder.transform(values, rng)), values)
    np.testing.assert_array_equal(encoder.inverse(encoder.transform(np.array([0.4, 4.0]))), [0, 5])


def test_mode_encoder_without_point_modes_matches_a_narrow_share():
    values = np.random.default_rng(0).normal(0, 1, 2000).round(1)  # no value holds 5%
    encoder = ModeEncoder().fit(values, np.random.default_rng(0))
    assert (encoder.stds_ > 0).all()


def test_mode_encoder_clips_unseen_values_to_a_band(rng):
    encoder = ModeEncoder().fit(rng.normal(0, 1, 500), rng)
    block = encoder.transform(np.array([1e6, -1e6]), rng)
    assert np.abs(block[:, 0]).max() == 1.0


def test_mode_encoder_samples_modes_from_the_posterior():
    values = np.random.default_rng(0).normal(0, 1, 3000)
    encoder = ModeEncoder(max_modes=2).fit(values, np.random.default_rng(0))
    # force two identical, overlapping modes: the posterior is 50/50 for every value
    encoder.means_, encoder.stds_ = np.array([0.0, 0.0]), np.array([1.0, 1.0])
    encoder.weights_ = np.array([0.5, 0.5])
    drawn = encoder.transform(values, np.random.default_rng(1))[:, 2].mean()
    assert 0.45 < drawn < 0.55
    assert encoder.transform(values)[:, 2].sum() == 0  # without rng: the first maximum


def test_constant_values_encode_to_one_mode(rng):
    values = np.full(40, 3.25)
    for name, factory in FACTORIES.items():
        encoder = factory().fit(values, rng)
        np.testing.assert_allclose(encoder.inverse(encoder.transform(values, rng)), values)
        assert encoder.width >= 1, name


def test_mixture_recovers_two_separated_modes():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(0, 1, 6000), rng.normal(12, 0.5, 2000)])
    means, stds, weights = dirichlet_process_mixture(*group_values(values, 1024), 10, rng)
    # like scikit-learn's fit after 100 iterations, a cluster may be split in several
    used = weights > 0.005
    right = used & (means > 6)
    assert np.isclose(weights[right].sum(), 0.25, atol=0.01)
    assert np.isclose(weights[used & (means < 6)].sum(), 0.75, atol=0.01)
    np.testing.assert_allclose(means[right], 12, atol=0.1)
    np.testing.assert_allclose(stds[right], 0.5, atol=0.1)
    np.testing.assert_allclose(means[used & ~right], 0, atol=0.5)


def test_group_values_keeps_counts_means_and_spread():
    values = np.random.default_rng(0).normal(size=10_001)
    points, counts, variances = group_values(values, 100)
    assert len(points) == 100 and counts.sum() == len(values)
    assert np.isclose((counts * points).sum() / counts.sum(), values.mean())
    total_variance = (counts * ((points - values.mean()) ** 2 + variances)).sum() / counts.sum()
    assert np.isclose(total_variance, values.var())
    assert np.all(np.diff(points) > 0)


def test_encoders_reject_bad_input(rng):
    with pytest.raises(NotFittedError):
        StandardEncoder().transform(np.ones(3))
    with pytest.raises(DataError, match="finite"):
        StandardEncoder().fit(np.array([1.0, np.nan]), rng)
    with pytest.raises(DataError, match="zero values"):
        QuantileEncoder().fit(np.array([]), rng)
    with pytest.raises(ParameterError, match="max_modes"):
        ModeEncoder(max_modes=0).fit(np.ones(3), rng)
    with pytest.raises(ParameterError, match="point_share"):
        ModeEncoder(point_share=0).fit(np.ones(3), rng)
    with pytest.raises(ParameterError, match="max_rows"):
        QuantileEncoder(max_rows=1).fit(np.ones(3), rng)
    encoder = StandardEncoder().fit(np.arange(4.0), rng)
    with pytest.raises(ParameterError, match="out"):
        encoder.transform(np.arange(4.0), out=np.empty((3, 1)))


def test_quantile_scores_are_normal_and_point_masses_keep_their_weight(rng):
    values = np.where(rng.random(20_000) < 0.9, 0.0, rng.lognormal(8, 1, 20_000).round())
    encoder = QuantileEncoder().fit(values, rng)
    scores = encoder.transform(values, rng)[:, 0]
    assert abs(scores.mean()) < 0.03 and abs(scores.std() - 1) < 0.03
    assert abs((scores < 0).mean() - 0.5) < 0.02
    drawn = encoder.inverse(rng.normal(size=(20_000, 1)))
    assert abs((drawn == 0).mean() - 0.9) < 0.01


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_round_trip_through_float32_storage(name, rng):
    # a spike, rare far-apart values and a dense bulk, as in capital-gain
    values = np.concatenate(
        [np.zeros(4000), rng.integers(1000, 99_999, 60), rng.normal(500, 50, 2000).round(2)]
    )
    factory = {"quantile": QuantileEncoder, "mode": ModeEncoder}.get(name, StandardEncoder)
    encoder = factory().fit(values, rng)
    stored = encoder.transform(values, rng).astype(np.float32)
    error = np.abs(encoder.inverse(stored) - values).max()
    assert error < 0.005 if name != "standard" else error < 0.05
