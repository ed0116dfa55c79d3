"""Encoders of one numeric column (float64 values, no missing) into matrix columns.

Three choices: standardisation, quantile-to-normal, and mode-specific
normalisation (Xu et al. 2019, "Modeling Tabular Data using Conditional GAN").
Each is exactly invertible on the values it was fitted on, up to float error.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from scipy.special import ndtr, ndtri

from ouroboros.errors import DataError, ParameterError, check_param
from ouroboros.transforms.base import Span, check_fitted
from ouroboros.transforms.mixture import dirichlet_process_mixture, group_values

#: rows processed at once by the mode encoder (bounds its n x modes temporaries)
_CHUNK = 131_072
#: share of the rows from which one value is a point mode of the mode encoder
POINT_SHARE = 0.05


def _check_values(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise DataError(f"expected a 1-D array of numbers, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise DataError("numeric values must be finite; encode missing values separately")
    return values


def _subsample(values: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    if len(values) <= max_rows:
        return values
    return values[rng.choice(len(values), size=max_rows, replace=False)]


def _output(n: int, width: int, out: np.ndarray | None) -> np.ndarray:
    if out is None:
        return np.empty((n, width), dtype=np.float64)
    if out.shape != (n, width):
        raise ParameterError(f"parameter 'out' must have shape {(n, width)}; got {out.shape}")
    return out


class NumericEncoder(ABC):
    """Maps 1-D finite float values to a ``(n, width)`` block and back."""

    name: ClassVar[str]

    @abstractmethod
    def fit(self, values: np.ndarray, rng: np.random.Generator) -> NumericEncoder:
        """Learn the encoding from finite values."""

    @abstractmethod
    def transform(
        self,
        values: np.ndarray,
        rng: np.random.Generator | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Encode ``values``; write into ``out`` (shape ``(n, width)``) when given."""

    @abstractmethod
    def inverse(self, block: np.ndarray) -> np.ndarray:
        """Decode a ``(n, width)`` block (any real numbers) into float64 values."""

    @abstractmethod
    def spans(self, column: str) -> list[Span]:
        """The spans of this encoder's block, for ``column``."""

    @abstractmethod
    def to_state(self) -> dict[str, Any]:
        """Fitted state as JSON values and numpy arrays."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict[str, Any]) -> NumericEncoder:
        """Rebuild a fitted encoder from :meth:`to_state`."""

    @property
    def width(self) -> int:
        return sum(span.width for span in self.spans(""))


class StandardEncoder(NumericEncoder):
    """``(x - mean) / std`` in one ``linear`` column."""

    name = "standard"

    def fit(self, values: np.ndarray, rng: np.random.Generator) -> StandardEncoder:
        values = _check_values(values)
        if not len(values):
            raise DataError("cannot fit a numeric encoder on zero values")
        self.mean_ = float(values.mean())
        std = float(values.std())
        self.std_ = std if std > 0 else 1.0
        return self

    def transform(self, values, rng=None, out=None):
        check_fitted(self, "mean_")
        values = _check_values(values)
        block = _output(len(values), 1, out)
        block[:, 0] = (values - self.mean_) / self.std_
        return block

    def inverse(self, block: np.ndarray) -> np.ndarray:
        check_fitted(self, "mean_")
        return np.asarray(block, dtype=np.float64)[:, 0] * self.std_ + self.mean_

    def spans(self, column: str) -> list[Span]:
        return [Span(column, "value", 1, "linear")]

    def to_state(self) -> dict[str, Any]:
        check_fitted(self, "mean_")
        return {"type": self.name, "mean": self.mean_, "std": self.std_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> StandardEncoder:
        encoder = cls()
        encoder.mean_, encoder.std_ = float(state["mean"]), float(state["std"])
        return encoder


class QuantileEncoder(NumericEncoder):
    """Empirical CDF then the standard normal quantile, in one ``linear`` column.

    Built from the distinct values of at most ``max_rows`` rows (plus the minimum
    and maximum). Each distinct value owns the CDF interval of its share, less
    ``gap`` of one row's share at each end; a value between two distinct values
    maps linearly into the gap between their intervals, so the map is invertible.
    With an ``rng``, :meth:`transform` draws uniformly inside the value's interval
    (the randomised probability integral transform), so point masses such as the
    zeros of a mostly-zero column keep their weight and the scores are standard
    normal at any scale above one row's share; without one it takes the middle. :meth:`inverse` maps an interval back
    to its value exactly, whatever float32 storage does to the score.
    """

    name = "quantile"
    #: share of one row's CDF step left free at each end of an interval: values
    #: between two distinct values (rows left out by ``max_rows``) map into it
    gap = 0.45
    #: draws keep this share of an interval (at most 1e-6) from its ends: float32
    #: storage blurs a score by up to about 1.5e-8 in probability
    margin = 0.05

    def __init__(self, max_rows: int = 100_000):
        self.max_rows = max_rows

    def fit(self, values: np.ndarray, rng: np.random.Generator) -> QuantileEncoder:
        check_param(
            "max_rows",
            self.max_rows,
            isinstance(self.max_rows, int) and self.max_rows >= 2,
            "an integer >= 2",
        )
        values = _check_values(values)
        if not len(values):
            raise DataError("cannot fit a numeric encoder on zero values")
        sample = _subsample(values, self.max_rows, rng)
        sample = np.concatenate([sample, [values.min(), values.max()]])
        knots, counts = np.unique(sample, return_counts=True)
        self.knots_, self.counts_ = knots, counts.astype(np.float64)
        return self

    def _intervals(self) -> tuple[np.ndarray, np.ndarray]:
        """The CDF interval ``[start, stop]`` each distinct value owns."""
        total = self.counts_.sum()
        upper = np.cumsum(self.counts_) / total
        gap = self.gap / total
        return upper - self.counts_ / total + gap, upper - gap

    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        """The quantile function as points ``(u, value)``: both ends of every interval."""
        start, stop = self._intervals()
        return np.column_stack([start, stop]).ravel(), np.repeat(self.knots_, 2)

    def transform(self, values, rng=None, out=None):
        check_fitted(self, "knots_")
        values = _check_values(values)
        block = _output(len(values), 1, out)
        if len(self.knots_) == 1:
            block[:, 0] = 0.0
            return block
        start, stop = self._intervals()
        table_u, table_values = self._table()
        u = np.interp(values, table_values, table_u)
        index = np.searchsorted(self.knots_, values).clip(0, len(self.knots_) - 1)
        known = self.knots_[index] == values
        low, high = start[index], stop[index]
        if rng is None:
            drawn = (low + high) / 2
        else:
            margin = np.minimum(self.margin * (high - low), 1e-6)
            drawn = rng.uniform(low + margin, high - margin)
        u = np.where(known, drawn, u)
        block[:, 0] = ndtri(u)
        return block

    def inverse(self, block: np.ndarray) -> np.ndarray:
        check_fitted(self, "knots_")
        scores = np.asarray(block, dtype=np.float64)[:, 0]
        if len(self.knots_) == 1:
            return np.full(len(scores), self.knots_[0])
        table_u, table_values = self._table()
        return np.interp(ndtr(scores), table_u, table_values)

    def spans(self, column: str) -> list[Span]:
        return [Span(column, "value", 1, "linear")]

    def to_state(self) -> dict[str, Any]:
        check_fitted(self, "knots_")
        return {
            "type": self.name,
            "max_rows": self.max_rows,
            "knots": self.knots_,
            "counts": self.counts_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> QuantileEncoder:
        encoder = cls(max_rows=int(state["max_rows"]))
        encoder.knots_ = np.asarray(state["knots"], dtype=np.float64)
        encoder.counts_ = np.asarray(state["counts"], dtype=np.float64)
        return encoder


class ModeEncoder(NumericEncoder):
    """Mode-specific normalisation (Xu et al. 2019, "Modeling Tabular Data using Conditional GAN").

    A variational Gaussian mixture with a Dirichlet-process prior (at most
    ``max_modes`` components, fitted on at most ``max_rows`` rows drawn with the
    rng; see :mod:`ouroboros.transforms.mixture`) finds the modes; each value
    becomes a ``tanh`` scalar ``(x - mu_k) / (4 sigma_k)`` and a one-hot over
    modes, the mode drawn from the posterior in :meth:`transform`.

    A single value held by at least ``point_share`` of the rows (the zeros of a
    capital-gain column, the 40 of weekly hours) is a mode of its own with zero
    width, as in the mixed-type encoder of Zhao et al. (2021, "CTAB-GAN: Effective
    Table Data Synthesizing"): it decodes to exactly that value whatever the scalar,
    where a narrow Gaussian mode would smear it into nearby values. The mixture is
    fitted on the other values.

    To keep the round trip exact, the posterior is restricted to the modes whose
    4-sigma band holds the value, and the training values outside every band get
    one extra catch-all mode spanning them (it replaces the lightest mode when
    ``max_modes`` are already in use). Values outside every band at transform
    time (new data) are clipped to the nearest mode's band.
    """

    name = "mode"
    #: modes of smaller weight are dropped (as in Xu et al. 2019)
    weight_threshold = 0.005
    #: the mixture is fitted on at most this many groups of sorted values
    max_groups = 1024

    def __init__(
        self, max_modes: int = 10, max_rows: int = 20_000, point_share: float = POINT_SHARE
    ):
        self.max_modes = max_modes
        self.max_rows = max_rows
        self.point_share = point_share

    def fit(self, values: np.ndarray, rng: np.random.Generator) -> ModeEncoder:
        check_param(
            "max_modes",
            self.max_modes,
            isinstance(self.max_modes, int) and self.max_modes >= 1,
            "an integer >= 1",
        )
        check_param(
            "max_rows",
            self.max_rows,
            isinstance(self.max_rows, int) and self.max_rows >= 2,
            "an integer >= 2",
        )
        check_param(
            "point_share",
            self.point_share,
            isinstance(self.point_share, (int, float)) and 0 < self.point_share <= 1,
            "a number in (0, 1]",
        )
        values = _check_values(values)
        if not len(values):
            raise DataError("cannot fit a numeric encoder on zero values")
        sample = _subsample(values, self.max_rows, rng)
        points, shares = self._points(sample)
        limit = self.max_modes - len(points)  # modes left for the other values
        rest = sample[~np.isin(sample, points)]
        means, stds, weights = np.zeros(0), np.zeros(0), np.zeros(0)
        if len(rest):
            center, scale = float(rest.mean()), float(rest.std())
            n_distinct = len(np.unique(rest))
            if scale == 0 or n_distinct < 2:
                means, stds, weights = np.array([center]), np.array([1.0]), np.array([1.0])
            else:
                room = min(limit, n_distinct)
                means, stds, weights = self._mixture((rest - center) / scale, room, rng)
                means, stds = center + scale * means, scale * stds
        continuous = ~np.isin(values, points)
        if continuous.any():
            means, stds, weights = self._cover(values[continuous], means, stds, weights, limit)
            weights = weights * max(1.0 - shares.sum(), 1e-6)
        self.means_ = np.concatenate([points, means])
        self.stds_ = np.concatenate([np.zeros(len(points)), stds])
        weights = np.concatenate([shares, weights])
        order = np.argsort(self.means_, kind="stable")
        self.means_, self.stds_ = self.means_[order], self.stds_[order]
        self.weights_ = weights[order] / weights.sum()
        return self

    def _points(self, sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The values holding at least ``point_share`` of the rows, heaviest first, and
        their shares; one mode is always left for the other values."""
        distinct, counts = np.unique(sample, return_counts=True)
        shares = counts / len(sample)
        heavy = np.argsort(-shares, kind="stable")
        heavy = heavy[shares[heavy] >= self.point_share]
        heavy = heavy[: self.max_modes - 1]
        return distinct[heavy], shares[heavy]

    def _mixture(
        self, standardised: np.ndarray, n_components: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        points, counts, variances = group_values(standardised, self.max_groups)
        means, stds, weights = dirichlet_process_mixture(
            points, counts, variances, n_components, rng, concentration=1e-3
        )
        keep = weights > self.weight_threshold
        keep[np.argmax(weights)] = True
        return means[keep], stds[keep], weights[keep] / weights[keep].sum()

    def _cover(
        self,
        values: np.ndarray,
        means: np.ndarray,
        stds: np.ndarray,
        weights: np.ndarray,
        limit: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Add a catch-all mode for the values outside every 4-sigma band, keeping at most
        ``limit`` modes."""
        outside = ~self._covered(values, means, stds)
        if outside.any():
            if len(means) >= limit:
                keep = np.arange(len(means)) != np.argmin(weights)
                means, stds, weights = means[keep], stds[keep], weights[keep]
                outside = ~self._covered(values, means, stds)
            low, high = values[outside].min(), values[outside].max()
            spread = (high - low) / 8.0 * (1.0 + 1e-9)
            floor = max(abs(low), abs(high), 1.0) * 1e-9
            means = np.append(means, (low + high) / 2.0)
            stds = np.append(stds, max(spread, floor))
            weights = np.append(weights * (1.0 - outside.mean()), outside.mean())
        order = np.argsort(means, kind="stable")
        return means[order], stds[order], weights[order] / weights.sum()

    @staticmethod
    def _covered(values: np.ndarray, means: np.ndarray, stds: np.ndarray) -> np.ndarray:
        covered = np.zeros(len(values), dtype=bool)
        for mean, std in zip(means, stds, strict=True):
            # The same arithmetic as in transform, so both agree on the band edges.
            covered |= np.abs((values - mean) * (1.0 / (4.0 * std))) <= 1.0
        return covered

    @property
    def n_modes(self) -> int:
        check_fitted(self, "means_")
        return len(self.means_)

    def transform(self, values, rng=None, out=None):
        check_fitted(self, "means_")
        values = _check_values(values)
        block = _output(len(values), 1 + self.n_modes, out)
        for start in range(0, len(values), _CHUNK):
            self._transform_chunk(
                values[start : start + _CHUNK], rng, block[start : start + _CHUNK]
            )
        return block

    def _transform_chunk(
        self, values: np.ndarray, rng: np.random.Generator | None, block: np.ndarray
    ) -> None:
        # Modes x rows: reductions over modes become element-wise passes over rows.
        point = self.stds_ == 0
        stds = np.where(point, 1.0, self.stds_)
        inverse_width = np.where(point, 0.0, 1.0 / (4.0 * stds))
        offset = values - self.means_[:, None]
        if point.all():  # a value unseen in fitting goes to the nearest point
            log_density = -(offset**2)
        else:
            scaled = offset * inverse_width[:, None]
            covered = (np.abs(scaled) <= 1.0) & ~point[:, None]
            fallback = ~covered.any(axis=0) & ~point[:, None]
            log_density = (np.log(self.weights_) - np.log(stds))[:, None] - 8.0 * scaled**2
            log_density = np.where(covered | fallback, log_density, -np.inf)
        exact = point[:, None] & (offset == 0)
        log_density = np.where(exact.any(axis=0), np.where(exact, 0.0, -np.inf), log_density)
        if rng is None:
            modes = np.argmax(log_density, axis=0)
        else:
            # Inverse-CDF draw of one mode per row from its posterior.
            cumulative = np.cumsum(np.exp(log_density - log_density.max(axis=0)), axis=0)
            draws = rng.random(len(values)) * cumulative[-1]
            modes = np.minimum((cumulative < draws).sum(axis=0), self.n_modes - 1)
        # Filled contiguously, then copied once: ``block`` is often a strided view.
        local = np.zeros(block.shape, dtype=block.dtype)
        value = (values - self.means_[modes]) * inverse_width[modes]
        local[:, 0] = np.clip(value, -1.0, 1.0)
        local[np.arange(len(values)), 1 + modes] = 1.0
        block[:] = local

    def inverse(self, block: np.ndarray) -> np.ndarray:
        check_fitted(self, "means_")
        block = np.asarray(block, dtype=np.float64)
        modes = np.argmax(block[:, 1:], axis=1)
        scaled = np.clip(block[:, 0], -1.0, 1.0)
        return self.means_[modes] + 4.0 * self.stds_[modes] * scaled

    def spans(self, column: str) -> list[Span]:
        return [Span(column, "value", 1, "tanh"), Span(column, "mode", self.n_modes, "softmax")]

    def to_state(self) -> dict[str, Any]:
        check_fitted(self, "means_")
        return {
            "type": self.name,
            "max_modes": self.max_modes,
            "max_rows": self.max_rows,
            "point_share": self.point_share,
            "means": self.means_,
            "stds": self.stds_,
            "weights": self.weights_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ModeEncoder:
        encoder = cls(
            max_modes=int(state["max_modes"]),
            max_rows=int(state["max_rows"]),
            point_share=float(state.get("point_share", POINT_SHARE)),
        )
        encoder.means_ = np.asarray(state["means"], dtype=np.float64)
        encoder.stds_ = np.asarray(state["stds"], dtype=np.float64)
        encoder.weights_ = np.asarray(state["weights"], dtype=np.float64)
        return encoder


class PublicBinEncoder(NumericEncoder):
    """One-hot over ``bins`` equal-width bins between the smallest and largest value it is
    fitted on, decoded at the bin's midpoint. Fitted on the public table of
    :func:`~ouroboros.synthesizers.private_fit.public_table`, whose values span the public
    bounds, its state is post-processing of the schema. Integral values over a range
    narrower than ``bins`` get one bin per integer."""

    name = "public_bins"

    def __init__(self, bins: int = 100):
        self.bins = bins

    def fit(self, values: np.ndarray, rng: np.random.Generator) -> PublicBinEncoder:
        values = np.asarray(values, dtype=np.float64)
        if not len(values) or not np.isfinite(values).all():
            raise DataError("public bins need finite values to fit on")
        low, high = float(values.min()), float(values.max())
        if np.all(values == np.round(values)) and high - low + 1 <= self.bins:
            low, high, count = low - 0.5, high + 0.5, int(high - low + 1)
        else:
            count = self.bins if high > low else 1
        self.edges_ = np.linspace(low, high if high > low else low + 1.0, count + 1)
        return self

    def transform(self, values, rng=None, out=None):
        check_fitted(self, "edges_")
        values = np.asarray(values, dtype=np.float64)
        count = len(self.edges_) - 1
        block = np.zeros((len(values), count)) if out is None else out
        block[:] = 0.0
        codes = np.clip(np.searchsorted(self.edges_, values, side="right") - 1, 0, count - 1)
        block[np.arange(len(values)), codes] = 1.0
        return block

    def inverse(self, block: np.ndarray) -> np.ndarray:
        check_fitted(self, "edges_")
        mids = (self.edges_[:-1] + self.edges_[1:]) / 2
        return mids[np.argmax(np.asarray(block), axis=1)]

    def spans(self, column: str) -> list[Span]:
        check_fitted(self, "edges_")
        return [Span(column, "bin", len(self.edges_) - 1, "softmax")]

    def to_state(self) -> dict[str, Any]:
        check_fitted(self, "edges_")
        return {"type": self.name, "bins": self.bins, "edges": self.edges_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PublicBinEncoder:
        encoder = cls(int(state["bins"]))
        encoder.edges_ = np.asarray(state["edges"], dtype=np.float64)
        return encoder
