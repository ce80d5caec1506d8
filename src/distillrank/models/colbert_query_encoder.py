r"""A ColBERT student with a frozen document encoder: trainable query tower and projection, fixed states.

ColBERT (Khattab and Zaharia, SIGIR 2020) scores a query against a document by MaxSim over projected,
L2-normalised token embeddings,

.. math::  s(q, d) = \sum_{i \in q} \max_{j \in d} \hat E_q[i] \cdot \hat E_d[j], \qquad
           \hat E = \frac{W h}{\lVert W h \rVert}

where ``h`` are the encoder's last hidden states and ``W`` the ``dim x hidden`` projection. Re-encoding
every document at each training step is what makes ColBERT expensive to train on a CPU. Here the document
encoder is **frozen**: each document's token states ``h_d`` are computed once (:func:`document_token_states`,
kept in float16) and only the query encoder and the shared projection ``W`` learn — the document side still
adapts through ``W``. At serving time the projected document tokens are computed once more
(:meth:`ColBERTQueryEncoder.index`) and a query costs one pass of the query encoder plus MaxSim over its
candidates (re-ranking, ColBERT's own first use).

``W`` starts from the top ``dim`` right singular vectors of a sample of document token states
(:func:`pca_projection`, uncentred, so dot products between token states are kept as well as ``dim``
directions can), so the untrained student's MaxSim is already a similarity of the encoder's token states
rather than of a random projection.

Example:
    >>> from distillrank.models.colbert import ColBERT
    >>> colbert = ColBERT(query_augmentation=False, query_marker=None, doc_marker=None)  # doctest: +SKIP
    >>> docs = ["Cats eat mice.", "Stock prices fell."]
    >>> states, lengths = document_token_states(colbert, docs)  # doctest: +SKIP
    >>> student = ColBERTQueryEncoder(colbert, states, lengths, ["d1", "d2"], docs)  # doctest: +SKIP
    >>> student.list_scores(["what do cats eat"], [docs]).shape  # doctest: +SKIP
    torch.Size([1, 2])
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
import torch.nn.functional as F

from distillrank.io import atomic_write
from distillrank.models._common import (
    Shared,
    check_batch_size,
    check_pairs,
    check_texts,
    inference,
    list_width,
    progress,
    read_folder_meta,
    text_rows,
)
from distillrank.models.base import rank_by_scores
from distillrank.models.colbert import ColBERT, maxsim

__all__ = ["ColBERTQueryEncoder", "document_token_states", "pca_projection"]

_META = "colbert_query_encoder.json"
_STATES = "doc_token_states.npz"
_TOWER = "query_tower"


def document_token_states(
    colbert: ColBERT, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The encoder's last hidden states of each document's MaxSim tokens (no padding, no masked
    punctuation), before the projection: ``float16 [total tokens, hidden]`` packed in document order, and
    ``int64 [n]`` token counts."""
    check_texts(texts)
    check_batch_size(batch_size)
    hidden = int(colbert.encoder.config.hidden_size)
    parts: list[np.ndarray] = [np.zeros((0, hidden), dtype=np.float16)] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    with inference(colbert):
        for a in progress(range(0, len(texts), batch_size), show_progress, "ColBERT token states"):
            idx = order[a : a + batch_size]
            ids, attention = colbert._tokenize([texts[i] for i in idx], is_query=False)
            h = colbert.encoder(input_ids=ids, attention_mask=attention).last_hidden_state
            mask = attention > 0
            if colbert._skiplist.numel():
                mask = mask & ~torch.isin(ids, colbert._skiplist)
            h_np, m_np = h.float().cpu().numpy(), mask.cpu().numpy()
            for row, i in enumerate(idx):
                parts[i] = h_np[row][m_np[row]].astype(np.float16)
    lengths = np.array([len(p) for p in parts], dtype=np.int64)
    states = np.concatenate(parts) if parts else np.zeros((0, hidden), dtype=np.float16)
    return states, lengths


def pca_projection(states: np.ndarray, dim: int, *, max_rows: int = 100_000, seed: int = 0) -> np.ndarray:
    """``float32 [dim, hidden]``: the top ``dim`` right singular vectors of (a seeded sample of at most
    ``max_rows`` of) ``states``, uncentred, as rows — the projection that keeps the token states' dot
    products best in ``dim`` dimensions."""
    x = np.asarray(states, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"states must be a non-empty [n, hidden] array; got shape {x.shape}")
    if not 1 <= dim <= x.shape[1]:
        raise ValueError(f"dim must be in 1..{x.shape[1]} (the hidden size); got {dim}")
    if len(x) > max_rows:
        x = x[np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))]
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return np.ascontiguousarray(vt[:dim], dtype=np.float32)


