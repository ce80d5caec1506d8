"""Off-policy estimators: hand-computed values, statistical bounds on a synthetic bandit, bad inputs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from distillrank.bandits.ope import (
    OPE_ESTIMATORS,
    BanditFeedback,
    SyntheticBandit,
    make_estimator,
    softmax_policy,
    synthetic_bandit,
)

N = 20_000
BETA = 0.3  # behaviour policy softmax(0.3 x.g): the weights stay moderate (largest ~90, mean ~1)


@pytest.fixture(scope="module")
def bandit() -> SyntheticBandit:
    return synthetic_bandit(n_rounds=N, beta=BETA, seed=0)


def target(sb: SyntheticBandit) -> np.ndarray:
    """The evaluation policy: softmax over the true reward logits (better than the behaviour policy)."""
    return softmax_policy(sb.action_logits, sb.feedback.len_list)


def tiny() -> BanditFeedback:
    """Four rounds, two actions, one slot; with pi_e = (0.5, 0.5) the weights are 2, 0.5, 1, 0.5 (mean 1)."""
    return BanditFeedback(
        n_actions=2,
        len_list=1,
        action=np.array([0, 1, 0, 1]),
        position=np.zeros(4, dtype=int),
        reward=np.array([1.0, 0.0, 1.0, 1.0]),
        pscore=np.array([0.25, 1.0, 0.5, 1.0]),
    )


HALF = np.full((2, 1), 0.5)
Q = np.tile(np.array([[0.6], [0.2]]), (4, 1, 1))  # q_hat(x, 0) = 0.6, q_hat(x, 1) = 0.2 in every round


def test_hand_computed_values() -> None:
    fb = tiny()
    # w = 2, 0.5, 1, 0.5; w r = 2, 0, 1, 0.5
    assert make_estimator("ips").estimate_policy_value(fb, HALF) == pytest.approx(3.5 / 4)
    assert make_estimator("ips", clip=1.0).estimate_policy_value(fb, HALF) == pytest.approx(2.5 / 4)
    assert make_estimator("dm").estimate_policy_value(fb, HALF, Q) == pytest.approx(0.4)
    # residuals r - q_hat(a_i) = 0.4, -0.2, 0.4, 0.8; weighted: 0.8, -0.1, 0.4, 0.4
    assert make_estimator("dr").estimate_policy_value(fb, HALF, Q) == pytest.approx(0.4 + 1.5 / 4)
    # Switch-DR at tau = 1 drops the round with w = 2
    assert make_estimator("switch-dr", tau=1.0).estimate_policy_value(fb, HALF, Q) == pytest.approx(
        0.4 + 0.7 / 4
    )
    assert make_estimator("switch-dr", tau=0.0).estimate_policy_value(fb, HALF, Q) == pytest.approx(0.4)
    # deterministic pi_e = action 0: replay keeps rounds 0 and 2, both clicked
    assert make_estimator("replay").estimate_policy_value(fb, np.array([[1.0], [0.0]])) == 1.0


def test_snips_equals_ips_when_weights_average_one() -> None:
    fb = tiny()
    ips = make_estimator("ips").estimate_policy_value(fb, HALF)
    assert make_estimator("snips").estimate_policy_value(fb, HALF) == pytest.approx(ips, abs=1e-15)
    assert make_estimator("sndr").estimate_policy_value(fb, HALF, Q) == pytest.approx(
        make_estimator("dr").estimate_policy_value(fb, HALF, Q), abs=1e-15
    )
    # pi_e = (0.4, 0.6): weights 1.6, 0.6, 0.8, 0.6 (mean 0.9), and SNIPS = IPS / 0.9
    other = np.array([[0.4], [0.6]])
    w = np.array([1.6, 0.6, 0.8, 0.6])
    ips = make_estimator("ips").estimate_policy_value(fb, other)
    assert ips == pytest.approx((w * fb.reward).mean())
    assert make_estimator("snips").estimate_policy_value(fb, other) == pytest.approx(ips / w.mean())


# Over seeds 0-29 (20,000 rounds) the largest errors were 2.2 (IPS), 1.4 (SNIPS), 2.0 (DR) standard
# errors and 8.3%, 5.2%, 3.1% relative; the bounds: 4 standard errors and 12% / 12% / 6%.
@pytest.mark.parametrize(("name", "rel_bound"), [("ips", 0.12), ("snips", 0.12), ("dr", 0.06)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimators_within_bound_of_truth(
    bandit: SyntheticBandit, name: str, rel_bound: float, seed: int
) -> None:
    sb = bandit if seed == 0 else synthetic_bandit(n_rounds=N, beta=BETA, seed=seed)
    pi = target(sb)
    truth = sb.policy_value(pi)
    terms = make_estimator(name).round_terms(sb.feedback, pi, sb.q if name == "dr" else None)
    est = terms.value()
    se = float((terms.direct + terms.weighted).std()) / math.sqrt(N)
    assert abs(est - truth) < 4 * se
    assert abs(est - truth) / truth < rel_bound
    # the evaluation policy is better than the behaviour one, by more than the estimator's error
    assert truth - sb.policy_value(sb.behaviour) > 0.1


def test_dr_with_true_rewards_has_lower_variance_than_ips() -> None:
    ips, dr = [], []
    for seed in range(30):
        sb = synthetic_bandit(n_rounds=2000, beta=BETA, seed=100 + seed)
        pi = target(sb)
        truth = sb.policy_value(pi)
        ips.append(make_estimator("ips").estimate_policy_value(sb.feedback, pi) - truth)
        dr.append(make_estimator("dr").estimate_policy_value(sb.feedback, pi, sb.q) - truth)
    assert np.std(dr) < 0.7 * np.std(ips)
    assert abs(np.mean(dr)) < 3 * np.std(dr) / math.sqrt(30)  # and it is unbiased


def test_replay_unbiased_under_uniform_logging() -> None:
    sb = synthetic_bandit(n_rounds=N, beta=0.0, seed=3)
    best = np.zeros_like(target(sb))
    best[np.arange(N), sb.action_logits.argmax(axis=1), :] = 1.0  # deterministic greedy policy
    truth = sb.policy_value(best)
    est = make_estimator("replay").estimate_policy_value(sb.feedback, best)
    # about N / 10 matching rounds: standard error ~ sqrt(v (1 - v) / 2000) ~ 0.011
    assert abs(est - truth) < 0.045


@pytest.mark.parametrize("name", list(OPE_ESTIMATORS))
def test_every_estimator_interval_and_context_free_policy(bandit: SyntheticBandit, name: str) -> None:
    fb = bandit.feedback
    dist = np.full((fb.n_actions, fb.len_list), 1.0 / fb.n_actions)  # context-free, uniform
    est = make_estimator(name)
    value = est.estimate_policy_value(fb, dist, bandit.q)
    assert value == pytest.approx(
        est.estimate_policy_value(fb, np.broadcast_to(dist, (N, *dist.shape)), bandit.q)
    )
    ci = est.estimate_interval(fb, dist, bandit.q, n_bootstrap=50, seed=1)
    assert ci.estimate == value and ci.low <= ci.high and ci.n_bootstrap == 50
    assert ci == est.estimate_interval(fb, dist, bandit.q, n_bootstrap=50, seed=1)
    assert abs(value - bandit.policy_value(dist)) < 0.05


def test_interval_widths_follow_variance(bandit: SyntheticBandit) -> None:
    pi = target(bandit)
    ips = make_estimator("ips").estimate_interval(bandit.feedback, pi, n_bootstrap=200)
    dr = make_estimator("dr").estimate_interval(bandit.feedback, pi, bandit.q, n_bootstrap=200)
    assert dr.high - dr.low < ips.high - ips.low
    assert dr.covers(bandit.policy_value(pi))


def _fb(**over: Any) -> BanditFeedback:
    args: dict[str, Any] = {
        "n_actions": 3,
        "len_list": 2,
        "action": np.array([0, 1, 2]),
        "position": np.array([0, 1, 0]),
        "reward": np.array([0.0, 1.0, 0.0]),
        "pscore": np.array([0.5, 0.5, 1.0]),
        "source": "log.csv",
    }
    args.update(over)
    return BanditFeedback(**args)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        (
            {"pscore": np.array([0.5, 0.0, 1.0])},
            r"log.csv: record 2 \(round 1\): pscore 0.0 is not in \(0, 1\]",
        ),
        ({"pscore": np.array([0.5, 0.5, 1.5])}, r"record 3 \(round 2\): pscore 1.5 is not in \(0, 1\]"),
        (
            {"position": np.array([0, 2, 0])},
            r"record 2 \(round 1\): position 2 is outside 0..1 \(positions are 0-based",
        ),
        ({"position": np.array([-1, 0, 0])}, r"record 1 \(round 0\): position -1 is outside"),
        ({"action": np.array([0, 3, 2])}, r"record 2 \(round 1\): action 3 is outside 0..2"),
        (
            {"reward": np.array([0.0, np.nan, 0.0])},
            r"record 2 \(round 1\): reward nan is not a finite number",
        ),
        ({"reward": np.array([0.0, 1.0])}, r"length mismatch: action 3, position 3, reward 2, pscore 3"),
        ({"action": np.array([0.0, 1.5, 2.0])}, r"action must hold integers"),
        ({"context": np.zeros((2, 4))}, r"context must be \(n_rounds=3, d\), got \(2, 4\)"),
        ({"action_context": np.zeros((2, 4))}, r"action_context must be \(n_actions=3, d\)"),
        ({"n_actions": 0}, r"n_actions \(0\) and len_list \(2\) must be >= 1"),
    ],
)
def test_bad_feedback(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _fb(**over)


GOOD = np.array([[0.2, 0.5], [0.3, 0.5], [0.5, 0.0]])


@pytest.mark.parametrize(
    ("name", "dist", "rewards", "message"),
    [
        ("ips", np.ones((3, 3)) / 3, None, r"action_dist must have shape \(n_actions, len_list\) = \(3, 2\)"),
        (
            "ips",
            GOOD * 2,
            None,
            r"action_dist must sum to 1 over actions: it sums to 2 at slot 0 \(round 0\)",
        ),
        ("ips", -GOOD, None, r"finite probabilities >= 0"),
        ("dr", GOOD, None, r"DoublyRobust needs estimated_rewards"),
        ("dm", GOOD, np.zeros((3, 3)), r"estimated_rewards must have shape"),
        ("dm", GOOD, np.full((3, 3, 2), np.inf), r"estimated_rewards must be finite"),
    ],
)
def test_bad_estimator_inputs(name: str, dist: np.ndarray, rewards: np.ndarray | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_estimator(name).estimate_policy_value(_fb(), dist, rewards)


def test_bad_estimator_settings() -> None:
    with pytest.raises(ValueError, match="clip must be > 0"):
        make_estimator("ips", clip=0.0)
    with pytest.raises(ValueError, match="tau must be >= 0"):
        make_estimator("switch-dr", tau=-1.0)
    with pytest.raises(KeyError, match="unknown OPE estimator 'ipw'; known: replay, dm, ips"):
        make_estimator("ipw")
    with pytest.raises(TypeError, match="takes a BanditFeedback, got a dict"):
        make_estimator("ips").estimate_policy_value({}, GOOD)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_bootstrap must be >= 1"):
        make_estimator("ips").estimate_interval(_fb(), GOOD, n_bootstrap=0)


def test_same_as_obp_given_the_same_inputs(bandit: SyntheticBandit) -> None:
    """Reference check against OBP 0.4.1 (in the ``dev`` extra, so it runs wherever the tests do)."""
    import obp.ope as obp

    fb, pi = bandit.feedback, target(bandit)
    kw = {"reward": fb.reward, "action": fb.action, "position": fb.position, "pscore": fb.pscore}
    kw |= {"action_dist": pi, "estimated_rewards_by_reg_model": bandit.q}
    pairs = {
        "ips": obp.InverseProbabilityWeighting(),
        "snips": obp.SelfNormalizedInverseProbabilityWeighting(),
        "dm": obp.DirectMethod(),
        "dr": obp.DoublyRobust(),
        "sndr": obp.SelfNormalizedDoublyRobust(),
        "switch-dr": obp.SwitchDoublyRobust(tau=2.0),
    }
    for name, peer in pairs.items():
        ours = make_estimator(name, tau=2.0) if name == "switch-dr" else make_estimator(name)
        assert ours.estimate_policy_value(fb, pi, bandit.q) == pytest.approx(
            peer.estimate_policy_value(**kw), abs=1e-12
        )


def test_refitted_intervals_carry_the_reward_models_uncertainty() -> None:
    from distillrank.bandits.ope import OPEInputs, RewardModel, evaluate_ope, logged_policy_coverage

    sb = synthetic_bandit(n_rounds=1500, n_actions=4, beta=0.3, seed=7)
    fb, pi = sb.feedback, target(sb)
    model = RewardModel(n_folds=2, seed=0)
    inputs = OPEInputs(
        behaviour=fb,
        action_dist=pi,
        estimated_rewards=model.fit_predict(fb),
        ground_truth=sb.policy_value(pi),
        evaluation_rewards=fb.reward,
        coverage=logged_policy_coverage(fb),
        campaign="synthetic",
        evaluation_policy="target",
        behaviour_policy="logger",
        reward_model=model,
    )
    fixed = evaluate_ope(inputs, ["dm", "ips"], n_bootstrap=100, seed=0)
    refit = evaluate_ope(inputs, ["dm", "ips"], n_bootstrap=100, seed=0, refit_resamples=20)
    width = {
        k: r.estimators["dm"].interval.high - r.estimators["dm"].interval.low
        for k, r in (("fixed", fixed), ("refit", refit))
    }
    assert width["refit"] > 2 * width["fixed"]  # the fixed model's interval ignores its own uncertainty
    assert refit.estimators["dm"].estimate == fixed.estimators["dm"].estimate  # same point estimate
    assert refit.estimators["ips"].interval == fixed.estimators["ips"].interval  # no q_hat: unchanged
    assert refit.estimators["dm"].interval.n_bootstrap == 20 and refit.settings["refit_resamples"] == 20
    with pytest.raises(ValueError, match="n_resamples must be >= 1"):
        from distillrank.bandits.ope import refit_intervals

        refit_intervals(inputs, {"dm": make_estimator("dm")}, 0)
