"""Benchmark: does a stronger teacher make Ranking Distillation pay on MovieLens-100K? (issue 6, extra)

Run:  python bench/recsys_teacher_ensemble.py [--data-dir ../shared/data] [--members 5]
       [--alphas 10,30,100] [--jobs 2] [--cache DIR] [--quick]
On MovieLens-100K the d=10 Caser student alone is already 0.97x the d=100 Caser teacher, and the RD
student does not beat it (``bench/recsys_rd.py``). This benchmark asks whether the teacher is the limit:
it trains ``--members`` d=100 Caser teachers that differ only in their seed (seed 0 is the job's teacher,
bit for bit: same settings, L2 3e-4 as chosen on validation by ``recsys_rd``), takes the mean of their
scores as a stronger teacher (:class:`~distillrank.recsys.ensemble.ScoreEnsemble`), and trains the
job's d=10 RD student (hybrid weighting, the student alone's seed, L2, negatives and epoch budget) from
the single teacher's and from the ensemble's top-10 at every ``--alphas``, side by side with the same
student alone. Writes ``bench/results/recsys_teacher_ensemble.json``: every model's validation and test
``nDCG@10``, RD over the student alone with the paired randomisation test over the test users, and per
teacher the alpha chosen on validation against the issue's +10%.

Every model is trained by the job's own functions (:mod:`distillrank.recsys.protocol`), so seed 0's
teacher and the students are the job's. Trained models are checkpointed in ``--cache``
(``bench/results/cache/recsys_teacher_ensemble/``) under a key of their settings and the data, so an
interrupted run resumes without retraining them.
"""

# ruff: noqa: E402  (the thread variables must be set before torch is imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # one thread per process; --jobs processes in parallel

import argparse
import hashlib
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _common import RESULTS, data_dir, write_json
from distillrank.evaluation.significance import permutation_test
from distillrank.io import atomic_write
from distillrank.recsys import (
    Caser,
    JobConfig,
    ScoreEnsemble,
    SequentialData,
    evaluate_ranking,
    load_interactions,
    make_windows,
    teacher_topk,
)
from distillrank.recsys.protocol import build_caser, job_split, train_rd_student, train_student, train_teacher

CACHE = RESULTS / "cache" / "recsys_teacher_ensemble"
TARGET = 1.10  # the RD student over the student alone
USED = ("L", "T", "teacher_d", "student_d", "K", "lam", "mu", "n_neg", "teacher_n_neg", "teacher_epochs")
USED += ("student_epochs", "dynamic_start_epoch", "lr", "batch_size", "patience", "eval_every")


@dataclass(frozen=True)
class Settings:
    """The job's settings (``JobConfig``) with the L2 weight ``recsys_rd`` chose on validation."""

    data: str = "ml-100k"
    data_dir: str = ""
    weight_decay: float = 3e-4
    job: JobConfig = field(default_factory=JobConfig)

    def describe(self) -> dict[str, Any]:
        """What the models depend on (the cache key and the JSON's ``settings``)."""
        job = {k: getattr(self.job, k) for k in USED}
        return {"data": self.data, "weight_decay": self.weight_decay, **job}


def _data(s: Settings) -> SequentialData:
    return job_split(load_interactions(s.data, s.data_dir or None), s.job)


