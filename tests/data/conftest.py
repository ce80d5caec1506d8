"""Fixtures for the data-format tests: tiny files written in ``tmp_path``."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

WriteFile = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path) -> WriteFile:
    """``write(name, text)`` creates ``tmp_path / name`` (gzip-compressed when the name ends in ``.gz``)."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".gz"):
            path.write_bytes(gzip.compress(text.encode("utf-8")))
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return _write
