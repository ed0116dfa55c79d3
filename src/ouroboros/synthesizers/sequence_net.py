"""The network of the ``sequence`` generator: a GRU over events, columns drawn in turn.

Each event is a row of column tokens (:mod:`~ouroboros.synthesizers.argn_tokens`). A GRU
reads, at step ``t``, the embeddings of event ``t - 1``'s tokens (a start token at
``t = 0``), the entity's context (embeddings of its static tokens and length token), the
calendar of event ``t - 1`` and the position in the sequence; its state starts from the
context. Event ``t`` is then drawn column by column, the gap first: each column's small
MLP reads the GRU output plus the embeddings of the columns already drawn in this event
(and the calendar of event ``t`` once its gap is known), as in PAR (Zhang et al. 2022)
with the within-row order of TabularARGN (Tiwald et al. 2025).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _offsets(sizes: list[int]) -> torch.Tensor:
    return torch.cumsum(torch.as_tensor([0, *sizes[:-1]], dtype=torch.long), 0)


class SequenceNet(nn.Module):
    """GRU over events with per-column heads; ``sizes`` are the event columns' token counts."""

    def __init__(
        self,
        sizes: list[int],
        context_sizes: list[int],
        n_calendar: int,
        embedding_dim: int,
        hidden: int,
        layers: int,
    ):
        super().__init__()
        self.sizes, self.context_sizes = list(sizes), list(context_sizes)
        self.n_calendar, self.layers, self.hidden = n_calendar, layers, hidden
        n, e = len(sizes), embedding_dim
        self.register_buffer("offsets", _offsets([s + 1 for s in sizes]))  # +1: start token
        self.register_buffer("step_offsets", _offsets(sizes))
        self.register_buffer("context_offsets", _offsets(context_sizes or [1]))
        self.embed = nn.Embedding(max(sum(sizes) + n, 1), e)
        self.context_embed = nn.Embedding(max(sum(context_sizes), 1), e)
        d_context = len(context_sizes) * e
        self.gru = nn.GRU(n * e + d_context + n_calendar + 2, hidden, layers, batch_first=True)
        self.initial = nn.Linear(max(d_context, 1), layers * hidden)
        self.step_embed = nn.Embedding(max(sum(sizes), 1), hidden)
        self.calendar_in = nn.Linear(max(n_calendar, 1), hidden)
        bound = 1.0 / math.sqrt(hidden)
        self.weight = nn.Parameter(torch.empty(n, hidden, hidden).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n, hidden).uniform_(-bound, bound))
        self.heads = nn.ModuleList(nn.Linear(hidden, size) for size in sizes)

    def context(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(entities, d_context)`` embeddings of the context tokens."""
        if not self.context_sizes:
            return tokens.new_zeros((len(tokens), 0), dtype=torch.float32)
        return self.context_embed(tokens + self.context_offsets).flatten(1)

    def start_state(self, context: torch.Tensor) -> torch.Tensor:
        """The GRU's first state ``(layers, entities, hidden)`` from the context."""
        x = context if context.shape[1] else context.new_zeros((len(context), 1))
        h = torch.tanh(self.initial(x))
        return h.view(len(x), self.layers, self.hidden).transpose(0, 1).contiguous()

    def step_inputs(
        self,
        previous: torch.Tensor,
        context: torch.Tensor,
        calendar: torch.Tensor,
        position: torch.Tensor,
    ) -> torch.Tensor:
        """GRU inputs ``(entities, steps, d_in)``; ``previous`` holds start tokens as ``size``."""
        embedded = self.embed(previous + self.offsets).flatten(2)
        steps = previous.shape[1]
        parts = [embedded, context.unsqueeze(1).expand(-1, steps, -1)]
        if self.n_calendar:
            parts.append(calendar)
        parts.append(position)
        return torch.cat(parts, dim=2)

    def column_hidden(
        self, out: torch.Tensor, before: torch.Tensor, calendar: torch.Tensor | None, j: int
    ) -> torch.Tensor:
        """Hidden state of column ``j``'s head from the GRU output and what this event drew."""
        z = out + before
        if self.n_calendar and j > 0 and calendar is not None:
            z = z + self.calendar_in(calendar)
        return torch.relu(z @ self.weight[j] + self.bias[j])

    def loss(
        self,
        previous: torch.Tensor,
        target: torch.Tensor,
        context_tokens: torch.Tensor,
        calendar_before: torch.Tensor,
        calendar_now: torch.Tensor,
        position: torch.Tensor,
        weight: torch.Tensor,
    ) -> torch.Tensor:
        """Mean cross-entropy per weighted event (summed over columns)."""
        context = self.context(context_tokens)
        x = self.step_inputs(previous, context, calendar_before, position)
        out, _ = self.gru(x, self.start_state(context))
        drawn = self.step_embed(target + self.step_offsets)  # (b, t, columns, hidden)
        before = torch.cumsum(drawn, dim=2) - drawn
        total = out.new_zeros(())
        for j, head in enumerate(self.heads):
            h = self.column_hidden(out, before[:, :, j], calendar_now, j)
            logits = head(h).flatten(0, 1)
            ce = nn.functional.cross_entropy(logits, target[:, :, j].flatten(), reduction="none")
            total = total + (ce * weight.flatten()).sum()
        return total / weight.sum().clamp(min=1.0)
