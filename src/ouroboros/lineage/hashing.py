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
column names and the row hashes in row order. Both are vectorised and allocate no array
per column: numbers are mixed in place (the mix of ``pandas.util.hash_array``), other
columns hash their distinct values once and map them by codes (Arrow's dictionary
encoding for Arrow text, else ``pandas.factorize``).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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


#: the constants of pandas' ``hash_array`` for 64-bit values (SplitMix64's finaliser)
_MIX_A = np.uint64(0xBF58476D1CE4E5B9)
_MIX_B = np.uint64(0x94D049BB133111EB)


def _mix(bits: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """``pandas.util.hash_array`` of uint64 ``bits``, computed in place (``scratch``: a
    buffer of the same size), so that a column costs no new arrays."""
    for shift, factor in ((30, _MIX_A), (27, _MIX_B), (31, None)):
        np.right_shift(bits, np.uint64(shift), out=scratch)
        np.bitwise_xor(bits, scratch, out=bits)
        if factor is not None:
            np.multiply(bits, factor, out=bits)
    return bits


def _float_bits(values: np.ndarray, out: np.ndarray) -> np.ndarray:
    """float64 ``values`` as uint64 bit patterns in ``out``, ``-0.0`` folded into ``0.0``
    and NaNs into one."""
    floats = out.view(np.float64)
    np.add(values, 0.0, out=floats)  # -0.0 + 0.0 == 0.0
    missing = np.isnan(floats)
    if missing.any():
        out[missing] = _NAN_BITS
    return out


def _hash_numbers(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    bits = _float_bits(values, np.empty(len(values), dtype=np.uint64))
    return _mix(bits, np.empty_like(bits))


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


def _column_hashes(column: pd.Series, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """One uint64 per cell of ``column``, after canonicalisation, written into ``out``.

    Numbers are mixed in place; other columns are hashed through their distinct values
    (Arrow's dictionary encoding or ``factorize``), so their canonicalisation costs one
    pass of C code plus work on the distinct values.
    """
    dtype = column.dtype
    if ptypes.is_bool_dtype(dtype):
        values = column.astype("float64").to_numpy(na_value=np.nan)
        return _mix(_float_bits(values, out), scratch)
    if ptypes.is_numeric_dtype(dtype) and not ptypes.is_complex_dtype(dtype):
        if dtype == np.float32 or str(dtype) == "Float32":
            # to_csv writes the shortest text of each float32; read back, it is that float64
            text = column.to_numpy(dtype=np.float32, na_value=np.nan).astype(str)
            return _mix(_float_bits(text.astype(np.float64), out), scratch)
        if isinstance(dtype, np.dtype) and dtype.kind in "iu":
            # no NaN and no negative zero to fold: the float64 bits as they are
            np.copyto(out.view(np.float64), column.to_numpy(), casting="unsafe")
            return _mix(out, scratch)
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        return _mix(_float_bits(values, out), scratch)
    encoded = _arrow_codes(column)
    if encoded is None:
        try:
            encoded = pd.factorize(column, use_na_sentinel=True)
        except TypeError:  # unhashable cells (lists, dicts): their text, as to_csv writes it
            encoded = pd.factorize(column.map(str, na_action="ignore"), use_na_sentinel=True)
    codes, uniques = encoded
    hashes = _distinct_hashes(pd.Series(uniques))
    # a missing cell's code, -1, wraps to the last slot
    return np.take(hashes, codes, out=out, mode="wrap")


def _arrow_codes(column: pd.Series) -> tuple[np.ndarray, pd.Index] | None:
    """``factorize`` of an Arrow-backed text column, from Arrow's dictionary encoding
    without the copies pandas makes (codes int32, -1 where missing); None for others."""
    if not hasattr(column.array, "__arrow_array__"):
        return None
    data = pa.chunked_array(column.array.__arrow_array__())
    if data.num_chunks == 0 or not (
        pa.types.is_string(data.type) or pa.types.is_large_string(data.type)
    ):
        return None
    chunks = pc.dictionary_encode(data).chunks
    dictionary = chunks[-1].dictionary
    if not all(chunk.dictionary.equals(dictionary) for chunk in chunks):
        return None  # dictionaries Arrow did not unify: let pandas do it
    parts = []
    for chunk in chunks:
        indices = chunk.indices
        if indices.null_count:
            indices = pc.fill_null(indices, -1)
        parts.append(indices.to_numpy(zero_copy_only=False))
    codes = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return codes, pd.Index(dictionary.to_pandas(), dtype=object)


def _distinct_hashes(uniques: pd.Series) -> np.ndarray:
    """The hash of each distinct value of a column, and of a missing cell in the last slot."""
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
    hashes = np.full(len(values) + 1, missing, dtype=np.uint64)
    hashes[np.flatnonzero(present)] = known
    return hashes


def _ordered_columns(frame: pd.DataFrame) -> list[int]:
    names = [str(name) for name in frame.columns]
    return sorted(range(len(names)), key=lambda i: names[i])


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One uint64 per row of ``frame``: equal rows (same columns) hash alike, wherever they sit.

    The column hashes are combined in the order of the column names (the combination of
    ``pandas.core.util.hashing.combine_hash_arrays``), in place.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"row hashes need a pandas DataFrame; got {type(frame).__name__}")
    order = _ordered_columns(frame)
    out = np.full(len(frame), 0x345678, dtype=np.uint64)
    column, scratch = np.empty_like(out), np.empty_like(out)
    multiplier = np.uint64(1000003)
    with np.errstate(over="ignore"):
        for position, index in enumerate(order):
            np.bitwise_xor(out, _column_hashes(frame.iloc[:, index], column, scratch), out=out)
            np.multiply(out, multiplier, out=out)
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
    digest.update(np.ascontiguousarray(hashes, dtype="<u8").data)  # no copy
    return digest.hexdigest()
