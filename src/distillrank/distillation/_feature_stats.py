"""The corpus statistics a :class:`~distillrank.distillation.features.FeatureExtractor` is fitted to, built
a block of documents at a time.

Tokenising a whole corpus into Python lists first costs about 36 bytes a token (4 GiB for a million
passages; MS MARCO's 8.8M would not fit in 24 GiB). Here titles, then bodies, are tokenised
:data:`BLOCK_DOCS` documents at a time and each block is reduced at once to numpy arrays: its
``(document, term, count)`` triples for the title and the body (8 bytes a pair: ``int32`` term,
``float32`` count, exact for counts below 2^24) and its distinct adjacent-term codes (8 bytes a bigram).
Blocks are joined into segments of 64 MiB as they come and the segments into one array at the end, so
the peak is about the statistics themselves plus one segment: 1.1 GiB for a million passages, against
2.8 GiB for the lists (``bench/features_fit.py``). Without ``per_document`` only the vocabulary, document
frequencies and lengths are kept, and a :class:`DocumentStore` computes a document's arrays the first
time it is asked for.

Terms are numbered in order of first appearance over all titles, then all bodies; the vocabulary, and
with it every array, is the same as tokenising the corpus at once gives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from distillrank.retrieval._bm25_build import Tokenizer, doc_term_counts, flatten

if TYPE_CHECKING:
    from distillrank.retrieval.bm25 import BM25Config

__all__ = [
    "BLOCK_DOCS",
    "CorpusStats",
    "DocumentArrays",
    "DocumentStore",
    "corpus_stats",
    "document_arrays",
    "expand_ranges",
    "range_starts",
]

BLOCK_DOCS = 8192
_LOW = np.int64(0xFFFFFFFF)
_SEGMENT_BYTES = 64 << 20  # above glibc's largest mmap threshold (32 MiB): returned to the OS when freed


@dataclass
class DocumentArrays:
    """Per-document arrays of ``n`` documents over a vocabulary of ``n_terms`` stems.

    Attributes:
        tf_title, tf_body: term counts, CSR ``[n, n_terms]`` with float32 counts, sorted indices.
        bigram_ptr, bigrams: document ``i``'s sorted distinct codes ``a * n_terms + b`` of adjacent terms
            ``(a, b)`` of title followed by body are ``bigrams[bigram_ptr[i]:bigram_ptr[i + 1]]``.
    """

    tf_title: sp.csr_matrix
    tf_body: sp.csr_matrix
    bigram_ptr: np.ndarray
    bigrams: np.ndarray


@dataclass
class CorpusStats:
    """Term statistics of a corpus of ``n_docs`` documents over a vocabulary of ``n_terms`` stems.

    Attributes:
        vocab: stem -> term id (``0..n_terms-1``).
        n_terms: ``max(len(vocab), 1)``.
        df: documents containing each term in the title or body, float64 ``[n_terms]``.
        title_len, doc_len: analysed terms of the title and of title + body, float64 ``[n_docs]``.
        documents: every document's :class:`DocumentArrays` (``None`` when not asked for).
    """

    vocab: dict[str, int]
    n_terms: int
    df: np.ndarray
    title_len: np.ndarray
    doc_len: np.ndarray
    documents: DocumentArrays | None


class DocumentStore:
    """The :class:`DocumentArrays` of every document (``slot is None``: row ``i`` is document ``i``), or
    of the documents asked for so far, computed on demand: ``slot[i]`` is document ``i``'s row, ``-1``
    until it is first asked for. Shared by the extractors that share one fit.

    Adding documents copies the arrays held so far: cheap for a job's few large batches of candidates,
    linear in the store per call for a serving loop that keeps meeting new documents (fit with every
    document's arrays for that)."""

    def __init__(self, arrays: DocumentArrays, slot: np.ndarray | None = None) -> None:
        self.arrays, self.slot = arrays, slot

    @classmethod
    def on_demand(cls, n_docs: int, n_terms: int) -> DocumentStore:
        empty = sp.csr_matrix((0, n_terms), dtype=np.float32)
        arrays = DocumentArrays(empty, empty.copy(), np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64))
        return cls(arrays, np.full(n_docs, -1, dtype=np.int64))

    @property
    def stored(self) -> int:
        """Documents whose arrays are held."""
        return self.arrays.tf_body.shape[0]

    def rows(
        self,
        docs: np.ndarray,
        fetch: Callable[[np.ndarray], tuple[list[str], list[str]]],
        tokenizer: Tokenizer,
    ) -> np.ndarray:
        """The rows of the documents ``docs`` (sorted distinct document numbers), computing the missing
        ones from the ``(titles, texts)`` that ``fetch(missing)`` returns, tokenised by ``tokenizer``."""
        if self.slot is None:
            return docs
        missing = docs[self.slot[docs] < 0]
        if len(missing):
            titles, texts = fetch(missing)
            new = document_arrays(titles, texts, tokenizer, self.arrays.tf_body.shape[1])
            old = self.arrays
            self.arrays = DocumentArrays(
                sp.vstack([old.tf_title, new.tf_title], format="csr"),
                sp.vstack([old.tf_body, new.tf_body], format="csr"),
                np.concatenate([old.bigram_ptr, old.bigram_ptr[-1] + new.bigram_ptr[1:]]),
                np.concatenate([old.bigrams, new.bigrams]),
            )
            self.slot[missing] = np.arange(old.tf_body.shape[0], self.stored)
        return self.slot[docs]


