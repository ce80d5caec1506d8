"""Shared fixtures: tests that need the real datasets use ``shared_data`` and fail (never skip) without it."""

from __future__ import annotations

import os

# No model hub is reachable here: make Hugging Face libraries fail fast instead of retrying the network.
# Set before anything imports huggingface_hub, which reads it at import time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$DISTILLRANK_DATA``, else ``<repo>/../shared/data``."""
    return Path(os.environ.get("DISTILLRANK_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not (path / "README.md").exists() and not (path / "beir").exists():
        pytest.fail(
            f"the shared datasets are missing at {path}: set DISTILLRANK_DATA to the folder that holds "
            "beir/, classic/, ltr/, recsys/ and clicks/",
            pytrace=False,
        )
    return path
