"""Benchmark: online learning to rank from simulated clicks (issue 5) — naive, IPS, SNIPS, DR, full info,
and XGBoost's Unbiased LambdaMART on identical click logs.

Run:  python bench/online_ltr.py [--data-dir ../shared/data] [--seeds-ltr 10] [--jobs 2] [--quick]
      [--same-log-only]  (only the DR loops, whose logs are the same, and the same-log comparison)

For SciFact (BM25 top-100 candidates, 18 cheap features; first round served by BM25) and the LightGBM
lambdarank example (its 300 features; first round served by LambdaMART on 5% of the training queries'
labels), the loop of ``distillrank online simulate`` runs with the issue's user model — PBM with
eta = 1, eps- = 0.1, eps+ = 1, top 10 shown — for 10 rounds of 10,000 sessions (100,000 in all): every
estimator serves its own traffic with Plackett-Luce exploration, logs to a DuckDB click store, estimates
propensities by EM regression on its log, and refits its LightGBM ranker on the whole log's estimates
every round (30 trees per round so far: 300 after the last; ``OnlineConfig.warm_start``) with the
default objective (the listwise softmax on the estimates; full information trains the same way
on the true labels). Supplementary: ``unbiased_lambdamart`` in the same loop, refitted every round on the
pairs of its latest 30,000 sessions (``OnlineConfig.session_window``). The full-information ceiling is
also trained with the other objective (LambdaMART
with the estimates as gains), and every ratio is reported against the better of the two ceilings too
(``ratio_to_best_full_info``): a weaker ceiling must not make the ratios look good.
Every figure is a mean over 10 seeds per dataset (``--seeds-scifact``, ``--seeds-ltr``): one seed's final
nDCG@10 moves by about 0.01 on SciFact's 300 test queries and 0.02 on the LightGBM example's 50; with 10
seeds the standard error of a ratio to full information is about 0.003 on both (with 3, SciFact's DR
ratio read 0.972x where 10 seeds give 0.962x).

Figures, against the issue's targets:

* final test nDCG@10 of every estimator and its ratio to full information (target: IPS and DR >= 0.98x;
  naive measurably below);
* sessions until IPS and DR first reach 0.98x the full-information nDCG@10 (target: DR fewer than IPS);
* on the **identical** click log (the last ``--same-log-sessions`` sessions, 30,000 by default, that
  the DR run logged, for every seed; the figure compares the means over seeds — XGBoost takes ~0.4 s
  a round per million rows on one core): our
  ranker learned offline from it (:func:`~distillrank.feedback.online.learn_from_log`, EM propensities,
  IPS and DR targets with the noise correction, 300 trees, the default objective and candidates;
  LambdaMART as a supplementary figure) against XGBoost ``rank:ndcg`` with ``lambdarank_unbiased=True`` (which
  learns its own position bias) on the same sessions — one query group per session, rows in shown
  order, clicks as labels — best test nDCG@10 over 50/100/200 rounds (generous to XGBoost), and our
  per-session Unbiased LambdaMART (:func:`~distillrank.feedback.unbiased.fit_session_lambdamart`,
  XGBoost's tree settings and rounds; supplementary: the paper's bias cost, raw clicks); target: the
  best of ours (IPS, DR, Unbiased LambdaMART) >= 1.0x. Supplementary: the same XGBoost without
  ``lambdarank_unbiased`` (raw clicks), which shows what its own debiasing gains or loses on this log.

Writes bench/results/online_ltr.json and each dataset's report (report.md/html, metrics.json) under
bench/results/online_ltr/<dataset>/. The click stores live in a temporary folder.
"""

# ruff: noqa: E402  (the thread variables must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import dataclasses
import json
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from _common import RESULTS, data_dir, machine_info, write_json
from distillrank.data.clicklog import ClickLog
from distillrank.data.formats.parquet import read_parquet
from distillrank.data.run import Run
from distillrank.evaluation import evaluate
from distillrank.feedback.online import (
    OnlineConfig,
    OnlineData,
    OnlineResult,
    learn_from_log,
    load_online_data,
    run_online,
    write_report,
)
from distillrank.feedback.online.loop import EstimatorCurve
from distillrank.feedback.online.report import mean_result
from distillrank.feedback.unbiased import LGBM_OBJECTIVES, fit_session_lambdamart

