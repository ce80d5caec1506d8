"""First-stage retrieval: retrievers index a Corpus and answer queries with a Run."""

from distillrank.retrieval.base import Retriever
from distillrank.retrieval.bm25 import BM25_METHODS, BM25Config, BM25Retriever

RETRIEVERS: dict[str, type[Retriever]] = {"bm25": BM25Retriever}
"""Retrievers by name."""

__all__ = ["BM25_METHODS", "RETRIEVERS", "BM25Config", "BM25Retriever", "Retriever"]
