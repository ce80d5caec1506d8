"""Building blocks of distillation: cached teacher scores, cheap ranking features, LightGBM students.

* :class:`TeacherScoreCache` — a teacher's scores of candidate pairs, computed in resumable chunks and
  cached on disk by (model, candidates, max_length).
* :class:`FeatureExtractor` — query-document features of a candidate run as an LTRDataset.
* :func:`make_objective` — LightGBM custom objectives from the registered losses (autograd gradient
  and exact Hessian diagonal).
* :class:`LGBMStudent` — a LightGBM ranker trained on qrels or distilled from teacher scores;
  :func:`rerank` re-scores a run with it.
* :func:`kfold_queries` — query-level folds for collections without a training split.
* :func:`teacher_scale` / :func:`scale_teacher` — bring a teacher's scores to a student's scale.
"""

from distillrank.distillation.calibration import scale_teacher, teacher_scale
from distillrank.distillation.features import BASE_FEATURES, Encoder, FeatureExtractor
from distillrank.distillation.folds import kfold_queries, split_by_queries
from distillrank.distillation.lgbm_objectives import ListwiseObjective, make_objective
from distillrank.distillation.lgbm_student import OBJECTIVES, LGBMStudent, rerank
from distillrank.distillation.teacher_cache import TeacherScoreCache, cache_key, model_fingerprint

__all__ = [
    "BASE_FEATURES",
    "OBJECTIVES",
    "Encoder",
    "FeatureExtractor",
    "LGBMStudent",
    "ListwiseObjective",
    "TeacherScoreCache",
    "cache_key",
    "kfold_queries",
    "make_objective",
    "model_fingerprint",
    "rerank",
    "scale_teacher",
    "split_by_queries",
    "teacher_scale",
]
