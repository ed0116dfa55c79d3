"""Reading tables from CSV or Parquet, and writing any output atomically.

A CSV file's dialect (delimiter, decimal mark) is sniffed on reading and
returned as a :class:`CsvFormat` by :func:`read_table_format`;
:func:`write_table` accepts it, so output is written the way the input was.

Every writer goes through :func:`atomic_path`: the bytes land in a temporary file
in the target folder, which is renamed onto the target only once complete, so a
crash never leaves a half-written file and an existing file is only ever replaced
by a complete one.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ouroboros.errors import FileFormatError, ParameterError
from ouroboros.values import is_comma_decimal

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file writes its cells: the field delimiter and the decimal mark."""

    delimiter: str = ","
    decimal: str = "."

    def __post_init__(self) -> None:
        if self.delimiter == self.decimal or len(self.decimal) != 1 or not self.delimiter:
            raise ParameterError(
                f"CSV delimiter {self.delimiter!r} and decimal mark {self.decimal!r} must be "
                "single, different characters"
            )

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> CsvFormat | None:
        """The format saved by :meth:`to_dict` (None stays None)."""
        if data is None:
            return None
        try:
            return cls(delimiter=str(data["delimiter"]), decimal=str(data["decimal"]))
        except (KeyError, TypeError) as exc:
            raise ParameterError(
                f"a CSV format needs 'delimiter' and 'decimal'; got {data!r}"
            ) from exc


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in CSV_SUFFIXES + PARQUET_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The folder must exist: a missing folder is a user error, not something to
    create silently. On any exception the temporary file is removed and the
    original file, if any, is left untouched.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(
            f"cannot write {str(target)!r}: folder {str(folder)!r} does not exist; create it first"
        )
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, _file_mode(target))
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _file_mode(target: Path) -> int:
    """The replaced file's permissions, or those a new file gets (``mkstemp`` uses 0600)."""
    if target.exists():
        return target.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _sniff_delimiter(path: Path, compressed: bool) -> str:
    opener = gzip.open if compressed else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as handle:
        head = handle.read(64 * 1024)
    if not head.strip():
        raise FileFormatError(f"{str(path)!r} is empty: there is no table to read")
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_table(path: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """Read a CSV (dialect sniffed, optionally gzipped) or Parquet file.

    See :func:`read_table_format`, which also returns the CSV dialect.
    """
    return read_table_format(path, **kwargs)[0]


def read_table_format(path: str | os.PathLike, **kwargs) -> tuple[pd.DataFrame, CsvFormat | None]:
    """Read a table and the :class:`CsvFormat` of a CSV file (None for Parquet).

    The format is taken from the file's content (Parquet and gzip magic bytes),
    falling back to the suffix; anything else raises :class:`FileFormatError`.
    The delimiter is sniffed; with a delimiter other than a comma, text columns
    whose values are all decimal-comma numbers (``76,29``) become numbers and
    the decimal mark is ``","``. Extra keyword arguments go to
    :func:`pandas.read_csv` or :func:`pandas.read_parquet`.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    if path.is_dir():
        raise FileFormatError(f"{str(path)!r} is a folder; give a CSV or Parquet file")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except PermissionError as exc:
        raise PermissionError(f"cannot read {str(path)!r}: permission denied") from exc
    if magic == _PARQUET_MAGIC:
        try:
            return pd.read_parquet(path, **kwargs), None
        except Exception as exc:  # pyarrow raises several unrelated types
            raise FileFormatError(f"{str(path)!r} is not a readable Parquet file: {exc}") from exc
    compressed = magic[:2] == _GZIP_MAGIC
    if _suffix(path) in PARQUET_SUFFIXES:
        raise FileFormatError(f"{str(path)!r} has a Parquet suffix but is not a Parquet file")
    _reject_binary(path, compressed)
    delimiter = kwargs.pop("sep", None) or _sniff_delimiter(path, compressed)
    try:
        data = pd.read_csv(
            path, sep=delimiter, compression="gzip" if compressed else None, **kwargs
        )
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise FileFormatError(
            f"{str(path)!r} is neither a readable CSV nor a Parquet file: {exc}"
        ) from exc
    decimal = kwargs.get("decimal", ".")
    if delimiter != "," and "decimal" not in kwargs:
        decimal = _read_decimal_commas(data)
    return data, CsvFormat(delimiter=delimiter, decimal=decimal)


def _read_decimal_commas(data: pd.DataFrame) -> str:
    """Turn decimal-comma text columns into numbers in place; the decimal mark found."""
    columns = [name for name in data.columns if is_comma_decimal(data[name])]
    for name in columns:
        data[name] = pd.to_numeric(data[name].str.replace(",", ".", regex=False))
    return "," if columns else "."


def _reject_binary(path: Path, compressed: bool) -> None:
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as handle:
            head = handle.read(8192)
    except (OSError, EOFError) as exc:
        raise FileFormatError(f"{str(path)!r} is a damaged gzip file: {exc}") from exc
    if b"\x00" in head:
        raise FileFormatError(
            f"{str(path)!r} is neither CSV nor Parquet (it holds binary data); "
            "give a .csv, .csv.gz or .parquet file"
        )


def write_table(
    data: pd.DataFrame, path: str | os.PathLike, csv_format: CsvFormat | None = None
) -> Path:
    """Write ``data`` as CSV or Parquet, chosen by the suffix, atomically.

    A CSV is written with ``csv_format``'s delimiter (a ``.tsv`` file always
    with tabs) and decimal mark; by default with commas and decimal points.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise ParameterError(
            f"output {str(path)!r}: unknown suffix {suffix!r}; use .csv, .csv.gz or .parquet"
        )
    with atomic_path(path) as tmp:
        if suffix in PARQUET_SUFFIXES:
            data.to_parquet(tmp, index=False)
        else:
            fmt = csv_format or CsvFormat()
            sep = "\t" if suffix.startswith(".tsv") else fmt.delimiter
            compression = "gzip" if suffix.endswith(".gz") else None
            data.to_csv(tmp, index=False, sep=sep, decimal=fmt.decimal, compression=compression)
    return path
