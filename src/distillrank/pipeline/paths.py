"""Serving paths: the full retrieve+rank work one query costs, for every model of the job.

A path takes one query text and returns its ranking, doing everything a server would do online:

* :class:`BM25Path` — BM25 top-``k``;
* :class:`RerankPath` — BM25 top-``k``, then a scorer re-ranks the top ``depth`` (the cross-encoder
  teacher, the fusion teacher, LightGBM over features, the DSSM); the rest keeps BM25's order below;
* :class:`DensePath` — a query tower encodes the query, an exact inner-product index returns the top
  ``k`` (the document vectors were computed offline);
* :class:`DenseRerankPath` — BM25 top-``k``, its top ``depth`` re-ordered by a query tower's vector
  against the documents' (a bi-encoder when only BM25's candidates are embedded);
* :class:`SparsePath` — a SPLADE query tower encodes the query, the inverted index of the documents'
  sparse vectors (computed offline) returns the top ``k``.

:func:`measure_path` times ``n`` test queries one at a time (after a warm-up), giving the latency p50/p99,
queries/s and documents scored per second, the ``cost`` block of ``metrics.json``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Protocol

import numpy as np

from distillrank.data.run import break_ties
from distillrank.evaluation.cost import measure
from distillrank.retrieval.bm25 import BM25Retriever

__all__ = ["BM25Path", "DensePath", "DenseRerankPath", "Path", "RerankPath", "SparsePath", "measure_path"]

Ranking = list[tuple[str, float]]


class Path(Protocol):
    """``search(query) -> [(docno, score), ...]`` best first; ``docs_scored`` per query."""

    docs_scored: int

    def search(self, query: str) -> Ranking: ...


class BM25Path:
    def __init__(self, bm25: BM25Retriever, k: int) -> None:
        self.bm25, self.k = bm25, k
        self.docs_scored = len(bm25)

    def search(self, query: str) -> Ranking:
        run = self.bm25.search({"q": query}, k=self.k)
        return run.ranked("q") if "q" in run else []


class RerankPath:
    """BM25 top-``k``; ``scorer(query, [(docno, bm25 score), ...]) -> scores`` re-ranks the top ``depth``."""

    def __init__(
        self,
        bm25: BM25Retriever,
        scorer: Callable[[str, Ranking], np.ndarray],
        *,
        k: int,
        depth: int,
    ) -> None:
        self.bm25, self.scorer, self.k, self.depth = bm25, scorer, k, depth
        self.docs_scored = depth

    def search(self, query: str) -> Ranking:
        first = BM25Path(self.bm25, self.k).search(query)
        return self._rerank(first, lambda head: self.scorer(query, head))

    def _rerank(self, first: Ranking, score: Callable[[Ranking], np.ndarray]) -> Ranking:
        """``first`` with its top ``depth`` re-ordered by ``score(top)``."""
        head = first[: self.depth]
        if not head:
            return first
        return rerank_head(first, [d for d, _ in head], np.asarray(score(head), dtype=np.float64))


def rerank_head(first: Ranking, head: list[str], scores: np.ndarray) -> Ranking:
    """``head`` ordered by ``scores`` (ties by first-stage order), then the rest of ``first`` below it.

    Tied scores get a small bonus by first-stage position (less than half the smallest gap between
    distinct scores), so the order survives tools that break ties otherwise (trec_eval: by docno).
    """
    bonus = break_ties(np.asarray(scores, dtype=np.float64))
    order = np.argsort(-bonus, kind="stable")
    values = bonus[order]
    top = [(head[i], float(v)) for i, v in zip(order, values, strict=True)]
    floor = float(values.min()) if len(values) else 0.0
    rest = first[len(head) :]
    return top + [(d, floor - 1.0 - i) for i, (d, _) in enumerate(rest)]


class DensePath:
    """``encode([query]) -> [1, D]``, then the ``k`` best rows of ``doc_vectors`` by inner product."""

    def __init__(
        self,
        encode: Callable[[list[str]], np.ndarray],
        doc_vectors: np.ndarray,
        docnos: Sequence[str],
        k: int,
    ) -> None:
        import faiss

        self.encode, self.docnos, self.k = encode, list(docnos), k
        self.index = faiss.IndexFlatIP(doc_vectors.shape[1])
        self.index.add(np.ascontiguousarray(doc_vectors, dtype=np.float32))
        self.docs_scored = len(self.docnos)

    def search_many(self, queries: Sequence[str]) -> list[Ranking]:
        q = np.ascontiguousarray(self.encode(list(queries)), dtype=np.float32)
        scores, rows = self.index.search(q, min(self.k, len(self.docnos)))
        return [
            [(self.docnos[r], float(s)) for r, s in zip(rr, ss, strict=True) if r >= 0]
            for rr, ss in zip(rows, scores, strict=True)
        ]

    def search(self, query: str) -> Ranking:
        return self.search_many([query])[0]


class DenseRerankPath(RerankPath):
    """BM25 top-``k``; its top ``depth`` re-ordered by the inner product of the query's vector
    (``encode([query]) -> [1, D]``) with fixed document vectors: a bi-encoder over BM25's candidates, for
    a corpus of which only the candidates are embedded (``dense.documents``). ``search_many`` encodes
    its queries in one batch."""

    def __init__(
        self,
        bm25: BM25Retriever,
        encode: Callable[[list[str]], np.ndarray],
        doc_vectors: np.ndarray,
        docnos: Sequence[str],
        *,
        k: int,
        depth: int,
    ) -> None:
        super().__init__(bm25, self._score_query, k=k, depth=depth)
        self.encode, self.doc_vectors = encode, doc_vectors
        self.row = {d: i for i, d in enumerate(docnos)}

    def _score_query(self, query: str, head: Ranking) -> np.ndarray:
        return self._scores(np.asarray(self.encode([query]))[0], head)

    def _scores(self, vector: np.ndarray, head: Ranking) -> np.ndarray:
        missing = [d for d, _ in head if d not in self.row]
        if missing:
            raise KeyError(f"documents {missing[:3]} of BM25's top {self.depth} have no dense vector")
        return self.doc_vectors[[self.row[d] for d, _ in head]] @ vector

    def search_many(self, queries: Sequence[str]) -> list[Ranking]:
        first_run = self.bm25.search({str(i): q for i, q in enumerate(queries)}, k=self.k)
        vectors = np.asarray(self.encode(list(queries)))
        out = []
        for i, vector in enumerate(vectors):
            first = first_run.ranked(str(i)) if str(i) in first_run else []
            out.append(self._rerank(first, partial(self._scores, vector)))
        return out


class SparsePath:
    """``model.encode([query])`` (a sparse ``[1, V]`` vector), then the top ``k`` of the inverted index of
    ``model``'s fixed document vectors (a
    :class:`~distillrank.models.sparse_query_encoder.SparseQueryEncoder`)."""

    def __init__(self, model: Any, k: int) -> None:
        self.model, self.k = model, k
        self.retriever = model.retriever()
        self.docs_scored = len(self.retriever)

    def search_many(self, queries: Sequence[str]) -> list[Ranking]:
        qids = [str(i) for i in range(len(queries))]
        run = self.retriever.search_vectors(self.model.encode(list(queries)), qids, self.k)
        return [run.ranked(q) if q in run else [] for q in qids]

    def search(self, query: str) -> Ranking:
        return self.search_many([query])[0]


def measure_path(
    path: Path, queries: Sequence[str], *, params: int | None, warmup: int = 2
) -> dict[str, Any]:
    """Time ``path.search`` on each query alone; the ``cost`` block of a model in ``metrics.json``."""
    _, report = measure(
        path.search, list(queries), n_items=lambda _: path.docs_scored, warmup=min(warmup, len(queries))
    )
    qps = report.n_queries / report.seconds if report.seconds > 0 else float("nan")
    return {
        "params": params,
        "docs_per_s": round(report.items_per_s, 1),
        "queries_per_s": round(qps, 2),
        "latency_p50_ms": round(report.latency_p50_ms or float("nan"), 3),
        "latency_p99_ms": round(report.latency_p99_ms or float("nan"), 3),
        "latency_mean_ms": round(report.latency_mean_ms or float("nan"), 3),
        "docs_scored_per_query": path.docs_scored,
        "timed_queries": report.n_queries,
        **_machine_load(),
    }


def _machine_load() -> dict[str, Any]:
    """The conditions of a timing: the 1-minute load average right after it and the machine's cores (a
    load above the cores means other work shared them, and the timing is slower than the model)."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # not on this platform
        return {}
    return {"load_avg_1m": round(load, 2), "cores": os.cpu_count()}
