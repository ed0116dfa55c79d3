"""TVAE: ELBO terms, KL per latent dimension, early stopping, the model file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ouroboros.errors import ParameterError
from ouroboros.synthesizers import load
from ouroboros.synthesizers.torch_utils.weights import module_arrays
from ouroboros.synthesizers.tvae import TVAESynthesizer
from ouroboros.testing import contract_table

FAST = TVAESynthesizer.test_params


# ------------------------------------------------------------------ TVAE
@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return contract_table(400, seed=3)


def test_records_reconstruction_and_kl_per_latent_dimension(table):
    model = TVAESynthesizer(seed=0, latent_dim=8, **FAST).fit(table)
    values = model.history_.values
    assert len(values["reconstruction"]) == 3 and len(values["kl"]) == 3
    per_dim = np.asarray(values["kl_per_dim"])
    assert per_dim.shape == (3, 8) and (per_dim >= 0).all()
    assert np.allclose(per_dim.sum(axis=1), values["kl"], rtol=1e-4)


def test_posterior_collapse_is_visible_with_a_heavy_kl_weight(table):
    heavy = TVAESynthesizer(seed=0, latent_dim=8, kl_weight=50.0, epochs=15, batch_size=64)
    light = TVAESynthesizer(seed=0, latent_dim=8, kl_weight=0.1, epochs=15, batch_size=64)
    heavy.fit(table)
    light.fit(table)
    assert len(heavy.inactive_latents()) > len(light.inactive_latents())
    assert heavy.history_.values["kl"][-1] < light.history_.values["kl"][-1]


def test_same_seed_same_weights(table):
    a = TVAESynthesizer(seed=5, **FAST).fit(table)
    b = TVAESynthesizer(seed=5, **FAST).fit(table)
    c = TVAESynthesizer(seed=6, **FAST).fit(table)
    for key, value in module_arrays(a.decoder_).items():
        assert np.array_equal(value, module_arrays(b.decoder_)[key])
    assert not np.array_equal(
        module_arrays(a.decoder_)["out.weight"], module_arrays(c.decoder_)["out.weight"]
    )


def test_fitting_leaves_global_torch_state_alone(table):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    TVAESynthesizer(seed=0, **FAST).fit(table)
    assert torch.equal(torch.rand(3), expected)


def test_model_file_keeps_history_and_samples(table, tmp_path):
    model = TVAESynthesizer(seed=0, **FAST).fit(table)
    path = model.save(tmp_path / "tvae.ouro")
    back = load(path)
    assert back.history_.values["kl_per_dim"] == model.history_.values["kl_per_dim"]
    pd.testing.assert_frame_equal(back.sample(30, seed=2), model.sample(30, seed=2))


def test_early_stopping_and_time_budget(table):
    stopped = TVAESynthesizer(seed=0, epochs=200, batch_size=64, early_stopping=True, patience=2)
    stopped.fit(table)
    assert stopped.history_.stopped == "early_stopping"
    assert len(stopped.history_.values["validation"]) < 200
    budget = TVAESynthesizer(seed=0, epochs=10_000, batch_size=64, time_budget=0.5).fit(table)
    assert budget.history_.stopped == "time_budget"


def test_learns_a_bimodal_column():
    gen = np.random.default_rng(0)
    n = 1500
    group = gen.choice(["low", "high"], size=n)
    value = np.where(group == "low", gen.normal(0, 1, n), gen.normal(50, 1, n)).round(2)
    data = pd.DataFrame({"group": group, "value": value})
    out = TVAESynthesizer(seed=0, epochs=30, batch_size=100).fit(data).sample(1000, seed=1)
    low = out.loc[out["group"] == "low", "value"]
    high = out.loc[out["group"] == "high", "value"]
    assert 0.3 < len(low) / len(out) < 0.7
    assert abs(low.median()) < 5 and abs(high.median() - 50) < 5


@pytest.mark.parametrize(
    "params",
    [{"epochs": 0}, {"batch_size": 1}, {"kl_weight": -1.0}, {"device": "gpu0"}, {"layers": -1}],
)
def test_bad_parameters_are_named(table, params):
    name = next(iter(params))
    with pytest.raises(ParameterError, match=name):
        TVAESynthesizer(**params).fit(table)


def test_conditions_by_rejection_including_a_pooled_category(table):
    model = TVAESynthesizer(seed=0, **FAST).fit(table)
    out = model.sample(30, seed=1, conditions={"group": "b"})
    assert len(out) == 30 and (out["group"] == "b").all()
    rare = table["city"].value_counts().index[-1]  # pooled into "other" (150 > 100 cities)
    out = model.sample(4, seed=2, conditions={"city": rare})
    assert (out["city"] == rare).all() and out["city"].dtype == table["city"].dtype
