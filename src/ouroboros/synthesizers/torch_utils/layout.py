"""Where each span of the encoded matrix lies, for networks that treat them all at once."""

from __future__ import annotations

import numpy as np
import torch

from ouroboros.errors import ParameterError
from ouroboros.synthesizers.torch_utils.noise import gumbel


class SpanLayout:
    """Index tensors that let a network treat every span of the matrix at once.

    Scalars are grouped by activation (``tanh``/``linear``). The one-hot blocks (softmax
    spans) form one flat group of columns, each tagged with its block, so that softmax,
    sampling and cross-entropy over every block are a few segment operations whose cost
    is the total one-hot width: nothing is padded to the widest block, so memory stays
    proportional to the matrix whatever the mix of block widths.
    """

    def __init__(self, output_info, device: torch.device | str = "cpu"):
        tanh, linear, onehot, segment, widths = [], [], [], [], []
        position = 0
        self.block_columns: list[str] = []
        self.block_kinds: list[str] = []
        for span in output_info:
            columns = range(position, position + span.width)
            if span.activation == "softmax":
                onehot.extend(columns)
                segment.extend([len(widths)] * span.width)
                widths.append(span.width)
                self.block_columns.append(span.column)
                self.block_kinds.append(span.kind)
            elif span.activation == "tanh":
                tanh.extend(columns)
            elif span.activation == "linear":
                linear.extend(columns)
            else:
                raise ParameterError(f"unknown span activation {span.activation!r}")
            position += span.width
        self.dim = position
        self.device = torch.device(device)
        self.n_blocks = len(widths)

        def index(values) -> torch.Tensor:
            return torch.as_tensor(np.asarray(values, dtype=np.int64), device=self.device)

        self.tanh, self.linear, self.onehot = index(tanh), index(linear), index(onehot)
        self.segment = index(segment)
        self.widths = index(widths)
        self.flat_start = torch.cumsum(self.widths, 0) - self.widths
        self.flat_width = self.widths[self.segment].float()
        order = np.concatenate([tanh, linear, onehot]).astype(np.int64)
        inverse = np.empty(self.dim, dtype=np.int64)
        inverse[order] = np.arange(self.dim)
        self.inverse_order = index(inverse)

    def flat(self, matrix: torch.Tensor) -> torch.Tensor:
        """The one-hot columns of ``matrix``, ``(n, total one-hot width)``."""
        return matrix[:, self.onehot]

    def segment_sum(self, flat: torch.Tensor) -> torch.Tensor:
        """Sum over each block, ``(n, blocks)``."""
        return flat.new_zeros((len(flat), self.n_blocks)).index_add_(1, self.segment, flat)

    def segment_max(self, flat: torch.Tensor) -> torch.Tensor:
        """Maximum over each block, ``(n, blocks)`` (no gradient)."""
        flat = flat.detach()
        out = flat.new_full((len(flat), self.n_blocks), float("-inf"))
        return out.scatter_reduce_(1, self.segment.expand_as(flat), flat, "amax")

    def log_softmax(self, logits: torch.Tensor) -> torch.Tensor:
        """Log-softmax of flat logits within each block."""
        shifted = logits - self.segment_max(logits)[:, self.segment]
        return shifted - torch.log(self.segment_sum(torch.exp(shifted)))[:, self.segment]

    def softmax(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax of flat logits within each block."""
        exp = torch.exp(logits - self.segment_max(logits)[:, self.segment])
        return exp / self.segment_sum(exp)[:, self.segment]

    def draw(self, logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A one-hot draw per block from the softmax of flat logits (Gumbel-max)."""
        noisy = logits + gumbel(logits.shape, generator, logits.device)
        return (noisy == self.segment_max(noisy)[:, self.segment]).to(logits.dtype)

    def assemble(
        self, tanh: torch.Tensor, linear: torch.Tensor, flat: torch.Tensor
    ) -> torch.Tensor:
        """Inverse of the grouping: matrix columns in their original order."""
        return torch.cat([tanh, linear, flat], dim=1)[:, self.inverse_order]

    def activate(
        self,
        raw: torch.Tensor,
        *,
        tau: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """tanh on tanh scalars, identity on linear ones, softmax on blocks (Gumbel-softmax
        with temperature ``tau`` when given, as CTGAN's generator does)."""
        logits = self.flat(raw)
        if tau is not None:
            logits = (logits + gumbel(logits.shape, generator, raw.device)) / tau
        return self.assemble(
            torch.tanh(raw[:, self.tanh]), raw[:, self.linear], self.softmax(logits)
        )

    def cross_entropy(self, raw: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of every block's logits in ``raw`` against the one-hot entries of
        ``data``, ``(n, blocks)``."""
        return -self.segment_sum(self.flat(data) * self.log_softmax(self.flat(raw)))
