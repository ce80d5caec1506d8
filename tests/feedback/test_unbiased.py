"""Unbiased learning from clicks: hand-computed estimator values, clipping, unbiasedness over simulated
sessions (and the doubly robust property), the losses built on distillrank.losses, and LightGBM."""

from __future__ import annotations

import doctest
import importlib
import itertools

import lightgbm as lgb
import numpy as np
import pytest
import torch

from distillrank.data.run import Run
from distillrank.feedback.simulation import ClickSimulator, RandTopN
from distillrank.feedback.unbiased import (
    IPS,
    SNIPS,
    ClickRegression,
    ClickStats,
    DoublyRobust,
    FullInformation,
    Naive,
    clip_propensities,
    cross_fit_predict,
    get_estimator,
    lambdarank_labels,
    lgbm_objective,
    lgbm_setup,
    listwise,
    pairwise,
    pointwise,
    query_folds,
    training_candidates,
    unbiased_loss,
)
from distillrank.losses import pair_ce_loss, softmax_loss

from .conftest import ndcg_at_5

# ----------------------------------------------------------------------------------- hand-computed values
# one query, 3 documents, N = 4 sessions: C, E (realised exposure), P (expected exposure)
C = np.array([3.0, 1.0, 0.0])
E = np.array([4.0, 0.5, 0.0])
P = np.array([3.0, 1.0, 0.1])
R_HAT = np.array([0.5, 0.5, 0.5])


def stats(noise: np.ndarray | None = None) -> ClickStats:
    return ClickStats(C, E, P, 4.0, noise)


@pytest.mark.parametrize(
    ("estimator", "expected"),
    [
        (Naive(), [3 / 4, 1 / 4, 0.0]),
        (IPS(clip=0.1), [3 / 3, 1 / 1, 0 / 0.4]),  # C / max(P, 0.4)
        (IPS(clip=0.5), [3 / 3, 1 / 2, 0.0]),  # C / max(P, 2)
        (SNIPS(clip=0.1), [3 / 4, 1 / 0.5, 0.0]),  # C / max(E, 0.4)
        (DoublyRobust(clip=0.1), [0.5 + (3 - 2) / 3, 0.5 + (1 - 0.25) / 1, 0.5 + 0 / 0.4]),
    ],
)
def test_hand_computed_values(estimator: object, expected: list[float]) -> None:
    got = estimator.relevance(stats(), predicted=R_HAT)  # type: ignore[attr-defined]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # the same on torch tensors, with a batch dimension
    t = ClickStats(*(torch.tensor(x)[None] for x in (C, E, P)), torch.tensor([[4.0]]))
    got_t = estimator.relevance(t, predicted=torch.tensor(R_HAT)[None])  # type: ignore[attr-defined]
    assert isinstance(got_t, torch.Tensor)
    np.testing.assert_allclose(got_t[0].numpy(), expected, rtol=1e-12)


def test_noise_is_subtracted_by_the_corrected_estimators_only() -> None:
    noise = 0.1 * E  # B = f E with f = 0.1
    np.testing.assert_allclose(IPS(clip=0.1).relevance(stats(noise)), (C - noise) / np.maximum(P, 0.4))
    np.testing.assert_allclose(Naive().relevance(stats(noise)), C / 4)
    dr = DoublyRobust(clip=0.1).relevance(stats(noise), predicted=R_HAT)
    np.testing.assert_allclose(dr, R_HAT + (C - noise - E * R_HAT) / np.maximum(P, 0.4))


def test_snips_equals_ips_for_a_deterministic_logger() -> None:
    s = ClickStats(C, E, None, 4.0)  # P = E
    np.testing.assert_allclose(SNIPS(0.1).relevance(s), IPS(0.1).relevance(s))


