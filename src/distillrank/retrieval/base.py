"""The interface every first-stage retriever follows.

A retriever indexes a :class:`~distillrank.data.collection.Corpus` once and answers batches of queries
with a :class:`~distillrank.data.run.Run` (``qid -> {docno: score}``), so that its output plugs straight
into evaluation, re-ranking and distillation. Indexes persist to a directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, Self, runtime_checkable

from distillrank.data.collection import Corpus, Queries
from distillrank.data.run import Run


@runtime_checkable
class Retriever(Protocol):
    """Index a corpus, then return the top ``k`` documents of every query.

    Implementations may add keyword-only options to ``search`` (threads, progress bars) as long as
    ``search(queries, k)`` works with their defaults.
    """

    def index(self, corpus: Corpus) -> None:
        """Build the index of ``corpus`` (replacing any previous one)."""
        ...

    def search(self, queries: Queries | Mapping[str, str], k: int = 100) -> Run:
        """Top-``k`` documents for each query (``qid -> text``); a query matching nothing maps to ``{}``."""
        ...

    def save(self, path: str | Path) -> None:
        """Write the index and its configuration to the directory ``path``."""
        ...

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read an index written by :meth:`save`."""
        ...
