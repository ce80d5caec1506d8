"""Benchmark: Ranking Distillation with Caser on MovieLens-100K, and the two-tower losses (issue 6).

Run:  python bench/recsys_rd.py [--data-dir ../shared/data] [--quick] [--threads 2]
       [--student-dim 10] [--student-sizes 5,20,50] [--teacher-members 1] [--cache DIR | --no-cache]
Runs the whole ``distillrank recsys distill`` job (Caser teacher d=100; student d=10 without and with RD
for every weighting scheme, alpha chosen on validation, the L2 weight chosen on validation for the teacher
and the student alone, every student with the student's L2 weight and the same epochs, early stopping
and negatives; the same student-only / RD pair at the other ``--student-sizes`` for the student-size
table; two-tower models with four losses and FPS pre-training), keeping every trained model in ``--cache``
(``bench/results/cache/recsys_rd/``, the job's ``ModelCache``: an interrupted run resumes, a re-run with
the same settings retrains nothing and repeats the figures; ``seconds`` is then the re-run's), writes its
report under bench/results/recsys_rd/ and the figures with pass/fail per target to
bench/results/recsys_rd.json:

* the RD student reaches >= +10% relative test nDCG@10 over the same student trained without distillation,
* and >= 0.95x the teacher's nDCG@10,
* with <= 50% of the teacher's parameters,
* and >= 1.5x faster inference (milliseconds per user to score the full catalogue).
"""

# ruff: noqa: E402  (the thread variables must be set before torch is imported)
from __future__ import annotations

import argparse
import os
import sys

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, os.environ.get("DISTILLRANK_THREADS", "2"))

import time

from _common import RESULTS, data_dir, write_json
from distillrank.recsys.pipeline import JobConfig, load_interactions, run_job, write_report

STUDENT_D = 10
STUDENT_SIZES = (5, 20, 50)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--data", default="ml-100k")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--student-dim", type=int, default=STUDENT_D, help="the headline student's d")
    ap.add_argument("--teacher-members", type=int, default=1, help="Casers in the teacher (mean score)")
    ap.add_argument(
        "--student-sizes",
        default=",".join(map(str, STUDENT_SIZES)),
        help="other student sizes for the student-size table (comma-separated; empty: none)",
    )
    ap.add_argument("--output", default=str(RESULTS / "recsys_rd.json"))
    ap.add_argument("--cache", default=str(RESULTS / "cache" / "recsys_rd"), help="folder of trained models")
    ap.add_argument("--no-cache", action="store_true", help="train every model, keep none")
    ap.add_argument("--report", default=str(RESULTS / "recsys_rd"))
    args = ap.parse_args()

    interactions = load_interactions(args.data, data_dir(args.data_dir))
    config = JobConfig(
        student_d=args.student_dim,
        teacher_members=args.teacher_members,
        student_sizes=tuple(int(d) for d in args.student_sizes.split(",") if d.strip()),
        quick=args.quick,
        threads=args.threads,
        seed=args.seed,
    )
    t0 = time.perf_counter()

    def callback(stage: str, log: object, total: int) -> None:
        if log is None:
            print(f"[{time.perf_counter() - t0:7.1f}s] {stage}", flush=True)
        elif getattr(log, "valid", None) is not None:
            print(f"    epoch {log.epoch}: loss {log.loss:.4f}, valid nDCG@10 {log.valid:.4f}", flush=True)  # type: ignore[attr-defined]

    result = run_job(interactions, config, callback=callback, cache_dir=None if args.no_cache else args.cache)
    write_report(result, args.report)
    payload = result.metrics_json()
    h = result.headline
    summary = {
        name: {
            "role": run.role,
            "nDCG@10": round(run.metrics["nDCG@10"], 4),
            "P@10": round(run.metrics["P@10"], 4),
            "MAP": round(run.metrics["MAP"], 4),
            "params": run.cost["params"],
            "ms_per_user": run.cost["ms_per_user"],
        }
        for name, run in result.runs.items()
    }
    out = {
        "benchmark": "recsys_rd",
        "dataset": args.data,
        "quick": args.quick,
        "threads": args.threads,
        "seconds": round(result.seconds, 1),
        "cache": result.cache,
        "headline": h,
        "targets": payload["targets"],
        "all_targets_met": all(t["pass"] for t in payload["targets"].values()),
        "summary": summary,
        "alpha_search": payload["alpha_search"],
        "student_sizes": payload["student_sizes"],
        "metrics": payload,
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
    }
    write_json(args.output, out)
    for row in payload["student_sizes"]:
        print(
            f"d={row['d']:3d} params {row['params_ratio']:.3f}x: student {row['student_test']:.4f}, "
            f"RD {row['rd_test']:.4f} ({row['rd_over_student'] - 1:+.1%}, "
            f"{row['rd_over_teacher']:.3f}x teacher)"
        )
    for key, t in payload["targets"].items():
        print(f"{key}: {t['value']} (target {t['target']}): {'pass' if t['pass'] else 'MISS'}")
    print(f"wrote {args.output} and {args.report}/report.md ({result.seconds:.0f} s)")


if __name__ == "__main__":
    main()
