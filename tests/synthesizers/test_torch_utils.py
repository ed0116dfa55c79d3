"""The torch helpers every neural generator shares: span layout, devices, training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ouroboros.errors import ParameterError
from ouroboros.synthesizers.torch_utils.device import resolve_device, seeded
from ouroboros.synthesizers.torch_utils.layout import SpanLayout
from ouroboros.synthesizers.torch_utils.training import History, LoopSettings, batches, train
from ouroboros.transforms import Span

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


def test_layout_groups_and_reassembles_columns():
    layout = SpanLayout(SPANS)
    x = _matrix(50)
    assert layout.dim == 13 and layout.n_blocks == 4
    assert layout.tanh.tolist() == [0] and layout.linear.tolist() == [6]
    assert layout.onehot.tolist() == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12]
    assert layout.segment.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3]
    rebuilt = layout.assemble(x[:, layout.tanh], x[:, layout.linear], layout.flat(x))
    assert torch.equal(rebuilt, x)
    assert torch.equal(layout.segment_sum(layout.flat(x)), torch.ones(50, 4))


def test_layout_activation_is_a_distribution_per_block():
    layout = SpanLayout(SPANS)
    raw = torch.randn(40, layout.dim) * 3
    gen = torch.Generator().manual_seed(0)
    for out in (layout.activate(raw), layout.activate(raw, tau=0.2, generator=gen)):
        sums = layout.segment_sum(layout.flat(out))
        assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)
        assert torch.equal(out[:, layout.tanh], torch.tanh(raw[:, layout.tanh]))
        assert torch.equal(out[:, layout.linear], raw[:, layout.linear])


def test_layout_segment_operations_match_per_block_torch():
    layout = SpanLayout(SPANS)
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
    layout = SpanLayout(SPANS)
    gen = torch.Generator().manual_seed(1)
    logits = torch.zeros(20_000, len(layout.onehot))
    logits[:, 0] = np.log(8.0)  # block 0: probabilities 0.8, 0.1, 0.1
    drawn = layout.draw(logits, gen)
    assert torch.equal(layout.segment_sum(drawn), torch.ones(20_000, layout.n_blocks))
    assert drawn[:, 0].mean().item() == pytest.approx(0.8, abs=0.01)
    assert drawn[:, 5:9].mean(dim=0).tolist() == pytest.approx([0.25] * 4, abs=0.015)


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ParameterError, match="device"):
        resolve_device("tpu-9")
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="CUDA"):
            resolve_device("cuda")


def test_batches_cover_rows_without_repeats():
    gen = torch.Generator().manual_seed(0)
    seen = torch.cat(list(batches(100, 30, gen, "cpu", multiple=10)))
    assert len(seen) == 90 and len(seen.unique()) == 90
    with pytest.raises(ParameterError, match="batch_size"):
        list(batches(5, 30, gen, "cpu", multiple=10))


def test_seeded_restores_global_state():
    before = torch.random.get_rng_state()
    with seeded(np.random.default_rng(0), torch.device("cpu")):
        torch.rand(3)
    assert torch.equal(before, torch.random.get_rng_state())


def _settings(**kw) -> LoopSettings:
    base = dict(
        epochs=50,
        batch_size=8,
        time_budget=None,
        early_stopping=False,
        patience=2,
        verbose=False,
        description="test",
    )
    return LoopSettings(**{**base, **kw})


def test_train_loop_stops_early_and_restores_best_weights():
    module = torch.nn.Linear(1, 1)
    scores = iter([5.0, 3.0, 4.0, 4.5, 6.0, 7.0])
    weights = []

    def epoch():
        with torch.no_grad():
            module.weight.add_(1.0)
        weights.append(module.weight.item())
        yield {"loss": 1.0}

    history = train(_settings(), epoch, [module], validate=lambda: next(scores))
    assert history.stopped == "early_stopping" and history.best_epoch == 1
    assert len(history.values["loss"]) == 4
    assert module.weight.item() == pytest.approx(weights[1])


def test_train_loop_respects_time_budget():
    def epoch():
        for _ in range(1000):
            yield {"loss": 0.0}

    history = train(_settings(time_budget=1e-4), epoch, [])
    assert history.stopped == "time_budget" and len(history.values["loss"]) == 1


def test_history_round_trips_through_state():
    history = History({"loss": [1.0, 0.5], "kl_per_dim": [[0.1, 0.2], [0.0, 0.3]]}, "epochs", 1)
    back = History.from_state(history.to_state())
    assert back.values == history.values and back.best_epoch == 1


def test_progress_bar_shows_the_loss(capsys):
    def epoch():
        yield {"loss": 0.25}

    train(_settings(epochs=2, verbose=True), epoch, [])
    assert "loss 0.2500" in capsys.readouterr().out
