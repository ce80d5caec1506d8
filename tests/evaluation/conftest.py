"""Fixtures of the evaluation tests: the shared data folder and seeded synthetic runs and qrels."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from distillrank.data.collection import Qrels
from distillrank.data.run import Run

REPO = Path(__file__).resolve().parents[2]


def data_root() -> Path:
    """``$DISTILLRANK_DATA``, or ``<repo>/../shared/data``."""
    return Path(os.environ.get("DISTILLRANK_DATA", REPO.parent / "shared" / "data"))


def require(path: Path) -> Path:
    """``path`` if it exists; otherwise fail (data tests must not silently skip)."""
    assert path.exists(), f"{path} is missing: set DISTILLRANK_DATA to the shared data folder"
    return path


def synthetic(
    seed: int,
    n_queries: int = 300,
    n_docs: int = 150,
    n_judged: int = 30,
    p_missing: float = 0.1,
    n_unjudged_queries: int = 5,
) -> tuple[Run, Qrels]:
    """A seeded run and graded qrels (labels 0-3) without tied scores.

    Each judged query has ``n_judged`` judged documents, some of them not retrieved; a fraction
    ``p_missing`` of the judged queries is absent from the run, a few run queries have no judgements,
    and some judged queries have no relevant document at all.
    """
    rng = np.random.default_rng(seed)
    pool = [f"D{i:05d}" for i in range(5000)]
    run: dict[str, dict[str, float]] = {}
    qrels: dict[str, dict[str, int]] = {}
    for i in range(n_queries):
        qid = f"q{i}"
        docs = rng.choice(len(pool), size=n_docs + n_judged, replace=False)
        retrieved = [pool[j] for j in docs[:n_docs]]
        # Judged: mostly retrieved documents, plus a few that the run misses.
        judged = retrieved[: n_judged - 5] + [pool[j] for j in docs[n_docs : n_docs + 5]]
        labels = rng.choice(4, size=n_judged, p=[0.55, 0.25, 0.12, 0.08])
        if i % 25 == 0:
            labels[:] = 0  # a judged query without relevant documents
        qrels[qid] = {d: int(r) for d, r in zip(judged, labels, strict=True)}
        if rng.random() >= p_missing:
            # Random scores nudged up by the label, so relevant documents often reach the top ranks.
            gain = np.array([qrels[qid].get(d, 0) for d in retrieved], dtype=np.float64)
            scores = rng.random(len(retrieved)) + 0.3 * gain
            run[qid] = {d: float(s) for d, s in zip(retrieved, scores, strict=True)}
    for i in range(n_unjudged_queries):
        run[f"unjudged{i}"] = {pool[j]: float(rng.random()) for j in rng.choice(len(pool), 20, replace=False)}
    for docs in run.values():
        assert len(set(docs.values())) == len(docs), "synthetic scores must not tie"
    return Run(run, name=f"synthetic{seed}"), Qrels(qrels)


@pytest.fixture(scope="session")
def synthetic_run_qrels() -> tuple[Run, Qrels]:
    return synthetic(seed=7)


@pytest.fixture(scope="session")
def make_synthetic():
    """The :func:`synthetic` factory (test modules cannot import conftest by name reliably)."""
    return synthetic


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; fails when it is missing."""
    return require(data_root())
