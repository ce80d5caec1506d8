"""BM25Retriever against peer implementations: raw bm25s (equal scores) and rank_bm25 (same ranking).

bm25s's ``robertson`` method and rank_bm25's ``BM25Okapi`` share the Robertson idf
``log((N - df + 0.5) / (df + 0.5))`` and the tf part, except that

* rank_bm25 multiplies the tf part by ``k1 + 1`` (a constant factor: rankings are unchanged), and
* for terms in more than half of the documents (negative idf) bm25s clips the idf to 0 while rank_bm25
  replaces it with ``0.25 * mean idf``.

So on queries whose terms all occur in fewer than half of the documents, rank_bm25's scores are exactly
``k1 + 1`` times ours; on the others only the top document is compared.
"""

from __future__ import annotations

import bm25s
import numpy as np
import pytest
import Stemmer
from rank_bm25 import BM25Okapi

from distillrank.data.collection import Corpus, Queries, TextCollection
from distillrank.retrieval import BM25_METHODS, BM25Retriever

K1, B = 1.2, 0.75


def raw_bm25s(texts: list[str], method: str) -> bm25s.BM25:
    """An index built by bm25s alone, the way its README does it.

    With bm25s's numba backend, as BM25Retriever uses: for ``bm25l`` and ``bm25+`` bm25s's numpy backend
    sums the non-occurrence scores in float32 and its numba backend does not, so they differ in the last bit.
    """
    tokens = bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), show_progress=False)
    raw = bm25s.BM25(k1=K1, b=B, method=method, backend="numba")
    raw.index(tokens, show_progress=False)
    return raw


def raw_query_tokens(texts: list[str]) -> list[list[str]]:
    stemmer = Stemmer.Stemmer("english")
    return bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)


def assert_same_as_bm25s(corpus: Corpus, queries: Queries, method: str, k: int) -> None:
    ours = BM25Retriever(method=method, k1=K1, b=B)
    ours.index(corpus)
    raw = raw_bm25s(corpus.full_texts(), method)
    texts = list(queries.values())
    qtokens = raw_query_tokens(texts)
    for text, tokens in zip(texts, qtokens, strict=True):
        known = [t for t in tokens if t in raw.vocab_dict]
        expected = raw.get_scores(known) if known else np.zeros(len(corpus), dtype=np.float32)
        np.testing.assert_array_equal(ours.score(text), expected)  # bit-identical
    # top-k lists: identical scores, and identical documents except where scores tie at the cut
    k = min(k, len(corpus))
    ids, scores = ours.retrieve_arrays(ours.tokenize_queries(texts), k)
    result = raw.retrieve(qtokens, k=k, n_threads=1, show_progress=False)
    np.testing.assert_array_equal(scores, result.scores)
    for mine, theirs, s in zip(ids, result.documents, scores, strict=True):
        at_cut = {int(d) for d, v in zip(mine, s, strict=True) if v == s[-1]}
        assert set(mine.tolist()) - set(theirs.tolist()) <= at_cut


@pytest.mark.parametrize("method", BM25_METHODS)
def test_tiny_corpus_equals_raw_bm25s(tiny_corpus: Corpus, method: str) -> None:
    queries = Queries({"a": "cat", "b": "black hole garden cats", "c": "dog videos", "d": "bird song bird"})
    assert_same_as_bm25s(tiny_corpus, queries, method, k=4)


def _sample(scifact: TextCollection, n_docs: int = 1000, n_queries: int = 100) -> tuple[Corpus, Queries]:
    c = scifact.corpus
    corpus = Corpus(c.docnos[:n_docs], c.titles[:n_docs], c.texts[:n_docs])
    queries = scifact.queries_for("test")
    return corpus, queries.subset(list(queries)[:n_queries])


@pytest.mark.data
@pytest.mark.parametrize("method", ["lucene", "robertson", "bm25+"])
def test_scifact_sample_equals_raw_bm25s(scifact: TextCollection, method: str) -> None:
    corpus, queries = _sample(scifact)
    assert_same_as_bm25s(corpus, queries, method, k=100)


@pytest.mark.data
def test_scifact_sample_agrees_with_rank_bm25(scifact: TextCollection) -> None:
    corpus, queries = _sample(scifact)
    ours = BM25Retriever(method="robertson", k1=K1, b=B)
    ours.index(corpus)
    doc_tokens = raw_query_tokens(corpus.full_texts())  # the same tokeniser, as strings
    okapi = BM25Okapi(doc_tokens, k1=K1, b=B)
    df: dict[str, int] = {}
    for tokens in doc_tokens:
        for t in set(tokens):
            df[t] = df.get(t, 0) + 1
    n = len(corpus)
    exact = top1 = 0
    texts = list(queries.values())
    for text, tokens in zip(texts, raw_query_tokens(texts), strict=True):
        theirs = okapi.get_scores(tokens)
        mine = ours.score(text).astype(np.float64)
        if all(df.get(t, 0) < n / 2 for t in tokens):
            np.testing.assert_allclose(theirs / (K1 + 1), mine, rtol=1e-5, atol=1e-6)
            exact += 1
        # the top document by our score is a top document for rank_bm25 too (robust to ties)
        top1 += bool(theirs[int(np.argmax(mine))] == pytest.approx(theirs.max(), rel=1e-6))
    # "we" and "cell" are in over half of these 1,000 abstracts: 22 of the 100 queries hold one of them
    assert exact >= 0.7 * len(texts)
    assert top1 >= 0.95 * len(texts)
