"""The Open Bandit Dataset check end to end, recomputed independently from the raw logs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from distillrank.bandits.ope import RewardModel, evaluate_logged_policy, make_estimator
from distillrank.data.formats.obd import read_obd
from distillrank.errors import DataWarning

pytestmark = pytest.mark.data


def test_bts_from_random_on_men(shared_data: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        res = evaluate_logged_policy(
            shared_data, "men", estimators=["ips", "snips", "dm", "dr"], n_bootstrap=100, seed=0
        )
    logs = read_obd(shared_data / "clicks" / "open-bandit-dataset", campaign="men")
    rnd, bts = logs["random"].df, logs["bts"].df
    truth = bts["click"].mean()
    assert res.ground_truth == pytest.approx(truth) and res.n_rounds_evaluation == len(bts)
    # bts's distribution: per (item, slot) rounds / sum(1 / pscore), normalised per slot
    g = bts.assign(inv=1 / bts["propensity"]).groupby(["docno", "position"])
    pi = (g.size() / g["inv"].sum()).rename("pi").reset_index()
    pi["pi"] /= pi.groupby("position")["pi"].transform("sum")
    # IPS from random logs: the random policy's pscore is 1/34 everywhere, so w = 34 pi(a|k)
    joined = rnd.merge(pi, on=["docno", "position"], how="left").fillna({"pi": 0.0})
    ips = float((joined["click"] * joined["pi"] / joined["propensity"]).mean())
    ours = res.estimators["ips"]
    assert ours.estimate == pytest.approx(ips, rel=1e-12)
    assert ours.relative_error == pytest.approx(abs(ips - truth) / truth)
    assert ours.covers_truth == (ours.interval.low <= truth <= ours.interval.high)
    snips = float((joined["click"] * joined["pi"]).sum() / joined["pi"].sum())
    assert res.estimators["snips"].estimate == pytest.approx(snips, rel=1e-12)
    for r in res.estimators.values():
        assert r.interval.low <= r.estimate <= r.interval.high
    # 10,000 rounds with ~46 clicks: the estimates are noisy, but not off by half
    assert ours.relative_error < 0.5
    d = json.loads(json.dumps(res.to_dict()))
    assert d["campaign"] == "men" and set(d["estimators"]) == {"ips", "snips", "dm", "dr"}
    assert d["settings"]["reward_model"]["model"] == "logistic"


def test_dm_uses_the_reward_model(shared_data: Path) -> None:
    from distillrank.bandits.ope import prepare_obd_ope

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        inp = prepare_obd_ope(shared_data, "women", reward_model=RewardModel(n_folds=2, seed=1))
    fb = inp.behaviour
    assert inp.estimated_rewards.shape == (fb.n_rounds, fb.n_actions, fb.len_list)
    dm = make_estimator("dm").estimate_policy_value(fb, inp.action_dist, inp.estimated_rewards)
    rows = np.arange(fb.n_rounds)
    by_hand = (inp.action_dist[:, fb.position].T * inp.estimated_rewards[rows, :, fb.position]).sum(1).mean()
    assert dm == pytest.approx(by_hand)
    with pytest.raises(ValueError, match="evaluation and behaviour policies must differ"):
        prepare_obd_ope(shared_data, "women", evaluation="random")
