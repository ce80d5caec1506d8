"""CrossEncoder on a tiny random BERT: scores, ordering, bucketing, gradients, persistence, int8, errors."""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from distillrank.errors import DistillrankError
from distillrank.models import _hf
from distillrank.models.base import ListScorer, Scorer
from distillrank.models.cross_encoder import CrossEncoder

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


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads, and on a busy machine threads wait on each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ce(tiny_bert_dir: Path) -> CrossEncoder:
    torch.manual_seed(1)
    return CrossEncoder(tiny_bert_dir, max_length=64)


def test_protocols(ce: CrossEncoder) -> None:
    assert isinstance(ce, Scorer)
    assert isinstance(ce, ListScorer)


def test_predict_shape_and_types(ce: CrossEncoder) -> None:
    scores = ce.predict(PAIRS)
    assert scores.shape == (len(PAIRS),)
    assert scores.dtype == np.float32
    assert np.isfinite(scores).all()
    assert ce.predict([]).shape == (0,)
    probs = ce.predict(PAIRS, apply_sigmoid=True)
    np.testing.assert_allclose(probs, 1 / (1 + np.exp(-scores)), atol=1e-6)


def test_bucketing_matches_unbucketed(ce: CrossEncoder) -> None:
    bucketed = ce.predict(PAIRS, batch_size=4)
    in_order = ce.predict(PAIRS, batch_size=4, sort_by_length=False)
    one_by_one = ce.predict(PAIRS, batch_size=1)
    np.testing.assert_allclose(bucketed, in_order, atol=1e-5)
    np.testing.assert_allclose(bucketed, one_by_one, atol=1e-5)


def test_rank_orders_by_score(ce: CrossEncoder) -> None:
    scores = ce.predict([(QUERIES[0], d) for d in DOCS])
    ranked = ce.rank(QUERIES[0], DOCS)
    assert [r["corpus_id"] for r in ranked] == list(np.argsort(-scores, kind="stable"))
    assert [r["score"] for r in ranked] == pytest.approx(sorted(scores.tolist(), reverse=True), abs=1e-6)
    assert len(ce.rank(QUERIES[0], DOCS, top_k=2)) == 2


