"""DSSM: word hashing, shapes, batch invariance, gradients, persistence, config errors, and learning."""

from __future__ import annotations

import doctest
import random
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import distillrank.models.dssm as dssm_module
from distillrank.errors import DataFormatError
from distillrank.models.base import DualEncoder, ListScorer, Scorer
from distillrank.models.dssm import DSSM, DSSMConfig, LetterTrigrams, letter_trigrams

SMALL: dict[str, Any] = {"n_buckets": 2048, "hidden_sizes": (32, 16)}
QUERIES = ["cheap flights", "black holes"]
DOCS = [
    ["cheap flights to paris and rome", "", "quantum physics"],
    ["quantum physics of black holes", "black cats", "a"],
]


@pytest.fixture
def model() -> DSSM:
    torch.manual_seed(0)
    return DSSM(**SMALL)


def test_doctests() -> None:
    assert doctest.testmod(dssm_module, raise_on_error=True).failed == 0


def test_letter_trigrams() -> None:
    assert letter_trigrams("cat") == ["#ca", "cat", "at#"]
    assert letter_trigrams("a") == ["#a#"]
    assert letter_trigrams("ab") == ["#ab", "ab#"]


def test_hashing_is_crc32_and_case_folded() -> None:
    h = LetterTrigrams(n_buckets=1000)
    expected = {zlib.crc32(g.encode()) % 1000 for g in ["#ca", "cat", "at#"]}
    assert set(h.bag("Cat")) == expected
    assert h.bag("cat cat") == {i: 2 for i in expected}
    assert h.bag("") == {}
    assert LetterTrigrams(n_buckets=1000, lowercase=False).bag("Cat") != h.bag("Cat")
    assert sum(LetterTrigrams(max_words=1).bag("cat dog").values()) == 3


def test_featurize_weightings() -> None:
    h = LetterTrigrams(vocab=["#ca", "cat", "at#"])
    for weighting, w in [("count", 2.0), ("log", float(np.log1p(2))), ("binary", 1.0)]:
        ids, offsets, weights = h.featurize(["cat cat dog", ""], weighting)
        assert ids.tolist() == [0, 1, 2]  # "dog" has no trigram in the vocabulary
        assert offsets.tolist() == [0, 3]
        assert weights.tolist() == pytest.approx([w] * 3)


def test_build_vocab_most_frequent_first() -> None:
    vocab = DSSM.build_vocab(["cat cat cab", "Cat"], max_size=3)
    assert vocab == ["#ca", "at#", "cat"]  # "#ca" 4 times; then "at#", "cat" 3 times each (alphabetical)
    assert DSSM.build_vocab(["cat cab"], min_count=2) == ["#ca"]


def test_protocols(model: DSSM) -> None:
    assert isinstance(model, Scorer)
    assert isinstance(model, ListScorer)
    assert isinstance(model, DualEncoder)


def test_shapes(model: DSSM) -> None:
    scores = model.list_scores(QUERIES, DOCS)
    assert scores.shape == (2, 3)
    assert model.encode_queries(QUERIES).shape == (2, 16)
    emb = model.encode(["a b", "", "cheap flights"], batch_size=2)
    assert emb.shape == (3, 16) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb[[0, 2]], axis=1), 1.0, rtol=1e-5)
    assert np.linalg.norm(emb[1]) <= 1.0 + 1e-5  # no trigram: the tower of the biases (0 at init)
    assert model.encode([]).shape == (0, 16)
    pred = model.predict([(QUERIES[0], DOCS[0][0]), (QUERIES[1], DOCS[1][2])])
    assert pred.shape == (2,) and pred.dtype == np.float32
    ranked = model.rank(QUERIES[0], DOCS[0], top_k=2)
    assert len(ranked) == 2 and ranked[0]["score"] >= ranked[1]["score"]
    full = model.similarity(model.encode_queries(QUERIES), model.encode_docs(DOCS[0]))
    assert full.shape == (2, 3)
    assert float(full.detach().abs().max()) <= 10.0 + 1e-4  # gamma * cos


def test_scores_do_not_depend_on_the_batch(model: DSSM) -> None:
    model.eval()
    batch = model.list_scores(QUERIES, DOCS).detach().numpy()
    pairs = [(q, d) for q, row in zip(QUERIES, DOCS, strict=True) for d in row]
    one_by_one = np.array([model.predict([p])[0] for p in pairs]).reshape(2, 3)
    np.testing.assert_allclose(batch, one_by_one, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(pairs, batch_size=4), batch.ravel(), rtol=1e-5, atol=1e-6)
    ranked = model.rank(QUERIES[0], DOCS[0])
    np.testing.assert_allclose([r["score"] for r in ranked], np.sort(batch[0])[::-1], rtol=1e-5, atol=1e-6)


