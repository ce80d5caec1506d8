"""Build a bm25s index from a stream of texts, in a fraction of bm25s's memory, with bm25s's exact scores.

``bm25s.tokenize`` keeps every document's tokens as a Python list of ints until the index is built (about
36 bytes a token), and ``bm25s.BM25.index`` then counts them one document at a time: about 3.5 GiB and
67 s for a million 75-word passages, so MS MARCO's 8.8M passages do not fit in 24 GiB. Here documents are
tokenised a block at a time; each block is reduced at once to its ``(document, term, tf)`` triples in
numpy arrays (8 bytes a pair), and the triples are scattered into the compressed-sparse-column score
matrix bm25s searches (8 bytes a pair, written in place while the blocks are released). The peak is about
the index itself plus one copy of the triples.

The result is an ordinary ``bm25s.BM25`` (``save``, ``load``, ``retrieve`` work as usual) whose score
matrix equals, entry for entry and bit for bit, the one ``bm25s.tokenize`` + ``bm25s.BM25.index`` build
from the same texts (only the numbering of terms differs: bm25s numbers stems in set order, which changes
between Python processes; here they are numbered in order of first appearance). To get the same bits the
per-entry arithmetic is bm25s's own functions (``bm25s.scoring``) applied to arrays, whose operations
and float types are those of its per-document loop:

    score(d, t) = float32( idf(t) * tfc(tf(t, d), |d|, avgdl) [- nonoccurrence(t)] )

with ``tf`` in float32, ``|d|/avgdl`` and the product in float64, and ``avgdl`` the float64 mean of the
int64 document lengths; ``nonoccurrence`` only for ``bm25l`` and ``bm25+``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from itertools import chain, islice
from typing import TYPE_CHECKING, Any

import bm25s
import numpy as np
import Stemmer
from bm25s.scoring import _build_idf_array, _build_nonoccurrence_array, _select_idf_scorer, _select_tfc_scorer

if TYPE_CHECKING:
    from distillrank.retrieval.bm25 import BM25Config

__all__ = ["Tokenizer", "build_index", "doc_term_counts", "flatten"]

TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # bm25s's (and scikit-learn's) default
_BLOCK_DOCS = 8192  # documents tokenised and reduced to triples at a time
_WORD_CACHE_LIMIT = (
    2_000_000  # words a tokeniser remembers before its cache is cleared (the vocabulary stays)
)


class Tokenizer:
    """Term ids of texts, as ``bm25s.tokenize`` and an index vocabulary give them.

    Lower-cases (if asked), splits with :data:`TOKEN_PATTERN`, drops stop words, stems what is left;
    each distinct word is stop-listed, stemmed and looked up once, later occurrences cost a dict lookup.
    With ``grow`` (building an index) a new stem gets the next id of ``vocab``; without (queries against
    a built index) a stem missing from ``vocab``, or whose id is ``>= n_terms`` (bm25s's ``""``
    placeholder, which has no postings), is dropped like a stop word.
    """

    def __init__(
        self,
        *,
        lowercase: bool,
        stopwords: Sequence[str],
        stemmer: str | None,
        vocab: dict[str, int] | None = None,
        grow: bool = True,
        n_terms: int | None = None,
    ) -> None:
        self.lowercase, self.grow, self.n_terms = lowercase, grow, n_terms
        self.vocab: dict[str, int] = {} if vocab is None else vocab
        self._split = re.compile(TOKEN_PATTERN).findall
        self._stop = frozenset(stopwords)
        self._stem = Stemmer.Stemmer(stemmer).stemWord if stemmer else None
        self._cache: dict[str, tuple[int, ...]] = {}  # word -> () (dropped) or (term id,)

    @classmethod
    def of(cls, config: BM25Config, **kwargs: Any) -> Tokenizer:
        """The tokeniser of ``config``'s lower-casing, stop words and stemmer."""
        return cls(
            lowercase=config.lowercase, stopwords=config.stopword_list(), stemmer=config.stemmer, **kwargs
        )

    def _fill(self, words: list[str]) -> None:
        if len(self._cache) + len(words) > _WORD_CACHE_LIMIT:
            self._cache.clear()
        vocab = self.vocab
        for word in words:
            if word in self._cache:
                continue
            if word in self._stop:
                self._cache[word] = ()
                continue
            term = self._stem(word) if self._stem is not None else word
            tid = vocab.get(term)
            if tid is None and self.grow:
                tid = vocab[term] = len(vocab)
            if tid is None or (self.n_terms is not None and tid >= self.n_terms):
                self._cache[word] = ()
            else:
                self._cache[word] = (tid,)

    def ids(self, text: str) -> list[int]:
        """Term ids of ``text``'s tokens, in order, repeats kept."""
        words = self._split(text.lower() if self.lowercase else text)
        try:
            return list(chain.from_iterable(map(self._cache.__getitem__, words)))
        except KeyError:
            self._fill(words)
            return list(chain.from_iterable(map(self._cache.__getitem__, words)))