ESTIMATORS = ("naive", "ips", "snips", "dr", "full_info", "unbiased_lambdamart")
XGB_ROUNDS = (50, 100, 200)


def _ndcg(scores: np.ndarray, data: OnlineData) -> float:
    assert data.test.docnos is not None
    run: dict[str, dict[str, float]] = {}
    for q, d, s in zip(data.test.qids.tolist(), data.test.docnos.tolist(), scores.tolist(), strict=True):
        run.setdefault(str(q), {})[str(d)] = float(s)
    return float(evaluate(Run(run), data.test_qrels, "nDCG@10").aggregate["nDCG@10"])


def xgboost_unbiased(log_df: Any, data: OnlineData, seed: int, *, unbiased: bool = True) -> dict[str, Any]:
    """XGBoost Unbiased LambdaMART on the logged sessions (one group per session, shown order); with
    ``unbiased=False`` the same LambdaMART on the raw clicks (no position-bias correction)."""
    import xgboost as xgb

    assert data.train.docnos is not None
    row_of = {
        (str(q), str(d)): i for i, (q, d) in enumerate(zip(data.train.qids, data.train.docnos, strict=True))
    }
    df = log_df.sort_values(["session_id", "position"], kind="stable")
    rows = np.fromiter(
        (row_of[(q, d)] for q, d in zip(df["qid"], df["docno"], strict=True)), np.int64, len(df)
    )
    X = data.train.X[rows]
    session = df["session_id"].to_numpy()
    dtrain = xgb.DMatrix(X, label=df["click"].to_numpy(dtype=np.float32), qid=session)
    params = {
        "objective": "rank:ndcg",
        "lambdarank_unbiased": unbiased,
        "lambdarank_pair_method": "topk",
        "lambdarank_num_pair_per_sample": 10,
        "eta": 0.1,
        "max_depth": 6,
        "tree_method": "hist",
        "nthread": 1,
        "seed": seed,
    }
    t0 = time.perf_counter()
    booster = xgb.train(params, dtrain, num_boost_round=max(XGB_ROUNDS))
    seconds = time.perf_counter() - t0
    dtest = xgb.DMatrix(data.test.X)
    by_rounds = {n: _ndcg(booster.predict(dtest, iteration_range=(0, n)), data) for n in XGB_ROUNDS}
    best = max(by_rounds, key=lambda n: by_rounds[n])
    return {
        "params": params,
        "nDCG@10_by_rounds": {str(n): round(v, 5) for n, v in by_rounds.items()},
        "best_rounds": best,
        "nDCG@10": round(by_rounds[best], 5),
        "rows": len(df),
        "sessions": int(df["session_id"].nunique()),
        "train_seconds": round(seconds, 1),
    }


def ours_on_log(log: Any, data: OnlineData) -> dict[str, Any]:
    """Our rankers learned offline from ``log``: IPS and DR with the default objective (the figure), and
    with the other objective (supplementary, ``<name>_<objective>``)."""
    out: dict[str, Any] = {}
    default = OnlineConfig.objective
    for objective in (default, *(o for o in LGBM_OBJECTIVES if o != default)):
        for name in ("ips", "dr"):
            t0 = time.perf_counter()
            ranker = learn_from_log(
                log,
                name,
                features=data.train,
                num_boost_round=300,
                objective=objective,  # type: ignore[arg-type]
            )
            assert ranker.booster is not None
            key = name if objective == default else f"{name}_{objective}"
            out[key] = {
                "objective": objective,
                "nDCG@10": round(_ndcg(np.asarray(ranker.booster.predict(data.test.X)), data), 5),
                "train_seconds": round(time.perf_counter() - t0, 1),
            }
    out["propensities"] = [round(float(x), 4) for x in ranker.propensities]
    return out


