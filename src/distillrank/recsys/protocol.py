"""The job's training recipes as functions: the split, the Caser teacher, the student alone, the RD student.

:func:`~distillrank.recsys.pipeline.run_job` trains every Caser through these functions, and so does any
script that varies one part of the job (``bench/recsys_teacher_ensemble.py`` trains the teachers of an
ensemble and their RD students with them). Sharing them keeps a model trained outside the job bit for bit
the model the job would train with the same :class:`~distillrank.recsys.pipeline.JobConfig`.

Every function reads ``cfg`` as the job does, through :meth:`JobConfig.effective`: a ``JobConfig(quick=True)``
trains the job's quick models here too.

Seeds, so that the comparisons isolate distillation:

* teacher member ``m``: ``seed + m`` for the weights, the dropout masks and the sampled negatives;
* every student, alone or distilled, of any ``d``: ``seed + 1``. The seed is set right before the model
  is built, so the dropout masks do not depend on what was drawn from torch's generator before (loading
  or running a teacher).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from distillrank.data.interactions import Interactions
from distillrank.recsys.caser import Caser, CaserConfig
from distillrank.recsys.config import JobConfig
from distillrank.recsys.data import NegativeSampler, SequentialData, TrainingWindows, split_sequential
from distillrank.recsys.distill import RDConfig, rd_step
from distillrank.recsys.objectives import bce_step
from distillrank.recsys.train import EpochLog, FitResult, Step, TrainConfig, fit, set_seed

__all__ = [
    "build_caser",
    "job_split",
    "rd_config",
    "rd_recipe",
    "student_recipe",
    "teacher_recipe",
    "train_config",
    "train_rd_student",
    "train_student",
    "train_teacher",
]

OnEpoch = Callable[[EpochLog], None] | None


def job_split(interactions: Interactions, cfg: JobConfig) -> SequentialData:
    """The job's per-user temporal split of ``interactions`` (its fractions and counts)."""
    return split_sequential(
        interactions,
        test_fraction=cfg.test_fraction,
        valid_fraction=cfg.valid_fraction,
        n_test=cfg.n_test,
        n_valid=cfg.n_valid,
    )


def train_config(cfg: JobConfig, epochs: int, seed_offset: int, weight_decay: float) -> TrainConfig:
    """The job's optimiser, batch, early-stopping settings with an epoch budget, seed and L2 weight."""
    return TrainConfig(
        epochs=epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        weight_decay=weight_decay,
        patience=cfg.patience,
        eval_every=cfg.eval_every,
        seed=cfg.seed + seed_offset,
    )


def build_caser(data: SequentialData, cfg: JobConfig, d: int) -> Caser:
    """The job's ``d``-dimensional Caser on ``data`` (untrained; weights from torch's current generator)."""
    return Caser(CaserConfig(data.n_users, data.n_items, d=d, L=cfg.L))


def rd_config(cfg: JobConfig, weighting: str, alpha: float) -> RDConfig:
    """The job's Ranking-Distillation settings with ``weighting`` and ``alpha``."""
    return RDConfig(
        K=cfg.K,
        weighting=weighting,
        alpha=alpha,
        lam=cfg.lam,
        mu=cfg.mu,
        n_neg=cfg.n_neg,
        dynamic_start_epoch=cfg.dynamic_start_epoch,
    )


def teacher_recipe(cfg: JobConfig, weight_decay: float, member: int = 0) -> dict[str, Any]:
    """Everything that reaches :func:`train_teacher`'s model besides the data: the cache key's content
    (:class:`~distillrank.recsys.cache.ModelCache`)."""
    cfg = cfg.effective()
    return {
        "recipe": "caser-teacher",
        "d": cfg.teacher_d,
        "L": cfg.L,
        "T": cfg.T,
        "n_neg": cfg.teacher_n_neg,
        "sampler_seed": cfg.seed + member,
        "train": asdict(train_config(cfg, cfg.teacher_epochs, member, weight_decay)),
    }


