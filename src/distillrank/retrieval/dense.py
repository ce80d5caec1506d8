"""Dense retrieval: embed documents once with any text encoder, search them with faiss.

The encoder is anything with ``encode(texts, batch_size=..., is_query=...) -> np.ndarray [n, dim]``
(:class:`~distillrank.models.dssm.DSSM`, :class:`~distillrank.models.bi_encoder.BiEncoder`). Scores
are inner products of the embeddings — cosines when the encoder normalises them. Two faiss indexes:

* ``"flat"`` — ``IndexFlatIP``: exact, brute force;
* ``"hnsw"`` — ``IndexHNSWFlat`` with ``METRIC_INNER_PRODUCT``: the graph of Malkov and Yashunin
  (IEEE TPAMI 2020), approximate and sub-linear; ``hnsw_m`` links per node, ``ef_construction`` and
  ``ef_search`` the beam widths when building and searching (larger: better recall, slower).

Example:
    >>> from distillrank.data.collection import Corpus
    >>> from distillrank.models.dssm import DSSM
    >>> dense = DenseRetriever(DSSM(hidden_sizes=(32, 16), n_buckets=1024))
    >>> dense.index(Corpus(["d1", "d2"], ["", ""], ["cats purr", "dogs bark"]))
    >>> sorted(dense.search({"q1": "purring cats"}, k=2)["q1"])
    ['d1', 'd2']
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

import faiss
import numpy as np

from distillrank._dataclass import dataclass_from_dict
from distillrank.data.collection import Corpus, Queries
from distillrank.data.run import Run
from distillrank.errors import DataFormatError
from distillrank.io import atomic_write, read_versioned_json

__all__ = ["INDEX_TYPES", "DenseConfig", "DenseRetriever", "TextEncoder"]

INDEX_TYPES = ("flat", "hnsw")

_META_FILE = "distillrank_dense.json"
_INDEX_FILE = "index.faiss"
_DOCNOS_FILE = "docnos.json"
_ENCODER_DIR = "encoder"
_FORMAT = "distillrank-dense"
_FORMAT_VERSION = 1
_RUN_BLOCK = 1024


@runtime_checkable
class TextEncoder(Protocol):
    """What :class:`DenseRetriever` needs of a model."""

    def encode(
        self, texts: Sequence[str], batch_size: int = ..., show_progress: bool = ..., is_query: bool = ...
    ) -> np.ndarray:
        """``float32 [len(texts), dim]`` embeddings (of queries when ``is_query``)."""
        ...


@dataclass(frozen=True)
class DenseConfig:
    """Index parameters (validated on creation; invalid values raise ``ValueError``).

    Attributes:
        index: one of :data:`INDEX_TYPES`.
        hnsw_m: HNSW links per node (``M``).
        ef_search: HNSW search beam width (at least ``k`` is used).
        ef_construction: HNSW build beam width.
        batch_size: texts per ``encoder.encode`` call.
        index_title: embed ``title + " " + text``; if False only ``text``.
    """

    index: str = "flat"
    hnsw_m: int = 32
    ef_search: int = 128
    ef_construction: int = 200
    batch_size: int = 64
    index_title: bool = True

    def __post_init__(self) -> None:
        if self.index not in INDEX_TYPES:
            raise ValueError(f"DenseConfig.index must be one of {INDEX_TYPES}; got {self.index!r}")
        for name in ("hnsw_m", "ef_search", "ef_construction", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"DenseConfig.{name} must be a positive integer; got {v!r}")
        if not isinstance(self.index_title, bool):
            raise ValueError(f"DenseConfig.index_title must be True or False; got {self.index_title!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DenseConfig:
        return dataclass_from_dict(cls, d)


class DenseRetriever:
    """Exact or HNSW inner-product search over encoder embeddings; follows the ``Retriever`` protocol.

    Args:
        encoder: a :class:`TextEncoder`; ``None`` only to search with precomputed vectors
            (:meth:`index_vectors`, :meth:`search_vectors`).
        index: ``"flat"`` or ``"hnsw"``.
        hnsw_m, ef_search, ef_construction, batch_size: see :class:`DenseConfig`.
        config: all parameters at once (``index_title`` is only set here); when given, ``index``,
            ``hnsw_m``, ``ef_search``, ``ef_construction`` and ``batch_size`` are ignored.
        name: the name of the runs it returns.
    """

    def __init__(
        self,
        encoder: TextEncoder | None,
        index: str = "flat",
        *,
        hnsw_m: int = 32,
        ef_search: int = 128,
        ef_construction: int = 200,
        batch_size: int = 64,
        config: DenseConfig | None = None,
        name: str = "dense",
    ) -> None:
        if encoder is not None and not callable(getattr(encoder, "encode", None)):
            raise TypeError(
                f"encoder must have encode(texts, batch_size=..., is_query=...); got {type(encoder).__name__}"
            )
        self.encoder = encoder
        self.config = config or DenseConfig(index, hnsw_m, ef_search, ef_construction, batch_size)
        self.name = name
        self._index: faiss.Index | None = None
        self._docnos: list[str] = []
        self._docnos_arr: np.ndarray = np.empty(0, dtype=object)

    # ------------------------------------------------------------------ indexing
    def _require_encoder(self) -> TextEncoder:
        if self.encoder is None:
            raise RuntimeError("DenseRetriever has no encoder: pass one, or use index_vectors/search_vectors")
        return self.encoder

    def _embed(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        out = self._require_encoder().encode(texts, batch_size=self.config.batch_size, is_query=is_query)
        return _as_matrix(out, len(texts), "encoder.encode")

    def index(self, corpus: Corpus) -> None:
        """Embed ``corpus`` (title and text, see ``config.index_title``) and build the index."""
        if len(corpus) == 0:
            raise ValueError("cannot index an empty corpus")
        texts = corpus.full_texts() if self.config.index_title else list(corpus.texts)
        self.index_vectors(self._embed(texts, is_query=False), list(corpus.docnos))

    def index_vectors(self, vectors: np.ndarray, docnos: Sequence[str]) -> None:
        """Index precomputed document embeddings ``[n_docs, dim]`` (rows in ``docnos`` order)."""
        x = _as_matrix(vectors, len(docnos), "vectors")
        if len(set(docnos)) != len(docnos):
            raise ValueError("docnos must be unique")
        c = self.config
        if c.index == "flat":
            index: faiss.Index = faiss.IndexFlatIP(x.shape[1])
        else:
            hnsw = faiss.IndexHNSWFlat(x.shape[1], c.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = c.ef_construction
            hnsw.hnsw.efSearch = c.ef_search
            index = hnsw
        index.add(x)
        self._set_index(index, list(docnos))

    def _set_index(self, index: faiss.Index, docnos: list[str]) -> None:
        self._index = index
        self._docnos = docnos
        self._docnos_arr = np.array(docnos, dtype=object)

    def _require(self) -> faiss.Index:
        if self._index is None:
            raise RuntimeError("DenseRetriever has no index: call index(corpus) or DenseRetriever.load(path)")
        return self._index

    @property
    def docnos(self) -> list[str]:
        """Indexed document ids, in index order."""
        return self._docnos

    @property
    def faiss_index(self) -> faiss.Index:
        """The underlying faiss index."""
        return self._require()

    def __len__(self) -> int:
        return len(self._docnos)

    # ------------------------------------------------------------------ querying
    def search(self, queries: Queries | Mapping[str, str], k: int = 100) -> Run:
        """Top-``k`` documents per query (``qid -> text``) by inner product, as a :class:`Run`."""
        if isinstance(queries, str) or not isinstance(queries, Mapping):
            raise TypeError(
                f"queries must be a mapping qid -> text (e.g. Queries); got {type(queries).__name__}"
            )
        self._require()
        _check_k(k)
        qids = list(queries)
        return self.search_vectors(self._embed([queries[q] for q in qids], is_query=True), qids, k)

    def search_vectors(self, vectors: np.ndarray, qids: Sequence[str], k: int = 100) -> Run:
        """Like :meth:`search`, for precomputed query embeddings ``[n_queries, dim]``."""
        index = self._require()
        _check_k(k)
        q = _as_matrix(vectors, len(qids), "query vectors")
        if q.shape[1] != index.d:
            raise ValueError(f"query vectors have {q.shape[1]} dimensions; the index has {index.d}")
        k = min(int(k), len(self._docnos))
        params = None
        if self.config.index == "hnsw":  # per search, so the saved index is never mutated
            params = faiss.SearchParametersHNSW(efSearch=max(self.config.ef_search, k))  # type: ignore[attr-defined]
        data: dict[str, dict[str, float]] = {}
        for a in range(0, len(qids), _RUN_BLOCK):
            scores, ids = index.search(q[a : a + _RUN_BLOCK], k, params=params)
            for j, qid in enumerate(qids[a : a + _RUN_BLOCK]):
                keep = ids[j] >= 0  # -1: fewer than k results (HNSW can return fewer)
                data[qid] = dict(
                    zip(
                        self._docnos_arr[ids[j][keep]].tolist(),
                        scores[j][keep].astype(np.float64).tolist(),
                        strict=True,
                    )
                )
        return Run.from_trusted(data, name=self.name)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the faiss index, the document ids, the configuration and, when the encoder has
        ``save(path)``, the encoder (in ``encoder/``, reloaded by :meth:`load` through the class
        recorded in the configuration)."""
        index = self._require()
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"{path}: not a directory")
        path.mkdir(parents=True, exist_ok=True)
        faiss.write_index(index, str(path / _INDEX_FILE))
        with atomic_write(path / _DOCNOS_FILE) as f:
            json.dump(self._docnos, f, ensure_ascii=False)
        encoder_class = None
        if self.encoder is not None and callable(getattr(self.encoder, "save", None)):
            target = path / _ENCODER_DIR
            if target.exists():
                shutil.rmtree(target)
            self.encoder.save(target)  # type: ignore[attr-defined]
            cls = type(self.encoder)
            encoder_class = f"{cls.__module__}:{cls.__qualname__}"
        meta = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "name": self.name,
            "n_docs": len(self._docnos),
            "dim": int(index.d),
            "encoder_class": encoder_class,
            "config": dataclasses.asdict(self.config),
        }
        with atomic_write(path / _META_FILE) as f:
            json.dump(meta, f, indent=2)

    @staticmethod
    def is_saved(path: str | Path) -> bool:
        """Whether ``path`` holds an index written by :meth:`save`."""
        return (Path(path) / _META_FILE).is_file()

    @classmethod
    def load(cls, path: str | Path, encoder: TextEncoder | None = None) -> Self:
        """Read an index written by :meth:`save`.

        ``encoder``: the query encoder to use; by default the saved one, loaded with
        ``<encoder_class>.load(path / "encoder")``. An index saved without an encoder loads with
        ``encoder=None`` (then only :meth:`search_vectors` works) unless one is given.
        """
        path = Path(path)
        meta = read_versioned_json(
            path / _META_FILE, _FORMAT, _FORMAT_VERSION, what="dense index", noun="index"
        )
        config = DenseConfig.from_dict(meta["config"])
        if encoder is None and meta.get("encoder_class"):
            encoder = _load_encoder(meta["encoder_class"], path / _ENCODER_DIR)
        index = faiss.read_index(str(path / _INDEX_FILE))
        with open(path / _DOCNOS_FILE, encoding="utf-8") as f:
            docnos = json.load(f)
        if len(docnos) != index.ntotal or meta.get("n_docs") != index.ntotal:
            raise DataFormatError(
                path / _DOCNOS_FILE,
                None,
                f"{len(docnos)} document ids for an index of {index.ntotal} vectors",
            )
        retriever = cls(encoder, config=config, name=meta.get("name", "dense"))
        retriever._set_index(index, docnos)
        return retriever

    def __repr__(self) -> str:
        c = self.config
        state = f"{len(self._docnos)} docs" if self._index is not None else "not indexed"
        enc = type(self.encoder).__name__ if self.encoder is not None else None
        return f"DenseRetriever(encoder={enc}, index={c.index!r}, {state})"


def _load_encoder(spec: str, path: Path) -> TextEncoder:
    module_name, _, qualname = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise ImportError(f"cannot import the saved encoder class {spec!r}: {e}") from None
    if not callable(getattr(obj, "load", None)):
        raise TypeError(f"the saved encoder class {spec!r} has no load(path)")
    encoder: TextEncoder = obj.load(path)
    return encoder


def _as_matrix(x: Any, n: int, what: str) -> np.ndarray:
    arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a 2-d array [n, dim]; got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{what} has {arr.shape[0]} rows for {n} texts")
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
