"""What the torch generators share: their loop parameters, threads and conditional sampling."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from torch import nn

from ouroboros.synthesizers.base import Synthesizer, Tags
from ouroboros.synthesizers.params import Boolean, Integer, Number, Param
from ouroboros.synthesizers.torch_utils.conditions import discrete_conditions, fill_pooled
from ouroboros.synthesizers.torch_utils.device import DeviceName, threads
from ouroboros.synthesizers.torch_utils.training import History, LoopSettings, train


class NeuralSynthesizer(Synthesizer):
    """A generator trained by :func:`ouroboros.synthesizers.torch_utils.training.train`.

    It owns the training-loop parameters below; a subclass adds its own in
    ``parameters``, changes these defaults in ``defaults`` (e.g. ``{"epochs": 80}``),
    implements ``_train`` (build the networks, then call :meth:`_run_loop`) and, for
    conditions on one-hot columns, ``_draw_conditioned``.

    Parameters
    ----------
    epochs, batch_size:
        Passes over the data and rows per gradient step.
    time_budget:
        Wall-clock seconds after which training stops (``None``: no limit).
    early_stopping, patience, validation_fraction:
        Hold out a share of the rows and stop when the model's held-out signal has not
        improved for ``patience`` epochs, keeping the best weights.
    device:
        ``"cpu"`` (default), ``"cuda"``, ``"mps"`` or ``"auto"``.
    n_threads:
        CPU threads torch uses while fitting and sampling. ``None`` (default) follows the
        cores other processes leave free, read before the fit and again every epoch: on
        a busy machine torch's threads wait for each other at every operation, and a fit
        on every core beside a neighbour ran several times slower (``bench/busy.py``).
        A fixed count makes CTGAN's rows independent of the machine's load (its sums
        depend on the thread count; TVAE's and TabDDPM's do not).
    verbose:
        Show a progress bar with the losses.
    """

    tags: ClassVar[Tags] = Tags(requires_torch=True)
    parameters: ClassVar[dict[str, Param]] = {
        "epochs": Param(100, Integer(1)),
        "batch_size": Param(500, Integer(2)),
        "time_budget": Param(None, Number(0, closed="neither", optional=True)),
        "early_stopping": Param(False, Boolean()),
        "patience": Param(10, Integer(1)),
        "validation_fraction": Param(0.1, Number(0, 0.5, closed="neither", floats=True)),
        "device": Param("cpu", DeviceName()),
        "n_threads": Param(None, Integer(1, optional=True)),
        "verbose": Param(False, Boolean()),
    }

    def _fit(self, matrix: np.ndarray, rng: np.random.Generator) -> None:
        with threads(self.n_threads):
            self._train(matrix, rng)

    @abstractmethod
    def _train(self, matrix: np.ndarray, rng: np.random.Generator) -> None:
        """Build the networks and train them on the encoded matrix."""

    def _loop_settings(self, epochs: int | None = None) -> LoopSettings:
        """The loop parameters as :class:`LoopSettings` (``epochs`` overrides ``self.epochs``)."""
        return LoopSettings(
            epochs=self.epochs if epochs is None else epochs,
            batch_size=self.batch_size,
            time_budget=self.time_budget,
            early_stopping=self.early_stopping,
            patience=self.patience,
            verbose=self.verbose,
            description=type(self).__name__.removesuffix("Synthesizer"),
        )

    def _run_loop(
        self,
        epoch: Callable[[], Iterator[dict[str, float]]],
        modules: Sequence[nn.Module],
        validate: Callable[[], float] | None = None,
        extra: Callable[[History], None] | None = None,
        epochs: int | None = None,
    ) -> None:
        """Train with :func:`train` under the loop parameters; the history goes to ``history_``."""
        self.history_ = train(self._loop_settings(epochs), epoch, modules, validate, extra)

    def _draw_conditioned(
        self, n: int, rng: np.random.Generator, positions: dict[str, int]
    ) -> np.ndarray:
        """``n`` encoded rows, steered towards the one-hot ``positions`` where the model can."""
        return self._sample(n, rng)

    def _sample_conditional(
        self,
        n: int,
        rng: np.random.Generator,
        conditions: dict[str, Any],
        predicates: dict[str, Callable[[pd.Series], np.ndarray]],
    ) -> pd.DataFrame:
        """Rows drawn by ``_draw_conditioned``, then checked against every condition
        (rejection); a value pooled into "other" is met by any pooled value and then
        written in (exact: the pool is drawn by frequency, independently)."""
        positions, pooled = discrete_conditions(self.transformer_, conditions, predicates)

        def draw(m: int) -> pd.DataFrame:
            encoded = self._draw_conditioned(m, rng, positions)
            return self.transformer_.inverse_transform(encoded, rng)

        return fill_pooled(self._rejection_sample(n, rng, predicates, draw), pooled)