def student_recipe(cfg: JobConfig, d: int, weight_decay: float) -> dict[str, Any]:
    """Everything that reaches :func:`train_student`'s model besides the data."""
    cfg = cfg.effective()
    return {
        "recipe": "caser-student",
        "d": d,
        "L": cfg.L,
        "T": cfg.T,
        "n_neg": cfg.n_neg,
        "sampler_seed": cfg.seed + 1,
        "train": asdict(train_config(cfg, cfg.student_epochs, 1, weight_decay)),
    }


def rd_recipe(
    cfg: JobConfig, d: int, weight_decay: float, *, weighting: str, alpha: float, teacher: Sequence[str]
) -> dict[str, Any]:
    """Everything that reaches :func:`train_rd_student`'s model besides the data; ``teacher``: the cache
    keys of the teacher's models (its top-K is a function of them)."""
    cfg = cfg.effective()
    return {
        **student_recipe(cfg, d, weight_decay),
        "recipe": "caser-rd-student",
        "rd": asdict(rd_config(cfg, weighting, alpha)),
        "teacher": list(teacher),
    }


def train_teacher(
    data: SequentialData,
    windows: TrainingWindows,
    cfg: JobConfig,
    weight_decay: float,
    *,
    member: int = 0,
    on_epoch: OnEpoch = None,
) -> tuple[Caser, FitResult]:
    """A ``d = cfg.teacher_d`` Caser trained with BCE over ``cfg.teacher_n_neg`` sampled negatives,
    seed ``cfg.seed + member`` (member 0 is the job's single teacher)."""
    cfg = cfg.effective()
    set_seed(cfg.seed + member)
    model = build_caser(data, cfg, cfg.teacher_d)
    sampler = NegativeSampler(data, seed=cfg.seed + member)
    result = fit(
        model,
        bce_step(model, windows, sampler, cfg.teacher_n_neg),
        len(windows),
        data,
        train_config(cfg, cfg.teacher_epochs, member, weight_decay),
        on_epoch=on_epoch,
    )
    return model, result


def _train_student(
    data: SequentialData,
    windows: TrainingWindows,
    cfg: JobConfig,
    d: int,
    weight_decay: float,
    make_step: Callable[[Caser, NegativeSampler], Step],
    on_epoch: OnEpoch,
) -> tuple[Caser, FitResult]:
    cfg = cfg.effective()
    set_seed(cfg.seed + 1)  # every student's seed, alone or distilled: the comparison isolates distillation
    model = build_caser(data, cfg, d)
    sampler = NegativeSampler(data, seed=cfg.seed + 1)
    config = train_config(cfg, cfg.student_epochs, 1, weight_decay)
    result = fit(model, make_step(model, sampler), len(windows), data, config, on_epoch=on_epoch)
    return model, result


def train_student(
    data: SequentialData,
    windows: TrainingWindows,
    cfg: JobConfig,
    d: int,
    weight_decay: float,
    *,
    on_epoch: OnEpoch = None,
) -> tuple[Caser, FitResult]:
    """The student architecture (a ``d``-dimensional Caser) without distillation: BCE over
    ``cfg.n_neg`` sampled negatives, the RD students' seed, L2 weight, epoch budget and early stopping."""

    def make_step(model: Caser, sampler: NegativeSampler) -> Step:
        return bce_step(model, windows, sampler, cfg.n_neg)

    return _train_student(data, windows, cfg, d, weight_decay, make_step, on_epoch)


def train_rd_student(
    data: SequentialData,
    windows: TrainingWindows,
    topk: np.ndarray,
    cfg: JobConfig,
    d: int,
    weight_decay: float,
    *,
    weighting: str,
    alpha: float,
    on_epoch: OnEpoch = None,
) -> tuple[Caser, FitResult]:
    """:func:`train_student`'s model and settings trained with the Ranking-Distillation objective
    (:func:`~distillrank.recsys.distill.rd_step`) on the teacher's top-K of every training instance
    (``topk``, from :func:`~distillrank.recsys.distill.teacher_topk`)."""
    rd_cfg = rd_config(cfg.effective(), weighting, alpha)

    def make_step(model: Caser, sampler: NegativeSampler) -> Step:
        return rd_step(model, topk, windows, sampler, data, rd_cfg)

    return _train_student(data, windows, cfg, d, weight_decay, make_step, on_epoch)
