"""Unbiased LambdaMART on the sessions of a click log (distillrank.feedback.unbiased.session_lambdamart)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from distillrank.data.clicklog import ClickLog
from distillrank.data.ltr import LTRDataset
from distillrank.errors import DistillrankError
from distillrank.feedback.unbiased import (
    SessionBatch,
    UnbiasedLambdaMART,
    choose_bias_cost,
    fit_session_lambdamart,
    sessions_from_log,
)

from .conftest import ndcg_at_5


def _random_batch(seed: int, n: int = 40, k: int = 5, n_rows: int = 12) -> SessionBatch:
    rng = np.random.default_rng(seed)
    rows = np.stack([rng.choice(n_rows, k, replace=False) for _ in range(n)])
    clicks = (rng.random((n, k)) < 0.35).astype(np.int8)
    mask = np.ones((n, k), dtype=bool)
    mask[::4, -1] = False  # some short pages
    positions = np.broadcast_to(np.arange(k), (n, k)).copy()
    return SessionBatch(rows, clicks, positions, mask)


def _reference(
    batch: SessionBatch,
    preds: np.ndarray,
    tp: np.ndarray,
    tm: np.ndarray,
    sigma: float,
    norm: bool,
    cost: str,
):
    """Gradients, Hessians and bias costs by explicit loops over sessions and pairs."""
    grad = np.zeros(len(preds))
    hess = np.zeros(len(preds))
    cp, cm = np.zeros(len(tp)), np.zeros(len(tm))
    for s in range(batch.n_sessions):
        slots = np.flatnonzero(batch.mask[s])
        rows, clicks, pos = batch.rows[s, slots], batch.clicks[s, slots], batch.positions[s, slots]
        scores = preds[rows]
        rank = np.empty(len(slots), dtype=int)
        rank[np.argsort(-scores, kind="stable")] = np.arange(len(slots))
        disc = 1 / np.log2(rank + 2.0)
        ideal = sum(1 / np.log2(r + 2.0) for r in range(max(int(clicks.sum()), 1)))
        g, h = np.zeros(len(slots)), np.zeros(len(slots))
        for i in range(len(slots)):
            for j in range(len(slots)):
                if not (clicks[i] and not clicks[j]):
                    continue
                delta = abs(disc[i] - disc[j]) / ideal
                d = sigma * (scores[i] - scores[j])
                rho = 1 / (1 + np.exp(d))
                w = delta / (tp[pos[i]] * tm[pos[j]])
                g[i] -= sigma * w * rho
                g[j] += sigma * w * rho
                h[i] += sigma**2 * w * rho * (1 - rho)
                h[j] += sigma**2 * w * rho * (1 - rho)
                c = delta * np.log1p(np.exp(-d if cost == "loss" else d))
                cp[pos[i]] += c / tm[pos[j]]
                cm[pos[j]] += c / tp[pos[i]]
        if norm:
            total = g[g > 0].sum()  # the sum of the session's lambdas
            if total > 0:
                g *= np.log2(1 + total) / total
                h *= np.log2(1 + total) / total
        np.add.at(grad, rows, g)
        np.add.at(hess, rows, h)
    return grad, hess, cp, cm


@pytest.mark.parametrize("norm", [False, True])
@pytest.mark.parametrize("sigma", [1.0, 2.0])
@pytest.mark.parametrize("cost", ["margin", "loss"])
def test_gradients_and_bias_updates_match_a_loop_over_pairs(norm: bool, sigma: float, cost: str) -> None:
    batch = _random_batch(0)
    preds = np.random.default_rng(1).normal(size=12)
    obj = UnbiasedLambdaMART(batch, n_rows=12, lambda_norm=norm, sigma=sigma, bias_norm=0.0, bias_cost=cost)
    tp = np.array([1.0, 0.8, 0.5, 0.4, 0.3])
    tm = np.array([1.0, 1.5, 2.0, 2.5, 3.0])
    obj.t_plus[:], obj.t_minus[:] = tp, tm
    grad, hess = obj(preds, None)
    g_ref, h_ref, cp, cm = _reference(batch, preds, tp, tm, sigma, norm, cost)
    np.testing.assert_allclose(grad, g_ref, atol=1e-10)
    np.testing.assert_allclose(hess, np.maximum(h_ref, 1e-9), atol=1e-10)
    # bias_norm 0: the new biases are the cost ratios themselves
    np.testing.assert_allclose(obj.t_plus, cp / cp[0])
    np.testing.assert_allclose(obj.t_minus, cm / cm[0])
    assert obj.iterations == 1


def test_gradient_is_the_derivative_of_the_weighted_pairwise_loss() -> None:
    """With the ranks (hence |Delta nDCG|) held fixed, the gradient is d/ds of
    sum w_ij log(1 + exp(-(s_i - s_j))), w_ij = |Delta nDCG_ij| / (t+ t-)."""
    batch = _random_batch(2)
    preds = np.random.default_rng(3).normal(size=12)
    obj = UnbiasedLambdaMART(batch, n_rows=12, lambda_norm=False)
    obj.t_plus[:] = [1.0, 0.9, 0.6, 0.5, 0.2]
    grad, _ = obj(preds, None)
    s = torch.tensor(preds, requires_grad=True)
    loss = torch.zeros((), dtype=torch.float64)
    tp = np.array([1.0, 0.9, 0.6, 0.5, 0.2])
    for b in range(batch.n_sessions):
        slots = np.flatnonzero(batch.mask[b])
        rows, clicks = batch.rows[b, slots], batch.clicks[b, slots]
        rank = np.empty(len(slots), dtype=int)
        rank[np.argsort(-preds[rows], kind="stable")] = np.arange(len(slots))
        disc = 1 / np.log2(rank + 2.0)
        ideal = sum(1 / np.log2(r + 2.0) for r in range(max(int(clicks.sum()), 1)))
        for i in range(len(slots)):
            for j in range(len(slots)):
                if clicks[i] and not clicks[j]:
                    w = abs(disc[i] - disc[j]) / ideal / tp[batch.positions[b, slots[i]]]
                    loss = loss + w * torch.nn.functional.softplus(-(s[rows[i]] - s[rows[j]]))
    loss.backward()
    assert s.grad is not None
    np.testing.assert_allclose(grad, s.grad.numpy(), atol=1e-10)


def test_raw_clicks_keep_the_biases_at_one_and_deepcopy_keeps_the_object() -> None:
    batch = _random_batch(4)
    obj = UnbiasedLambdaMART(batch, n_rows=12, debias=False)
    obj(np.zeros(12), None)
    assert (obj.t_plus == 1).all() and (obj.t_minus == 1).all()
    assert copy.deepcopy({"objective": obj})["objective"] is obj  # lightgbm.train deep-copies params
    capped = UnbiasedLambdaMART(batch, n_rows=12, n_positions=3)  # ranks 3+ share the last bias
    capped(np.zeros(12), None)
    assert capped.t_plus.shape == (3,) and capped.t_plus[0] == 1.0
    with pytest.raises(ValueError, match="sigma"):
        UnbiasedLambdaMART(batch, n_rows=12, sigma=0.0)
    with pytest.raises(ValueError, match="bias_cost"):
        UnbiasedLambdaMART(batch, n_rows=12, bias_cost="paper")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="index row"):
        UnbiasedLambdaMART(batch, n_rows=5)


def _simulated(seed: int, n_queries: int = 150, n_docs: int = 10, n_sessions: int = 6000):
    """Features (x0 carries relevance, x1 is what the logger ranks by) and a PBM click log (eta = 2,
    noise 0.05) of a stochastic logger that shows all 10 documents ordered by x1 plus noise."""
    rng = np.random.default_rng(seed)
    rel = (rng.random((n_queries, n_docs)) < 0.25).astype(float)
    x0 = rel + rng.normal(0, 0.6, rel.shape)
    x1 = 0.3 * rel + rng.normal(0, 1.0, rel.shape)
    theta = np.asarray((0.68, 0.61, 0.48, 0.34, 0.28, 0.20, 0.11, 0.10, 0.08, 0.06)) ** 2
    q = rng.integers(0, n_queries, n_sessions)
    order = np.argsort(-(x1[q] + rng.normal(0, 0.5, (n_sessions, n_docs))), axis=1)
    shown_rel = np.take_along_axis(rel[q], order, axis=1)
    clicks = rng.random((n_sessions, n_docs)) < theta * (0.05 + 0.95 * shown_rel)
    log = ClickLog(
        pd.DataFrame(
            {
                "session_id": np.repeat(np.arange(n_sessions), n_docs),
                "qid": np.repeat([f"q{i}" for i in q], n_docs),
                "position": np.tile(np.arange(1, n_docs + 1), n_sessions),
                "docno": [f"d{j}" for j in order.ravel()],
                "click": clicks.ravel().astype(int),
                "propensity": np.nan,
            }
        )
    )
    features = LTRDataset(
        X=np.stack([x0, x1], axis=-1).reshape(-1, 2),
        y=rel.ravel(),
        qids=np.repeat([f"q{i}" for i in range(n_queries)], n_docs),
        docnos=np.array([f"d{j}" for _ in range(n_queries) for j in range(n_docs)]),
    )
    return log, features, rel


def test_learned_biases_fall_with_rank_and_debiasing_beats_raw_clicks() -> None:
    log, features, _ = _simulated(0)
    _, test, rel_test = _simulated(1, n_sessions=10)
    params = {"num_leaves": 7, "max_depth": 3}
    scores, objectives = {}, {}
    for debias in (False, True):
        booster, obj = fit_session_lambdamart(log, features, debias=debias, num_boost_round=60, params=params)
        scores[debias] = ndcg_at_5(booster.predict(test.X).reshape(rel_test.shape), rel_test)
        objectives[debias] = obj
    t_plus = objectives[True].t_plus
    assert t_plus[0] == 1.0 and t_plus[-1] < 0.5 * t_plus[0]  # clicks deep down are rarer: debiased up
    theta = np.asarray((0.68, 0.61, 0.48, 0.34, 0.28, 0.20, 0.11, 0.10, 0.08, 0.06)) ** 2
    assert np.corrcoef(np.argsort(np.argsort(t_plus)), np.argsort(np.argsort(theta)))[0, 1] > 0.95
    assert scores[True] > scores[False] + 0.03


def test_auto_bias_cost_is_chosen_on_held_out_clicks_and_refitted_on_every_session() -> None:
    log, features, _ = _simulated(0)
    _, test, rel_test = _simulated(1, n_sessions=10)
    params = {"num_leaves": 7, "max_depth": 3}
    truth = {}
    for cost in ("margin", "loss"):
        booster, _ = fit_session_lambdamart(log, features, bias_cost=cost, num_boost_round=60, params=params)
        truth[cost] = ndcg_at_5(booster.predict(test.X).reshape(rel_test.shape), rel_test)
    assert truth["margin"] > truth["loss"] + 0.03  # this logger's log: the margin cost is clearly better
    booster, obj = fit_session_lambdamart(log, features, bias_cost="auto", num_boost_round=60, params=params)
    assert obj.selection is not None and set(obj.selection) == {"margin", "loss"}
    # the held-out clicks alone (no labels) pick the cost the true labels prefer
    assert obj.bias_cost == "margin" and obj.selection["margin"] > obj.selection["loss"]
    plain, plain_obj = fit_session_lambdamart(
        log, features, bias_cost="margin", num_boost_round=60, params=params
    )
    assert obj.batch.n_sessions == plain_obj.batch.n_sessions  # the final fit sees every session
    np.testing.assert_allclose(booster.predict(test.X), plain.predict(test.X))  # = the chosen cost's fit
    assert plain_obj.selection is None
    # the draw of held-out sessions is seeded
    again = choose_bias_cost(log, features, seed=0, num_boost_round=60, params=params)
    assert again == ("margin", obj.selection)
    with pytest.raises(ValueError, match="held_out"):
        choose_bias_cost(log, features, held_out=1.0)
    with pytest.raises(ValueError, match="bias_cost"):
        fit_session_lambdamart(log, features, bias_cost="paper")  # type: ignore[arg-type]
    few = ClickLog(log.df[log.df["session_id"] < 1].reset_index(drop=True))
    with pytest.raises(DistillrankError, match="too few"):
        choose_bias_cost(few, features)


def test_sessions_from_log_keeps_matched_slots_and_sessions_with_pairs() -> None:
    log = ClickLog(
        pd.DataFrame(
            {
                "session_id": [0, 0, 0, 1, 1, 2, 2],
                "qid": ["q", "q", "q", "q", "q", "r", "r"],
                "position": [1, 2, 3, 1, 2, 1, 2],
                "docno": ["a", "zz", "b", "a", "b", "c", "d"],  # zz has no feature row
                "click": [0, 1, 1, 1, 1, 1, 0],  # session 1: all clicked, no pair
                "propensity": np.nan,
            }
        )
    )
    feats = LTRDataset(
        X=np.arange(10, dtype=float).reshape(5, 2),
        y=np.zeros(5),
        qids=np.array(["q", "q", "q", "r", "r"]),
        docnos=np.array(["a", "b", "x", "c", "d"]),
    )
    batch, rows = sessions_from_log(log, feats)
    assert rows.tolist() == [0, 1, 3, 4]  # the feature rows the kept sessions show
    assert batch.n_sessions == 2 and batch.pairs() == 2
    assert rows[batch.rows[0, :2]].tolist() == [0, 1] and batch.positions[0, :2].tolist() == [0, 2]
    assert batch.mask.tolist() == [[True, True], [True, True]]
    assert rows[batch.rows[1]].tolist() == [3, 4] and batch.clicks[1].tolist() == [1, 0]


def test_sessions_from_log_errors() -> None:
    log = ClickLog(
        pd.DataFrame(
            {
                "session_id": [0, 0],
                "qid": ["q", "q"],
                "position": [1, 2],
                "docno": ["a", "b"],
                "click": [1, 1],
            }
        ).assign(propensity=np.nan)
    )
    feats = LTRDataset(
        X=np.zeros((2, 1)), y=np.zeros(2), qids=np.array(["q", "q"]), docnos=np.array(["a", "b"])
    )
    with pytest.raises(DistillrankError, match="no session has both"):
        sessions_from_log(log, feats)
    with pytest.raises(DistillrankError, match="need docnos"):
        sessions_from_log(log, LTRDataset(X=np.zeros((2, 1)), y=np.zeros(2), qids=np.array(["q", "q"])))
    other = LTRDataset(X=np.zeros((1, 1)), y=np.zeros(1), qids=np.array(["x"]), docnos=np.array(["a"]))
    with pytest.raises(DistillrankError, match="share no query"):
        sessions_from_log(log, other)
    dup = LTRDataset(
        X=np.zeros((2, 1)), y=np.zeros(2), qids=np.array(["q", "q"]), docnos=np.array(["a", "a"])
    )
    with pytest.raises(DistillrankError, match="two feature rows"):
        sessions_from_log(log, dup)
    with pytest.raises(ValueError, match="must not set the objective"):
        fit_session_lambdamart(log, feats, params={"objective": "lambdarank"})