def ours_sessions_on_log(log: Any, data: OnlineData) -> dict[str, Any]:
    """Our per-session learner on ``log``: Unbiased LambdaMART (position biases learned jointly,
    :func:`~distillrank.feedback.unbiased.fit_session_lambdamart`, default settings: the bias cost chosen
    on held-out sessions) and, supplementary, the same with each bias cost fixed (XGBoost's ``"margin"``,
    the paper's ``"loss"``) and LambdaMART on the raw clicks; XGBoost's protocol: its tree settings, best
    test nDCG@10 over 50/100/200 rounds."""
    out: dict[str, Any] = {}
    variants: tuple[tuple[str, dict[str, Any]], ...] = (
        ("unbiased_lambdamart", {}),  # the default: the bias cost chosen on held-out sessions
        ("unbiased_lambdamart_margin_cost", {"bias_cost": "margin"}),
        ("unbiased_lambdamart_loss_cost", {"bias_cost": "loss"}),
        ("session_lambdamart_raw_clicks", {"debias": False}),
    )
    for key, options in variants:
        t0 = time.perf_counter()
        booster, objective = fit_session_lambdamart(
            log, data.train, num_boost_round=max(XGB_ROUNDS), **options
        )
        seconds = time.perf_counter() - t0
        by_rounds = {
            n: _ndcg(np.asarray(booster.predict(data.test.X, num_iteration=n)), data) for n in XGB_ROUNDS
        }
        best = max(by_rounds, key=lambda n: by_rounds[n])
        out[key] = {
            "nDCG@10_by_rounds": {str(n): round(v, 5) for n, v in by_rounds.items()},
            "best_rounds": best,
            "nDCG@10": round(by_rounds[best], 5),
            "bias_cost": objective.bias_cost,
            **(
                {"held_out_utility": {k: round(v, 5) for k, v in objective.selection.items()}}
                if objective.selection is not None
                else {}
            ),
            "t_plus": [round(float(x), 4) for x in objective.t_plus],
            "t_minus": [round(float(x), 4) for x in objective.t_minus],
            "sessions_with_pairs": objective.batch.n_sessions,
            "train_seconds": round(seconds, 1),
        }
    return out


def _compare_on_log(path: Path, data: OnlineData, seed: int, sessions: int) -> dict[str, Any]:
    """XGBoost and our learners on the last ``sessions`` sessions of one DR log (a worker process)."""
    full_log = read_parquet(path, kind="clicklog")
    assert isinstance(full_log, ClickLog)
    last = full_log.df["session_id"].max() - sessions + 1
    log = ClickLog(full_log.df[full_log.df["session_id"] >= last].reset_index(drop=True))
    ours = ours_on_log(log, data)
    ours.update(ours_sessions_on_log(log, data))
    return {
        "seed": seed,
        "sessions": log.n_sessions,
        "xgboost": xgboost_unbiased(log.df, data, seed),
        "xgboost_without_debiasing": xgboost_unbiased(log.df, data, seed, unbiased=False),
        "ours": ours,
    }


def sustained_reach(sessions: list[int], curve: Any, threshold: float) -> int | None:
    """The first session count from which ``curve`` stays at or above ``threshold`` to its end (a curve
    that touches the threshold and falls back has not got there); None if its last point is below."""
    out = None
    for n, value in zip(reversed(sessions), reversed(list(curve)), strict=True):
        if value < threshold:
            break
        out = n
    return out


def ratio_spread(finals: Any, full_finals: Any) -> dict[str, float] | None:
    """The per-seed ratios ``final / full-information final`` (paired by seed): their standard deviation
    and the standard error of their mean, which says how far a mean ratio is from a threshold in units
    of noise (None with fewer than 2 seeds)."""
    ratios = np.asarray(finals, dtype=np.float64) / np.asarray(full_finals, dtype=np.float64)
    if len(ratios) < 2:
        return None
    sd = float(ratios.std(ddof=1))
    return {"sd": round(sd, 4), "se": round(float(sd / np.sqrt(len(ratios))), 4)}


