"""Linear contextual policies: shared learning across contexts, the inverse update, errors, real features."""

from __future__ import annotations

import doctest
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import distillrank.bandits.linear as linear_module
from distillrank.bandits.datasets import ltr_environment, scale_features
from distillrank.bandits.environments import (
    CascadeEnvironment,
    MultiQueryEnvironment,
    PositionBasedEnvironment,
)
from distillrank.bandits.linear import LinTS, LinUCB, sherman_morrison_update
from distillrank.bandits.policies import make_policy
from distillrank.bandits.simulate import compare_policies, run_policy
from distillrank.data.catalogue import load_dataset

KAPPA = [1.0, 0.6, 0.3]


def linear_environment(
    feedback: str, n_queries: int = 150, n_items: int = 8, d: int = 4
) -> MultiQueryEnvironment:
    """Many queries, attractiveness clipped-linear in known features: ``0.1 + 0.8 x^T theta``."""
    rng = np.random.default_rng(123)
    theta = np.array([0.5, 0.3, 0.15, 0.05])[:d]
    queries = []
    for _ in range(n_queries):
        x = rng.random((n_items, d))
        alpha = np.clip(0.05 + 0.8 * x @ theta, 0.0, 1.0)
        queries.append(
            PositionBasedEnvironment(alpha, KAPPA, features=x)
            if feedback == "pbm"
            else CascadeEnvironment(alpha, 3, features=x)
        )
    return MultiQueryEnvironment(tuple(queries))


@pytest.fixture(scope="module", params=["pbm", "cascade"])
def linear_env(request: pytest.FixtureRequest) -> MultiQueryEnvironment:
    return linear_environment(request.param)


def test_module_doctest() -> None:
    assert doctest.testmod(linear_module).failed == 0


def test_linear_policies_share_what_they_learn_across_queries(linear_env: MultiQueryEnvironment) -> None:
    res = compare_policies(linear_env, ["ucb1", "thompson", "lin_ucb", "lin_ts"], 3000, [0, 1])
    final = {k: float(p.final_regret.mean()) for k, p in res.policies.items()}
    per_query = min(final["ucb1"], final["thompson"])
    assert final["lin_ucb"] < 0.5 * per_query, final
    assert final["lin_ts"] < 0.5 * per_query, final