class ColBERTQueryEncoder(torch.nn.Module):
    """A :class:`~distillrank.models.colbert.ColBERT` whose document side is fixed token states.

    Args:
        colbert: the query tower and projection (trained); build it with ``doc_marker=None`` when the
            states come from :func:`document_token_states` of the same model.
        states: ``[total tokens, hidden]`` document token states, packed in row order (float16 is kept).
        lengths: ``[n]`` token count of each document.
        docnos: document ids of the rows.
        doc_texts: the documents' texts by row; the trainer passes texts, so training needs them.
    """

    def __init__(
        self,
        colbert: ColBERT,
        states: np.ndarray,
        lengths: np.ndarray,
        docnos: Sequence[str],
        doc_texts: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        lengths = np.asarray(lengths, dtype=np.int64)
        hidden = int(colbert.encoder.config.hidden_size)
        if lengths.ndim != 1 or len(lengths) != len(docnos) or (lengths < 0).any():
            raise ValueError(f"lengths must be {len(docnos)} token counts >= 0 (one per document)")
        if states.ndim != 2 or states.shape[0] != int(lengths.sum()) or states.shape[1] != hidden:
            raise ValueError(
                f"states must be [{int(lengths.sum())}, {hidden}] (the lengths' total x the encoder's hidden "
                f"size); got {tuple(states.shape)}"
            )
        if doc_texts is not None and len(doc_texts) != len(docnos):
            raise ValueError(f"{len(doc_texts)} texts for {len(docnos)} documents")
        self.colbert = colbert
        self._states = Shared(torch.from_numpy(np.ascontiguousarray(states)))
        self.lengths = lengths
        self.offsets = np.concatenate([[0], np.cumsum(lengths)])
        self.docnos = [str(d) for d in docnos]
        self._row_by_text = {t: i for i, t in enumerate(doc_texts)} if doc_texts is not None else {}
        self._index: list[np.ndarray] | None = None

    @property
    def device(self) -> torch.device:
        return self.colbert.device

    @property
    def states(self) -> torch.Tensor:
        """The packed ``[total tokens, hidden]`` document token states (shared by copies of the model)."""
        return self._states.value

    def _rows(self, docs: Sequence[str]) -> np.ndarray:
        # padding ("") gets row -1: no tokens, scores 0, masked by the trainer
        return text_rows(self._row_by_text, docs, "ColBERTQueryEncoder", padding=-1)

    def _doc_tokens(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected, normalised token embeddings ``[n, Lmax, dim]`` of ``rows`` and their mask."""
        counts = np.where(rows >= 0, self.lengths[np.maximum(rows, 0)], 0)
        width = max(int(counts.max()) if len(counts) else 0, 1)
        pos = np.arange(width)
        mask = pos[None, :] < counts[:, None]
        flat = np.where(mask, self.offsets[np.maximum(rows, 0)][:, None] + pos[None, :], 0)
        h = self.states[torch.from_numpy(flat)].to(self.device, torch.float32)
        d = F.normalize(self.colbert.projection(h), dim=-1)
        return d, torch.from_numpy(mask).to(self.device)

    # -- ListScorer ------------------------------------------------------------------------------------
    def list_scores(self, queries: Sequence[str], docs: Sequence[Sequence[str]]) -> torch.Tensor:
        """``[B, L]`` MaxSim scores of each query against its documents' fixed token states."""
        width = list_width(queries, docs)
        if width is None:
            return torch.zeros(0, 0, device=self.device)
        self._index = None  # the projection changes while training
        q, q_mask = self.colbert.encode_queries_tokens(queries)
        d, d_mask = self._doc_tokens(self._rows([t for ds in docs for t in ds]))
        b = len(queries)
        return maxsim(q, q_mask, d.view(b, width, *d.shape[1:]), d_mask.view(b, width, -1))

    # -- inference -------------------------------------------------------------------------------------
    def index(self, batch_size: int = 256) -> list[np.ndarray]:
        """Every document's projected, normalised token embeddings, ``float32 [n_tokens, dim]`` by row:
        the index a server keeps (computed once, dropped when training changes the projection)."""
        if self._index is None:
            out: list[np.ndarray] = []
            with inference(self):
                for a in range(0, len(self.docnos), batch_size):
                    rows = np.arange(a, min(a + batch_size, len(self.docnos)))
                    d, mask = self._doc_tokens(rows)
                    d_np, m_np = d.cpu().numpy(), mask.cpu().numpy()
                    out += [d_np[i][m_np[i]] for i in range(len(rows))]
            self._index = out
        return self._index

    def score_rows(self, query: str, rows: Sequence[int]) -> np.ndarray:
        """``float32`` MaxSim of ``query`` against the indexed documents ``rows`` (one query-tower pass)."""
        index = self.index()
        return self.colbert.score_precomputed(query, [index[r] for r in rows])

    def predict(
        self, pairs: Sequence[tuple[str, str]], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """``float32 [n]`` scores of (query, indexed document text) pairs."""
        check_pairs(pairs)
        rows = self._rows([d for _, d in pairs])
        out = np.zeros(len(pairs), dtype=np.float32)
        by_query: dict[str, list[int]] = {}
        for k, (q, _) in enumerate(pairs):
            by_query.setdefault(q, []).append(k)
        for q, ks in by_query.items():
            out[ks] = self.score_rows(q, [int(rows[k]) for k in ks])
        return out

    def rank(self, query: str, docs: Sequence[str], top_k: int | None = None) -> list[dict[str, Any]]:
        """``[{"corpus_id": i, "score": s}, ...]`` best first (``i`` indexes ``docs``)."""
        check_texts(docs, "docs")
        return rank_by_scores(self.predict([(query, d) for d in docs]), top_k)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Parameters of the query tower and projection (the token states are data, not parameters)."""
        return sum(p.numel() for p in self.colbert.parameters() if p.requires_grad or not trainable_only)

    # -- persistence -----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """``path/query_tower/`` (a ColBERT folder), ``doc_token_states.npz`` and the document ids."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.colbert.save(path / _TOWER)
        with atomic_write(path / _STATES, "wb") as f:
            np.savez(f, states=self.states.numpy(), lengths=self.lengths)
        with atomic_write(path / _META) as f:
            json.dump({"kind": "colbert_query_encoder", "format_version": 1, "docnos": self.docnos}, f)

    @classmethod
    def load(cls, path: str | Path, doc_texts: Sequence[str] | None = None) -> Self:
        """Open a folder written by :meth:`save` (``doc_texts`` by row, to train it further)."""
        path = Path(path)
        meta = read_folder_meta(path, _META, "ColBERTQueryEncoder")
        with np.load(path / _STATES) as z:
            states, lengths = z["states"], z["lengths"]
        return cls(ColBERT.load(path / _TOWER), states, lengths, meta["docnos"], doc_texts)
