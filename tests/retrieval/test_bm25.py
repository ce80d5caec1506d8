"""BM25Retriever on a tiny corpus built in code: hand-computed scores, edge cases, persistence, config."""

from __future__ import annotations

import doctest
import json
import math
import zlib
from pathlib import Path

import bm25s
import numpy as np
import pytest

import distillrank.retrieval.bm25 as bm25_module
from distillrank.data.collection import Corpus, Queries
from distillrank.errors import DataFormatError
from distillrank.retrieval import RETRIEVERS, BM25Config, BM25Retriever, Retriever, _topk

# Token counts of the tiny corpus (see conftest): d1 3, d2 4, d3 4, d4 4, d5 0, d6 2.
N_DOCS = 6
AVGDL = (3 + 4 + 4 + 4 + 0 + 2) / N_DOCS


def lucene(tf: int, dl: int, df: int, k1: float = 1.2, b: float = 0.75) -> float:
    """One term's Lucene BM25 score, written out from the formula."""
    idf = math.log(1 + (N_DOCS - df + 0.5) / (df + 0.5))
    return idf * tf / (tf + k1 * (1 - b + b * dl / AVGDL))


def test_hand_computed_scores_and_order(tiny_bm25: BM25Retriever) -> None:
    run = tiny_bm25.search({"q": "cat"}, k=10)
    # "cat" occurs in d1 (once, 3 tokens), d2 ("cats", once, 4 tokens), d4 (three times, 4 tokens)
    expected = {"d4": lucene(3, 4, 3), "d1": lucene(1, 3, 3), "d2": lucene(1, 4, 3)}
    assert list(run["q"]) == ["d4", "d1", "d2"]  # best first; non-matching documents left out
    for docno, score in expected.items():
        assert run["q"][docno] == pytest.approx(score, rel=1e-6)
    assert [d for d, _ in run.ranked("q")] == ["d4", "d1", "d2"]


def test_multi_term_query_sums_terms(tiny_bm25: BM25Retriever) -> None:
    run = tiny_bm25.search({"q": "cat garden"}, k=10)
    # d2 has both terms: cat (df 3) + garden (df 1)
    assert next(iter(run["q"])) == "d2"
    assert run["q"]["d2"] == pytest.approx(lucene(1, 4, 3) + lucene(1, 4, 1), rel=1e-6)


@pytest.mark.parametrize(
    ("query", "best"),
    [("black holes in quantum physics", "d3"), ("a dog in a garden", "d2"), ("birdsong bird", "d6")],
)
def test_best_document_ranks_first(tiny_bm25: BM25Retriever, query: str, best: str) -> None:
    run = tiny_bm25.search(Queries({"q": query}), k=3)
    assert run.ranked("q")[0][0] == best


def test_title_is_indexed_by_default_and_can_be_left_out(tiny_corpus: Corpus) -> None:
    text_only = BM25Retriever(index_title=False)
    text_only.index(tiny_corpus)
    assert text_only.search({"q": "bird"})["q"] == {}


@pytest.mark.parametrize("query", ["xylophone zebra", "the of and", "", "   ", "a", "!!!"])
def test_oov_stopword_or_empty_query_gives_empty_result(tiny_bm25: BM25Retriever, query: str) -> None:
    run = tiny_bm25.search({"q": query}, k=10)
    assert run["q"] == {}
    assert len(run) == 1


def test_unmatched_queries_mixed_with_others(tiny_bm25: BM25Retriever) -> None:
    # bm25s inspects only the first query to guess the input type: an empty first query must not break it
    queries = {"oov": "xylophone", "cat": "cat", "stop": "the", "hole": "hole"}
    run = tiny_bm25.search(queries, k=2)
    assert list(run) == list(queries)
    assert run["oov"] == {} and run["stop"] == {}
    assert list(run["cat"]) == ["d4", "d1"]
    assert list(run["hole"]) == ["d3"]


def test_no_queries_gives_empty_run(tiny_bm25: BM25Retriever) -> None:
    assert len(tiny_bm25.search({}, k=10)) == 0
    assert len(tiny_bm25.search(Queries(), k=10)) == 0


def test_k_is_clipped_to_corpus_size(tiny_bm25: BM25Retriever) -> None:
    run = tiny_bm25.search({"q": "cat"}, k=1000)
    assert list(run["q"]) == ["d4", "d1", "d2"]
    assert len(tiny_bm25.search({"q": "cat"}, k=1)["q"]) == 1
    assert tiny_bm25.retrieve_arrays([[0]], k=1000)[0].shape == (1, N_DOCS)


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "10"])
def test_bad_k(tiny_bm25: BM25Retriever, k: object) -> None:
    with pytest.raises(ValueError, match="k must be a positive integer"):
        tiny_bm25.search({"q": "cat"}, k=k)  # type: ignore[arg-type]


