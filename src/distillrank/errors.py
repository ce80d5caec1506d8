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
