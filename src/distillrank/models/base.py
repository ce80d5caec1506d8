"""Interfaces shared by every ranker: a scorer for inference and a trainable list scorer for training.

A model only produces scores; losses (:mod:`distillrank.losses`) are pure functions on those scores, and
one trainer (:mod:`distillrank.training`) drives every model. Two protocols:

* :class:`Scorer` — inference: ``predict(pairs)`` scores (query, document) pairs; ``rank(query, docs,
  top_k)`` orders documents (sentence-transformers' CrossEncoder interface, which users know);
  ``save(path)``/``load(path)`` round-trip through a folder.
* :class:`ListScorer` — training: ``list_scores(queries, docs)`` maps ``B`` queries, each with ``L``
  candidate documents, to a ``[B, L]`` score tensor with gradients (the shape every loss takes).
  Models with separate query and document towers also implement :class:`DualEncoder`, which the
  trainer uses for in-batch (full-product) losses.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class Scorer(Protocol):
    """Anything that scores (query, document) pairs."""

    def predict(
        self, pairs: Sequence[tuple[str, str]], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """One relevance score per pair, higher is more relevant, ``float32 [n_pairs]``."""
        ...

    def rank(self, query: str, docs: Sequence[str], top_k: int | None = None) -> list[dict[str, Any]]:
        """``[{"corpus_id": i, "score": s}, ...]`` best first (``i`` indexes ``docs``)."""
        ...

    def save(self, path: str | Path) -> None: ...

    @classmethod
    def load(cls, path: str | Path) -> Self: ...


@runtime_checkable
class ListScorer(Protocol):
    """A trainable model: scores of each query's candidate list, with gradients."""

    def list_scores(self, queries: Sequence[str], docs: Sequence[Sequence[str]]) -> torch.Tensor:
        """``[B, L]`` scores for ``B`` queries with ``L`` documents each (all lists the same length;
        the trainer pads short lists with empty strings and masks them)."""
        ...

    def parameters(self) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...


@runtime_checkable
class DualEncoder(Protocol):
    """Separate query and document embeddings whose similarity is the score (bi-encoders, DSSM)."""

    def encode_queries(self, queries: Sequence[str]) -> torch.Tensor:
        """``[B, D]`` query embeddings (with gradients in training mode)."""
        ...

    def encode_docs(self, docs: Sequence[str]) -> torch.Tensor:
        """``[N, D]`` document embeddings."""
        ...

    def similarity(self, q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` scores of every query against every document (the full-product matrix)."""
        ...


def rank_by_scores(scores: np.ndarray, top_k: int | None) -> list[dict[str, Any]]:
    """The ``rank`` output for precomputed scores: best first, ties by original position."""
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive integer (or None for all); got {top_k!r}")
    order = np.argsort(-scores, kind="stable")
    if top_k is not None:
        order = order[:top_k]
    return [{"corpus_id": int(i), "score": float(scores[i])} for i in order]
