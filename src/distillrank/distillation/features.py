r"""Cheap query-document features of a candidate run, as an :class:`~distillrank.data.LTRDataset`.

A :class:`FeatureExtractor` is fitted once on a corpus (term statistics, per-field term counts,
bigrams) and then turns any candidate :class:`~distillrank.data.Run` into one feature row per
(query, candidate), rows of a query contiguous and in the run's rank order. Text is analysed as the BM25
index analyses it (:class:`~distillrank.retrieval.bm25.BM25Config`: lower-case, the regex
``\b\w\w+\b``, stop words, stemming), so "terms" below are stemmed index terms.

Features (:attr:`FeatureExtractor.feature_names`, in this order):

==================  ===================================================================================
``run_score``       the candidate run's score (the BM25 score when the candidates are BM25's)
``run_rank``        the candidate's rank in the run (1 = best; ties by descending docno, as trec_eval)
``run_score_gap``   the query's best run score minus this one (a per-query normalisation)
``bm25_title``      BM25 of the query against the title alone (``field_bm25=True``)
``bm25_body``       BM25 of the query against the body text alone (``field_bm25=True``)
``query_len``       query terms after analysis (stop words removed; unknown terms counted)
``doc_len``         document terms (title + body)
``title_len``       title terms
``match_count``     distinct query terms present in the document
``match_frac``      ``match_count`` / distinct query terms (coverage)
``tf_sum``          occurrences of query terms in the document
``tf_density``      ``tf_sum / doc_len``
``idf_sum``         sum of the IDF of the matched query terms
``idf_max``         largest IDF of a matched term
``idf_mean``        ``idf_sum / match_count`` (0 without a match)
``idf_coverage``    ``idf_sum`` / sum of the IDF of all distinct query terms (IDF-weighted coverage)
``bigram_match``    distinct query bigrams (adjacent analysed terms) that occur adjacent in the document
``bigram_frac``     ``bigram_match`` / distinct query bigrams (0 for a one-term query)
``dense_cos``       cosine of query and document embeddings — **only when an encoder is given**
==================  ===================================================================================

IDF is Lucene's, ``log(1 + (N - df + 0.5) / (df + 0.5))`` over whole documents; per-field BM25 uses it
with the field's own length normalisation (``k1``, ``b`` from the config). All pair features are
computed with array operations over the candidate pairs (no Python loop over pairs): the candidate
documents' entries for the queries' terms are gathered from the per-field count rows, and each pair's
own query terms are looked up among its document's entries (a table of positions; a search when a
batch is too large for one), so a pair costs its query's terms, not every term of the batch's queries
that its document has; sums add in term order as a sparse matrix's row sums do, so the values are
those of the sparse-matrix products this replaced, bit for bit. One query with 20 candidates takes
~0.3 ms on SciFact (a serving path's cost), 300 queries x 100 candidates ~40 ms
(``bench/features_transform.py``).

The optional dense feature takes any ``encoder`` with ``encode(texts, is_query=...) -> [n, d]`` (e.g. a
bi-encoder from :mod:`distillrank.models`); documents are embedded from ``title + " " + text``. It is
the only feature that needs the corpus texts after fitting, so :meth:`FeatureExtractor.load` then wants
the corpus (and the encoder) back.

Example:
    >>> from distillrank.data import Corpus, Run
    >>> corpus = Corpus(["d1", "d2"], ["Cats", ""], ["cats purr softly", "dogs bark loudly"])
    >>> fx = FeatureExtractor().fit(corpus)
    >>> ds = fx.transform(Run({"q1": {"d1": 2.0, "d2": 1.0}}), {"q1": "purring cats"})
    >>> ds.X.shape, ds.feature_names[:3]
    ((2, 18), ['run_score', 'run_rank', 'run_score_gap'])
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
import scipy.sparse as sp
import Stemmer

from distillrank.data.collection import Corpus, Qrels
from distillrank.data.ltr import LTRDataset
from distillrank.data.run import Run
from distillrank.distillation._feature_stats import (
    DocumentArrays,
    DocumentStore,
    corpus_stats,
    expand_ranges,
    range_starts,
)
from distillrank.io import atomic_write
from distillrank.retrieval._bm25_build import Tokenizer, flatten
from distillrank.retrieval.bm25 import BM25Config

__all__ = ["BASE_FEATURES", "Encoder", "FeatureExtractor"]

_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
_FORMAT = "distillrank-features"
_FORMAT_VERSION = 2
_META = "features.json"
_ARRAYS = "features.npz"
_SLOT_CELLS = 1 << 23  # the largest table of positions that _find makes (int32: 32 MiB)

BASE_FEATURES: tuple[str, ...] = (
    "run_score",
    "run_rank",
    "run_score_gap",
    "bm25_title",
    "bm25_body",
    "query_len",
    "doc_len",
    "title_len",
    "match_count",
    "match_frac",
    "tf_sum",
    "tf_density",
    "idf_sum",
    "idf_max",
    "idf_mean",
    "idf_coverage",
    "bigram_match",
    "bigram_frac",
)
_FIELD_FEATURES = ("bm25_title", "bm25_body")


@runtime_checkable
class Encoder(Protocol):
    """Anything that embeds texts: ``encode(texts, is_query=...) -> float array [n_texts, dim]``."""

    def encode(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray: ...


class _Analyzer:
    """Text -> term ids, as the BM25 index analyses text; ``grow`` adds unseen terms to the vocabulary."""

    def __init__(self, config: BM25Config, vocab: dict[str, int] | None = None) -> None:
        self.config = config
        self.vocab: dict[str, int] = vocab if vocab is not None else {}
        self._split = re.compile(_TOKEN_PATTERN).findall
        self._stop = frozenset(config.stopword_list())
        self._stem = Stemmer.Stemmer(config.stemmer).stemWord if config.stemmer else None
        self._cache: dict[str, str | None] = {}

    def terms(self, text: str) -> list[str]:
        words = self._split(text.lower() if self.config.lowercase else text)
        out = []
        cache = self._cache
        for w in words:
            term = cache.get(w, "")
            if term == "":
                term = None if w in self._stop else (self._stem(w) if self._stem else w)
                cache[w] = term
            if term is not None:
                out.append(term)
        return out

    def ids(self, text: str, *, grow: bool) -> list[int]:
        """Term ids of ``text``; unknown terms get a new id (``grow``) or -1."""
        vocab = self.vocab
        if grow:
            return [vocab.setdefault(t, len(vocab)) for t in self.terms(text)]
        return [vocab.get(t, -1) for t in self.terms(text)]


class FeatureExtractor:
    """Fit term statistics on a corpus, then compute :data:`BASE_FEATURES` for candidate runs.

    Args:
        config: text analysis and BM25 parameters (``k1``, ``b``, stemmer, stop words); the default
            matches :class:`~distillrank.retrieval.bm25.BM25Retriever`'s.
        field_bm25: include ``bm25_title`` and ``bm25_body``.
        encoder: optional; adds ``dense_cos`` (see the module docstring).
        documents: ``"all"`` keeps every document's term counts and bigrams from the fit (about
            0.6-0.8 GiB per million passages); ``"on_demand"`` keeps only the corpus-wide statistics
            (vocabulary, document frequencies, lengths: ~16 bytes a document) and tokenises a document the
            first time a run asks for it, keeping it for later calls: for corpora of many millions of
            documents of which a job only ever sees its candidates. The features are the same.
    """

    def __init__(
        self,
        config: BM25Config | None = None,
        *,
        field_bm25: bool = True,
        encoder: Encoder | None = None,
        documents: str = "all",
    ) -> None:
        if documents not in ("all", "on_demand"):
            raise ValueError(f"FeatureExtractor: documents must be 'all' or 'on_demand'; got {documents!r}")
        self.config = config if config is not None else BM25Config()
        self.field_bm25 = bool(field_bm25)
        self.encoder = encoder
        self.documents = documents
        self._analyzer = _Analyzer(self.config)
        self._fitted = False
        self._corpus: Corpus | None = None
        self._doc_tokenizer: Tokenizer | None = None  # documents on demand: the fit's vocabulary, frozen

    # ------------------------------------------------------------------ fitting
    def fit(self, corpus: Corpus) -> Self:
        """Tokenise ``corpus`` and compute document frequencies, lengths, term counts per field, bigrams.

        Documents are tokenised a block at a time into numpy arrays (:mod:`._feature_stats`): about
        8 bytes per distinct term of a document and field and 8 per distinct bigram, so a million
        passages take about 0.8 GiB beside the corpus with ``documents="all"``, and 16 MiB (lengths)
        plus the vocabulary with ``"on_demand"``.
        """
        if len(corpus) == 0:
            raise ValueError("cannot fit features on an empty corpus")
        stats = corpus_stats(corpus.titles, corpus.texts, self.config, per_document=self.documents == "all")
        n_docs = len(corpus)
        self._analyzer = _Analyzer(self.config, stats.vocab)
        self._docnos = corpus.docnos
        self._doc_index = corpus.positions
        self._idf = np.log1p((n_docs - stats.df + 0.5) / (stats.df + 0.5))
        self._idf_unknown = float(np.log1p((n_docs + 0.5) / 0.5))
        self._title_len, self._doc_len = stats.title_len, stats.doc_len
        self._n_terms = stats.n_terms
        if stats.documents is not None:
            self._store = DocumentStore(stats.documents)
        else:
            self._store = DocumentStore.on_demand(n_docs, stats.n_terms)
        self._corpus = corpus
        self._set_averages()
        self._fitted = True
        return self

    def with_encoder(self, encoder: Encoder | None) -> FeatureExtractor:
        """A fitted extractor sharing this one's statistics (no copy) with another ``encoder`` (``None``:
        lexical features only); fitting a corpus once serves the lexical and every dense variant."""
        if not self._fitted:
            raise RuntimeError("FeatureExtractor is not fitted: call fit(corpus) first")
        other = copy.copy(self)
        other.encoder = encoder
        return other

    def _rows(self, docs: np.ndarray) -> np.ndarray:
        """The store's rows of the sorted distinct documents ``docs`` (tokenising those not yet stored)."""
        if self._store.slot is None:
            return docs
        if self._doc_tokenizer is None:
            self._doc_tokenizer = Tokenizer.of(self.config, vocab=self._analyzer.vocab, grow=False)
        return self._store.rows(docs, self._fetch, self._doc_tokenizer)

    def _fetch(self, docs: np.ndarray) -> tuple[list[str], list[str]]:
        corpus = self._corpus
        if corpus is None:
            raise KeyError(
                f"document {self._docnos[int(docs[0])]!r} has no stored terms: this extractor keeps "
                "documents on demand; load it with corpus= to tokenise documents it has not seen"
            )
        rows = docs.tolist()
        return [corpus.titles[i] for i in rows], [corpus.texts[i] for i in rows]

    def _set_averages(self) -> None:
        body_len = self._doc_len - self._title_len
        self._avg_title = _average(self._title_len)
        self._avg_body = _average(body_len)
        self._body_len = body_len

    @property
    def feature_names(self) -> list[str]:
        names = [f for f in BASE_FEATURES if self.field_bm25 or f not in _FIELD_FEATURES]
        if self.encoder is not None:
            names.append("dense_cos")
        return names

    # ------------------------------------------------------------------ transforming
    def transform(
        self,
        run: Run | Mapping[str, Mapping[str, float]],
        queries: Mapping[str, str],
        qrels: Qrels | Mapping[str, Mapping[str, int]] | None = None,
        *,
        depth: int | None = None,
    ) -> LTRDataset:
        """One row per (query, candidate) of ``run``: features, labels (from ``qrels``; 0 if unjudged,
        negative labels clipped to 0), qids and docnos.

        Queries come in the run's order, candidates best first (:meth:`Run.ranked`), cut at ``depth``;
        queries without candidates get no rows.

        Raises:
            RuntimeError: not fitted.
            KeyError: a query of the run has no text in ``queries``, or a candidate is not in the corpus.
        """
        if not self._fitted:
            raise RuntimeError("FeatureExtractor is not fitted: call fit(corpus) or FeatureExtractor.load()")
        run = run if isinstance(run, Run) else Run(run)
        qids: list[str] = []
        texts: list[str] = []
        row_q: list[int] = []
        row_docnos: list[str] = []
        row_scores: list[float] = []
        row_ranks: list[int] = []
        for qid in run:
            ranked = run.ranked(qid, depth)
            if not ranked:
                continue
            if qid not in queries:
                raise KeyError(f"query {qid!r} of the run has no text in queries")
            qi = len(qids)
            qids.append(qid)
            texts.append(queries[qid])
            row_q.extend([qi] * len(ranked))
            row_docnos.extend(d for d, _ in ranked)
            row_scores.extend(s for _, s in ranked)
            row_ranks.extend(range(1, len(ranked) + 1))
        try:
            row_d = np.fromiter(
                (self._doc_index[d] for d in row_docnos), dtype=np.int64, count=len(row_docnos)
            )
        except KeyError as e:
            raise KeyError(f"candidate document {e.args[0]!r} is not in the fitted corpus") from None
        q_idx = np.asarray(row_q, dtype=np.int64)
        scores = np.asarray(row_scores, dtype=np.float64)
        cols = self._pair_features(q_idx, row_d, texts, scores, np.asarray(row_ranks, dtype=np.float64))
        if self.encoder is not None:
            cols["dense_cos"] = self._dense(q_idx, row_d, texts)
        names = self.feature_names
        X = np.column_stack([cols[n] for n in names]) if names else np.zeros((len(q_idx), 0))
        y = np.zeros(len(q_idx), dtype=np.float64)
        if qrels is not None:
            y = np.fromiter(
                (
                    max(qrels[qids[q]].get(d, 0), 0) if qids[q] in qrels else 0
                    for q, d in zip(row_q, row_docnos, strict=True)
                ),
                dtype=np.float64,
                count=len(row_q),
            )
        qid_arr = np.asarray(qids, dtype=object)[q_idx] if qids else np.zeros(0, dtype=object)
        return LTRDataset(X, y, qid_arr, np.asarray(row_docnos, dtype=object), feature_names=names)

    def _pair_features(
        self, q_idx: np.ndarray, d_idx: np.ndarray, texts: list[str], scores: np.ndarray, ranks: np.ndarray
    ) -> dict[str, np.ndarray]:
        n_terms, n_q = self._n_terms, len(texts)
        vocab_map = self._analyzer.vocab
        terms = [self._analyzer.terms(t) for t in texts]
        query_ids = [[vocab_map.get(t, -1) for t in ts] for ts in terms]
        known = [[i for i in ids if i >= 0] for ids in query_ids]
        q_len = np.array([len(ts) for ts in terms], dtype=np.float64)
        n_distinct = np.array([len(set(ts)) for ts in terms], dtype=np.float64)
        n_unknown = np.array([len({t for t in ts if t not in vocab_map}) for ts in terms], dtype=np.float64)
        # the queries' distinct known terms: sorted keys query * n_terms + term, with their counts
        q_keys, q_cnt = _query_terms(known, n_terms)
        q_of, q_term = q_keys // n_terms, q_keys % n_terms
        idf = self._idf
        idf_total = np.bincount(q_of, weights=idf[q_term], minlength=n_q) + self._idf_unknown * n_unknown
        # the candidate documents' entries for the queries' terms only (title and body counts side by
        # side), then each pair's query terms (in term order) looked up among its document's entries
        vocab = np.unique(q_term)
        n_vocab = max(len(vocab), 1)
        docs, d_pos = np.unique(d_idx, return_inverse=True)
        rows = self._rows(docs)
        arrays = self._store.arrays
        keys, tf_t, tf_b = _doc_entries(arrays.tf_title, arrays.tf_body, rows, vocab)
        q_n = np.bincount(q_of, minlength=n_q)
        per_pair = q_n[q_idx]
        pair, k = expand_ranges(range_starts(q_n)[q_idx], per_pair)
        wanted = np.repeat(d_pos * n_vocab, per_pair) + np.searchsorted(vocab, q_term)[k]
        found, ent = _find(keys, wanted, len(docs) * n_vocab)
        pair, k = pair[found], k[found]
        qc = q_cnt[k]
        n_pairs = len(q_idx)
        match_count = np.bincount(pair, minlength=n_pairs).astype(np.float64)
        tf_t, tf_b = tf_t[ent], tf_b[ent]
        tf_sum = _segment_sum(tf_t + tf_b, pair, n_pairs)
        idf_m = idf[q_term[k]]
        idf_sum = _segment_sum(idf_m, pair, n_pairs)
        idf_max = np.zeros(n_pairs)
        np.maximum.at(idf_max, pair, idf_m)
        top = np.full(n_q, -np.inf)
        np.maximum.at(top, q_idx, scores)
        doc_len = self._doc_len[d_idx]
        cols: dict[str, np.ndarray] = {
            "run_score": scores,
            "run_rank": ranks,
            "run_score_gap": top[q_idx] - scores,
            "query_len": q_len[q_idx],
            "doc_len": doc_len,
            "title_len": self._title_len[d_idx],
            "match_count": match_count,
            "match_frac": _safe_div(match_count, n_distinct[q_idx]),
            "tf_sum": tf_sum,
            "tf_density": _safe_div(tf_sum, doc_len),
            "idf_sum": idf_sum,
            "idf_max": idf_max,
            "idf_mean": _safe_div(idf_sum, match_count),
            "idf_coverage": _safe_div(idf_sum, idf_total[q_idx]),
        }
        if self.field_bm25:
            doc_of = d_idx[pair]
            for name, tf, lengths, avg in (
                ("bm25_title", tf_t, self._title_len, self._avg_title),
                ("bm25_body", tf_b, self._body_len, self._avg_body),
            ):
                has = tf > 0  # the field's own entries only, so that the sums group as before
                w = _bm25_weights(tf[has], lengths[doc_of[has]], avg, idf_m[has], self.config)
                cols[name] = _segment_sum(w * qc[has], pair[has], n_pairs)
        cols["bigram_match"], cols["bigram_frac"] = self._bigram_features(
            terms, query_ids, q_idx, d_pos, rows
        )
        return cols

    def _bigram_features(
        self,
        terms: list[list[str]],
        query_ids: list[list[int]],
        q_idx: np.ndarray,
        d_pos: np.ndarray,
        rows: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distinct query bigrams found in each candidate, and their fraction of the query's bigrams
        (``d_pos``: each pair's distinct candidate document, whose store row is in ``rows``)."""
        n_q = len(terms)
        n_bigrams = np.array([len(set(itertools.pairwise(ts))) for ts in terms], dtype=np.float64)
        # the queries' adjacent known term pairs (a query's repeated pairs mark the same cell of the table)
        lengths, flat = flatten(query_ids)
        q_of = np.repeat(np.arange(n_q, dtype=np.int64), lengths)
        ok = np.flatnonzero((q_of[:-1] == q_of[1:]) & (flat[:-1] >= 0) & (flat[1:] >= 0))
        q_codes = flat[ok] * self._n_terms + flat[ok + 1]
        all_codes = np.unique(q_codes)
        if all_codes.size == 0:
            zero = np.zeros(len(q_idx))
            return zero, zero
        # each pair's document bigrams that its own query has (codes distinct per document)
        q_col = np.searchsorted(all_codes, q_codes)
        table = _PairTable(q_of[ok], q_col, np.ones(len(q_col)), n_q, len(all_codes))
        ptr, codes = self._store.arrays.bigram_ptr, self._store.arrays.bigrams
        owner, at = expand_ranges(ptr[rows], ptr[rows + 1] - ptr[rows])
        known, col = _find(all_codes, codes[at], self._n_terms**2)  # the documents' bigrams some query has
        owner = owner[known]
        pair, ent = _per_pair(owner, len(rows), d_pos)
        hit = table.get(q_idx[pair], col[ent]) > 0
        match = np.bincount(pair[hit], minlength=len(q_idx)).astype(np.float64)
        return match, _safe_div(match, n_bigrams[q_idx])

    def _dense(self, q_idx: np.ndarray, d_idx: np.ndarray, texts: list[str]) -> np.ndarray:
        assert self.encoder is not None
        if self._corpus is None:
            raise RuntimeError("the dense feature needs the corpus: FeatureExtractor.load(path, corpus=...)")
        docs, d_pos = np.unique(d_idx, return_inverse=True)
        corpus = self._corpus
        doc_texts = [
            f"{corpus.titles[i]} {corpus.texts[i]}" if corpus.titles[i] else corpus.texts[i]
            for i in docs.tolist()
        ]
        q_emb = _unit(np.asarray(self.encoder.encode(texts, is_query=True), dtype=np.float64))
        d_emb = _unit(np.asarray(self.encoder.encode(doc_texts, is_query=False), dtype=np.float64))
        if q_emb.shape[0] != len(texts) or d_emb.shape[0] != len(docs):
            raise ValueError("encoder.encode returned a different number of embeddings than texts")
        return np.einsum("ij,ij->i", q_emb[q_idx], d_emb[d_pos])

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the fitted statistics to the folder ``path`` (``features.json`` + ``features.npz``).

        The encoder is not saved: pass it (and the corpus) to :meth:`load` again.
        """
        if not self._fitted:
            raise RuntimeError("FeatureExtractor is not fitted")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "idf": self._idf,
            "title_len": self._title_len,
            "doc_len": self._doc_len,
            "bigram_ptr": self._store.arrays.bigram_ptr,
            "bigrams": self._store.arrays.bigrams,
        }
        if self._store.slot is not None:
            arrays["slot"] = self._store.slot
        for name, m in (("tf_title", self._store.arrays.tf_title), ("tf_body", self._store.arrays.tf_body)):
            arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"] = (
                m.data,
                m.indices,
                m.indptr,
            )
        savez: Any = np.savez_compressed  # numpy types **arrays as its keyword flags
        with atomic_write(path / _ARRAYS, "wb") as f:
            savez(f, **arrays)
        vocab = sorted(self._analyzer.vocab, key=self._analyzer.vocab.__getitem__)
        meta = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "config": self.config.to_dict(),
            "field_bm25": self.field_bm25,
            "dense": self.encoder is not None,
            "documents": self.documents,
            "feature_names": self.feature_names,
            "n_terms": self._n_terms,
            "idf_unknown": self._idf_unknown,
            "docnos": self._docnos,
            "vocab": vocab,
        }
        with atomic_write(path / _META) as f:
            json.dump(meta, f, ensure_ascii=False)

    @classmethod
    def load(cls, path: str | Path, *, encoder: Encoder | None = None, corpus: Corpus | None = None) -> Self:
        """Read an extractor written by :meth:`save`.

        Raises:
            ValueError: it was saved with the dense feature and no ``encoder``/``corpus`` is given, or
                the file is not a saved extractor.
        """
        path = Path(path)
        with open(path / _META, encoding="utf-8") as f:
            meta = json.load(f)
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{path}: not a {_FORMAT} folder")
        if meta.get("format_version") != _FORMAT_VERSION:
            raise ValueError(
                f"{path}: {_FORMAT} format v{meta.get('format_version')}, this version reads "
                f"v{_FORMAT_VERSION} only (v1 kept BM25 weights instead of per-field counts): fit the "
                "extractor on the corpus again"
            )
        if meta["dense"] and (encoder is None or corpus is None):
            raise ValueError(
                f"{path}: saved with the dense_cos feature; pass encoder= and corpus= to load it"
            )
        fx = cls(BM25Config.from_dict(meta["config"]), field_bm25=meta["field_bm25"], encoder=encoder)
        if not meta["dense"]:
            fx.encoder = None
        with np.load(path / _ARRAYS) as z:
            arrays = {k: z[k] for k in z.files}
        n_docs, n_terms = len(meta["docnos"]), int(meta["n_terms"])

        slot = arrays.get("slot")
        n_rows = n_docs if slot is None else int(slot.max(initial=-1)) + 1

        def csr(name: str) -> sp.csr_matrix:
            parts = (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"])
            m = sp.csr_matrix(parts, shape=(n_rows, n_terms))
            m.sort_indices()  # the transform looks terms up in each row's sorted entries (a no-op when saved)
            return m

        fx._analyzer = _Analyzer(fx.config, {t: i for i, t in enumerate(meta["vocab"])})
        fx._docnos = list(meta["docnos"])
        if corpus is not None and corpus.docnos != fx._docnos:
            # its texts are read by row (the dense feature, documents on demand): the rows must match
            raise ValueError(
                f"{path}: corpus= has other documents than the extractor was fitted on ({len(corpus):,} "
                f"against {len(fx._docnos):,}, or another order): pass the corpus it was fitted on"
            )
        fx._doc_index = corpus.positions if corpus is not None else {d: i for i, d in enumerate(fx._docnos)}
        fx._idf, fx._idf_unknown = arrays["idf"], float(meta["idf_unknown"])
        fx._title_len, fx._doc_len = arrays["title_len"], arrays["doc_len"]
        fx.documents = "all" if slot is None else "on_demand"
        fx._store = DocumentStore(
            DocumentArrays(csr("tf_title"), csr("tf_body"), arrays["bigram_ptr"], arrays["bigrams"]), slot
        )
        fx._n_terms = n_terms
        fx._corpus = corpus
        fx._set_averages()
        fx._fitted = True
        return fx

    def __repr__(self) -> str:
        state = f"{len(self._docnos)} docs" if self._fitted else "not fitted"
        if self._fitted and self._store.slot is not None:
            state += f", {self._store.stored} tokenised on demand"
        return f"FeatureExtractor({len(self.feature_names)} features, {state})"


# ---------------------------------------------------------------------------------------------- helpers
def _query_terms(known: list[list[int]], n_terms: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys ``query * n_terms + term`` of the queries' known terms, and their counts."""
    lengths, flat = flatten(known)
    keys = np.repeat(np.arange(len(known), dtype=np.int64), lengths) * n_terms + flat
    uniq, counts = np.unique(keys, return_counts=True)
    return uniq, counts.astype(np.float64)


def _per_pair(owner: np.ndarray, n_docs: int, d_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entries grouped by document (``owner``, sorted, in ``0..n_docs-1``) spread over the pairs: for every
    entry of pair ``p``'s document ``d_pos[p]``, the pair and the entry's position, pairs in order."""
    counts = np.bincount(owner, minlength=n_docs)
    return expand_ranges(range_starts(counts)[d_pos], counts[d_pos])


def _lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``keys`` in ``sorted_keys`` and whether each is there."""
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), dtype=np.int64), np.zeros(len(keys), dtype=bool)
    pos = np.searchsorted(sorted_keys, keys).clip(max=len(sorted_keys) - 1)
    return pos, sorted_keys[pos] == keys


def _find(sorted_keys: np.ndarray, keys: np.ndarray, universe: int) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``keys`` are in the distinct ``sorted_keys`` (both in ``0..universe-1``), and where: the
    indices of those found, in order, and their positions in ``sorted_keys``.

    A table of positions over the universe when that is small (beside the keys), else a binary search;
    when the keys far outnumber ``sorted_keys``, only those that a hashed bitmap of ``sorted_keys`` lets
    through are searched."""
    if len(sorted_keys) == 0 or len(keys) == 0:
        none = np.zeros(0, dtype=np.int64)
        return none, none
    if universe <= min(_SLOT_CELLS, 64 * (len(keys) + len(sorted_keys))):
        slot = np.zeros(universe, dtype=np.int32 if len(sorted_keys) < 1 << 31 else np.int64)
        slot[sorted_keys] = np.arange(1, len(sorted_keys) + 1, dtype=slot.dtype)
        at = slot[keys]
        found = np.flatnonzero(at)
        return found, at[found].astype(np.int64) - 1
    if len(keys) > 8 * len(sorted_keys):
        mask = (1 << min(max((64 * len(sorted_keys)).bit_length(), 10), 24)) - 1
        member = np.zeros(mask + 1, dtype=bool)
        member[sorted_keys & mask] = True
        candidates = np.flatnonzero(member[keys & mask])
        pos, hit = _lookup(sorted_keys, keys[candidates])
        return candidates[hit], pos[hit]
    pos, hit = _lookup(sorted_keys, keys)
    return np.flatnonzero(hit), pos[hit]


class _PairTable:
    """Values at ``(query, column)`` cells, read for many pairs at once: a dense ``[n_q, n_cols]`` table
    when that is small, else a sorted key array searched."""

    _DENSE_CELLS = 1 << 24

    def __init__(self, q: np.ndarray, col: np.ndarray, values: np.ndarray, n_q: int, n_cols: int) -> None:
        self.n_cols = max(n_cols, 1)
        if n_q * self.n_cols <= self._DENSE_CELLS:
            self.dense: np.ndarray | None = np.zeros((n_q, self.n_cols))
            self.dense[q, col] = values
        else:
            self.dense = None
            keys = q * self.n_cols + col
            order = np.argsort(keys, kind="stable")
            self.keys, self.values = keys[order], values[order]

    def get(self, q: np.ndarray, col: np.ndarray) -> np.ndarray:
        """The values at ``(q[i], col[i])`` (0 where none was set)."""
        if self.dense is not None:
            return self.dense[q, col]
        pos, hit = _lookup(self.keys, q * self.n_cols + col)
        return np.where(hit, self.values[pos], 0.0) if len(self.values) else np.zeros(len(q))


def _doc_entries(
    tf_title: sp.csr_matrix, tf_body: sp.csr_matrix, rows: np.ndarray, vocab: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``(document, term)`` entries of the rows ``rows`` whose term is in the sorted ``vocab``, in
    the title or the body: sorted keys ``position in rows * len(vocab) + position of the term in
    vocab``, title counts, body counts (float64, 0 where the field lacks the term)."""
    n_vocab = max(len(vocab), 1)
    lut = None  # term -> position in vocab, when many entries make a table cheaper than searching
    parts = []
    for m in (tf_title, tf_body):
        starts = m.indptr[rows].astype(np.int64)
        owner, at = expand_ranges(starts, m.indptr[rows + 1].astype(np.int64) - starts)
        terms = m.indices[at]
        if lut is None and len(terms) * 4 > m.shape[1]:
            lut = np.full(m.shape[1], -1, dtype=np.int64)
            lut[vocab] = np.arange(len(vocab))
        if lut is not None:
            local = lut[terms]
            keep = np.flatnonzero(local >= 0)
        else:
            local, hit = _lookup(vocab, terms.astype(np.int64))
            keep = np.flatnonzero(hit)
        parts.append((owner[keep] * n_vocab + local[keep], m.data[at[keep]].astype(np.float64)))
    (t_keys, t_tf), (b_keys, b_tf) = parts
    # merge the two sorted key runs: the title's keys missing from the body are inserted into it
    pos = np.searchsorted(b_keys, t_keys)
    title_only = np.ones(len(t_keys), dtype=bool)
    if len(b_keys):
        title_only = b_keys[np.minimum(pos, len(b_keys) - 1)] != t_keys
    keys = np.insert(b_keys, pos[title_only], t_keys[title_only])
    tf_b = np.insert(b_tf, pos[title_only], 0.0)
    tf_t = np.zeros(len(keys))
    tf_t[pos + np.cumsum(title_only) - title_only] = t_tf
    return keys, tf_t, tf_b


def _average(lengths: np.ndarray) -> float:
    """``avgdl`` of a field: the mean length (1 when the field is empty everywhere)."""
    return float(lengths.mean()) if lengths.size and lengths.mean() > 0 else 1.0


def _bm25_weights(
    tf: np.ndarray, lengths: np.ndarray, avg: float, idf: np.ndarray, config: BM25Config
) -> np.ndarray:
    """``idf(t) * tf / (tf + k1 (1 - b + b |d| / avgdl))`` per entry (``tf > 0``)."""
    norm = config.k1 * (1.0 - config.b + config.b * lengths / avg)
    return idf * tf / (tf + norm)


def _segment_sum(values: np.ndarray, segment: np.ndarray, n: int) -> np.ndarray:
    """Sums of ``values`` per ``segment`` (sorted, in ``0..n-1``; 0 for an empty one), added as numpy
    adds a contiguous run (``np.add.reduceat``, as a sparse matrix's row sums are)."""
    out = np.zeros(n)
    if len(values):
        first = np.flatnonzero(np.concatenate([[True], segment[1:] != segment[:-1]]))
        out[segment[first]] = np.add.reduceat(values, first)
    return out


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros_like(a, dtype=np.float64)
    np.divide(a, b, out=out, where=b > 0)
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)
