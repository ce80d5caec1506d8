"""TeacherScoreCache: computed once, resumable after a crash, keyed by model, candidates and max_length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from distillrank.data import Corpus, Run
from distillrank.distillation.teacher_cache import TeacherScoreCache, cache_key, model_fingerprint

N_DOCS, N_QUERIES = 40, 6


@pytest.fixture(scope="module")
def collection() -> tuple[Corpus, dict[str, str], dict[str, list[str]]]:
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    docnos = [f"d{i}" for i in range(N_DOCS)]
    texts = [" ".join(rng.choice(words, size=rng.integers(2, 30))) for _ in range(N_DOCS)]
    corpus = Corpus(docnos, [f"title {i}" if i % 3 else "" for i in range(N_DOCS)], texts)
    queries = {f"q{i}": " ".join(rng.choice(words, size=3)) for i in range(N_QUERIES)}
    candidates = {q: sorted(rng.choice(docnos, size=15, replace=False).tolist()) for q in queries}
    return corpus, queries, candidates


class CountingScorer:
    """A deterministic scorer that counts its calls and can fail at a given call."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls = 0
        self.pairs = 0
        self.fail_at = fail_at

    def __call__(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        if self.fail_at is not None and self.calls == self.fail_at:
            raise RuntimeError("scorer crashed")
        self.calls += 1
        self.pairs += len(pairs)
        return np.array([len(q) * 0.5 + len(d) - 0.01 * d.count("a") for q, d in pairs])


def test_scores_are_computed_once_then_served_from_disk(tmp_path: Path, collection) -> None:
    corpus, queries, candidates = collection
    cache = TeacherScoreCache(tmp_path)
    scorer = CountingScorer()
    first = cache.get_or_compute(candidates, scorer, queries, corpus, fingerprint="teacher-a", chunk_size=8)
    n_pairs = sum(len(v) for v in candidates.values())
    assert scorer.pairs == n_pairs and scorer.calls == -(-n_pairs // 8)
    again = CountingScorer()
    second = cache.get_or_compute(candidates, again, queries, corpus, fingerprint="teacher-a", chunk_size=8)
    assert again.calls == 0 and cache.last_scored == 0
    assert second.to_dict() == first.to_dict()
    assert set(first) == set(candidates)
    for q, docs in candidates.items():
        assert set(first[q]) == set(docs)
        expected = CountingScorer()([(queries[q], corpus[d].full_text()) for d in docs])
        np.testing.assert_allclose([first[q][d] for d in docs], expected)


def test_crash_then_resume_scores_only_missing_chunks(tmp_path: Path, collection) -> None:
    corpus, queries, candidates = collection
    n_pairs = sum(len(v) for v in candidates.values())
    chunk = 8
    n_chunks = -(-n_pairs // chunk)
    reference = TeacherScoreCache(tmp_path / "ref").get_or_compute(
        candidates, CountingScorer(), queries, corpus, fingerprint="t", chunk_size=chunk
    )
    cache = TeacherScoreCache(tmp_path / "cache")
    crashing = CountingScorer(fail_at=3)
    with pytest.raises(RuntimeError, match="scorer crashed"):
        cache.get_or_compute(candidates, crashing, queries, corpus, fingerprint="t", chunk_size=chunk)
    assert crashing.calls == 3  # chunks 0, 1, 2 finished and were written
    resumed = CountingScorer()
    run = cache.get_or_compute(candidates, resumed, queries, corpus, fingerprint="t", chunk_size=chunk)
    assert resumed.calls == n_chunks - 3
    assert resumed.pairs == n_pairs - 3 * chunk
    assert run.to_dict() == reference.to_dict()


def test_a_run_works_as_candidates(tmp_path: Path, collection) -> None:
    corpus, queries, candidates = collection
    run = Run({q: {d: float(i) for i, d in enumerate(docs)} for q, docs in candidates.items()})
    cache = TeacherScoreCache(tmp_path)
    from_run = cache.get_or_compute(run, CountingScorer(), queries, corpus, fingerprint="t")
    key_run = cache.last_key
    scorer = CountingScorer()
    cache.get_or_compute(candidates, scorer, queries, corpus, fingerprint="t")
    assert cache.last_key == key_run and scorer.calls == 0
    assert from_run.name == "teacher"


def test_key_changes_with_model_candidates_and_max_length(tmp_path: Path, collection) -> None:
    corpus, queries, candidates = collection
    cache = TeacherScoreCache(tmp_path)

    def key(cands=candidates, fingerprint="m1", max_length=256, qs=queries) -> str:
        cache.get_or_compute(
            cands, CountingScorer(), qs, corpus, fingerprint=fingerprint, max_length=max_length
        )
        assert cache.last_key is not None
        return cache.last_key

    base = key()
    assert key() == base
    assert key(fingerprint="m2") != base
    assert key(max_length=512) != base
    fewer = {q: docs[:-1] for q, docs in candidates.items()}
    assert key(cands=fewer) != base
    edited = {**queries, "q0": queries["q0"] + " changed"}
    assert key(qs=edited) != base
    # the key does not depend on the order candidates are listed in
    shuffled = {q: list(reversed(docs)) for q, docs in reversed(list(candidates.items()))}
    assert key(cands=shuffled) == base


def test_cache_key_is_order_independent() -> None:
    pairs = [("q1", "d1"), ("q1", "d2"), ("q2", "d1")]
    assert cache_key("m", pairs, 128) == cache_key("m", list(reversed(pairs)), 128)
    assert cache_key("m", pairs, 128) != cache_key("m", pairs[:2], 128)


def test_model_fingerprint_hashes_folder_contents(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"\x00\x01weights")
    (model / "config.json").write_text("{}")
    first = model_fingerprint(model)
    assert first.startswith("sha256:") and model_fingerprint(str(model)) == first
    (model / "model.safetensors").write_bytes(b"\x00\x02weights")
    assert model_fingerprint(model) != first
    assert model_fingerprint("my-teacher@v3") == "my-teacher@v3"
    with pytest.raises(FileNotFoundError):
        model_fingerprint(tmp_path / "missing")


@pytest.mark.parametrize(
    ("scorer", "message"),
    [
        (lambda pairs: np.zeros(len(pairs) + 1), "returned .* scores for"),
        (lambda pairs: np.full(len(pairs), np.nan), "NaN or infinite"),
    ],
)
def test_bad_scorer_output(tmp_path: Path, collection, scorer, message: str) -> None:
    corpus, queries, candidates = collection
    with pytest.raises(ValueError, match=message):
        TeacherScoreCache(tmp_path).get_or_compute(candidates, scorer, queries, corpus, fingerprint="t")


def test_unknown_query_or_document(tmp_path: Path, collection) -> None:
    corpus, queries, _ = collection
    cache = TeacherScoreCache(tmp_path)
    with pytest.raises(KeyError, match="'nosuch' is not in the corpus"):
        cache.get_or_compute({"q0": ["nosuch"]}, CountingScorer(), queries, corpus, fingerprint="t")
    with pytest.raises(KeyError, match="query 'qx' has no text"):
        cache.get_or_compute({"qx": ["d1"]}, CountingScorer(), queries, corpus, fingerprint="t")


def test_progress_bar_runs(tmp_path: Path, collection) -> None:
    corpus, queries, candidates = collection
    run = TeacherScoreCache(tmp_path).get_or_compute(
        candidates, CountingScorer(), queries, corpus, fingerprint="t", show_progress=True
    )
    assert len(run) == N_QUERIES


def test_chunks_hold_pairs_sorted_by_length_and_are_deterministic(tmp_path: Path, collection) -> None:
    corpus, queries, candidates = collection
    seen: list[list[tuple[str, str]]] = []

    def recording(pairs: list[tuple[str, str]]) -> np.ndarray:
        seen.append(list(pairs))
        return np.zeros(len(pairs))

    TeacherScoreCache(tmp_path / "a").get_or_compute(
        candidates, recording, queries, corpus, fingerprint="t", chunk_size=10
    )
    lengths = [len(q) + len(d) for chunk in seen for q, d in chunk]
    assert lengths == sorted(lengths, reverse=True)  # longest first, across and within chunks
    first, seen[:] = list(seen), []
    shuffled = {q: list(reversed(docs)) for q, docs in reversed(list(candidates.items()))}
    TeacherScoreCache(tmp_path / "b").get_or_compute(
        shuffled, recording, queries, corpus, fingerprint="t", chunk_size=10
    )
    assert seen == first


def test_added_candidates_score_only_the_new_pairs(tmp_path: Path, collection) -> None:
    corpus, queries, candidates = collection
    cache = TeacherScoreCache(tmp_path)
    first_half = {q: docs for q, docs in list(candidates.items())[:3]}
    before = cache.get_or_compute(
        first_half, CountingScorer(), queries, corpus, fingerprint="t", chunk_size=8
    )
    scorer = CountingScorer()
    full = cache.get_or_compute(candidates, scorer, queries, corpus, fingerprint="t", chunk_size=8)
    n_new = sum(len(docs) for q, docs in candidates.items() if q not in first_half)
    assert scorer.pairs == n_new and cache.last_scored == n_new
    assert {q: full[q] for q in first_half} == before.to_dict()
    fresh = TeacherScoreCache(tmp_path / "fresh").get_or_compute(
        candidates, CountingScorer(), queries, corpus, fingerprint="t", chunk_size=8
    )
    assert full.to_dict() == fresh.to_dict()

    # another teacher or max_length, or an edited text, is scored again
    other = CountingScorer()
    cache.get_or_compute(candidates, other, queries, corpus, fingerprint="t2", chunk_size=8)
    assert other.pairs == sum(len(v) for v in candidates.values())
    longer = CountingScorer()
    cache.get_or_compute(candidates, longer, queries, corpus, fingerprint="t", max_length=64, chunk_size=8)
    assert longer.pairs == other.pairs
    edited = dict(queries, q0=queries["q0"] + " edited")
    again = CountingScorer()
    cache.get_or_compute(candidates, again, edited, corpus, fingerprint="t", chunk_size=8)
    assert again.pairs == len(candidates["q0"])
