"""Policies: valid slates, the statistics each feedback model keeps, index formulas, bad hyper-parameters."""

from __future__ import annotations

import doctest
import math
from typing import Any

import numpy as np
import pytest

import distillrank.bandits.policies as policies_module
from distillrank.bandits.environments import (
    CascadeEnvironment,
    MultiQueryEnvironment,
    PositionBasedEnvironment,
)
from distillrank.bandits.policies import (
    HAS_NUMBA,
    KLUCB,
    POLICIES,
    UCB1,
    DecayingEpsilonGreedy,
    EpsilonGreedy,
    ThompsonSampling,
    UniformRandom,
    bernoulli_kl,
    kl_ucb_indices,
    kl_ucb_indices_numpy,
    make_policy,
)


def test_module_doctest_and_registry() -> None:
    doctest.testmod(policies_module)  # no examples required; must not fail
    assert set(POLICIES) == {
        "uniform",
        "epsilon_greedy",
        "epsilon_greedy_decay",
        "ucb1",
        "kl_ucb",
        "thompson",
        "lin_ucb",
        "lin_ts",
    }


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_policy_returns_valid_slates_in_a_multi_query_environment(name: str) -> None:
    feats = np.random.default_rng(0).random((5, 3))
    queries = (
        PositionBasedEnvironment([0.5, 0.1, 0.3], [1.0, 0.4], features=feats[:3]),
        PositionBasedEnvironment([0.2, 0.9, 0.4, 0.6, 0.1], [1.0, 0.4], features=feats),
    )
    env = MultiQueryEnvironment(queries)
    policy = make_policy(name, env)
    rng = np.random.default_rng(0)
    for t in range(300):
        c = t % 2
        slate = policy.select(rng, c)
        assert len(set(slate.tolist())) == 2 and slate.min() >= 0 and slate.max() < env.n_items[c]
        policy.update(slate, env.context(c).step(slate, rng), c)
    assert policy.rounds.tolist() == [150, 150]
    assert policy.observed[0, 3:].sum() == 0  # the padding of the smaller query is never shown


def test_pbm_statistics_are_examination_weighted() -> None:
    policy = UCB1(n_items=4, slate_size=2, feedback="pbm", examination=[1.0, 0.25])
    policy.update(np.array([2, 0]), np.array([True, False]))
    policy.update(np.array([0, 2]), np.array([False, True]))
    assert policy.clicks[0].tolist() == [0.0, 0.0, 2.0, 0.0]
    assert policy.exposure[0].tolist() == [1.25, 0.0, 1.25, 0.0]
    assert policy.observed[0].tolist() == [2.0, 0.0, 2.0, 0.0]


def test_cascade_observes_only_up_to_the_first_click() -> None:
    policy = ThompsonSampling(n_items=5, slate_size=3, feedback="cascade")
    policy.update(np.array([4, 1, 3]), np.array([False, True, False]))
    policy.update(np.array([0, 2, 3]), np.array([False, False, False]))
    assert policy.exposure[0].tolist() == [1.0, 1.0, 1.0, 1.0, 1.0]
    assert policy.clicks[0].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]
    policy.update(np.array([1, 3, 4]), np.array([True, False, False]))
    assert policy.exposure[0].tolist() == [1.0, 2.0, 1.0, 1.0, 1.0]


def test_pbm_slate_puts_the_best_item_on_the_most_examined_position() -> None:
    policy = EpsilonGreedy(n_items=3, slate_size=2, examination=[0.3, 0.9], epsilon=0.0)
    policy.clicks[0] = [1.0, 5.0, 3.0]
    policy.exposure[0] = [10.0, 10.0, 10.0]
    assert policy.select(np.random.default_rng(0)).tolist() == [2, 1]


