"""An asymmetric bi-encoder: a trainable (possibly shallow) query tower against a fixed document index.

At serving time a dense retriever runs only the **query** tower online; documents are embedded once,
offline. So the latency of the retrieve+rank path is the query tower's, and a student that keeps the
teacher bi-encoder's document embeddings and trains (or shrinks) only the query side keeps the index and
cuts the online cost. Training is cheap too: each step encodes short queries only, and the documents'
vectors are rows of a table.

``score(q, d) = cos(f_θ(q), e_d) / τ`` with ``e_d`` the fixed, L2-normalised document embedding and
``f_θ`` the query tower (mean pooling, L2-normalised), ``τ`` learned. This is query-side fine-tuning of a
dual encoder (Lee et al. 2021, *Learning Dense Representations of Phrases at Scale*, §4.3) and the
asymmetric students of Wang et al. 2023 (*Query Encoder Distillation via Embedding Alignment is a
Strong Baseline Method to Boost Dense Retriever Online Efficiency*), whose alignment step
(:func:`align_query_tower`: ``min_θ ||f_θ(x) - f_teacher(x)||²`` over unlabelled texts) initialises a
shallow tower before ranking losses fine-tune it.

It implements :class:`~distillrank.models.base.ListScorer` and
:class:`~distillrank.models.base.DualEncoder`, so the one :class:`~distillrank.training.Trainer` trains it
with any registered loss; ``encode`` feeds :class:`~distillrank.retrieval.dense.DenseRetriever`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
import torch.nn.functional as F

from distillrank.io import atomic_write
from distillrank.models._common import check_pairs, check_texts, list_width, read_folder_meta, text_rows
from distillrank.models.base import rank_by_scores
from distillrank.models.bi_encoder import BiEncoder

__all__ = ["QueryEncoder", "align_query_tower", "fit_alignment"]

_META = "query_encoder.json"
_TABLE = "doc_embeddings.npy"
_TOWER = "query_tower"


class QueryEncoder(torch.nn.Module):
    """A trainable query tower scoring against a fixed ``[N, D]`` table of document embeddings.

    Args:
        tower: the query tower (a :class:`BiEncoder` with cosine similarity; only its query side is used).
        doc_embeddings: ``[N, D]`` document vectors (normalised here), row ``i`` for ``docnos[i]``.
        docnos: document ids of the rows.
        doc_texts: the documents' texts (``title + " " + text``) by row; the trainer passes texts, so
            training needs them (a saved model reloads without them for search).
    """

    doc_table: torch.Tensor

    def __init__(
        self,
        tower: BiEncoder,
        doc_embeddings: np.ndarray | torch.Tensor,
        docnos: Sequence[str],
        doc_texts: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if tower.similarity_name != "cosine":
            raise ValueError("QueryEncoder needs a cosine tower (the document table is normalised)")
        table = torch.as_tensor(np.asarray(doc_embeddings, dtype=np.float32))
        if table.ndim != 2 or table.shape[0] != len(docnos):
            raise ValueError(f"doc_embeddings must be [{len(docnos)}, D]; got {tuple(table.shape)}")
        if table.shape[1] != tower.embedding_dim:
            raise ValueError(
                f"document vectors have {table.shape[1]} dimensions, the query tower {tower.embedding_dim}"
            )
        if doc_texts is not None and len(doc_texts) != len(docnos):
            raise ValueError(f"{len(doc_texts)} texts for {len(docnos)} documents")
        self.tower = tower
        self.register_buffer("doc_table", F.normalize(table, dim=-1))
        self.docnos = [str(d) for d in docnos]
        self._row_by_text = {t: i for i, t in enumerate(doc_texts)} if doc_texts is not None else {}

    @property
    def device(self) -> torch.device:
        return self.tower.device

    @property
    def embedding_dim(self) -> int:
        return self.tower.embedding_dim

    @property
    def temperature(self) -> float:
        return self.tower.temperature

    def _rows(self, docs: Sequence[str]) -> torch.Tensor:
        # padding ("") gets row 0: scored, then masked by the trainer
        rows = text_rows(self._row_by_text, docs, "QueryEncoder", padding=0)
        return torch.as_tensor(rows, device=self.doc_table.device)

    # -- DualEncoder / ListScorer ---------------------------------------------------------------------
    def encode_queries(self, queries: Sequence[str]) -> torch.Tensor:
        """``[B, D]`` normalised query embeddings, with gradients."""
        return self.tower.encode_queries(queries)

    def encode_docs(self, docs: Sequence[str]) -> torch.Tensor:
        """``[N, D]`` rows of the fixed table (no gradients)."""
        return self.doc_table[self._rows(docs)]

    def similarity(self, q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        return self.tower.similarity(q, d)

    def list_scores(self, queries: Sequence[str], docs: Sequence[Sequence[str]]) -> torch.Tensor:
        """``[B, L]`` scores ``cos(q, e_d) / τ`` of each query against its documents."""
        width = list_width(queries, docs)
        if width is None:
            return torch.zeros(0, 0, device=self.device)
        q = self.encode_queries(queries)
        d = self.encode_docs([t for ds in docs for t in ds]).reshape(len(queries), width, -1)
        return self.tower._scale(torch.einsum("bd,bld->bl", q, d))

    # -- inference -------------------------------------------------------------------------------------
    def encode(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False, is_query: bool = True
    ) -> np.ndarray:
        """Query embeddings from the tower (``is_query=True``) or document rows of the table."""
        check_texts(texts)
        if is_query:
            return self.tower.encode(texts, batch_size, show_progress, is_query=True)
        with torch.no_grad():
            return self.encode_docs(texts).cpu().numpy()

    def predict(
        self, pairs: Sequence[tuple[str, str]], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        """``float32 [n]`` scores ``cos(q, e_d) / τ`` of (query, indexed document text) pairs."""
        check_pairs(pairs)
        if not pairs:
            return np.empty(0, dtype=np.float32)
        queries = sorted({q for q, _ in pairs})
        q_vec = dict(zip(queries, self.encode(queries, batch_size, show_progress), strict=True))
        d = self.encode([t for _, t in pairs], is_query=False)
        q = np.stack([q_vec[qt] for qt, _ in pairs])
        return (np.einsum("nd,nd->n", q, d) / self.temperature).astype(np.float32)

    def rank(self, query: str, docs: Sequence[str], top_k: int | None = None) -> list[dict[str, Any]]:
        """``[{"corpus_id": i, "score": s}, ...]`` best first (``i`` indexes ``docs``)."""
        check_texts(docs, "docs")
        return rank_by_scores(self.predict([(query, d) for d in docs]), top_k)

    def doc_vectors(self) -> np.ndarray:
        """The ``[N, D]`` document table (in :attr:`docnos` order), for a dense index."""
        return self.doc_table.cpu().numpy()

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Parameters of the query tower (the table is data, not parameters)."""
        return self.tower.num_parameters(trainable_only)

    # -- persistence -----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """``path/query_tower/`` (a bi-encoder folder), ``doc_embeddings.npy`` and ``query_encoder.json``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.tower.save(path / _TOWER)
        with atomic_write(path / _TABLE, "wb") as f:
            np.save(f, self.doc_vectors())
        meta: dict[str, Any] = {"kind": "query_encoder", "format_version": 1, "docnos": self.docnos}
        with atomic_write(path / _META) as f:
            json.dump(meta, f)

    @classmethod
    def load(cls, path: str | Path, doc_texts: Sequence[str] | None = None) -> Self:
        """Open a folder written by :meth:`save` (``doc_texts`` by row, to train it further)."""
        path = Path(path)
        meta = read_folder_meta(path, _META, "QueryEncoder")
        tower = BiEncoder.load(path / _TOWER)
        return cls(tower, np.load(path / _TABLE), meta["docnos"], doc_texts)


