"""One file per split in a folder: finding the files by name and the checks, shared by the readers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from distillrank.errors import DataFormatError


def single_file_per_split(folder: Path, found: dict[str, list[Path]]) -> dict[str, Path]:
    """``split -> file``, or a :class:`DataFormatError` naming the split that matched several files."""
    for split, paths in found.items():
        if len(paths) > 1:
            names = ", ".join(p.name for p in paths)
            raise DataFormatError(
                folder,
                None,
                f"more than one file for split {split!r}: {names} (one file per split is read: pass a "
                "folder holding the files of one data set, e.g. Yahoo's set1.* without set2.*)",
            )
    return {split: paths[0] for split, paths in found.items()}


def files_by_split(folder: Path, split_of: Callable[[str], str | None]) -> dict[str, Path]:
    """``split -> file`` for the files directly in ``folder`` (in name order) that ``split_of`` gives a
    split by their name; ``{}`` when there is none.

    Raises:
        DataFormatError: several files for one split (:func:`single_file_per_split`).
    """
    found: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and (split := split_of(p.name)):
            found.setdefault(split, []).append(p)
    return single_file_per_split(folder, found)
