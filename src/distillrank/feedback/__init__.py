"""Learning from clicks: click models, click simulation, propensity estimation and a click-log store.

* :mod:`.click_models` — PBM, CM, DCM, UBM, DBN, SDBN: ``fit`` / ``click_probabilities`` /
  ``log_likelihood`` / ``perplexity`` / ``simulate`` on :class:`~distillrank.data.clicklog.ClickLog`.
* :mod:`.simulation` — :class:`ClickSimulator` (the unbiased-LTR click protocol over a logging Run and
  graded relevance), its trust-bias variant, and RandTop-n / swap interventions.
* :mod:`.propensity` — relative position bias ``p_k / p_1`` from interventions, EM, or intervention
  harvesting (AllPairs).
* :mod:`.store` — :class:`ClickStore`, click logs in DuckDB with Parquet export.
"""

from distillrank.feedback.click_models import (
    CLICK_MODELS,
    DBN,
    DCM,
    PBM,
    SDBN,
    UBM,
    CascadeModel,
    ClickModel,
)
from distillrank.feedback.propensity import (
    PROPENSITY_ESTIMATORS,
    AllPairsEstimator,
    EMRegressionEstimator,
    PropensityEstimator,
    RandTopNEstimator,
    SwapEstimator,
    propensity_errors,
)
from distillrank.feedback.simulation import (
    JOACHIMS_EXAMINATION,
    ClickSimulator,
    Intervention,
    RandTopN,
    SwapWithTop,
    TrustBiasSimulator,
    rankings_to_log,
    teacher_grades,
)
from distillrank.feedback.store import ClickStore

__all__ = [
    "CLICK_MODELS",
    "DBN",
    "DCM",
    "JOACHIMS_EXAMINATION",
    "PBM",
    "PROPENSITY_ESTIMATORS",
    "SDBN",
    "UBM",
    "AllPairsEstimator",
    "CascadeModel",
    "ClickModel",
    "ClickSimulator",
    "ClickStore",
    "EMRegressionEstimator",
    "Intervention",
    "PropensityEstimator",
    "RandTopN",
    "RandTopNEstimator",
    "SwapEstimator",
    "SwapWithTop",
    "TrustBiasSimulator",
    "propensity_errors",
    "rankings_to_log",
    "teacher_grades",
]
