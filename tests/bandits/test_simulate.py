"""Regret simulation: reproducibility, the ordering and growth of regret that theory predicts, the result."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from distillrank.bandits.environments import (
    CascadeEnvironment,
    MultiQueryEnvironment,
    PositionBasedEnvironment,
)
from distillrank.bandits.policies import make_policy
from distillrank.bandits.simulate import (
    BanditConfig,
    PolicySpec,
    RegretResult,
    checkpoint_rounds,
    compare_policies,
    run_policy,
    simulate,
)

ROUNDS, SEEDS = 4000, range(4)
SPECS = [
    PolicySpec("uniform"),
    PolicySpec("epsilon_greedy", {"epsilon": 0.1}, label="eps-greedy"),
    PolicySpec("ucb1"),
    PolicySpec("kl_ucb"),
    PolicySpec("thompson"),
]


@pytest.fixture(scope="module")
def results(pbm_env: PositionBasedEnvironment, cascade_env: CascadeEnvironment) -> dict[str, RegretResult]:
    return {
        "pbm": compare_policies(pbm_env, SPECS, ROUNDS, SEEDS),
        "cascade": compare_policies(cascade_env, SPECS, ROUNDS, SEEDS),
    }


@pytest.mark.parametrize("feedback", ["pbm", "cascade"])
def test_ucb_and_thompson_beat_fixed_epsilon_and_uniform(
    results: dict[str, RegretResult], feedback: str
) -> None:
    r = results[feedback]
    final = {label: p.regret_mean[-1] for label, p in r.policies.items()}
    for smart in ("ucb1", "kl_ucb", "thompson"):
        assert final[smart] < 0.8 * final["eps-greedy"] < 0.8 * final["uniform"], final


@pytest.mark.parametrize("feedback", ["pbm", "cascade"])
def test_regret_is_sublinear_for_ucb_and_thompson_linear_for_fixed_epsilon(
    results: dict[str, RegretResult], feedback: str
) -> None:
    growth = {label: p.growth for label, p in results[feedback].policies.items()}
    for smart in ("ucb1", "kl_ucb", "thompson"):
        assert growth[smart] < 1.5, growth
    assert growth["eps-greedy"] > 1.8 and growth["uniform"] == pytest.approx(2.0, abs=0.05), growth


def test_uniform_regret_matches_its_expectation(
    results: dict[str, RegretResult], pbm_env: PositionBasedEnvironment
) -> None:
    """A uniform slate's expected reward is mean(alpha) * sum(kappa) under PBM."""
    per_round = pbm_env.optimal_reward() - pbm_env.attractiveness.mean() * pbm_env.examination.sum()
    mean, se = results["pbm"].regret_at("uniform", ROUNDS)
    assert se is not None and abs(mean - per_round * ROUNDS) < 4 * se + 1e-6


def test_same_seed_same_run(pbm_env: PositionBasedEnvironment) -> None:
    policy = make_policy("thompson", pbm_env)
    a, b = run_policy(pbm_env, policy, 500, seed=7), run_policy(pbm_env, policy, 500, seed=7)
    assert np.array_equal(a.regret, b.regret) and np.array_equal(a.clicks, b.clicks)
    c = run_policy(pbm_env, policy, 500, seed=8)
    assert not np.array_equal(a.clicks, c.clicks)
    assert (a.regret >= -1e-12).all()


def test_policies_of_a_seed_meet_the_same_users() -> None:
    """Common random numbers: with every item attractive, a click at position 2 happens exactly when the
    seed's uniform is below its examination, whatever the policy shows."""
    env = PositionBasedEnvironment([1.0, 1.0, 1.0, 1.0], [1.0, 0.5])
    a = run_policy(env, make_policy("uniform", env), 300, seed=1)
    b = run_policy(env, make_policy("thompson", env), 300, seed=1)
    c = run_policy(env, make_policy("thompson", env), 300, seed=2)
    assert np.array_equal(a.clicks, b.clicks) and not np.array_equal(b.clicks, c.clicks)


def test_multi_query_runs_keep_statistics_per_query() -> None:
    q0 = PositionBasedEnvironment([0.9, 0.1, 0.1, 0.1], [1.0, 0.5])
    q1 = PositionBasedEnvironment([0.1, 0.1, 0.1, 0.9, 0.8], [1.0, 0.5])
    env = MultiQueryEnvironment((q0, q1))
    policy = make_policy("thompson", env)
    run = run_policy(env, policy, 3000, seed=0)
    assert run.regret[-500:].mean() < 0.1 * run.regret[:50].mean()
    assert policy.rounds.sum() == 3000 and np.argmax(policy.means(1)[:5]) == 3


