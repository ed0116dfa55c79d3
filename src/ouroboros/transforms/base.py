"""Shared pieces of the transforms: the :class:`Span` record and dtype restoration.

Every encoder keeps its fitted state as plain JSON values and numpy arrays
(``to_state``/``from_state``), so a transformer is saved without pickle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ouroboros.errors import NotFittedError


@dataclass(frozen=True)
class Span:
    """A block of matrix columns coming from one source column.

    ``kind`` is ``"value"`` (a scalar), ``"mode"`` (one-hot over mixture modes),
    ``"category"`` (one-hot or ordinal category) or ``"missing"`` (present/missing
    one-hot); ``activation`` is ``"tanh"``, ``"softmax"`` or ``"linear"``.
    """

    column: str
    kind: str
    width: int
    activation: str


def check_fitted(obj: Any, attribute: str) -> None:
    """Raise :class:`NotFittedError` when ``obj`` lacks its fitted ``attribute``."""
    if not hasattr(obj, attribute):
        raise NotFittedError(
            f"this {type(obj).__name__} is not fitted yet; call fit(...) before using it"
        )


def jsonable(value: Any) -> Any:
    """A category or constant as the plain Python value JSON holds (None for missing)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (pd.Timestamp, pd.Timedelta)):
        return value.isoformat()
    if isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


#: how an ``object`` column spelled its missing values, to restore them alike
_NA_VALUES = {"none": None, "nan": np.nan, "na": pd.NA}


def missing_marker(values: pd.Series) -> str:
    """Name of the missing value an object column used (``none``, ``nan`` or ``na``)."""
    missing = values[values.isna()]
    if not len(missing):
        return "nan"
    first = missing.iloc[0]
    if first is None:
        return "none"
    if first is pd.NA:
        return "na"
    return "nan"


def typed_values(
    values: list[Any],
    dtype: str,
    *,
    na: str = "nan",
    categories: list[Any] | None = None,
    ordered: bool = False,
) -> pd.Series:
    """Turn a short list of JSON values (None for missing) into a Series of ``dtype``.

    Used on lookup tables (one entry per category), which are then indexed by the
    per-row codes, so the per-row work stays vectorised.
    """
    if dtype == "category":
        return pd.Series(pd.Categorical(values, categories=categories, ordered=ordered))
    series = pd.Series(values, dtype=object)
    if dtype == "object":
        return series.where(series.notna(), _NA_VALUES[na]).astype(object)
    if dtype == "bool":
        return series.astype(bool)
    return series.astype(pd.api.types.pandas_dtype(dtype))


def take(lookup: pd.Series, codes: np.ndarray) -> pd.Series:
    """Rows of ``lookup`` at ``codes``, keeping its dtype, with a fresh RangeIndex."""
    return pd.Series(lookup.array.take(np.asarray(codes, dtype=np.intp)), dtype=lookup.dtype)
