"""Bandit feedback from OBD logs, a logged policy's distribution from its propensities, the reward model."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest

from distillrank.bandits.ope import (
    BanditFeedback,
    RewardModel,
    action_dist_from_logged_policy,
    from_obd,
    logged_policy_coverage,
    synthetic_bandit,
)
from distillrank.data.formats.obd import read_obd
from distillrank.errors import DataWarning

OBD = Path("clicks") / "open-bandit-dataset"


def _log(policy: np.ndarray, n: int, seed: int) -> BanditFeedback:
    """``n`` rounds of slot 0 drawn from ``policy`` ``(n_rounds or 1, n_actions)``, its pscores recorded."""
    rng = np.random.default_rng(seed)
    p = np.broadcast_to(policy, (n, policy.shape[-1]))
    action = (np.cumsum(p, axis=1) < rng.random(n)[:, None]).sum(axis=1)
    return BanditFeedback(
        n_actions=p.shape[1],
        len_list=1,
        action=action,
        position=np.zeros(n, dtype=int),
        reward=np.zeros(n),
        pscore=p[np.arange(n), action],
    )


def test_constant_policy_is_read_back_exactly() -> None:
    policy = np.array([0.5, 0.3, 0.2])
    fb = _log(policy, 2000, seed=0)
    dist = action_dist_from_logged_policy(fb)
    np.testing.assert_allclose(dist[:, 0], policy, atol=1e-12)
    cov = logged_policy_coverage(fb)
    assert cov.raw_mass[0] == pytest.approx(1.0) and cov.observed_pairs[0] == 3


def test_changing_policy_gives_its_time_average() -> None:
    # half of the rounds under (0.9, 0.1), half under (0.1, 0.9): the time average is (0.5, 0.5)
    phases = np.array([[0.9, 0.1]] * 20_000 + [[0.1, 0.9]] * 20_000)
    fb = _log(phases, len(phases), seed=1)
    harmonic = action_dist_from_logged_policy(fb)[:, 0]
    assert harmonic == pytest.approx([0.5, 0.5], abs=0.01)
    # the plain mean of the recorded pscores is size-biased: 0.9 * 0.9 + 0.1 * 0.1 = 0.82 for both
    plain = [fb.pscore[fb.action == a].mean() for a in (0, 1)]
    assert plain == pytest.approx([0.82, 0.82], abs=0.01)
    freq = action_dist_from_logged_policy(fb, method="frequency")[:, 0]
    assert freq == pytest.approx([0.5, 0.5], abs=0.01)


def test_unobserved_mass_warns() -> None:
    policy = np.full(400, 1 / 400)  # 400 actions over 300 rounds: most never logged
    fb = _log(policy, 300, seed=2)
    with pytest.warns(DataWarning, match=r"slot 0: ~0\.\d+ of the mass never logged \(Good–Turing\)"):
        dist = action_dist_from_logged_policy(fb)
    assert dist.sum() == pytest.approx(1.0)
    assert logged_policy_coverage(fb).unobserved_mass[0] > 0.3
    with pytest.raises(ValueError, match="method must be 'harmonic' or 'frequency'"):
        action_dist_from_logged_policy(fb, method="mean")  # type: ignore[arg-type]


def test_mass_far_from_one_warns_and_usual_mass_does_not() -> None:
    # recorded pscores half the true ones: n / sum(1/p) halves every item, mass 0.5 before normalising
    policy = np.array([0.5, 0.3, 0.2])
    fb = _log(policy, 2000, seed=3)
    halved = dataclasses.replace(fb, pscore=fb.pscore / 2)
    with pytest.warns(DataWarning, match=r"^slot 0: estimated mass 0\.500 before normalising$"):
        dist = action_dist_from_logged_policy(halved)
    np.testing.assert_allclose(dist[:, 0], policy, atol=1e-12)
    # 10% off (usual for the ratio on rarely logged items, as on OBD's bts logs): no warning
    tenth = dataclasses.replace(fb, pscore=fb.pscore / 1.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        action_dist_from_logged_policy(tenth)


def test_reward_model_cross_fitting_hides_each_rounds_reward() -> None:
    sb = synthetic_bandit(n_rounds=3000, n_actions=5, beta=0.3, seed=4)
    fb = sb.feedback
    model = RewardModel(n_folds=3, seed=0)
    q = model.fit_predict(fb)
    assert q.shape == (3000, 5, 3) and ((q > 0) & (q < 1)).all()
    np.testing.assert_array_equal(q, model.fit_predict(fb))
    # flip the rewards of fold 0's rounds: fold 0's predictions do not move, the others' do
    fold = np.random.default_rng(0).permutation(3000) % 3
    flipped = fb.subset(np.arange(3000))
    flipped.reward = np.where(fold == 0, 1 - fb.reward, fb.reward)
    q2 = model.fit_predict(flipped)
    np.testing.assert_array_equal(q2[fold == 0], q[fold == 0])
    assert not np.allclose(q2[fold == 1], q[fold == 1])


@pytest.mark.parametrize("kind", ["logistic", "lightgbm"])
def test_reward_model_beats_the_mean(kind: str) -> None:
    sb = synthetic_bandit(n_rounds=4000, n_actions=5, beta=0.3, seed=5)
    fb = sb.feedback
    q = RewardModel(model=kind, n_folds=2, seed=0).fit_predict(fb)  # type: ignore[arg-type]
    p = np.clip(q[np.arange(fb.n_rounds), fb.action, fb.position], 1e-6, 1 - 1e-6)
    r, m = fb.reward, fb.reward.mean()
    loss = -np.mean(r * np.log(p) + (1 - r) * np.log(1 - p))
    base = -np.mean(r * np.log(m) + (1 - r) * np.log(1 - m))
    assert loss < base - 0.02  # out-of-fold log-loss clearly below the constant rate's


def test_reward_model_settings() -> None:
    with pytest.raises(ValueError, match="model must be one of logistic, lightgbm"):
        RewardModel(model="svm")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_folds must be >= 1"):
        RewardModel(n_folds=0)
    fb = synthetic_bandit(n_rounds=50, seed=0).feedback
    with pytest.raises(ValueError, match=r"needs feedback\.action_context"):
        RewardModel(use_action_context=True).fit_predict(fb)


@pytest.mark.data
def test_from_obd_random_and_bts(shared_data: Path) -> None:
    fb = from_obd(shared_data, policy="random", campaign="men")
    log = read_obd(shared_data / OBD, campaign="men")["random"].df
    assert fb.n_rounds == len(log) == 10_000 and fb.len_list == 3 and fb.n_actions == 34
    np.testing.assert_array_equal(fb.action, log["docno"].astype(int))
    np.testing.assert_array_equal(fb.position, log["position"] - 1)
    np.testing.assert_array_equal(fb.reward, log["click"])
    np.testing.assert_allclose(fb.pscore, 1 / 34)  # uniform random over the campaign's 34 items
    assert fb.context is not None and fb.context.shape[0] == 10_000
    assert set(np.unique(fb.context)) == {0.0, 1.0}
    assert fb.action_context is not None and fb.action_context.shape[0] == 34
    bts = from_obd(shared_data / OBD / "bts", policy="bts", campaign="men")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        dist = action_dist_from_logged_policy(bts)
    assert dist.shape == (34, 3)
    np.testing.assert_allclose(dist.sum(axis=0), 1.0)
    cov = logged_policy_coverage(bts)
    assert (cov.unobserved_mass < 0.01).all() and (abs(cov.raw_mass - 1) < 0.2).all()


def test_reward_model_groups_keep_a_round_drawn_twice_in_one_fold() -> None:
    sb = synthetic_bandit(n_rounds=600, n_actions=4, beta=0.3, seed=6)
    rows = np.random.default_rng(1).integers(0, 600, 600)  # a bootstrap resample: repeats
    sub = sb.feedback.subset(rows)
    model = RewardModel(n_folds=3, seed=0)
    fold = (np.random.default_rng(0).permutation(int(rows.max()) + 1) % 3)[rows]
    q = model.fit_predict(sub, groups=rows)
    # flip the rewards of one fold: that fold's predictions do not move, so no copy of a round in it
    # was in the model that predicted it
    flipped = sub.subset(np.arange(600))
    flipped.reward = np.where(fold == 0, 1 - sub.reward, sub.reward)
    np.testing.assert_array_equal(model.fit_predict(flipped, groups=rows)[fold == 0], q[fold == 0])
    with pytest.raises(ValueError, match="groups must be 600 non-negative integers, one per round"):
        model.fit_predict(sub, groups=rows[:10])
    with pytest.raises(ValueError, match="groups must be 600 non-negative integers"):
        model.fit_predict(sub, groups=rows - 1000)
