"""Fusion of teacher signals, and re-ranking the head of a first-stage ranking."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

from distillrank.data import Qrels
from distillrank.pipeline.paths import rerank_head
from distillrank.pipeline.teacher import Fusion, fit_fusion

SIGNALS = {
    # the cross-encoder puts the relevant d1 last, BM25 and dense put it first
    "cross_encoder": {"q1": {"d1": 0.0, "d2": 2.0, "d3": 1.0}, "q2": {"d4": 3.0, "d5": 0.0}},
    "bm25": {"q1": {"d1": 9.0, "d2": 1.0, "d3": 2.0}, "q2": {"d4": 5.0, "d5": 1.0}},
    "dense": {"q1": {"d1": 0.9, "d2": 0.1, "d3": 0.5}, "q2": {"d4": 0.8, "d5": 0.2}},
}
QRELS = Qrels({"q1": {"d1": 1}, "q2": {"d4": 1}})


def test_combine_is_a_weighted_sum_of_per_query_z_scores() -> None:
    run = Fusion({"cross_encoder": 0.5, "bm25": 0.5}).combine(SIGNALS)
    ce = np.array([0.0, 2.0, 1.0])
    bm = np.array([9.0, 1.0, 2.0])
    z = lambda x: (x - x.mean()) / x.std()  # noqa: E731
    expected = 0.5 * z(ce) + 0.5 * z(bm)
    assert [run["q1"][d] for d in ("d1", "d2", "d3")] == pytest.approx(expected.tolist())


def test_single_signal_keeps_raw_scores() -> None:
    run = Fusion().combine(SIGNALS)
    assert run["q2"] == {"d4": 3.0, "d5": 0.0}


def test_fit_fusion_keeps_the_cross_encoder_and_uses_other_signals_when_they_help() -> None:
    fusion = fit_fusion(SIGNALS, QRELS)
    assert fusion.weights.get("cross_encoder", 0) >= 0.1  # never dropped
    assert sum(fusion.weights.values()) == pytest.approx(1.0)
    assert fusion.validation["nDCG@10"] == pytest.approx(1.0)
    assert fusion.validation["nDCG@10 (cross-encoder alone)"] < 1.0


def test_fit_fusion_prefers_the_cross_encoder_alone_on_ties() -> None:
    perfect = {s: {"q1": {"d1": 3.0, "d2": 1.0}} for s in ("cross_encoder", "bm25", "dense")}
    fusion = fit_fusion(perfect, Qrels({"q1": {"d1": 1}}))
    assert fusion.weights == {"cross_encoder": 1.0}


def test_fusion_round_trips(tmp_path) -> None:
    f = Fusion({"cross_encoder": 0.7, "dense": 0.3}, {"nDCG@10": 0.71})
    f.save(tmp_path)
    assert Fusion.load(tmp_path) == f
    assert Fusion.load(tmp_path / "nothing-here") == Fusion()


def test_rerank_head_orders_the_head_and_keeps_the_tail_below() -> None:
    first = [("a", 9.0), ("b", 8.0), ("c", 7.0), ("d", 6.0), ("e", 5.0)]
    out = rerank_head(first, ["a", "b", "c"], np.array([0.1, 0.5, 0.5]))
    assert [d for d, _ in out] == ["b", "c", "a", "d", "e"]  # tie b/c: first-stage order
    scores = [s for _, s in out]
    assert all(x > y for x, y in itertools.pairwise(scores))  # strictly decreasing: ties broken
    assert max(s for _, s in out[3:]) < min(s for _, s in out[:3])
    assert not any(math.isnan(s) for s in scores)


def test_a_query_without_candidates_fuses_quietly() -> None:
    """A query whose words are in no document has no BM25 candidates: no numpy warning, no scores."""
    signals = {s: {**v, "q3": {}} for s, v in SIGNALS.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = Fusion({"cross_encoder": 0.5, "bm25": 0.5}).combine(signals)
    assert run["q3"] == {} and len(run["q1"]) == 3
