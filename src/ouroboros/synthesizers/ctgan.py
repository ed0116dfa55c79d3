"""CTGAN: the conditional GAN for tables of Xu et al. (2019).

Xu, Skoularidou, Cuesta-Infante & Veeramachaneni (2019), "Modeling Tabular Data using
Conditional GAN" (NeurIPS). Numeric columns use mode-specific normalisation; a
conditional vector picks one category of one discrete column, chosen by
training-by-sampling (columns uniformly, categories by log-frequency or frequency) and
paired with real rows that have it; the generator is penalised when its output disagrees
with the condition. The critic is trained with the Wasserstein loss and gradient penalty
(Gulrajani et al. 2017, "Improved Training of Wasserstein GANs") on packs of ``pac``
rows (Lin et al. 2018, "PacGAN"). Options against mode collapse: spectral normalisation
of the critic (Miyato et al. 2018, "Spectral Normalization for Generative Adversarial
Networks"), minibatch discrimination and feature matching (Salimans et al. 2016,
"Improved Techniques for Training GANs"). Samples come from a moving average of the
generator's weights (Yazici et al. 2019, "The Unusual Effectiveness of Averaging in GAN
Training").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ouroboros.errors import check_param
from ouroboros.synthesizers.base import Tags
from ouroboros.synthesizers.ctgan_conditions import ConditionSampler as _ConditionSampler
from ouroboros.synthesizers.neural import NeuralSynthesizer
from ouroboros.synthesizers.params import Boolean, Integer, Number, Param
from ouroboros.synthesizers.torch_utils.device import (
    resolve_device,
    seeded,
    threads,
    torch_generator,
)
from ouroboros.synthesizers.torch_utils.layout import SpanLayout
from ouroboros.synthesizers.torch_utils.noise import dropout
from ouroboros.synthesizers.torch_utils.private import DP_PARAMETERS
from ouroboros.synthesizers.torch_utils.training import History, in_chunks, split_validation
from ouroboros.synthesizers.torch_utils.weights import Average, load_module_arrays, module_arrays

_TAU = 0.2  # Gumbel-softmax temperature of the paper's code
_GP_WEIGHT = 10.0
_SLOPE = 0.2


class _Residual(nn.Module):
    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)
        self.bn = nn.BatchNorm1d(d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(self.bn(self.fc(x))), x], dim=1)


class _Generator(nn.Module):
    def __init__(self, d_in: int, width: int, layers: int, d_out: int):
        super().__init__()
        blocks = []
        for _ in range(layers):
            blocks.append(_Residual(d_in, width))
            d_in += width
        self.body = nn.Sequential(*blocks)
        self.out = nn.Linear(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))


class _MinibatchDiscrimination(nn.Module):
    """Salimans et al. (2016): features saying how close a pack is to the others."""

    def __init__(self, d_in: int, kernels: int = 16, kernel_dim: int = 8):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.tensor = nn.Parameter(torch.randn(d_in, kernels * kernel_dim) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = (x @ self.tensor).view(-1, self.kernels, self.kernel_dim)
        distance = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(dim=3)
        closeness = torch.exp(-distance).sum(dim=0) - 1.0
        return torch.cat([x, closeness], dim=1)


class _Critic(nn.Module):
    def __init__(
        self,
        d_in: int,
        width: int,
        layers: int,
        pac: int,
        spectral: bool,
        minibatch: bool,
        dropout: float,
    ):
        super().__init__()
        self.pac, self.dropout = pac, dropout
        wrap = nn.utils.parametrizations.spectral_norm if spectral else (lambda m: m)
        d = d_in * pac
        self.hidden = nn.ModuleList()
        for _ in range(layers):
            self.hidden.append(wrap(nn.Linear(d, width)))
            d = width
        self.minibatch = _MinibatchDiscrimination(d) if minibatch else None
        if minibatch:
            d += self.minibatch.kernels
        self.out = wrap(nn.Linear(d, 1))

    def features(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        h = x.reshape(-1, x.shape[1] * self.pac)
        for layer in self.hidden:
            h = nn.functional.leaky_relu(layer(h), _SLOPE)
            if generator is not None and self.dropout:
                h = dropout(h, self.dropout, generator, self.training)
        return h

    def head(self, h: torch.Tensor) -> torch.Tensor:
        if self.minibatch is not None:
            h = self.minibatch(h)
        return self.out(h)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.head(self.features(x, generator))


class CTGANSynthesizer(NeuralSynthesizer):
    """Conditional tabular GAN (Xu et al. 2019) with the PacGAN critic and WGAN-GP.

    Defaults were chosen for quality per CPU second on Adult (``bench/quality.py``,
    SDMetrics quality, 20 epochs, seed 0). Each step below kept the ones before it:

    - the paper's settings: 0.829; with the point modes of
      :class:`~ouroboros.transforms.ModeEncoder`: 0.850;
    - training conditions drawn by frequency rather than log-frequency: 0.870;
    - sampling from the moving average of the generator's weights: 0.909;
    - no dropout in the critic: 0.915; the feature-matching loss: 0.919;
    - packs of 2 rows rather than 10: 0.945 (seed 1: 0.903);
    - 1,000-row batches rather than 500, 1.5x faster per epoch on two threads: 0.934
      (pac 10 then scores 0.897, pac 5 0.921);
    - 64 noise dimensions and a 192-wide generator rather than 128 and 256, 10% faster:
      0.935 (seeds 1 and 2: 0.936 and 0.913).

    That fits Adult in about 30 s on two cores. ``epochs=None`` trains 20 epochs, or on
    small tables as many as 640 generator updates take (46 on California housing, quality
    0.837 in 25 s). Tables of numbers only gain from more: 107 epochs (1,500 updates) lift
    California to 0.896 in 46 s.
    Log-frequency conditions (``log_frequency=True``) leak into the marginals (Adult's
    ">50K" share 0.40 instead of 0.24; quality 0.920) but teach the generator to follow
    rare conditions (90% of the rows drawn for a 4% category have it, against 35%): use
    them to sample rare categories.

    Parameters
    ----------
    epochs, batch_size:
        Passes over the data (``None``: 20, or more when that is fewer than 640 generator
        updates) and rows per step (rounded down to a multiple of ``pac``).
    embedding_dim:
        Size of the noise vector.
    generator_width, generator_layers, critic_width, critic_layers, critic_dropout:
        Hidden sizes of the residual generator and of the critic; dropout after each
        critic layer (the paper's code uses 0.5).
    generator_lr, critic_lr, generator_decay, critic_decay:
        Adam learning rates and weight decays (betas 0.5, 0.9 as in the paper).
    critic_steps:
        Critic updates per generator update.
    pac:
        Rows per pack the critic judges together (PacGAN).
    log_frequency:
        Draw training conditions by log-frequency (the paper) rather than frequency.
    spectral_norm:
        Spectral normalisation of every critic layer.
    minibatch_discrimination:
        Add a minibatch-discrimination layer before the critic's output.
    feature_matching:
        Add the feature-matching loss (critic's last hidden features) to the generator's.
    ema_decay:
        Decay of the moving average of the generator's weights that is kept and sampled
        from (Yazici et al. 2019, "The Unusual Effectiveness of Averaging in GAN
        Training"); 0: the last weights.
    time_budget, early_stopping, patience, validation_fraction, device, n_threads, verbose:
        As for :class:`~ouroboros.synthesizers.neural.NeuralSynthesizer`; the held-out
        signal is the critic's Wasserstein estimate between held-out real rows and fresh
        synthetic rows.
    dp, epsilon, delta, max_grad_norm:
        DP-SGD on the critic only, the one network that sees rows; the generator learns
        through the critic's outputs (post-processing). The conditional vector's category
        frequencies are measured with the Gaussian mechanism inside the same accounting,
        and the critic judges single rows with the logistic loss
        (:mod:`~ouroboros.synthesizers.ctgan_private` says what changes and why).
    """

    name: ClassVar[str] = "ctgan"
    tags: ClassVar[Tags] = Tags(
        conditioning="native", requires_torch=True, differential_privacy=True
    )
    test_params: ClassVar[dict[str, Any]] = {
        "epochs": 2,
        "batch_size": 100,
        "n_threads": 1,
        "schema_share": 0.2,  # with dp=True (the contract's privacy check)
        "epsilon": 100.0,
    }
    parameters: ClassVar[dict[str, Param]] = {
        "epochs": Param(None, Integer(1, optional=True)),
        "embedding_dim": Param(64, Integer(1)),
        "generator_width": Param(192, Integer(1)),
        "generator_layers": Param(2, Integer(0)),
        "critic_width": Param(256, Integer(1)),
        "critic_layers": Param(2, Integer(0)),
        "critic_dropout": Param(0.0, Number(0, 1)),
        "generator_lr": Param(2e-4, Number(0, closed="neither")),
        "critic_lr": Param(2e-4, Number(0, closed="neither")),
        "generator_decay": Param(1e-6, Number(0)),
        "critic_decay": Param(1e-6, Number(0)),
        "critic_steps": Param(1, Integer(1)),
        "pac": Param(2, Integer(1)),
        "log_frequency": Param(False, Boolean()),
        "spectral_norm": Param(False, Boolean()),
        "minibatch_discrimination": Param(False, Boolean()),
        "feature_matching": Param(True, Boolean()),
        "ema_decay": Param(0.99, Number(0, 1)),
        **DP_PARAMETERS,
    }
    defaults: ClassVar[dict[str, Any]] = {"batch_size": 1000}
    #: generator updates that ``epochs=None`` trains at least
    min_steps: ClassVar[int] = 640

    def _check_params(self) -> None:
        super()._check_params()
        ok = self.batch_size >= self.pac
        check_param("batch_size", self.batch_size, ok, f"at least pac ({self.pac})")

    def _transformer_options(self) -> dict[str, Any]:
        # with dp=True, a mean and a scale per column rather than a fitted mixture
        numeric = "standard" if self._private() else "mode"
        return {"encoders": {"numeric": numeric, "categorical": "onehot"}}

    # ------------------------------------------------------------------ model
    def _build(self, rng: np.random.Generator | None = None) -> None:
        device = resolve_device(self.device)
        transformer = self.transformer_
        self.layout_ = SpanLayout(transformer.output_info, device)
        discrete = transformer.discrete_columns()
        columns, blocks = [], []
        for column in discrete:
            start, stop, _ = transformer.category_block(column)
            columns.extend(range(start, stop))
            blocks.append(self.layout_.block_columns.index(column))
        self.discrete_ = discrete
        self.cond_columns_ = torch.as_tensor(np.asarray(columns, dtype=np.int64), device=device)
        self.cond_blocks_ = torch.as_tensor(np.asarray(blocks, dtype=np.int64), device=device)
        d, c = self.layout_.dim, len(columns)
        with seeded(rng if rng is not None else np.random.default_rng(0), device):
            self.generator_ = _Generator(
                self.embedding_dim + c, self.generator_width, self.generator_layers, d
            ).to(device)
            self.critic_ = _Critic(
                d + c,
                self.critic_width,
                self.critic_layers,
                1 if self._private() else self.pac,
                self.spectral_norm,
                self.minibatch_discrimination,
                self.critic_dropout,
            ).to(device)

    def _discrete_widths(self) -> list[int]:
        blocks = [self.transformer_.category_block(c) for c in self.discrete_]
        return [stop - start for start, stop, _ in blocks]

    def _make_sampler(self, matrix: np.ndarray) -> None:
        codes = []
        for column in self.discrete_:
            start, stop, _ = self.transformer_.category_block(column)
            codes.append(np.argmax(matrix[:, start:stop], axis=1))
        self.sampler_ = _ConditionSampler.from_codes(
            codes, self._discrete_widths(), self.layout_.device
        )

    def _generate(
        self, n: int, cond: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw generator output and its activated form (Gumbel-softmax blocks)."""
        noise = torch.randn((n, self.embedding_dim), generator=generator, device=cond.device)
        raw = self.generator_(torch.cat([noise, cond], dim=1))
        return raw, self.layout_.activate(raw, tau=_TAU, generator=generator)

    def _condition_loss(
        self, raw: torch.Tensor, column: torch.Tensor, category: torch.Tensor
    ) -> torch.Tensor:
        if self.sampler_.n_columns == 0:
            return raw.new_zeros(())
        layout = self.layout_
        log_probs = layout.log_softmax(layout.flat(raw))
        position = layout.flat_start[self.cond_blocks_[column]] + category
        return -log_probs.gather(1, position.unsqueeze(1)).mean()

    def _penalty(
        self, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        packs, width = len(real) // self.pac, real.shape[1]
        alpha = torch.rand((packs, 1, 1), generator=generator, device=real.device)
        alpha = alpha.expand(packs, self.pac, width).reshape(-1, width)
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        score = self.critic_(mixed, generator)
        (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
        norms = grad.reshape(packs, -1).norm(2, dim=1)
        return _GP_WEIGHT * ((norms - 1) ** 2).mean()

    def _train(self, matrix: np.ndarray, rng: np.random.Generator) -> None:
        if self._private():
            from ouroboros.synthesizers.ctgan_private import PrivateTraining

            PrivateTraining(self, matrix, rng).run()
            return
        _Training(self, matrix, rng).run()

    def _conditions_of(self, rows: torch.Tensor) -> torch.Tensor:
        """A conditional vector for real rows: one of their discrete columns, at random
        but reproducibly (the column of row ``i`` is ``i`` modulo the number of columns)."""
        if self.sampler_.n_columns == 0:
            return torch.zeros((len(rows), 0), device=rows.device)
        column = torch.arange(len(rows), device=rows.device) % self.sampler_.n_columns
        blocks = rows[:, self.cond_columns_]
        cond = torch.zeros_like(blocks)
        starts = self.sampler_.offsets[column]
        widths = self.sampler_.widths[column]
        position = torch.arange(blocks.shape[1], device=rows.device).unsqueeze(0)
        inside = (position >= starts.unsqueeze(1)) & (position < (starts + widths).unsqueeze(1))
        cond[inside] = blocks[inside]
        return cond

    # ------------------------------------------------------------------ sampling
    def _draw(
        self, n: int, rng: np.random.Generator, fixed: tuple[int, int] | None = None
    ) -> np.ndarray:
        """``n`` encoded rows; conditions drawn by frequency, or all set to ``fixed``
        (discrete column position, category index)."""
        device = self.layout_.device
        generator = torch_generator(rng, device)
        out = np.empty((n, self.layout_.dim), dtype=np.float32)
        self.generator_.eval()
        with threads(self.n_threads), torch.no_grad():
            for start, stop in in_chunks(n):
                m = stop - start
                if self.sampler_.n_columns == 0:
                    cond = torch.zeros((m, 0), device=device)
                elif fixed is None:
                    cond = self.sampler_.vector(*self.sampler_.draw(m, generator, False))
                else:
                    column = torch.full((m,), fixed[0], dtype=torch.long, device=device)
                    category = torch.full((m,), fixed[1], dtype=torch.long, device=device)
                    cond = self.sampler_.vector(column, category)
                _, fake = self._generate(m, cond, generator)
                out[start:stop] = fake.cpu().numpy()
        return out

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._draw(n, rng)

    def _draw_conditioned(
        self, n: int, rng: np.random.Generator, positions: dict[str, int]
    ) -> np.ndarray:
        """Native conditioning: the first condition on a one-hot column goes into the
        conditional vector (the generator follows it closely but not perfectly, so rows
        are still checked). A value pooled into "other" is conditioned as "other"."""
        fixed = next(((self.discrete_.index(c), p) for c, p in positions.items()), None)
        return self._draw(n, rng, fixed)

    # ------------------------------------------------------------------ state
    def _get_state(self) -> dict[str, Any]:
        sampler = self.sampler_
        return {
            "generator": module_arrays(self.generator_),
            "critic": module_arrays(self.critic_),
            "category_counts": sampler.flat_count.cpu().numpy(),
            "history": self.history_.to_state(),
            **self._privacy_state(),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._build()
        load_module_arrays(self.generator_, state["generator"])
        load_module_arrays(self.critic_, state["critic"])
        self.generator_.eval()
        self.critic_.eval()
        counts = np.asarray(state["category_counts"], dtype=np.float64)
        widths = self._discrete_widths()
        splits = np.split(counts, np.cumsum(widths)[:-1]) if widths else []
        self.sampler_ = _ConditionSampler(list(splits), self.layout_.device)
        self.history_ = History.from_state(state["history"])
        self._restore_privacy(state)


class _Training:
    """One CTGAN fit: data, optimisers and weight average, and the steps of an epoch.

    The random draws (numpy ``rng``, then the torch ``generator``) happen in a fixed
    order, so the same seed gives the same model.
    """

    def __init__(self, model: CTGANSynthesizer, matrix: np.ndarray, rng: np.random.Generator):
        model._build(rng)
        self.model = model
        self.device = device = model.layout_.device
        self.generator = torch_generator(rng, device)
        train_rows, held_rows = split_validation(
            len(matrix), model.validation_fraction, model.early_stopping, rng
        )
        data = torch.as_tensor(matrix, dtype=torch.float32, device=device)
        model._make_sampler(matrix[train_rows])
        self.train_data = data[torch.as_tensor(train_rows, device=device)]
        self.n_train = len(train_rows)
        pac = model.pac
        self.batch = max(min(model.batch_size, self.n_train) // pac * pac, pac)
        self.steps = max(self.n_train // self.batch, 1)
        self.has_cond = model.sampler_.n_columns > 0
        self.opt_g = torch.optim.Adam(
            model.generator_.parameters(),
            lr=model.generator_lr,
            betas=(0.5, 0.9),
            weight_decay=model.generator_decay,
        )
        self.opt_c = torch.optim.Adam(
            model.critic_.parameters(),
            lr=model.critic_lr,
            betas=(0.5, 0.9),
            weight_decay=model.critic_decay,
        )
        self.average = Average(model.generator_, model.ema_decay)
        self.held = None
        if len(held_rows):
            held = data[torch.as_tensor(held_rows, device=device)]
            self.held = held[: len(held) // pac * pac]
            self.fixed = torch_generator(rng, device)

    def run(self) -> None:
        """Train, then keep the averaged generator."""
        model = self.model
        epochs = None
        if model.epochs is None:
            epochs = max(20, -(-model.min_steps // self.steps))
        modules = [model.generator_, model.critic_, self.average.module]
        validate = None if self.held is None else self.validate
        model._run_loop(self.epoch, modules, validate, epochs=epochs)
        model.generator_ = self.average.module
        model.generator_.eval()
        model.critic_.eval()

    def conditions(self, n: int) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
        """Training conditions ``(column, category, vector)``, drawn by (log-)frequency."""
        if not self.has_cond:
            return None, None, torch.zeros((n, 0), device=self.device)
        sampler = self.model.sampler_
        column, category = sampler.draw(n, self.generator, self.model.log_frequency)
        return column, category, sampler.vector(column, category)

    def real_batch(
        self, column: torch.Tensor | None, category: torch.Tensor | None
    ) -> torch.Tensor:
        """Training rows having each condition (any rows without conditions)."""
        if column is None:
            rows = torch.randint(
                self.n_train, (self.batch,), generator=self.generator, device=self.device
            )
            return self.train_data[rows]
        return self.train_data[self.model.sampler_.real_rows(column, category, self.generator)]

    def critic_step(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One critic update; its loss, the Wasserstein gap and the real rows' features."""
        model, batch, generator = self.model, self.batch, self.generator
        column, category, cond = self.conditions(batch)
        with torch.no_grad():
            _, fake = model._generate(batch, cond, generator)
        perm = torch.randperm(batch, generator=generator, device=self.device)
        real = self.real_batch(
            None if column is None else column[perm], None if category is None else category[perm]
        )
        real_in = torch.cat([real, cond[perm]], dim=1)
        fake_in = torch.cat([fake, cond], dim=1)
        # one pass over real and fake packs; the heads stay apart, as minibatch
        # discrimination compares packs within one side
        real_h, fake_h = model.critic_.features(torch.cat([real_in, fake_in]), generator).chunk(2)
        gap = model.critic_.head(real_h).mean() - model.critic_.head(fake_h).mean()
        loss = -gap + model._penalty(real_in, fake_in, generator)
        self.opt_c.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_c.step()
        return loss, gap, real_h

    def generator_step(self, real_h: torch.Tensor) -> torch.Tensor:
        """One generator update (critic score, condition loss, feature matching); its loss."""
        model, generator = self.model, self.generator
        column, category, cond = self.conditions(self.batch)
        raw, fake = model._generate(self.batch, cond, generator)
        fake_h = model.critic_.features(torch.cat([fake, cond], dim=1), generator)
        loss = -model.critic_.head(fake_h).mean()
        if self.has_cond:
            loss = loss + model._condition_loss(raw, column, category)
        if model.feature_matching:
            target = real_h.detach().mean(dim=0)
            loss = loss + ((fake_h.mean(dim=0) - target) ** 2).sum()
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        self.average.update(model.generator_)
        return loss

    def epoch(self) -> Iterator[dict[str, float]]:
        """The steps of one pass: ``critic_steps`` critic updates per generator update."""
        self.model.generator_.train()
        self.model.critic_.train()
        for _ in range(self.steps):
            for _ in range(self.model.critic_steps):
                loss_c, gap, real_h = self.critic_step()
            loss_g = self.generator_step(real_h)
            yield {
                "critic_loss": loss_c.item(),
                "generator_loss": loss_g.item(),
                "wasserstein": gap.item(),
            }

    def validate(self) -> float:
        """The critic's Wasserstein estimate between held-out rows and fresh fakes."""
        model, held, fixed = self.model, self.held, self.fixed
        model.generator_.eval()
        model.critic_.eval()
        fixed.manual_seed(0)
        n = len(held)
        with torch.no_grad():
            cond = (
                model.sampler_.vector(*model.sampler_.draw(n, fixed, False))
                if self.has_cond
                else torch.zeros((n, 0), device=self.device)
            )
            _, fake = model._generate(n, cond, fixed)
            real_in = torch.cat([held, model._conditions_of(held)], dim=1)
            gap = model.critic_(real_in).mean() - model.critic_(torch.cat([fake, cond], 1)).mean()
        return float(gap.abs())
