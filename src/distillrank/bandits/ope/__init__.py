"""Off-policy evaluation (OPE): a policy's value estimated from another policy's logged bandit feedback.

* :mod:`.feedback` — :class:`BanditFeedback` (validated), :func:`from_obd`, and
  :func:`action_dist_from_logged_policy` (a logged policy's distribution from its recorded propensities).
* :mod:`.estimators` — replay, DM, IPS, SNIPS, DR, SNDR, Switch-DR on one base, by name in
  :data:`OPE_ESTIMATORS`; ``estimate_policy_value`` and bootstrap ``estimate_interval``.
* :mod:`.regression` — :class:`RewardModel`, the cross-fitted ``q_hat(x, a, k)`` of DM/DR/Switch-DR.
* :mod:`.obd` — :func:`evaluate_logged_policy`: the Open Bandit Dataset check (bts from random logs).
* :mod:`.table` — :func:`feedback_from_table`: a log of one's own (CSV, TSV, Parquet, DataFrame); with
  :func:`prepare_logged_ope` and :func:`evaluate_ope` the same check on two such logs.
* :mod:`.synthetic` — :func:`synthetic_bandit`, a seeded bandit with a known policy value.
"""

from distillrank.bandits.ope.estimators import (
    OPE_ESTIMATORS,
    ConfidenceInterval,
    DirectMethod,
    DoublyRobust,
    InverseProbabilityWeighting,
    OffPolicyEstimator,
    ReplayMethod,
    RoundTerms,
    SelfNormalizedDoublyRobust,
    SelfNormalizedIPS,
    SwitchDoublyRobust,
    make_estimator,
)
from distillrank.bandits.ope.feedback import (
    BanditFeedback,
    PolicyCoverage,
    action_dist_from_logged_policy,
    from_obd,
    logged_policy_coverage,
)
from distillrank.bandits.ope.obd import (
    DEFAULT_ESTIMATORS,
    EstimatorResult,
    OPEInputs,
    OPEResult,
    evaluate_logged_policy,
    evaluate_ope,
    prepare_logged_ope,
    prepare_obd_ope,
    refit_intervals,
)
from distillrank.bandits.ope.regression import REWARD_MODELS, RewardModel
from distillrank.bandits.ope.synthetic import SyntheticBandit, softmax_policy, synthetic_bandit
from distillrank.bandits.ope.table import feedback_from_table

__all__ = [
    "DEFAULT_ESTIMATORS",
    "OPE_ESTIMATORS",
    "REWARD_MODELS",
    "BanditFeedback",
    "ConfidenceInterval",
    "DirectMethod",
    "DoublyRobust",
    "EstimatorResult",
    "InverseProbabilityWeighting",
    "OPEInputs",
    "OPEResult",
    "OffPolicyEstimator",
    "PolicyCoverage",
    "ReplayMethod",
    "RewardModel",
    "RoundTerms",
    "SelfNormalizedDoublyRobust",
    "SelfNormalizedIPS",
    "SwitchDoublyRobust",
    "SyntheticBandit",
    "action_dist_from_logged_policy",
    "evaluate_logged_policy",
    "evaluate_ope",
    "feedback_from_table",
    "from_obd",
    "logged_policy_coverage",
    "make_estimator",
    "prepare_logged_ope",
    "prepare_obd_ope",
    "refit_intervals",
    "softmax_policy",
    "synthetic_bandit",
]
