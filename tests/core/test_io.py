import datetime as dt
import gzip
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ouroboros.errors import FileFormatError, OuroborosError, ParameterError
from ouroboros.io import (
    CsvFormat,
    atomic_path,
    atomic_write_text,
    read_table,
    read_table_format,
    write_table,
)


@pytest.fixture
def table():
    return pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, np.nan, 2.25]})


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_csv_delimiter_is_sniffed(tmp_path, table, sep):
    path = tmp_path / "t.csv"
    table.to_csv(path, sep=sep, index=False)
    pd.testing.assert_frame_equal(read_table(path), table, check_dtype=False)


def test_gzip_csv_and_parquet_round_trip(tmp_path, table):
    for name in ("t.csv.gz", "t.parquet"):
        write_table(table, tmp_path / name)
        back = read_table(tmp_path / name)
        pd.testing.assert_frame_equal(back, table, check_dtype=False)


def test_parquet_detected_by_content_not_suffix(tmp_path, table):
    table.to_parquet(tmp_path / "data.bin")
    assert read_table(tmp_path / "data.bin").shape == (3, 3)


def test_binary_file_is_rejected(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(FileFormatError, match="neither CSV nor Parquet"):
        read_table(path)
    with pytest.raises(OuroborosError):
        read_table(path)


def test_fake_parquet_and_empty_file(tmp_path):
    (tmp_path / "x.parquet").write_text("a,b\n1,2\n")
    with pytest.raises(FileFormatError, match="Parquet"):
        read_table(tmp_path / "x.parquet")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(FileFormatError, match="empty"):
        read_table(tmp_path / "empty.csv")


def test_missing_and_unreadable_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(FileFormatError, match="folder"):
        read_table(tmp_path)
    if os.geteuid() != 0:  # root reads everything
        path = tmp_path / "secret.csv"
        path.write_text("a\n1\n")
        path.chmod(0)
        with pytest.raises(PermissionError):
            read_table(path)


def test_damaged_gzip(tmp_path):
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n" * 1000)[:40])
    with pytest.raises(FileFormatError):
        read_table(path)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("precious")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_write_replaces_only_when_complete(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"


def test_output_in_missing_folder(tmp_path, table):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_table(table, tmp_path / "missing" / "out.csv")
    with pytest.raises(ParameterError, match="suffix"):
        write_table(table, tmp_path / "out.xlsx")


def test_failed_table_write_keeps_existing(tmp_path, table, monkeypatch):
    target = tmp_path / "out.parquet"
    write_table(table, target)
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        write_table(table.head(1), target)
    assert target.read_bytes() == before


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    target = tmp_path / "new.txt"
    atomic_write_text(target, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    target.chmod(0o640)
    atomic_write_text(target, "y")
    assert target.stat().st_mode & 0o777 == 0o640


# ---------------------------------------------------------------- CSV dialects
_DAYS = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2060, 12, 31))
_STAMPS = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2060, 12, 31))


@st.composite
def european_frames(draw):
    """Floats, integers, day-first date text (one day above 12) and plain words."""
    n = draw(st.integers(2, 25))
    floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
    prices = draw(st.lists(floats | st.none(), min_size=n, max_size=n))
    assume(any(p is not None for p in prices))
    stamps = draw(st.lists(_STAMPS, min_size=n - 1, max_size=n - 1))
    stamps.append(dt.datetime(2024, 1, 13, 8, 30))
    words = st.text(alphabet="abcxyz", min_size=1, max_size=6)
    return pd.DataFrame(
        {
            "price": pd.Series(prices, dtype="float64"),
            "count": draw(st.lists(st.integers(-(10**6), 10**6), min_size=n, max_size=n)),
            "when": [s.strftime("%d.%m.%Y %H:%M") for s in stamps],
            "name": draw(st.lists(words, min_size=n, max_size=n)),
        }
    )


@given(frame=european_frames(), delimiter=st.sampled_from([";", "\t", "|"]))
@settings(max_examples=40, deadline=None)
def test_decimal_comma_file_reads_back_equal(tmp_path_factory, frame, delimiter):
    path = tmp_path_factory.mktemp("csv") / "eu.csv"
    fmt = CsvFormat(delimiter=delimiter, decimal=",")
    write_table(frame, path, csv_format=fmt)
    text = path.read_text()
    assert delimiter in text.splitlines()[0]
    back, found = read_table_format(path)
    # the mark is only seen where some price is written with one (1e-05 has none)
    shown = any("," in line.split(delimiter)[0] for line in text.splitlines()[1:])
    assert found == (fmt if shown else CsvFormat(delimiter, "."))
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert back["price"].dtype == "float64"


def test_plain_csv_keeps_the_default_format(tmp_path, table):
    write_table(table, tmp_path / "t.csv")
    assert read_table_format(tmp_path / "t.csv")[1] == CsvFormat(",", ".")
    write_table(table, tmp_path / "t.parquet", csv_format=CsvFormat(";", ","))
    assert read_table_format(tmp_path / "t.parquet")[1] is None
    write_table(table, tmp_path / "t.tsv", csv_format=CsvFormat(";", ","))
    assert (tmp_path / "t.tsv").read_text().splitlines()[1] == "1\tx\t0,5"


@pytest.mark.parametrize(
    ("cells", "decimal"),
    [
        (["76,29", "-0,5", "12", ",5", "1,5e-07"], ","),
        (["76,29", "abc", "3"], "."),  # not every value is a number
        (["1,2,3", "4,5"], "."),  # lists, not numbers
        (["1.5", "2,5"], "."),  # mixed marks stay text
    ],
)
def test_decimal_comma_needs_every_value_to_match(tmp_path, cells, decimal):
    path = tmp_path / "t.csv"
    path.write_text("k;v\n" + "".join(f"{i};{c}\n" for i, c in enumerate(cells)))
    back, found = read_table_format(path)
    assert found == CsvFormat(";", decimal)
    assert pd.api.types.is_float_dtype(back["v"]) == (decimal == ",")
    if decimal == ",":
        assert back["v"].tolist() == [76.29, -0.5, 12.0, 0.5, 1.5e-07]


def test_comma_delimited_file_never_takes_decimal_commas(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('k,v\n1,"76,29"\n2,"1,5"\n')
    back, found = read_table_format(path)
    assert found == CsvFormat(",", ".") and back["v"].tolist() == ["76,29", "1,5"]


def test_csv_format_checks_and_serialises():
    fmt = CsvFormat(";", ",")
    assert CsvFormat.from_dict(fmt.to_dict()) == fmt
    assert CsvFormat.from_dict(None) is None
    with pytest.raises(ParameterError, match="different"):
        CsvFormat(",", ",")
    with pytest.raises(ParameterError, match="'delimiter' and 'decimal'"):
        CsvFormat.from_dict({"delimiter": ";"})
