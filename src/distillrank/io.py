"""File helpers shared by every reader and writer: atomic writes and transparent decompression."""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import itertools
import json
import lzma
import math
import os
import sys
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast


def _umask() -> int:
    """The process's umask (``os.umask`` can only be read by setting it: set it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Write to a temporary file beside ``path`` and rename it over ``path`` on success.

    A crash mid-write leaves the old file (or none) in place, never a truncated one. The file gets the
    permissions a plain ``open`` would give it (``0666`` less the umask). A symbolic link is written
    through (its target is replaced, the link kept); a stream (``/dev/stdout``, a FIFO) is written
    directly, and so is ``-`` (standard output).
    """
    text = "b" not in mode
    std = {"-": sys.stdout, "/dev/stdout": sys.stdout, "/dev/stderr": sys.stderr}.get(str(path))
    if std is not None:
        yield std if text else std.buffer
        std.flush()
        return
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_file() and not path.is_dir()):
        target = path.resolve()
        if str(target).startswith("/proc/") or (
            target.exists() and not target.is_file() and not target.is_dir()
        ):
            with open(path, mode, encoding=encoding if text else None) as stream:  # a device or a pipe
                yield stream
            return
        path = target
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:  # named by the file asked for, not the temporary one beside it
        raise OSError(e.errno, f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, mode, encoding=encoding if text else None, newline="\n" if text else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 -> what open() would have made
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
    b"PK\x03\x04": "zip",
}
"""Leading bytes of compressed files -> the compression; :func:`open_text` reads gzip, bzip2, xz and a
one-file zip."""