def test_list_scores_match_predict_and_carry_gradients(ce: CrossEncoder) -> None:
    docs = [DOCS[:3], DOCS[3:], [DOCS[0], "", ""]]
    ce.eval()
    with torch.no_grad():
        scores = ce.list_scores(QUERIES, docs)
    assert scores.shape == (3, 3)
    expected = ce.predict([(q, d) for q, ds in zip(QUERIES, docs, strict=True) for d in ds]).reshape(3, 3)
    np.testing.assert_allclose(scores.numpy(), expected, atol=1e-5)

    ce.train()
    ce.zero_grad()
    ce.list_scores(QUERIES, docs).sum().backward()
    ce.eval()
    grads = [p.grad for p in ce.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    ce.zero_grad()


def test_list_scores_rejects_ragged_lists(ce: CrossEncoder) -> None:
    with pytest.raises(ValueError, match="same number of documents"):
        ce.list_scores(QUERIES[:2], [DOCS[:2], DOCS[:3]])


def test_save_load_round_trip(ce: CrossEncoder, tmp_path: Path) -> None:
    ce.save(tmp_path)
    meta = json.loads((tmp_path / "distillrank.json").read_text())
    assert meta == {"kind": "cross_encoder", "max_length": 64, "num_labels": 1}
    loaded = CrossEncoder.load(tmp_path)
    assert loaded.max_length == 64
    np.testing.assert_allclose(loaded.predict(PAIRS), ce.predict(PAIRS), atol=1e-6)
    assert loaded.num_parameters() == ce.num_parameters()


def test_saved_folder_opens_in_transformers_and_sentence_transformers(
    ce: CrossEncoder, tmp_path: Path
) -> None:
    from sentence_transformers import CrossEncoder as STCrossEncoder
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    ce.save(tmp_path)
    ours = ce.predict(PAIRS)

    hf = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    tok = AutoTokenizer.from_pretrained(tmp_path)
    assert tok.model_max_length == 64
    feats = tok(
        [q for q, _ in PAIRS], [d for _, d in PAIRS], truncation=True, padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        np.testing.assert_allclose(hf(**feats).logits[:, 0].numpy(), ours, atol=1e-5)

    st = STCrossEncoder(str(tmp_path), device="cpu")
    np.testing.assert_allclose(st.predict(PAIRS), ours, atol=1e-5)  # identity activation: raw logits


def _topic_pairs(rng: np.random.Generator, n: int) -> tuple[list[tuple[str, str]], list[float]]:
    """Documents mixing two vocabularies; the target is the share of search words."""
    search = ["ranking", "retrieval", "index", "query", "document", "term", "score", "search", "engine"]
    cats = ["cat", "dog", "purr", "fur", "tail", "whisker", "kitten", "paw", "meow", "bark"]
    pairs, targets = [], []
    for _ in range(n):
        k, share = int(rng.integers(4, 30)), rng.random()
        words = [rng.choice(search) if rng.random() < share else rng.choice(cats) for _ in range(k)]
        pairs.append(("search ranking", " ".join(words)))
        targets.append(4 * sum(w in search for w in words) / k)
    return pairs, targets


def test_quantized_scores_close_to_float(ce: CrossEncoder) -> None:
    # A random head barely separates inputs (scores vary less than int8 noise), so fine-tune a copy briefly.
    model = copy.deepcopy(ce)
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(60):
        pairs, targets = _topic_pairs(rng, 16)
        scores = model.list_scores([q for q, _ in pairs], [[d] for _, d in pairs])[:, 0]
        loss = ((scores - torch.tensor(targets)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()

    pairs, targets = _topic_pairs(rng, 80)
    fp32 = model.predict(pairs)
    assert spearmanr(fp32, targets).statistic > 0.8  # the copy did learn: scores vary with the input
    q = model.quantize()
    int8 = q.predict(pairs)
    assert q.quantized and not model.quantized
    np.testing.assert_array_equal(model.predict(pairs), fp32)  # the original is untouched
    assert spearmanr(fp32, int8).statistic > 0.95
    assert np.abs(fp32 - int8).max() < 0.5 * fp32.std()
    with pytest.raises(DistillrankError, match="quantized model cannot be saved"):
        q.save("unused")


def test_shallow_cross_encoder(tiny_bert_dir: Path, tmp_path: Path) -> None:
    shallow = CrossEncoder(tiny_bert_dir, max_length=64, num_layers=1)
    assert shallow.model.config.num_hidden_layers == 1
    shallow.save(tmp_path)
    loaded = CrossEncoder.load(tmp_path)
    assert loaded.model.config.num_hidden_layers == 1
    np.testing.assert_allclose(loaded.predict(PAIRS), shallow.predict(PAIRS), atol=1e-6)


@pytest.mark.parametrize(
    ("num_layers", "message"),
    [
        (3, "num_layers=3 is larger than the model's 2 layers"),
        (0, "num_layers must be at least 1, got 0"),
    ],
)
def test_bad_num_layers(tiny_bert_dir: Path, num_layers: int, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        CrossEncoder(tiny_bert_dir, max_length=64, num_layers=num_layers)


def test_missing_model_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DistillrankError, match="no folder at"):
        CrossEncoder(str(tmp_path / "missing"))
    with pytest.raises(DistillrankError, match="Hugging Face Hub is disabled"):
        CrossEncoder("no-such-org/no-such-model")
    (tmp_path / "notamodel").mkdir()
    (tmp_path / "notamodel" / "readme.txt").write_text("hi")
    with pytest.raises(DistillrankError, match="notamodel: not a model folder"):
        CrossEncoder(str(tmp_path / "notamodel"))


def test_default_encoder_path_is_the_packaged_minilm() -> None:
    path = Path(_hf.default_encoder_path())
    assert (path / "config.json").exists()


def test_torch_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    try:
        assert _hf.torch_threads(1) == 1
        assert torch.get_num_threads() == 1
        monkeypatch.setattr(_hf, "_threads_set", False)
        monkeypatch.setenv("DISTILLRANK_THREADS", "2")
        assert _hf.torch_threads() == 2
        assert _hf.torch_threads() == 2  # set once; later calls leave it alone
        with pytest.raises(ValueError, match="threads must be at least 1"):
            _hf.torch_threads(0)
    finally:
        torch.set_num_threads(before)


def test_fused_qkv_gives_the_same_scores(ce: CrossEncoder) -> None:
    from distillrank.models._fused import FusedQKV, fuse_qkv

    rng = np.random.default_rng(1)
    pairs, _ = _topic_pairs(rng, 24)
    for max_tokens in (512, 4):  # every batch fused / every batch through the three projections
        fused = copy.deepcopy(ce)
        assert fuse_qkv(fused.model, max_tokens=max_tokens) == 2  # the tiny BERT's two layers
        assert sum(isinstance(m, FusedQKV) for m in fused.model.modules()) == 2
        np.testing.assert_allclose(fused.predict(pairs), ce.predict(pairs), rtol=1e-5, atol=1e-6)
    # int8: the fused projection quantises its input once, with the same scale the three layers used
    np.testing.assert_allclose(
        ce.quantize(fuse_qkv=True).predict(pairs), ce.quantize(fuse_qkv=False).predict(pairs), atol=1e-5
    )
    layer = next(m for m in fused.model.modules() if isinstance(m, FusedQKV))
    x = torch.randn(2, 3, layer.proj.in_features)
    assert torch.allclose(layer.part(x, 1), layer.proj(x)[..., layer.width : 2 * layer.width])
    assert torch.allclose(layer.part(torch.zeros_like(x), 0), layer.proj.bias[: layer.width].expand(2, 3, -1))
    long = torch.randn(1, 5, layer.proj.in_features)  # more positions than max_tokens=4: separate
    assert torch.allclose(layer.part(long, 2), layer.separate[2](long))
    assert torch.allclose(layer.part(long, 2), layer.proj(long)[..., 2 * layer.width :], atol=1e-6)


def test_new_head_is_seeded_and_leaves_the_global_generator_alone(tiny_bert_dir: Path) -> None:
    def head(**kwargs: object) -> torch.Tensor:
        model = CrossEncoder(tiny_bert_dir, max_length=16, **kwargs)  # type: ignore[arg-type]
        return torch.cat(
            [p.detach().flatten() for n, p in model.model.named_parameters() if "classifier" in n]
        )

    first = head(seed=3)
    torch.rand(10)  # whatever the global generator did before, the seeded head is the same
    assert torch.equal(head(seed=3), first)
    assert not torch.equal(head(seed=4), first)
    torch.manual_seed(11)
    expected_next = torch.rand(1)
    torch.manual_seed(11)
    head(seed=3)
    assert torch.equal(torch.rand(1), expected_next)  # the global generator was not advanced
    torch.manual_seed(11)
    unseeded = head(seed=None)
    torch.manual_seed(11)
    assert torch.equal(head(seed=None), unseeded)  # seed=None: the global generator decides


def test_a_fresh_head_loads_quietly_and_a_damaged_encoder_warns(
    tiny_bert_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """From an encoder the head is new by design: no transformers load report; an encoder checkpoint that
    lacks weights of the encoder itself is a warning naming them."""
    import warnings

    from safetensors.torch import load_file, save_file

    from distillrank.models._hf import load_sequence_classifier

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_sequence_classifier(tiny_bert_dir)
    captured = capfd.readouterr()
    assert "MISSING" not in captured.out + captured.err
    assert "LOAD REPORT" not in captured.out + captured.err

    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_bert_dir, damaged)
    weights = load_file(damaged / "model.safetensors")
    dropped = sorted(k for k in weights if "layer.1." in k)
    save_file({k: v for k, v in weights.items() if k not in dropped}, damaged / "model.safetensors")
    with pytest.warns(UserWarning, match="encoder weights missing from the checkpoint") as record:
        load_sequence_classifier(damaged)
    assert "layer.1." in str(record[0].message)


def test_a_single_pair_or_a_string_is_a_clear_error(ce: CrossEncoder) -> None:
    # a bare pair was read as two "pairs" of characters (IndexError: string index out of range), and a
    # string given to rank as one document per character (a silent wrong ranking)
    with pytest.raises(TypeError, match=r"pairs\[0\] is a str \('what is bm25'\).*\[\(query, document\)\]"):
        ce.predict(("what is bm25", "BM25 ranks documents"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"pairs\[0\] is a tuple of 1 item"):
        ce.predict([("what is bm25",)])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="docs must be a sequence of strings, not one string"):
        ce.rank("what is bm25", "BM25 ranks documents")  # type: ignore[arg-type]
    assert ce.predict([["what is bm25", "BM25 ranks documents"]]).shape == (1,)  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"pairs\[1\]: the document must be a str, not a NoneType"):
        ce.predict([("q", "d"), ("q", None)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        ce.predict([("q", "d")], batch_size=0)  # was a ZeroDivisionError
    with pytest.raises(ValueError, match=r"top_k must be a positive integer \(or None for all\); got -1"):
        ce.rank("q", ["a", "b"], top_k=-1)  # dropped the last document, silently
