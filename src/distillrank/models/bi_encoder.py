"""A bi-encoder (dual encoder): queries and documents embedded apart, scored by a dot product.

``score(q, d) = sim(E_q(q), E_d(d))`` with ``E(x) = pool(BERT(x))`` (Reimers & Gurevych, 2019,
*Sentence-BERT*, arXiv:1908.10084; Karpukhin et al., 2020, *Dense Passage Retrieval*, arXiv:2004.04906):

* towers: ``shared=True`` — one encoder for both (Sentence-BERT); ``shared=False`` — a query tower and a
  document tower, both initialised from the same checkpoint (DPR);
* ``pooling``: ``"mean"`` (mask-aware mean of the token vectors) or ``"cls"`` (the ``[CLS]`` vector);
* ``similarity``: ``"dot"`` — ``q · d``; ``"cosine"`` — ``(q · d) / (|q| |d|) / τ`` with a learnable
  temperature ``τ`` (initial 0.05), stored as ``log τ`` so that it stays positive under gradient
  descent (as in CLIP's logit scale). Embeddings are L2-normalised for cosine, so a dense index only
  ever computes dot products; ``1/τ`` rescales scores without changing any ranking.
* ``num_layers``: keep the first ``N`` transformer layers — a *shallow* student.

It implements :class:`~distillrank.models.base.Scorer`, :class:`~distillrank.models.base.ListScorer`
and :class:`~distillrank.models.base.DualEncoder`; :meth:`BiEncoder.encode` gives numpy embeddings for
indexing. ``predict``, ``list_scores`` and ``similarity`` return the same score (``1/τ``-scaled cosine or
dot product).

Saved folders: with one tower, a sentence-transformers folder (``modules.json``, the model and tokenizer
at the root, ``1_Pooling/``, ``2_Normalize/`` for cosine) that ``SentenceTransformer(path)`` opens and
that gives the same embeddings as :meth:`encode`; with two towers, ``query_encoder/`` and
``doc_encoder/``, each such a folder. ``distillrank.json`` at the root keeps what sentence-transformers
has no field for (temperature, tower layout).

Example::

    bi = BiEncoder()  # all-MiniLM-L6-v2, mean pooling, cosine
    emb = bi.encode(["BM25 is a ranking function ...", "Cats purr."])  # float32 [2, 384]
    bi.rank("what is bm25", ["BM25 is a ranking function ...", "Cats purr."])
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import torch
import torch.nn.functional as F

from distillrank.errors import DistillrankError
from distillrank.io import atomic_write
from distillrank.models import _hf
from distillrank.models._common import check_pairs, check_texts, inference, list_width
from distillrank.models.base import rank_by_scores
from distillrank.models.device import resolve_device

CONFIG_NAME = "distillrank.json"
QUERY_DIR = "query_encoder"
DOC_DIR = "doc_encoder"
POOLINGS = ("mean", "cls")
SIMILARITIES = ("dot", "cosine")

Pooling = Literal["mean", "cls"]
Similarity = Literal["dot", "cosine"]


def pool(token_embeddings: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """``[n, T, D]`` token vectors -> ``[n, D]``: mask-aware mean, or the first (``[CLS]``) vector."""
    if pooling == "cls":
        return token_embeddings[:, 0]
    mask = attention_mask.unsqueeze(-1).to(token_embeddings.dtype)
    return (token_embeddings * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class BiEncoder(torch.nn.Module):
    """Query and document encoders whose (scaled) dot product is the relevance score.

    Args:
        model_name_or_path: a hub name or folder (a plain encoder, a sentence-transformers folder, or a
            folder saved by :meth:`save`); ``None`` for all-MiniLM-L6-v2.
        shared: one tower for queries and documents (``True``) or two towers (``False``).
        pooling: ``"mean"`` or ``"cls"``.
        similarity: ``"dot"`` or ``"cosine"`` (normalised embeddings, scores divided by ``temperature``).
        temperature: initial ``τ`` for cosine (ignored for dot).
        learn_temperature: train ``log τ`` with the model (cosine only).
        max_length: texts are truncated to this many tokens.
        num_layers: keep only the first ``num_layers`` transformer layers (a shallow student).
        device: where the model runs.
    """

    def __init__(
        self,
        model_name_or_path: str | Path | None = None,
        *,
        shared: bool = True,
        pooling: Pooling = "mean",
        similarity: Similarity = "cosine",
        temperature: float = 0.05,
        learn_temperature: bool = True,
        max_length: int = 256,
        num_layers: int | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of 'mean', 'cls'; got {pooling!r}")
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of 'dot', 'cosine'; got {similarity!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if max_length < 2:
            raise ValueError(f"max_length must be at least 2, got {max_length}")
        target = resolve_device(device)  # fail before loading any weights
        _hf.torch_threads()
        self.name_or_path = str(model_name_or_path or _hf.default_encoder_path())
        self.shared = shared
        self.pooling: str = pooling
        self.similarity_name: str = similarity
        self.max_length = max_length
        root = Path(self.name_or_path)
        split = (root / QUERY_DIR).is_dir() and (root / DOC_DIR).is_dir()
        if split and shared:
            raise DistillrankError(f"{root} holds separate query and document towers: use shared=False")
        self.tokenizer = _hf.load_tokenizer(root / QUERY_DIR if split else self.name_or_path)
        self.query_encoder = _hf.load_encoder(root / QUERY_DIR if split else self.name_or_path)
        if num_layers is not None:
            _hf.truncate_layers(self.query_encoder, num_layers)
        if shared:
            self.doc_encoder = self.query_encoder  # one module, registered under both names
        elif split:
            self.doc_encoder = _hf.load_encoder(root / DOC_DIR)
            if num_layers is not None:
                _hf.truncate_layers(self.doc_encoder, num_layers)
        else:
            self.doc_encoder = copy.deepcopy(self.query_encoder)
        self.log_temperature: torch.nn.Parameter | None = None
        if similarity == "cosine":
            self.log_temperature = torch.nn.Parameter(
                torch.tensor(math.log(temperature)), requires_grad=learn_temperature
            )
        self.to(target)
        self.eval()  # like ``from_pretrained``: inference mode until a trainer calls ``train()``

    @property
    def device(self) -> torch.device:
        """Where the model's weights are."""
        return next(self.query_encoder.parameters()).device

    @property
    def temperature(self) -> float:
        """``τ`` (cosine), or 1.0 (dot)."""
        return 1.0 if self.log_temperature is None else float(self.log_temperature.detach().exp())

    @property
    def embedding_dim(self) -> int:
        return int(self.query_encoder.config.hidden_size)

    # -- embeddings --------------------------------------------------------------------------------
    def _embed(self, features: dict[str, torch.Tensor], is_query: bool) -> torch.Tensor:
        tower = self.query_encoder if is_query else self.doc_encoder
        tokens = tower(**features).last_hidden_state
        emb = pool(tokens, features["attention_mask"], self.pooling)
        if self.similarity_name == "cosine":
            emb = F.normalize(emb, p=2, dim=-1)
        return emb

    def _encode_tensor(self, texts: Sequence[str], is_query: bool) -> torch.Tensor:
        check_texts(texts, "queries" if is_query else "docs")  # a str would be one text per character
        if not texts:
            return torch.zeros(0, self.embedding_dim, device=self.device)
        feats = _hf.tokenize(self.tokenizer, texts, max_length=self.max_length, device=self.device)
        return self._embed(feats, is_query)

    def encode_queries(self, queries: Sequence[str]) -> torch.Tensor:
        """``[B, D]`` query embeddings (L2-normalised for cosine), with gradients unless disabled."""
        return self._encode_tensor(queries, is_query=True)

    def encode_docs(self, docs: Sequence[str]) -> torch.Tensor:
        """``[N, D]`` document embeddings (L2-normalised for cosine)."""
        return self._encode_tensor(docs, is_query=False)

    def _scale(self, scores: torch.Tensor) -> torch.Tensor:
        if self.log_temperature is None:
            return scores
        return scores * torch.exp(-self.log_temperature)

    def similarity(self, q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` scores of every query against every document: ``q @ d.T`` (``/ τ`` for cosine)."""
        return self._scale(q @ d.T)

    def list_scores(self, queries: Sequence[str], docs: Sequence[Sequence[str]]) -> torch.Tensor:
        """``[B, L]`` scores of each query against its own ``L`` documents, with gradients."""
        width = list_width(queries, docs)
        if width is None:
            return torch.zeros(0, 0, device=self.device)
        q = self.encode_queries(queries)  # [B, D]
        d = self.encode_docs([t for ds in docs for t in ds]).reshape(len(queries), width, -1)  # [B, L, D]
        return self._scale(torch.einsum("bd,bld->bl", q, d))

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        show_progress: bool = False,
        is_query: bool = False,
        *,
        sort_by_length: bool = True,
    ) -> np.ndarray:
        """``float32 [n, D]`` embeddings for indexing and search (L2-normalised for cosine).

        Texts are batched by token length (little padding) under ``torch.inference_mode()``; the output
        is in input order. ``is_query`` picks the query tower (only matters with separate towers).
        """
        check_texts(texts)
        n = len(texts)
        out = np.empty((n, self.embedding_dim), dtype=np.float32)
        if n == 0:
            return out
        with inference(self):
            batches = _hf.length_bucketed_batches(
                self.tokenizer,
                texts,
                max_length=self.max_length,
                batch_size=batch_size,
                device=self.device,
                sort=sort_by_length,
            )
            total = -(-n // batch_size)
            for positions, feats in _hf.progress(batches, total, show_progress, "Encoding"):
                out[positions] = self._embed(feats, is_query).float().cpu().numpy()
        return out

    def predict(
        self, pairs: Sequence[tuple[str, str]], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """``float32 [n]`` scores of ``(query, document)`` pairs; each distinct text is encoded once."""
        check_pairs(pairs)
        if not pairs:
            return np.empty(0, dtype=np.float32)
        q_index: dict[str, int] = {}
        d_index: dict[str, int] = {}
        qi = np.fromiter((q_index.setdefault(q, len(q_index)) for q, _ in pairs), dtype=np.int64)
        di = np.fromiter((d_index.setdefault(d, len(d_index)) for _, d in pairs), dtype=np.int64)
        q = self.encode(list(q_index), batch_size, show_progress, is_query=True)
        d = self.encode(list(d_index), batch_size, show_progress, is_query=False)
        scores = np.einsum("nd,nd->n", q[qi], d[di]) / self.temperature
        return scores.astype(np.float32)

    def rank(
        self, query: str, docs: Sequence[str], top_k: int | None = None, batch_size: int = 32
    ) -> list[dict[str, Any]]:
        """``[{"corpus_id": i, "score": s}, ...]`` best first (``i`` indexes ``docs``)."""
        check_texts(docs, "docs")
        return rank_by_scores(self.predict([(query, d) for d in docs], batch_size=batch_size), top_k)

    # -- persistence -------------------------------------------------------------------------------
    def _save_tower(self, encoder: Any, path: Path) -> None:
        """A sentence-transformers folder (the classic layout, which every version reads)."""
        path.mkdir(parents=True, exist_ok=True)
        encoder.save_pretrained(path)
        tokenizer = copy.copy(self.tokenizer)
        tokenizer.model_max_length = self.max_length
        tokenizer.save_pretrained(path)
        modules = [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        ]
        if self.similarity_name == "cosine":
            modules.append(
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_Normalize",
                    "type": "sentence_transformers.models.Normalize",
                }
            )
            (path / "2_Normalize").mkdir(exist_ok=True)
        pooling = {
            "word_embedding_dimension": self.embedding_dim,
            "pooling_mode_cls_token": self.pooling == "cls",
            "pooling_mode_mean_tokens": self.pooling == "mean",
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        }
        (path / "1_Pooling").mkdir(exist_ok=True)
        _write_json(path / "1_Pooling" / "config.json", pooling)
        _write_json(path / "modules.json", modules)
        _write_json(
            path / "sentence_bert_config.json", {"max_seq_length": self.max_length, "do_lower_case": False}
        )
        _write_json(path / "config_sentence_transformers.json", {"similarity_fn_name": self.similarity_name})

    def save(self, path: str | Path) -> None:
        """Write the model to a folder (see the module docstring for the layout)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self.shared:
            self._save_tower(self.query_encoder, path)
        else:
            self._save_tower(self.query_encoder, path / QUERY_DIR)
            self._save_tower(self.doc_encoder, path / DOC_DIR)
        meta = {
            "kind": "bi_encoder",
            "shared": self.shared,
            "pooling": self.pooling,
            "similarity": self.similarity_name,
            "log_temperature": None if self.log_temperature is None else float(self.log_temperature.detach()),
            "learn_temperature": bool(
                self.log_temperature is not None and self.log_temperature.requires_grad
            ),
            "max_length": self.max_length,
            "num_layers": int(self.query_encoder.config.num_hidden_layers),
        }
        _write_json(path / CONFIG_NAME, meta)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> Self:
        """Open a folder written by :meth:`save`, or a sentence-transformers folder (its pooling,
        normalisation and ``max_seq_length`` are read from it)."""
        path = Path(path)
        if not path.is_dir():
            raise DistillrankError(f"no model folder at {path}")
        if (path / CONFIG_NAME).exists():
            meta = json.loads((path / CONFIG_NAME).read_text(encoding="utf-8"))
            if meta.get("kind") != "bi_encoder":
                raise DistillrankError(f"{path} holds a {meta.get('kind')}, not a bi-encoder")
        else:
            meta = _sentence_transformers_meta(path)
        log_t = meta.get("log_temperature")
        model = cls(
            path,
            shared=bool(meta.get("shared", True)),
            pooling=meta.get("pooling", "mean"),
            similarity=meta.get("similarity", "cosine"),
            temperature=math.exp(log_t) if log_t is not None else 0.05,
            learn_temperature=bool(meta.get("learn_temperature", True)),
            max_length=int(meta.get("max_length", 256)),
            device=device,
        )
        if log_t is not None and model.log_temperature is not None:
            with torch.no_grad():
                model.log_temperature.fill_(log_t)  # exactly the saved value
        return model

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Parameters of both towers (a shared tower counted once) and the temperature."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def __repr__(self) -> str:
        towers = "shared" if self.shared else "separate"
        return (
            f"BiEncoder({self.name_or_path!r}, {towers}, pooling={self.pooling!r}, "
            f"similarity={self.similarity_name!r}, layers={self.query_encoder.config.num_hidden_layers})"
        )


def _write_json(path: Path, payload: Any) -> None:
    with atomic_write(path) as f:
        f.write(json.dumps(payload, indent=2) + "\n")


def _sentence_transformers_meta(path: Path) -> dict[str, Any]:
    """Pooling, similarity and max length of a sentence-transformers folder (defaults where absent)."""
    meta: dict[str, Any] = {"shared": True}
    pooling_cfg = path / "1_Pooling" / "config.json"
    if pooling_cfg.exists():
        cfg = json.loads(pooling_cfg.read_text(encoding="utf-8"))
        mode = cfg.get("pooling_mode") or ("cls" if cfg.get("pooling_mode_cls_token") else "mean")
        if mode not in POOLINGS:
            raise DistillrankError(f"{pooling_cfg}: pooling {mode!r} is not supported (use mean or cls)")
        meta["pooling"] = mode
    modules_cfg = path / "modules.json"
    if modules_cfg.exists():
        modules = json.loads(modules_cfg.read_text(encoding="utf-8"))
        normalised = any(m.get("type", "").endswith("Normalize") for m in modules)
        meta["similarity"] = "cosine" if normalised else "dot"
    st_cfg = path / "sentence_bert_config.json"
    if st_cfg.exists():
        max_len = json.loads(st_cfg.read_text(encoding="utf-8")).get("max_seq_length")
        if max_len:
            meta["max_length"] = int(max_len)
    return meta
