"""Block-wise corpus statistics: identical to tokenising the whole corpus at once, for any block size."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from distillrank.distillation._feature_stats import DocumentStore, _bigrams, corpus_stats
from distillrank.distillation.features import _Analyzer
from distillrank.retrieval._bm25_build import Tokenizer
from distillrank.retrieval.bm25 import BM25Config

WORDS = [
    "cat",
    "cats",
    "dog",
    "the",
    "and",
    "of",
    "neural",
    "ranking",
    "ranked",
    "search",
    "é",
    "naïve",
    "x1",
]


def _random_corpus(seed: int, n: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)

    def text(max_len: int) -> str:
        return " ".join(rng.choice(WORDS, size=int(rng.integers(0, max_len + 1))).tolist())

    titles = [text(4) if rng.random() < 0.6 else "" for _ in range(n)]
    texts = [text(30) for _ in range(n)]
    texts[0] = "the and of"  # stop words only
    if n > 2:
        texts[2] = ""
    return titles, texts


def _reference(titles: list[str], texts: list[str], config: BM25Config) -> dict[str, object]:
    """All titles, then all bodies, tokenised at once into Python lists (the pre-block implementation)."""
    analyzer = _Analyzer(config)
    t_ids = [analyzer.ids(t, grow=True) for t in titles]
    b_ids = [analyzer.ids(t, grow=True) for t in texts]
    n_terms = max(len(analyzer.vocab), 1)

    def dense(ids: list[list[int]]) -> np.ndarray:
        m = np.zeros((len(ids), n_terms))
        for i, row in enumerate(ids):
            for t in row:
                m[i, t] += 1
        return m

    title, body = dense(t_ids), dense(b_ids)
    codes = [
        sorted({a * n_terms + b for a, b in itertools.pairwise(t + x)})
        for t, x in zip(t_ids, b_ids, strict=True)
    ]
    return {
        "vocab": dict(analyzer.vocab),
        "df": ((title + body) > 0).sum(axis=0).astype(float),
        "title_len": title.sum(axis=1),
        "doc_len": (title + body).sum(axis=1),
        "tf_title": title,
        "tf_body": body,
        "bigram_ptr": np.concatenate([[0], np.cumsum([len(c) for c in codes])]),
        "bigrams": np.asarray([c for row in codes for c in row], dtype=np.int64),
    }


@pytest.mark.parametrize("block_docs", [1, 3, 64, 8192])
@pytest.mark.parametrize("seed", [0, 1])
def test_same_as_whole_corpus_tokenisation(block_docs: int, seed: int) -> None:
    titles, texts = _random_corpus(seed, 150)
    config = BM25Config()
    got = corpus_stats(titles, texts, config, block_docs=block_docs)
    want = _reference(titles, texts, config)
    assert got.vocab == want["vocab"] and got.n_terms == len(want["vocab"])
    for name in ("df", "title_len", "doc_len"):
        np.testing.assert_array_equal(getattr(got, name), want[name], err_msg=name)
    assert got.documents is not None
    for name in ("bigram_ptr", "bigrams"):
        np.testing.assert_array_equal(getattr(got.documents, name), want[name], err_msg=name)
    for name in ("tf_title", "tf_body"):
        m = getattr(got.documents, name)
        assert m.has_sorted_indices and m.data.dtype == np.float32 and (m.data > 0).all()
        np.testing.assert_array_equal(m.toarray(), want[name], err_msg=name)


def test_options_and_degenerate_corpora() -> None:
    config = BM25Config(stemmer=None, stopwords=None, lowercase=False)
    titles, texts = _random_corpus(3, 40)
    got = corpus_stats(titles, texts, config, block_docs=7)
    want = _reference(titles, texts, config)
    assert got.vocab == want["vocab"] and got.documents is not None
    np.testing.assert_array_equal(got.documents.bigrams, want["bigrams"])
    empty = corpus_stats(["", "the"], ["of and", ""], BM25Config())  # no indexable term at all
    assert empty.n_terms == 1 and empty.documents is not None
    assert empty.documents.tf_body.nnz == 0 and len(empty.documents.bigrams) == 0
    assert empty.doc_len.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="2 titles but 1 texts"):
        corpus_stats(["a", "b"], ["c"], BM25Config())


def test_without_documents_and_on_demand_arrays() -> None:
    titles, texts = _random_corpus(4, 60)
    full = corpus_stats(titles, texts, BM25Config(), block_docs=16)
    light = corpus_stats(titles, texts, BM25Config(), per_document=False, block_docs=16)
    assert light.documents is None and light.vocab == full.vocab
    for name in ("df", "title_len", "doc_len"):
        np.testing.assert_array_equal(getattr(light, name), getattr(full, name))
    assert full.documents is not None
    store = DocumentStore.on_demand(60, light.n_terms)
    tokenizer = Tokenizer.of(BM25Config(), vocab=light.vocab, grow=False)

    def fetch(docs: np.ndarray) -> tuple[list[str], list[str]]:
        fetched.append(docs.tolist())
        return [titles[i] for i in docs], [texts[i] for i in docs]

    fetched: list[list[int]] = []
    for ask in ([5, 9, 40], [1, 9, 59], [5, 40]):
        docs = np.asarray(ask)
        rows = store.rows(docs, fetch, tokenizer)
        a, b = store.arrays, full.documents
        np.testing.assert_array_equal(a.tf_title[rows].toarray(), b.tf_title[docs].toarray())
        np.testing.assert_array_equal(a.tf_body[rows].toarray(), b.tf_body[docs].toarray())
        for r, d in zip(rows, docs, strict=True):
            got = a.bigrams[a.bigram_ptr[r] : a.bigram_ptr[r + 1]]
            np.testing.assert_array_equal(got, b.bigrams[b.bigram_ptr[d] : b.bigram_ptr[d + 1]])
    assert fetched == [[5, 9, 40], [1, 59]] and store.stored == 5  # each document tokenised once


@pytest.mark.parametrize("high", [50, 1 << 27])  # the packed single sort, and the two-key sort
def test_bigram_codes_both_paths(high: int) -> None:
    rng = np.random.default_rng(high)
    t_len = rng.integers(0, 3, size=200)
    b_len = rng.integers(0, 12, size=200)
    t_flat = rng.integers(0, high, size=int(t_len.sum()))
    b_flat = rng.integers(0, high, size=int(b_len.sum()))
    codes, per_doc = _bigrams(t_flat, t_len, b_flat, b_len)
    want: list[int] = []
    t_at = b_at = 0
    for i in range(200):
        seq = [*t_flat[t_at : t_at + t_len[i]], *b_flat[b_at : b_at + b_len[i]]]
        t_at, b_at = t_at + t_len[i], b_at + b_len[i]
        row = sorted({(int(a) << 32) | int(b) for a, b in itertools.pairwise(seq)})
        assert per_doc[i] == len(row)
        want.extend(row)
    np.testing.assert_array_equal(codes, want)
