"""TVAE, and the torch helpers every neural generator shares (span layout, training loop)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ouroboros.errors import ParameterError
from ouroboros.synthesizers import _torch as T
from ouroboros.synthesizers import load
from ouroboros.synthesizers.tvae import TVAESynthesizer
from ouroboros.testing import contract_table
from ouroboros.transforms import Span

FAST = {"epochs": 3, "batch_size": 64, "n_threads": 1}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny networks train fastest on one thread (and CI machines are shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SPANS = [
    Span("a", "value", 1, "tanh"),
    Span("a", "mode", 3, "softmax"),
    Span("b", "category", 2, "softmax"),
    Span("c", "value", 1, "linear"),
    Span("d", "category", 4, "softmax"),
    Span("d", "missing", 2, "softmax"),
]


def _matrix(n: int, seed: int = 0) -> torch.Tensor:
    """Rows that respect SPANS: scalars anywhere, one hot entry per block."""
    gen = np.random.default_rng(seed)
    parts = []
    for span in SPANS:
        if span.activation == "softmax":
            parts.append(np.eye(span.width)[gen.integers(span.width, size=n)])
        else:
            parts.append(gen.uniform(-1, 1, size=(n, 1)))
    return torch.as_tensor(np.hstack(parts), dtype=torch.float32)


# ------------------------------------------------------------------ shared helpers
def test_layout_groups_and_reassembles_columns():
    layout = T.SpanLayout(SPANS)
    x = _matrix(50)
    assert layout.dim == 13 and layout.n_blocks == 4
    assert layout.tanh.tolist() == [0] and layout.linear.tolist() == [6]
    assert layout.onehot.tolist() == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]
    assert layout.segment.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3]
    rebuilt = layout.assemble(x[:, layout.tanh], x[:, layout.linear], layout.flat(x))
    assert torch.equal(rebuilt, x)
    assert torch.equal(layout.segment_sum(layout.flat(x)), torch.ones(50, 4))


def test_layout_activation_is_a_distribution_per_block():
    layout = T.SpanLayout(SPANS)
    raw = torch.randn(40, layout.dim) * 3
    gen = torch.Generator().manual_seed(0)
    for out in (layout.activate(raw), layout.activate(raw, tau=0.2, generator=gen)):
        sums = layout.segment_sum(layout.flat(out))
        assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)
        assert torch.equal(out[:, layout.tanh], torch.tanh(raw[:, layout.tanh]))
        assert torch.equal(out[:, layout.linear], raw[:, layout.linear])


def test_layout_segment_operations_match_per_block_torch():
    layout = T.SpanLayout(SPANS)
    raw, x = torch.randn(30, layout.dim) * 4, _matrix(30, seed=1)
    ours = layout.cross_entropy(raw, x)
    log_probs = layout.log_softmax(layout.flat(raw))
    start, block, flat = 0, 0, 0
    for span in SPANS:
        if span.activation == "softmax":
            logits = raw[:, start : start + span.width]
            target = x[:, start : start + span.width].argmax(dim=1)
            expected = torch.nn.functional.cross_entropy(logits, target, reduction="none")
            assert torch.allclose(ours[:, block], expected, atol=1e-5)
            width = slice(flat, flat + span.width)
            assert torch.allclose(log_probs[:, width], torch.log_softmax(logits, 1), atol=1e-5)
            maxima = layout.segment_max(layout.flat(raw))[:, block]
            assert torch.equal(maxima, logits.max(1).values)
            block, flat = block + 1, flat + span.width
        start += span.width


def test_layout_draws_one_category_per_block_by_its_probability():
    layout = T.SpanLayout(SPANS)
    gen = torch.Generator().manual_seed(1)
    logits = torch.zeros(20_000, len(layout.onehot))
    logits[:, 0] = np.log(8.0)  # block 0: probabilities 0.8, 0.1, 0.1
    drawn = layout.draw(logits, gen)
    assert torch.equal(layout.segment_sum(drawn), torch.ones(20_000, layout.n_blocks))
    assert drawn[:, 0].mean().item() == pytest.approx(0.8, abs=0.01)
    assert drawn[:, 5:9].mean(dim=0).tolist() == pytest.approx([0.25] * 4, abs=0.015)


def test_resolve_device():
    assert T.resolve_device("cpu").type == "cpu"
    assert T.resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ParameterError, match="device"):
        T.resolve_device("tpu-9")
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="CUDA"):
            T.resolve_device("cuda")


def test_batches_cover_rows_without_repeats():
    gen = torch.Generator().manual_seed(0)
    seen = torch.cat(list(T.batches(100, 30, gen, "cpu", multiple=10)))
    assert len(seen) == 90 and len(seen.unique()) == 90
    with pytest.raises(ParameterError, match="batch_size"):
        list(T.batches(5, 30, gen, "cpu", multiple=10))


def test_seeded_restores_global_state():
    before = torch.random.get_rng_state()
    with T.seeded(np.random.default_rng(0), torch.device("cpu")):
        torch.rand(3)
    assert torch.equal(before, torch.random.get_rng_state())


def _settings(**kw) -> T.LoopSettings:
    base = dict(
        epochs=50,
        batch_size=8,
        time_budget=None,
        early_stopping=False,
        patience=2,
        verbose=False,
        description="test",
    )
    return T.LoopSettings(**{**base, **kw})


def test_train_loop_stops_early_and_restores_best_weights():
    module = torch.nn.Linear(1, 1)
    scores = iter([5.0, 3.0, 4.0, 4.5, 6.0, 7.0])
    weights = []

    def epoch():
        with torch.no_grad():
            module.weight.add_(1.0)
        weights.append(module.weight.item())
        yield {"loss": 1.0}

    history = T.train(_settings(), epoch, [module], validate=lambda: next(scores))
    assert history.stopped == "early_stopping" and history.best_epoch == 1
    assert len(history.values["loss"]) == 4
    assert module.weight.item() == pytest.approx(weights[1])


def test_train_loop_respects_time_budget():
    def epoch():
        for _ in range(1000):
            yield {"loss": 0.0}

    history = T.train(_settings(time_budget=1e-4), epoch, [])
    assert history.stopped == "time_budget" and len(history.values["loss"]) == 1


def test_history_round_trips_through_state():
    history = T.History({"loss": [1.0, 0.5], "kl_per_dim": [[0.1, 0.2], [0.0, 0.3]]}, "epochs", 1)
    back = T.History.from_state(history.to_state())
    assert back.values == history.values and back.best_epoch == 1


def test_progress_bar_shows_the_loss(capsys):
    def epoch():
        yield {"loss": 0.25}

    T.train(_settings(epochs=2, verbose=True), epoch, [])
    assert "loss 0.2500" in capsys.readouterr().out


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
    for key, value in T.module_arrays(a.decoder_).items():
        assert np.array_equal(value, T.module_arrays(b.decoder_)[key])
    assert not np.array_equal(
        T.module_arrays(a.decoder_)["out.weight"], T.module_arrays(c.decoder_)["out.weight"]
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
