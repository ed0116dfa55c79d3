"""TabDDPM: Gaussian and multinomial diffusion for tables (Kotelnikov et al. 2023).

Kotelnikov, Baranchuk, Rubachev & Babenko (2023), "TabDDPM: Modelling Tabular Data with
Diffusion Models" (ICML). Numeric columns, quantile-transformed to normal scores, follow a
Gaussian diffusion (Ho et al. 2020, "Denoising Diffusion Probabilistic Models"), the
denoiser predicting the noise; every one-hot block (categories, missing-value
indicators) follows a multinomial diffusion (Hoogeboom et al. 2021, "Argmax Flows and
Multinomial Diffusion"), the denoiser predicting the clean category. One MLP with a
timestep embedding denoises both. The loss is the noise MSE plus the multinomial KL
terms of the variational bound (estimated at one uniform timestep and scaled by the
number of steps). Schedules: cosine (Nichol & Dhariwal 2021, "Improved Denoising
Diffusion Probabilistic Models") or linear. Sampling can stride over the timesteps
(``sample_steps``), using the exact posterior of a jump from step ``t`` to ``s``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ouroboros.synthesizers.base import Tags
from ouroboros.synthesizers.neural import NeuralSynthesizer
from ouroboros.synthesizers.params import Integer, Number, OneOf, Param
from ouroboros.synthesizers.private_marginals import MARGINAL_PARAMETERS, start_at_marginals
from ouroboros.synthesizers.torch_utils.device import (
    resolve_device,
    seeded,
    threads,
    torch_generator,
)
from ouroboros.synthesizers.torch_utils.layout import SpanLayout
from ouroboros.synthesizers.torch_utils.private import DP_PARAMETERS, PrivateSGD
from ouroboros.synthesizers.torch_utils.training import (
    History,
    batches,
    in_chunks,
    split_validation,
)
from ouroboros.synthesizers.torch_utils.weights import Average, load_module_arrays, module_arrays

_EPS = 1e-12
#: with dp=True, predicted clean values are clipped to this public range of standard
#: scores rather than to the training rows' range
_DP_RANGE = 8.0


def schedule(name: str, steps: int) -> np.ndarray:
    """Cumulative signal fractions ``alpha_bar_t`` for ``t = 1..steps`` (float64)."""
    if name == "cosine":
        s = 0.008
        x = np.linspace(0, steps, steps + 1) / steps
        f = np.cos((x + s) / (1 + s) * math.pi / 2) ** 2
        betas = np.clip(1 - f[1:] / f[:-1], 0, 0.999)
    else:
        scale = 1000 / steps
        betas = np.linspace(scale * 1e-4, scale * 0.02, steps)
    return np.cumprod(1 - betas)


def _timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    angles = t.float().unsqueeze(1) * freqs.unsqueeze(0)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


class _Denoiser(nn.Module):
    """TabDDPM's MLP: input projection plus timestep embedding, then ReLU layers."""

    def __init__(self, d: int, width: int, layers: int, d_time: int):
        super().__init__()
        self.d_time = d_time
        self.time = nn.Sequential(nn.Linear(d_time, d_time), nn.SiLU(), nn.Linear(d_time, d_time))
        self.proj = nn.Linear(d, d_time)
        body: list[nn.Module] = []
        d_in = d_time
        for _ in range(layers):
            body += [nn.Linear(d_in, width), nn.ReLU()]
            d_in = width
        self.body = nn.Sequential(*body)
        self.out = nn.Linear(d_in, d)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = self.proj(x) + self.time(_timestep_embedding(t, self.d_time))
        return self.out(self.body(h))


