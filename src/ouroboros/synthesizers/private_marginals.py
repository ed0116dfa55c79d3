"""Public bins and noisy one-way marginals: where a ``dp=True`` neural generator starts.

A network trained with DP-SGD takes a few hundred noisy steps; started from random
weights, and with numbers decoded through a scale fitted on the schema alone, its
one-way marginals stay far from the data's (on Adult at epsilon 1 a DP TVAE had a mean
two-way TV of 0.40 where independent marginals with no privacy reach 0.08). Two changes,
the practice of Ponomareva et al. (2023), "How to DP-fy ML" (section 5: spend a small
accounted share on cheap statistics, start from good public or private priors), and of
the marginal generators (McKenna et al. 2021, "Winning the NIST Contest"):

- every number is encoded as a one-hot over ``bins`` equal-width bins of its *public*
  range (:class:`~ouroboros.transforms.numeric.PublicBinEncoder`, post-processing of the schema) and decoded at the
  bin's midpoint, so the decoder draws numbers from a categorical distribution as it
  does categories, rather than regressing to their mean;
- ``marginals_share`` of the budget's zCDP rho releases the count of every one-hot
  block (categories, bins, missing indicators) by one Gaussian mechanism (adding or
  removing a row moves one count per block: L2 sensitivity ``sqrt(blocks)``); the noisy
  counts, projected onto the simplex (post-processing), set the decoder's output biases,
  so that the untrained decoder already emits these marginals and DP-SGD (Abadi et al.
  2016) spends its steps on the dependence between columns. The measurement enters the
  same Rényi accountant as the SGD steps (a rho-zCDP Gaussian mechanism has Rényi DP
  ``rho * alpha``), and the model file records the split;
- after training, the decoder's biases are shifted so that its marginals under the
  prior match the noisy ones again (:func:`calibrate_to_marginals`, post-processing):
  a network after a few hundred steps has drifted from them (DP-SGD's noise moves
  every coordinate under Adam, and a VAE's prior and aggregate posterior disagree
  early in training), and the drift costs more than the dependence it learned.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ouroboros.synthesizers.params import Integer, Number, Param
from ouroboros.synthesizers.torch_utils.layout import SpanLayout
from ouroboros.synthesizers.torch_utils.private import Measurement
from ouroboros.transforms.base import Span

#: the parameters of a neural generator that starts from noisy marginals with dp=True
MARGINAL_PARAMETERS: dict[str, Param] = {
    "marginals_share": Param(0.2, Number(0.0, 0.9, closed="both")),
    "dp_bins": Param(100, Integer(2)),
}
#: output weights are scaled by this at the start, so the decoder emits the marginals
INIT_WEIGHT_SCALE = 0.1
#: rounds of :func:`calibrate_to_marginals`
CALIBRATION_ROUNDS = 8
#: probability floor of a bin or category the noisy counts put at zero
_FLOOR = 1e-5


def simplex_projection(noisy: np.ndarray, total: float) -> np.ndarray:
    """The Euclidean projection of ``noisy`` onto ``{x >= 0, sum x = total}`` (Duchi et
    al. 2008, "Efficient Projections onto the l1-Ball"): noise on empty cells is cut."""
    total = max(float(total), 1.0)
    ordered = np.sort(noisy)[::-1]
    cumulative = np.cumsum(ordered) - total
    index = np.arange(1, len(noisy) + 1)
    k = index[ordered - cumulative / index > 0][-1]
    return np.maximum(noisy - cumulative[k - 1] / k, 0.0)


def measure_marginals(
    matrix: np.ndarray, output_info: list[Span], rho: float, total: float, rng: np.random.Generator
) -> tuple[list[np.ndarray], Measurement]:
    """Every one-hot block's distribution, released by one Gaussian mechanism of zCDP
    cost ``rho`` and projected onto the simplex at the released row count ``total``."""
    blocks, position = [], 0
    for span in output_info:
        if span.activation == "softmax":
            blocks.append(matrix[:, position : position + span.width].sum(axis=0))
        position += span.width
    z = 1.0 / np.sqrt(2.0 * rho)  # noise over sensitivity: rho-zCDP
    scale = z * np.sqrt(len(blocks))
    probs = []
    for counts in blocks:
        projected = simplex_projection(counts + rng.normal(0.0, scale, len(counts)), total)
        p = np.maximum(projected / projected.sum(), _FLOOR)
        probs.append(p / p.sum())
    return probs, Measurement("one-way marginals of every one-hot block (Gaussian mechanism)", z)


@torch.no_grad()
def start_at_marginals(out: nn.Linear, layout: SpanLayout, probs: list[np.ndarray]) -> None:
    """Set ``out``'s biases on the one-hot columns to the log of ``probs`` (one array per
    block, in layout order) and shrink its weights, so the untrained network's softmax
    is these marginals."""
    flat = torch.as_tensor(np.log(np.concatenate(probs)), dtype=out.bias.dtype)
    out.weight.mul_(INIT_WEIGHT_SCALE)
    out.bias[layout.onehot] = flat.to(out.bias.device)


@torch.no_grad()
def calibrate_to_marginals(
    out: nn.Linear,
    layout: SpanLayout,
    probs: list[np.ndarray],
    logits: Callable[[], torch.Tensor],
    rounds: int = CALIBRATION_ROUNDS,
) -> float:
    """Shift ``out``'s one-hot biases until the network's mean softmax over the inputs
    behind ``logits()`` (a fresh draw of raw outputs, e.g. the decoder on codes from the
    prior) matches ``probs`` in every block: iterative proportional fitting of the
    one-way marginals (Deming & Stephan 1940), as post-processing of two private
    releases, the network and the noisy marginals, it spends no budget. Returns the
    largest remaining gap in log probability."""
    target = torch.as_tensor(np.log(np.concatenate(probs)), dtype=out.bias.dtype)
    target = target.to(out.bias.device)
    gap = float("inf")
    for _ in range(rounds):
        mean = layout.softmax(layout.flat(logits())).mean(dim=0)
        step = target - torch.log(mean.clamp(min=_FLOOR / 10))
        out.bias[layout.onehot] += step
        gap = float(step.abs().max())
    return gap
