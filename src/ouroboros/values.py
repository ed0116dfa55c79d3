"""Cell values as numbers and dates: the one datetime-to-seconds conversion, and text patterns.

:func:`datetime_seconds` is what every module uses to turn datetimes into
numbers; :func:`guess_datetime_format` finds the strftime format of a text
column of dates (a fixed list of common formats first, then pandas' format
inference, day-first where a leading field is above 12);
:func:`is_comma_decimal` and :func:`unparsed_kind` recognise text that a
reader or the detection could not take for numbers or dates.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format as _pandas_guess

#: ticks per second of each datetime64 unit
TICKS_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}

#: formats tried before pandas' inference, in this order (ambiguous dates are day-first)
DATETIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%Y%m%d",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%Y-%m",
)
#: values of a column the format guess looks at
_SAMPLE = 2000
_COMMA_DECIMAL = re.compile(r"^\s*[+-]?(?:\d+(?:,\d*)?|,\d+)(?:[eE][+-]?\d+)?\s*$")
_DATE_LIKE = re.compile(
    r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
    r"|(?i:\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d)"
    r"|(?i:\d\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))"
)
_NUMBER_LIKE = re.compile(r"^\s*[-+(]?\s*[$€£¥]?\s*\d[\d.,' \u00a0]*\s*[%)]?\s*[$€£¥]?\s*$")


def datetime_seconds(values: pd.Series | pd.Timestamp | str) -> np.ndarray | float:
    """Datetimes as float seconds since the epoch: UTC for aware values, NaN for missing.

    A Series (datetime dtype) gives an array, a Timestamp or ISO string a float.
    """
    if not isinstance(values, pd.Series):
        return float(datetime_seconds(pd.Series([pd.Timestamp(values)]))[0])
    ticks = np.asarray(values.array.asi8, dtype=np.int64)
    seconds = ticks / TICKS_PER_SECOND[values.dt.unit]
    seconds[values.isna().to_numpy()] = np.nan
    return seconds


def _dayfirst(sample: pd.Series) -> bool:
    """Whether some value's leading number is a day (13 to 31), so it cannot be a month."""
    leading = pd.to_numeric(sample.str.extract(r"^\s*(\d{1,2})\D", expand=False), "coerce")
    return bool(((leading > 12) & (leading <= 31)).any())


def _inferred_formats(sample: pd.Series) -> list[str]:
    """Formats pandas infers from a few values, day-first first where the values say so."""
    dayfirst = _dayfirst(sample)
    found: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for value in sample.drop_duplicates().iloc[:20]:
            for first in (dayfirst, not dayfirst) if dayfirst else (False,):
                guess = _pandas_guess(value, dayfirst=first)
                # a full date only: "%B" alone would take month names for dates
                if guess and "%d" in guess and ("%Y" in guess or "%y" in guess):
                    found.append(guess)
    return list(dict.fromkeys(found))


def _reads_back(values: pd.Series, sample: pd.Series, fmt: str) -> bool:
    try:
        parsed = pd.to_datetime(sample, format=fmt)
        if not (parsed.dt.strftime(fmt) == sample).all():
            return False
        pd.to_datetime(values, format=fmt)
    except (ValueError, TypeError):
        return False
    return True


def guess_datetime_format(values: pd.Series, fmt: str | None = None) -> str | None:
    """A strftime format that parses every present value and prints it back unchanged.

    ``fmt`` is the only candidate when given. None when no format fits.
    """
    text = values.astype(str)
    sample = text.iloc[:_SAMPLE]
    if fmt:
        return fmt if _reads_back(text, sample, fmt) else None
    for candidate in DATETIME_FORMATS:
        if _reads_back(text, sample, candidate):
            return candidate
    if not sample.str.contains(r"\d").all():
        return None
    for candidate in _inferred_formats(sample):
        if candidate not in DATETIME_FORMATS and _reads_back(text, sample, candidate):
            return candidate
    return None


def is_comma_decimal(values: pd.Series) -> bool:
    """Whether present text values are all numbers with a decimal comma (``76,29``), some with one."""
    present = values.dropna()
    if not len(present) or not all(isinstance(v, str) for v in present.iloc[:_SAMPLE]):
        return False
    text = present.astype(str)
    return bool(text.str.contains(",", regex=False).any() and text.str.match(_COMMA_DECIMAL).all())


def unparsed_kind(values: pd.Series) -> tuple[str, str] | None:
    """``("dates" | "numbers", example)`` when text values look like dates or numbers.

    For text that the detection kept as text: most values (90%) look like
    dates (``1/2/2024``, ``Jan 5 2024``) or like numbers with symbols or
    separators (``$1,234.50``, ``1.234,5``, ``12%``).
    """
    sample = values.dropna().astype(str).iloc[:_SAMPLE]
    if not len(sample):
        return None
    for kind, pattern, match in (
        ("dates", _DATE_LIKE, sample.str.contains),
        ("numbers", _NUMBER_LIKE, sample.str.match),
    ):
        hits = match(pattern)
        if hits.mean() >= 0.9:
            return kind, str(sample[hits].iloc[0])
    return None
