"""Benchmark: off-policy evaluation of Bernoulli TS from the uniform-random logs of the Open Bandit Dataset.

Run:  python bench/ope_obd.py [--data-dir ../shared/data] [--n-bootstrap 1000] [--seed 0] [--no-peer]
The standard check of Saito et al., "Open Bandit Dataset and Pipeline" (NeurIPS 2021 D&B): for each
campaign (all, men, women) the bts policy's click rate is estimated from the random log (10,000 rounds)
and compared with the bts log's own mean click rate (the ground truth, 10,000 rounds too); the figure of
merit is the relative error |V_hat - V| / V. bts's action distribution is read from the propensities its
own log recorded (harmonic / Hájek mean per item and slot: bts changed every few minutes, so this is its
time average); the reward model of DM/DR/SNDR/Switch-DR is a 3-fold cross-fitted logistic regression.
Per estimator: estimate, relative error, 95% percentile-bootstrap interval over the random log's rounds
and whether it covers the truth (the truth's own bootstrap interval is reported too: with ~40-70 clicks
per log it is wide). Sensitivity rows: bts's distribution as plain frequencies, and a LightGBM reward
model. Peer check: OBP 0.4.1's IPW / SNIPW / DM / DR / SNDR / Switch-DR on the identical inputs.
Writes bench/results/ope_obd.json.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from _common import RESULTS, data_dir, machine_info, provenance, write_json  # noqa: E402
from distillrank.bandits.ope import (  # noqa: E402
    DEFAULT_ESTIMATORS,
    OPEInputs,
    RewardModel,
    action_dist_from_logged_policy,
    evaluate_ope,
    from_obd,
    make_estimator,
    prepare_obd_ope,
)
from distillrank.errors import DataWarning  # noqa: E402

CAMPAIGNS = ("all", "men", "women")


def peer(inputs: OPEInputs, tau: float) -> dict[str, dict[str, float]] | str:
    """OBP 0.4.1 on the same feedback, action distribution and estimated rewards: ours vs theirs."""
    try:
        import obp
        from obp import ope
    except ImportError as exc:  # the bench extra is not installed
        return f"obp not importable: {exc}"
    fb = inputs.behaviour
    dist = np.broadcast_to(inputs.action_dist[None], (fb.n_rounds, *inputs.action_dist.shape))
    kw = {"reward": fb.reward, "action": fb.action, "position": fb.position, "pscore": fb.pscore}
    kw |= {"action_dist": dist, "estimated_rewards_by_reg_model": inputs.estimated_rewards}
    pairs = {
        "ips": ope.InverseProbabilityWeighting(),
        "snips": ope.SelfNormalizedInverseProbabilityWeighting(),
        "dm": ope.DirectMethod(),
        "dr": ope.DoublyRobust(),
        "sndr": ope.SelfNormalizedDoublyRobust(),
        "switch-dr": ope.SwitchDoublyRobust(tau=tau),
    }
    out: dict[str, dict[str, float]] = {"obp_version": obp.__version__}  # type: ignore[dict-item]
    for name, est in pairs.items():
        params = {"tau": tau} if name == "switch-dr" else {}
        ours = make_estimator(name, **params).estimate_policy_value(
            fb, inputs.action_dist, inputs.estimated_rewards
        )
        theirs = float(est.estimate_policy_value(**kw))
        out[name] = {
            "ours": ours,
            "obp": theirs,
            "ours_over_obp": ours / theirs,
            "abs_diff": abs(ours - theirs),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--campaigns", default=",".join(CAMPAIGNS))
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument(
        "--refit-resamples",
        type=int,
        default=100,
        help="resamples refitting the reward model, for the DM/DR/SNDR/Switch-DR intervals (0: fixed)",
    )
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-folds", type=int, default=3)
    ap.add_argument("--no-peer", action="store_true", help="skip the OBP 0.4.1 comparison")
    ap.add_argument("--output", default=str(RESULTS / "ope_obd.json"))
    args = ap.parse_args()
    root = data_dir(args.data_dir)
    tau = make_estimator("switch-dr").tau  # type: ignore[attr-defined]

    campaigns: dict[str, Any] = {}
    t_start = time.perf_counter()
    for campaign in args.campaigns.split(","):
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            inputs = prepare_obd_ope(
                root, campaign, reward_model=RewardModel(n_folds=args.n_folds, seed=args.seed)
            )
            bts = from_obd(root, policy="bts", campaign=campaign)
            freq_dist = action_dist_from_logged_policy(bts, method="frequency")
        freq = dataclasses.replace(inputs, action_dist=freq_dist)
        lgbm_model = RewardModel(model="lightgbm", n_folds=args.n_folds, seed=args.seed)
        q_lgbm = lgbm_model.fit_predict(inputs.behaviour)
        lgbm = dataclasses.replace(inputs, estimated_rewards=q_lgbm, reward_model=lgbm_model)
        boot = {"n_bootstrap": args.n_bootstrap, "alpha": args.alpha, "seed": args.seed}
        res = evaluate_ope(inputs, DEFAULT_ESTIMATORS, **boot, refit_resamples=args.refit_resamples)
        entry = res.to_dict()
        if args.refit_resamples:  # what the intervals were with the reward model held fixed (as obp)
            entry["fixed_reward_model_intervals"] = {
                k: v.to_dict()
                for k, v in evaluate_ope(inputs, ["dm", "dr", "sndr", "switch-dr"], **boot).estimators.items()
            }
        entry["warnings"] = [str(w.message) for w in caught]
        entry["sensitivity"] = {
            "bts_dist_as_frequencies": {
                k: v.to_dict()
                for k, v in evaluate_ope(freq, ["ips", "snips", "dr"], **boot).estimators.items()
            },
            "lightgbm_reward_model": {
                k: v.to_dict()
                for k, v in evaluate_ope(lgbm, ["dm", "dr", "sndr", "switch-dr"], **boot).estimators.items()
            },
        }
        entry["peer_obp"] = "skipped (--no-peer)" if args.no_peer else peer(inputs, tau)
        entry["seconds"] = round(time.perf_counter() - t0, 2)
        campaigns[campaign] = entry

        ci = res.ground_truth_interval
        print(f"\n{campaign}: truth {res.ground_truth:.5f} [{ci.low:.5f}, {ci.high:.5f}]", end=" ")
        print(f"({entry['seconds']} s)")
        print(f"  {'estimator':10s} {'estimate':>9s} {'rel err':>8s} {'95% CI':>20s} cover  |ours - obp|")
        for name, r in res.estimators.items():
            p = entry["peer_obp"]
            diff = f"{p[name]['abs_diff']:.1e}" if isinstance(p, dict) and name in p else "-"
            print(
                f"  {name:10s} {r.estimate:9.5f} {r.relative_error:8.3f} "
                f"[{r.interval.low:.5f}, {r.interval.high:.5f}] {'yes' if r.covers_truth else 'no':5s} {diff}"
            )

    summary = {
        name: {
            "mean_relative_error": float(
                np.mean([c["estimators"][name]["relative_error"] for c in campaigns.values()])
            ),
            "ci_covers_truth": sum(c["estimators"][name]["covers_truth"] for c in campaigns.values()),
            "campaigns": len(campaigns),
        }
        for name in DEFAULT_ESTIMATORS
    }
    print(
        "\nmean relative error over campaigns:",
        {k: round(v["mean_relative_error"], 3) for k, v in summary.items()},
    )
    payload = {
        "benchmark": "ope_obd",
        "provenance": provenance(),
        "machine": machine_info(),
        "data": {
            "dataset": "open-bandit-dataset (10,000-round sample per log)",
            "behaviour": "random",
            "evaluation": "bts",
            "truth": "mean click of the bts log",
        },
        "settings": {
            "n_bootstrap": args.n_bootstrap,
            "refit_resamples": args.refit_resamples,
            "alpha": args.alpha,
            "seed": args.seed,
            "reward_model": f"logistic regression (C=1), {args.n_folds}-fold cross-fitted",
            "bts_action_dist": "harmonic mean of bts's logged pscores per (item, slot), normalised per slot",
            "switch_dr_tau": tau,
        },
        "summary": summary,
        "campaigns": campaigns,
        "seconds": round(time.perf_counter() - t_start, 1),
    }
    write_json(args.output, payload)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
