"""Tokens of the ARGN generator: every modelled column as one discrete token per row.

The table transformer encodes categories as ordinal codes and numbers (integers,
continuous values, datetimes as seconds) by the quantile encoder, whose normal score
``z`` maps to ``u = Phi(z)``: each distinct training value owns an interval of the
``[0, 1]`` line as wide as its share of the rows. Tokens are built on that line:

* a categorical column: one token per code (missing values and the pooled "other"
  slot are codes of their own);
* a numeric column with at most ``4 * n_bins`` distinct values: one exact token per value;
* otherwise a value holding at least half a bin's share of the rows (the zeros of a
  capital-gain column, the 40 of weekly hours) is an exact token, and runs of the
  other values are cut into bins of about ``1 / n_bins`` of the rows each;
* a numeric column with missing values: one more token for "missing".

Decoding draws ``u`` uniformly inside the token's interval: an exact token gives its
value back, a bin gives the empirical quantile function interpolated inside the bin
(smooth marginals); the transformer then rounds, clips and casts to the schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from ouroboros.errors import ConditionError
from ouroboros.transforms import OTHER

#: a numeric column with at most this many times ``n_bins`` distinct values has one exact
#: token per value (ages, weekly hours, the few hundred amounts of a capital-gain column)
_EXACT_BINS = 4
#: draws keep this share of an exact token's interval from its ends (float32 scores)
_MARGIN = 0.05


@dataclass
class ColumnTokens:
    """How one modelled column becomes tokens: ``low``/``high`` bound each token's ``u``
    interval (numeric columns; the missing token, last, has none)."""

    name: str
    kind: str  # "categorical" or "numeric"
    start: int  # first matrix column
    size: int  # number of tokens
    low: np.ndarray  # per non-missing token
    high: np.ndarray
    exact: np.ndarray  # bool per non-missing token
    knot_token: np.ndarray  # token of each distinct training value
    middles: np.ndarray  # u between neighbouring values (0 and 1 at the ends)
    missing: int = -1  # the token of missing values (-1: none)

    @property
    def has_missing(self) -> bool:
        return self.missing >= 0

    def to_state(self) -> dict[str, Any]:
        state = {k: getattr(self, k) for k in ("name", "kind", "start", "size", "missing")}
        arrays = {k: getattr(self, k) for k in ("low", "high", "knot_token", "middles")}
        return {**state, **arrays, "exact": self.exact.astype(np.int8)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ColumnTokens:
        return cls(
            str(state["name"]),
            str(state["kind"]),
            int(state["start"]),
            int(state["size"]),
            np.asarray(state["low"], dtype=np.float64),
            np.asarray(state["high"], dtype=np.float64),
            np.asarray(state["exact"]).astype(bool),
            np.asarray(state["knot_token"], dtype=np.int64),
            np.asarray(state["middles"], dtype=np.float64),
            int(state["missing"]),
        )


def _intervals(encoder) -> tuple[np.ndarray, np.ndarray]:
    """The ``u`` interval ``[start, stop]`` each distinct value of a quantile encoder owns."""
    return encoder._intervals()


def _group_knots(shares: np.ndarray, n_bins: int) -> np.ndarray:
    """The token of every distinct value (sorted): heavy values alone, light runs in bins."""
    if len(shares) <= _EXACT_BINS * n_bins:
        return np.arange(len(shares))
    heavy = shares >= 0.5 / n_bins
    token = np.empty(len(shares), dtype=np.int64)
    current, mass, open_bin = -1, 0.0, False
    for k, share in enumerate(shares):
        if heavy[k]:
            current, open_bin = current + 1, False
        else:
            if not open_bin or mass >= 1.0 / n_bins:
                current, mass, open_bin = current + 1, 0.0, True
            mass += share
        token[k] = current
    return token


def _numeric_tokens(name: str, start: int, pipeline, n_bins: int) -> ColumnTokens:
    encoder = pipeline.encoder
    begin, stop = _intervals(encoder)
    shares = encoder.counts_ / encoder.counts_.sum()
    token = _group_knots(shares, n_bins)
    n_tokens = int(token[-1]) + 1
    first = np.searchsorted(token, np.arange(n_tokens), side="left")
    last = np.searchsorted(token, np.arange(n_tokens), side="right") - 1
    exact = first == last
    # A bin reaches to the middle of the gaps beside it; an exact token stays inside
    # its value's interval, shrunk at the ends, so that it decodes to the value.
    middles = np.concatenate([[0.0], (stop[:-1] + begin[1:]) / 2, [1.0]])
    width = stop - begin
    low = np.where(exact, begin[first] + _MARGIN * width[first], middles[first])
    high = np.where(exact, stop[last] - _MARGIN * width[last], middles[last + 1])
    size = n_tokens + int(pipeline.has_missing)
    missing = n_tokens if pipeline.has_missing else -1
    return ColumnTokens(name, "numeric", start, size, low, high, exact, token, middles, missing)


class Tokenizer:
    """Turns the transformer's matrix (quantile scores, ordinal codes) into tokens and back."""

    def __init__(self, columns: list[ColumnTokens]):
        self.columns = columns
        self.sizes = [c.size for c in columns]
        self.names = [c.name for c in columns]

    @classmethod
    def fit(cls, transformer, n_bins: int) -> Tokenizer:
        columns = []
        for pipeline in transformer.columns_:
            if pipeline.type == "generated":
                continue
            start = transformer.slices_[pipeline.name][0]
            if pipeline.type == "categorical":
                encoder, none = pipeline.encoder, np.zeros(0)
                code = encoder.missing_code
                spec = (pipeline.name, "categorical", start, encoder.n_codes)
                arrays = (none, none, none > 0, none.astype(int), none)
                columns.append(ColumnTokens(*spec, *arrays, -1 if code is None else code))
            else:
                columns.append(_numeric_tokens(pipeline.name, start, pipeline, n_bins))
        return cls(columns)

    # ------------------------------------------------------------ matrix <-> tokens
    def encode(self, matrix: np.ndarray) -> np.ndarray:
        """Tokens ``(n, columns)`` of an encoded matrix."""
        out = np.empty((len(matrix), len(self.columns)), dtype=np.int64)
        for j, col in enumerate(self.columns):
            values = np.asarray(matrix[:, col.start], dtype=np.float64)
            if col.kind == "categorical":
                out[:, j] = np.rint(values * max(col.size - 1, 1)).clip(0, col.size - 1)
                continue
            u = ndtr(values)
            knots = np.searchsorted(col.middles[1:-1], u)
            out[:, j] = col.knot_token[knots]
            if col.has_missing:
                missing = matrix[:, col.start + 2] > matrix[:, col.start + 1]
                out[missing, j] = col.missing
        return out

    def decode(
        self,
        tokens: np.ndarray,
        rng: np.random.Generator,
        width: int,
        ranges: dict[int, tuple[float, float]] | None = None,
    ) -> np.ndarray:
        """An encoded matrix of ``width`` columns for ``tokens``; numeric values are drawn
        inside their token, and inside ``ranges[j]`` (a ``u`` interval) where given."""
        ranges = ranges or {}
        matrix = np.zeros((len(tokens), width), dtype=np.float32)
        draws = rng.random((len(tokens), len(self.columns)))
        for j, col in enumerate(self.columns):
            code = tokens[:, j]
            if col.kind == "categorical":
                matrix[:, col.start] = code / max(col.size - 1, 1)
                continue
            n_values = len(col.low)
            present = code < n_values
            safe = np.minimum(code, n_values - 1)
            low, high = col.low[safe], col.high[safe]
            if j in ranges:
                low = np.maximum(low, ranges[j][0])
                high = np.maximum(np.minimum(high, ranges[j][1]), low)
            u = low + draws[:, j] * (high - low)
            matrix[:, col.start] = ndtri(np.clip(u, 1e-12, 1 - 1e-12))
            if col.has_missing:
                matrix[:, col.start + 1] = present
                matrix[:, col.start + 2] = ~present
        return matrix

    # ------------------------------------------------------------ conditions
    def condition(
        self, transformer, column: str, wanted: Any, bounds: tuple[float, float] | None
    ) -> tuple[np.ndarray, tuple[float, float] | None, Any]:
        """For a condition on ``column``: the allowed tokens (bool per token), the ``u``
        interval numeric draws must stay in, and a pooled category to write back (or None).

        ``bounds`` is the condition as a closed interval of float values (numeric columns).
        """
        j = self.names.index(column)
        col = self.columns[j]
        allowed = np.zeros(col.size, dtype=bool)
        if col.kind == "categorical":
            encoder = transformer.columns_[transformer.schema.names.index(column)].encoder
            pooled = None
            try:
                code = encoder.index_of(wanted)
            except ConditionError:
                if not encoder.pooled_ or encoder.block_categories()[-1] is not OTHER:
                    raise
                code, pooled = encoder.other_code, wanted
            allowed[code] = True
            return allowed, None, pooled
        encoder = transformer.columns_[transformer.schema.names.index(column)].encoder
        u_low = _u_of(encoder, bounds[0], upper=False)
        u_high = _u_of(encoder, bounds[1], upper=True)
        n_values = len(col.low)
        allowed[:n_values] = (col.low <= u_high) & (col.high >= u_low)
        if not allowed.any():
            # The interval falls in a gap between values: take the nearest token.
            allowed[int(np.argmin(np.abs((col.low + col.high) / 2 - u_low)))] = True
        return allowed, (u_low, u_high), None


