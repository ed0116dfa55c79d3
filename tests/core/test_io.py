import gzip
import os

import numpy as np
import pandas as pd
import pytest

from ouroboros.errors import FileFormatError, OuroborosError, ParameterError
from ouroboros.io import atomic_path, atomic_write_text, read_table, write_table


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
