"""What the torch generators share: their loop parameters, threads and conditional sampling."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ouroboros.errors import check_param
from ouroboros.synthesizers import _torch as T
from ouroboros.synthesizers.base import Synthesizer


def check_integers(model: Synthesizer, names: Iterable[str], minimum: int) -> None:
    """Each named parameter is an integer (not a bool) of at least ``minimum``."""
    for name in names:
        value = getattr(model, name)
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
        check_param(name, value, ok, f"an integer >= {minimum}")


def check_numbers(model: Synthesizer, names: Iterable[str], *, positive: bool) -> None:
    """Each named parameter is a number, > 0 when ``positive``, else >= 0."""
    for name in names:
        value = getattr(model, name)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = number and (value > 0 if positive else value >= 0)
        check_param(name, value, ok, "a number > 0" if positive else "a number >= 0")


def check_fractions(model: Synthesizer, names: Iterable[str]) -> None:
    """Each named parameter is a number in [0, 1)."""
    for name in names:
        value = getattr(model, name)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        check_param(name, value, number and 0 <= value < 1, "a number in [0, 1)")


def check_bools(model: Synthesizer, names: Iterable[str]) -> None:
    for name in names:
        check_param(name, getattr(model, name), isinstance(getattr(model, name), bool), "a bool")


class NeuralSynthesizer(Synthesizer):
    """A generator trained by :func:`ouroboros.synthesizers._torch.train`.

    Subclasses set the loop parameters (``epochs``, ``batch_size``, ``time_budget``,
    ``early_stopping``, ``patience``, ``validation_fraction``, ``device``, ``n_threads``,
    ``verbose``) in ``__init__`` and implement ``_train``; conditional sampling draws
    through ``_draw_conditioned``, which may impose conditions on one-hot columns.
    """

    #: whether ``epochs=None`` is allowed (the subclass then picks the count from the table)
    auto_epochs: ClassVar[bool] = False

    def _check_params(self) -> None:
        super()._check_params()
        if self.epochs is not None or not self.auto_epochs:
            check_integers(self, ("epochs",), 1)
        check_integers(self, ("patience",), 1)
        check_integers(self, ("batch_size",), 2)
        check_param(
            "time_budget",
            self.time_budget,
            self.time_budget is None
            or (isinstance(self.time_budget, (int, float)) and self.time_budget > 0),
            "None or a positive number of seconds",
        )
        check_bools(self, ("early_stopping", "verbose"))
        check_param(
            "validation_fraction",
            self.validation_fraction,
            isinstance(self.validation_fraction, float) and 0 < self.validation_fraction < 0.5,
            "a float in (0, 0.5)",
        )
        check_param(
            "n_threads",
            self.n_threads,
            self.n_threads is None or (isinstance(self.n_threads, int) and self.n_threads >= 1),
            "None or an integer >= 1",
        )
        T.resolve_device(self.device)

    def _fit(self, matrix: np.ndarray, rng: np.random.Generator) -> None:
        with T.threads(self.n_threads):
            self._train(matrix, rng)

    @abstractmethod
    def _train(self, matrix: np.ndarray, rng: np.random.Generator) -> None:
        """Build the networks and train them on the encoded matrix."""

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
        positions, pooled = T.discrete_conditions(self.transformer_, conditions, predicates)

        def draw(m: int) -> pd.DataFrame:
            encoded = self._draw_conditioned(m, rng, positions)
            return self.transformer_.inverse_transform(encoded, rng)

        return T.fill_pooled(self._rejection_sample(n, rng, predicates, draw), pooled)
