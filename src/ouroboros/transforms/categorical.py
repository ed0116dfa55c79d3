"""Encoders of one categorical column: one-hot and ordinal, with bounded width.

A column with more categories than ``max_categories`` keeps the most frequent
ones and pools the rest into one "other" slot; inversion resamples "other"
among the pooled categories by their training frequency, so no category absent
from training is ever produced. Missing values are a category of their own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ouroboros.errors import ConditionError, DataError, ParameterError, check_param
from ouroboros.transforms.base import (
    Span,
    check_fitted,
    jsonable,
    missing_marker,
    take,
    typed_values,
)

#: rows encoded at once by the one-hot encoder (bounds its temporary block)
_CHUNK = 65_536


class _Other:
    """The pooled "other" slot of a category block."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "OTHER"


#: stands for the pooled categories in :meth:`CategoricalEncoder.block_categories`
OTHER = _Other()


def _value_order(values: list[Any]) -> list[Any]:
    """Natural order when the values are comparable, else the given (frequency) order."""
    try:
        return sorted(values)
    except TypeError:
        return list(values)


class CategoricalEncoder(ABC):
    """Maps a column to category codes (block positions) and back.

    Block order: the kept categories (sorted by value when comparable), then the
    missing category if the column had missing values, then "other" if pooled.
    """

    name: ClassVar[str]

    def __init__(self, max_categories: int = 100):
        self.max_categories = max_categories

    def fit(self, values: pd.Series) -> CategoricalEncoder:
        check_param(
            "max_categories",
            self.max_categories,
            isinstance(self.max_categories, int) and self.max_categories >= 2,
            "an integer >= 2",
        )
        missing = values.isna()
        counts = values[~missing].value_counts(sort=True)
        counts = counts[counts > 0]
        if not len(counts) and not missing.any():
            raise DataError(f"column {values.name!r} has no rows to learn categories from")
        categories = [jsonable(v) for v in counts.index]
        frequencies = counts.to_numpy(dtype=np.float64)
        slots = self.max_categories - int(missing.any())
        if len(categories) > slots:
            n_keep = slots - 1
            self.pooled_ = categories[n_keep:]
            self.pooled_weights_ = frequencies[n_keep:] / frequencies[n_keep:].sum()
            categories = categories[:n_keep]
        else:
            self.pooled_ = []
            self.pooled_weights_ = np.zeros(0)
        self.categories_ = _value_order(categories)
        self.has_missing_ = bool(missing.any())
        self.dtype_ = str(values.dtype)
        self.na_ = missing_marker(values)
        if isinstance(values.dtype, pd.CategoricalDtype):
            self.dtype_categories_ = [jsonable(c) for c in values.dtype.categories]
            self.ordered_ = bool(values.dtype.ordered)
        else:
            self.dtype_categories_, self.ordered_ = None, False
        return self

    # ------------------------------------------------------------ block layout
    @property
    def n_codes(self) -> int:
        """Number of block positions: kept categories, missing, "other"."""
        check_fitted(self, "categories_")
        return len(self.categories_) + int(self.has_missing_) + int(bool(self.pooled_))

    @property
    def width(self) -> int:
        """Number of matrix columns."""
        return sum(span.width for span in self.spans(""))

    @property
    def missing_code(self) -> int | None:
        return len(self.categories_) if self.has_missing_ else None

    @property
    def other_code(self) -> int | None:
        return self.n_codes - 1 if self.pooled_ else None

    def block_categories(self) -> list[Any]:
        """Categories in block order: None stands for missing, :data:`OTHER` for the pool."""
        check_fitted(self, "categories_")
        return (
            list(self.categories_)
            + ([None] if self.has_missing_ else [])
            + ([OTHER] if self.pooled_ else [])
        )

    def index_of(self, value: Any) -> int:
        """Block position of ``value``; :class:`ConditionError` if unseen or only pooled."""
        check_fitted(self, "categories_")
        key = jsonable(value)
        if key is None:
            if self.has_missing_:
                return self.missing_code
            raise ConditionError("the column had no missing values in training")
        positions = {c: i for i, c in enumerate(self.categories_)}
        if key in positions:
            return positions[key]
        if key in set(self.pooled_):
            raise ConditionError(
                f"{value!r} is a rare category pooled into 'other' (beyond max_categories="
                f"{self.max_categories}); it cannot be conditioned on: raise max_categories"
            )
        shown = ", ".join(repr(c) for c in self.categories_[:10])
        raise ConditionError(f"{value!r} was never seen in training; known values include {shown}")

    # ------------------------------------------------------------ codes
    def codes(self, values: pd.Series) -> np.ndarray:
        """Block position of every row (unseen values go to "other" when there is one)."""
        check_fitted(self, "categories_")
        # Factorising first leaves only the distinct values to look up (fast on arrow strings).
        local, distinct = pd.factorize(values, use_na_sentinel=True)
        positions = pd.Index(self.categories_, dtype=object).get_indexer(
            _comparable(pd.Series(distinct, dtype=values.dtype))
        )
        missing = local < 0
        codes = np.append(positions, -1).astype(np.int64)[local]
        if missing.any():
            if not self.has_missing_:
                raise DataError(
                    f"column {values.name!r} has missing values but had none when fitted; "
                    "refit on data with missing values or fill them"
                )
            codes[missing] = self.missing_code
        unseen = codes < 0
        if unseen.any():
            if not self.pooled_:
                examples = pd.unique(values[unseen])[:5].tolist()
                raise DataError(
                    f"column {values.name!r} holds values never seen when fitted, e.g. "
                    f"{examples}; refit on data that includes them"
                )
            codes[unseen] = self.other_code
        return codes

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
        """Values for block positions, in the fitted dtype; "other" resampled by frequency."""
        check_fitted(self, "categories_")
        codes = np.asarray(codes, dtype=np.int64).copy()
        lookup = list(self.categories_) + ([None] if self.has_missing_ else [])
        if self.pooled_:
            other = codes == self.other_code
            codes[other] = len(lookup) + rng.choice(
                len(self.pooled_), size=int(other.sum()), p=self.pooled_weights_
            )
            lookup += list(self.pooled_)
        table = typed_values(
            lookup,
            self.dtype_,
            na=self.na_,
            categories=self.dtype_categories_,
            ordered=self.ordered_,
        )
        return take(table, codes)

    # ------------------------------------------------------------ matrix
    @abstractmethod
    def transform(self, values: pd.Series, out: np.ndarray | None = None) -> np.ndarray:
        """Encode ``values`` into a block; write into ``out`` when given."""

    @abstractmethod
    def inverse(self, block: np.ndarray, rng: np.random.Generator) -> pd.Series:
        """Decode a block (any real numbers) into values of the fitted dtype."""

    @abstractmethod
    def spans(self, column: str) -> list[Span]:
        """The spans of this encoder's block."""

    def _output(self, n: int, width: int, out: np.ndarray | None) -> np.ndarray:
        if out is None:
            return np.zeros((n, width), dtype=np.float32)
        if out.shape != (n, width):
            raise ParameterError(f"parameter 'out' must have shape {(n, width)}; got {out.shape}")
        return out

    # ------------------------------------------------------------ state
    def to_state(self) -> dict[str, Any]:
        check_fitted(self, "categories_")
        return {
            "type": self.name,
            "max_categories": self.max_categories,
            "categories": list(self.categories_),
            "has_missing": self.has_missing_,
            "pooled": list(self.pooled_),
            "pooled_weights": self.pooled_weights_,
            "dtype": self.dtype_,
            "na": self.na_,
            "dtype_categories": self.dtype_categories_,
            "ordered": self.ordered_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CategoricalEncoder:
        encoder = cls(max_categories=int(state["max_categories"]))
        encoder.categories_ = list(state["categories"])
        encoder.has_missing_ = bool(state["has_missing"])
        encoder.pooled_ = list(state["pooled"])
        encoder.pooled_weights_ = np.asarray(state["pooled_weights"], dtype=np.float64)
        encoder.dtype_ = str(state["dtype"])
        encoder.na_ = str(state["na"])
        encoder.dtype_categories_ = state["dtype_categories"]
        encoder.ordered_ = bool(state["ordered"])
        return encoder


def _comparable(values: pd.Series) -> pd.Series:
    """Datetime-like values as the ISO strings categories are stored as."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype) or pd.api.types.is_timedelta64_dtype(
        values.dtype
    ):
        return values.map(jsonable, na_action="ignore")
    return values


class OneHotEncoder(CategoricalEncoder):
    """One ``softmax`` block with a column per kept category (+ missing, + "other")."""

    name = "onehot"

    def transform(self, values: pd.Series, out: np.ndarray | None = None) -> np.ndarray:
        codes = self.codes(values)
        block = self._output(len(codes), self.n_codes, out)
        # Filled in contiguous chunks, then copied: ``out`` is often a strided view.
        for start in range(0, len(codes), _CHUNK):
            part = codes[start : start + _CHUNK]
            local = np.zeros((len(part), self.n_codes), dtype=block.dtype)
            local[np.arange(len(part)), part] = 1.0
            block[start : start + _CHUNK] = local
        return block

    def inverse(self, block: np.ndarray, rng: np.random.Generator) -> pd.Series:
        return self.decode(np.argmax(np.asarray(block), axis=1), rng)

    def spans(self, column: str) -> list[Span]:
        return [Span(column, "category", self.n_codes, "softmax")]


class OrdinalEncoder(CategoricalEncoder):
    """One ``linear`` column holding the block position scaled to [0, 1].

    Position ``i`` of ``k`` becomes ``i / (k - 1)``; inversion rounds back to the
    nearest position after clipping to [0, 1].
    """

    name = "ordinal"

    def transform(self, values: pd.Series, out: np.ndarray | None = None) -> np.ndarray:
        codes = self.codes(values)
        block = self._output(len(codes), 1, out)
        block[:, 0] = codes / max(self.n_codes - 1, 1)
        return block

    def inverse(self, block: np.ndarray, rng: np.random.Generator) -> pd.Series:
        scale = max(self.n_codes - 1, 1)
        position = np.clip(np.asarray(block, dtype=np.float64)[:, 0], 0.0, 1.0) * scale
        return self.decode(np.rint(position).astype(np.int64).clip(0, self.n_codes - 1), rng)

    def spans(self, column: str) -> list[Span]:
        return [Span(column, "category", 1, "linear")]
