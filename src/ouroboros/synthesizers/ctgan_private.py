"""DP-CTGAN: CTGAN trained with DP-SGD on its critic.

Which parts see private rows: only the critic. Each critic update takes a Poisson
sample of the rows (Opacus' sampler), pairs every real row with a conditional vector
naming its own category in one discrete column drawn at random (so a row's gradient
depends on that row only), adds as many synthetic rows, and clips and noises the
per-row gradients (:class:`~ouroboros.synthesizers.torch_utils.private.PrivateSGD`).
The generator never touches a real row: its loss is the critic's score of its own rows
plus the condition loss, so its weights, their moving average and every sample are
post-processing of the critic's private releases (Xie et al. 2018, "Differentially
Private Generative Adversarial Network"; Torkzadehmahani et al. 2019, "DP-CGAN").

What changes from :class:`~ouroboros.synthesizers.ctgan.CTGANSynthesizer` and why:

- the conditional vector's category frequencies are the data's category counts
  released once by the Gaussian mechanism (a tenth of epsilon before composition, in
  the same RDP accountant as the SGD steps); raw frequencies are never read, unlike
  smartnoise-synth's DP-CTGAN and PATE-CTGAN;
- training-by-sampling (real rows picked to match a drawn condition) is replaced by
  Poisson sampling, which is what the accountant's analysis assumes;
- the critic judges single rows (``pac`` 1: packs would make one row's gradient depend
  on its pack mates) with the logistic GAN loss (Goodfellow et al. 2014) in place of
  WGAN-GP, whose penalty differentiates twice through the per-row hooks; no feature
  matching (it would pass the real rows' mean features to the generator outside the
  accounting); minibatch discrimination and spectral normalisation are refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ouroboros.errors import ParameterError
from ouroboros.synthesizers.ctgan_conditions import ConditionSampler
from ouroboros.synthesizers.torch_utils.device import torch_generator
from ouroboros.synthesizers.torch_utils.private import COUNTS_SHARE, PrivateSGD, measure_counts
from ouroboros.synthesizers.torch_utils.weights import Average

if TYPE_CHECKING:
    from ouroboros.synthesizers.ctgan import CTGANSynthesizer


def check_private_params(model: CTGANSynthesizer) -> None:
    """Refuse the critic options that mix rows or defeat per-row gradients."""
    for name in ("minibatch_discrimination", "spectral_norm"):
        if getattr(model, name):
            raise ParameterError(
                f"parameter {name!r} of CTGANSynthesizer must be False with dp=True: "
                "DP-SGD needs each row's gradient on its own"
            )


class PrivateTraining:
    """One DP-CTGAN fit: the noisy category counts, the plan, and the steps of an epoch."""

    def __init__(self, model: CTGANSynthesizer, matrix: np.ndarray, rng: np.random.Generator):
        check_private_params(model)
        model._build(rng)
        self.model = model
        self.device = device = model.layout_.device
        self.generator = torch_generator(rng, device)
        self.data = torch.as_tensor(matrix, dtype=torch.float32, device=device)
        n = model._public_rows()  # the released count: the true one would leak
        self.batch = min(model.batch_size, n)
        self.steps = max(n // self.batch, 1)
        self.epochs = model.epochs
        if self.epochs is None:
            self.epochs = max(20, -(-model.min_steps // self.steps))
        delta = model._privacy_delta()
        counts = [
            np.bincount(np.argmax(matrix[:, start:stop], axis=1), minlength=stop - start)
            for start, stop, _ in map(model.transformer_.category_block, model.discrete_)
        ]
        measurements, self.counts_noise = (), None
        if counts:
            counts, measurement = measure_counts(counts, COUNTS_SHARE * model.epsilon, delta, rng)
            measurements, self.counts_noise = (measurement,), measurement.noise_multiplier
        model.sampler_ = ConditionSampler(counts, device)
        self.has_cond = model.sampler_.n_columns > 0
        planned = self.epochs * self.steps * model.critic_steps
        plan = model._privacy_plan(self.batch, planned, measurements)
        self.opt_g = torch.optim.Adam(
            model.generator_.parameters(),
            lr=model.generator_lr,
            betas=(0.5, 0.9),
            weight_decay=model.generator_decay,
        )
        opt_c = torch.optim.Adam(
            model.critic_.parameters(),
            lr=model.critic_lr,
            betas=(0.5, 0.9),
            weight_decay=model.critic_decay,
        )
        self.average = Average(model.generator_, model.ema_decay)
        self.sgd = PrivateSGD(
            [model.critic_], opt_c, plan, len(matrix), rng, device, extra_rows=self.batch
        )

    def run(self) -> None:
        """Train, then keep the averaged generator and the audit record."""
        model = self.model
        modules = [model.generator_, model.critic_, self.average.module]
        try:
            model._run_loop(self.epoch, modules, epochs=self.epochs)
        finally:
            model._finish_private(
                self.sgd,
                "the critic only; the generator learns through the critic's scores "
                "(post-processing) and never sees a row",
                conditional_frequencies="category counts released by the Gaussian mechanism "
                f"(noise multiplier {self.counts_noise:.4g})"
                if self.has_cond
                else "none (no discrete column)",
                critic="single rows (pac 1), logistic loss, no gradient penalty, "
                "no feature matching",
            )
        model.generator_ = self.average.module
        model.generator_.eval()
        model.critic_.eval()

    def conditions(self, n: int) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
        """Synthetic rows' conditions, drawn from the noisy counts."""
        if not self.has_cond:
            return None, None, torch.zeros((n, 0), device=self.device)
        sampler = self.model.sampler_
        column, category = sampler.draw(n, self.generator, self.model.log_frequency)
        return column, category, sampler.vector(column, category)

    def own_conditions(self, real: torch.Tensor) -> torch.Tensor:
        """Each real row's conditional vector: its own category in a discrete column
        drawn at random for that row alone."""
        model = self.model
        if not self.has_cond:
            return torch.zeros((len(real), 0), device=self.device)
        sampler = model.sampler_
        column = torch.randint(
            sampler.n_columns, (len(real),), generator=self.generator, device=self.device
        )
        blocks = real[:, model.cond_columns_]
        position = torch.arange(blocks.shape[1], device=self.device).unsqueeze(0)
        start = sampler.offsets[column].unsqueeze(1)
        inside = (position >= start) & (position < start + sampler.widths[column].unsqueeze(1))
        return torch.where(inside, blocks, torch.zeros_like(blocks))

    def critic_step(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One DP-SGD update of the critic on a Poisson batch beside synthetic rows."""
        model, generator = self.model, self.generator
        real = self.data[self.sgd.batch()]
        _, _, cond = self.conditions(self.batch)
        with torch.no_grad():
            _, fake = model._generate(self.batch, cond, generator)
        rows = torch.cat(
            [torch.cat([real, self.own_conditions(real)], 1), torch.cat([fake, cond], 1)]
        )
        logits = model.critic_(rows, generator).squeeze(1)
        m = len(real)
        loss = (
            nn.functional.softplus(-logits[:m]).sum() + nn.functional.softplus(logits[m:]).sum()
        ) / len(rows)
        self.sgd.zero_grad()
        self.sgd.backward(loss)
        self.sgd.step()
        gap = logits[:m].mean() - logits[m:].mean() if m else logits.new_zeros(())
        return loss, gap

    def generator_step(self) -> torch.Tensor:
        """One generator update through the critic (no per-row gradients recorded)."""
        model, generator = self.model, self.generator
        column, category, cond = self.conditions(self.batch)
        with self.sgd.paused():
            raw, fake = model._generate(self.batch, cond, generator)
            logits = model.critic_(torch.cat([fake, cond], dim=1), generator)
            loss = nn.functional.softplus(-logits).mean()
            if self.has_cond:
                loss = loss + model._condition_loss(raw, column, category)
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_g.step()
        self.average.update(model.generator_)
        return loss

    def epoch(self) -> Iterator[dict[str, float]]:
        """``critic_steps`` private critic updates per generator update."""
        self.model.generator_.train()
        self.model.critic_.train()
        for _ in range(self.steps):
            for _ in range(self.model.critic_steps):
                loss_c, gap = self.critic_step()
            loss_g = self.generator_step()
            yield {
                "critic_loss": loss_c.item(),
                "generator_loss": loss_g.item(),
                "gap": gap.item() if not math.isnan(gap.item()) else 0.0,
            }