def document_arrays(
    titles: Sequence[str], texts: Sequence[str], tokenizer: Tokenizer, n_terms: int
) -> DocumentArrays:
    """:class:`DocumentArrays` of some documents of a fitted corpus (``tokenizer`` numbers their terms
    with the fit's vocabulary; every stem of a fitted document is in it)."""
    m = len(titles)
    t_len, t_flat = flatten([tokenizer.ids(t) for t in titles])
    b_len, b_flat = flatten([tokenizer.ids(t) for t in texts])
    cols = _columns()
    _add_block(cols, t_flat, t_len, b_flat, b_len)
    return _finish(cols, m, n_terms)


def corpus_stats(
    titles: Sequence[str],
    texts: Sequence[str],
    config: BM25Config,
    *,
    per_document: bool = True,
    block_docs: int = BLOCK_DOCS,
) -> CorpusStats:
    """Tokenise ``titles`` and ``texts`` (parallel) with ``config``'s analysis; count (module docstring).
    Without ``per_document`` only the vocabulary, document frequencies and lengths are kept."""
    n = len(titles)
    if len(texts) != n:
        raise ValueError(f"corpus_stats: {n} titles but {len(texts)} texts")
    tokenizer = Tokenizer.of(config)
    # pass 1: titles, kept as one flat int32 array (titles are short) so that terms number as before
    title_flat, t_len = _Column(np.int32), _Column(np.int64)
    for s in range(0, n, block_docs):
        lens, flat = flatten([tokenizer.ids(t) for t in titles[s : s + block_docs]], np.int32)
        title_flat.add(flat)
        t_len.add(lens)
    titles_ids, title_len = title_flat.join(), t_len.join()
    t_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(title_len, out=t_ptr[1:])

    # pass 2: bodies, block by block, with the block's titles
    df = np.zeros(max(len(tokenizer.vocab), 1), dtype=np.int64)
    body_len = _Column(np.int64)
    cols = _columns()
    for s in range(0, n, block_docs):
        e = min(s + block_docs, n)
        b_len, b_flat = flatten([tokenizer.ids(t) for t in texts[s:e]])
        tb_flat = titles_ids[t_ptr[s] : t_ptr[e]].astype(np.int64)
        if len(df) < len(tokenizer.vocab):
            df = np.concatenate([df, np.zeros(len(tokenizer.vocab) - len(df), dtype=np.int64)])
        title_counts, body_counts = doc_term_counts(tb_flat, title_len[s:e]), doc_term_counts(b_flat, b_len)
        both = np.concatenate([title_counts[0], body_counts[0]])
        df += np.bincount(_sorted_unique(both) & _LOW, minlength=len(df))
        body_len.add(b_len)
        if per_document:
            _add_block(cols, tb_flat, title_len[s:e], b_flat, b_len, (title_counts, body_counts))
    del titles_ids

    n_terms = max(len(tokenizer.vocab), 1)
    df = np.concatenate([df, np.zeros(n_terms - len(df), dtype=np.int64)]).astype(np.float64)
    lengths = title_len + body_len.join()
    return CorpusStats(
        vocab=tokenizer.vocab,
        n_terms=n_terms,
        df=df,
        title_len=title_len.astype(np.float64),
        doc_len=lengths.astype(np.float64),
        documents=_finish(cols, n, n_terms) if per_document else None,
    )


