"""TabDDPM: schedules, the multinomial posterior, guided conditions, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ouroboros.errors import ConditionError, ParameterError
from ouroboros.synthesizers import load
from ouroboros.synthesizers.tabddpm import TabDDPMSynthesizer, schedule
from ouroboros.synthesizers.torch_utils.weights import module_arrays
from ouroboros.testing import contract_table

FAST = TabDDPMSynthesizer.test_params


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return contract_table(400, seed=5)


@pytest.fixture(scope="module")
def fitted(table) -> TabDDPMSynthesizer:
    return TabDDPMSynthesizer(seed=0, **FAST).fit(table)


@pytest.mark.parametrize("name", ["cosine", "linear"])
def test_schedules_decrease_from_signal_to_noise(name):
    alpha_bar = schedule(name, 1000)
    assert alpha_bar.shape == (1000,)
    assert np.all(np.diff(alpha_bar) < 0)
    assert alpha_bar[0] > 0.99 and alpha_bar[-1] < 1e-3


def test_multinomial_posterior_is_a_distribution_and_exact_at_the_last_step(fitted):
    layout = fitted.layout_
    gen = torch.Generator().manual_seed(0)
    n, width = 16, len(layout.onehot)
    x0 = layout.draw(torch.randn(n, width, generator=gen), gen)
    x_t = layout.draw(torch.randn(n, width, generator=gen), gen)
    ab = fitted._alpha_bar
    t = torch.randint(1, fitted.steps, (n,), generator=gen)
    post = fitted._posterior(x_t, x0, ab(t), ab(t - 1))
    assert torch.allclose(layout.segment_sum(post), torch.ones(n, layout.n_blocks), atol=1e-5)
    last = fitted._posterior(x_t, x0, ab(t * 0), ab(t * 0 - 1))
    assert torch.allclose(last, x0, atol=1e-6)
    # a jump t -> t-2 is the one-step posteriors chained (Markov consistency), per block
    t = torch.full((n,), 30)
    cols = (layout.segment == 0).nonzero().flatten()
    one_step = fitted._posterior(x_t, x0, ab(t), ab(t - 1))
    chained = torch.zeros(n, len(cols))
    for j in cols:
        middle = x_t.clone()
        middle[:, cols] = 0.0
        middle[:, j] = 1.0
        chained += (
            one_step[:, j : j + 1] * fitted._posterior(middle, x0, ab(t - 1), ab(t - 2))[:, cols]
        )
    jump = fitted._posterior(x_t, x0, ab(t), ab(t - 2))[:, cols]
    assert torch.allclose(chained, jump, atol=1e-5)


def test_training_lowers_both_losses(table):
    model = TabDDPMSynthesizer(seed=0, epochs=25, batch_size=64, steps=50).fit(table)
    values = model.history_.values
    assert np.mean(values["gaussian"][-5:]) < np.mean(values["gaussian"][:3])
    assert np.mean(values["multinomial"][-5:]) < np.mean(values["multinomial"][:3])


def test_strided_sampling_visits_the_requested_steps(fitted):
    path = fitted._timesteps()
    assert path[0] == fitted.steps - 1 and path[-1] == 0 and len(path) == 10
    full = TabDDPMSynthesizer(steps=40, sample_steps=None)
    assert full._timesteps() == list(range(39, -1, -1))


def test_guided_conditions_on_categories_and_ranges(fitted, table):
    out = fitted.sample(50, seed=1, conditions={"group": "c"})
    assert len(out) == 50 and (out["group"] == "c").all()
    rare = table["city"].value_counts().index[-1]  # pooled into "other"
    out = fitted.sample(3, seed=2, conditions={"city": rare})
    assert (out["city"] == rare).all()
    out = fitted.sample(20, seed=3, conditions={"group": "a", "count": (5, 15)})
    assert (out["group"] == "a").all() and out["count"].between(5, 15).all()
    with pytest.raises(ConditionError, match="never occurs"):
        fitted.sample(5, conditions={"group": "nope"})


def test_same_seed_same_weights_and_rows(table):
    a = TabDDPMSynthesizer(seed=9, **FAST).fit(table)
    b = TabDDPMSynthesizer(seed=9, **FAST).fit(table)
    for key, value in module_arrays(a.model_).items():
        assert np.array_equal(value, module_arrays(b.model_)[key]), key
    pd.testing.assert_frame_equal(a.sample(30, seed=1), b.sample(30, seed=1))


def test_model_file_keeps_history(fitted, tmp_path):
    back = load(fitted.save(tmp_path / "ddpm.ouro"))
    assert back.history_.values == fitted.history_.values
    pd.testing.assert_frame_equal(back.sample(25, seed=5), fitted.sample(25, seed=5))


def test_early_stopping_on_held_out_loss(table):
    model = TabDDPMSynthesizer(
        seed=0, epochs=300, batch_size=64, steps=20, early_stopping=True, patience=2
    ).fit(table)
    assert model.history_.stopped == "early_stopping"
    assert len(model.history_.values["validation"]) < 300


def test_learns_a_dependency_between_a_category_and_a_number():
    gen = np.random.default_rng(0)
    n = 1200
    group = gen.choice(["x", "y"], size=n)
    value = np.where(group == "x", gen.normal(-5, 0.5, n), gen.normal(5, 0.5, n)).round(2)
    data = pd.DataFrame({"group": group, "value": value})
    model = TabDDPMSynthesizer(seed=0, epochs=50, batch_size=200, steps=50, sample_steps=25)
    out = model.fit(data).sample(600, seed=1)
    agree = ((out["group"] == "x") & (out["value"] < 0)) | (
        (out["group"] == "y") & (out["value"] > 0)
    )
    assert agree.mean() > 0.85
    assert 0.35 < (out["group"] == "x").mean() < 0.65


@pytest.mark.parametrize(
    "params", [{"steps": 1}, {"schedule": "sigmoid"}, {"sample_steps": 0}, {"learning_rate": -1.0}]
)
def test_bad_parameters_are_named(table, params):
    with pytest.raises(ParameterError, match=next(iter(params))):
        TabDDPMSynthesizer(**params).fit(table)
