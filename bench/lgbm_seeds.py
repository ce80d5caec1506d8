"""Benchmark: the main job's LightGBM students over bagging seeds (issue 4, supplementary).

Run:  python bench/lgbm_seeds.py --run-dir DIR [--reference bench/results/main_job/metrics.json]
       [--seeds 5] [--families lgbm,lgbm_dense,lgbm_static] [--data-dir ../shared/data]

The main job trains each LightGBM student once, with LightGBM's bagging (``bagging_fraction`` 0.8,
``feature_fraction`` 0.9) seeded by ``BOOSTER_PARAMS["seed"]`` = 0, and early stopping on the held-out
training queries. Its check of every distilled student against its qrels-only twin (a paired
randomisation test over the test queries) holds both models fixed, so it cannot tell a difference in
targets from the luck of one bagging draw. This benchmark retrains every LightGBM student of a finished
job folder (``--run-dir``: its ``teacher/`` and ``cache/`` are reused, nothing is written into it) with
bagging seeds ``0 .. --seeds - 1`` through the job's own fold trainer (``_fold_lgbm``), and reports for
each student the test nDCG@10 of every seed (seed 0 must reproduce the ``--reference`` run's figure), their
mean and standard deviation, and the nDCG@10 of the seed ensemble (the mean of the seeds' scores, a bagged
LambdaMART); then every distilled student against its twin by the per-query means over seeds (training
noise averaged out) and by the ensembles, each with the paired randomisation test.
Writes ``bench/results/lgbm_seeds.json``.
"""

# ruff: noqa: E402  (the thread variables must be set before numpy and torch are imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, data_dir, provenance, write_json

FEATURES = {"lgbm": "lexical", "lgbm_dense": "dense", "lgbm_static": "static"}


def _per_query(run: Any, qrels: Any) -> dict[str, float]:
    from distillrank.evaluation.metrics import evaluate

    res = evaluate(run, qrels, ["nDCG@10"], per_query=True, queries=list(run), missing="skip")
    return res.per_query["nDCG@10"]


def _ensemble(runs: list[Any], first: Any, depth: int) -> Any:
    """The mean of the seeds' head scores, re-ranking the same first-stage heads."""
    from distillrank.pipeline.families import rerank_run

    scores: dict[str, dict[str, float]] = {}
    for q in first:
        head = [d for d, _ in first.ranked(q)[:depth]]
        scores[q] = {d: float(np.mean([r[q][d] for r in runs])) for d in head}
    return rerank_run(first, scores, depth, "ensemble")


