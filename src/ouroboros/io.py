"""Reading tables from CSV or Parquet, and writing any output atomically.

A CSV file's dialect (delimiter, decimal mark) is sniffed on reading and
returned as a :class:`CsvFormat` by :func:`read_table_format`;
:func:`write_table` accepts it, so output is written the way the input was.

Every writer goes through :func:`atomic_path`: the bytes land in a temporary file
in the target folder, which is renamed onto the target only once complete, so a
crash never leaves a half-written file and an existing file is only ever replaced
by a complete one.

A table's lineage record (``frame.attrs["ouroboros.lineage"]``, see
:mod:`ouroboros.lineage`) travels with it: :func:`write_table` writes it as Parquet
key-value metadata or, for CSV, as the sidecar ``FILE.lineage.json``, and into the
lineage catalog (the run store's URL rules, or ``store=``), keyed by the table's content
hash, so that a copy of the file found elsewhere is recognised by its content alone;
:func:`read_table` puts the record back into ``attrs``.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import gzip
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ouroboros.errors import DataWarning, FileFormatError, ParameterError
from ouroboros.values import is_comma_decimal

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"
#: the ``DataFrame.attrs`` key, Parquet metadata key and sidecar content of a lineage record
LINEAGE_KEY = "ouroboros.lineage"
LINEAGE_SUFFIX = ".lineage.json"
#: what :func:`write_table` returns for a table's record: the record and how to keep it
LineageWrite = tuple[dict | None, Callable[[Any, Path], None] | None]
_lineage_writer: Callable[[pd.DataFrame], LineageWrite] | None = None


class AttrsRecord(dict):
    """A read-only JSON object kept in ``DataFrame.attrs``.

    pandas deep-copies ``attrs`` into every frame and column it derives; a read-only
    value can be shared instead, so a record costs nothing per operation.
    """

    def __deepcopy__(self, memo: dict) -> AttrsRecord:
        return self

    def __copy__(self) -> AttrsRecord:
        return self

    def _read_only(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a lineage record in attrs is read-only; attach a new record instead")

    __setitem__ = __delitem__ = _read_only  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _read_only  # type: ignore[assignment]

    def __reduce__(self):
        return (AttrsRecord, (copy.deepcopy(dict(self)),))


def lineage_sidecar(path: str | os.PathLike) -> Path:
    """The sidecar that holds a CSV file's lineage record: ``FILE.lineage.json``."""
    path = Path(path)
    return path.with_name(path.name + LINEAGE_SUFFIX)


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
            data = pd.read_parquet(path, **kwargs)
            metadata = _parquet_metadata(path)
        except Exception as exc:  # pyarrow raises several unrelated types
            raise FileFormatError(f"{str(path)!r} is not a readable Parquet file: {exc}") from exc
        return _restore_lineage(data, metadata.get(LINEAGE_KEY.encode()), path), None
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
    sidecar = lineage_sidecar(path)
    text = sidecar.read_bytes() if sidecar.is_file() else None
    return _restore_lineage(data, text, sidecar), CsvFormat(delimiter=delimiter, decimal=decimal)


def _parquet_metadata(path: Path) -> dict[bytes, bytes]:
    import pyarrow.parquet as pq

    return dict(pq.read_schema(path).metadata or {})


def _restore_lineage(data: pd.DataFrame, raw: bytes | None, source: Path) -> pd.DataFrame:
    """Put the lineage record found in ``raw`` (JSON bytes) into ``data.attrs``.

    Without one, a record that pandas kept in ``attrs`` (a Parquet file written by
    ``DataFrame.to_parquet``) stays. A damaged record is left out with a warning: the
    table itself is still good.
    """
    kept = data.attrs.pop(LINEAGE_KEY, None)
    if raw is None:
        if isinstance(kept, dict):
            data.attrs[LINEAGE_KEY] = AttrsRecord(kept)
        return data
    try:
        record = json.loads(raw)
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        warnings.warn(
            f"{str(source)!r}: the lineage record is damaged ({exc}) and was ignored; "
            "`ouro lineage` still finds the table in the catalog by its content",
            DataWarning,
            stacklevel=3,
        )
        return data
    data.attrs[LINEAGE_KEY] = AttrsRecord(record)
    return data


