"""Tiny synthetic interaction data built in code, shared per session: every user walks through the
catalogue in order (item i is followed by item i+1), so a sequence model can learn the next item."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from distillrank.data.interactions import Interactions

torch.set_num_threads(1)  # tiny models: one thread is fastest, and fair to a shared machine


def synthetic_frame(n_users: int = 40, n_items: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start = int(rng.integers(n_items))
        length = int(rng.integers(12, 20))
        for t in range(length):
            rows.append(
                (f"u{u}", f"i{(start + t) % n_items}", float(rng.integers(1, 6)), 1000.0 * u + 10.0 * t)
            )
    df = pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # file order is not time order


@pytest.fixture(scope="session")
def synthetic() -> Interactions:
    return Interactions(synthetic_frame(), source="synthetic")


@pytest.fixture(scope="session")
def larger_synthetic() -> Interactions:
    """300 users, 200 items: batches large enough for the kernels that run on several threads."""
    return Interactions(synthetic_frame(n_users=300, n_items=200, seed=3), source="synthetic-300")


@pytest.fixture(scope="session")
def synthetic_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recsys") / "tiny.tsv"
    df = synthetic_frame()
    df[["user", "item", "rating", "timestamp"]].to_csv(path, sep="\t", index=False)
    return path