def test_result_is_json_ready_with_the_checkpoints(results: dict[str, RegretResult]) -> None:
    r = results["pbm"]
    d = json.loads(json.dumps(r.to_dict()))
    assert d["rounds"] == ROUNDS and d["seeds"] == list(SEEDS)
    assert {ROUNDS // 10, ROUNDS // 2, ROUNDS} <= set(d["checkpoints"])
    assert list(d["policies"]) == ["uniform", "eps-greedy", "ucb1", "kl_ucb", "thompson"]
    p = d["policies"]["thompson"]
    assert len(p["regret_mean"]) == len(d["checkpoints"]) == len(p["regret_se"])
    assert p["regret_mean"] == sorted(p["regret_mean"])  # cumulative
    assert len(p["final_regret_per_seed"]) == len(SEEDS)
    assert 0 < p["clicks_per_round"] <= d["optimal_clicks_per_round"] + 0.05


def test_one_seed_has_no_standard_error(pbm_env: PositionBasedEnvironment) -> None:
    r = compare_policies(pbm_env, ["uniform"], 100, [0], checkpoints=4)
    assert r.checkpoints == [10, 25, 50, 75, 100]
    assert r.regret_at("uniform", 100)[1] is None and r.to_dict()["policies"]["uniform"]["regret_se"] is None
    with pytest.raises(
        ValueError, match=r"round 777 is not a checkpoint of this result; the checkpoints are 10, 25, 50"
    ):
        r.regret_at("uniform", 777)
    with pytest.raises(KeyError, match=r"no policy 'thomson' in this result; it has: uniform"):
        r.regret_at("thomson", 100)


def test_policies_may_be_given_by_name_or_as_one_spec() -> None:
    assert BanditConfig(policies="thompson").policies == (PolicySpec("thompson"),)  # type: ignore[arg-type]
    assert BanditConfig(policies=PolicySpec("ucb1")).policies == (PolicySpec("ucb1"),)  # type: ignore[arg-type]
    named = BanditConfig(policies=("ucb1:alpha=2", PolicySpec("thompson")))  # type: ignore[arg-type]
    assert named.policies == (PolicySpec("ucb1", {"alpha": 2}), PolicySpec("thompson"))
    with pytest.raises(TypeError, match="policies must be PolicySpec objects or names"):
        BanditConfig(policies=(3,))  # type: ignore[arg-type]


def test_simulate_runs_a_config(pbm_env: PositionBasedEnvironment) -> None:
    seen: list[tuple[str, int]] = []
    config = BanditConfig(rounds=50, seeds=(0, 1), policies=(PolicySpec("ucb1"),), checkpoints=5)
    r = simulate(pbm_env, config, progress=lambda label, seed: seen.append((label, seed)))
    assert seen == [("ucb1", 0), ("ucb1", 1)] and r.rounds == 50


def test_checkpoint_rounds() -> None:
    assert checkpoint_rounds(1000, 4) == [100, 250, 500, 750, 1000]
    assert checkpoint_rounds(3, 2) == [1, 2, 3]


def test_policy_spec_parse_and_labels() -> None:
    spec = PolicySpec.parse("epsilon_greedy:epsilon=0.05")
    assert spec == PolicySpec("epsilon_greedy", {"epsilon": 0.05})
    assert spec.key == "epsilon_greedy(epsilon=0.05)"
    assert PolicySpec.parse("kl_ucb:iterations=30").params == {"iterations": 30}
    with pytest.raises(ValueError, match="key=value"):
        PolicySpec.parse("ucb1:alpha")
    with pytest.raises(ValueError, match="unknown policy 'exp3'"):
        PolicySpec("exp3")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rounds": 0}, r"rounds must be an integer >= 1"),
        ({"rounds": 10.5}, r"rounds must be an integer >= 1"),
        ({"checkpoints": 0}, r"checkpoints must be an integer >= 1"),
        ({"seeds": ()}, r"seeds must be distinct and at least one"),
        ({"seeds": (1, 1)}, r"seeds must be distinct"),
        ({"policies": ()}, r"policies must be at least one"),
        ({"policies": (PolicySpec("ucb1"), PolicySpec("ucb1"))}, r"distinct labels"),
    ],
)
def test_invalid_config(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BanditConfig(**kwargs)


def test_bad_hyper_parameters_fail_before_running(pbm_env: PositionBasedEnvironment) -> None:
    with pytest.raises(ValueError, match="epsilon must be in"):
        compare_policies(pbm_env, [PolicySpec("epsilon_greedy", {"epsilon": 2.0})], 10, [0])