def test_bad_inputs(tiny_bm25: BM25Retriever) -> None:
    with pytest.raises(
        TypeError,
        match=r"config must be a BM25Config, not str \(for the method: BM25Retriever\(method='lucene'\)\)",
    ):
        BM25Retriever("lucene")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mapping qid -> text"):
        tiny_bm25.search(["cat"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mapping qid -> text"):
        tiny_bm25.search("cat")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="query 'q': text must be a str"):
        tiny_bm25.search({"q": None})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="n_threads"):
        tiny_bm25.search({"q": "cat"}, n_threads=0)
    with pytest.raises(ValueError, match="token ids must be in"):
        tiny_bm25.search_tokens(["q"], [[10**6]])
    with pytest.raises(ValueError, match="token ids must be in"):
        tiny_bm25.search_tokens(["q"], [[-1]])
    with pytest.raises(ValueError, match="unique"):
        tiny_bm25.search_tokens(["q", "q"], [[0], [0]])
    with pytest.raises(ValueError, match="2 qids but 1 token lists"):
        tiny_bm25.search_tokens(["a", "b"], [[0]])


def test_not_indexed_and_bad_corpora() -> None:
    bm25 = BM25Retriever()
    with pytest.raises(RuntimeError, match="no index"):
        bm25.search({"q": "cat"})
    with pytest.raises(ValueError, match="empty corpus"):
        bm25.index(Corpus([], [], []))
    with pytest.raises(DataFormatError, match=r"^c\.jsonl: none of the 2 documents has an indexable token"):
        bm25.index(Corpus(["a", "b"], ["", ""], ["the of", ""], source="c.jsonl"))


def test_search_tokens_equals_search(tiny_bm25: BM25Retriever) -> None:
    queries = {"a": "cat videos", "b": "quantum", "c": "nothing here"}
    ids = tiny_bm25.tokenize_queries(list(queries.values()))
    assert ids[2] == []  # "nothing" and "here" are unknown / stop words
    by_tokens = tiny_bm25.search_tokens(list(queries), ids, k=5)
    assert by_tokens.to_dict() == tiny_bm25.search(queries, k=5).to_dict()


def test_score_vector(tiny_bm25: BM25Retriever) -> None:
    scores = tiny_bm25.score("cat")
    assert scores.shape == (N_DOCS,)
    expected = [lucene(1, 3, 3), lucene(1, 4, 3), 0.0, lucene(3, 4, 3), 0.0, 0.0]
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    assert not tiny_bm25.score("xylophone").any()


def test_lowercase_option(tiny_corpus: Corpus) -> None:
    cased = BM25Retriever(lowercase=False, stemmer=None, stopwords=None)
    cased.index(tiny_corpus)
    assert list(cased.search({"q": "cat"})["q"]) == ["d4", "d1"]  # "cats" is not stemmed
    assert list(cased.search({"q": "Quantum"})["q"]) == ["d3"]
    assert cased.search({"q": "quantum"})["q"] == {}


def test_threads_and_backends_agree(tiny_corpus: Corpus, tiny_bm25: BM25Retriever) -> None:
    queries = {"a": "cat", "b": "black hole garden", "c": "xylophone"}
    reference = tiny_bm25.search(queries, k=4).to_dict()
    assert tiny_bm25.search(queries, k=4, n_threads=2).to_dict() == reference
    numpy_backend = BM25Retriever(backend="numpy")
    numpy_backend.index(tiny_corpus)
    assert numpy_backend.search(queries, k=4).to_dict() == reference


