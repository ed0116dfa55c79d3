"""CTGAN: conditional vector, training-by-sampling, options against mode collapse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ouroboros.errors import ConditionError, ParameterError
from ouroboros.synthesizers import load
from ouroboros.synthesizers.ctgan import CTGANSynthesizer, _ConditionSampler
from ouroboros.synthesizers.torch_utils.weights import module_arrays
from ouroboros.testing import contract_table

FAST = CTGANSynthesizer.test_params


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return contract_table(400, seed=4)


@pytest.fixture(scope="module")
def fitted(table) -> CTGANSynthesizer:
    return CTGANSynthesizer(seed=0, **FAST).fit(table)


def test_condition_sampler_uses_log_frequency_and_matching_rows():
    codes = [np.array([0] * 90 + [1] * 9 + [2] * 1), np.array([0, 1] * 50)]
    sampler = _ConditionSampler.from_codes(codes, [3, 2], torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    column, category = sampler.draw(20_000, gen, log_frequency=True)
    first = category[column == 0]
    shares = torch.bincount(first, minlength=3).double() / len(first)
    expected = np.log1p([90, 9, 1]) / np.log1p([90, 9, 1]).sum()
    assert np.allclose(shares.numpy(), expected, atol=0.02)
    rows = sampler.real_rows(column, category, gen).numpy()
    assert (np.where(column.numpy() == 0, codes[0][rows], codes[1][rows]) == category.numpy()).all()
    column, category = sampler.draw(20_000, gen, log_frequency=False)
    assert (category[column == 0] == 0).double().mean() > 0.85
    vector = sampler.vector(column[:5], category[:5])
    assert vector.shape == (5, 5) and torch.equal(vector.sum(dim=1), torch.ones(5))


def test_conditional_vector_covers_every_one_hot_column(fitted):
    assert fitted.discrete_ == fitted.transformer_.discrete_columns()
    widths = [fitted.transformer_.category_block(c) for c in fitted.discrete_]
    assert fitted.sampler_.dim == sum(stop - start for start, stop, _ in widths)


def test_native_conditions_on_a_category_and_on_a_pooled_one(fitted, table):
    out = fitted.sample(60, seed=1, conditions={"group": "b"})
    assert len(out) == 60 and (out["group"] == "b").all()
    counts = table["city"].value_counts()
    rare = counts.index[-1]  # 150 cities, 99 kept: the rarest are pooled into "other"
    out = fitted.sample(5, seed=2, conditions={"city": rare})
    assert (out["city"] == rare).all()


def test_conditions_that_cannot_be_met_raise(fitted):
    with pytest.raises(ConditionError, match="never occurs"):
        fitted.sample(5, conditions={"group": "zzz"})
    with pytest.raises(ConditionError, match="outside"):
        fitted.sample(5, conditions={"amount": (1e6, 2e6)})


def test_generator_follows_its_condition_after_training():
    gen = np.random.default_rng(0)
    n = 1000
    group = gen.choice(["a", "b", "c", "d"], size=n, p=[0.7, 0.2, 0.06, 0.04])
    value = {"a": 0.0, "b": 10.0, "c": 20.0, "d": 30.0}
    data = pd.DataFrame(
        {"group": group, "x": np.round([value[g] for g in group] + gen.normal(0, 1, n), 2)}
    )
    # log-frequency training conditions teach the generator its rare categories
    model = CTGANSynthesizer(seed=0, epochs=40, batch_size=100, log_frequency=True).fit(data)
    fake = model._draw(
        1000, np.random.default_rng(0), fixed=(0, model.transformer_.encode_condition("group", "d"))
    )
    decoded = model.transformer_.inverse_transform(fake, np.random.default_rng(0))
    assert (decoded["group"] == "d").mean() > 0.8


@pytest.mark.parametrize(
    "option", ["spectral_norm", "minibatch_discrimination", "feature_matching"]
)
def test_options_against_mode_collapse_train_and_sample(table, option):
    model = CTGANSynthesizer(seed=0, **FAST, **{option: True}).fit(table)
    out = model.sample(50, seed=1)
    assert len(out) == 50 and np.isfinite(model.history_.values["generator_loss"]).all()


def test_spectral_norm_bounds_the_critic_layers(table):
    model = CTGANSynthesizer(seed=0, spectral_norm=True, **FAST).fit(table)
    weight = model.critic_.hidden[0].weight.detach()
    assert torch.linalg.matrix_norm(weight, ord=2) < 1.2


def test_same_seed_same_weights_and_history(table):
    a = CTGANSynthesizer(seed=3, **FAST).fit(table)
    b = CTGANSynthesizer(seed=3, **FAST).fit(table)
    for key, value in module_arrays(a.generator_).items():
        assert np.array_equal(value, module_arrays(b.generator_)[key]), key
    assert a.history_.values == b.history_.values


def test_sampling_generator_is_the_moving_average_of_the_trained_one(table):
    """With ``ema_decay=0`` the average is the last weights; otherwise it lags them."""
    last = CTGANSynthesizer(seed=3, ema_decay=0.0, **FAST).fit(table)
    averaged = CTGANSynthesizer(seed=3, ema_decay=0.9, **FAST).fit(table)
    assert last.history_.values == averaged.history_.values  # the same training run
    a, b = module_arrays(last.generator_), module_arrays(averaged.generator_)
    assert not np.allclose(a["out.weight"], b["out.weight"])
    assert np.array_equal(a["body.0.bn.running_mean"], b["body.0.bn.running_mean"])


def test_model_file_keeps_history_and_condition_frequencies(fitted, tmp_path):
    back = load(fitted.save(tmp_path / "ctgan.ouro"))
    assert back.history_.values == fitted.history_.values
    assert torch.equal(back.sampler_.cdf, fitted.sampler_.cdf)
    pd.testing.assert_frame_equal(
        back.sample(20, seed=4, conditions={"group": "a"}),
        fitted.sample(20, seed=4, conditions={"group": "a"}),
    )


def test_held_out_signal_and_early_stopping(table):
    model = CTGANSynthesizer(seed=0, epochs=60, batch_size=100, early_stopping=True, patience=2)
    model.fit(table)
    values = model.history_.values
    assert len(values["validation"]) == len(values["critic_loss"]) <= 60
    assert model.history_.stopped in ("early_stopping", "epochs")


def test_table_without_categorical_columns():
    gen = np.random.default_rng(1)
    data = pd.DataFrame({"x": gen.normal(size=300).round(3), "y": gen.exponential(size=300)})
    out = CTGANSynthesizer(seed=0, **FAST).fit(data).sample(40, seed=0)
    assert list(out.columns) == ["x", "y"] and out.notna().all().all()


@pytest.mark.parametrize(
    "params",
    [
        {"pac": 0},
        {"batch_size": 3, "pac": 4},
        {"critic_lr": 0.0},
        {"spectral_norm": "yes"},
        {"critic_dropout": 1.0},
        {"ema_decay": -0.1},
    ],
)
def test_bad_parameters_are_named(table, params):
    with pytest.raises(ParameterError, match=next(iter(params))):
        CTGANSynthesizer(**params).fit(table)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ctgan", "tvae", "tabddpm"])
def test_memory_stays_bounded_with_300k_categories(name, tmp_path):
    """The one-hot width is capped by the transforms, so the networks, the conditional
    vector and the model file do not grow with the number of categories."""
    from ouroboros import synthesizers

    gen = np.random.default_rng(0)
    codes = np.repeat(np.arange(300_000), 2)
    data = pd.DataFrame(
        {
            "code": np.char.add("c", codes.astype(str)),
            "amount": gen.gamma(2.0, 10.0, len(codes)).round(2),
        }
    )
    model = synthesizers.create(name, seed=0, epochs=1, time_budget=3.0, n_threads=1)
    model.fit(data)
    assert model.transformer_.output_dim < 150
    out = model.sample(2000, seed=1, conditions={"code": "c123"})
    assert (out["code"] == "c123").all()
    assert model.save(tmp_path / "model.ouro").stat().st_size < 5_000_000
