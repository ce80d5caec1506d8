"""Sequential recommendation: Caser and two-tower models, Ranking Distillation, full-catalogue metrics.

* :func:`split_sequential` — per-user temporal split (test: the last interactions, validation: those
  before); :func:`make_windows` — Caser's training instances; :class:`NegativeSampler`.
* :class:`Caser` (Tang & Wang, WSDM 2018) and :class:`TwoTower` (DSSM-style) — models that only score;
  :class:`ScoreEnsemble` — the mean score of several, a stronger teacher.
* :func:`evaluate_ranking` — ``P@k``, ``R@k``, ``nDCG@k``, ``MAP`` over the full catalogue.
* :func:`fit` with the steps of :mod:`~distillrank.recsys.objectives` and :func:`rd_step` — training,
  with every loss taken from :mod:`distillrank.losses`.
* :func:`run_job` / :func:`write_report` — the whole job behind ``distillrank recsys distill``; its
  training recipes (teacher, student alone, RD student) are functions in :mod:`~distillrank.recsys.protocol`.
"""

from distillrank.recsys.caser import Caser, CaserConfig
from distillrank.recsys.data import (
    NegativeSampler,
    SequentialData,
    TrainingWindows,
    make_windows,
    split_sequential,
)
from distillrank.recsys.distill import WEIGHTINGS, RDConfig, catalogue_ranks, rd_step, teacher_topk
from distillrank.recsys.ensemble import ScoreEnsemble
from distillrank.recsys.metrics import RankingResult, SequenceScorer, evaluate_ranking, metrics_from_ranks
from distillrank.recsys.objectives import bce_step, in_batch_step, sampled_list_step
from distillrank.recsys.pipeline import JobConfig, JobResult, load_interactions, run_job, write_report
from distillrank.recsys.train import FitResult, TrainConfig, fit, set_seed
from distillrank.recsys.two_tower import TwoTower, TwoTowerConfig

__all__ = [
    "WEIGHTINGS",
    "Caser",
    "CaserConfig",
    "FitResult",
    "JobConfig",
    "JobResult",
    "NegativeSampler",
    "RDConfig",
    "RankingResult",
    "ScoreEnsemble",
    "SequenceScorer",
    "SequentialData",
    "TrainConfig",
    "TrainingWindows",
    "TwoTower",
    "TwoTowerConfig",
    "bce_step",
    "catalogue_ranks",
    "evaluate_ranking",
    "fit",
    "in_batch_step",
    "load_interactions",
    "make_windows",
    "metrics_from_ranks",
    "rd_step",
    "run_job",
    "sampled_list_step",
    "set_seed",
    "split_sequential",
    "teacher_topk",
    "write_report",
]
