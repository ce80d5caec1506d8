"""StaticEncoder: token vectors distilled from a transformer's query tower."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from distillrank.errors import DistillrankError
from distillrank.models.bi_encoder import BiEncoder
from distillrank.models.static_encoder import StaticEncoder, distil_static_encoder, sentences

TEXTS = ["cats purr softly", "dogs bark loudly at night", "fish swim in cold water", "birds sing at dawn"]


@pytest.fixture()
def tower(tiny_bert_dir: Path) -> BiEncoder:
    return BiEncoder(tiny_bert_dir, max_length=16)


def test_initial_vector_of_a_one_token_text_is_the_towers_embedding(tower: BiEncoder) -> None:
    static = StaticEncoder.from_encoder(tower, batch_size=4096)
    for word in ("cats", "water", "night"):
        assert len(static.token_ids([word])[0]) == 1, word
        np.testing.assert_allclose(
            static.encode([word]), tower.encode([word], is_query=True), rtol=1e-4, atol=1e-5
        )


def test_encoding_is_the_normalised_weighted_sum_of_token_vectors(tower: BiEncoder) -> None:
    rng = np.random.default_rng(0)
    n, d = len(tower.tokenizer), 8
    table = rng.normal(size=(n, d)).astype(np.float32)
    log_w = rng.normal(size=n).astype(np.float32)
    static = StaticEncoder(tower.tokenizer, table, log_w)
    ids = static.token_ids([TEXTS[1]])[0]
    expected = (np.exp(log_w[ids])[:, None] * table[ids]).sum(axis=0)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(static.encode([TEXTS[1]])[0], expected, rtol=1e-5, atol=1e-6)
    assert static.encode([""]).tolist() == [[0.0] * d]  # no token: the zero vector
    with pytest.raises(ValueError, match="token vectors for a tokenizer"):
        StaticEncoder(tower.tokenizer, table[:10])


def test_distillation_aligns_the_static_vectors_with_the_tower(tower: BiEncoder) -> None:
    static = StaticEncoder.from_encoder(tower, batch_size=4096)
    target = tower.encode(TEXTS, is_query=True)

    def agreement() -> float:
        return float(np.mean(np.sum(static.encode(TEXTS) * target, axis=1)))

    before = agreement()
    losses = distil_static_encoder(
        static, TEXTS * 8, np.tile(target, (8, 1)), epochs=20, batch_size=8, lr=5e-2
    )
    assert losses[-1] < losses[0]
    assert agreement() > max(before, 0.95)
    with pytest.raises(ValueError, match="texts but"):
        distil_static_encoder(static, TEXTS, target[:2])


def test_save_and_load_round_trip(tower: BiEncoder, tmp_path: Path) -> None:
    static = StaticEncoder.from_encoder(tower, batch_size=4096)
    with torch.no_grad():
        static.log_weights[:100] = 0.5
    static.save(tmp_path / "static")
    again = StaticEncoder.load(tmp_path / "static")
    np.testing.assert_allclose(again.encode(TEXTS), static.encode(TEXTS), rtol=1e-6)
    assert (
        again.num_parameters() == static.num_parameters() == len(tower.tokenizer) * (tower.embedding_dim + 1)
    )
    with pytest.raises(DistillrankError, match="not a static encoder folder"):
        StaticEncoder.load(tmp_path)


def test_sentences_split_filter_and_shuffle_reproducibly() -> None:
    texts = ["Short. This sentence is long enough to keep! Is this one long enough too? Yes.", "x" * 400]
    out = sentences(texts, seed=1)
    assert sorted(out) == ["Is this one long enough too?", "This sentence is long enough to keep!"]
    assert sentences(texts, seed=1) == out
    assert len(sentences(texts, limit=1)) == 1


def test_sentences_fall_back_to_word_windows_for_unpunctuated_texts() -> None:
    words = [f"word{i}" for i in range(60)]
    texts = [" ".join(words), "A normal sentence of some length. Another one that is long enough."]
    out = sentences(texts, seed=0, window=24)
    assert sorted(out) == sorted(
        [
            " ".join(words[:24]),
            " ".join(words[24:48]),
            " ".join(words[48:]),
            "A normal sentence of some length.",
            "Another one that is long enough.",
        ]
    )


def test_scores_are_cosines_of_static_embeddings(tower: BiEncoder) -> None:
    static = StaticEncoder.from_encoder(tower, batch_size=4096)
    emb = static.encode(TEXTS)
    scores = static.list_scores([TEXTS[0]], [TEXTS[1:]])
    np.testing.assert_allclose(scores.detach().numpy()[0], emb[1:] @ emb[0], rtol=1e-5, atol=1e-6)
    pred = static.predict([(TEXTS[0], t) for t in TEXTS[1:]])
    np.testing.assert_allclose(pred, emb[1:] @ emb[0], rtol=1e-5, atol=1e-6)
    ranked = static.rank(TEXTS[0], TEXTS[1:], top_k=2)
    assert [r["corpus_id"] for r in ranked] == np.argsort(-pred, kind="stable")[:2].tolist()