def flatten(ids: Sequence[list[int]], dtype: type = np.int64) -> tuple[np.ndarray, np.ndarray]:
    """The lengths (int64) of the id lists ``ids`` and all their ids in order, as numpy arrays."""
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    return lengths, np.fromiter(chain.from_iterable(ids), dtype=dtype, count=int(lengths.sum()))


def doc_term_counts(flat: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct keys ``document << 32 | term`` of a block's flat int64 terms (document ``i`` has
    ``lengths[i]`` of them) and how often each occurs."""
    doc = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    return np.unique((doc << 32) | flat, return_counts=True)


def _block_triples(docs: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One block's document lengths, distinct terms per document, and their terms and counts.

    Returns ``(lengths int64 [m], nnz int64 [m], terms int32 [sum nnz], tf float32 [sum nnz])``, the
    pairs grouped by document in block order.
    """
    lengths, flat = flatten(docs)
    pairs, counts = doc_term_counts(flat, lengths)
    nnz = np.bincount(pairs >> 32, minlength=len(docs)).astype(np.int64)
    return lengths, nnz, (pairs & 0xFFFFFFFF).astype(np.int32), counts.astype(np.float32)


def build_index(
    texts: Iterable[str], n_docs: int, config: BM25Config, *, show_progress: bool = False
) -> bm25s.BM25 | None:
    """A ``bm25s.BM25`` over ``texts`` (``n_docs`` of them) with ``config``'s tokeniser and scoring.

    Returns ``None`` when no text has an indexable token. The vocabulary (``index.vocab_dict``) maps
    stems to term ids ``0..n_terms-1`` (``n_terms = len(index.scores["indptr"]) - 1``) and, as bm25s's
    own index does, the empty string to ``n_terms`` (a term with no postings).
    """
    tokenizer = Tokenizer.of(config)
    blocks: list[Any] = []
    it = iter(texts)
    bar = _bar(n_docs, show_progress, "BM25 tokenise", "doc")
    seen = 0
    while batch := list(islice(it, _BLOCK_DOCS)):
        blocks.append(_block_triples([tokenizer.ids(t) for t in batch]))
        seen += len(batch)
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    if seen != n_docs:
        raise ValueError(f"build_index: expected {n_docs} texts, got {seen}")
    n_terms = len(tokenizer.vocab)
    if n_terms == 0:
        return None

    df = np.zeros(n_terms, dtype=np.int64)
    for _, _, terms, _ in blocks:
        df += np.bincount(terms, minlength=n_terms)
    lengths = np.concatenate([b[0] for b in blocks])
    avg_doc_len = lengths.mean()  # as bm25s: the float64 mean of an int64 array
    doc_freqs = dict(enumerate(df.tolist()))
    idf_fn = _select_idf_scorer(config.method)
    idf = _build_idf_array(doc_freqs, n_docs, compute_idf_fn=idf_fn, dtype="float32")
    nonoccurrence = None
    if config.method in ("bm25l", "bm25+"):
        nonoccurrence = _build_nonoccurrence_array(
            doc_freqs,
            n_docs,
            compute_idf_fn=idf_fn,
            calculate_tfc_fn=_select_tfc_scorer(config.method),
            l_d=avg_doc_len,
            l_avg=avg_doc_len,
            k1=config.k1,
            b=config.b,
            delta=config.delta,
            dtype="float32",
        )
    tfc_fn = _select_tfc_scorer(config.method)

    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    heads = indptr[:-1].copy()  # next free slot of each column
    data = np.empty(int(indptr[-1]), dtype=np.float32)
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    first_doc = 0
    bar = _bar(len(blocks), show_progress, "BM25 index", "block")
    for i, (block_lengths, nnz, terms, tf) in enumerate(blocks):
        blocks[i] = None  # released as soon as it is scattered
        doc_len = np.repeat(block_lengths, nnz)
        tfc = tfc_fn(
            tf_array=tf, l_d=doc_len, l_avg=avg_doc_len, k1=config.k1, b=config.b, delta=config.delta
        )
        scores = idf[terms] * tfc
        if nonoccurrence is not None:
            scores -= nonoccurrence[terms]
        rows = np.repeat(np.arange(first_doc, first_doc + len(block_lengths), dtype=np.int32), nnz)
        first_doc += len(block_lengths)
        # Stable sort by term keeps rows increasing within a column, as a CSC matrix wants them.
        order = np.argsort(terms, kind="stable")
        sorted_terms = terms[order]
        present, first, count = np.unique(sorted_terms, return_index=True, return_counts=True)
        slots = heads[sorted_terms] + (np.arange(len(order)) - np.repeat(first, count))
        data[slots] = scores[order]
        indices[slots] = rows[order]
        heads[present] += count
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()

    index = bm25s.BM25(
        k1=config.k1, b=config.b, delta=config.delta, method=config.method, backend=config.backend
    )
    index.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": n_docs}
    vocab = tokenizer.vocab
    vocab[""] = n_terms  # bm25s's placeholder for queries with no known token
    index.vocab_dict = vocab
    index.unique_token_ids_set = set(vocab.values())
    index.nonoccurrence_array = nonoccurrence
    return index


def _bar(total: int, enabled: bool, desc: str, unit: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit)
