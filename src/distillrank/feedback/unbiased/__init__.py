"""Unbiased learning to rank from clicks: relevance estimators (naive, IPS, SNIPS, doubly robust, full
information), losses for neural students that stay unbiased under them, and their LightGBM versions.

* :mod:`.estimators` — :class:`ClickStats` and the estimators, propensity clipping.
* :mod:`.losses` — listwise (softmax), pairwise (RankNet) and pointwise (MSE/BCE) losses on corrected
  relevance, built on :mod:`distillrank.losses`.
* :mod:`.lgbm` — LightGBM objectives on corrected relevance (LambdaMART with the estimates as gains,
  or a listwise softmax), and the click-regression model of the doubly robust estimator.
* :mod:`.session_lambdamart` — Unbiased LambdaMART (Hu et al. 2019) on the sessions of a log, position
  biases learned jointly, as a LightGBM objective.
"""

from distillrank.feedback.unbiased.estimators import (
    ESTIMATORS,
    IPS,
    SNIPS,
    ClickStats,
    DoublyRobust,
    FullInformation,
    Naive,
    RelevanceEstimator,
    clip_propensities,
    get_estimator,
)
from distillrank.feedback.unbiased.lgbm import (
    CANDIDATE_SETS,
    LGBM_OBJECTIVES,
    ClickRegression,
    cross_fit_predict,
    lambdarank_labels,
    lgbm_objective,
    lgbm_setup,
    query_folds,
    training_candidates,
)
from distillrank.feedback.unbiased.losses import (
    LOSS_KINDS,
    LossKind,
    listwise,
    pairwise,
    pointwise,
    unbiased_loss,
)
from distillrank.feedback.unbiased.session_lambdamart import (
    SESSION_LAMBDAMART_PARAMS,
    SessionBatch,
    UnbiasedLambdaMART,
    choose_bias_cost,
    fit_session_lambdamart,
    sessions_from_log,
)

__all__ = [
    "CANDIDATE_SETS",
    "ESTIMATORS",
    "IPS",
    "LGBM_OBJECTIVES",
    "LOSS_KINDS",
    "SESSION_LAMBDAMART_PARAMS",
    "SNIPS",
    "ClickRegression",
    "ClickStats",
    "DoublyRobust",
    "FullInformation",
    "LossKind",
    "Naive",
    "RelevanceEstimator",
    "SessionBatch",
    "UnbiasedLambdaMART",
    "choose_bias_cost",
    "clip_propensities",
    "cross_fit_predict",
    "fit_session_lambdamart",
    "get_estimator",
    "lambdarank_labels",
    "lgbm_objective",
    "lgbm_setup",
    "listwise",
    "pairwise",
    "pointwise",
    "query_folds",
    "sessions_from_log",
    "training_candidates",
    "unbiased_loss",
]
