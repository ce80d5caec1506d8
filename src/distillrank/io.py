"""File helpers shared by every reader and writer: atomic writes and transparent decompression."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Write to a temporary file beside ``path`` and rename it over ``path`` on success.

    A crash mid-write leaves the old file (or none) in place, never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        text = "b" not in mode
        with os.fdopen(fd, mode, encoding=encoding if text else None, newline="\n" if text else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_versioned_json(path: Path, fmt: str, version: int, *, what: str, noun: str) -> dict[str, Any]:
    """Read a saved component's metadata file and check its ``format``/``format_version``.

    Raises:
        FileNotFoundError: ``"<folder>: no <what> here (<file> is missing)"``.
        DataFormatError: the file belongs to another format or version.
    """
    from distillrank.errors import DataFormatError

    if not path.exists():
        raise FileNotFoundError(f"{path.parent}: no {what} here ({path.name} is missing)")
    with open(path, encoding="utf-8") as f:
        meta: dict[str, Any] = json.load(f)
    if meta.get("format") != fmt or meta.get("format_version") != version:
        raise DataFormatError(
            path,
            None,
            f"not a {fmt} v{version} {noun} (format {meta.get('format')!r} v{meta.get('format_version')!r})",
        )
    return meta


COMPRESSION_MAGIC: dict[bytes, str] = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x1f\x9d": "compress (.Z)",
    b"(\xb5/\xfd": "zstd",
    b"7z\xbc\xaf'\x1c": "7-Zip",
}
"""Leading bytes of compressed files -> the compression; :func:`open_text` reads gzip, bzip2 and xz."""


def require_file(path: Path) -> None:
    """Raise :class:`~distillrank.errors.DatasetNotFoundError` unless ``path`` is a file: ``"<path>: no
    such file"``, or ``"<path>: a folder, not a file"`` for a folder given where a file is needed."""
    if not path.is_file():
        from distillrank.errors import DatasetNotFoundError

        raise DatasetNotFoundError(f"{path}: {'a folder, not a file' if path.is_dir() else 'no such file'}")


def compression(path: str | Path) -> str | None:
    """The compression of a file by its leading bytes (:data:`COMPRESSION_MAGIC`), ``None`` when none (or
    when the file cannot be read)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return None
    return next((name for magic, name in COMPRESSION_MAGIC.items() if head.startswith(magic)), None)


def open_text(path: str | Path) -> IO[str]:
    """Open a text file for reading, decompressing gzip, bzip2 and xz transparently.

    The compression is told by the file's first bytes, not its name (``.gz``, or the TREC disks'
    ``fr940104.0z`` recompressed with gzip). UTF-8, bad bytes replaced; a leading byte order mark (as
    Windows editors write) is dropped.
    """
    path = Path(path)
    kind = compression(path) if path.is_file() else None
    if kind == "gzip" or (kind is None and path.suffix == ".gz"):  # (a missing .gz file: gzip's error)
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", errors="replace")
    if kind == "bzip2":
        return io.TextIOWrapper(bz2.open(path, "rb"), encoding="utf-8-sig", errors="replace")
    if kind == "xz":
        return io.TextIOWrapper(lzma.open(path, "rb"), encoding="utf-8-sig", errors="replace")
    return open(path, encoding="utf-8-sig", errors="replace")


def first_line(path: str | Path) -> str:
    """The first non-blank line of a text file (compressed ones too, :func:`open_text`); ``""`` for none."""
    with open_text(path) as f:
        return next((line for line in f if line.strip()), "")
