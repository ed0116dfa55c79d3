"""TVAE: the variational autoencoder for tables of Xu et al. (2019).

Xu, Skoularidou, Cuesta-Infante & Veeramachaneni (2019), "Modeling Tabular Data using
Conditional GAN" (NeurIPS), section 4.3. Rows are encoded with mode-specific
normalisation; the decoder gives a Gaussian (learned scale per column, on the tanh
scalar) for numeric values and a categorical distribution for every one-hot block. The
evidence lower bound is ``loss_factor * reconstruction + kl_weight * KL``. Sampling
draws every block from its categorical distribution (the paper's code takes the argmax,
which drops rare categories) and takes numeric values at the decoder's mean (its
Gaussian noise, one scale per column, blurs point masses such as a column's zeros).
The history keeps the KL of every latent dimension per epoch, so posterior collapse
(dimensions whose KL falls to zero) shows in the model file (Bowman et al. 2016, "Generating
Sentences from a Continuous Space").
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ouroboros.synthesizers.base import Tags
from ouroboros.synthesizers.neural import NeuralSynthesizer
from ouroboros.synthesizers.params import Integer, Number, Param
from ouroboros.synthesizers.private_marginals import (
    MARGINAL_PARAMETERS,
    calibrate_to_marginals,
    start_at_marginals,
)
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
from ouroboros.synthesizers.torch_utils.weights import load_module_arrays, module_arrays

#: codes drawn from the prior per round of the DP calibration of the marginals
CALIBRATION_DRAWS = 20_000


def _mlp(d_in: int, width: int, layers: int) -> nn.Sequential:
    modules: list[nn.Module] = []
    for _ in range(layers):
        modules += [nn.Linear(d_in, width), nn.ReLU()]
        d_in = width
    return nn.Sequential(*modules)


class _Encoder(nn.Module):
    def __init__(self, d_in: int, width: int, layers: int, latent: int):
        super().__init__()
        self.body = _mlp(d_in, width, layers)
        self.mu = nn.Linear(width if layers else d_in, latent)
        self.logvar = nn.Linear(width if layers else d_in, latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class _Decoder(nn.Module):
    def __init__(self, latent: int, width: int, layers: int, d_out: int):
        super().__init__()
        self.body = _mlp(latent, width, layers)
        self.out = nn.Linear(width if layers else latent, d_out)
        self.sigma = nn.Parameter(torch.full((d_out,), 0.1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(z))


class TVAESynthesizer(NeuralSynthesizer):
    """Variational autoencoder over mode-specific normalised rows (Xu et al. 2019).

    Defaults are the paper's (batches of 500, two 128-wide layers, a 128-dimensional
    latent code) except ``epochs``: 80 rather than 300, which on Adult reach about 0.935
    SDMetrics quality (0.941 at 100 epochs, 0.942 at 150; see ``bench/quality.py``) in a
    sixth of the time.

    Parameters
    ----------
    latent_dim, width, layers:
        Size of the latent code and of the encoder/decoder hidden layers.
    kl_weight:
        Weight of the KL term (``1`` is the ELBO; below 1 trades prior match for
        reconstruction, a ``beta``-VAE above 1).
    loss_factor:
        Weight of the reconstruction term (the paper's code uses 2).
    learning_rate, weight_decay:
        Adam settings.
    epochs, batch_size, time_budget, early_stopping, patience, validation_fraction, device, \
n_threads, verbose:
        As for :class:`~ouroboros.synthesizers.neural.NeuralSynthesizer`; the held-out
        signal is the ELBO of held-out rows.
    dp, epsilon, delta, max_grad_norm, schema_share:
        DP-SGD (:mod:`~ouroboros.synthesizers.torch_utils.private`). The encoder and the
        decoder both see the rows, so both are trained with per-row clipping and noise;
        the decoder's output scales are then fixed at their initial 0.1 (Opacus gives no
        per-row gradient for a bare parameter). Sampling uses the decoder only.
    marginals_share, dp_bins:
        With ``dp=True``: numbers become one-hot blocks over ``dp_bins`` bins of their
        public range, and ``marginals_share`` of the budget's zCDP rho releases every
        block's counts, from which the decoder starts
        (:mod:`~ouroboros.synthesizers.private_marginals`; 0: start from random weights).
    """

    name: ClassVar[str] = "tvae"
    tags: ClassVar[Tags] = Tags(
        conditioning="rejection", requires_torch=True, differential_privacy=True
    )
    test_params: ClassVar[dict[str, Any]] = {
        "epochs": 3,
        "batch_size": 64,
        "n_threads": 1,
        "schema_share": 0.2,  # with dp=True (the contract's privacy check)
        "epsilon": 100.0,
    }
    parameters: ClassVar[dict[str, Param]] = {
        "latent_dim": Param(128, Integer(1)),
        "width": Param(128, Integer(1)),
        "layers": Param(2, Integer(0)),
        "kl_weight": Param(1.0, Number(0)),
        "loss_factor": Param(2.0, Number(0)),
        "learning_rate": Param(1e-3, Number(0, closed="neither")),
        "weight_decay": Param(1e-5, Number(0)),
        **DP_PARAMETERS,
        **MARGINAL_PARAMETERS,
    }
    defaults: ClassVar[dict[str, Any]] = {"epochs": 80, "batch_size": 500}

    def _transformer_options(self) -> dict[str, Any]:
        # with dp=True, bins of the public range rather than a mixture fitted on the rows
        numeric = ("public_bins", {"bins": self.dp_bins}) if self._private() else "mode"
        return {"encoders": {"numeric": numeric, "categorical": "onehot"}}

    # ------------------------------------------------------------------ model
    def _build(self, rng: np.random.Generator | None = None) -> None:
        device = resolve_device(self.device)
        d = self.transformer_.output_dim
        self.layout_ = SpanLayout(self.transformer_.output_info, device)
        with seeded(rng if rng is not None else np.random.default_rng(0), device):
            self.encoder_ = _Encoder(d, self.width, self.layers, self.latent_dim).to(device)
            self.decoder_ = _Decoder(self.latent_dim, self.width, self.layers, d).to(device)

    def _elbo_rows(
        self, x: torch.Tensor, noise: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's reconstruction loss ``(n,)`` and KL ``(n, latent)``."""
        layout = self.layout_
        mu, logvar = self.encoder_(x)
        z = mu if noise is None else mu + noise * torch.exp(0.5 * logvar)
        raw = self.decoder_(z)
        sigma = self.decoder_.sigma
        recon = layout.cross_entropy(raw, x).sum(dim=1)
        for columns, mean in ((layout.tanh, torch.tanh), (layout.linear, lambda r: r)):
            if len(columns):
                s = sigma[columns]
                err = x[:, columns] - mean(raw[:, columns])
                recon = recon + (err**2 / (2 * s**2)).sum(dim=1) + torch.log(s).sum()
        kl = 0.5 * (mu**2 + torch.exp(logvar) - 1.0 - logvar)
        return recon, kl

    def _elbo_terms(
        self, x: torch.Tensor, noise: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-batch mean reconstruction loss and per-dimension KL."""
        recon, kl = self._elbo_rows(x, noise)
        n = max(len(x), 1)
        return recon.sum() / n, kl.sum(dim=0) / n

    def _train(self, matrix: np.ndarray, rng: np.random.Generator) -> None:
        self._build(rng)
        device = self.layout_.device
        generator = torch_generator(rng, device)
        if self._private():
            self._train_private(matrix, rng, generator)
            return
        train_rows, held_rows = split_validation(
            len(matrix), self.validation_fraction, self.early_stopping, rng
        )
        data = torch.as_tensor(matrix, dtype=torch.float32, device=device)
        train_idx = torch.as_tensor(train_rows, device=device)
        params = [*self.encoder_.parameters(), *self.decoder_.parameters()]
        optimiser = torch.optim.Adam(params, lr=self.learning_rate, weight_decay=self.weight_decay)
        kl_sum = torch.zeros(self.latent_dim, device=device)
        steps = [0]

        def epoch():
            self.encoder_.train()
            self.decoder_.train()
            for batch in batches(len(train_rows), self.batch_size, generator, device):
                rows = train_idx[batch]
                x = data[rows]
                noise = torch.randn((len(x), self.latent_dim), generator=generator, device=device)
                recon, kl = self._elbo_terms(x, noise)
                loss = self.loss_factor * recon + self.kl_weight * kl.sum()
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                with torch.no_grad():
                    self.decoder_.sigma.clamp_(0.01, 1.0)
                    kl_sum.add_(kl.detach())
                steps[0] += 1
                yield {"loss": loss.item(), "reconstruction": recon.item(), "kl": kl.sum().item()}

        def per_dimension(history: History) -> None:
            history.add("kl_per_dim", (kl_sum / max(steps[0], 1)).cpu().numpy().tolist())
            kl_sum.zero_()
            steps[0] = 0

        validate = None
        if len(held_rows):
            held = torch.as_tensor(held_rows, device=device)

            def validate() -> float:
                self.encoder_.eval()
                self.decoder_.eval()
                total = 0.0
                with torch.no_grad():
                    for start, stop in in_chunks(len(held)):
                        rows = held[start:stop]
                        recon, kl = self._elbo_terms(data[rows], None)
                        total += float(recon + kl.sum()) * (stop - start)
                return total / len(held)

        self._run_loop(epoch, [self.encoder_, self.decoder_], validate, per_dimension)
        self.encoder_.eval()
        self.decoder_.eval()

    def _train_private(
        self, matrix: np.ndarray, rng: np.random.Generator, generator: torch.Generator
    ) -> None:
        """DP-SGD on encoder and decoder: Poisson batches, as many steps as planned."""
        device = self.layout_.device
        data = torch.as_tensor(matrix, dtype=torch.float32, device=device)
        n = self._public_rows()  # the released count: the true one would leak
        batch = min(self.batch_size, n)
        per_epoch = max(n // batch, 1)
        self.decoder_.sigma.requires_grad_(False)
        if self.private_fit_.marginals:
            start_at_marginals(self.decoder_.out, self.layout_, list(self.private_fit_.marginals))
        params = [p for m in (self.encoder_, self.decoder_) for p in m.parameters()]
        optimiser = torch.optim.Adam(
            [p for p in params if p.requires_grad],
            lr=self.learning_rate,
            weight_decay=self.weight_decay,
        )
        plan = self._privacy_plan(batch, per_epoch * self.epochs)
        sgd = PrivateSGD(
            [self.encoder_, self.decoder_], optimiser, plan, len(data), rng, device, ghost=True
        )

        def epoch():
            self.encoder_.train()
            self.decoder_.train()
            for _ in range(per_epoch):
                x = data[sgd.batch()]
                noise = torch.randn((len(x), self.latent_dim), generator=generator, device=device)
                recon, kl = self._elbo_rows(x, noise)
                kl = kl.sum(dim=1)
                sgd.zero_grad()
                sgd.backward(self.loss_factor * recon + self.kl_weight * kl)
                sgd.step()
                n = max(len(x), 1)
                recon, kl = float(recon.detach().sum()) / n, float(kl.detach().sum()) / n
                loss = self.loss_factor * recon + self.kl_weight * kl
                yield {"loss": loss, "reconstruction": recon, "kl": kl}

        try:
            self._run_loop(epoch, [self.encoder_, self.decoder_])
        finally:
            self._finish_private(
                sgd,
                "encoder and decoder (the whole network sees the rows)",
                decoder_scales="fixed at 0.1, not learned",
                start="decoder biases at the noisy one-way marginals, shifted to match them "
                "again after training (post-processing)"
                if self.private_fit_.marginals
                else "random weights",
            )
        self.encoder_.eval()
        self.decoder_.eval()
        if self.private_fit_.marginals:
            self._calibrate(generator)

    def _calibrate(self, generator: torch.Generator) -> None:
        """Match the decoder's marginals under the prior to the noisy ones (no budget)."""
        device = self.layout_.device

        def logits() -> torch.Tensor:
            z = torch.randn(
                (CALIBRATION_DRAWS, self.latent_dim), generator=generator, device=device
            )
            return self.decoder_(z)

        marginals = list(self.private_fit_.marginals)
        calibrate_to_marginals(self.decoder_.out, self.layout_, marginals, logits)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        layout = self.layout_
        device = layout.device
        generator = torch_generator(rng, device)
        out = np.empty((n, layout.dim), dtype=np.float32)
        with threads(self.n_threads), torch.no_grad():
            for start, stop in in_chunks(n):
                z = torch.randn((stop - start, self.latent_dim), generator=generator, device=device)
                raw = self.decoder_(z)
                tanh = torch.tanh(raw[:, layout.tanh])
                onehot = layout.draw(layout.flat(raw), generator)
                out[start:stop] = layout.assemble(tanh, raw[:, layout.linear], onehot).cpu().numpy()
        return out

    def inactive_latents(self, threshold: float = 0.01) -> list[int]:
        """Latent dimensions whose KL in the last epoch is below ``threshold`` nats: the
        dimensions the decoder ignores (posterior collapse)."""
        self._check_fitted()
        last = np.asarray(self.history_.values["kl_per_dim"][-1])
        return np.flatnonzero(last < threshold).tolist()

    # ------------------------------------------------------------------ state
    def _get_state(self) -> dict[str, Any]:
        return {
            "encoder": module_arrays(self.encoder_),
            "decoder": module_arrays(self.decoder_),
            "history": self.history_.to_state(),
            **self._privacy_state(),
        }

    def _set_state(self, state: dict[str, Any]) -> None:
        self._build()
        load_module_arrays(self.encoder_, state["encoder"])
        load_module_arrays(self.decoder_, state["decoder"])
        self.encoder_.eval()
        self.decoder_.eval()
        self.history_ = History.from_state(state["history"])
        self._restore_privacy(state)
