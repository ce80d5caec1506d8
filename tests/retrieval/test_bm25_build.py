"""The block-wise BM25 index builder against bm25s's ``tokenize`` + ``BM25.index``: same matrix, same bits."""

from __future__ import annotations

import bm25s
import numpy as np
import pytest
import Stemmer

from distillrank.data.collection import Corpus, TextCollection
from distillrank.retrieval import BM25_METHODS, BM25Retriever
from distillrank.retrieval import _bm25_build as build
from distillrank.retrieval.bm25 import BM25Config


def entries(index: bm25s.BM25) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The score matrix as (term string, document row, score) triples, sorted by term then row."""
    s = index.scores
    n_terms = len(s["indptr"]) - 1
    name_of = {i: t for t, i in index.vocab_dict.items() if i < n_terms}
    names = np.array([name_of[i] for i in range(n_terms)], dtype=str)
    terms = names[np.repeat(np.arange(n_terms), np.diff(s["indptr"]))]
    order = np.lexsort((s["indices"], terms))
    return terms[order], np.asarray(s["indices"])[order], np.asarray(s["data"])[order]


def raw_index(texts: list[str], config: BM25Config) -> bm25s.BM25:
    tokens = bm25s.tokenize(
        texts,
        lower=config.lowercase,
        stopwords=config.stopword_list(),
        stemmer=Stemmer.Stemmer(config.stemmer) if config.stemmer else None,
        show_progress=False,
    )
    raw = bm25s.BM25(k1=config.k1, b=config.b, delta=config.delta, method=config.method, backend="numba")
    raw.index(tokens, show_progress=False)
    return raw


def assert_same_index(texts: list[str], config: BM25Config) -> None:
    ours = build.build_index(iter(texts), len(texts), config)
    assert ours is not None
    n_terms = len(ours.scores["indptr"]) - 1
    raw = raw_index(texts, config)
    assert n_terms == len(raw.vocab_dict) - 1  # bm25s adds "" after the stems, as we do
    assert ours.vocab_dict[""] == n_terms and raw.vocab_dict[""] == n_terms
    assert ours.scores["num_docs"] == raw.scores["num_docs"] == len(texts)
    for mine, theirs in zip(entries(ours), entries(raw), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert ours.scores["data"].dtype == raw.scores["data"].dtype == np.float32
    assert ours.scores["indices"].dtype == raw.scores["indices"].dtype
    if raw.nonoccurrence_array is None:
        assert ours.nonoccurrence_array is None
    else:
        stems = [t for t in raw.vocab_dict if t]
        np.testing.assert_array_equal(
            ours.nonoccurrence_array[[ours.vocab_dict[t] for t in stems]],
            raw.nonoccurrence_array[[raw.vocab_dict[t] for t in stems]],
        )


@pytest.mark.parametrize("method", BM25_METHODS)
def test_tiny_corpus_matrix_equals_bm25s(tiny_corpus: Corpus, method: str) -> None:
    assert_same_index(tiny_corpus.full_texts(), BM25Config(method=method))


@pytest.mark.parametrize(
    "options",
    [
        {"stemmer": None, "stopwords": None},
        {"lowercase": False},
        {"stopwords": ("cat", "the")},
        {"k1": 0.9, "b": 0.4},
    ],
)
def test_tokeniser_and_parameter_options(tiny_corpus: Corpus, options: dict[str, object]) -> None:
    assert_same_index([*tiny_corpus.full_texts(), "Cats, THE cat; the Cat!"], BM25Config(**options))  # type: ignore[arg-type]


@pytest.mark.data
def test_many_small_blocks_and_a_cleared_word_cache(
    monkeypatch: pytest.MonkeyPatch, scifact: TextCollection
) -> None:
    texts = scifact.corpus.full_texts()[:300]
    monkeypatch.setattr(build, "_BLOCK_DOCS", 7)  # 43 blocks, the last one short
    monkeypatch.setattr(build, "_WORD_CACHE_LIMIT", 500)  # cleared many times; term ids must survive it
    for method in ("lucene", "bm25l"):
        assert_same_index(texts, BM25Config(method=method))


@pytest.mark.data
@pytest.mark.parametrize("method", ["lucene", "atire", "bm25+"])
def test_scifact_matrix_equals_bm25s(scifact: TextCollection, method: str) -> None:
    assert_same_index(scifact.corpus.full_texts(), BM25Config(method=method))


def test_empty_documents_and_nothing_to_index() -> None:
    config = BM25Config()
    assert build.build_index(iter(["", "the and of", "!!"]), 3, config) is None
    assert_same_index(["", "cats purr", "", "the", "dogs bark at cats"], config)
    with pytest.raises(ValueError, match="expected 3 texts, got 2"):
        build.build_index(iter(["a cat", "a dog"]), 3, config)


def test_retriever_index_uses_the_builder_and_titles(tiny_corpus: Corpus) -> None:
    retriever = BM25Retriever()
    retriever.index(tiny_corpus)
    ours = retriever.bm25s_index
    raw = raw_index(tiny_corpus.full_texts(), retriever.config)
    for mine, theirs in zip(entries(ours), entries(raw), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    no_title = BM25Retriever(index_title=False)
    no_title.index(tiny_corpus)
    assert "bird" not in no_title.bm25s_index.vocab_dict  # d6 has it in its title only


def test_document_tokenizer_matches_the_query_encoder(tiny_bm25: BM25Retriever) -> None:
    tok = build.Tokenizer.of(BM25Config())
    ids = tok.ids("The cats chasing cats")
    assert len(ids) == 3 and ids[0] == ids[2]  # "the" is a stop word; cats -> cat twice
    vocab = {i: t for t, i in tok.vocab.items()}
    assert [vocab[i] for i in ids] == ["cat", "chase", "cat"]
    encoded = tiny_bm25.tokenize_queries(["The cats chasing cats"])[0]
    index_vocab = {i: t for t, i in tiny_bm25.bm25s_index.vocab_dict.items()}
    assert [index_vocab[i] for i in encoded] == ["cat", "chase", "cat"]