def json_safe(obj: Any) -> Any:
    """``obj`` with every float that is not finite (a NaN estimate or p-value, say) as ``None``: JSON has
    no NaN, and ``json.dump`` would write one anyway."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


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


_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
"""Byte order marks of UTF-16/32 text (Excel's "Unicode text"); UTF-8's is dropped by ``utf-8-sig``."""


def _as_cp1252(e: UnicodeError) -> tuple[str, int]:
    """Codec error handler: the bytes that are not UTF-8 read as Windows-1252 (Latin-1 where cp1252 leaves
    a byte undefined). Replacing them with U+FFFD would merge ids that differ only there
    (``renè``/``renà``); Latin-1 and cp1252 are what older datasets and spreadsheet exports are in."""
    assert isinstance(e, UnicodeDecodeError)
    return "".join(_cp1252_char(b) for b in bytes(e.object[e.start : e.end])), e.end


_SILENT = "distillrank-cp1252"
codecs.register_error(_SILENT, _as_cp1252)
_warning_handlers = itertools.count()


def _cp1252_fallback(path: Path, warn: bool) -> str:
    """The name of a codec error handler that reads bytes which are not UTF-8 by :func:`_as_cp1252`: the
    shared silent one, or (``warn``) one registered for ``path`` that also warns once, naming it and
    quoting the line of the first such bytes."""
    if not warn:
        return _SILENT
    warned = False

    def handler(e: UnicodeError) -> tuple[str, int]:
        nonlocal warned
        assert isinstance(e, UnicodeDecodeError)
        if not warned:
            warned = True
            from distillrank.errors import DataWarning

            chunk = bytes(e.object)
            start = max(chunk.rfind(b"\n", 0, e.start) + 1, e.start - 40)
            stop = min(len(chunk), e.end + 40, *(i for i in [chunk.find(b"\n", e.end)] if i >= 0))
            around = chunk[start:stop].decode("utf-8", "backslashreplace").strip()
            warnings.warn(
                f"{path}: not UTF-8 (first in the line '{around}'); bytes that are not UTF-8 are read "
                "as Windows-1252 (Latin-1): re-save the file as UTF-8 if that is wrong",
                DataWarning,
                stacklevel=2,
            )
        return _as_cp1252(e)

    name = f"distillrank-cp1252-{next(_warning_handlers)}"  # (codecs keeps handlers by name only)
    codecs.register_error(name, handler)
    return name


def _cp1252_char(b: int) -> str:
    try:
        return bytes([b]).decode("cp1252")
    except UnicodeDecodeError:
        return bytes([b]).decode("latin-1")


class _Guarded(io.BufferedIOBase):
    """A decompressing stream whose read errors (a truncated download: ``EOFError``; corrupt data:
    ``zlib.error``, ``lzma.LZMAError``, ``OSError``) become a :class:`~distillrank.errors.DataFormatError`
    naming the file."""

    def __init__(self, raw: Any, path: Path, kind: str) -> None:
        super().__init__()
        self._raw, self._path, self._kind = raw, path, kind

    def _guard(self, fn: Any, *args: Any) -> Any:
        from distillrank.errors import DataFormatError

        try:
            return fn(*args)
        except EOFError:
            raise DataFormatError(
                self._path, None, f"the {self._kind} file ends early (a truncated download?)"
            ) from None
        except (OSError, zlib.error, lzma.LZMAError) as e:
            raise DataFormatError(self._path, None, f"corrupt {self._kind} data ({e})") from None

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self._guard(self._raw.read, -1 if size is None else size)

    def read1(self, size: int = -1) -> bytes:
        return self._guard(self._raw.read1, size)

    def readinto(self, b: Any) -> int:
        return self._guard(self._raw.readinto, b)

    def close(self) -> None:
        self._raw.close()
        super().close()


def _zip_member(path: Path) -> IO[bytes]:
    """The one file of a zip archive (``ratings.csv.zip``), opened; an error for several or none."""
    import zipfile

    from distillrank.errors import DataFormatError

    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise DataFormatError(path, None, f"not a readable zip archive ({e})") from None
    files = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
    if len(files) != 1:
        names = ", ".join(i.filename for i in files[:5]) + (", ..." if len(files) > 5 else "")
        archive.close()
        raise DataFormatError(
            path,
            None,
            f"a zip archive of {len(files)} files ({names or 'none'}): unzip it and pass the file to read",
        )
    return archive.open(files[0])


def is_parquet(path: str | Path) -> bool:
    """Whether ``path`` is a Parquet file, by its leading magic bytes ``PAR1`` (any name: ``.parq``,
    ``part-00000-....snappy.parquet``, none)."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PAR1"
    except OSError:
        return False


def _open_binary(path: Path, kind: str | None) -> IO[bytes]:
    """``path`` opened for reading bytes, decompressed (``kind``: :func:`compression`'s name)."""
    if kind == "gzip":
        return cast(IO[bytes], _Guarded(gzip.open(path, "rb"), path, "gzip"))
    if kind == "bzip2":
        return cast(IO[bytes], _Guarded(bz2.open(path, "rb"), path, "bzip2"))
    if kind == "xz":
        return cast(IO[bytes], _Guarded(lzma.open(path, "rb"), path, "xz"))
    if kind == "zip":
        return cast(IO[bytes], _Guarded(_zip_member(path), path, "zip"))
    return open(path, "rb")


def open_text(path: str | Path, *, warn: bool = True) -> IO[str]:
    """Open a text file for reading, decompressing gzip, bzip2, xz and a one-file zip transparently.

    The compression is told by the file's first bytes, not its name (``.gz``, or the TREC disks'
    ``fr940104.0z`` recompressed with gzip); a truncated or corrupt compressed file raises
    :class:`~distillrank.errors.DataFormatError` naming it. Text is UTF-8 (a leading byte order mark, as
    Windows editors write, is dropped), or UTF-16/32 where the file starts with their byte order mark;
    bytes that are not UTF-8 are read as Windows-1252 (Latin-1), with a
    :class:`~distillrank.errors.DataWarning` naming the file unless ``warn`` is false (a reader peeking
    at the head).
    """
    path = Path(path)
    kind = compression(path) if path.is_file() else None
    if kind is None and path.suffix == ".gz":  # (a missing .gz file: gzip's error)
        kind = "gzip"
    raw = _open_binary(path, kind)
    head = raw.peek(4) if isinstance(raw, io.BufferedReader) else b""
    encoding = next((enc for bom, enc in _BOMS if head.startswith(bom)), None)
    if encoding is not None:
        return io.TextIOWrapper(raw, encoding=encoding)
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors=_cp1252_fallback(path, warn))


def first_line(path: str | Path) -> str:
    """The first non-blank line of a text file (compressed ones too, :func:`open_text`); ``""`` for none."""
    with open_text(path, warn=False) as f:
        return next((line for line in f if line.strip()), "")