def _columns() -> dict[str, _Column]:
    return {
        name: _Column(dtype)
        for name, dtype in (
            ("title_nnz", np.int64),
            ("title_terms", np.int32),
            ("title_tf", np.float32),
            ("body_nnz", np.int64),
            ("body_terms", np.int32),
            ("body_tf", np.float32),
            ("bigrams", np.int64),
            ("bigram_nnz", np.int64),
        )
    }


def _add_block(
    cols: dict[str, _Column],
    t_flat: np.ndarray,
    t_len: np.ndarray,
    b_flat: np.ndarray,
    b_len: np.ndarray,
    counts: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
) -> None:
    """One block's per-field counts (``counts``: :func:`_counts` of the titles and bodies, when already
    made) and bigram codes (``a << 32 | b``) onto ``cols``."""
    m = len(t_len)
    if counts is None:
        counts = (doc_term_counts(t_flat, t_len), doc_term_counts(b_flat, b_len))
    for part, (keys, tf) in zip(("title", "body"), counts, strict=True):
        cols[f"{part}_nnz"].add(np.bincount(keys >> 32, minlength=m))
        cols[f"{part}_terms"].add(keys & _LOW)
        cols[f"{part}_tf"].add(tf)
    codes, per_doc = _bigrams(t_flat, t_len, b_flat, b_len)
    cols["bigrams"].add(codes)
    cols["bigram_nnz"].add(per_doc)


def _finish(cols: dict[str, _Column], n: int, n_terms: int) -> DocumentArrays:
    """The blocks of ``cols`` as :class:`DocumentArrays` of ``n`` documents (the columns are emptied)."""
    tf_title = _csr(cols["title_nnz"], cols["title_terms"], cols["title_tf"], n, n_terms)
    tf_body = _csr(cols["body_nnz"], cols["body_terms"], cols["body_tf"], n, n_terms)
    bigram_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(cols["bigram_nnz"].join(), out=bigram_ptr[1:])
    bigrams = cols["bigrams"].join()
    step = 1 << 22  # re-code a * 2^32 + b as a * n_terms + b in place (the order is unchanged)
    for s in range(0, len(bigrams), step):
        chunk = bigrams[s : s + step]
        chunk[:] = (chunk >> 32) * n_terms + (chunk & _LOW)
    return DocumentArrays(tf_title, tf_body, bigram_ptr, bigrams)


