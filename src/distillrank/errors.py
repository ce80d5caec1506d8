"""Errors and warnings raised by distillrank.

Every error about input data names the file, the line (1-based) or record, and what is wrong, in the form
``path:line: problem`` so that editors and terminals can jump to it.
"""

from __future__ import annotations

from pathlib import Path


class DistillrankError(Exception):
    """Base class of every error distillrank raises on purpose."""


class DataFormatError(DistillrankError, ValueError):
    """Malformed or inconsistent input data.

    Args:
        path: the file (or a description of the in-memory source) the problem is in.
        line: 1-based line number, or ``None`` when the problem is not tied to one line.
        problem: what is wrong, in words a user can act on.
    """

    def __init__(self, path: str | Path | None, line: int | None, problem: str) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.problem = problem
        super().__init__(format_location(path, line, problem))


class DatasetNotFoundError(DistillrankError, FileNotFoundError):
    """A dataset name or path that cannot be resolved; the message says how to supply it."""


class DataWarning(UserWarning):
    """Recoverable problems in input data (for example qrels naming unknown documents)."""


def format_location(path: str | Path | None, line: int | None, problem: str) -> str:
    """Format ``path:line: problem`` (parts that are unknown are left out)."""
    where = str(path) if path is not None else "<memory>"
    if line is not None:
        where = f"{where}:{line}"
    return f"{where}: {problem}"


def row_place(row: int, line: int | None) -> str:
    """Where row ``row`` (0-based) of a table stands in its file, in words: ``line N`` where the row has a
    line of the file (text), ``record N`` (counted from 1) where it has none (Parquet, in-memory tables)."""
    return f"line {line}" if line is not None else f"record {row + 1}"


def row_error(path: str | Path | None, row: int, line: int | None, problem: str) -> DataFormatError:
    """The error for row ``row`` (0-based) of a table read from ``path``: ``path:line: problem`` where the
    row has a ``line`` of the file, ``path: record N: problem`` where it has none."""
    if line is not None:
        return DataFormatError(path, line, problem)
    return DataFormatError(path, None, f"{row_place(row, None)}: {problem}")