def test_sherman_morrison_inverse_equals_the_direct_inverse() -> None:
    rng = np.random.default_rng(0)
    d = 12
    a = 2.0 * np.eye(d)
    a_inv = np.linalg.inv(a)
    for _ in range(50):
        x, w = rng.normal(size=(3, d)), rng.uniform(0.2, 1.0, 3)
        a += (x.T * w) @ x
        a_inv = sherman_morrison_update(a_inv, x, w)
    np.testing.assert_allclose(a_inv, np.linalg.inv(a), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("refresh", [1, 7, 1000])
def test_the_policys_inverse_and_theta_are_the_ridge_solution(refresh: int) -> None:
    env = linear_environment("pbm", n_queries=5)
    policy = make_policy("lin_ucb", env, ridge=0.5, refresh=refresh)
    assert isinstance(policy, LinUCB)
    rng = np.random.default_rng(1)
    a, b = 0.5 * np.eye(policy.dim), np.zeros(policy.dim)
    for t in range(40):
        c = t % 5
        slate = policy.select(rng, c)
        clicks = env.context(c).step(slate, rng)
        policy.update(slate, clicks, c)
        x = policy.item_features(c)[slate]
        a += (x.T * np.asarray(KAPPA)) @ x
        b += x.T @ clicks
    np.testing.assert_allclose(policy.a, a)
    np.testing.assert_allclose(policy.a_inv, np.linalg.inv(a), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(policy.theta, np.linalg.solve(a, b), rtol=1e-7, atol=1e-10)
    assert policy.item_features(0)[:, -1].tolist() == [1.0] * 8  # the intercept


def test_cascade_observes_up_to_the_first_click_with_unit_weights() -> None:
    env = linear_environment("cascade", n_queries=2)
    policy = make_policy("lin_ts", env, intercept=False)
    policy.update(np.array([4, 1, 3]), np.array([False, True, False]), 0)
    x = policy.item_features(0)[[4, 1]]
    np.testing.assert_allclose(policy.a, np.eye(4) + x.T @ x)
    np.testing.assert_allclose(policy.b, x[1])


def test_ucb_scores_follow_the_formula() -> None:
    env = linear_environment("pbm", n_queries=3)
    policy = make_policy("lin_ucb", env, alpha=0.7)
    rng = np.random.default_rng(2)
    for t in range(10):
        slate = policy.select(rng, t % 3)
        policy.update(slate, env.context(t % 3).step(slate, rng), t % 3)
    x = policy.item_features(1)
    expect = x @ policy.theta + 0.7 * np.sqrt(np.einsum("ij,jk,ik->i", x, np.linalg.inv(policy.a), x))
    np.testing.assert_allclose(policy.scores(rng, 1, 11), expect, rtol=1e-9)


def test_ts_draws_have_the_posterior_mean_and_covariance() -> None:
    env = linear_environment("pbm", n_queries=1, n_items=4)
    policy = make_policy("lin_ts", env, v=0.5)
    rng = np.random.default_rng(3)
    draws = np.array([policy.scores(rng, 0, 1) for _ in range(20_000)])
    x = policy.item_features(0)
    np.testing.assert_allclose(draws.mean(axis=0), x @ policy.theta, atol=0.05)
    np.testing.assert_allclose(np.cov(draws.T), 0.25 * x @ policy.a_inv @ x.T, rtol=0.05, atol=0.01)


@pytest.mark.parametrize("name", ["lin_ucb", "lin_ts"])
def test_a_seed_repeats_exactly(name: str) -> None:
    env = linear_environment("pbm", n_queries=20)
    runs = [run_policy(env, make_policy(name, env), 300, seed=4) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].regret, runs[1].regret)
    other = run_policy(env, make_policy(name, env), 300, seed=5)
    assert not np.array_equal(runs[0].regret, other.regret)


def test_an_environment_without_features_is_a_clear_error() -> None:
    env = MultiQueryEnvironment((PositionBasedEnvironment([0.5, 0.2, 0.1], [1.0, 0.5]),) * 2)
    assert env.context_features is None
    with pytest.raises(ValueError, match="lin_ucb needs item features and this environment has none"):
        make_policy("lin_ucb", env)
    with pytest.raises(ValueError, match="come from the environment"):
        make_policy("lin_ts", linear_environment("pbm", 2), features=[np.ones((8, 4))] * 2)


def test_environments_check_their_features() -> None:
    with pytest.raises(ValueError, match=r"features must be an \[n_items=3, d\] matrix"):
        PositionBasedEnvironment([0.5, 0.2, 0.1], [1.0], features=np.ones((2, 4)))
    with pytest.raises(ValueError, match="must be finite"):
        CascadeEnvironment([0.5, 0.2], 1, features=np.array([[1.0], [np.nan]]))
    a = PositionBasedEnvironment([0.5, 0.2], [1.0], features=np.ones((2, 3)))
    b = PositionBasedEnvironment([0.5, 0.2], [1.0], features=np.ones((2, 4)))
    with pytest.raises(ValueError, match="same width or none"):
        MultiQueryEnvironment((a, b))
    with pytest.raises(ValueError, match="same width or none"):
        MultiQueryEnvironment((a, PositionBasedEnvironment([0.5, 0.2], [1.0])))
    assert a.context_features is not None and a.context_features[0].shape == (2, 3)
    assert not a.features.flags.writeable  # type: ignore[union-attr]


BAD: list[tuple[type, dict[str, Any], str]] = [
    (LinUCB, {"alpha": -1.0}, "alpha must be >= 0"),
    (LinUCB, {"ridge": 0.0}, "ridge must be > 0"),
    (LinUCB, {"refresh": 0}, "refresh must be an integer >= 1"),
    (LinUCB, {"refresh": 2.5}, "refresh must be an integer >= 1"),
    (LinTS, {"v": 0.0}, "v must be > 0"),
    (LinTS, {"intercept": "yes"}, "intercept must be a bool"),
    (LinTS, {"features": [np.ones((4, 2))]}, "features of context 0 must be"),
    (LinTS, {"features": [np.ones((5, 2))] * 2}, "one matrix per context"),
    (LinTS, {"features": [np.zeros((5, 2))], "intercept": False}, "nothing to learn"),
]


@pytest.mark.parametrize(("cls", "kwargs", "match"), BAD)
def test_invalid_hyper_parameters(cls: type, kwargs: dict[str, Any], match: str) -> None:
    base: dict[str, Any] = {"n_items": 5, "slate_size": 2, "features": [np.ones((5, 2))]}
    with pytest.raises(ValueError, match=match):
        cls(**{**base, **kwargs})


def test_scale_features() -> None:
    x = np.array([[2.0, 0.0, 1.0], [-4.0, 0.0, 3.0]])
    np.testing.assert_allclose(scale_features(x), [[0.5, 0.0, 1 / 3], [-1.0, 0.0, 1.0]])
    np.testing.assert_allclose(scale_features(x, "standard"), [[1.0, 0.0, -1.0], [-1.0, 0.0, 1.0]])
    np.testing.assert_allclose(scale_features(x, "maxabs", reference=2 * x), 0.5 * scale_features(x))
    with pytest.raises(ValueError, match="feature scaling must be one of"):
        scale_features(x, "minmax")  # type: ignore[arg-type]


def test_ltr_environment_wires_the_lightgbm_features(shared_data: Path) -> None:
    data = load_dataset("lightgbm-lambdarank", data_dir=shared_data)["train"]
    env = ltr_environment(data, slate_size=5)
    feats = env.context_features
    assert feats is not None and len(feats) == env.n_contexts == 199
    assert all(f.shape == (n, 300) for f, n in zip(feats, env.n_items, strict=True))
    stacked = np.vstack(feats)
    col_max = np.abs(stacked).max(axis=0)
    assert col_max.max() == 1.0 and set(np.unique(col_max[col_max < 1])) == {0.0}  # max-abs scaled
    dense = data.X.toarray()
    first = data.group[0]
    if env.qids is not None and env.qids[0] == str(data.query_ids[0]):
        np.testing.assert_allclose(feats[0], scale_features(dense)[:first])
    standard = ltr_environment(data, slate_size=5, feature_scaling="standard").context_features
    assert standard is not None
    np.testing.assert_allclose(np.vstack(standard).mean(axis=0), 0.0, atol=0.05)
    policy = make_policy("lin_ucb", env)
    assert policy.dim == 218 + 1  # the 82 features 0 on every row are dropped, the intercept added
