"""Checks shared by the readers that find one file per split in a folder."""

from __future__ import annotations

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