class TabDDPMSynthesizer(NeuralSynthesizer):
    """Mixed Gaussian/multinomial diffusion with an MLP denoiser (Kotelnikov et al. 2023).

    Defaults were chosen by quality per CPU second on Adult (``bench/quality.py``): 70
    epochs of 512-row batches, about 4,400 steps (the paper tunes up to 30,000 of 4,096),
    with a higher, linearly decaying learning rate and an average of the weights; a
    3 x 192 MLP; 1,000 timesteps for training and 100 of them, evenly spaced, for
    sampling. On Adult (detection AUC, lower is better) 60, 70 and 80 such epochs give
    0.708, 0.699 and 0.685 for 30, 36 and 52 s of fitting; 90 epochs of 1,024 rows give
    0.703 in 44 s, and a 256-wide MLP costs 40% more for no measurable gain.

    Parameters
    ----------
    steps:
        Diffusion timesteps of training.
    sample_steps:
        Timesteps visited when sampling, evenly spaced (``None`` or more than ``steps``:
        all of them); fewer is faster.
    schedule:
        ``"cosine"`` or ``"linear"`` noise schedule.
    width, layers, time_dim:
        MLP hidden width and depth; size of the input projection and timestep embedding.
    learning_rate, weight_decay:
        AdamW settings; the learning rate decays linearly to zero over training.
    ema_decay:
        Decay of the exponential moving average of the weights that is kept and sampled
        from (0: the last weights).
    epochs, batch_size, time_budget, early_stopping, patience, validation_fraction, device, \
n_threads, verbose:
        As for :class:`~ouroboros.synthesizers.neural.NeuralSynthesizer`; the held-out
        signal is the diffusion loss on held-out rows at fixed timesteps and noise.
    dp, epsilon, delta, max_grad_norm:
        DP-SGD (:mod:`~ouroboros.synthesizers.torch_utils.private`): the denoiser, the
        whole network, sees the rows and is trained with per-row clipping and noise; the
        moving average of its weights is post-processing. Numeric columns are then
        one-hot blocks over public bins (the quantile encoder would keep every training
        value), diffused as categories.
    marginals_share, dp_bins:
        With ``dp=True``: ``dp_bins`` bins of each number's public range, and the share
        of the budget's zCDP rho that releases every block's counts, from which the
        denoiser's clean-category estimates start
        (:mod:`~ouroboros.synthesizers.private_marginals`; 0: random weights).
    """

    name: ClassVar[str] = "tabddpm"
    tags: ClassVar[Tags] = Tags(
        conditioning="native", requires_torch=True, differential_privacy=True
    )
    test_params: ClassVar[dict[str, Any]] = {
        "epochs": 3,
        "batch_size": 64,
        "steps": 40,
        "sample_steps": 10,
        "n_threads": 1,
        "schema_share": 0.2,  # with dp=True (the contract's privacy check)
        "epsilon": 100.0,
    }
    parameters: ClassVar[dict[str, Param]] = {
        "steps": Param(1000, Integer(2)),
        "sample_steps": Param(100, Integer(1, optional=True)),
        "schedule": Param("cosine", OneOf(("cosine", "linear"))),
        "width": Param(192, Integer(2)),
        "layers": Param(3, Integer(0)),
        "time_dim": Param(128, Integer(2)),
        "learning_rate": Param(3e-3, Number(0, closed="neither")),
        "weight_decay": Param(1e-5, Number(0)),
        "ema_decay": Param(0.999, Number(0, 1)),
        **DP_PARAMETERS,
        **MARGINAL_PARAMETERS,
    }
    defaults: ClassVar[dict[str, Any]] = {"epochs": 70, "batch_size": 512}

    def _transformer_options(self) -> dict[str, Any]:
        numeric = ("public_bins", {"bins": self.dp_bins}) if self._private() else "quantile"
        return {"encoders": {"numeric": numeric, "categorical": "onehot"}}

    # ------------------------------------------------------------------ model
    def _build(self, rng: np.random.Generator | None = None) -> None:
        device = resolve_device(self.device)
        self.layout_ = SpanLayout(self.transformer_.output_info, device)
        layout = self.layout_
        self.scalars_ = torch.cat([layout.tanh, layout.linear])
        alpha_bar = schedule(self.schedule, self.steps)
        self.alpha_bar_ = torch.as_tensor(alpha_bar, dtype=torch.float32, device=device)
        with seeded(rng if rng is not None else np.random.default_rng(0), device):
            self.model_ = _Denoiser(layout.dim, self.width, self.layers, self.time_dim).to(device)

    def _alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        """``alpha_bar`` at step indices ``t`` (``-1`` is the clean data: 1)."""
        return torch.where(t >= 0, self.alpha_bar_[t.clamp(min=0)], torch.ones_like(t).float())

    def _assemble(self, scalars: torch.Tensor, blocks: torch.Tensor) -> torch.Tensor:
        n_tanh = len(self.layout_.tanh)
        return self.layout_.assemble(scalars[:, :n_tanh], scalars[:, n_tanh:], blocks)

    def _noisy_blocks(
        self, x0: torch.Tensor, ab: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """One-hot draw from ``q(x_t | x_0) = Cat(ab x_0 + (1 - ab) / K)`` per block."""
        ab = ab.unsqueeze(1)
        probs = ab * x0 + (1 - ab) / self.layout_.flat_width
        return self.layout_.draw(torch.log(probs.clamp(min=_EPS)), generator)

    def _posterior(
        self, x_t: torch.Tensor, x0: torch.Tensor, ab_t: torch.Tensor, ab_s: torch.Tensor
    ) -> torch.Tensor:
        """``q(x_s | x_t, x_0)`` per block for a jump from step ``t`` to ``s < t`` (flat
        one-hot columns; ``x0`` may be a distribution, as predicted by the denoiser)."""
        layout = self.layout_
        k = layout.flat_width
        a, ab_s = (ab_t / ab_s).unsqueeze(1), ab_s.unsqueeze(1)
        post = (a * x_t + (1 - a) / k) * (ab_s * x0 + (1 - ab_s) / k)
        return post / layout.segment_sum(post).clamp(min=_EPS)[:, layout.segment]

    def _losses(
        self,
        x0: torch.Tensor,
        t: torch.Tensor,
        generator: torch.Generator,
        model: nn.Module | None = None,
        rows: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise MSE (numeric) and ``steps``-scaled multinomial KL (blocks), per batch
        (``rows``: per row, for DP-SGD's ghost clipping)."""
        model = self.model_ if model is None else model
        layout = self.layout_
        ab_t, ab_s = self._alpha_bar(t), self._alpha_bar(t - 1)
        scalars0 = x0[:, self.scalars_]
        noise = torch.randn(scalars0.shape, generator=generator, device=x0.device)
        scalars_t = ab_t.sqrt().unsqueeze(1) * scalars0 + (1 - ab_t).sqrt().unsqueeze(1) * noise
        blocks0 = layout.flat(x0)
        blocks_t = self._noisy_blocks(blocks0, ab_t, generator)
        out = model(self._assemble(scalars_t, blocks_t), t)
        if len(self.scalars_):
            mse = ((out[:, self.scalars_] - noise) ** 2).sum(dim=1) / len(self.scalars_)
        else:
            mse = out.sum(dim=1) * 0
        kl = mse * 0
        if layout.n_blocks:
            predicted = layout.softmax(layout.flat(out))
            true_post = self._posterior(blocks_t, blocks0, ab_t, ab_s)
            model_post = self._posterior(blocks_t, predicted, ab_t, ab_s)
            kl = torch.xlogy(true_post, true_post) - true_post * torch.log(
                model_post.clamp(min=_EPS)
            )
            kl = self.steps * kl.sum(dim=1) / layout.n_blocks
        if rows:
            return mse, kl
        n = max(len(x0), 1)  # a DP-SGD batch may be empty
        return mse.sum() / n, kl.sum() / n

    def _train(self, matrix: np.ndarray, rng: np.random.Generator) -> None:
        self._build(rng)
        layout = self.layout_
        device = layout.device
        generator = torch_generator(rng, device)
        train_rows, held_rows = split_validation(
            len(matrix), self.validation_fraction, self.early_stopping, rng
        )
        data = torch.as_tensor(matrix, dtype=torch.float32, device=device)
        if self._private():
            self._train_private(data, rng, generator)
            return
        scalars = data[:, self.scalars_]
        self.scalar_low_ = scalars.min(dim=0).values if len(data) else scalars.sum(dim=0)
        self.scalar_high_ = scalars.max(dim=0).values if len(data) else scalars.sum(dim=0)
        train_idx = torch.as_tensor(train_rows, device=device)
        optimiser = torch.optim.AdamW(
            self.model_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        per_epoch = max(len(train_rows) // min(self.batch_size, len(train_rows)), 1)
        total = per_epoch * self.epochs
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: max(1.0 - step / total, 0.0)
        )
        average = Average(self.model_, self.ema_decay)

        def epoch():
            self.model_.train()
            for batch in batches(len(train_rows), self.batch_size, generator, device):
                x0 = data[train_idx[batch]]
                t = torch.randint(self.steps, (len(x0),), generator=generator, device=device)
                mse, kl = self._losses(x0, t, generator)
                loss = mse + kl
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                scheduler.step()
                average.update(self.model_)
                yield {"loss": loss.item(), "gaussian": mse.item(), "multinomial": kl.item()}

        validate = None
        if len(held_rows):
            held = data[torch.as_tensor(held_rows, device=device)]
            fixed = torch_generator(rng, device)

            def validate() -> float:
                average.module.eval()
                fixed.manual_seed(0)
                total_loss = 0.0
                with torch.no_grad():
                    for start, stop in in_chunks(len(held)):
                        x0 = held[start:stop]
                        t = torch.randint(self.steps, (len(x0),), generator=fixed, device=device)
                        mse, kl = self._losses(x0, t, fixed, average.module)
                        total_loss += float(mse + kl) * len(x0)
                return total_loss / len(held)

        self._run_loop(epoch, [average.module], validate)
        self.model_ = average.module.eval()

    def _train_private(
        self, data: torch.Tensor, rng: np.random.Generator, generator: torch.Generator
    ) -> None:
        """DP-SGD on the denoiser: Poisson batches, as many steps as planned."""
        device = data.device
        width = len(self.scalars_)
        self.scalar_low_ = torch.full((width,), -_DP_RANGE, device=device)
        self.scalar_high_ = torch.full((width,), _DP_RANGE, device=device)
        n = self._public_rows()  # the released count: the true one would leak
        batch = min(self.batch_size, n)
        per_epoch = max(n // batch, 1)
        total = per_epoch * self.epochs
        optimiser = torch.optim.AdamW(
            self.model_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: max(1.0 - step / total, 0.0)
        )
        if self.private_fit_.marginals:
            start_at_marginals(self.model_.out, self.layout_, list(self.private_fit_.marginals))
        average = Average(self.model_, self.ema_decay)  # copied before Opacus' hooks
        plan = self._privacy_plan(batch, total)
        sgd = PrivateSGD([self.model_], optimiser, plan, len(data), rng, device, ghost=True)

        def epoch():
            self.model_.train()
            for _ in range(per_epoch):
                x0 = data[sgd.batch()]
                t = torch.randint(self.steps, (len(x0),), generator=generator, device=device)
                mse, kl = self._losses(x0, t, generator, rows=True)
                sgd.zero_grad()
                sgd.backward(mse + kl)
                sgd.step()
                scheduler.step()
                average.update(self.model_)
                n = max(len(x0), 1)
                mse, kl = float(mse.detach().sum()) / n, float(kl.detach().sum()) / n
                yield {"loss": mse + kl, "gaussian": mse, "multinomial": kl}

        try:
            self._run_loop(epoch, [average.module])
        finally:
            self._finish_private(sgd, "the denoiser (the whole network sees the rows)")
        self.model_ = average.module.eval()

    # ------------------------------------------------------------------ sampling
    def _timesteps(self) -> list[int]:
        count = self.steps if self.sample_steps is None else min(self.sample_steps, self.steps)
        points = np.unique(np.round(np.linspace(0, self.steps - 1, count)).astype(int))
        return points[::-1].tolist()

    def _draw(
        self,
        n: int,
        rng: np.random.Generator,
        fixed: dict[int, int] | None = None,
    ) -> np.ndarray:
        """``n`` encoded rows by ancestral sampling; ``fixed`` maps a block index to a
        category that is imposed at every step (replacement guidance)."""
        layout = self.layout_
        device = layout.device
        generator = torch_generator(rng, device)
        out = np.empty((n, layout.dim), dtype=np.float32)
        path = self._timesteps()
        n_flat = len(layout.onehot)
        target = torch.zeros((1, n_flat), device=device)
        imposed = torch.zeros(n_flat, dtype=torch.bool, device=device)
        for block, category in (fixed or {}).items():
            target[0, layout.flat_start[block] + category] = 1.0
            imposed |= layout.segment == block
        with threads(self.n_threads), torch.no_grad():
            for start, stop in in_chunks(n):
                m = stop - start
                scalars = torch.randn((m, len(self.scalars_)), generator=generator, device=device)
                blocks = layout.draw(torch.zeros((m, n_flat), device=device), generator)
                for i, step in enumerate(path):
                    nxt = path[i + 1] if i + 1 < len(path) else -1
                    t = torch.full((m,), step, dtype=torch.long, device=device)
                    ab_t = self._alpha_bar(t)
                    ab_s = self._alpha_bar(torch.full_like(t, nxt))
                    if fixed:
                        noisy = self._noisy_blocks(target.expand(m, -1), ab_t, generator)
                        blocks = torch.where(imposed, noisy, blocks)
                    raw = self.model_(self._assemble(scalars, blocks), t)
                    scalars = self._gaussian_step(
                        scalars, raw[:, self.scalars_], ab_t, ab_s, generator
                    )
                    if n_flat:
                        predicted = layout.softmax(layout.flat(raw))
                        post = self._posterior(blocks, predicted, ab_t, ab_s)
                        blocks = layout.draw(torch.log(post.clamp(min=_EPS)), generator)
                if fixed:
                    blocks = torch.where(imposed, target, blocks)
                out[start:stop] = self._assemble(scalars, blocks).cpu().numpy()
        return out

    def _gaussian_step(
        self,
        x_t: torch.Tensor,
        eps: torch.Tensor,
        ab_t: torch.Tensor,
        ab_s: torch.Tensor,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """Draw from ``q(x_s | x_t, x0_hat)``, ``x0_hat`` from the predicted noise (clipped to
        the training range)."""
        ab_t, ab_s = ab_t.unsqueeze(1), ab_s.unsqueeze(1)
        x0 = (x_t - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()
        x0 = torch.maximum(torch.minimum(x0, self.scalar_high_), self.scalar_low_)
        a = ab_t / ab_s
        mean = (ab_s.sqrt() * (1 - a) * x0 + a.sqrt() * (1 - ab_s) * x_t) / (1 - ab_t)
        var = (1 - a) * (1 - ab_s) / (1 - ab_t)
        noise = torch.randn(x_t.shape, generator=generator, device=x_t.device)
        return mean + var.clamp(min=0).sqrt() * noise

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._draw(n, rng)

    def _draw_conditioned(
        self, n: int, rng: np.random.Generator, positions: dict[str, int]
    ) -> np.ndarray:
        """Conditions on one-hot columns are imposed during denoising (replacement
        guidance)."""
        blocks = self.layout_.block_columns
        fixed = {blocks.index(column): position for column, position in positions.items()}
        return self._draw(n, rng, fixed)

    # ------------------------------------------------------------------ state
    def _get_state(self) -> dict[str, Any]:
        return {
            "model": module_arrays(self.model_),
            "scalar_low": self.scalar_low_.cpu().numpy(),
            "scalar_high": self.scalar_high_.cpu().numpy(),
            "history": self.history_.to_state(),
            **self._privacy_state(),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._build()
        load_module_arrays(self.model_, state["model"])
        self.model_.eval()
        device = self.layout_.device
        self.scalar_low_ = torch.as_tensor(np.asarray(state["scalar_low"]), device=device)
        self.scalar_high_ = torch.as_tensor(np.asarray(state["scalar_high"]), device=device)
        self.history_ = History.from_state(state["history"])
        self._restore_privacy(state)