def test_without_numba_bm25s_retrieve_does_the_work(
    tiny_bm25: BM25Retriever, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries = {"a": "cat", "b": "black hole garden", "c": "xylophone"}
    reference = tiny_bm25.search(queries, k=4).to_dict()
    monkeypatch.setattr(_topk, "retrieve_serial", None)  # as if numba were not installed
    assert tiny_bm25.search(queries, k=4).to_dict() == reference


@pytest.mark.parametrize("method", ["lucene", "robertson", "atire", "bm25l", "bm25+"])
def test_every_method_runs(tiny_corpus: Corpus, method: str) -> None:
    bm25 = BM25Retriever(method=method)
    bm25.index(tiny_corpus)
    run = bm25.search({"q": "cat videos", "oov": "xylophone"}, k=3)
    assert run.ranked("q")[0][0] == "d4"
    if method == "robertson":  # "cat" is in half the documents: its Robertson idf is clipped to 0
        assert bm25.search({"q": "cat"})["q"] == {}
    if method in ("bm25l", "bm25+"):  # every document gets the non-occurrence score: nothing is dropped
        assert len(run["q"]) == 3
    else:
        assert run["oov"] == {}


def test_save_load_round_trip(tmp_path: Path, tiny_bm25: BM25Retriever) -> None:
    queries = {"a": "cat", "b": "black holes", "c": "the", "d": "dogs and birds"}
    path = tmp_path / "index"
    tiny_bm25.save(path)
    loaded = BM25Retriever.load(path)
    assert loaded.config == tiny_bm25.config
    assert loaded.docnos == tiny_bm25.docnos
    assert loaded.search(queries, k=10).to_dict() == tiny_bm25.search(queries, k=10).to_dict()
    mapped = BM25Retriever.load(path, mmap=True)
    assert mapped.search(queries, k=10).to_dict() == tiny_bm25.search(queries, k=10).to_dict()
    # the folder is a plain bm25s index too
    raw = bm25s.BM25.load(path)
    assert raw.scores["num_docs"] == N_DOCS
    meta = json.loads((path / "distillrank_bm25.json").read_text())
    assert meta["config"]["k1"] == 1.2 and meta["n_docs"] == N_DOCS


def test_save_replaces_an_index_but_not_other_folders(tmp_path: Path, tiny_corpus: Corpus) -> None:
    path = tmp_path / "index"
    first = BM25Retriever(k1=2.0)
    first.index(tiny_corpus)
    first.save(path)
    second = BM25Retriever(stemmer=None)
    second.index(tiny_corpus)
    second.save(path)
    assert BM25Retriever.load(path).config.stemmer is None
    assert [p.name for p in tmp_path.iterdir()] == ["index"]  # no temporary folders left behind
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a BM25 index"):
        second.save(other)
    assert (other / "notes.txt").read_text() == "keep me"


def test_load_errors(tmp_path: Path, tiny_bm25: BM25Retriever) -> None:
    with pytest.raises(FileNotFoundError, match="no BM25 index here"):
        BM25Retriever.load(tmp_path / "missing")
    path = tmp_path / "index"
    tiny_bm25.save(path)
    meta_path = path / "distillrank_bm25.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="not a distillrank-bm25 v1 index"):
        BM25Retriever.load(path)
    meta["format_version"] = 1
    meta_path.write_text(json.dumps(meta))
    (path / "docnos.json").write_text(json.dumps(["d1"]))
    with pytest.raises(ValueError, match="1 document ids for an index of 6 documents"):
        BM25Retriever.load(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "okapi"}, "method must be one of"),
        ({"k1": -0.1}, "k1 must be >= 0"),
        ({"k1": float("nan")}, "k1 must be a finite number"),
        ({"k1": True}, "k1 must be a finite number"),
        ({"k1": "1.2"}, "k1 must be a finite number"),
        ({"b": 1.5}, r"b must be in \[0, 1\]"),
        ({"b": -0.01}, r"b must be in \[0, 1\]"),
        ({"delta": -1}, "delta must be >= 0"),
        ({"method": "bm25+", "k1": 0}, r"'bm25\+' needs k1 > 0"),
        ({"stemmer": "klingon"}, "stemmer must be None or a PyStemmer algorithm"),
        ({"stopwords": "xx"}, "unknown stop-word list 'xx'"),
        ({"stopwords": [1, 2]}, "stopwords must be a name, a list of strings or None"),
        ({"lowercase": "yes"}, "lowercase must be True or False"),
        ({"index_title": 1}, "index_title must be True or False"),
        ({"backend": "gpu"}, "backend must be one of"),
    ],
)
def test_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BM25Config(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        BM25Retriever(**kwargs)


def test_config_defaults_and_round_trip() -> None:
    c = BM25Config()
    assert (c.method, c.k1, c.b, c.stemmer, c.stopwords, c.lowercase, c.index_title) == (
        "lucene",
        1.2,
        0.75,
        "english",
        "en",
        True,
        True,
    )
    custom = BM25Config(method="bm25+", k1=1, b=0, delta=1, stemmer=None, stopwords=["foo", "bar"])
    assert custom.stopwords == ("foo", "bar") and isinstance(custom.k1, float)
    assert BM25Config.from_dict(json.loads(json.dumps(custom.to_dict()))) == custom
    with pytest.raises(ValueError, match="unknown fields"):
        BM25Config.from_dict({"k1": 1.0, "k3": 8})
    assert BM25Retriever(custom, b=0.5).config.b == 0.5


def test_protocol_registry_and_repr(tiny_bm25: BM25Retriever) -> None:
    assert isinstance(tiny_bm25, Retriever)
    assert RETRIEVERS["bm25"] is BM25Retriever
    assert "6 docs" in repr(tiny_bm25) and "not indexed" in repr(BM25Retriever())
    assert len(tiny_bm25) == N_DOCS
    assert tiny_bm25.search({"q": "cat"}).name == "bm25"


def test_module_doctest() -> None:
    result = doctest.testmod(bm25_module)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    "kind", ["random", "ties", "all_equal", "few_nonzero", "negative", "huge_range", "one_bin_crowded"]
)
@pytest.mark.parametrize("k", [1, 7, 100, 1000])
def test_top_k_selection_kernel(kind: str, k: int) -> None:
    rng = np.random.default_rng(zlib.crc32(f"{kind}/{k}".encode()))
    n = 1000
    a = {
        "random": lambda: rng.random(n),
        "ties": lambda: rng.integers(0, 3, n).astype(float),
        "all_equal": lambda: np.full(n, 0.5),
        "few_nonzero": lambda: np.where(rng.random(n) < 0.02, rng.random(n) + 1, 0.0),
        "negative": lambda: rng.normal(size=n),
        "huge_range": lambda: np.concatenate([[3e38, -3e38], rng.random(n - 2)]),
        "one_bin_crowded": lambda: np.concatenate([[1000.0], 1 + 1e-6 * rng.random(n - 1)]),
    }[kind]().astype(np.float32)
    out_v, out_i = np.empty(k, np.float32), np.empty(k, np.int32)
    cand_v, cand_i = np.empty(n, np.float32), np.empty(n, np.int32)
    _topk.select_topk(a, k, out_v, out_i, cand_v, cand_i, np.empty(64, np.int64))
    np.testing.assert_array_equal(out_v, np.sort(a)[::-1][:k])  # the k largest, best first
    np.testing.assert_array_equal(a[out_i], out_v)
    assert len(set(out_i.tolist())) == k


