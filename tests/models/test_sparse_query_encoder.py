"""SparseQueryEncoder: a trainable SPLADE query tower against fixed sparse document vectors."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from distillrank.losses import flops_regularizer
from distillrank.models.sparse_query_encoder import SparseQueryEncoder
from distillrank.models.splade import Splade, SpladeRetriever
from distillrank.training import ListExample, Trainer, TrainerConfig

DOCS = ["cats purr softly", "dogs bark loudly", "fish swim in water", "birds sing at dawn"]
IDS = [f"d{i}" for i in range(4)]


@pytest.fixture()
def model(tiny_mlm_dir: Path) -> SparseQueryEncoder:
    splade = Splade(tiny_mlm_dir, max_length=16, query_max_length=8)
    return SparseQueryEncoder(splade, splade.encode(DOCS), IDS, DOCS, flops_weight=0.1)


def test_list_scores_are_dot_products_with_the_fixed_rows(model: SparseQueryEncoder) -> None:
    model.eval()
    scores = model.list_scores(["cats", "fish"], [[DOCS[0], DOCS[1]], [DOCS[2], ""]])
    assert scores.shape == (2, 2)
    q = model.encode_queries(["cats", "fish"]).detach().numpy()
    table = model.doc_vectors().toarray()
    np.testing.assert_allclose(scores[0].detach().numpy(), table[:2] @ q[0], rtol=1e-5, atol=1e-5)
    assert scores[1, 0].item() == pytest.approx(float(table[2] @ q[1]), rel=1e-5, abs=1e-5)
    assert scores[1, 1].item() == 0.0  # padding
    # the same as SPLADE's own scores while the tower is still the one that encoded the documents
    expected = model.splade.predict([("cats", DOCS[0]), ("cats", DOCS[1])])
    np.testing.assert_allclose(scores[0].detach().numpy(), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(KeyError, match="not in the index"):
        model.list_scores(["cats"], [["a text nobody indexed"]])


def test_the_regulariser_is_the_flops_of_the_last_training_batch(model: SparseQueryEncoder) -> None:
    model.train()
    model.splade.eval()  # no dropout, so the vectors can be recomputed
    model.list_scores(["cats", "dogs"], [[DOCS[0]], [DOCS[1]]])
    q = model.encode_queries(["cats", "dogs"])
    reg = model.regularization()
    assert reg.item() > 0
    assert reg.item() == pytest.approx(0.1 * flops_regularizer(q).item(), rel=1e-5)
    assert model.regularization().item() == 0.0  # consumed
    model.eval()
    model.list_scores(["cats"], [[DOCS[0]]])
    assert model.regularization().item() == 0.0  # not kept outside training


def test_training_changes_only_the_query_tower(model: SparseQueryEncoder) -> None:
    table = model.doc_vectors().copy()
    before = model.encode(["cats"]).toarray()
    ex = [ListExample("cats", [DOCS[0], DOCS[1], DOCS[2]], [1.0, 0.0, 0.0]) for _ in range(4)]
    Trainer(TrainerConfig(loss="softmax", epochs=2, batch_size=2, lr=1e-3, warmup_ratio=0.0)).fit(model, ex)
    assert (model.doc_vectors() != table).nnz == 0
    assert not np.allclose(model.encode(["cats"]).toarray(), before)


def test_a_copy_shares_the_document_table(model: SparseQueryEncoder) -> None:
    other = copy.deepcopy(model)
    assert other.doc_vectors() is model.doc_vectors()
    assert other.splade is not model.splade


def test_retriever_searches_the_fixed_vectors_with_the_tower(model: SparseQueryEncoder) -> None:
    retriever = model.retriever()
    run = retriever.search_vectors(model.encode(["fish swim"]), ["q"], k=4)
    reference = SpladeRetriever(model.splade)
    reference.index_vectors(model.splade.encode(DOCS), IDS)
    expected = reference.search({"q": "fish swim"}, k=4)
    got, want = run.ranked("q"), expected.ranked("q")
    assert [d for d, _ in got] == [d for d, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-5)


def test_predict_and_rank(model: SparseQueryEncoder) -> None:
    scores = model.predict([("cats", DOCS[0]), ("dogs", DOCS[1])])
    assert scores.dtype == np.float32 and scores.shape == (2,)
    ranked = model.rank("cats", DOCS, top_k=2)
    assert len(ranked) == 2 and ranked[0]["score"] >= ranked[1]["score"]


def test_save_and_load_round_trip(model: SparseQueryEncoder, tmp_path: Path) -> None:
    model.save(tmp_path / "sq")
    again = SparseQueryEncoder.load(tmp_path / "sq", doc_texts=DOCS)
    assert again.docnos == model.docnos and again.flops_weight == model.flops_weight
    np.testing.assert_allclose(again.encode(["dogs"]).toarray(), model.encode(["dogs"]).toarray(), atol=1e-5)
    assert (again.doc_vectors() != model.doc_vectors()).nnz == 0
    assert again.num_parameters() == model.num_parameters()


def test_bad_inputs_are_refused(model: SparseQueryEncoder) -> None:
    with pytest.raises(ValueError, match=r"doc_vectors must be \[3, "):
        SparseQueryEncoder(model.splade, sp.csr_matrix((3, 5)), ["a", "b", "c"])
    with pytest.raises(ValueError, match="flops_weight"):
        SparseQueryEncoder(model.splade, model.doc_vectors(), IDS, flops_weight=-1.0)
    bare = SparseQueryEncoder(model.splade, model.doc_vectors(), IDS)
    with pytest.raises(Exception, match="no document texts"):
        bare.list_scores(["cats"], [[DOCS[0]]])
    assert torch.is_tensor(bare.regularization())
