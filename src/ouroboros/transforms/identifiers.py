"""The columns that are not modelled: identifiers (regenerated fresh) and constants.

Identifiers are unique per row and carry no signal, and copying them would leak
real keys, so inversion makes new unique values of the same shape: integers
(and digit strings) continue above the largest training value, keeping the
number of digits when there is room; other strings keep the common prefix, the
length and the alphabet, drawn at random until unique.
"""

from __future__ import annotations

import os
import string
from typing import Any

import numpy as np
import pandas as pd

from ouroboros.errors import DataError
from ouroboros.schema import ColumnSchema
from ouroboros.transforms.base import check_fitted, jsonable, missing_marker, take, typed_values

_NA = {"none": None, "na": pd.NA, "nan": np.nan}
#: fresh integers never go past this, to stay clear of int64 overflow
_INT_CEILING = 2**62


def _alphabet(chars: set[str]) -> str:
    if chars <= set(string.digits):
        return string.digits
    if chars <= set(string.digits + "abcdef"):
        return string.digits + "abcdef"
    if chars <= set(string.digits + "ABCDEF"):
        return string.digits + "ABCDEF"
    if chars <= set(string.digits + string.ascii_uppercase):
        return string.digits + string.ascii_uppercase
    if chars <= set(string.digits + string.ascii_lowercase):
        return string.digits + string.ascii_lowercase
    return string.digits + string.ascii_letters