def summarise(results: list[OnlineResult]) -> dict[str, Any]:
    """Means over seeds of the curves, ratios and sessions to 0.98x."""
    curves = {n: np.array([r.curves[n].ndcg for r in results]) for n in results[0].curves}
    sessions = results[0].curves["full_info"].sessions
    full_final = float(curves["full_info"][:, -1].mean())
    out: dict[str, Any] = {}
    for name, arr in curves.items():
        mean_curve = arr.mean(axis=0)
        entry: dict[str, Any] = {
            "nDCG@10": round(float(mean_curve[-1]), 5),
            "per_seed": [round(float(x), 5) for x in arr[:, -1]],
            "curve": [round(float(x), 5) for x in mean_curve],
            "curve_se": [round(float(x), 5) for x in arr.std(axis=0, ddof=1) / np.sqrt(len(arr))]
            if len(arr) > 1
            else None,
            "sessions": sessions,
        }
        if name != "full_info":
            entry["ratio_to_full_info"] = round(float(mean_curve[-1]) / full_final, 4)
            entry["ratio_spread_over_seeds"] = ratio_spread(arr[:, -1], curves["full_info"][:, -1])
            for frac in (0.95, 0.98):
                reach = [s for s, v in zip(sessions, mean_curve, strict=True) if v >= frac * full_final]
                entry[f"sessions_to_{frac}_full_info"] = reach[0] if reach else None
                entry[f"sessions_to_{frac}_full_info_sustained"] = sustained_reach(
                    sessions, mean_curve, frac * full_final
                )
            mae = [r.curves[name].propensity_mae[-1] for r in results]
            entry["propensity_mae_final"] = None if mae[0] is None else round(float(np.mean(mae)), 5)  # type: ignore[arg-type]
        out[name] = entry
    return out


def _printer(name: str, seed: int) -> Any:
    def callback(event: str, estimator: str, r: int, value: float | None) -> None:
        if event == "round" and value is not None:
            print(f"  {name} seed {seed} {estimator} round {r + 1}: {value:.4f}", flush=True)

    return callback


def _run_one(data: OnlineData, config: OnlineConfig, out: Path | None, label: str) -> OnlineResult:
    """One estimator's loop (a worker process of ``--jobs``)."""
    return run_online(data, config, output=out, callback=_printer(label, config.seed))


def _merge(parts: list[OnlineResult], config: OnlineConfig) -> OnlineResult:
    """The estimators' separate runs (same data, seed and settings) as one result."""
    first = parts[0]
    curves = {name: c for p in parts for name, c in p.curves.items()}
    return OnlineResult(
        first.dataset,
        config,
        first.initial_ndcg,
        first.initial_name,
        first.true_propensities,
        curves,
        sum(p.seconds for p in parts),
    )


LEARNERS = ("ips", "dr", "unbiased_lambdamart")
"""Ours in the same-log figure: the pooled IPS and DR rankers and the per-session Unbiased LambdaMART,
each with its defaults."""


def _config(args: argparse.Namespace, seed: int, estimators: tuple[str, ...]) -> OnlineConfig:
    """The loop's settings for one seed: one place, so a ``--same-log-only`` re-run logs what the full
    run logged."""
    return OnlineConfig(
        rounds=args.rounds,
        sessions_per_round=args.sessions_per_round,
        estimators=estimators,
        exploration=args.exploration,
        clip=args.clip,
        seed=seed,
        store="duckdb",
    )