def test_full_information_returns_the_labels_and_needs_them() -> None:
    np.testing.assert_allclose(FullInformation().relevance(stats(), labels=[1.0, 0.0, 2.0]), [1, 0, 2])
    with pytest.raises(ValueError, match="true relevance"):
        FullInformation().relevance(stats())
    with pytest.raises(ValueError, match="predicted relevance"):
        DoublyRobust().relevance(stats())


def test_clipping_bounds_the_weights() -> None:
    p = np.array([0.9, 0.05, 0.0])
    np.testing.assert_allclose(clip_propensities(p, 0.1), [0.9, 0.1, 0.1])
    one_click = ClickStats(np.ones(3), p, None, 1.0)
    assert IPS(clip=0.1).relevance(one_click).max() == pytest.approx(10.0)  # <= 1 / clip


def test_without_clipping_a_click_on_an_unexposed_result_is_an_error() -> None:
    with pytest.raises(ValueError, match="pass clip > 0"):
        IPS(clip=0.0).relevance(ClickStats(np.array([1.0]), np.array([0.0])))
    # no click, no exposure: 0, not nan
    assert IPS(clip=0.0).relevance(ClickStats(np.array([0.0]), np.array([0.0]))).tolist() == [0.0]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: IPS(clip=1.5), "clip must be a number in \\[0, 1\\]"),
        (lambda: SNIPS(clip=-0.1), "clip must be"),
        (lambda: get_estimator("magic"), "unknown estimator 'magic'"),
        (lambda: ClickStats(np.ones(3), np.ones(2)), "does not broadcast"),
        (lambda: ClickStats(-np.ones(2), np.ones(2)), "clicks must be >= 0"),
        (lambda: clip_propensities(np.ones(2), 2.0), "clip must be"),
    ],
)
def test_bad_inputs(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


# ----------------------------------------------------------------------------------- unbiasedness
GRADES = {"a": 1, "b": 0, "c": 1, "d": 0, "e": 0}
SIM = ClickSimulator(eta=1.0, eps_minus=0.1, eps_plus=1.0, top_k=5)
THETA = SIM.examination(5)
ALPHA = THETA / THETA[0]
TRUTH = {d: THETA[0] * (0.1 + 0.9 * g) for d, g in GRADES.items()}  # clicks at rank 1 per session
N_SESSIONS = 100_000


@pytest.fixture(scope="module")
def uniform_log():
    """Every session shows the 5 documents in a uniformly random order (full support, known P)."""
    run = Run({"q": {d: float(5 - i) for i, d in enumerate(GRADES)}})
    return SIM.simulate(run, {"q": GRADES}, N_SESSIONS, rng=11, intervention=RandTopN(5))


def _stats(log, propensities: np.ndarray, expected: float | None) -> tuple[list[str], ClickStats]:
    df = log.df
    docs = list(GRADES)
    a = propensities[df["position"].to_numpy() - 1]
    c = np.array([df.loc[df["docno"] == d, "click"].sum() for d in docs], dtype=float)
    e = np.array([a[(df["docno"] == d).to_numpy()].sum() for d in docs])
    p = None if expected is None else np.full(len(docs), expected)
    return docs, ClickStats(c, e, p, float(N_SESSIONS))


def test_ips_recovers_relevance_from_position_biased_clicks(uniform_log) -> None:
    # the policy puts each document at each rank with probability 1/5: P = N * mean(alpha)
    docs, s = _stats(uniform_log, ALPHA, N_SESSIONS * ALPHA.mean())
    truth = np.array([TRUTH[d] for d in docs])
    # binomial standard error of a rate near 0.68 over ~30,000 effective impressions is ~0.003;
    # the bound is about 4 standard errors
    for est in (IPS(clip=0.01), SNIPS(clip=0.01)):
        np.testing.assert_allclose(est.relevance(s), truth, atol=0.012)
    # naive clicks are off by the mean examination (0.49 of rank 1's)
    naive = Naive().relevance(s)
    assert np.all(np.abs(naive - truth)[truth > 0.5] > 0.2)


def test_ips_estimate_of_a_rankings_utility(uniform_log) -> None:
    docs, s = _stats(uniform_log, ALPHA, N_SESSIONS * ALPHA.mean())
    rel = dict(zip(docs, IPS(clip=0.01).relevance(s), strict=True))
    for ranking in (["a", "c", "b", "d", "e"], ["e", "d", "b", "c", "a"]):
        true_value = sum(ALPHA[k] * TRUTH[d] for k, d in enumerate(ranking))
        estimate = sum(ALPHA[k] * rel[d] for k, d in enumerate(ranking))
        assert estimate == pytest.approx(true_value, rel=0.02)


def test_dr_is_unbiased_with_a_wrong_model_and_right_propensities(uniform_log) -> None:
    docs, s = _stats(uniform_log, ALPHA, N_SESSIONS * ALPHA.mean())
    truth = np.array([TRUTH[d] for d in docs])
    wrong = np.array([0.0, 0.9, 0.1, 0.5, 0.3])
    np.testing.assert_allclose(DoublyRobust(clip=0.01).relevance(s, predicted=wrong), truth, atol=0.012)


def test_dr_is_unbiased_with_a_right_model_and_wrong_expected_exposure(uniform_log) -> None:
    # heavy clipping makes the denominator wrong: IPS is biased, DR with the right model is not
    docs, s = _stats(uniform_log, ALPHA, N_SESSIONS * ALPHA.mean())
    truth = np.array([TRUTH[d] for d in docs])
    ips = IPS(clip=0.9).relevance(s)
    dr = DoublyRobust(clip=0.9).relevance(s, predicted=truth)
    assert np.abs(ips - truth).max() > 0.1
    np.testing.assert_allclose(dr, truth, atol=0.012)


# ----------------------------------------------------------------------------------- losses
SCORES = torch.tensor([[2.0, 1.0, 0.0, -1.0], [0.5, -0.5, 1.5, 9.0]], dtype=torch.float64)
MASK = torch.tensor([[True, True, True, True], [True, True, True, False]])
REL = torch.tensor([[1.5, 0.0, 0.5, 0.0], [0.0, 2.0, 0.0, 7.0]], dtype=torch.float64)


def test_listwise_is_the_ips_weighted_softmax_cross_entropy() -> None:
    logp = torch.log_softmax(SCORES[0], dim=-1)
    expected0 = -(REL[0] * logp).sum()
    logp1 = torch.log_softmax(SCORES[1, :3], dim=-1)
    expected1 = -(REL[1, :3] * logp1).sum()
    got = listwise(SCORES, REL, mask=MASK, reduction="none")
    torch.testing.assert_close(got, torch.stack([expected0, expected1]))


def test_pairwise_is_each_relevant_result_against_all_others() -> None:
    s, r = SCORES[0], REL[0]
    expected = sum(
        r[i] * torch.nn.functional.softplus(-(s[i] - s[j])) for i in range(4) for j in range(4) if i != j
    )
    got = pairwise(SCORES[:1], REL[:1], reduction="sum")
    torch.testing.assert_close(got, torch.as_tensor(expected, dtype=torch.float64))


def test_pointwise_mse_and_bce() -> None:
    got = pointwise(SCORES, REL, mask=MASK, reduction="none")
    expected = torch.stack([((SCORES[0] - REL[0]) ** 2).sum(), ((SCORES[1, :3] - REL[1, :3]) ** 2).sum()])
    torch.testing.assert_close(got, expected)
    s, r = torch.tensor([[0.3, -1.2]]), torch.tensor([[0.25, 1.0]])
    bce = pointwise(s, r, kind="bce", reduction="sum")
    manual = -(r * torch.log(torch.sigmoid(s)) + (1 - r) * torch.log(1 - torch.sigmoid(s))).sum()
    torch.testing.assert_close(bce, manual)


@pytest.mark.parametrize("loss", [listwise, pairwise, pointwise])
def test_losses_are_linear_in_the_relevance(loss) -> None:
    r1, r2 = REL.clone(), torch.rand(REL.shape, generator=torch.Generator().manual_seed(0), dtype=REL.dtype)
    a, b = 0.7, 2.5
    combo = loss(SCORES, a * r1 + b * r2, mask=MASK, reduction="sum")
    parts = a * loss(SCORES, r1, mask=MASK, reduction="sum") + b * loss(
        SCORES, r2, mask=MASK, reduction="sum"
    )
    if loss is pointwise:  # affine in r (up to a term without the scores): gradients of mixtures mix
        s = SCORES.clone().requires_grad_(True)
        w = a / (a + b)
        g = torch.autograd.grad(loss(s, w * r1 + (1 - w) * r2, mask=MASK, reduction="sum"), s)[0]
        g1 = torch.autograd.grad(loss(s, r1, mask=MASK, reduction="sum"), s)[0]
        g2 = torch.autograd.grad(loss(s, r2, mask=MASK, reduction="sum"), s)[0]
        torch.testing.assert_close(g, w * g1 + (1 - w) * g2)
    else:
        torch.testing.assert_close(combo, parts)


@pytest.mark.parametrize("loss", [listwise, pairwise, pointwise])
def test_padding_never_reaches_the_loss_or_its_gradient(loss) -> None:
    s = SCORES.clone()
    s[1, 3] = float("nan")
    r = REL.clone()
    r[1, 3] = float("inf")
    s.requires_grad_(True)
    value = loss(s, r.masked_fill(~MASK, 0.0), mask=MASK)
    (grad,) = torch.autograd.grad(value, s)
    assert torch.isfinite(value) and torch.isfinite(grad).all() and grad[1, 3] == 0
    empty = loss(SCORES, REL, mask=torch.zeros_like(MASK))
    assert float(empty) == 0.0


def test_built_on_the_registered_losses() -> None:
    # listwise with relevance summing to 1 per list is exactly softmax_loss; pairwise with a one-hot
    # relevance is pair_ce_loss times the number of pairs
    onehot = torch.tensor([[0.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(listwise(SCORES[:1], onehot), softmax_loss(SCORES[:1], onehot))
    torch.testing.assert_close(pairwise(SCORES[:1], onehot), 3 * pair_ce_loss(SCORES[:1], onehot))


def test_negative_dr_estimates_are_clipped_by_the_listwise_loss() -> None:
    r = torch.tensor([[1.0, -0.5, 0.0]])
    torch.testing.assert_close(listwise(torch.zeros(1, 3), r), listwise(torch.zeros(1, 3), r.clamp(min=0)))


def test_unbiased_loss_from_click_statistics() -> None:
    clicks = torch.tensor([[0.0, 1.0, 0.0]])
    prop = torch.tensor([[1.0, 0.5, 0.25]])
    s = torch.tensor([[1.0, 0.0, 0.0]], requires_grad=True)
    got = unbiased_loss(s, ClickStats.from_sessions(clicks, prop), IPS(clip=0.1), "listwise")
    torch.testing.assert_close(got, listwise(s, clicks / prop))
    naive = unbiased_loss(s, ClickStats.from_sessions(clicks, prop), Naive(), "pairwise")
    torch.testing.assert_close(naive, pairwise(s, clicks))
    dr = unbiased_loss(
        s, ClickStats.from_sessions(clicks, prop), DoublyRobust(0.1), "pointwise", predicted=torch.ones(1, 3)
    )
    assert torch.isfinite(dr)
    with pytest.raises(ValueError, match="loss must be one of"):
        unbiased_loss(s, ClickStats.from_sessions(clicks, prop), IPS(), "magic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind must be"):
        pointwise(s, clicks, kind="hinge")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not match"):
        listwise(s, torch.ones(2, 2))


# ----------------------------------------------------------------------------------- LightGBM
def test_lgbm_objective_gradient_is_the_listwise_loss_gradient() -> None:
    rel = np.array([1.0, 0.2, 0.0, 0.5, -0.3, 0.0, 0.0])
    group = [3, 2, 2]
    preds = np.array([0.3, -0.1, 0.5, 1.0, 0.0, 0.2, 0.2])
    grad, hess = lgbm_objective(rel, group)(preds, None)
    offsets = np.cumsum([0, *group])
    for a, b in itertools.pairwise(offsets):
        s = torch.tensor(preds[a:b], requires_grad=True)
        (g,) = torch.autograd.grad(listwise(s[None], torch.tensor(rel[a:b])[None], reduction="sum"), s)
        np.testing.assert_allclose(grad[a:b], g.numpy(), atol=1e-10)
    assert (hess > 0).all()
    with pytest.raises(ValueError, match="add up"):
        lgbm_objective(rel, [3, 3])
    with pytest.raises(ValueError, match="NaN"):
        lgbm_objective(np.array([np.nan]), [1])


def test_lambdarank_labels_hand_computed() -> None:
    # per query: round(10 r / max_q r); negatives count as 0; an all-zero query gets labels 0
    labels, gain = lambdarank_labels(np.array([2.0, 1.0, 0.26, 0.3, -0.1, 0.0, 0.0]), [3, 2, 2], levels=11)
    assert labels.tolist() == [10, 5, 1, 10, 0, 0, 0]
    np.testing.assert_allclose(gain, np.arange(11) / 10)
    # gain(label) is r / max_q r within half a level
    rel = np.random.default_rng(0).exponential(size=40)
    labels, gain = lambdarank_labels(rel, [25, 15])
    scaled = np.r_[rel[:25] / rel[:25].max(), rel[25:] / rel[25:].max()]
    assert np.abs(np.asarray(gain)[labels] - scaled).max() <= 0.5 / 255 + 1e-12
    with pytest.raises(ValueError, match="add up"):
        lambdarank_labels(rel, [3])
    with pytest.raises(ValueError, match="NaN"):
        lambdarank_labels(np.array([np.nan]), [1])
    with pytest.raises(ValueError, match="levels"):
        lambdarank_labels(rel, [40], levels=1)


def test_lambdarank_objective_hand_computed_first_tree() -> None:
    """One query, estimates r^ = (1, 0.5, 0), all scores 0 (ranks 1, 2, 3 by LightGBM's stable sort).
    Pair lambdas -0.5 |dNDCG_ij| and Hessians 0.25 |dNDCG_ij| with
    dNDCG_ij = |g_i - g_j| |d_i - d_j| / IDCG, ``d_k = 1 / log2(1 + k)``; one leaf per document and
    learning rate 1 give leaf = -sum(grad) / sum(hess)."""
    setup, label = lgbm_setup(np.array([1.0, 0.5, 0.0]), [3], "lambdarank", levels=3)
    assert setup == {"objective": "lambdarank", "label_gain": [0.0, 0.5, 1.0]}
    assert label.tolist() == [2.0, 1.0, 0.0]
    d = 1 / np.log2(np.arange(2, 5))
    idcg = 1.0 * d[0] + 0.5 * d[1]
    ab, bc = 0.5 * (d[0] - d[1]) / idcg, 0.5 * (d[1] - d[2]) / idcg
    expected = [2.0, -2 * (ab - bc) / (ab + bc), -2.0]  # the middle one: about -0.9526
    X = np.array([[0.0], [1.0], [2.0]])
    params = {
        **setup,
        "learning_rate": 1.0,
        "num_leaves": 3,
        "min_data_in_leaf": 1,
        "min_data_in_bin": 1,
        "min_sum_hessian_in_leaf": 0.0,
        "lambda_l2": 0.0,
        "verbose": -1,
        "num_threads": 1,
    }
    booster = lgb.train(params, lgb.Dataset(X, label=label, group=[3]), num_boost_round=1)
    np.testing.assert_allclose(booster.predict(X), expected, rtol=1e-6)
    # the gains are the estimates, not LightGBM's default 2^label - 1 (which gives a different middle leaf)
    default = lgb.train(
        {k: v for k, v in params.items() if k != "label_gain"},
        lgb.Dataset(X, label=label, group=[3]),
        num_boost_round=1,
    )
    assert abs(default.predict(X)[1] - expected[1]) > 0.1


def test_training_candidates() -> None:
    """``auto``: the estimators that know nothing of an unshown candidate train on the shown ones."""
    assert [training_candidates(n) for n in ("naive", "ips", "snips", "dr", "full_info")] == [
        "shown",
        "shown",
        "shown",
        "all",
        "all",
    ]
    assert training_candidates("dr", "shown") == "shown"
    assert training_candidates("ips", "all") == "all"
    assert training_candidates("full_info", "shown") == "all"  # no log: every candidate has a label
    with pytest.raises(ValueError, match="candidates must be one of"):
        training_candidates("ips", "some")


def test_lgbm_setup_softmax_and_errors() -> None:
    rel = np.array([1.0, 0.0, 0.5])
    setup, label = lgbm_setup(rel, [3], "softmax")
    grad, _ = setup["objective"](np.zeros(3), None)
    np.testing.assert_allclose(grad, lgbm_objective(rel, [3])(np.zeros(3), None)[0])
    assert label.tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="unknown objective"):
        lgbm_setup(rel, [3], "pointwise")  # type: ignore[arg-type]


def _biased_ltr(seed: int):
    """200 queries x 10 documents: x0 carries the relevance, x1 is what the logger ranks by (weakly
    related to relevance). Clicks: PBM with eta = 2 on the logger's top 10 (everything shown)."""
    rng = np.random.default_rng(seed)
    nq, nd = 200, 10
    rel = (rng.random((nq, nd)) < 0.25).astype(float)
    x0 = rel + rng.normal(0, 0.6, (nq, nd))
    x1 = 0.3 * rel + rng.normal(0, 1.0, (nq, nd))
    order = np.argsort(-x1, axis=1)
    theta = np.asarray((0.68, 0.61, 0.48, 0.34, 0.28, 0.20, 0.11, 0.10, 0.08, 0.06)) ** 2
    n_sessions = 40
    clicks = np.zeros((nq, nd))
    exposure = np.zeros((nq, nd))
    rank_of = np.argsort(order, axis=1)
    for _ in range(n_sessions):
        p = theta[rank_of] * (0.05 + 0.95 * rel)
        clicks += rng.random((nq, nd)) < p
        exposure += theta[rank_of] / theta[0]
    X = np.stack([x0, x1], axis=-1).reshape(-1, 2)
    return X, rel, clicks, exposure, n_sessions


@pytest.mark.parametrize("objective", ["lambdarank", "softmax"])
def test_lightgbm_ips_beats_naive_on_position_biased_clicks(objective: str) -> None:
    X, _, clicks, exposure, n = _biased_ltr(0)
    X_test, rel_test, *_ = _biased_ltr(1)
    group = np.full(200, 10)
    params = {"learning_rate": 0.1, "num_leaves": 7, "min_data_in_leaf": 20, "verbose": -1, "num_threads": 1}
    scores = {}
    for est in (Naive(), IPS(clip=0.01)):
        rel_hat = est.relevance(ClickStats(clicks.ravel(), exposure.ravel(), None, float(n)))
        setup, label = lgbm_setup(rel_hat, group, objective)  # type: ignore[arg-type]
        booster = lgb.train({**params, **setup}, lgb.Dataset(X, label=label, group=group), num_boost_round=60)
        scores[est.name] = ndcg_at_5(booster.predict(X_test).reshape(200, 10), rel_test)
        importance = booster.feature_importance("gain")
        if est.name == "ips":
            assert importance[0] > importance[1]  # IPS learns the relevance feature, not the logger's
    assert scores["ips"] > scores["naive"] + 0.02


def test_click_regression_recovers_click_rates_per_exposure() -> None:
    rng = np.random.default_rng(0)
    x = np.repeat(np.arange(4), 50).astype(float)[:, None]
    rate = np.array([0.05, 0.2, 0.4, 0.8])[x[:, 0].astype(int)]
    exposure = rng.uniform(5, 20, len(x))
    clicks = rng.poisson(rate * exposure).astype(float)
    model = ClickRegression(num_boost_round=100, params={"min_data_in_leaf": 5}).fit(x, clicks, exposure)
    pred = model.predict(np.arange(4, dtype=float)[:, None])
    g = x[:, 0].astype(int)
    mle = np.bincount(g, clicks) / np.bincount(g, exposure)  # the Poisson MLE of each group's rate
    np.testing.assert_allclose(pred, mle, rtol=0.05)
    np.testing.assert_allclose(pred, [0.05, 0.2, 0.4, 0.8], rtol=0.25)
    with pytest.raises(ValueError, match="no row has exposure"):
        ClickRegression().fit(x, clicks, np.zeros(len(x)))
    with pytest.raises(RuntimeError, match="not fitted"):
        ClickRegression().predict(x)


def test_query_folds_are_balanced_seeded_and_checked() -> None:
    f = query_folds(11, 3, seed=0)
    assert sorted(np.bincount(f).tolist()) == [3, 4, 4]
    np.testing.assert_array_equal(f, query_folds(11, 3, seed=0))
    assert not np.array_equal(f, query_folds(11, 3, seed=1))
    assert (query_folds(5, 1) == 0).all()
    with pytest.raises(ValueError, match="n_folds"):
        query_folds(5, 0)


def test_cross_fitted_predictions_never_see_their_own_clicks() -> None:
    rng = np.random.default_rng(0)
    n = 400
    x = rng.integers(0, 4, n).astype(float)[:, None]
    exposure = rng.uniform(1, 5, n)
    clicks = rng.poisson(0.3 * exposure).astype(float)
    folds = np.arange(n) % 2
    model = ClickRegression(num_boost_round=20, params={"min_data_in_leaf": 5})
    base = cross_fit_predict(model, x, clicks, exposure, folds)
    assert base.shape == (n,) and (base > 0).all()
    # more clicks on fold 0's rows: fold 0's predictions stay, fold 1's (fitted on fold 0) move
    more = np.where(folds == 0, clicks + 3, clicks)
    moved = cross_fit_predict(model, x, more, exposure, folds)
    np.testing.assert_allclose(moved[folds == 0], base[folds == 0])
    assert (moved[folds == 1] > base[folds == 1]).all()
    # one fold: the plain in-sample model, which does see them
    one = np.zeros(n, dtype=int)
    np.testing.assert_allclose(
        cross_fit_predict(model, x, clicks, exposure, one), replace_fit(model, x, clicks, exposure)
    )
    assert (cross_fit_predict(model, x, more, exposure, one)[folds == 0] > base[folds == 0]).any()
    with pytest.raises(ValueError, match="folds"):
        cross_fit_predict(model, x, clicks, exposure, folds[:-1])


def replace_fit(
    model: ClickRegression, x: np.ndarray, clicks: np.ndarray, exposure: np.ndarray
) -> np.ndarray:
    """The in-sample predictions of a fresh copy of ``model``."""
    return ClickRegression(model.num_boost_round, dict(model.params)).fit(x, clicks, exposure).predict(x)


@pytest.mark.parametrize(
    "name",
    [
        "distillrank.feedback.unbiased.estimators",
        "distillrank.feedback.unbiased.losses",
        "distillrank.feedback.unbiased.lgbm",
    ],
)
def test_module_doctest(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