def _key(s: Settings, *parts: object) -> str:
    blob = json.dumps([s.describe(), *map(str, parts)], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _save(model: torch.nn.Module, path: Path, info: dict[str, Any]) -> None:
    with atomic_write(path, "wb") as f:  # a crash leaves no half-written checkpoint
        torch.save({"state": model.state_dict(), "info": info}, f)


def teacher(s: Settings, seed: int, cache: Path) -> Path:
    """The job's teacher with ``seed`` (seed 0: the job's own), checkpointed; cached when present."""
    path = cache / f"teacher-seed{seed}-{_key(s, 'teacher', seed)}.pt"
    if path.exists():
        return path
    torch.set_num_threads(1)
    data = _data(s)
    windows = make_windows(data, s.job.L, s.job.T)
    model, result = train_teacher(data, windows, s.job, s.weight_decay, member=seed - s.job.seed)
    _save(model, path, {"seed": seed, "valid": result.best_valid, "seconds": result.seconds})
    return path


def _load(path: Path, data: SequentialData, s: Settings, d: int) -> tuple[Caser, dict[str, Any]]:
    blob = torch.load(path, weights_only=False)
    model = build_caser(data, s.job, d)
    model.load_state_dict(blob["state"])
    return model.eval(), blob["info"]


def student(s: Settings, teachers: tuple[Path, ...], alpha: float, cache: Path) -> dict[str, Any]:
    """The job's d=10 student: alone (``teachers`` empty) or with RD from the mean of ``teachers``."""
    names = ",".join(p.name.split("-")[1] for p in teachers)
    out = cache / f"student-{_key(s, 'student', names, alpha)}.json"
    if out.exists():
        return json.loads(out.read_text())
    torch.set_num_threads(1)
    data = _data(s)
    windows = make_windows(data, s.job.L, s.job.T)
    d = s.job.student_d
    if teachers:
        ens = ScoreEnsemble([_load(p, data, s, s.job.teacher_d)[0] for p in teachers]).eval()
        with torch.no_grad():
            topk = teacher_topk(ens, windows, data, K=s.job.K)
        model, result = train_rd_student(
            data, windows, topk, s.job, d, s.weight_decay, weighting="hybrid", alpha=alpha
        )
    else:
        model, result = train_student(data, windows, s.job, d, s.weight_decay)
    model.eval()
    test = evaluate_ranking(model, data, "test")
    row = {
        "teachers": names or None,
        "alpha": alpha if teachers else None,
        "valid_nDCG@10": result.best_valid,
        "test_nDCG@10": test.metrics["nDCG@10"],
        "best_epoch": result.best_epoch,
        "seconds": round(result.seconds, 1),
        "per_user": [float(x) for x in test.per_user["nDCG@10"]],
    }
    write_json(out, row)
    return row


def _metrics(model: torch.nn.Module, data: SequentialData) -> dict[str, float]:
    with torch.no_grad():
        return {
            "valid_nDCG@10": round(evaluate_ranking(model, data, "valid").metrics["nDCG@10"], 6),  # type: ignore[arg-type]
            "test_nDCG@10": round(evaluate_ranking(model, data, "test").metrics["nDCG@10"], 6),  # type: ignore[arg-type]
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--data", default="ml-100k")
    ap.add_argument("--members", type=int, default=5, help="teachers in the ensemble (seeds 0..members-1)")
    ap.add_argument("--alphas", default="10,30,100", help="RD weights, comma-separated")
    ap.add_argument("--jobs", type=int, default=2, help="models trained in parallel, one thread each")
    ap.add_argument("--quick", action="store_true", help="few epochs, 2 members, one alpha: a smoke run")
    ap.add_argument("--output", default=str(RESULTS / "recsys_teacher_ensemble.json"))
    ap.add_argument("--cache", default=str(CACHE), help="folder of the checkpointed models")
    args = ap.parse_args()
    if args.members < 2:
        ap.error("--members must be at least 2")
    alphas = [float(a) for a in args.alphas.split(",") if a.strip()]
    s = Settings(args.data, str(data_dir(args.data_dir)), job=JobConfig(quick=args.quick).effective())
    if args.quick:
        args.members, alphas = 2, alphas[:1]
        args.output = str(Path(args.output).with_suffix(".quick.json"))
    t0 = time.perf_counter()
    seeds = list(range(args.members))
    with ProcessPoolExecutor(args.jobs) as pool:
        cache = [Path(args.cache)]
        paths = tuple(pool.map(teacher, [s] * len(seeds), seeds, cache * len(seeds)))
        print(f"[{time.perf_counter() - t0:6.0f}s] {len(paths)} teachers", flush=True)
        jobs = [((), 0.0)] + [(src, a) for a in alphas for src in (paths[:1], paths)]
        sources, alphas_ = [j[0] for j in jobs], [j[1] for j in jobs]
        rows = list(pool.map(student, [s] * len(jobs), sources, alphas_, cache * len(jobs)))
    print(f"[{time.perf_counter() - t0:6.0f}s] {len(rows)} students", flush=True)

    torch.set_num_threads(1)
    data = _data(s)
    members = [_load(p, data, s, s.job.teacher_d)[0] for p in paths]
    teachers = [{"seed": seed, **_metrics(m, data)} for seed, m in zip(seeds, members, strict=True)]
    ensemble = _metrics(ScoreEnsemble(members).eval(), data)
    t_single, t_ens = teachers[0]["test_nDCG@10"], ensemble["test_nDCG@10"]
    ensemble["over_teacher_seed0"] = round(t_ens / t_single, 4)
    ensemble["over_mean_member"] = round(t_ens / float(np.mean([t["test_nDCG@10"] for t in teachers])), 4)

    alone = rows[0]
    s_test = alone["test_nDCG@10"]
    rd_rows = []
    for row in rows[1:]:
        source = "ensemble" if "," in row["teachers"] else "single"
        diff = np.asarray(row["per_user"]) - np.asarray(alone["per_user"])
        rd_rows.append(
            {
                "teacher": source,
                "alpha": row["alpha"],
                "valid_nDCG@10": round(row["valid_nDCG@10"], 6),
                "test_nDCG@10": round(row["test_nDCG@10"], 6),
                "over_student": round(row["test_nDCG@10"] / s_test, 4),
                "over_its_teacher": round(
                    row["test_nDCG@10"] / (t_ens if source == "ensemble" else t_single), 4
                ),
                "p_value_vs_student": round(
                    permutation_test(row["per_user"], alone["per_user"], n_resamples=10_000, seed=0), 4
                ),
                "users_better": int((diff > 0).sum()),
                "users_worse": int((diff < 0).sum()),
                "best_epoch": row["best_epoch"],
                "seconds": row["seconds"],
            }
        )
    chosen = {}
    for source in ("single", "ensemble"):
        cands = [r for r in rd_rows if r["teacher"] == source]
        best = max(cands, key=lambda r: r["valid_nDCG@10"])
        chosen[source] = {
            "alpha": best["alpha"],
            "test_nDCG@10": best["test_nDCG@10"],
            "over_student": best["over_student"],
            "p_value_vs_student": best["p_value_vs_student"],
            "target": f">= {TARGET}",
            "pass": best["over_student"] >= TARGET,
        }
    out = {
        "benchmark": "recsys_teacher_ensemble",
        "dataset": args.data,
        "quick": args.quick,
        "settings": s.describe(),
        "members": args.members,
        "teachers": teachers,
        "ensemble": ensemble,
        "student_alone": {
            "valid_nDCG@10": round(alone["valid_nDCG@10"], 6),
            "test_nDCG@10": round(s_test, 6),
            "best_epoch": alone["best_epoch"],
        },
        "rd": rd_rows,
        "chosen_on_validation": chosen,
        "seconds": round(time.perf_counter() - t0, 1),
        "jobs": args.jobs,
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
    }
    write_json(args.output, out)
    for t in teachers:
        print(f"teacher seed {t['seed']}: valid {t['valid_nDCG@10']:.4f}, test {t['test_nDCG@10']:.4f}")
    print(f"ensemble of {args.members}: valid {ensemble['valid_nDCG@10']:.4f}, test {t_ens:.4f}")
    print(f"student alone: test {s_test:.4f}")
    for r in rd_rows:
        print(
            f"RD from {r['teacher']:8s} alpha {r['alpha']:g}: valid {r['valid_nDCG@10']:.4f}, test "
            f"{r['test_nDCG@10']:.4f} ({r['over_student'] - 1:+.1%} over the student, "
            f"p = {r['p_value_vs_student']})"
        )
    print(f"wrote {args.output} ({out['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