class _Column:
    """An array grown a block at a time. Blocks are joined into segments of :data:`_SEGMENT_BYTES` as
    they come (whose freed memory the next blocks reuse) and the segments into one array at the end, so
    the process holds about one array's worth, not blocks left scattered over the heap."""

    def __init__(self, dtype: type) -> None:
        self.dtype = dtype
        self._blocks: list[np.ndarray] = []
        self._pending = 0
        self._segments: list[np.ndarray] = []

    def add(self, block: np.ndarray) -> None:
        self._blocks.append(block.astype(self.dtype, copy=False))
        self._pending += block.size * np.dtype(self.dtype).itemsize
        if self._pending >= _SEGMENT_BYTES:
            self._segments.append(_join(self._blocks, self.dtype))
            self._pending = 0

    def join(self) -> np.ndarray:
        """All blocks in order as one array (the column is emptied)."""
        if self._blocks:
            self._segments.append(_join(self._blocks, self.dtype))
        self._pending = 0
        return _join(self._segments, self.dtype)


def _bigrams(
    t_flat: np.ndarray, t_len: np.ndarray, b_flat: np.ndarray, b_len: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each document's sorted distinct ``a << 32 | b`` codes of adjacent terms of title + body, and how
    many each document has."""
    m = len(t_len)
    c_len = t_len + b_len
    c_start = range_starts(c_len)
    seq = np.empty(int(c_len.sum()), dtype=np.int64)
    for flat, lens, offset in ((t_flat, t_len, c_start), (b_flat, b_len, c_start + t_len)):
        seq[expand_ranges(offset, lens)[1]] = flat
    row = np.repeat(np.arange(m, dtype=np.int64), c_len)
    same = row[:-1] == row[1:]
    a, b, rows = seq[:-1][same], seq[1:][same], row[:-1][same]
    vocab = int(seq.max()) + 1 if len(seq) else 1
    if m <= 1 << 13 and vocab <= 1 << 25:  # (row, a * vocab + b) packs into 63 bits: one plain sort
        key = np.sort((rows << 50) | (a * vocab + b))
        keep = np.ones(len(key), dtype=bool)
        keep[1:] = key[1:] != key[:-1]
        key = key[keep]
        pair, rows = key & ((1 << 50) - 1), key >> 50
        codes = ((pair // vocab) << 32) | (pair % vocab)
    else:
        codes = (a << 32) | b
        order = np.lexsort((codes, rows))
        codes, rows = codes[order], rows[order]
        keep = np.ones(len(codes), dtype=bool)
        keep[1:] = (codes[1:] != codes[:-1]) | (rows[1:] != rows[:-1])
        codes, rows = codes[keep], rows[keep]
    return codes, np.bincount(rows, minlength=m).astype(np.int64)


def range_starts(lengths: np.ndarray) -> np.ndarray:
    """Where each of consecutive runs of ``lengths`` starts (an exclusive cumulative sum, int64)."""
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return starts


def expand_ranges(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ranges ``[starts[i], starts[i] + lengths[i])``: each position's range ``i`` and the position."""
    owner = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    offsets = range_starts(lengths)
    return owner, np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    """``np.unique(x)`` by sorting (numpy 2's hash-based ``unique`` is several times slower here)."""
    x = np.sort(x, kind="stable")  # two sorted runs: merged in linear time
    keep = np.ones(len(x), dtype=bool)
    keep[1:] = x[1:] != x[:-1]
    return x[keep]


def _join(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    """``np.concatenate(parts)``, emptying ``parts`` as it goes (at most one extra block is alive)."""
    out: np.ndarray = np.empty(sum(len(p) for p in parts), dtype=dtype)
    at = 0
    parts.reverse()
    while parts:
        p = parts.pop()
        out[at : at + len(p)] = p
        at += len(p)
    return out


def _csr(nnz: _Column, terms: _Column, counts: _Column, n_docs: int, n_terms: int) -> sp.csr_matrix:
    """The per-document ``(term, count)`` pairs as one CSR matrix (the columns are emptied)."""
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(nnz.join(), out=indptr[1:])
    indices, data = terms.join(), counts.join()
    if indptr[-1] <= np.iinfo(np.int32).max:
        indptr = indptr.astype(np.int32)
    else:
        indices = indices.astype(np.int64)
    return sp.csr_matrix((data, indices, indptr), shape=(n_docs, n_terms))
