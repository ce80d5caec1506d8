"""DenseRetriever: exact search against numpy, HNSW recall, persistence (with the encoder), DSSM, errors."""

from __future__ import annotations

import doctest
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import distillrank.retrieval.dense as dense_module
from distillrank.data.collection import Corpus
from distillrank.errors import DataFormatError
from distillrank.models.dssm import DSSM
from distillrank.retrieval.base import Retriever
from distillrank.retrieval.dense import DenseConfig, DenseRetriever, TextEncoder


class TableEncoder:
    """Looks texts up in a table of vectors (no save: the index is saved without it)."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table
        self.calls: list[tuple[int, bool]] = []

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False, is_query: bool = False
    ) -> np.ndarray:
        self.calls.append((batch_size, is_query))
        return np.stack([self.table[t] for t in texts]) if texts else np.zeros((0, 8), dtype=np.float32)


def _random(n: int, dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def _brute_force(queries: np.ndarray, docs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = queries @ docs.T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return top, np.take_along_axis(scores, top, axis=1)


@pytest.fixture(scope="module")
def dssm() -> DSSM:
    torch.manual_seed(0)
    return DSSM(n_buckets=1024, hidden_sizes=(32, 16))


def test_doctests() -> None:
    assert doctest.testmod(dense_module, raise_on_error=True).failed == 0


def test_protocols(dssm: DSSM) -> None:
    assert isinstance(DenseRetriever(dssm), Retriever)
    assert isinstance(dssm, TextEncoder)


def test_flat_is_exact_inner_product_top_k() -> None:
    docs, queries = _random(300, 16, 0), _random(20, 16, 1)
    docnos = [f"d{i}" for i in range(300)]
    r = DenseRetriever(None)
    r.index_vectors(docs, docnos)
    run = r.search_vectors(queries, [f"q{i}" for i in range(20)], k=10)
    top, scores = _brute_force(queries, docs, 10)
    for i in range(20):
        assert list(run[f"q{i}"]) == [docnos[j] for j in top[i]]
        np.testing.assert_allclose(list(run[f"q{i}"].values()), scores[i], rtol=1e-5, atol=1e-5)


def test_search_encodes_queries_and_documents() -> None:
    docs, queries = _random(5, 8, 2), _random(2, 8, 3)
    table = {f"text {i}": docs[i] for i in range(5)} | {f"query {i}": queries[i] for i in range(2)}
    enc = TableEncoder(table)
    corpus = Corpus([f"d{i}" for i in range(5)], [""] * 5, [f"text {i}" for i in range(5)])
    r = DenseRetriever(enc, batch_size=7, name="table")
    r.index(corpus)
    run = r.search({"a": "query 0", "b": "query 1"}, k=100)  # k clipped to the corpus
    assert enc.calls == [(7, False), (7, True)]
    assert run.name == "table" and len(run["a"]) == 5
    top, _ = _brute_force(queries, docs, 5)
    assert list(run["b"]) == [f"d{j}" for j in top[1]]


def test_hnsw_recall_against_flat() -> None:
    docs, queries = _random(3000, 32, 4), _random(100, 32, 5)
    docnos = [str(i) for i in range(3000)]
    qids = [str(i) for i in range(100)]
    flat, hnsw = DenseRetriever(None), DenseRetriever(None, index="hnsw", hnsw_m=16, ef_search=64)
    flat.index_vectors(docs, docnos)
    hnsw.index_vectors(docs, docnos)
    exact, approx = flat.search_vectors(queries, qids, k=10), hnsw.search_vectors(queries, qids, k=10)
    recall = np.mean([len(set(exact[q]) & set(approx[q])) / 10 for q in qids])
    assert recall >= 0.95


@pytest.mark.parametrize("index", ["flat", "hnsw"])
def test_save_load_round_trip_with_dssm(dssm: DSSM, tmp_path: Path, index: str) -> None:
    corpus = Corpus(
        ["d1", "d2", "d3", "d4"],
        ["", "", "Physics", ""],
        ["cats eat mice", "dogs chase cats in the garden", "black holes", "stock prices"],
    )
    r = DenseRetriever(dssm, index=index, ef_search=50)
    r.index(corpus)
    queries = {"q1": "cats", "q2": "quantum physics"}
    run = r.search(queries, k=3)
    r.save(tmp_path / "idx")
    meta = json.loads((tmp_path / "idx" / "distillrank_dense.json").read_text())
    assert meta["encoder_class"] == "distillrank.models.dssm:DSSM"
    back = DenseRetriever.load(tmp_path / "idx")
    assert isinstance(back.encoder, DSSM) and back.encoder is not dssm
    assert back.config == r.config and back.docnos == r.docnos
    assert back.search(queries, k=3).to_dict() == run.to_dict()
    # with DSSM the scores are cosines
    q = dssm.encode(list(queries.values()), is_query=True)
    d = dssm.encode(corpus.full_texts())
    top, scores = _brute_force(q, d, 3)
    for i, qid in enumerate(queries):
        assert list(run[qid]) == [corpus.docnos[j] for j in top[i]]
        np.testing.assert_allclose(list(run[qid].values()), scores[i], rtol=1e-5, atol=1e-6)


def test_save_load_without_encoder_save(tmp_path: Path) -> None:
    docs = _random(4, 8, 6)
    enc = TableEncoder({f"t{i}": docs[i] for i in range(4)} | {"q": docs[2]})
    r = DenseRetriever(enc)
    r.index(Corpus([f"d{i}" for i in range(4)], [""] * 4, [f"t{i}" for i in range(4)]))
    r.save(tmp_path / "idx")
    assert not (tmp_path / "idx" / "encoder").exists()
    bare = DenseRetriever.load(tmp_path / "idx")
    assert bare.encoder is None
    assert list(bare.search_vectors(docs[2:3], ["q"], k=1)["q"]) == ["d2"]
    with pytest.raises(RuntimeError, match="DenseRetriever has no encoder"):
        bare.search({"q": "q"})
    assert list(DenseRetriever.load(tmp_path / "idx", encoder=enc).search({"q": "q"}, k=1)["q"]) == ["d2"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"index": "ivf"}, "DenseConfig.index must be one of ('flat', 'hnsw'); got 'ivf'"),
        ({"hnsw_m": 0}, "DenseConfig.hnsw_m must be a positive integer; got 0"),
        ({"ef_search": 1.5}, "DenseConfig.ef_search must be a positive integer; got 1.5"),
        ({"ef_construction": True}, "DenseConfig.ef_construction must be a positive integer; got True"),
        ({"batch_size": -1}, "DenseConfig.batch_size must be a positive integer; got -1"),
        ({"index_title": "no"}, "DenseConfig.index_title must be True or False; got 'no'"),
    ],
)
def test_bad_config(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as err:
        DenseConfig(**kwargs)
    assert str(err.value) == message


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(
        TypeError, match=r"encoder must have encode\(texts, batch_size=\.\.\., is_query=\.\.\.\)"
    ):
        DenseRetriever(object())  # type: ignore[arg-type]
    r = DenseRetriever(None)
    with pytest.raises(RuntimeError, match="DenseRetriever has no index"):
        r.search_vectors(_random(1, 4, 0), ["q"])
    with pytest.raises(ValueError, match="cannot index an empty corpus"):
        r.index(Corpus([], [], []))
    with pytest.raises(ValueError, match=r"vectors must be a 2-d array \[n, dim\]; got shape \(4,\)"):
        r.index_vectors(np.zeros(4), ["a"])
    with pytest.raises(ValueError, match="vectors has 2 rows for 3 texts"):
        r.index_vectors(np.zeros((2, 4)), ["a", "b", "c"])
    with pytest.raises(ValueError, match="vectors contains NaN or infinite values"):
        r.index_vectors(np.full((1, 4), np.nan), ["a"])
    with pytest.raises(ValueError, match="docnos must be unique"):
        r.index_vectors(np.zeros((2, 4)), ["a", "a"])
    r.index_vectors(_random(3, 4, 0), ["a", "b", "c"])
    with pytest.raises(ValueError, match="query vectors have 5 dimensions; the index has 4"):
        r.search_vectors(_random(1, 5, 0), ["q"])
    with pytest.raises(ValueError, match="k must be a positive integer; got 0"):
        r.search_vectors(_random(1, 4, 0), ["q"], k=0)
    with pytest.raises(TypeError, match="queries must be a mapping qid -> text"):
        r.search(["x"])  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match=r"no dense index here \(distillrank_dense.json is missing\)"):
        DenseRetriever.load(tmp_path)
    r.save(tmp_path / "idx")
    meta_path = tmp_path / "idx" / "distillrank_dense.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps(meta | {"encoder_class": "distillrank.nosuch:Model"}))
    with pytest.raises(
        ImportError, match=r"cannot import the saved encoder class 'distillrank\.nosuch:Model'"
    ):
        DenseRetriever.load(tmp_path / "idx")
    meta_path.write_text(json.dumps(meta | {"format_version": 2}))
    with pytest.raises(DataFormatError, match="not a distillrank-dense v1 index"):
        DenseRetriever.load(tmp_path / "idx")
