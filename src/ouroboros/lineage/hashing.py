"""Content hashes of tables that survive the file formats ouroboros writes.

Every cell is brought to a canonical value before hashing, so that a frame in memory,
the same frame after a Parquet round trip and after a CSV round trip (through
:func:`ouroboros.io.write_table` and :func:`ouroboros.io.read_table`) hash alike:

- numbers, booleans and text that reads as numbers (what ``read_csv`` turns into numbers)
  become float64 (``-0.0`` is ``0.0``; every missing value is one NaN);
- dates and durations become the text ``to_csv`` writes for them;
- other text stays text, and the strings ``read_csv`` reads as missing (``""``, ``NA``,
  ``null``...) are missing;
- columns are taken in the order of their names, so reordering the columns keeps the hash.

:func:`row_hashes` gives one uint64 per row (the same for equal rows wherever they sit,
so a shuffled or mixed copy is recognisable); :func:`content_hash` is the sha256 of the
column names and the row hashes in row order. Both are vectorised (``pandas`` hashing of
the distinct values of each column).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ouroboros.errors import DataError

#: the canonicalisation's version, part of every content hash
HASH_SCHEME = "ouroboros-table-v1"
#: what ``pandas.read_csv`` reads as a missing value by default
_NA_STRINGS = frozenset(
    [
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    ]
)
_BOOL_TEXT = {"True": 1.0, "TRUE": 1.0, "true": 1.0, "False": 0.0, "FALSE": 0.0, "false": 0.0}
_NAN_BITS = np.float64("nan").view(np.uint64)
#: the hash of a missing cell in a text column
_MISSING_HASH = pd.util.hash_array(np.array(["\x00<missing>"], dtype=object))[0]


def _numeric_bits(values: np.ndarray) -> np.ndarray:
    """float64 values as uint64 bit patterns, ``-0.0`` folded into ``0.0`` and NaNs into one."""
    values = np.asarray(values, dtype=np.float64) + 0.0  # -0.0 + 0.0 == 0.0
    bits = values.view(np.uint64).copy()
    bits[np.isnan(values)] = _NAN_BITS
    return bits


def _hash_numbers(values: np.ndarray) -> np.ndarray:
    return pd.util.hash_array(_numeric_bits(values))


_NAN_HASH = _hash_numbers(np.array([np.nan]))[0]


def _is_bool(value: object) -> bool:
    return isinstance(value, (bool, np.bool_)) or (isinstance(value, str) and value in _BOOL_TEXT)


def _as_numbers(uniques: list) -> np.ndarray | None:
    """The distinct present values of a column as float64, when ``read_csv`` would read
    them as numbers (all booleans or their text, or all numbers or their text); else None."""
    if all(_is_bool(v) for v in uniques):
        return np.array([_BOOL_TEXT[v] if isinstance(v, str) else float(v) for v in uniques])
    if any(isinstance(v, (bool, np.bool_)) for v in uniques):
        return None
    if isinstance(uniques[0], str):
        try:
            float(uniques[0])
        except ValueError:
            return None
    try:
        parsed = pd.to_numeric(pd.Series(uniques, dtype=object), errors="raise")
    except (ValueError, TypeError):
        return None
    if not ptypes.is_numeric_dtype(parsed.dtype) or ptypes.is_complex_dtype(parsed.dtype):
        return None
    return np.asarray(parsed, dtype=np.float64)


def _column_hashes(column: pd.Series) -> np.ndarray:
    """One uint64 per cell of ``column``, after canonicalisation.

    Columns that are not numbers are hashed through their distinct values (``factorize``),
    so their canonicalisation costs one pass of C code plus work on the distinct values.
    """
    dtype = column.dtype
    if ptypes.is_bool_dtype(dtype):
        return _hash_numbers(column.astype("float64").to_numpy(na_value=np.nan))
    if ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype):
        if dtype == np.float32 or str(dtype) == "Float32":
            # to_csv writes the shortest text of each float32; read back, it is that float64
            text = column.to_numpy(dtype=np.float32, na_value=np.nan).astype(str)
            return _hash_numbers(text.astype(np.float64))
        if ptypes.is_integer_dtype(dtype) and not isinstance(
            dtype, pd.api.extensions.ExtensionDtype
        ):
            # no NaN and no negative zero to fold: the float64 bits as they are
            return pd.util.hash_array(column.to_numpy(dtype=np.float64).view(np.uint64))
        return _hash_numbers(column.to_numpy(dtype=np.float64, na_value=np.nan))
    try:
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
    except TypeError:  # unhashable cells (lists, dicts): their text, as to_csv writes it
        text = column.map(str, na_action="ignore")
        codes, uniques = pd.factorize(text, use_na_sentinel=True)
    uniques = pd.Series(uniques)
    if ptypes.is_datetime64_any_dtype(uniques.dtype) or ptypes.is_timedelta64_dtype(uniques.dtype):
        uniques = uniques.astype(str)  # the text to_csv writes, decided over all the values
    values = list(uniques.astype(object))
    present = [not (isinstance(v, str) and v in _NA_STRINGS) for v in values]
    kept = [v for v, keep in zip(values, present, strict=True) if keep]
    numbers = _as_numbers(kept) if kept else np.zeros(0)
    if numbers is not None:
        known, missing = _hash_numbers(numbers), _NAN_HASH
    else:
        text = np.array([v if isinstance(v, str) else str(v) for v in kept], dtype=object)
        known, missing = pd.util.hash_array(text), _MISSING_HASH
    hashes = np.full(len(values) + 1, missing, dtype=np.uint64)  # the last slot: missing
    hashes[np.flatnonzero(present)] = known
    return hashes[codes]  # a missing cell's code, -1, picks the last slot


def _ordered_columns(frame: pd.DataFrame) -> list[int]:
    names = [str(name) for name in frame.columns]
    return sorted(range(len(names)), key=lambda i: names[i])


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One uint64 per row of ``frame``: equal rows (same columns) hash alike, wherever they sit.

    The column hashes are combined in the order of the column names (the combination of
    ``pandas.core.util.hashing.combine_hash_arrays``).
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"row hashes need a pandas DataFrame; got {type(frame).__name__}")
    order = _ordered_columns(frame)
    out = np.full(len(frame), 0x345678, dtype=np.uint64)
    multiplier = np.uint64(1000003)
    with np.errstate(over="ignore"):
        for position, index in enumerate(order):
            out ^= _column_hashes(frame.iloc[:, index])
            out *= multiplier
            step = len(order) - position
            multiplier += np.uint64(82520 + step + step)
        out += np.uint64(97531)
    return out


def content_hash(frame: pd.DataFrame, hashes: np.ndarray | None = None) -> str:
    """The sha256 (hex) of ``frame``'s column names and row hashes, in row order.

    Pass ``hashes`` when :func:`row_hashes` of the frame is already at hand.
    """
    if hashes is None:
        hashes = row_hashes(frame)
    names = sorted(str(name) for name in frame.columns)
    digest = hashlib.sha256()
    digest.update(HASH_SCHEME.encode())
    digest.update(json.dumps(names, ensure_ascii=False).encode("utf-8"))
    digest.update(np.ascontiguousarray(hashes, dtype="<u8").tobytes())
    return digest.hexdigest()
