"""The settings of the Ranking-Distillation job (:func:`~distillrank.recsys.pipeline.run_job`).

Kept apart from the job so that the training recipes (:mod:`distillrank.recsys.protocol`) can name
:class:`JobConfig` in their signatures without importing the job.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from distillrank.recsys.distill import WEIGHTINGS

__all__ = ["JobConfig"]


_POSITIVE_INTS = (
    "L",
    "T",
    "K",
    "teacher_epochs",
    "student_epochs",
    "batch_size",
    "patience",
    "eval_every",
    "tt_d",
    "tt_L",
    "tt_neg",
    "tt_epochs",
    "tt_batch_size",
    "tt_patience",
    "timing_batch",
    "timing_rounds",
)
"""The settings of :class:`JobConfig` that are sizes or counts (at least 1)."""


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclass
class JobConfig:
    """Settings of the job (defaults: the RD paper's — Caser ``L=5, T=3``, teacher ``d=100``, ``K=10``,
    ``lambda=1``, ``mu=0.1``, dynamic weights after a 10-epoch warm-up as in the authors' code, ``alpha``
    chosen on validation).

    ``teacher_n_neg`` sampled negatives per target train the teacher (10: the best validation ``nDCG@10``
    of 3 and 10 on MovieLens-100K); every student, with or without RD, uses ``n_neg`` (3, Caser's).

    The student is ``d=10`` (about a tenth of the teacher's parameters): on MovieLens-100K a ``d=50``
    Caser alone is within 2% of the ``d=100`` teacher, which leaves distillation nothing to recover; the
    RD paper's students are likewise much smaller than their teachers. ``student_sizes`` adds the
    student-only / RD pair of other sizes (the student-size table).

    ``alphas``: the grid of the distillation weight, chosen on validation with the ``hybrid`` weighting
    (with ``(1, 3)`` the best on MovieLens-100K was the grid's edge, 3; hence 10).

    ``weight_decays``: the grid of the L2 weight (Adam's ``weight_decay``), chosen on validation for the
    teacher and for the student without distillation; every RD student of a size uses the student's
    choice, so the RD and student-only models still differ by the distillation term alone. Caser's own
    1e-6 under-regularises on MovieLens-100K: the d=10 student's validation nDCG@10 went from 0.172
    (1e-6) to 0.196 (3e-4; test 0.227 -> 0.248), and the d=100 teacher's from 0.198 to 0.204 (3e-4; test
    0.243 -> 0.256) — a baseline left at 1e-6 credits distillation with what regularisation gives.
    Regularised students learn more slowly (at 3e-4 the d=10 one was still improving at epoch 150),
    hence ``student_epochs=200``; early stopping ends them sooner.

    ``teacher_members``: Casers in the teacher (1: one Caser; more: the mean of their scores, each
    member trained like the first with the next seed and its L2 weight). On MovieLens-100K five members
    lift the teacher's test nDCG@10 from 0.256 to 0.265 (``bench/recsys_teacher_ensemble.py``).

    ``quick=True`` trims epochs and the alpha grid for a few-minute run (same protocol, lower numbers).
    """

    L: int = 5
    T: int = 3
    teacher_d: int = 100
    teacher_members: int = 1
    student_d: int = 10
    K: int = 10
    lam: float = 1.0
    mu: float = 0.1
    alphas: tuple[float, ...] = (1.0, 3.0, 10.0)
    weight_decays: tuple[float, ...] = (1e-4, 3e-4, 1e-3)
    weightings: tuple[str, ...] = WEIGHTINGS
    dynamic_start_epoch: int = 10
    student_sizes: tuple[int, ...] = ()
    n_neg: int = 3
    teacher_n_neg: int = 10
    teacher_epochs: int = 60
    student_epochs: int = 200
    lr: float = 1e-3
    batch_size: int = 512
    patience: int = 10
    eval_every: int = 2
    two_tower: bool = True
    tt_d: int = 64
    tt_L: int = 20
    tt_neg: int = 16
    tt_epochs: int = 20
    tt_finetune_epochs: int = 10
    tt_lr: float = 2e-3
    tt_finetune_lr: float = 2e-4
    tt_batch_size: int = 512
    tt_patience: int = 3
    test_fraction: float = 0.2
    valid_fraction: float = 0.1
    n_test: int | None = None
    n_valid: int | None = None
    sampled_metrics: int | None = None
    timing_batch: int = 256
    timing_rounds: int = 5
    seed: int = 0
    threads: int | None = None
    quick: bool = False

    def __post_init__(self) -> None:
        if self.teacher_d < 1 or self.student_d < 1:
            raise ValueError(
                f"teacher_d and student_d must be at least 1, got {self.teacher_d}, {self.student_d}"
            )
        if self.student_d > self.teacher_d:
            raise ValueError(f"student_d ({self.student_d}) must not exceed teacher_d ({self.teacher_d})")
        bad = [w for w in self.weightings if w not in WEIGHTINGS]
        if bad:
            raise ValueError(f"unknown weighting(s) {bad}; known: {', '.join(WEIGHTINGS)}")
        if not self.alphas or any(a < 0 for a in self.alphas):
            raise ValueError("alphas must be a non-empty list of non-negative numbers")
        if not self.weight_decays or any(w < 0 for w in self.weight_decays):
            raise ValueError("weight_decays must be a non-empty list of non-negative numbers")
        if any(d < 1 or d > self.teacher_d for d in self.student_sizes):
            raise ValueError(f"student_sizes must be between 1 and teacher_d ({self.teacher_d})")
        if self.teacher_members < 1:
            raise ValueError(f"teacher_members must be at least 1, got {self.teacher_members}")
        if self.n_neg < 1 or self.teacher_n_neg < 1:
            raise ValueError("n_neg and teacher_n_neg must be at least 1")
        if self.dynamic_start_epoch < 0:
            raise ValueError("dynamic_start_epoch must be non-negative")
        bad = [f"{k}={getattr(self, k)!r}" for k in _POSITIVE_INTS if not _positive_int(getattr(self, k))]
        if bad:
            raise ValueError(f"{', '.join(bad)}: must be an integer of at least 1")
        if not (self.lr > 0 and self.tt_lr > 0 and self.tt_finetune_lr > 0):
            raise ValueError("lr, tt_lr and tt_finetune_lr must be positive")

    def with_quick(self) -> JobConfig:
        """These settings made quick, as the main job's ``JobConfig.with_quick()``: ``quick=True`` with its
        epochs and grids applied (:meth:`effective`)."""
        return replace(self, quick=True).effective()

    def effective(self) -> JobConfig:
        """The settings actually used (``quick`` scales the epochs down)."""
        if not self.quick:
            return self
        return replace(
            self,
            teacher_epochs=min(self.teacher_epochs, 10),
            student_epochs=min(self.student_epochs, 8),
            alphas=self.alphas[:1],
            weight_decays=self.weight_decays[:1],
            dynamic_start_epoch=min(self.dynamic_start_epoch, 2),
            tt_epochs=min(self.tt_epochs, 4),
            tt_finetune_epochs=min(self.tt_finetune_epochs, 2),
            timing_rounds=min(self.timing_rounds, 3),
        )
