"""ColBERTQueryEncoder: a trainable ColBERT query tower and projection against frozen token states."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from distillrank.models.colbert import ColBERT
from distillrank.models.colbert_query_encoder import (
    ColBERTQueryEncoder,
    document_token_states,
    pca_projection,
)
from distillrank.training import ListExample, Trainer, TrainerConfig

DOCS = ["cats purr softly.", "dogs bark loudly!", "fish swim in water", "birds sing at dawn"]
IDS = [f"d{i}" for i in range(4)]


def _colbert(tiny_bert_dir: Path) -> ColBERT:
    return ColBERT(tiny_bert_dir, dim=8, query_max_length=8, doc_marker=None, query_marker=None, seed=0)


@pytest.fixture()
def model(tiny_bert_dir: Path) -> ColBERTQueryEncoder:
    colbert = _colbert(tiny_bert_dir)
    states, lengths = document_token_states(colbert, DOCS)
    return ColBERTQueryEncoder(colbert, states, lengths, IDS, DOCS)


def test_token_states_are_the_encoders_maxsim_tokens(tiny_bert_dir: Path) -> None:
    colbert = _colbert(tiny_bert_dir)
    states, lengths = document_token_states(colbert, DOCS, batch_size=3)
    assert states.dtype == np.float16 and states.shape == (int(lengths.sum()), 32)
    # projected and normalised, they are ColBERT's own precomputed document tokens (punctuation left out)
    own = colbert.encode_docs_tokens(DOCS)
    assert [len(t) for t in own] == lengths.tolist()
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    for i, tokens in enumerate(own):
        h = torch.from_numpy(states[offsets[i] : offsets[i + 1]].astype(np.float32))
        with torch.no_grad():
            mine = torch.nn.functional.normalize(colbert.projection(h), dim=-1).numpy()
        np.testing.assert_allclose(mine, tokens, atol=2e-3)


def test_list_scores_are_colberts_maxsim(model: ColBERTQueryEncoder) -> None:
    model.eval()
    with torch.no_grad():
        scores = model.list_scores(["cats", "fish"], [[DOCS[0], DOCS[1]], [DOCS[2], ""]])
    assert scores.shape == (2, 2)
    expected = model.colbert.predict([("cats", DOCS[0]), ("cats", DOCS[1]), ("fish", DOCS[2])])
    np.testing.assert_allclose(scores.numpy().ravel()[:3], expected, atol=5e-3)
    assert scores[1, 1].item() == 0.0  # padding: no tokens
    np.testing.assert_allclose(model.score_rows("cats", [0, 1]), expected[:2], atol=5e-3)
    with pytest.raises(KeyError, match="not in the index"):
        model.list_scores(["cats"], [["a text nobody indexed"]])


def test_training_moves_the_query_tower_and_projection_not_the_states(model: ColBERTQueryEncoder) -> None:
    states = model.states.clone()
    projection = model.colbert.projection.weight.detach().clone()
    before = model.score_rows("cats", [0, 1, 2])
    ex = [ListExample("cats", [DOCS[0], DOCS[1], DOCS[2]], [1.0, 0.0, 0.0]) for _ in range(4)]
    Trainer(TrainerConfig(loss="softmax", epochs=2, batch_size=2, lr=1e-2, warmup_ratio=0.0)).fit(model, ex)
    assert torch.equal(model.states, states)
    assert not torch.equal(model.colbert.projection.weight, projection)
    after = model.score_rows("cats", [0, 1, 2])  # the index follows the new projection
    assert not np.allclose(after, before)
    assert after[0] - after[1:].max() > before[0] - before[1:].max()


def test_a_copy_shares_the_token_states(model: ColBERTQueryEncoder) -> None:
    other = copy.deepcopy(model)
    assert other.states is model.states
    assert other.colbert is not model.colbert


def test_pca_projection_keeps_the_top_directions() -> None:
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    x = (rng.normal(size=(500, 6)) * [5.0, 3.0, 0.1, 0.1, 0.1, 0.1]) @ basis.T
    w = pca_projection(x, 2)
    assert w.shape == (2, 6)
    np.testing.assert_allclose(np.abs(w @ basis[:, :2]), np.eye(2), atol=0.05)
    with pytest.raises(ValueError, match=r"dim must be in 1\.\.6"):
        pca_projection(x, 7)
    assert pca_projection(x, 2, max_rows=100).shape == (2, 6)


def test_predict_rank_save_and_load(model: ColBERTQueryEncoder, tmp_path: Path) -> None:
    scores = model.predict([("cats", DOCS[0]), ("dogs", DOCS[1]), ("cats", DOCS[2])])
    assert scores.dtype == np.float32 and scores.shape == (3,)
    assert model.rank("cats", DOCS, top_k=2)[0]["score"] >= model.rank("cats", DOCS, top_k=2)[1]["score"]
    model.save(tmp_path / "cq")
    again = ColBERTQueryEncoder.load(tmp_path / "cq", doc_texts=DOCS)
    assert again.docnos == model.docnos
    np.testing.assert_allclose(again.predict([("cats", DOCS[0])]), scores[:1], atol=1e-4)
    assert again.num_parameters() == model.num_parameters()


def test_bad_inputs_are_refused(model: ColBERTQueryEncoder) -> None:
    states = model.states.numpy()
    with pytest.raises(ValueError, match="lengths must be 4 token counts"):
        ColBERTQueryEncoder(model.colbert, states, np.array([1, 2]), IDS)
    with pytest.raises(ValueError, match="states must be"):
        ColBERTQueryEncoder(model.colbert, states[:-1], model.lengths, IDS)
    with pytest.raises(Exception, match="no document texts"):
        ColBERTQueryEncoder(model.colbert, states, model.lengths, IDS).list_scores(["cats"], [[DOCS[0]]])