def test_gradients_flow(model: DSSM) -> None:
    m = DSSM(**SMALL, learn_gamma=True, shared_towers=False)
    m.list_scores(QUERIES, DOCS).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    q_grad = m.query_tower.first.weight.grad
    assert q_grad is not None and float(q_grad.abs().sum()) > 0
    assert m.doc_tower is not None
    d_grad = m.doc_tower.first.weight.grad
    assert d_grad is not None and float(d_grad.abs().sum()) > 0
    assert m.gamma.grad is not None and float(m.gamma.grad) != 0


def test_predict_restores_training_mode(model: DSSM) -> None:
    model.train()
    model.predict([("a", "b")])
    assert model.training


def test_shared_and_separate_towers() -> None:
    torch.manual_seed(0)
    shared, separate = DSSM(**SMALL), DSSM(**SMALL, shared_towers=False)
    text = ["the same text"]
    assert torch.equal(shared.encode_queries(text), shared.encode_docs(text))
    assert not torch.equal(separate.encode_queries(text), separate.encode_docs(text))


def test_seeded_initial_weights() -> None:
    """``seed`` gives the same weights whatever the global generator did before, and leaves it alone."""
    kwargs: dict[str, Any] = {"n_buckets": 64, "hidden_sizes": (8, 4)}
    torch.manual_seed(1)
    a = DSSM(seed=5, **kwargs).state_dict()
    torch.rand(100)  # a different global state
    state = torch.random.get_rng_state()
    b = DSSM(seed=5, **kwargs).state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)  # not advanced
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = DSSM(seed=6, **kwargs).state_dict()
    assert not torch.equal(a["query_tower.first.weight"], c["query_tower.first.weight"])
    d = DSSM(**kwargs).state_dict()  # seed=None: drawn from the global generator, which advances
    assert not torch.equal(torch.random.get_rng_state(), state)
    assert not torch.equal(a["query_tower.first.weight"], d["query_tower.first.weight"])


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"shared_towers": False, "learn_gamma": True, "weighting": "count", "activation": "relu"}],
)
def test_save_load_round_trip(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    torch.manual_seed(1)
    m = DSSM(**SMALL, **kwargs)
    m.save(tmp_path / "m")
    back = DSSM.load(tmp_path / "m")
    assert back.config == m.config
    pairs = [(q, d) for q, row in zip(QUERIES, DOCS, strict=True) for d in row]
    np.testing.assert_array_equal(back.predict(pairs), m.predict(pairs))


def test_save_load_with_vocab(tmp_path: Path) -> None:
    vocab = DSSM.build_vocab([d for row in DOCS for d in row] + QUERIES)
    m = DSSM(hidden_sizes=(8,), vocab=vocab)
    assert m.hasher.dim == len(vocab) and m.query_tower.first.weight.shape == (len(vocab), 8)
    m.save(tmp_path / "m")
    back = DSSM.load(tmp_path / "m")
    assert back.hasher.vocab == vocab
    np.testing.assert_array_equal(back.encode(QUERIES), m.encode(QUERIES))


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no DSSM here \(distillrank_dssm.json is missing\)"):
        DSSM.load(tmp_path)
    (tmp_path / "distillrank_dssm.json").write_text('{"format": "other", "format_version": 1}')
    with pytest.raises(DataFormatError, match="not a distillrank-dssm v1 model"):
        DSSM.load(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_buckets": 0}, "DSSMConfig.n_buckets must be a positive integer; got 0"),
        (
            {"hidden_sizes": ()},
            "DSSMConfig.hidden_sizes must be a non-empty list of positive integers; got ()",
        ),
        ({"hidden_sizes": (8, 0)}, "DSSMConfig.hidden_sizes must be a non-empty list of positive integers"),
        ({"activation": "sigmoid"}, "DSSMConfig.activation must be one of ('tanh', 'relu'); got 'sigmoid'"),
        ({"gamma": 0}, "DSSMConfig.gamma must be a finite number > 0; got 0"),
        ({"gamma": float("nan")}, "DSSMConfig.gamma must be a finite number > 0; got nan"),
        (
            {"weighting": "tfidf"},
            "DSSMConfig.weighting must be one of ('count', 'log', 'binary'); got 'tfidf'",
        ),
        ({"shared_towers": 1}, "DSSMConfig.shared_towers must be True or False; got 1"),
        ({"max_words": 0}, "DSSMConfig.max_words must be a positive integer or None; got 0"),
    ],
)
def test_bad_config(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as err:
        DSSMConfig(**kwargs)
    assert str(err.value).startswith(message)


def test_bad_inputs(model: DSSM) -> None:
    with pytest.raises(ValueError, match=r"DSSMConfig: unknown fields \['depth'\]"):
        DSSMConfig.from_dict({"depth": 3})
    with pytest.raises(ValueError, match="vocab must be a non-empty list of trigrams"):
        DSSM(vocab=[])
    with pytest.raises(ValueError, match="vocab has duplicate trigrams"):
        DSSM(vocab=["abc", "abc"])
    with pytest.raises(
        ValueError, match=r"every query needs the same number of documents; got list lengths \[1, 2\]"
    ):
        model.list_scores(["a", "b"], [["x"], ["y", "z"]])
    with pytest.raises(ValueError, match="2 queries but 1 document lists"):
        model.list_scores(["a", "b"], [["x"]])
    with pytest.raises(TypeError, match="texts must be a sequence of strings, not one string"):
        model.encode_queries("a query")
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        model.encode(["a"], batch_size=0)


# ---------------------------------------------------------------------- learning
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _synthetic_task() -> tuple[list[list[str]], Any]:
    """20 topics of 12 made-up words. A query is 3 words of a topic; its positive document shares one of
    them and adds 5 other words of the topic; each negative shares another query word (the same lexical
    overlap) plus 5 words of another topic. Word overlap alone cannot tell them apart: the model must
    learn which trigrams go together."""
    rng = random.Random(0)
    words: set[str] = set()
    while len(words) < 240:
        words.add("".join(rng.choice(_LETTERS) for _ in range(rng.randint(4, 8))))
    vocab = sorted(words)
    topics = [vocab[i::20] for i in range(20)]

    def example(r: random.Random, n_neg: int) -> tuple[str, list[str]]:
        t, *others = r.sample(range(20), n_neg + 1)
        qw = r.sample(topics[t], 3)
        pos = [qw[0], *r.sample([w for w in topics[t] if w not in qw], 5)]
        negs = [" ".join([qw[1 + j % 2], *r.sample(topics[o], 5)]) for j, o in enumerate(others)]
        return " ".join(qw), [" ".join(pos), *negs]

    return topics, example


def test_learns_to_rank_the_positive_first() -> None:
    _, example = _synthetic_task()

    def precision_at_1(m: DSSM) -> float:
        r = random.Random(123)
        hits = 0
        for _ in range(100):
            q, docs = example(r, 7)
            hits += m.rank(q, docs)[0]["corpus_id"] == 0
        return hits / 100

    torch.manual_seed(0)
    m = DSSM(n_buckets=4096, hidden_sizes=(64, 32))
    before = precision_at_1(m)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    rng = random.Random(1)
    losses = []
    for _ in range(200):
        batch = [example(rng, 3) for _ in range(16)]
        scores = m.list_scores([b[0] for b in batch], [b[1] for b in batch])
        loss = F.cross_entropy(scores, torch.zeros(len(batch), dtype=torch.long))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    after = precision_at_1(m)
    assert before < 0.5  # chance is 1/8
    assert after >= 0.9, (before, after)
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])


def test_featurize_cache_gives_the_same_inputs_and_is_shared_by_copies() -> None:
    import copy

    hasher = LetterTrigrams(n_buckets=997)
    texts = ["Cats purr, cats purr softly", "dogs bark", ""]
    cold = hasher.featurize(texts, "log")
    warm = hasher.featurize(texts, "log")
    for a, b in zip(cold, warm, strict=True):
        assert torch.equal(a, b)
    counts = hasher.featurize(texts[:1], "count")[2]
    assert sorted(counts.tolist())[-1] == 2.0  # "cat"/"ats" occur twice: count weighting, not log
    clone = copy.deepcopy(hasher)
    assert clone._bag_cache is hasher._bag_cache
    with pytest.raises(ValueError, match="unknown weighting"):
        hasher.featurize(texts, "tfidf")


def test_trigram_counts_add_up_over_collections() -> None:
    corpus, queries = ["cat cat cab", "Cat abba"], ["cabbage", "a cat"]
    grams = DSSM.trigram_counts(corpus)
    grams.update(DSSM.trigram_counts(queries))
    assert DSSM.vocab_from_counts(grams, 7) == DSSM.build_vocab(corpus + queries, 7)
    assert grams == DSSM.trigram_counts(corpus + queries)
