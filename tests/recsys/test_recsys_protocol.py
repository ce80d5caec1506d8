"""The job's training recipes as functions: a model trained outside the job is the job's, bit for bit."""

from __future__ import annotations

import torch

from distillrank.data.interactions import Interactions
from distillrank.recsys import ScoreEnsemble, make_windows, teacher_topk
from distillrank.recsys.pipeline import JobConfig, run_job
from distillrank.recsys.protocol import job_split, train_rd_student, train_student, train_teacher


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_the_protocol_functions_train_the_jobs_models(synthetic: Interactions) -> None:
    cfg = JobConfig(
        teacher_d=12,
        student_d=6,
        student_sizes=(6,),
        teacher_members=2,
        teacher_epochs=4,
        student_epochs=4,
        eval_every=2,
        weight_decays=(1e-6,),
        alphas=(1.0,),
        weightings=("hybrid",),
        two_tower=False,
        threads=1,
        seed=3,
    )
    job = run_job(synthetic, cfg).runs

    data = job_split(synthetic, cfg)
    windows = make_windows(data, cfg.L, cfg.T)
    members = [train_teacher(data, windows, cfg, 1e-6, member=m)[0] for m in range(2)]
    assert _same_weights(members[0], job["caser-teacher-d12"].model)
    ensemble = ScoreEnsemble(members).eval()
    student, fit_s = train_student(data, windows, cfg, 6, 1e-6)
    assert _same_weights(student, job["caser-student-d6"].model)
    assert job["caser-student-d6"].fit is not None
    assert fit_s.best_valid == job["caser-student-d6"].fit.best_valid
    topk = teacher_topk(ensemble, windows, data, K=cfg.K)
    rd, _ = train_rd_student(data, windows, topk, cfg, 6, 1e-6, weighting="hybrid", alpha=1.0)
    assert _same_weights(rd, job["caser-rd-hybrid-d6"].model)
    # and the distilled student is not the student alone: the test can fail
    assert not _same_weights(rd, student)


def test_a_quick_config_trains_the_quick_jobs_models(synthetic: Interactions) -> None:
    """``JobConfig(quick=True)`` given to the functions trains what the quick job trains (its epochs)."""
    cfg = JobConfig(
        teacher_d=8, student_d=4, teacher_epochs=30, student_epochs=30, eval_every=2, patience=100, quick=True
    )
    data = job_split(synthetic, cfg)
    windows = make_windows(data, cfg.L, cfg.T)
    _, fit_t = train_teacher(data, windows, cfg, 1e-6)
    _, fit_s = train_student(data, windows, cfg, 4, 1e-6)
    assert len(fit_t.history) == cfg.effective().teacher_epochs == 10
    assert len(fit_s.history) == cfg.effective().student_epochs == 8
    assert cfg.with_quick() == cfg.effective()
    assert JobConfig().with_quick() == JobConfig(quick=True).effective()
    assert JobConfig().with_quick().teacher_epochs == 10 and JobConfig().teacher_epochs == 60
