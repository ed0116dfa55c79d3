"""Converters between a numeric or datetime column and float64 values (NaN for missing).

Going back, they restore what the numeric encoders cannot know: integer
rounding, decimal precision, clipping to the observed range, the exact dtype,
and for datetimes the resolution, timezone and string format.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ouroboros.errors import DataError
from ouroboros.schema import MAX_PRECISION, ColumnKind, ColumnSchema
from ouroboros.transforms.base import check_fitted, missing_marker
from ouroboros.values import TICKS_PER_SECOND, datetime_seconds

#: candidate resolutions of a datetime column, in seconds, coarsest first
_STEPS = (86_400, 3_600, 60, 1, 1e-3, 1e-6, 1e-9)


class NumberConverter:
    """A continuous or integer column as float64, and back in its exact dtype."""

    def fit(self, values: pd.Series, column: ColumnSchema) -> NumberConverter:
        numbers = self.to_float(values)
        present = numbers[~np.isnan(numbers)]
        if not len(present):
            raise DataError(f"column {column.name!r} is entirely missing; it cannot be numeric")
        self.integer_ = column.kind is ColumnKind.INTEGER
        # The schema caps precision at MAX_PRECISION: there it means "full", not a rounding.
        precision = column.precision
        if precision is not None and precision >= MAX_PRECISION:
            precision = None
        self.precision_ = 0 if self.integer_ else precision
        self.min_, self.max_ = float(present.min()), float(present.max())
        self.dtype_ = str(values.dtype)
        self.na_ = missing_marker(values)
        return self

    @staticmethod
    def to_float(values: pd.Series) -> np.ndarray:
        if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(
            values.dtype
        ):
            try:
                values = pd.to_numeric(values)
            except (ValueError, TypeError) as exc:
                raise DataError(
                    f"column {values.name!r} holds non-numeric values; make it numeric or "
                    "set its kind to categorical"
                ) from exc
        return values.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)

    def from_float(self, numbers: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
        check_fitted(self, "dtype_")
        numbers = np.clip(np.asarray(numbers, dtype=np.float64), self.min_, self.max_)
        if self.precision_ is not None:
            numbers = np.round(numbers, self.precision_)
        if missing is not None and missing.any():
            numbers = numbers.copy()
            numbers[missing] = np.nan
        dtype = pd.api.types.pandas_dtype(self.dtype_)
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            return pd.Series(numbers).astype(dtype)
        return self._as_text(numbers)

    def _as_text(self, numbers: np.ndarray) -> pd.Series:
        """Numbers that came from a text column, written back as text."""
        series = pd.Series(numbers)
        missing = series.isna()
        if self.integer_ or self.precision_ == 0:
            text = series.fillna(0).astype(np.int64).astype(str)
        else:
            text = series.astype(str)
        text = text.astype(object).where(~missing, None)
        if self.dtype_ == "object":
            na = {"none": None, "na": pd.NA, "nan": np.nan}[self.na_]
            return text.where(~missing, na).astype(object)
        return text.astype(pd.api.types.pandas_dtype(self.dtype_))

    def to_state(self) -> dict[str, Any]:
        check_fitted(self, "dtype_")
        return {
            "integer": self.integer_,
            "precision": self.precision_,
            "min": self.min_,
            "max": self.max_,
            "dtype": self.dtype_,
            "na": self.na_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NumberConverter:
        converter = cls()
        converter.integer_ = bool(state["integer"])
        precision = state["precision"]
        converter.precision_ = None if precision is None else int(precision)
        converter.min_, converter.max_ = float(state["min"]), float(state["max"])
        converter.dtype_, converter.na_ = str(state["dtype"]), str(state["na"])
        return converter


class DatetimeConverter:
    """A datetime column (datetime dtype, or text in the schema's format) as UTC seconds.

    Going back, seconds are rounded to the column's resolution (the coarsest of
    day, hour, minute, second, ms, us, ns that all training values share),
    clipped to the observed range, put back in the original timezone, and
    printed with the original format when the column was text.
    """

    def fit(self, values: pd.Series, column: ColumnSchema) -> DatetimeConverter:
        is_datetime = pd.api.types.is_datetime64_any_dtype(values.dtype)
        self.format_ = None if is_datetime else column.datetime_format
        if not is_datetime and self.format_ is None:
            raise DataError(
                f"column {column.name!r} is datetime text without a 'datetime_format' in the "
                "schema; detect the schema from the data or set the format"
            )
        stamps = self._stamps(values)
        tz = getattr(stamps.dtype, "tz", None)
        self.timezone_ = None if tz is None else str(tz)
        self.unit_ = stamps.dt.unit
        ticks = self._ticks(stamps)
        present = ticks[~stamps.isna().to_numpy()]
        if not len(present):
            raise DataError(f"column {column.name!r} is entirely missing; it cannot be datetime")
        per_second = TICKS_PER_SECOND[self.unit_]
        self.step_ = 1
        for step in _STEPS:
            units = step * per_second
            if units >= 1 and np.all(present % int(units) == 0):
                self.step_ = int(units)
                break
        self.min_ = float(present.min()) / per_second
        self.max_ = float(present.max()) / per_second
        self.dtype_ = str(values.dtype)
        self.na_ = missing_marker(values)
        return self

    def _stamps(self, values: pd.Series) -> pd.Series:
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            return values
        try:
            return pd.to_datetime(values, format=self.format_)
        except (ValueError, TypeError) as exc:
            raise DataError(
                f"column {values.name!r}: values do not match the datetime format {self.format_!r}"
            ) from exc

    @staticmethod
    def _ticks(stamps: pd.Series) -> np.ndarray:
        """Integer ticks since the epoch (UTC for aware values) in the values' unit."""
        return np.asarray(stamps.array.asi8, dtype=np.int64)

    def to_float(self, values: pd.Series) -> np.ndarray:
        check_fitted(self, "dtype_")
        stamps = self._stamps(values)
        if stamps.dt.unit != self.unit_:
            stamps = stamps.dt.as_unit(self.unit_)
        return datetime_seconds(stamps)

    def from_float(self, seconds: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
        check_fitted(self, "dtype_")
        seconds = np.asarray(seconds, dtype=np.float64)
        seconds = np.clip(np.nan_to_num(seconds, nan=self.min_), self.min_, self.max_)
        steps = np.rint(seconds * (TICKS_PER_SECOND[self.unit_] / self.step_))
        ticks = steps.astype(np.int64) * self.step_
        if missing is not None and missing.any():
            ticks[missing] = np.iinfo(np.int64).min
        stamps = pd.Series(ticks.view(f"datetime64[{self.unit_}]"))
        if self.timezone_ is not None:
            stamps = stamps.dt.tz_localize("UTC").dt.tz_convert(self.timezone_)
        if self.format_ is None:
            return stamps.astype(pd.api.types.pandas_dtype(self.dtype_))
        text = stamps.dt.strftime(self.format_)
        if self.dtype_ == "object":
            na = {"none": None, "na": pd.NA, "nan": np.nan}[self.na_]
            return text.astype(object).where(stamps.notna(), na)
        return text.astype(pd.api.types.pandas_dtype(self.dtype_))

    def to_state(self) -> dict[str, Any]:
        check_fitted(self, "dtype_")
        return {
            "format": self.format_,
            "timezone": self.timezone_,
            "unit": self.unit_,
            "step": self.step_,
            "min": self.min_,
            "max": self.max_,
            "dtype": self.dtype_,
            "na": self.na_,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DatetimeConverter:
        converter = cls()
        converter.format_ = state["format"]
        converter.timezone_ = state["timezone"]
        converter.unit_ = str(state["unit"])
        converter.step_ = int(state["step"])
        converter.min_, converter.max_ = float(state["min"]), float(state["max"])
        converter.dtype_, converter.na_ = str(state["dtype"]), str(state["na"])
        return converter