def align_query_tower(
    student: BiEncoder,
    target: np.ndarray,
    texts: Sequence[str],
    *,
    epochs: int = 1,
    batch_size: int = 32,
    lr: float = 1e-4,
    seed: int = 0,
) -> list[float]:
    """Embedding alignment (Wang et al. 2023): train ``student``'s query tower so that its normalised
    embedding of ``texts[i]`` matches ``target[i]`` (the teacher tower's), ``min ||f(x) - t||²``.

    Returns the mean loss of each epoch.
    """
    if len(texts) != len(target):
        raise ValueError(f"{len(texts)} texts but {len(target)} target vectors")
    goal = F.normalize(torch.as_tensor(np.asarray(target, dtype=np.float32)), dim=-1)
    params = [p for n, p in student.named_parameters() if p.requires_grad and "log_temperature" not in n]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)

    def clip() -> None:
        torch.nn.utils.clip_grad_norm_(params, 1.0)

    def loss(idx: list[int]) -> torch.Tensor:
        emb = student.encode_queries([texts[i] for i in idx])
        return ((emb - goal[idx].to(emb.device)) ** 2).sum(dim=-1).mean()

    return fit_alignment(
        student,
        optimizer,
        loss,
        list(range(len(texts))),
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        clip=clip,
    )


def fit_alignment(
    module: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch_loss: Callable[[list[int]], torch.Tensor],
    rows: Sequence[int],
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    clip: Callable[[], Any] | None = None,
) -> list[float]:
    """The training loop of embedding alignment, shared by :func:`align_query_tower` and
    :func:`~distillrank.models.static_encoder.distil_static_encoder`: each epoch visits ``rows`` in a
    seeded random order, in batches of ``batch_size``; ``batch_loss(batch rows)`` is minimised (``clip``
    runs between backward and step). ``module`` is in training mode meanwhile. Returns each epoch's mean
    loss over ``rows``."""
    gen = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    module.train(True)
    try:
        for _ in range(epochs):
            order = [rows[i] for i in torch.randperm(len(rows), generator=gen).tolist()]
            total = 0.0
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                loss = batch_loss(idx)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if clip is not None:
                    clip()
                optimizer.step()
                total += float(loss.detach()) * len(idx)
            losses.append(total / max(len(rows), 1))
    finally:
        module.train(False)
    return losses
