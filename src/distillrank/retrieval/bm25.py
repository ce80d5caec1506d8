"""BM25 retrieval on `bm25s <https://github.com/xhluca/bm25s>`_ (eager sparse scoring), returning Runs.

For a query ``q`` and a document ``d`` of length ``|d|`` (in tokens, after stop-word removal and stemming),
with ``N`` documents of average length ``avgdl`` and ``df(t)`` documents containing ``t``::

    score(q, d) = sum_{t in q} idf(t) * tf(t, d) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))

with the Lucene idf ``log(1 + (N - df + 0.5) / (df + 0.5))`` (``method="lucene"``, the default; as in
Lucene >= 8 and Anserini). The other ``method`` values are bm25s's variants: ``robertson`` (idf
``log((N - df + 0.5) / (df + 0.5))`` clipped at 0), ``atire`` (idf ``log(N / df)``, tf part times
``k1 + 1``), ``bm25l`` and ``bm25+`` (which add ``delta``). A query term repeated ``n`` times counts
``n`` times, as in bm25s. See Kamphuis, de Vries, Boytsov and Lin, "Which BM25 Do You Mean? A Large-Scale
Reproducibility Study of Scoring Variants", ECIR 2020; and Lù, "BM25S: Orders of magnitude faster
lexical search via eager sparse scoring", 2024.

Tokenisation is bm25s's (``bm25s.tokenize``: lower-case, the regex ``(?u)\\b\\w\\w+\\b``, stop words
removed, then a PyStemmer stemmer). The index is built a block of documents at a time
(:mod:`distillrank.retrieval._bm25_build`), in about a third of the memory ``bm25s.tokenize`` +
``bm25s.BM25.index`` take, and its score matrix equals theirs bit for bit. Queries are tokenised the
same way through a per-word cache, which keeps their cost low.

Example:
    >>> from distillrank.data.collection import Corpus
    >>> corpus = Corpus(["d1", "d2"], ["", ""], ["cats purr softly", "dogs bark loudly"])
    >>> bm25 = BM25Retriever()
    >>> bm25.index(corpus)
    >>> run = bm25.search({"q1": "a purring cat"}, k=10)
    >>> list(run["q1"])
    ['d1']
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Self

import bm25s
import numpy as np
import Stemmer
from bm25s.tokenization import _infer_stopwords

from distillrank._dataclass import dataclass_from_dict
from distillrank.data.collection import Corpus, Queries
from distillrank.data.run import Run
from distillrank.errors import DataFormatError
from distillrank.io import atomic_write, read_versioned_json
from distillrank.retrieval import _topk
from distillrank.retrieval._bm25_build import Tokenizer, build_index

__all__ = ["BM25_METHODS", "BM25Config", "BM25Retriever"]

BM25_METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")
"""Scoring variants, named as in bm25s."""

_BACKENDS = ("auto", "numba", "numpy")
_META_FILE = "distillrank_bm25.json"
_DOCNOS_FILE = "docnos.json"
_FORMAT = "distillrank-bm25"
_FORMAT_VERSION = 1
_RUN_BLOCK = 256  # queries converted to a Run at a time


@dataclass(frozen=True)
class BM25Config:
    """Parameters of a BM25 index (validated on creation; invalid values raise ``ValueError``).

    Attributes:
        method: scoring variant, one of :data:`BM25_METHODS` (bm25s's names).
        k1: term-frequency saturation, ``>= 0``. Lucene's default 1.2; Anserini uses 0.9 with ``b=0.4``.
        b: document-length normalisation, in ``[0, 1]``.
        delta: lower bound on the tf part of ``bm25l`` and ``bm25+``; ignored by the other methods.
        stemmer: a PyStemmer algorithm (``"english"`` is Snowball English, ``"porter"`` the Porter
            stemmer), or ``None`` for no stemming.
        stopwords: a bm25s stop-word list name (``"en"``, ``"de"``, ...), explicit words, or ``None``.
        lowercase: lower-case texts before splitting them into tokens.
        index_title: index ``title + " " + text``; if False only ``text``.
        backend: bm25s retrieval backend: ``"numba"`` (compiled, fastest), ``"numpy"``, or ``"auto"``
            (numba when installed).
    """

    method: str = "lucene"
    k1: float = 1.2
    b: float = 0.75
    delta: float = 0.5
    stemmer: str | None = "english"
    stopwords: str | tuple[str, ...] | None = "en"
    lowercase: bool = True
    index_title: bool = True
    backend: str = "auto"

    def __post_init__(self) -> None:
        if self.method not in BM25_METHODS:
            raise ValueError(f"BM25Config.method must be one of {BM25_METHODS}; got {self.method!r}")
        for name in ("k1", "b", "delta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"BM25Config.{name} must be a finite number; got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.k1 < 0:
            raise ValueError(f"BM25Config.k1 must be >= 0; got {self.k1}")
        if self.k1 == 0 and self.method == "bm25+":
            raise ValueError(
                "BM25Config: method 'bm25+' needs k1 > 0 (with k1 = 0 its score of an absent term is 0/0, "
                "and every document would score NaN)"
            )
        if not 0.0 <= self.b <= 1.0:
            raise ValueError(f"BM25Config.b must be in [0, 1]; got {self.b}")
        if self.delta < 0:
            raise ValueError(f"BM25Config.delta must be >= 0; got {self.delta}")
        if self.stemmer is not None and self.stemmer not in Stemmer.algorithms():
            raise ValueError(
                f"BM25Config.stemmer must be None or a PyStemmer algorithm "
                f"({', '.join(Stemmer.algorithms())}); got {self.stemmer!r}"
            )
        sw = self.stopwords
        if isinstance(sw, str):
            try:
                _infer_stopwords(sw)
            except ValueError:
                raise ValueError(
                    f"BM25Config.stopwords: unknown stop-word list {sw!r}; use a bm25s language code "
                    "('en', 'de', 'fr', ...), a list of words, or None"
                ) from None
        elif sw is not None:
            if not isinstance(sw, Sequence) or not all(isinstance(w, str) for w in sw):
                raise ValueError(
                    f"BM25Config.stopwords must be a name, a list of strings or None; got {sw!r}"
                )
            object.__setattr__(self, "stopwords", tuple(sw))
        for name in ("lowercase", "index_title"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"BM25Config.{name} must be True or False; got {getattr(self, name)!r}")
        if self.backend not in _BACKENDS:
            raise ValueError(f"BM25Config.backend must be one of {_BACKENDS}; got {self.backend!r}")

    def stopword_list(self) -> list[str]:
        """The stop words this configuration removes."""
        if self.stopwords is None:
            return []
        if isinstance(self.stopwords, str):
            return list(_infer_stopwords(self.stopwords))
        return list(self.stopwords)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (stop words as a name, a list, or None)."""
        d = dataclasses.asdict(self)
        if isinstance(self.stopwords, tuple):
            d["stopwords"] = list(self.stopwords)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BM25Config:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        return dataclass_from_dict(cls, d)


class BM25Retriever:
    """BM25 over a :class:`Corpus`, backed by a bm25s index. Follows :class:`~.base.Retriever`.

    Args:
        config: index and scoring parameters; defaults to :class:`BM25Config()`.
        name: the name of the runs it returns.
        **overrides: fields of ``config`` to replace, e.g. ``BM25Retriever(k1=0.9, b=0.4)``.

    Documents that match no query term (score exactly 0) are left out of results, so a query whose
    tokens are all stop words or unknown gets ``{}``; ``k`` larger than the corpus is clipped.
    """

    def __init__(self, config: BM25Config | None = None, *, name: str = "bm25", **overrides: Any) -> None:
        config = config if config is not None else BM25Config()
        if not isinstance(config, BM25Config):
            hint = f" (for the method: BM25Retriever(method={config!r}))" if isinstance(config, str) else ""
            raise TypeError(f"config must be a BM25Config, not {type(config).__name__}{hint}")
        self.config = dataclasses.replace(config, **overrides) if overrides else config
        self.name = name
        self._bm25: bm25s.BM25 | None = None
        self._docnos: list[str] = []
        self._docnos_arr: np.ndarray = np.empty(0, dtype=object)
        self._encoder: Tokenizer | None = None

    # ------------------------------------------------------------------ indexing
    def index(self, corpus: Corpus, *, show_progress: bool = False) -> None:
        """Tokenise and index ``corpus`` (title and text, or text only: see ``config.index_title``)."""
        if not isinstance(corpus, Corpus):
            raise TypeError(
                f"corpus must be a Corpus (e.g. load_dataset(...).corpus, or Corpus(docnos, titles, texts)); "
                f"got {type(corpus).__name__}"
            )
        if len(corpus) == 0:
            raise ValueError("cannot index an empty corpus")
        cfg = self.config
        texts = corpus.iter_full_texts() if cfg.index_title else iter(corpus.texts)
        bm25 = build_index(texts, len(corpus), cfg, show_progress=show_progress)
        if bm25 is None:
            raise DataFormatError(
                corpus.source,
                None,
                f"none of the {len(corpus):,} documents has an indexable token (all empty, or stop words and "
                "punctuation only): nothing to retrieve with BM25",
            )
        self._set_index(bm25, list(corpus.docnos))

    def _set_index(self, bm25: bm25s.BM25, docnos: list[str]) -> None:
        self._bm25 = bm25
        self._docnos = docnos
        self._docnos_arr = np.array(docnos, dtype=object)
        n_terms = len(bm25.scores["indptr"]) - 1
        self._encoder = Tokenizer.of(self.config, vocab=bm25.vocab_dict, grow=False, n_terms=n_terms)

    def _require(self) -> tuple[bm25s.BM25, Tokenizer]:
        if self._bm25 is None or self._encoder is None:
            raise RuntimeError("BM25Retriever has no index: call index(corpus) or BM25Retriever.load(path)")
        return self._bm25, self._encoder

    @property
    def docnos(self) -> list[str]:
        """Indexed document ids, in index order (row ``i`` of the bm25s index is ``docnos[i]``)."""
        return self._docnos

    @property
    def bm25s_index(self) -> bm25s.BM25:
        """The underlying ``bm25s.BM25`` object."""
        return self._require()[0]

    def __len__(self) -> int:
        return len(self._docnos)

    # ------------------------------------------------------------------ querying
    def tokenize_queries(self, texts: Sequence[str]) -> list[list[int]]:
        """Index term ids of each text (stop words and words unknown to the index dropped)."""
        encode = self._require()[1].ids
        return [encode(t) for t in texts]

    def search(
        self,
        queries: Queries | Mapping[str, str],
        k: int = 100,
        *,
        n_threads: int = 1,
        show_progress: bool = False,
    ) -> Run:
        """Top-``k`` documents per query as a :class:`Run` (``qid -> {docno: score}``, best first).

        Args:
            queries: ``qid -> query text``.
            k: documents per query; clipped to the corpus size.
            n_threads: scoring threads (``-1``: all cores); results do not depend on it. 1 by default.
            show_progress: show a progress bar.

        Scores are bm25s's, bit for bit: with the numba backend, a compiled loop sums the columns of
        bm25s's precomputed score matrix exactly as ``bm25s.BM25.retrieve`` does, then picks the top
        ``k`` with a histogram pre-selection (faster than bm25s's heap; documents tied at the cut may
        differ). Without numba, or with ``backend="numpy"``, ``bm25s.BM25.retrieve`` does the work.
        """
        if isinstance(queries, str) or not isinstance(queries, Mapping):
            raise TypeError(
                f"queries must be a mapping qid -> text (e.g. Queries); got {type(queries).__name__}"
            )
        qids = [str(q) for q in queries]  # the run's ids as str, as run files hold them
        texts = list(queries.values())
        for q, t in zip(qids, texts, strict=True):
            if not isinstance(t, str):
                raise TypeError(f"query {q!r}: text must be a str; got {type(t).__name__}")
        token_ids = self.tokenize_queries(texts)
        return self.search_tokens(qids, token_ids, k, n_threads=n_threads, show_progress=show_progress)

    def search_tokens(
        self,
        qids: Sequence[str],
        token_ids: Sequence[Sequence[int]],
        k: int = 100,
        *,
        n_threads: int = 1,
        show_progress: bool = False,
    ) -> Run:
        """Like :meth:`search` for queries already turned into term ids by :meth:`tokenize_queries`."""
        if len(qids) != len(token_ids):
            raise ValueError(f"{len(qids)} qids but {len(token_ids)} token lists")
        if len(set(qids)) != len(qids):
            raise ValueError("qids must be unique")
        indices, scores = self.retrieve_arrays(token_ids, k, n_threads=n_threads, show_progress=show_progress)
        return self._to_run(qids, indices, scores)

    def retrieve_arrays(
        self,
        token_ids: Sequence[Sequence[int]],
        k: int = 100,
        *,
        n_threads: int = 1,
        show_progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Row indices and scores of the top ``k`` documents, shapes ``[n_queries, min(k, n_docs)]``.

        Rows are best first; a query with no known term gets an all-zero row (its indices are
        meaningless); documents scoring 0 match no query term.
        """
        bm25, _ = self._require()
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be a positive integer; got {k!r}")
        if n_threads != -1 and (not isinstance(n_threads, int | np.integer) or n_threads < 1):
            raise ValueError(f"n_threads must be >= 1, or -1 for all cores; got {n_threads!r}")
        k = min(int(k), len(self._docnos))
        n = len(token_ids)
        lengths = np.fromiter(map(len, token_ids), dtype=np.int64, count=n)
        nonempty = np.flatnonzero(lengths)
        if nonempty.size == 0:
            return np.zeros((n, k), dtype=np.int32), np.zeros((n, k), dtype=np.float32)
        every = nonempty.size == n
        queries = token_ids if every else [token_ids[i] for i in nonempty.tolist()]
        pointers = np.zeros(len(queries) + 1, dtype=np.int64)
        np.cumsum(lengths[nonempty], out=pointers[1:])
        flat = np.fromiter(chain.from_iterable(queries), dtype=np.int64, count=int(pointers[-1]))
        n_terms = len(bm25.scores["indptr"]) - 1
        if flat.min() < 0 or flat.max() >= n_terms:
            raise ValueError(f"token ids must be in [0, {n_terms}); use tokenize_queries() to make them")
        if _topk.retrieve_serial is not None and bm25.backend == "numba":
            threads = (os.cpu_count() or 1) if n_threads == -1 else int(n_threads)
            scores, docs = _topk.retrieve_compiled(bm25, flat, pointers, k, threads, show_progress)
        else:
            # bm25s: n_threads=0 is the plain sequential loop (no thread pool) for the numpy backend
            docs, scores = bm25.retrieve(
                [list(t) for t in queries],
                k=k,
                n_threads=0 if n_threads == 1 else int(n_threads),
                show_progress=show_progress,
                return_as="tuple",
            )
        if every:
            return docs, scores
        all_docs = np.zeros((n, k), dtype=docs.dtype)
        all_scores = np.zeros((n, k), dtype=scores.dtype)
        all_docs[nonempty] = docs
        all_scores[nonempty] = scores
        return all_docs, all_scores

    def _to_run(self, qids: Sequence[str], indices: np.ndarray, scores: np.ndarray) -> Run:
        # Vectorised per block of queries: one fancy-index and two tolist() calls, then dict(zip()) per
        # query. Blocks keep the temporary lists small (cache-friendly, little garbage-collector work).
        data: dict[str, dict[str, float]] = {}
        docnos_arr = self._docnos_arr
        for a in range(0, len(qids), _RUN_BLOCK):
            block_ids, block_scores = indices[a : a + _RUN_BLOCK], scores[a : a + _RUN_BLOCK]
            doc_rows = docnos_arr[block_ids].tolist()
            score_rows = block_scores.tolist()
            keep = block_scores != 0  # score 0: the document matches no query term
            full = keep.all(axis=1).tolist()
            for j, q in enumerate(qids[a : a + _RUN_BLOCK]):
                if full[j]:
                    data[q] = dict(zip(doc_rows[j], score_rows[j], strict=True))
                else:
                    m = keep[j]
                    data[q] = dict(
                        zip(docnos_arr[block_ids[j][m]].tolist(), block_scores[j][m].tolist(), strict=True)
                    )
        return Run.from_trusted(data, name=self.name)

    def score(self, query: str) -> np.ndarray:
        """BM25 score of every indexed document for one query text, shape ``[n_docs]``, in index order.

        Computed by ``bm25s.BM25.get_scores_from_ids``; for ``bm25l`` and ``bm25+`` it may differ from
        :meth:`search`'s scores in the last bit (bm25s's numpy path sums the non-occurrence scores in
        float32, its numba path does not).
        """
        bm25, encoder = self._require()
        ids = encoder.ids(query)
        if not ids:
            return np.zeros(len(self._docnos), dtype=np.float32)
        return np.asarray(bm25.get_scores_from_ids(ids))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the index to the directory ``path``, replacing a previous index there atomically.

        The directory holds bm25s's own files (``bm25s.BM25.load(path)`` reads them), the document ids
        (``docnos.json``) and this configuration (``distillrank_bm25.json``).
        """
        bm25, _ = self._require()
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"{path}: not a directory")
        if path.is_dir() and any(path.iterdir()) and not (path / _META_FILE).exists():
            raise FileExistsError(f"{path}: exists and is not a BM25 index; refusing to overwrite it")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            bm25.save(tmp, show_progress=False)
            with atomic_write(tmp / _DOCNOS_FILE) as f:
                json.dump(self._docnos, f, ensure_ascii=False)
            meta = {
                "format": _FORMAT,
                "format_version": _FORMAT_VERSION,
                "name": self.name,
                "n_docs": len(self._docnos),
                "bm25s_version": bm25s.__version__,
                "config": self.config.to_dict(),
            }
            with atomic_write(tmp / _META_FILE) as f:
                json.dump(meta, f, indent=2)
            if path.exists():
                old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex}")
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, path: str | Path, *, mmap: bool = False, backend: str | None = None) -> Self:
        """Read an index written by :meth:`save` (``mmap``: memory-map the score arrays).

        ``backend`` overrides the saved ``config.backend`` (it does not change scores).
        """
        path = Path(path)
        meta = read_versioned_json(
            path / _META_FILE, _FORMAT, _FORMAT_VERSION, what="BM25 index", noun="index"
        )
        config = BM25Config.from_dict(meta["config"])
        if backend is not None:
            config = dataclasses.replace(config, backend=backend)
        with open(path / _DOCNOS_FILE, encoding="utf-8") as f:
            docnos = json.load(f)
        bm25 = bm25s.BM25.load(
            path, mmap=mmap, load_corpus=False, show_progress=False, backend=config.backend
        )
        n_docs = bm25.scores["num_docs"]
        if len(docnos) != n_docs or meta.get("n_docs") != n_docs:
            raise DataFormatError(
                path / _DOCNOS_FILE, None, f"{len(docnos)} document ids for an index of {n_docs} documents"
            )
        retriever = cls(config, name=meta.get("name", "bm25"))
        retriever._set_index(bm25, docnos)
        return retriever

    def __repr__(self) -> str:
        c = self.config
        state = f"{len(self._docnos)} docs" if self._bm25 is not None else "not indexed"
        return f"BM25Retriever(method={c.method!r}, k1={c.k1}, b={c.b}, stemmer={c.stemmer!r}, {state})"
