"""Time and cross-check ``distillrank.evaluation.evaluate`` (ir_measures) against ranx.

Builds a seeded synthetic run (graded qrels, no tied scores), evaluates it with both libraries, checks
that every metric agrees to 1e-6 per query, and prints one JSON line per library with its cost report.

    python bench/metrics_vs_ranx.py --queries 7000 --depth 1000
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np

from distillrank.data.collection import Qrels
from distillrank.data.run import Run
from distillrank.evaluation import CostMeter, evaluate

METRICS = {"nDCG@10": "ndcg@10", "RR@10": "mrr@10", "AP": "map", "R@100": "recall@100", "P@5": "precision@5"}


def synthetic(n_queries: int, depth: int, n_judged: int, seed: int) -> tuple[Run, Qrels]:
    rng = np.random.default_rng(seed)
    run: dict[str, dict[str, float]] = {}
    qrels: dict[str, dict[str, int]] = {}
    for i in range(n_queries):
        docs = [f"d{j}" for j in rng.choice(10 * depth, size=depth, replace=False)]
        labels = rng.choice(4, size=n_judged, p=[0.55, 0.25, 0.12, 0.08])
        qrels[f"q{i}"] = {d: int(r) for d, r in zip(docs[:n_judged], labels, strict=True)}
        scores = rng.random(depth) + 0.3 * np.pad(labels, (0, depth - n_judged))
        run[f"q{i}"] = {d: float(s) for d, s in zip(docs, scores, strict=True)}
    return Run(run, name="synthetic"), Qrels(qrels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--judged", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import ranx

    run, qrels = synthetic(args.queries, args.depth, args.judged, args.seed)
    n_items = sum(len(v) for v in run.values())

    with CostMeter() as meter:
        ours = evaluate(run, qrels, list(METRICS), per_query=True)
        meter.add_items(n_items)
    ours_cost = meter.result()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Warm up numba's compilation on a tiny input so that it is not timed.
        ranx.evaluate(ranx.Qrels({"q": {"a": 1}}), ranx.Run({"q": {"a": 1.0}}), list(METRICS.values()))
        with CostMeter() as meter:
            r_run = ranx.Run(run.to_dict())
            ranx.evaluate(ranx.Qrels(qrels.to_dict()), r_run, list(METRICS.values()), make_comparable=True)
            meter.add_items(n_items)
    ranx_cost = meter.result()

    worst = 0.0
    for ours_name, ranx_name in METRICS.items():
        theirs = r_run.scores[ranx_name]
        worst = max(worst, max(abs(v - float(theirs[q])) for q, v in ours.per_query[ours_name].items()))
    print(json.dumps({"library": "distillrank (ir_measures)", **ours.aggregate, **ours_cost.to_dict()}))
    print(json.dumps({"library": "ranx", **ranx_cost.to_dict()}))
    print(json.dumps({"max_abs_difference_per_query": worst, "queries": args.queries, "depth": args.depth}))
    if worst > 1e-6:
        raise SystemExit(f"metric values differ by {worst}")


if __name__ == "__main__":
    main()
