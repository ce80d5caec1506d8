"""Benchmark: position-bias (propensity) estimators on clicks simulated over SciFact.

Run:  python bench/propensity.py [--data-dir ../shared/data] [--seeds 3] [--noise 1.0]
Logging ranker: BM25 (Lucene defaults) top 10 on SciFact's train queries; a second logger for
intervention harvesting: BM25's top 20 re-ranked after adding Gaussian noise (standard deviation
``noise`` times the spread of the query's top-20 scores, drawn once per (query, document)).
Clicks: ClickSimulator, PBM with eta = 1 (true propensities = the Joachims et al. curve), eps- = 0.1,
eps+ = 1, SciFact's binary qrels. At 10,000 and 100,000 sessions, per estimator:

* RandTop-10    — BM25 with the top 10 shuffled per session;
* swap          — BM25 with rank 1 swapped with a uniform rank in 1..10 (symmetric and one-sided);
* EM regression — Wang et al. 2018 (per-(query, document) relevance) on the two-logger log;
* AllPairs      — Agarwal et al. 2019 intervention harvesting on the same two-logger log.

Errors are against the simulator's true p_k / p_1 over ranks 2..10: mean absolute error and largest
relative error, averaged over ``seeds`` simulations (per-seed values are kept). Writes
bench/results/propensity.json.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np

from _common import RESULTS, data_dir, machine_info, write_json
from distillrank.data.catalogue import load_dataset
from distillrank.data.clicklog import ClickLog
from distillrank.data.run import Run
from distillrank.feedback.propensity import (
    AllPairsEstimator,
    EMRegressionEstimator,
    RandTopNEstimator,
    SwapEstimator,
    propensity_errors,
)
from distillrank.feedback.simulation import ClickSimulator, RandTopN, SwapWithTop
from distillrank.retrieval import BM25Retriever

SIZES = (10_000, 100_000)


def perturbed(run: Run, noise: float, seed: int) -> Run:
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, float]] = {}
    for q in run:
        items = run[q]
        scores = np.fromiter(items.values(), dtype=np.float64, count=len(items))
        spread = float(scores.std()) if len(scores) > 1 else 1.0
        noisy = scores + rng.normal(0.0, noise * spread, len(scores))
        out[q] = dict(zip(items, noisy.tolist(), strict=True))
    return Run(out, name="bm25+noise")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--noise", type=float, default=1.0)
    ap.add_argument("--output", default=str(RESULTS / "propensity.json"))
    args = ap.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        col = load_dataset("scifact", data_dir(args.data_dir))
    qrels = col.get_qrels("train")
    queries = col.queries_for("train")
    bm25 = BM25Retriever()
    bm25.index(col.corpus)
    top20 = bm25.search(queries, k=20)
    logger = top20.top_k(10)
    noisy = perturbed(top20, args.noise, seed=12345)
    moved = np.mean(
        [[d for d, _ in logger.ranked(q, 10)] != [d for d, _ in noisy.ranked(q, 10)] for q in logger]
    )
    sim = ClickSimulator(eta=1.0, eps_minus=0.1, eps_plus=1.0, top_k=10)
    truth = sim.examination(10)
    rel_truth = truth / truth[0]

    estimators: dict[str, tuple[str, Callable[[ClickLog], np.ndarray]]] = {
        "RandTop-10": ("randtop", RandTopNEstimator(10).estimate),
        "swap (symmetric)": ("swap", SwapEstimator(symmetric=True).estimate),
        "swap (one-sided)": ("swap", SwapEstimator(symmetric=False).estimate),
        "EM regression": ("harvest", EMRegressionEstimator(max_rank=10).estimate),
        "AllPairs harvesting": ("harvest", AllPairsEstimator(max_rank=10).estimate),
    }
    results: dict[str, dict[str, object]] = {}
    print(f"{'estimator':22s} {'sessions':>9s} {'MAE':>7s} {'max rel':>8s} {'est s':>6s}", end="   ")
    print(f"(mean over {args.seeds} seeds)")
    for n in SIZES:
        per: dict[str, list[dict[str, float]]] = {name: [] for name in estimators}
        curves: dict[str, list[list[float]]] = {name: [] for name in estimators}
        times: dict[str, list[float]] = {name: [] for name in estimators}
        for seed in range(args.seeds):
            logs = {
                "randtop": sim.simulate(logger, qrels, n, rng=1000 * seed + 1, intervention=RandTopN(10)),
                "swap": sim.simulate(logger, qrels, n, rng=1000 * seed + 2, intervention=SwapWithTop(10)),
                "harvest": sim.simulate([logger, noisy], qrels, n, rng=1000 * seed + 3),
            }
            for name, (which, estimate) in estimators.items():
                t0 = time.perf_counter()
                p = estimate(logs[which])
                times[name].append(time.perf_counter() - t0)
                per[name].append(propensity_errors(p, truth))
                curves[name].append([round(float(x), 4) for x in p])
        for name in estimators:
            mae = float(np.mean([e["mae"] for e in per[name]]))
            rel = float(np.mean([e["max_rel"] for e in per[name]]))
            results.setdefault(name, {})[str(n)] = {
                "mae": round(mae, 5),
                "max_rel": round(rel, 4),
                "per_seed": [{k: round(v, 5) for k, v in e.items()} for e in per[name]],
                "estimate_seed0": curves[name][0],
                "estimate_s": round(float(np.mean(times[name])), 3),
            }
            print(f"{name:22s} {n:9d} {mae:7.4f} {rel:8.3f} {np.mean(times[name]):6.2f}")
    print("true p_k/p_1:", " ".join(f"{x:.3f}" for x in rel_truth))
    payload = {
        "benchmark": "propensity",
        "machine": machine_info(),
        "data": {
            "collection": "scifact",
            "split": "train",
            "queries": len(logger),
            "judgements": qrels.n_judgements,
            "second_logger_noise": args.noise,
            "share_of_queries_whose_top10_differs_between_loggers": round(float(moved), 3),
        },
        "simulator": {"eta": 1.0, "eps_minus": 0.1, "eps_plus": 1.0, "top_k": 10, "max_grade": 1},
        "true_relative_propensities": [round(float(x), 4) for x in rel_truth],
        "errors": "over ranks 2..10 vs the true p_k/p_1: mae = mean |est - true|, "
        "max_rel = max |est - true| / true; each averaged over seeds",
        "seeds": args.seeds,
        "results": results,
    }
    write_json(args.output, payload)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