#: what ``to_csv`` writes for infinite numbers, whatever the decimal mark
_INFINITIES = ("inf", "-inf", "+inf")


def _read_decimal_commas(data: pd.DataFrame) -> str:
    """Turn decimal-comma text columns into numbers in place; the decimal mark found."""
    columns = [
        name
        for name in data.columns
        if is_comma_decimal(data[name].where(~data[name].isin(_INFINITIES)))
    ]
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
    data: pd.DataFrame,
    path: str | os.PathLike,
    csv_format: CsvFormat | None = None,
    *,
    store: Any = None,
) -> Path:
    """Write ``data`` as CSV or Parquet, chosen by the suffix, atomically.

    A CSV is written with ``csv_format``'s delimiter (a ``.tsv`` file always
    with tabs) and decimal mark; by default with commas and decimal points. A lineage
    record in ``data.attrs`` goes into the Parquet metadata or the CSV's sidecar
    (an old sidecar of a table written without one is removed) and into the catalog
    ``store``: ``None`` for the run store's URL rules (``$OUROBOROS_STORE``, else
    ``sqlite:///runs.db``), a URL or an open store, or ``False`` for none. The record
    written is the table's own: one edited after sampling gets a ``derived`` record.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise ParameterError(
            f"output {str(path)!r}: unknown suffix {suffix!r}; use .csv, .csv.gz or .parquet"
        )
    record, keep = _own_record(data)
    text = None if record is None else json.dumps(record, ensure_ascii=False)
    with atomic_path(path) as tmp:
        if suffix in PARQUET_SUFFIXES:
            _write_parquet(data, tmp, text)
        else:
            fmt = csv_format or CsvFormat()
            sep = "\t" if suffix.startswith(".tsv") else fmt.delimiter
            compression = "gzip" if suffix.endswith(".gz") else None
            data.to_csv(tmp, index=False, sep=sep, decimal=fmt.decimal, compression=compression)
    if suffix not in PARQUET_SUFFIXES:
        sidecar = lineage_sidecar(path)
        if text is not None:
            atomic_write_text(sidecar, text)
        elif sidecar.exists():
            sidecar.unlink()
    if keep is not None and store is not False:
        keep(store, path)
    return path


def register_lineage_writer(writer: Callable[[pd.DataFrame], LineageWrite] | None) -> None:
    """Set what :func:`write_table` does with a table that carries a lineage record.

    ``writer(data)`` returns the record to write (the table's own, as a dict) and a
    function ``keep(store, path)`` that puts it into the catalog ``store``.
    :mod:`ouroboros.lineage` registers it on import (this module knows nothing of lineage);
    without one, the record in ``attrs`` is written as it is, and kept in no catalog.
    """
    global _lineage_writer
    _lineage_writer = writer


def _own_record(data: pd.DataFrame) -> LineageWrite:
    found = data.attrs.get(LINEAGE_KEY)
    if found is None:
        return None, None
    if _lineage_writer is None:
        return dict(found), None
    return _lineage_writer(data)


def _write_parquet(data: pd.DataFrame, path: Path, lineage: str | None) -> None:
    if lineage is None:
        data.to_parquet(path, index=False)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(data, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    others = {k: v for k, v in data.attrs.items() if k != LINEAGE_KEY}
    if others:  # what pandas itself keeps of attrs, read back by read_parquet
        metadata[b"PANDAS_ATTRS"] = json.dumps(others, default=str).encode()
    metadata[LINEAGE_KEY.encode()] = lineage.encode("utf-8")
    pq.write_table(table.replace_schema_metadata(metadata), path)