def test_ucb_index_formulas() -> None:
    pbm = UCB1(n_items=3, slate_size=1, examination=[0.5])
    pbm.clicks[0], pbm.exposure[0], pbm.observed[0] = [1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [4.0, 8.0, 0.0]
    t = 13
    want = np.array([0.5 + math.sqrt(0.5 * 4 * math.log(t)) / 2, 0.5 + math.sqrt(0.5 * 8 * math.log(t)) / 4])
    got = pbm.scores(np.random.default_rng(0), 0, t)
    assert got[:2] == pytest.approx(want) and got[2] == np.inf
    cascade = UCB1(n_items=2, slate_size=1, feedback="cascade")
    cascade.clicks[0], cascade.exposure[0], cascade.observed[0] = [3.0, 1.0], [10.0, 2.0], [10.0, 2.0]
    want_c = np.array([0.3 + math.sqrt(1.5 * math.log(t) / 10), 0.5 + math.sqrt(1.5 * math.log(t) / 2)])
    assert cascade.scores(np.random.default_rng(0), 0, t) == pytest.approx(want_c)
    auer = UCB1(n_items=2, slate_size=1, alpha=2.0)
    auer.clicks[0], auer.exposure[0], auer.observed[0] = [3.0, 1.0], [10.0, 2.0], [10.0, 2.0]
    assert auer.scores(np.random.default_rng(0), 0, t)[0] == pytest.approx(
        0.3 + math.sqrt(2 * math.log(t) / 10)
    )


def test_kl_ucb_index_solves_its_equation() -> None:
    rng = np.random.default_rng(0)
    exposure = rng.integers(1, 500, 40).astype(float)
    clicks = rng.binomial(exposure.astype(int), 0.3).astype(float)
    clicks[0], clicks[1] = 0.0, exposure[1]  # means 0 and 1
    level = math.log(1000)
    q = kl_ucb_indices_numpy(clicks, exposure, level, 40)
    mu = clicks / exposure
    assert np.all(q >= mu) and q[1] == pytest.approx(1.0)
    inside = q < 1 - 1e-6
    assert exposure[inside] * bernoulli_kl(mu[inside], q[inside]) == pytest.approx(level, rel=1e-6)
    compiled = kl_ucb_indices(clicks, exposure, level, 40)
    assert compiled == pytest.approx(q, abs=1e-12)
    assert (kl_ucb_indices is not kl_ucb_indices_numpy) == HAS_NUMBA
    policy = KLUCB(n_items=3, slate_size=1)
    policy.clicks[0], policy.exposure[0] = [1.0, 0.0, 0.0], [4.0, 4.0, 0.0]
    s = policy.scores(rng, 0, 50)
    assert s[2] == np.inf and s[0] > s[1] > 0


def test_thompson_samples_concentrate_on_the_posterior_mean() -> None:
    policy = ThompsonSampling(n_items=2, slate_size=1, prior_a=2.0, prior_b=3.0)
    policy.clicks[0], policy.exposure[0] = [300.0, 0.0], [1000.0, 0.0]
    draws = np.array([policy.scores(np.random.default_rng(i), 0, 1) for i in range(2000)])
    assert draws[:, 0].mean() == pytest.approx(302 / 1005, abs=0.003)
    assert draws[:, 1].mean() == pytest.approx(2 / 5, abs=0.02)  # the prior


def test_epsilon_one_behaves_as_uniform() -> None:
    """epsilon = 1 ignores what it learnt: after item 0 got every click, each item still leads ~1/n."""
    n, draws = 5, 20_000
    rng = np.random.default_rng(0)
    for policy in (
        EpsilonGreedy(n_items=n, slate_size=2, epsilon=1.0),
        UniformRandom(n_items=n, slate_size=2),
    ):
        policy.clicks[0], policy.exposure[0] = [100.0, 0, 0, 0, 0], [100.0, 100, 100, 100, 100]
        first = np.bincount([policy.select(rng)[0] for _ in range(draws)], minlength=n) / draws
        assert np.abs(first - 1 / n).max() < 4 * math.sqrt(0.2 * 0.8 / draws)
    greedy = EpsilonGreedy(n_items=n, slate_size=2, epsilon=0.0)
    greedy.clicks[0], greedy.exposure[0] = [100.0, 0, 0, 0, 0], [100.0, 100, 100, 100, 100]
    assert all(greedy.select(rng)[0] == 0 for _ in range(100))


def test_decaying_epsilon_schedule() -> None:
    policy = DecayingEpsilonGreedy(n_items=10, slate_size=2, c=0.5, d=0.5)
    assert policy.epsilon_at(1, 10) == 1.0
    assert policy.epsilon_at(200, 10) == pytest.approx(0.5 * 10 / (0.25 * 200))


def test_unseen_items_are_tried_first() -> None:
    for cls in (UCB1, KLUCB, EpsilonGreedy):
        policy = (
            cls(n_items=4, slate_size=2, epsilon=0.0)
            if cls is EpsilonGreedy
            else cls(n_items=4, slate_size=2)
        )
        policy.clicks[0], policy.exposure[0], policy.observed[0] = (
            [5.0, 5, 0, 0],
            [5.0, 5, 0, 0],
            [5.0, 5, 0, 0],
        )
        assert sorted(policy.select(np.random.default_rng(0)).tolist()) == [2, 3]


PROBLEM: dict[str, Any] = {"n_items": 5, "slate_size": 2}


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (UniformRandom, {"n_items": 0, "slate_size": 1}, r"n_items must be an integer >= 1"),
        (UniformRandom, {"n_items": [3, 2.5], "slate_size": 1}, r"n_items must be an integer >= 1"),
        (UniformRandom, {"n_items": 3, "slate_size": 0}, r"slate_size must be an integer >= 1"),
        (UniformRandom, {"n_items": [4, 1], "slate_size": 2}, r"slate_size 2 exceeds the items of a context"),
        (UniformRandom, {**PROBLEM, "feedback": "dbn"}, r"feedback must be one of"),
        (UniformRandom, {**PROBLEM, "feedback": "cascade", "examination": [1, 1]}, r"takes no examination"),
        (UniformRandom, {**PROBLEM, "examination": [1.0]}, r"examination must be 2 probabilities"),
        (UniformRandom, {**PROBLEM, "examination": [1.0, 0.0]}, r"in \(0, 1\]"),
        (EpsilonGreedy, {**PROBLEM, "epsilon": 1.5}, r"epsilon must be in \[0, 1\]"),
        (EpsilonGreedy, {**PROBLEM, "epsilon": -0.1}, r"epsilon must be in \[0, 1\]"),
        (DecayingEpsilonGreedy, {**PROBLEM, "c": 0.0}, r"c must be > 0"),
        (DecayingEpsilonGreedy, {**PROBLEM, "d": 1.5}, r"d must be in \(0, 1\]"),
        (UCB1, {**PROBLEM, "alpha": 0.0}, r"alpha must be > 0"),
        (UCB1, {**PROBLEM, "alpha": float("nan")}, r"alpha must be > 0"),
        (KLUCB, {**PROBLEM, "c": -1.0}, r"c must be >= 0"),
        (KLUCB, {**PROBLEM, "iterations": 0}, r"iterations must be an integer >= 1"),
        (ThompsonSampling, {**PROBLEM, "prior_a": 0.0}, r"prior_a must be > 0"),
        (ThompsonSampling, {**PROBLEM, "prior_b": -1.0}, r"prior_b must be > 0"),
    ],
)
def test_invalid_hyper_parameters(cls: type, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_make_policy_takes_the_problem_from_the_environment() -> None:
    env = PositionBasedEnvironment([0.1, 0.2, 0.3], [1.0, 0.5])
    policy = make_policy("ucb1", env, alpha=2.0)
    assert isinstance(policy, UCB1) and policy.alpha == 2.0 and tuple(policy.examination or ()) == (1.0, 0.5)
    cascade = make_policy("thompson", CascadeEnvironment([0.1, 0.2, 0.3], 2))
    assert cascade.feedback == "cascade" and cascade.examination is None
    with pytest.raises(ValueError, match="unknown policy 'lin_bogus'; known: uniform"):
        make_policy("lin_bogus", env)
    with pytest.raises(ValueError, match=r"ucb1: unknown parameters \['epsilon'\]; known: \['alpha'\]"):
        make_policy("ucb1", env, epsilon=0.1)
    with pytest.raises(ValueError, match="come from the environment"):
        make_policy("ucb1", env, slate_size=1)
