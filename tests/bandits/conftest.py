"""Small seeded environments with known gaps, shared by the bandit tests."""

from __future__ import annotations

import pytest

from distillrank.bandits.environments import CascadeEnvironment, PositionBasedEnvironment


@pytest.fixture(scope="session")
def pbm_env() -> PositionBasedEnvironment:
    """8 items, 3 positions; the best slate is items 0, 1, 2 in that order (gap 0.3 at position 3)."""
    return PositionBasedEnvironment([0.9, 0.8, 0.6, 0.3, 0.2, 0.2, 0.1, 0.05], [1.0, 0.6, 0.3])


@pytest.fixture(scope="session")
def cascade_env() -> CascadeEnvironment:
    """8 items, 3 positions; the best slate holds items 0, 1, 2 (gap 0.2 between items 2 and 3)."""
    return CascadeEnvironment([0.5, 0.4, 0.3, 0.1, 0.05, 0.05, 0.02, 0.01], slate_size=3)