def _u_of(encoder, value: float, *, upper: bool) -> float:
    """Where ``value`` sits on the ``u`` line: the lower (or upper) end of its interval
    when it is a training value, else the interpolated point between its neighbours."""
    begin, stop = _intervals(encoder)
    knots = encoder.knots_
    value = float(np.clip(value, knots[0], knots[-1]))
    k = int(np.searchsorted(knots, value).clip(0, len(knots) - 1))
    if knots[k] == value:
        width = stop[k] - begin[k]
        return float(stop[k] - _MARGIN * width if upper else begin[k] + _MARGIN * width)
    table_u = np.column_stack([begin, stop]).ravel()
    return float(np.interp(value, np.repeat(knots, 2), table_u))


def condition_bounds(kind: str, wanted: Any) -> tuple[float, float]:
    """A numeric condition (a value or a ``(low, high)`` pair) as float bounds; datetimes
    as UTC seconds, as the transformer's converter stores them."""
    pair = tuple(wanted) if isinstance(wanted, (tuple, list)) else (wanted, wanted)
    if kind == "datetime":
        stamps = [pd.Timestamp(v) for v in pair]
        stamps = [s.tz_convert("UTC").tz_localize(None) if s.tzinfo else s for s in stamps]
        return tuple((s - pd.Timestamp(0)) / pd.Timedelta(seconds=1) for s in stamps)
    return float(pair[0]), float(pair[1])
