"""DP-SGD for the neural generators: the accountant, the calibration to the real step
count, the networks that see rows, CTGAN's conditional frequencies, the model file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("opacus")

from opacus.accountants import RDPAccountant  # noqa: E402
from opacus.validators import ModuleValidator  # noqa: E402

from ouroboros.errors import ParameterError, SchemaError  # noqa: E402
from ouroboros.schema import Schema  # noqa: E402
from ouroboros.synthesizers import ctgan as ctgan_module  # noqa: E402
from ouroboros.synthesizers.base import Synthesizer  # noqa: E402
from ouroboros.synthesizers.ctgan import CTGANSynthesizer  # noqa: E402
from ouroboros.synthesizers.ctgan_conditions import ConditionSampler  # noqa: E402
from ouroboros.synthesizers.modelfile import read_model  # noqa: E402
from ouroboros.synthesizers.tabddpm import TabDDPMSynthesizer  # noqa: E402
from ouroboros.synthesizers.torch_utils.private import (  # noqa: E402
    PrivateSGD,
    check_private_modules,
    epsilon_of,
    plan_for,
    replace_batchnorm,
)
from ouroboros.synthesizers.tvae import TVAESynthesizer  # noqa: E402
from ouroboros.testing import contract_table  # noqa: E402

DATA = contract_table(240, seed=3)
#: bounds and categories taken as public knowledge (nothing measured)
PUBLIC = Schema.detect(DATA)
FAST = {
    "tvae": (TVAESynthesizer, {"epochs": 2, "batch_size": 60, "n_threads": 1}),
    "tabddpm": (
        TabDDPMSynthesizer,
        {"epochs": 2, "batch_size": 60, "steps": 20, "sample_steps": 5, "n_threads": 1},
    ),
    "ctgan": (CTGANSynthesizer, {"epochs": 2, "batch_size": 60, "n_threads": 1}),
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _dp(name: str, **extra):
    klass, params = FAST[name]
    return klass(**{"dp": True, "epsilon": 1.0, "seed": 0, **params, **extra})


def _fit(model):
    return model.fit(DATA, schema=PUBLIC)


# ------------------------------------------------------------------ accountant
def test_accountant_gives_opacus_published_value():
    # opacus/tests/accountants_test.py: sigma 1.5, q 0.04, 2250 steps, delta 1e-5
    assert epsilon_of(1.5, 0.04, 2250, 1e-5) == pytest.approx(7.32911117143, abs=1e-6)
    reference = RDPAccountant()
    for _ in range(10):
        reference.step(noise_multiplier=1.5, sample_rate=0.04)
    assert epsilon_of(1.5, 0.04, 10, 1e-5) <= reference.get_epsilon(delta=1e-5) + 1e-9


def test_noise_is_calibrated_for_the_planned_steps_and_one_more_epoch_would_overshoot():
    n, batch, epochs = 1000, 100, 5
    per_epoch = n // batch
    plan = plan_for(1.0, 1e-5, 1.0, n, batch, epochs * per_epoch)
    at_plan = epsilon_of(plan.noise_multiplier, plan.sample_rate, plan.steps, 1e-5)
    assert 0.99 <= at_plan <= 1.0
    one_more = epsilon_of(plan.noise_multiplier, plan.sample_rate, plan.steps + per_epoch, 1e-5)
    assert one_more > 1.05
    # a CTGAN-like loop with two critic updates per batch takes twice epochs x batches:
    # calibrating for epochs x batches (make_private_with_epsilon) would spend far more
    naive = plan_for(1.0, 1e-5, 1.0, n, batch, epochs * per_epoch)
    spent = epsilon_of(naive.noise_multiplier, naive.sample_rate, 2 * epochs * per_epoch, 1e-5)
    assert spent > 1.2


@pytest.mark.parametrize("name", sorted(FAST))
def test_a_dp_fit_spends_its_epsilon_at_exactly_the_planned_steps(name):
    model = _fit(_dp(name, critic_steps=2) if name == "ctgan" else _dp(name))
    record = model.privacy_
    per_epoch = model.n_training_rows_ // 60  # the released count, not len(DATA)
    expected = 2 * per_epoch * (2 if name == "ctgan" else 1)
    assert record["steps"] == record["steps_planned"] == expected
    assert 0.99 * model.epsilon <= model.epsilon_spent_ <= model.epsilon
    assert record["delta"] == record["delta_total"] == model.delta
    assert record["sampling"] == "Poisson" and record["mechanism"] == "DP-SGD"


def test_a_time_budget_stops_early_and_spends_less():
    model = _fit(_dp("tvae", epochs=50, time_budget=1e-6))
    assert model.history_.stopped == "time_budget"
    assert model.privacy_["steps"] < model.privacy_["steps_planned"]
    assert 0 < model.epsilon_spent_ < 0.5 * model.epsilon


def test_private_sgd_refuses_a_step_past_its_plan():
    net = nn.Linear(3, 1)
    plan = plan_for(1.0, 1e-5, 1.0, 50, 10, 2)
    sgd = PrivateSGD(
        [net], torch.optim.SGD(net.parameters(), 0.1), plan, 50, np.random.default_rng(0), "cpu"
    )
    data = torch.randn(50, 3)
    for _ in range(2):
        x = data[sgd.batch()]
        sgd.zero_grad()
        sgd.backward(net(x).pow(2).sum() / max(len(x), 1))
        sgd.step()
    with pytest.raises(ParameterError, match="calibrated for 2 steps"):
        sgd.batch()
    sgd.close()
    assert not any(hasattr(p, "grad_sample") for p in net.parameters())


# ------------------------------------------------------------------ networks
def test_batchnorm_is_refused_and_replaced_by_layernorm():
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
    with pytest.raises(ParameterError, match="LayerNorm"):
        check_private_modules([net])
    fixed = replace_batchnorm(net)
    assert isinstance(fixed[1], nn.LayerNorm) and fixed[1].normalized_shape == (8,)
    assert not any(isinstance(m, nn.GroupNorm) for m in fixed.modules())
    check_private_modules([fixed])


@pytest.mark.parametrize(
    ("name", "parts"),
    [("tvae", ("encoder_", "decoder_")), ("tabddpm", ("model_",)), ("ctgan", ("critic_",))],
)
def test_networks_that_see_rows_have_no_batchnorm(name, parts):
    model = _fit(_dp(name, epochs=1))
    for part in parts:
        module = getattr(model, part)
        assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())
        assert ModuleValidator.validate(module.train(), strict=False) == []


def test_ctgan_dp_refuses_options_that_mix_rows():
    with pytest.raises(ParameterError, match="minibatch_discrimination"):
        _fit(_dp("ctgan", minibatch_discrimination=True))


def test_early_stopping_is_refused_with_dp():
    with pytest.raises(ParameterError, match="early_stopping"):
        _fit(_dp("tvae", early_stopping=True))


# ------------------------------------------------------------------ CTGAN frequencies
def test_ctgan_dp_never_reads_raw_category_frequencies(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("raw category counts were read")

    monkeypatch.setattr(CTGANSynthesizer, "_make_sampler", refuse)
    monkeypatch.setattr(ctgan_module._ConditionSampler, "from_codes", refuse)
    monkeypatch.setattr(ConditionSampler, "from_codes", refuse)
    model = _fit(_dp("ctgan"))
    (measurement,) = [m for m in model.privacy_["measurements"] if "category" in m["what"]]
    assert measurement["sample_rate"] == 1.0 and measurement["noise_multiplier"] > 1
    text = model.privacy_["conditional_frequencies"]
    assert "Gaussian" in text and f"{measurement['noise_multiplier']:.4g}" in text
    noisy = model.sampler_.flat_count.numpy()
    raw = DATA["group"].value_counts().sort_index().to_numpy()
    assert not np.allclose(noisy[: len(raw)], raw)
    # the counts' measurement is composed with the SGD steps within the same epsilon
    assert model.epsilon_spent_ <= model.epsilon
    plan = model.privacy_
    alone = epsilon_of(plan["noise_multiplier"], plan["sample_rate"], plan["steps"], plan["delta"])
    assert alone < model.epsilon_spent_


# ------------------------------------------------------------------ model file
@pytest.mark.parametrize("name", sorted(FAST))
def test_dp_model_file_keeps_the_audit_record(name, tmp_path):
    model = _fit(_dp(name, epochs=1))
    path = model.save(tmp_path / "model.ouro")
    _, state = read_model(path)
    record = state["model"]["privacy"]
    for key in (
        "mechanism",
        "epsilon_spent",
        "delta",
        "accountant",
        "noise_multiplier",
        "sample_rate",
        "steps",
        "max_grad_norm",
        "private_parts",
    ):
        assert key in record
    loaded = Synthesizer.load(path)
    assert loaded.privacy_ == model.privacy_ and loaded.epsilon_spent_ == model.epsilon_spent_
    assert loaded.describe()["privacy"]["mechanism"] == "DP-SGD"
    assert loaded.sample(20, seed=4).equals(model.sample(20, seed=4))


def test_a_non_dp_refit_drops_the_record():
    model = _fit(_dp("tvae", epochs=1))
    model.set_params(dp=False).fit(DATA)
    assert not hasattr(model, "privacy_") and "privacy" not in model.describe()


# ------------------------------------------------------------------ what else a fit reads
def test_a_dp_fit_refuses_a_schema_read_off_the_data():
    with pytest.raises(SchemaError, match="schema_share"):
        _dp("tvae").fit(DATA)


def test_the_encoders_depend_on_the_public_schema_only():
    other = contract_table(240, seed=4)  # other rows, same public schema
    first = _fit(_dp("tabddpm", epochs=1))
    second = _dp("tabddpm", epochs=1).fit(other, schema=PUBLIC)
    plain = lambda state: json.dumps(state, default=lambda a: np.asarray(a).tolist())  # noqa: E731
    assert plain(first.transformer_.to_state()) == plain(second.transformer_.to_state())


def test_the_row_count_is_released_noisily_and_the_lineage_withheld():
    model = _fit(_dp("tvae", epochs=1))
    whats = [m["what"] for m in model.privacy_["measurements"]]
    assert any("row count" in w for w in whats)
    assert model.n_training_rows_ != len(DATA)
    assert "withheld" in model.training_lineage_["content_hash"]


def test_a_measured_schema_is_composed_into_the_same_epsilon():
    table = DATA.drop(columns=["city"])  # 150 categories of 240 rows: none releasable
    model = _dp("tvae", epochs=1, epsilon=50.0, schema_share=0.2).fit(table)
    whats = [m["what"] for m in model.privacy_["measurements"]]
    assert any("schema" in w for w in whats)
    assert model.privacy_["schema"]["budget"]["schema_share"] == 0.2
    assert 0.99 * 50 <= model.epsilon_spent_ <= 50
