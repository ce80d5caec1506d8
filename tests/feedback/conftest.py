"""Shared fixtures for the click tests: synthetic result pages, true click-model parameters, and a small
synthetic collection with graded relevance and two logging rankers. Built in code, once per session."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from distillrank.data.clicklog import ClickLog
from distillrank.data.run import Run
from distillrank.feedback.simulation import rankings_to_log

N_QUERIES, N_DOCS, DEPTH = 10, 10, 10


def ndcg_at_5(pred: np.ndarray, rel: np.ndarray) -> float:
    """Mean nDCG@5 of ``[queries, docs]`` scores against binary relevance (queries with a relevant one)."""
    top = np.argsort(-pred, axis=1)[:, :5]
    disc = 1 / np.log2(np.arange(2, 7))
    dcg = (np.take_along_axis(rel, top, axis=1) * disc).sum(1)
    idcg = (np.sort(rel, axis=1)[:, ::-1][:, :5] * disc).sum(1)
    return float(np.mean(dcg[idcg > 0] / idcg[idcg > 0]))


@pytest.fixture(scope="session")
def pages() -> ClickLog:
    """20,000 result pages: 10 queries x 10 documents, every page a fresh random order of the 10."""
    rng = np.random.default_rng(0)
    n = 20_000
    q = rng.integers(0, N_QUERIES, n)
    order = np.argsort(rng.random((n, N_DOCS)), axis=1)[:, :DEPTH]
    return rankings_to_log([f"q{i}" for i in q], [[f"d{j}" for j in row] for row in order])


@pytest.fixture(scope="session")
def true_attractiveness() -> pd.Series:
    rng = np.random.default_rng(1)
    idx = pd.MultiIndex.from_product([[f"q{i}" for i in range(N_QUERIES)], [f"d{j}" for j in range(N_DOCS)]])
    return pd.Series(rng.uniform(0.05, 0.95, len(idx)), index=idx)


@pytest.fixture(scope="session")
def true_satisfaction(true_attractiveness: pd.Series) -> pd.Series:
    rng = np.random.default_rng(2)
    return pd.Series(rng.uniform(0.1, 0.9, len(true_attractiveness)), index=true_attractiveness.index)


@pytest.fixture(scope="session")
def tiny_log() -> ClickLog:
    """Two pages of one query: (a clicked, b skipped) and (b skipped, a clicked)."""
    return ClickLog(
        pd.DataFrame(
            {
                "session_id": [0, 0, 1, 1],
                "qid": ["q"] * 4,
                "position": [1, 2, 1, 2],
                "docno": ["a", "b", "b", "a"],
                "click": [1, 0, 0, 1],
                "propensity": [np.nan] * 4,
            }
        )
    )


@pytest.fixture(scope="session")
def collection() -> tuple[Run, Run, dict[str, dict[str, int]]]:
    """``(bm25_like, perturbed, qrels)``: 200 queries x 20 candidates with grades 0..4; the logging
    run's scores follow the grades with noise, the perturbed run adds more noise (a second logger)."""
    rng = np.random.default_rng(3)
    run: dict[str, dict[str, float]] = {}
    pert: dict[str, dict[str, float]] = {}
    qrels: dict[str, dict[str, int]] = {}
    for i in range(200):
        q = f"q{i}"
        grades = rng.choice(5, size=20, p=[0.55, 0.2, 0.12, 0.08, 0.05])
        scores = grades + rng.normal(0, 1.5, 20)
        docs = [f"{q}d{j}" for j in range(20)]
        run[q] = dict(zip(docs, scores.tolist(), strict=True))
        pert[q] = dict(zip(docs, (scores + rng.normal(0, 1.5, 20)).tolist(), strict=True))
        qrels[q] = {d: int(g) for d, g in zip(docs, grades, strict=True) if g > 0}
    return Run(run, name="logger"), Run(pert, name="perturbed"), qrels
