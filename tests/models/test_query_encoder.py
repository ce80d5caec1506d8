"""QueryEncoder: a trainable query tower against a fixed document table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from distillrank.models.bi_encoder import BiEncoder
from distillrank.models.query_encoder import QueryEncoder, align_query_tower
from distillrank.training import ListExample, Trainer, TrainerConfig

DOCS = ["cats purr softly", "dogs bark loudly", "fish swim in water", "birds sing at dawn"]


@pytest.fixture()
def model(tiny_bert_dir: Path) -> QueryEncoder:
    teacher = BiEncoder(tiny_bert_dir, max_length=16)
    table = teacher.encode(DOCS)
    tower = BiEncoder(tiny_bert_dir, max_length=16, num_layers=1)
    return QueryEncoder(tower, table, [f"d{i}" for i in range(4)], DOCS)


def test_list_scores_use_the_table_rows(model: QueryEncoder) -> None:
    scores = model.list_scores(["cats", "fish"], [[DOCS[0], DOCS[1]], [DOCS[2], ""]])
    assert scores.shape == (2, 2)
    q = model.encode_queries(["cats"])
    expected = (q @ model.doc_table[:2].T) / model.temperature
    assert torch.allclose(scores[0], expected[0], atol=1e-5)
    with pytest.raises(KeyError, match="not in the index"):
        model.list_scores(["cats"], [["a text nobody indexed"]])


def test_training_changes_only_the_query_tower(model: QueryEncoder) -> None:
    table = model.doc_table.clone()
    before = model.encode(["cats"]).copy()
    ex = [ListExample("cats", [DOCS[0], DOCS[1], DOCS[2]], [1.0, 0.0, 0.0]) for _ in range(4)]
    Trainer(TrainerConfig(loss="softmax", epochs=2, batch_size=2, lr=1e-3, warmup_ratio=0.0)).fit(model, ex)
    assert torch.equal(model.doc_table, table)
    assert not np.allclose(model.encode(["cats"]), before)


def test_save_and_load_round_trip(model: QueryEncoder, tmp_path: Path) -> None:
    model.save(tmp_path / "qe")
    again = QueryEncoder.load(tmp_path / "qe", doc_texts=DOCS)
    assert again.docnos == model.docnos
    np.testing.assert_allclose(again.encode(["dogs"]), model.encode(["dogs"]), atol=1e-5)
    np.testing.assert_allclose(again.doc_vectors(), model.doc_vectors())
    assert again.num_parameters() == model.num_parameters()


def test_alignment_moves_the_tower_towards_the_targets(tiny_bert_dir: Path) -> None:
    teacher = BiEncoder(tiny_bert_dir, max_length=16)
    texts = DOCS * 4
    target = teacher.encode(texts, is_query=True)
    student = BiEncoder(tiny_bert_dir, max_length=16, num_layers=1)
    losses = align_query_tower(student, target, texts, epochs=6, batch_size=4, lr=5e-3)
    assert losses[-1] < losses[0]


def test_rejects_mismatched_tables(tiny_bert_dir: Path) -> None:
    tower = BiEncoder(tiny_bert_dir, max_length=16)
    with pytest.raises(ValueError, match=r"must be \[2, D\]"):
        QueryEncoder(tower, np.zeros((3, tower.embedding_dim)), ["a", "b"])
    with pytest.raises(ValueError, match="dimensions"):
        QueryEncoder(tower, np.zeros((2, 7)), ["a", "b"])


def test_predict_and_rank_score_indexed_documents(model: QueryEncoder) -> None:
    scores = model.predict([("cats", DOCS[0]), ("cats", DOCS[1])])
    expected = model.list_scores(["cats"], [[DOCS[0], DOCS[1]]]).detach().numpy()[0]
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    ranked = model.rank("cats", DOCS, top_k=2)
    assert len(ranked) == 2 and ranked[0]["score"] >= ranked[1]["score"]
