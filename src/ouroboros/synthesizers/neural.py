"""What the torch generators share: their loop parameters, threads and conditional sampling."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from torch import nn

from ouroboros.errors import ParameterError
from ouroboros.synthesizers.base import Synthesizer, Tags
from ouroboros.synthesizers.params import Boolean, Integer, Number, Param
from ouroboros.synthesizers.private_fit import fit_private
from ouroboros.synthesizers.torch_utils.conditions import discrete_conditions, fill_pooled
from ouroboros.synthesizers.torch_utils.device import DeviceName, threads
from ouroboros.synthesizers.torch_utils.private import (
    Measurement,
    PrivacyPlan,
    PrivateSGD,
    plan_for,
)
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

    A subclass that takes :data:`~ouroboros.synthesizers.torch_utils.private.DP_PARAMETERS`
    (``dp``, ``epsilon``, ``delta``, ``max_grad_norm``) trains with DP-SGD when ``dp=True``
    (:class:`~ouroboros.synthesizers.torch_utils.private.PrivateSGD`); early stopping is
    then refused (its validation rows are real data outside the accounting) and a time
    budget only stops early, spending less.
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

    def _check_params(self) -> None:
        super()._check_params()
        if self._private() and self.early_stopping:
            raise ParameterError(
                f"parameter 'early_stopping' of {type(self).__name__} must be False with "
                "dp=True: its validation rows are real data that DP-SGD does not account for"
            )

    def _fit(self, matrix: np.ndarray, rng: np.random.Generator) -> None:
        for name in ("privacy_", "epsilon_spent_"):
            self.__dict__.pop(name, None)
        with threads(self.n_threads):
            self._train(matrix, rng)

    # ------------------------------------------------------------------ DP-SGD
    def fit(self, data, schema=None, rules=None, rule_tolerance=0.0, **options):
        """As :meth:`Synthesizer.fit`; with ``dp=True``, under ``(epsilon, delta)``-DP
        (:func:`~ouroboros.synthesizers.private_fit.fit_private`: the schema is public or
        measured, the guard and the lineage hash are skipped, rules are refused)."""
        if self._private():
            return fit_private(self, data, schema, rules)
        self.__dict__.pop("private_fit_", None)
        return super().fit(data, schema, rules, rule_tolerance, **options)

    def _private(self) -> bool:
        """Whether this fit trains with DP-SGD."""
        return bool(getattr(self, "dp", False))

    def _public_rows(self) -> int:
        """The released (noisy) row count that sets the batches and the sampling rate."""
        return int(self.n_training_rows_)

    def _privacy_plan(
        self, batch_size: int, steps: int, measurements: tuple[Measurement, ...] = ()
    ) -> PrivacyPlan:
        """Noise calibrated to ``epsilon`` for exactly ``steps`` DP-SGD steps, composed with
        the schema's and the row count's measurements (and ``measurements``)."""
        fit = self.private_fit_
        return plan_for(
            self.epsilon,
            fit.conversion_delta,
            self.max_grad_norm,
            self._public_rows(),
            batch_size,
            steps,
            (*fit.measurements, *measurements),
        )

    def _privacy_delta(self) -> float:
        """The delta the SGD accounting converts at (what the schema's thresholds leave)."""
        return self.private_fit_.conversion_delta

    def _finish_private(self, sgd: PrivateSGD, private_parts: str, **notes: Any) -> None:
        """Close DP-SGD and keep its audit record as ``privacy_``."""
        sgd.close()
        notes.setdefault(
            "preprocessing",
            "post-processing of the schema: encoders fitted on rows drawn from the public "
            "or measured schema alone; training rows clipped to its bounds",
        )
        fit = self.private_fit_
        notes["delta_total"] = float(self.delta)
        notes["schema"] = {"sources": fit.sources, "budget": fit.schema_budget}
        if fit.split is not None:
            notes["budget_split"] = fit.split
        self.privacy_ = sgd.record(private_parts, **notes)
        self.epsilon_spent_ = float(self.privacy_["epsilon_spent"])

    def _privacy_state(self) -> dict[str, Any]:
        """The audit record for the model file (empty when trained without DP)."""
        return {"privacy": self.privacy_} if hasattr(self, "privacy_") else {}

    def _restore_privacy(self, state: dict[str, Any]) -> None:
        if "privacy" in state:
            self.privacy_ = dict(state["privacy"])
            self.epsilon_spent_ = float(self.privacy_["epsilon_spent"])

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        if hasattr(self, "privacy_"):
            out["privacy"] = self.privacy_
        return out

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