def test_index_names_what_it_needs_when_given_texts() -> None:
    with pytest.raises(TypeError, match=r"corpus must be a Corpus .*got list"):
        BM25Retriever().index(["cats purr", "dogs bark"])  # type: ignore[arg-type]


@pytest.mark.parametrize("kernel", ["compiled", "python"])
@pytest.mark.parametrize(("n_docs", "density"), [(500, 0.05), (60_000, 0.002)])
def test_retrieval_kernel_selects_among_touched_documents_or_all(
    kernel: str, n_docs: int, density: float
) -> None:
    """The top k of each query equal a full sort of its summed scores, on a small corpus (every document
    considered) and a large one (the touched-only selection): with >= k touched documents, fewer, a
    negative term score, and non-occurrence scores."""
    fn = _topk.retrieve_serial if kernel == "compiled" else _topk.retrieve_serial_py
    if fn is None:
        pytest.skip("numba is not installed")
    assert (n_docs >= _topk._TOUCHED_MIN_DOCS) == (n_docs == 60_000)  # both paths are exercised
    rng = np.random.default_rng(7)
    n_terms = 40
    dense = np.where(rng.random((n_terms, n_docs)) < density, rng.random((n_terms, n_docs)), 0.0)
    dense[3, 10] = -0.5  # a negative term-document score: the touched-only selection must not be used
    dense = dense.astype(np.float32)
    indptr = np.zeros(n_terms + 1, dtype=np.int64)
    indices, data = [], []
    for t in range(n_terms):
        (docs,) = np.nonzero(dense[t])
        indices += docs.tolist()
        data += dense[t, docs].tolist()
        indptr[t + 1] = len(indices)
    queries = [[0, 1, 2, 4, 5, 6], [7], [3, 8], [9, 9, 11]]  # many / few touched, the negative one, repeated
    pointers = np.cumsum([0, *map(len, queries)]).astype(np.int64)
    flat = np.array([t for q in queries for t in q], dtype=np.int32)
    for has_nonocc in (False, True):
        nonocc = rng.random(n_terms).astype(np.float32) if has_nonocc else np.zeros(0, np.float32)
        for k in (5, 30, 200):
            csc = (np.array(data, np.float32), indptr, np.array(indices, np.int32))
            scores, ids = fn(flat, pointers, k, *csc, n_docs, has_nonocc, nonocc)
            for q, terms in enumerate(queries):
                acc = np.zeros(n_docs, np.float32)
                for t in terms:
                    acc += dense[t]  # sums in the kernel's order: term by term
                if has_nonocc:
                    acc += nonocc[terms].sum()
                np.testing.assert_array_equal(scores[q], np.sort(acc)[::-1][:k])
                np.testing.assert_array_equal(acc[ids[q]], scores[q])
                assert len(set(ids[q].tolist())) == k
