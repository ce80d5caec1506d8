"""Benchmark: regret of the exploration policies of distillrank.bandits in click environments from real data.

Run:  python bench/bandit_regret.py [--data-dir ../shared/data] [--seeds 10] [--rounds-obd 100000]
      [--rounds-ltr 50000] [--rounds-yandex 100000] [--slate-size 5]
Environments (:mod:`distillrank.bandits.datasets`):

* ``obd_pbm``      — the Open Bandit Dataset's uniform-random log (``random/all``: 80 items, 3 positions),
  PBM with examination and attractiveness estimated from it (empirical-Bayes shrinkage);
* ``ltr_pbm``      — the LightGBM lambdarank example's training queries (a query drawn per round, its
  documents the items, 5 positions), the unbiased-LTR click protocol (Joachims examination, eta=1,
  eps-=0.1, eps+=1) under PBM;
* ``ltr_cascade``  — the same queries and attractiveness under the cascade model;
* ``yandex_pbm``   — the Yandex WSCD sample's training sessions (real web-search clicks): a PBM fitted on
  them by EM, each query's documents shown in >= 100 sessions (at most 20) the items, 5 positions with
  the fitted examination (13 of the 20 queries keep 5 or more documents).

Every policy of :data:`~distillrank.bandits.simulate.DEFAULT_POLICIES` runs ``--seeds`` seeds (common
random numbers across policies), and in ``ltr_pbm`` / ``ltr_cascade`` (the environments with item
features: the documents' 300 LightGBM features, max-abs scaled over the training rows) the linear
contextual policies ``lin_ucb`` and ``lin_ts`` too (:mod:`distillrank.bandits.linear`: one model shared by
all 199 queries; CascadeLinUCB / CascadeLinTS under the cascade), with their default hyper-parameters;
reported: cumulative pseudo-regret at T/10, T/2 and T (mean, standard
error over seeds), clicks per round, and the theory check R(T) / R(T/2) (about 1 when regret grows
logarithmically, 2 when linearly). Peer: where ``import obp`` works (zr-obp), its context-free
``EpsilonGreedy`` and ``BernoulliTS`` run in ``obd_pbm`` with the same seeds (its ranked list placed on
the positions by decreasing examination, as ours is; updated with the click of every shown item, the
feedback obp's own OBD simulations give it), and their regret is reported next to ours as a ratio.
Writes bench/results/bandit_regret.json.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402 - after the thread settings
import time  # noqa: E402 - after the thread settings
import warnings  # noqa: E402 - after the thread settings
from typing import Any  # noqa: E402 - after the thread settings

import numpy as np  # noqa: E402 - after the thread settings

from _common import RESULTS, data_dir, machine_info, provenance, write_json  # noqa: E402 - after the thread settings
from distillrank.bandits.datasets import (  # noqa: E402 - after the thread settings
    click_log_environment,
    ltr_environment,
    obd_environment,
)
from distillrank.bandits.environments import Environment, PositionBasedEnvironment  # noqa: E402 - after the thread settings
from distillrank.bandits.linear import LINEAR_POLICY_NAMES  # noqa: E402 - after the thread settings
from distillrank.bandits.simulate import (  # noqa: E402 - after the thread settings
    DEFAULT_POLICIES,
    PolicySpec,
    RegretResult,
    compare_policies,
)
from distillrank.data.catalogue import load_dataset  # noqa: E402 - after the thread settings
from distillrank.errors import DataWarning  # noqa: E402 - after the thread settings

SMART = ("ucb1", "kl_ucb", "thompson")
LINEAR = tuple(PolicySpec(name) for name in LINEAR_POLICY_NAMES)
SUBLINEAR, LINEAR_GROWTH = 1.5, 1.8


def summary(result: RegretResult) -> dict[str, Any]:
    """Regret at T/10, T/2, T per policy, and the sub-linearity check."""
    t = result.rounds
    out: dict[str, Any] = {}
    for label, p in result.policies.items():
        row: dict[str, Any] = {}
        for name, at in (("T/10", t // 10), ("T/2", t // 2), ("T", t)):
            mean, se = result.regret_at(label, at)
            row[f"regret_{name}"] = round(mean, 3)
            row[f"se_{name}"] = None if se is None else round(se, 3)
        row["regret_T_over_half_T"] = round(p.growth, 4)
        row["clicks_per_round"] = round(p.clicks_per_round, 5)
        row["seconds_per_run"] = round(p.seconds, 2)
        out[label] = row
    growth = {label: p.growth for label, p in result.policies.items()}
    out["theory_check"] = {
        "sublinear_below": SUBLINEAR,
        "linear_above": LINEAR_GROWTH,
        "ucb_ts_sublinear": {k: bool(growth[k] < SUBLINEAR) for k in SMART if k in growth},
        "fixed_epsilon_linear": bool(growth.get("epsilon_greedy(epsilon=0.1)", 0.0) > LINEAR_GROWTH),
        "uniform_linear": bool(growth.get("uniform", 0.0) > LINEAR_GROWTH),
    }
    return out


def obp_peer(
    env: PositionBasedEnvironment, rounds: int, seeds: list[int], ours: RegretResult
) -> dict[str, Any]:
    """obp's EpsilonGreedy / BernoulliTS in ``env``, against ours with the same hyper-parameters."""
    try:
        import obp
        from obp.policy import BernoulliTS
        from obp.policy import EpsilonGreedy as ObpEpsilonGreedy
    except ImportError as e:
        return {"skipped": f"obp is not importable here ({e}); install obp==0.4.1 to compare"}
    positions = np.argsort(-env.examination, kind="stable")
    makers = {
        "epsilon_greedy(epsilon=0.1)": lambda s: ObpEpsilonGreedy(
            n_actions=env.n_items, len_list=env.slate_size, epsilon=0.1, random_state=s
        ),
        "thompson": lambda s: BernoulliTS(n_actions=env.n_items, len_list=env.slate_size, random_state=s),
    }
    out: dict[str, Any] = {"obp_version": obp.__version__}
    best = env.optimal_reward()
    for label, make in makers.items():
        finals = []
        t0 = time.perf_counter()
        for seed in seeds:
            policy = make(seed)
            uniforms = np.random.default_rng([seed, 0]).random((rounds, env.slate_size))
            regret = 0.0
            for t in range(rounds):
                ranked = np.asarray(policy.select_action())
                slate = np.empty(env.slate_size, dtype=np.int64)
                slate[positions] = ranked
                clicks = env.clicks_from_uniforms(slate, uniforms[t])
                regret += best - float(env.expected_rewards(slate))
                for item, click in zip(slate.tolist(), clicks.tolist(), strict=True):
                    policy.update_params(action=item, reward=int(click))
            finals.append(regret)
        mean_obp = float(np.mean(finals))
        mean_ours = float(ours.policies[label].final_regret.mean())
        out[label] = {
            "obp_regret_T": round(mean_obp, 3),
            "obp_se_T": round(float(np.std(finals, ddof=1) / np.sqrt(len(finals))), 3)
            if len(finals) > 1
            else None,
            "ours_regret_T": round(mean_ours, 3),
            "ours_over_obp": round(mean_ours / mean_obp, 4) if mean_obp > 0 else None,
            "obp_seconds_per_run": round((time.perf_counter() - t0) / len(seeds), 2),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--rounds-obd", type=int, default=100_000)
    ap.add_argument("--rounds-ltr", type=int, default=50_000)
    ap.add_argument("--rounds-yandex", type=int, default=100_000)
    ap.add_argument("--slate-size", type=int, default=5)
    ap.add_argument("--no-peer", action="store_true", help="skip the obp comparison")
    ap.add_argument("--output", default=str(RESULTS / "bandit_regret.json"))
    args = ap.parse_args()
    root = data_dir(args.data_dir)
    seeds = list(range(args.seeds))
    t_start = time.perf_counter()
    obd = obd_environment(root / "clicks" / "open-bandit-dataset")
    ltr = load_dataset("lightgbm-lambdarank", data_dir=root)["train"]
    with warnings.catch_warnings():  # the sample's clicks on unlisted documents (dropped, and said so)
        warnings.simplefilter("ignore", DataWarning)
        yandex_log = load_dataset("yandex-wscd-sample", data_dir=root)["train"]
    yandex = click_log_environment(yandex_log, args.slate_size)
    envs: dict[str, tuple[Environment, int]] = {
        "obd_pbm": (obd, args.rounds_obd),
        "ltr_pbm": (ltr_environment(ltr, args.slate_size, "pbm"), args.rounds_ltr),
        "ltr_cascade": (ltr_environment(ltr, args.slate_size, "cascade"), args.rounds_ltr),
        "yandex_pbm": (yandex, args.rounds_yandex),
    }
    results: dict[str, Any] = {}
    for name, (env, rounds) in envs.items():
        t0 = time.perf_counter()
        specs = DEFAULT_POLICIES + (LINEAR if env.context_features is not None else ())
        res = compare_policies(env, specs, rounds, seeds)
        results[name] = {
            "summary": summary(res),
            "curves": res.to_dict(),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        best = res.optimal_clicks_per_round
        print(f"\n{name}: T={rounds}, {len(seeds)} seeds, optimal {best:.4f} clicks/round")
        for label, row in results[name]["summary"].items():
            if label != "theory_check":
                growth = row["regret_T_over_half_T"]
                print(f"  {label:30s} R(T)={row['regret_T']:10.2f} ± {row['se_T']:<8} R(T)/R(T/2)={growth}")
        print("  theory:", results[name]["summary"]["theory_check"])
        if name == "obd_pbm":
            peer = {"skipped": "--no-peer"} if args.no_peer else obp_peer(obd, rounds, seeds, res)
            results[name]["obp_peer"] = peer
            print("  obp:", peer)
    payload = {
        "benchmark": "bandit_regret",
        "provenance": provenance("src", "bench/bandit_regret.py"),
        "machine": machine_info(),
        "environments": {
            "obd_pbm": {
                "source": "clicks/open-bandit-dataset/random/all (uniform-random log)",
                "items": obd.n_items,
                "positions": obd.slate_size,
                "examination": [round(float(x), 4) for x in obd.examination],
                "attractiveness_min_mean_max": [
                    round(float(f(obd.attractiveness)), 5) for f in (np.min, np.mean, np.max)
                ],
                "optimal_clicks_per_round": round(obd.optimal_reward(), 5),
            },
            "ltr": {
                "source": "ltr/lightgbm-lambdarank rank.train",
                "queries": envs["ltr_pbm"][0].n_contexts,
                "queries_left_out_fewer_docs_than_positions": len(ltr.query_ids)
                - envs["ltr_pbm"][0].n_contexts,
                "positions": args.slate_size,
                "item_features": {
                    "features": ltr.X.shape[1],
                    "scaling": "maxabs over the training rows (ltr_environment's default)",
                    "nonzero_features_used_by_the_linear_policies": int(
                        (abs(ltr.X).max(axis=0).toarray() > 0).sum()
                    ),
                    "intercept": True,
                },
                "click_model": {
                    "eta": 1.0,
                    "eps_minus": 0.1,
                    "eps_plus": 1.0,
                    "examination": "JOACHIMS_EXAMINATION",
                },
            },
            "yandex_pbm": {
                "source": "clicks/yandex-wscd-sample trainSample, PBM fitted by EM",
                "queries": yandex.n_contexts,
                "items_per_query": list(yandex.n_items),
                "positions": args.slate_size,
                "min_impressions": 100,
                "examination": [round(float(x), 4) for x in yandex.examination],
                "optimal_clicks_per_round_per_query": [round(float(x), 4) for x in yandex.optimal_rewards()],
            },
        },
        "seeds": seeds,
        "results": results,
        "total_seconds": round(time.perf_counter() - t_start, 1),
    }
    write_json(args.output, payload)
    print(f"wrote {args.output} ({payload['total_seconds']} s)")


if __name__ == "__main__":
    main()