def _compare(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    from distillrank.evaluation.significance import permutation_test
    from distillrank.pipeline.summary import PERMUTATIONS

    qids = sorted(a)
    x, y = np.array([a[q] for q in qids]), np.array([b[q] for q in qids])
    p = permutation_test(x, y, n_resamples=PERMUTATIONS, seed=0)  # the job's own twin test
    return {"difference": round(float(x.mean() - y.mean()), 4), "p_value": round(p, 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", required=True, type=Path, help="a finished main-job folder")
    ap.add_argument("--reference", type=Path, default=RESULTS / "main_job" / "metrics.json")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--families", default=",".join(FEATURES))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--output", type=Path, default=RESULTS / "lgbm_seeds.json")
    args = ap.parse_args()
    os.environ.setdefault("DISTILLRANK_DATA", str(data_dir(args.data_dir)))

    import distillrank.distillation.lgbm_student as ls
    from distillrank.data.run import Run
    from distillrank.pipeline.config import JobConfig
    from distillrank.pipeline.job import _Job
    from distillrank.pipeline.students import TargetSpec, target_specs
    from distillrank.pipeline.summary import SIGNIFICANCE_LEVEL

    reference = json.loads(args.reference.read_text())
    families = [f for f in args.families.split(",") if f]
    cfg = JobConfig.from_dict(reference["config"], source=str(args.reference))
    cfg = cfg.model_copy(update={"students": cfg.students.model_copy(update={"families": families})})
    t0 = time.perf_counter()
    job = _Job(cfg, args.run_dir, None, lambda m: print(m, flush=True))
    job.load()
    job.dense()
    job.teacher()
    for family in families:
        job._features(FEATURES[family])  # the static encoder from the run folder's cache
    job.out = Path(tempfile.mkdtemp(prefix="lgbm_seeds_"))  # fold 0's models are saved here, not in run-dir
    depth = cfg.candidates.depth
    test = sorted({q for f in job.folds for q in f.test})
    first = job.first.subset(test)
    qrels = job.qrels.subset(test)
    models: dict[str, dict[str, Any]] = {}
    per_seed_query: dict[str, dict[str, float]] = {}
    ensemble_query: dict[str, dict[str, float]] = {}
    for family in families:
        for spec in target_specs(cfg.students, None):
            name = f"{family}/{spec.name}"
            ref = reference["models"].get(name)
            if spec.target == "joint":
                spec = TargetSpec("joint", "joint", ref["temperature"] if ref else 1.0)
            runs, tests = [], []
            for seed in range(args.seeds):
                ls.DEFAULT_PARAMS["seed"] = seed
                parts = [job._fold_lgbm(fold, spec, features=FEATURES[family])[0] for fold in job.folds]
                run = Run.from_trusted({q: r[q] for r in parts for q in r})
                runs.append(run)
                tests.append(_per_query(run, qrels))
            ls.DEFAULT_PARAMS["seed"] = 0
            values = [float(np.mean(list(t.values()))) for t in tests]
            per_seed_query[name] = {q: float(np.mean([t[q] for t in tests])) for q in tests[0]}
            ensemble_query[name] = _per_query(_ensemble(runs, first, depth), qrels)
            models[name] = {
                "family": family,
                "target": spec.target,
                "temperature": spec.temperature,
                "test_ndcg@10_per_seed": [round(v, 4) for v in values],
                "mean": round(float(np.mean(values)), 4),
                "sd": round(float(np.std(values, ddof=1)), 4) if len(values) > 1 else 0.0,
                "ensemble": round(float(np.mean(list(ensemble_query[name].values()))), 4),
                "reference_seed0": ref["metrics"]["nDCG@10"] if ref else None,
            }
            m = models[name]
            print(
                f"{name}: seeds {m['test_ndcg@10_per_seed']} mean {m['mean']} sd {m['sd']} "
                f"ensemble {m['ensemble']} (reference {m['reference_seed0']})",
                flush=True,
            )
    checks: dict[str, dict[str, Any]] = {}
    for name, m in models.items():
        twin = f"{m['family']}/qrels"
        if m["target"] == "qrels" or twin not in models:
            continue
        checks[name] = {
            "seed_mean": _compare(per_seed_query[name], per_seed_query[twin]),
            "ensemble": _compare(ensemble_query[name], ensemble_query[twin]),
        }
    summary = {
        kind: {
            "better": sum(c[kind]["difference"] > 0 for c in checks.values()),
            "significantly_better": sum(
                c[kind]["difference"] > 0 and c[kind]["p_value"] < SIGNIFICANCE_LEVEL for c in checks.values()
            ),
            "significantly_worse": sum(
                c[kind]["difference"] < 0 and c[kind]["p_value"] < SIGNIFICANCE_LEVEL for c in checks.values()
            ),
            "of": len(checks),
        }
        for kind in ("seed_mean", "ensemble")
    }
    reproduced = all(
        m["reference_seed0"] is None or abs(m["test_ndcg@10_per_seed"][0] - m["reference_seed0"]) < 1e-4
        for m in models.values()
    )
    write_json(
        args.output,
        {
            "provenance": provenance(),
            "run_dir": str(args.run_dir),
            "reference": str(args.reference),
            "seeds": args.seeds,
            "seed0_reproduces_reference": reproduced,
            "models": models,
            "distilled_vs_qrels_only": checks,
            "summary": summary,
            "seconds": round(time.perf_counter() - t0, 1),
        },
    )
    print(json.dumps(summary), f"seed 0 reproduces the reference: {reproduced}", f"wrote {args.output}")


if __name__ == "__main__":
    main()