def fresh_integers(
    n: int, above: int, digits: int, rng: np.random.Generator, ceiling: int = _INT_CEILING
) -> np.ndarray:
    """``n`` distinct integers in ``(above, ceiling]``, shuffled; ``digits`` digits if room."""
    room = ceiling - above
    if room < n:
        raise DataError(
            f"cannot make {n} fresh identifiers above {above} without passing {ceiling}, "
            "the largest value of the column's dtype; store the column as int64"
        )
    same_digits = min(10**digits - 1, ceiling) - above
    largest_gap = max(1, min(same_digits, room) // max(n, 1))
    values = above + np.cumsum(rng.integers(1, largest_gap + 1, size=n, dtype=np.int64))
    return rng.permutation(values)


def _ceiling(dtype: str) -> int:
    """Largest integer the dtype holds exactly (capped to stay clear of int64 overflow)."""
    numpy_dtype = getattr(pd.api.types.pandas_dtype(dtype), "numpy_dtype", None)
    numpy_dtype = numpy_dtype or pd.api.types.pandas_dtype(dtype)
    if np.issubdtype(numpy_dtype, np.integer):
        return min(int(np.iinfo(numpy_dtype).max), _INT_CEILING)
    if np.issubdtype(numpy_dtype, np.floating):
        return 2 ** (np.finfo(numpy_dtype).nmant + 1)
    return _INT_CEILING


class IdentifierGenerator:
    """Regenerates a column of unique identifiers as fresh unique values of the same shape."""

    def fit(self, values: pd.Series, column: ColumnSchema) -> IdentifierGenerator:
        missing = values.isna()
        present = values[~missing]
        if not len(present):
            raise DataError(
                f"column {column.name!r} is entirely missing; it cannot be an identifier"
            )
        self.dtype_ = str(values.dtype)
        self.na_ = missing_marker(values)
        self.missing_fraction_ = float(missing.mean())
        self.prefix_, self.alphabet_, self.length_ = "", string.digits, 0
        if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
            values.dtype
        ):
            self.kind_ = "integer"
            self.max_ = int(np.ceil(present.to_numpy(dtype=np.float64).max()))
            self.length_ = len(str(abs(self.max_)))
            return self
        text = present.astype(str)
        self.kind_ = "string"
        prefix = os.path.commonprefix([text.min(), text.max()])
        # Digits shared by every value (e.g. zero padding) belong to the number, not the prefix.
        numeric_prefix = prefix.rstrip(string.digits)
        rest = text.str.slice(len(numeric_prefix))
        if not (set("".join(rest.iloc[:5000].tolist())) <= set(string.digits)):
            numeric_prefix, rest = prefix, text.str.slice(len(prefix))
        self.prefix_ = numeric_prefix
        self.length_ = int(rest.str.len().value_counts().idxmax())
        self.alphabet_ = _alphabet(set("".join(rest.iloc[:5000].tolist())))
        numbers = pd.to_numeric(rest, errors="coerce") if self.alphabet_ == string.digits else None
        self.max_ = int(numbers.max()) if numbers is not None and numbers.notna().any() else -1
        return self

    def generate(self, n: int, rng: np.random.Generator) -> pd.Series:
        """``n`` fresh identifiers (missing at the training rate), in the training dtype."""
        check_fitted(self, "kind_")
        missing = rng.random(n) < self.missing_fraction_
        if self.kind_ == "integer":
            ceiling = _ceiling(self.dtype_)
            numbers = pd.Series(fresh_integers(n, self.max_, self.length_, rng, ceiling))
            if missing.any():
                numbers = numbers.astype("Int64").mask(missing)
            return numbers.astype(pd.api.types.pandas_dtype(self.dtype_))
        if self.alphabet_ == string.digits:
            numbers = fresh_integers(n, max(self.max_, 0), self.length_, rng)
            suffixes = np.char.zfill(numbers.astype(str), self.length_)
        else:
            suffixes = self._random_strings(n, rng)
        text = pd.Series(np.char.add(self.prefix_, suffixes), dtype=object)
        text = text.where(~missing, _NA[self.na_])
        if self.dtype_ == "object":
            return text
        return text.astype(pd.api.types.pandas_dtype(self.dtype_))

    def _random_strings(self, n: int, rng: np.random.Generator) -> np.ndarray:
        symbols = np.array([ord(c) for c in self.alphabet_], dtype=np.uint32)
        length = max(self.length_, 1)
        while len(symbols) ** length < 4 * max(n, 1):
            length += 1

        def draw(count: int) -> np.ndarray:
            codes = symbols[rng.integers(0, len(symbols), size=(count, length))]
            return np.ascontiguousarray(codes).view(f"<U{length}").ravel()

        out = draw(n)
        duplicated = pd.Series(out).duplicated().to_numpy()
        while duplicated.any():
            out[duplicated] = draw(int(duplicated.sum()))
            duplicated = pd.Series(out).duplicated().to_numpy()
        return out

    def to_state(self) -> dict[str, Any]:
        check_fitted(self, "kind_")
        return {
            "kind": self.kind_,
            "max": self.max_,
            "length": self.length_,
            "prefix": self.prefix_,
            "alphabet": self.alphabet_,
            "missing_fraction": self.missing_fraction_,
            "dtype": self.dtype_,
            "na": self.na_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> IdentifierGenerator:
        generator = cls()
        generator.kind_ = str(state["kind"])
        generator.max_, generator.length_ = int(state["max"]), int(state["length"])
        generator.prefix_, generator.alphabet_ = str(state["prefix"]), str(state["alphabet"])
        generator.missing_fraction_ = float(state["missing_fraction"])
        generator.dtype_, generator.na_ = str(state["dtype"]), str(state["na"])
        return generator


class ConstantFiller:
    """Refills a constant column with its value, missing at the training rate."""

    def fit(self, values: pd.Series, column: ColumnSchema) -> ConstantFiller:
        missing = values.isna()
        present = values[~missing]
        self.value_ = jsonable(present.iloc[0]) if len(present) else None
        self.missing_fraction_ = float(missing.mean())
        self.dtype_ = str(values.dtype)
        self.na_ = missing_marker(values)
        if isinstance(values.dtype, pd.CategoricalDtype):
            self.dtype_categories_ = [jsonable(c) for c in values.dtype.categories]
            self.ordered_ = bool(values.dtype.ordered)
        else:
            self.dtype_categories_, self.ordered_ = None, False
        return self

    def generate(self, n: int, rng: np.random.Generator) -> pd.Series:
        check_fitted(self, "value_")
        codes = (rng.random(n) < self.missing_fraction_).astype(np.int64)
        lookup = [self.value_, None] if self.missing_fraction_ > 0 else [self.value_]
        table = typed_values(
            lookup,
            self.dtype_,
            na=self.na_,
            categories=self.dtype_categories_,
            ordered=self.ordered_,
        )
        return take(table, codes)

    def to_state(self) -> dict[str, Any]:
        check_fitted(self, "value_")
        return {
            "value": self.value_,
            "missing_fraction": self.missing_fraction_,
            "dtype": self.dtype_,
            "na": self.na_,
            "dtype_categories": self.dtype_categories_,
            "ordered": self.ordered_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ConstantFiller:
        filler = cls()
        filler.value_ = state["value"]
        filler.missing_fraction_ = float(state["missing_fraction"])
        filler.dtype_, filler.na_ = str(state["dtype"]), str(state["na"])
        filler.dtype_categories_ = state["dtype_categories"]
        filler.ordered_ = bool(state["ordered"])
        return filler