def same_log(
    name: str, seeds: list[int], datas: list[OnlineData], tmp: Path, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same-log comparison on every seed's DR log (one log moves the ratio by about 0.01): the
    ``same_log_comparison`` section and the ``ours_over_xgboost_same_log`` target."""
    logs = [tmp / f"{name}-{seed}" / "clicks" / "dr.parquet" for seed in seeds]
    with ProcessPoolExecutor(max_workers=max(1, min(args.jobs, len(seeds)))) as pool:
        per_seed_log = list(
            pool.map(_compare_on_log, logs, datas, seeds, [args.same_log_sessions] * len(seeds))
        )
    xgb_mean = float(np.mean([c["xgboost"]["nDCG@10"] for c in per_seed_log]))
    learners = sorted({k for c in per_seed_log for k in c["ours"] if isinstance(c["ours"][k], dict)})
    means = {k: float(np.mean([c["ours"][k]["nDCG@10"] for c in per_seed_log])) for k in learners}
    ours_mean = {k: means[k] for k in LEARNERS}
    best_ours = max(ours_mean.values())
    target = {
        "value": round(best_ours / xgb_mean, 4),
        **{k: round(v / xgb_mean, 4) for k, v in ours_mean.items()},
        "per_seed": [
            {
                "seed": c["seed"],
                **{k: round(c["ours"][k]["nDCG@10"] / c["xgboost"]["nDCG@10"], 4) for k in LEARNERS},
            }
            for c in per_seed_log
        ],
        "note": f"means over the DR logs of seeds {seeds}: the best of ours (mean) over XGBoost (mean)",
        "target": ">= 1.0",
    }
    target["pass"] = target["value"] >= 1.0
    comparison = {
        "log": f"the last {args.same_log_sessions:,} sessions the DR run logged, for each seed",
        "means": {
            "xgboost": round(xgb_mean, 5),
            "xgboost_without_debiasing": round(
                float(np.mean([c["xgboost_without_debiasing"]["nDCG@10"] for c in per_seed_log])), 5
            ),
            **{k: round(v, 5) for k, v in means.items()},
        },
        "per_seed": per_seed_log,
    }
    return comparison, target


def run_dataset(name: str, seeds: list[int], args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    results: list[OnlineResult] = []
    alt_full: list[float] = []
    datas: list[OnlineData] = []
    configs: list[OnlineConfig] = []
    jobs: list[tuple[OnlineData, OnlineConfig, Path | None, str]] = []
    for seed in seeds:
        data = load_online_data(name, data_dir(args.data_dir), seed=seed)
        datas.append(data)
        config = _config(args, seed, ESTIMATORS)
        configs.append(config)
        out = tmp / f"{name}-{seed}"
        # every estimator runs on its own traffic: one job each (they share nothing but the data)
        jobs += [(data, dataclasses.replace(config, estimators=(e,)), out, name) for e in ESTIMATORS]
        # the ceiling with the other objective too: the ratios must not gain from a weaker ceiling
        other = "softmax" if config.objective == "lambdarank" else "lambdarank"
        alt = dataclasses.replace(config, estimators=("full_info",), objective=other)
        jobs.append((data, alt, None, name))
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        done = list(pool.map(_run_one, *zip(*jobs, strict=True)))
    per_seed = len(ESTIMATORS) + 1
    for i, config in enumerate(configs):
        chunk = done[i * per_seed : (i + 1) * per_seed]
        res = _merge(chunk[:-1], config)
        results.append(res)
        alt_full.append(chunk[-1].final("full_info"))
    mean, errors = mean_result(results)  # the report of the means over seeds, with their bands
    write_report(mean, RESULTS / "online_ltr" / name, seeds=len(results), errors=errors)
    summary = summarise(results)
    objective = results[0].config.objective
    alt_mean = float(np.mean(alt_full))
    full_mean = summary["full_info"]["nDCG@10"]
    summary["full_info"]["objective"] = objective
    ceiling = {
        "objective": "softmax" if objective == "lambdarank" else "lambdarank",
        "nDCG@10": round(alt_mean, 5),
        "per_seed": [round(x, 5) for x in alt_full],
    }
    best_full = max(full_mean, alt_mean)
    for entry in summary.values():
        if "ratio_to_full_info" in entry:
            entry["ratio_to_best_full_info"] = round(entry["nDCG@10"] / best_full, 4)
    comparison, same_log_target = same_log(name, seeds, datas, tmp, args)
    ips, dr, naive = summary["ips"], summary["dr"], summary["naive"]
    targets = {
        "ips_over_full_info": {
            "value": ips["ratio_to_full_info"],
            "over_best_full_info": ips["ratio_to_best_full_info"],
            "target": ">= 0.98",
        },
        "dr_over_full_info": {
            "value": dr["ratio_to_full_info"],
            "over_best_full_info": dr["ratio_to_best_full_info"],
            "target": ">= 0.98",
        },
        "naive_over_full_info": {"value": naive["ratio_to_full_info"], "target": "measurably below IPS/DR"},
        "sessions_to_0.98": {
            "ips": ips["sessions_to_0.98_full_info"],
            "dr": dr["sessions_to_0.98_full_info"],
            "target": "DR fewer than IPS",
            "supplementary_sessions_to_0.95": {
                "ips": ips["sessions_to_0.95_full_info"],
                "dr": dr["sessions_to_0.95_full_info"],
            },
            "supplementary_sustained": {
                "ips": ips["sessions_to_0.98_full_info_sustained"],
                "dr": dr["sessions_to_0.98_full_info_sustained"],
                "note": "first session count from which the mean curve stays >= 0.98x to the end; "
                "the target's pass is on the first crossing",
            },
        },
        "ours_over_xgboost_same_log": same_log_target,
    }
    ulm = summary["unbiased_lambdamart"]
    targets["supplementary_unbiased_lambdamart_over_full_info"] = {
        "value": ulm["ratio_to_full_info"],
        "over_best_full_info": ulm["ratio_to_best_full_info"],
        "sessions_to_0.98": ulm["sessions_to_0.98_full_info"],
        "note": "per-session learner on the latest session_window sessions; not one of the issue's targets",
    }
    for key in ("ips_over_full_info", "dr_over_full_info"):  # against both ceilings
        targets[key]["pass"] = min(targets[key]["value"], targets[key]["over_best_full_info"]) >= 0.98
    targets["naive_over_full_info"]["pass"] = naive["nDCG@10"] < min(ips["nDCG@10"], dr["nDCG@10"])
    s_ips, s_dr = ips["sessions_to_0.98_full_info"], dr["sessions_to_0.98_full_info"]
    targets["sessions_to_0.98"]["pass"] = s_dr is not None and (s_ips is None or s_dr < s_ips)
    return {
        "data": repr(datas[0]),
        "initial": {"ranker": results[0].initial_name, "nDCG@10": round(results[0].initial_ndcg, 5)},
        "seeds": seeds,
        "estimators": summary,
        "full_info_other_objective": ceiling,
        "same_log_comparison": comparison,
        "targets": targets,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def rerun_same_log(
    name: str, args: argparse.Namespace, tmp: Path, previous: dict[str, Any]
) -> dict[str, Any]:
    """``--same-log-only``: re-run only the DR loops, which log the same sessions again (every estimator
    serves its own seeded traffic in its own process), and the same-log comparison on their logs; the
    rest of the dataset's entry is the previous run's. The DR loops must end where the previous run's
    did, seed for seed, or the logs are not the same ones and this stops."""
    seeds = list(previous["seeds"])
    datas = [load_online_data(name, data_dir(args.data_dir), seed=seed) for seed in seeds]
    jobs = [
        (
            data,
            _config(args, seed, ("dr",)),
            tmp / f"{name}-{seed}",
            name,
        )
        for seed, data in zip(seeds, datas, strict=True)
    ]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        done = list(pool.map(_run_one, *zip(*jobs, strict=True)))
    finals = [round(r.final("dr"), 5) for r in done]
    if finals != previous["estimators"]["dr"]["per_seed"]:
        raise SystemExit(
            f"{name}: the DR loops ended at {finals}, the previous run's at "
            f"{previous['estimators']['dr']['per_seed']}: not the same logs; run the whole benchmark"
        )
    t0 = time.perf_counter()
    comparison, target = same_log(name, seeds, datas, tmp, args)
    entry = {**previous, "same_log_comparison": comparison}
    entry["targets"] = {**previous["targets"], "ours_over_xgboost_same_log": target}
    entry["same_log_rerun"] = {
        "dr_loops_final_nDCG@10": finals,
        "seconds": round(time.perf_counter() - t0, 1),
        "note": "only the DR loops (the same logs: their final nDCG@10 equals the previous run's) and "
        "the same-log comparison were re-run; the loop figures are the previous run's",
    }
    return entry


def reports_from_json(path: Path) -> None:
    """Rewrite each dataset's report from the bench JSON: the mean curves over its seeds (bands where
    the JSON holds their standard errors, ``curve_se``), with the settings of the report's own
    ``metrics.json``. The mean propensities and served quality of each round are not in the JSON."""
    payload = json.loads(path.read_text())
    for name, entry in payload["datasets"].items():
        folder = RESULTS / "online_ltr" / name
        previous = json.loads((folder / "metrics.json").read_text())
        config = OnlineConfig(**{**previous["config"], "estimators": tuple(entry["estimators"])})
        curves, errors = {}, {}
        for est, e in entry["estimators"].items():
            n = len(e["curve"])
            mae = [None] * (n - 1) + [e.get("propensity_mae_final")]
            curves[est] = EstimatorCurve(
                est, list(e["curve"]), list(e["sessions"]), [None] * n, mae, [None] * n
            )
            if e.get("curve_se"):
                errors[est] = list(e["curve_se"])
        result = OnlineResult(
            dataset=name,
            config=config,
            initial_ndcg=entry["initial"]["nDCG@10"],
            initial_name=entry["initial"].get("ranker", previous["initial"]["ranker"]),
            true_propensities=previous["true_propensities"],
            curves=curves,
            seconds=entry.get("seconds", 0.0),
            held_out=previous.get("held_out_test_queries"),
        )
        seeds = len(next(iter(entry["estimators"].values()))["per_seed"])
        write_report(result, folder, seeds=seeds, errors=errors or None)
        print(f"wrote {folder}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seeds-ltr", type=int, default=10, help="seeds for the 50-query LightGBM example")
    ap.add_argument("--seeds-scifact", type=int, default=10, help="seeds for SciFact (300 test queries)")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--sessions-per-round", type=int, default=10_000)
    ap.add_argument("--exploration", type=float, default=OnlineConfig.exploration)
    ap.add_argument("--clip", type=float, default=OnlineConfig.clip)
    ap.add_argument("--datasets", default="scifact,lightgbm-lambdarank")
    ap.add_argument(
        "--same-log-sessions", type=int, default=30_000, help="sessions of the log both learners get"
    )
    ap.add_argument(
        "--jobs", type=int, default=1, help="processes: the estimators' loops (and seeds) run in parallel"
    )
    ap.add_argument("--quick", action="store_true", help="2 rounds of 2,000 sessions, one seed (smoke test)")
    ap.add_argument(
        "--same-log-only",
        action="store_true",
        help="re-run only the DR loops and the same-log comparison, into the JSON at --output",
    )
    ap.add_argument("--output", default=str(RESULTS / "online_ltr.json"))
    ap.add_argument(
        "--reports-only",
        action="store_true",
        help="rewrite the reports in bench/results/online_ltr/ from the JSON at --output (its mean curves)",
    )
    args = ap.parse_args()
    if args.reports_only:
        reports_from_json(Path(args.output))
        return
    if args.quick:
        args.rounds, args.sessions_per_round, args.seeds_ltr, args.seeds_scifact = 2, 2_000, 1, 1
    t0 = time.perf_counter()
    payload: dict[str, Any] = {
        "benchmark": "online_ltr",
        "machine": machine_info(),
        "user_model": {"click_model": "PBM", "eta": 1.0, "eps_minus": 0.1, "eps_plus": 1.0, "top_k": 10},
        "protocol": {
            "rounds": args.rounds,
            "sessions_per_round": args.sessions_per_round,
            "total_sessions": args.rounds * args.sessions_per_round,
            "exploration": args.exploration,
            "clip": args.clip,
            "propensities": "EM regression on each estimator's own log",
            "noise": OnlineConfig.noise,
            "trees_per_round": OnlineConfig.trees_per_round,
            "objective": OnlineConfig.objective,
            "candidates": OnlineConfig.candidates,
            "warm_start": OnlineConfig.warm_start,
            "regression_folds": OnlineConfig.regression_folds,
            "session_window": OnlineConfig.session_window,
        },
        "quick": args.quick,
        "datasets": {},
    }
    if args.same_log_only:
        previous = json.loads(Path(args.output).read_text())
        for key in ("rounds", "sessions_per_round", "exploration", "clip"):
            if previous["protocol"][key] != payload["protocol"][key]:
                raise SystemExit(
                    f"{args.output}: its {key} is {previous['protocol'][key]}, not {getattr(args, key)}"
                )
        with tempfile.TemporaryDirectory(prefix="online-ltr-") as tmp:
            for name in args.datasets.split(","):
                print(f"{name}: DR loops and the same-log comparison", flush=True)
                previous["datasets"][name] = rerun_same_log(name, args, Path(tmp), previous["datasets"][name])
                t = previous["datasets"][name]["targets"]["ours_over_xgboost_same_log"]
                print(f"  ours_over_xgboost_same_log: {t}", flush=True)
        previous["same_log_rerun"] = {
            "machine": payload["machine"],
            "seconds": round(time.perf_counter() - t0, 1),
        }
        write_json(args.output, previous)
        print(f"wrote {args.output}")
        return
    with tempfile.TemporaryDirectory(prefix="online-ltr-") as tmp:
        for name in args.datasets.split(","):
            n_seeds = args.seeds_scifact if name == "scifact" else args.seeds_ltr
            print(f"{name}: {n_seeds} seed(s)", flush=True)
            payload["datasets"][name] = run_dataset(name, list(range(n_seeds)), args, Path(tmp))
            for key, t in payload["datasets"][name]["targets"].items():
                print(f"  {key}: {t}", flush=True)
    payload["seconds"] = round(time.perf_counter() - t0, 1)
    write_json(args.output, payload)
    print(f"wrote {args.output} ({payload['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
