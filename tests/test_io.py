"""File helpers: decompression, encodings, truncated archives, atomic writes' permissions."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import stat
import zipfile
from pathlib import Path

import pytest

from distillrank.errors import DataFormatError, DataWarning
from distillrank.io import atomic_write, is_parquet, open_text

_TEXT = "user,item,timestamp\n" + "".join(f"u{i},i{i % 7},{1000 + i}\n" for i in range(5000))


def _read(path: Path) -> str:
    with open_text(path) as f:
        return f.read()


def test_latin1_bytes_keep_ids_apart_and_warn_once_naming_the_file(tmp_path: Path) -> None:
    f = tmp_path / "l1.csv"
    f.write_bytes("user,item\nrenè,a\nrenà,b\nrené,c\n".encode("latin-1"))
    with pytest.warns(DataWarning, match=r"l1\.csv: not UTF-8 \(first in the line 'ren\\xe8,a'\)") as caught:
        text = _read(f)
    assert text.splitlines()[1:] == ["renè,a", "renà,b", "rené,c"]  # three users, not one
    assert len([w for w in caught if issubclass(w.category, DataWarning)]) == 1
    (tmp_path / "w.csv").write_bytes(b"a\x80")
    assert _cp1252(tmp_path / "w.csv") == "a€"  # Windows-1252, where Latin-1 has a control character


def _cp1252(path: Path) -> str:
    with pytest.warns(DataWarning):
        return _read(path)


def test_peeking_readers_do_not_warn(tmp_path: Path) -> None:
    import warnings

    f = tmp_path / "l1.csv"
    f.write_bytes("user,item\nren\xe8,a\n".encode("latin-1"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with open_text(f, warn=False) as h:
            assert h.read().endswith("renè,a\n")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-8-sig"])
def test_byte_order_marks_choose_the_encoding(tmp_path: Path, encoding: str) -> None:
    f = tmp_path / "u.csv"
    f.write_text("user,item\nx,ÿ\n", encoding=encoding)
    assert _read(f) == "user,item\nx,ÿ\n"


@pytest.mark.parametrize(
    ("name", "compress", "kind"),
    [
        ("t.csv.gz", gzip.compress, "gzip"),
        ("t.csv.bz2", bz2.compress, "bzip2"),
        ("t.csv.xz", lzma.compress, "xz"),
    ],
)
def test_compressed_files_read_and_a_truncated_one_is_named(
    tmp_path: Path, name: str, compress, kind: str
) -> None:  # type: ignore[no-untyped-def]
    full = compress(os.urandom(60_000).hex().encode())
    whole = tmp_path / ("whole-" + name)
    whole.write_bytes(compress(_TEXT.encode()))
    assert _read(whole) == _TEXT
    cut = tmp_path / name
    cut.write_bytes(full[: len(full) // 2])
    with pytest.raises(
        DataFormatError, match=rf"{name}: the {kind} file ends early \(a truncated download\?\)"
    ):
        _read(cut)
    with pytest.raises(DataFormatError, match=rf"{name}: the {kind} file ends early"), open_text(cut) as f:
        for _ in f:
            pass


def test_corrupt_gzip_is_named(tmp_path: Path) -> None:
    f = tmp_path / "c.gz"
    f.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4)
    with pytest.raises(DataFormatError, match=r"c\.gz: corrupt gzip data"):
        _read(f)


def test_a_one_file_zip_is_read_and_several_files_are_refused(tmp_path: Path) -> None:
    one = tmp_path / "r.csv.zip"
    with zipfile.ZipFile(one, "w") as z:
        z.writestr("ratings.csv", _TEXT)
    assert _read(one) == _TEXT
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as z:
        z.writestr("a.csv", "x")
        z.writestr("b.csv", "y")
    with pytest.raises(
        DataFormatError, match=r"two\.zip: a zip archive of 2 files \(a\.csv, b\.csv\): unzip it"
    ):
        _read(two)


def test_is_parquet_reads_the_magic_bytes_not_the_name(tmp_path: Path) -> None:
    import pandas as pd

    f = tmp_path / "data.parq"
    pd.DataFrame({"a": [1]}).to_parquet(f)
    text = tmp_path / "fake.parquet"
    text.write_text("a,b\n")
    assert is_parquet(f) and not is_parquet(text) and not is_parquet(tmp_path / "missing")


def test_atomic_write_gives_the_permissions_open_would(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "report.md") as f:
            f.write("x")
        assert stat.S_IMODE((tmp_path / "report.md").stat().st_mode) == 0o644
        os.umask(0o077)
        with atomic_write(tmp_path / "private.md") as f:
            f.write("x")
        assert stat.S_IMODE((tmp_path / "private.md").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_atomic_write_writes_through_a_symlink_and_to_standard_output(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "target.trec").write_text("old\n")
    (tmp_path / "link.trec").symlink_to(tmp_path / "target.trec")
    with atomic_write(tmp_path / "link.trec") as f:
        f.write("new\n")
    assert (tmp_path / "link.trec").is_symlink() and (tmp_path / "target.trec").read_text() == "new\n"
    for name in ("-", "/dev/stdout"):
        with atomic_write(name) as f:
            f.write(f"run via {name}\n")
    assert capsys.readouterr().out == "run via -\nrun via /dev/stdout\n"
