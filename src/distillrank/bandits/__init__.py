"""Bandits: exploration policies for ranking with their regret, and off-policy evaluation.

* :mod:`.environments` — click environments over slates: :class:`PositionBasedEnvironment` (PBM),
  :class:`CascadeEnvironment`, and :class:`MultiQueryEnvironment` (a query drawn each round).
* :mod:`.datasets` — environments from real data: the Open Bandit Dataset's uniform-random log
  (:func:`obd_environment`), a click model fitted on a click log (:func:`click_log_environment`, e.g. the
  Yandex sample), an LTR dataset's graded queries (:func:`ltr_environment`), a candidate run
  with qrels (:func:`run_environment`), all with the unbiased-LTR click protocol.
* :mod:`.policies` — uniform, epsilon-greedy (fixed and decaying), UCB1 / PBM-UCB / CascadeUCB1, KL-UCB
  and Thompson sampling, by name in :data:`POLICIES`.
* :mod:`.linear` — linear contextual policies sharing one model across queries through the item
  features: LinUCB and linear Thompson sampling (CascadeLinUCB / CascadeLinTS with the cascade feedback),
  ``lin_ucb`` and ``lin_ts`` in :data:`POLICIES`.
* :mod:`.simulate` — :func:`simulate` / :func:`compare_policies`: pseudo-regret over seeds.
* :mod:`.ope` — off-policy evaluation (replay, DM, IPS, SNIPS, DR, SNDR, Switch-DR) and the Open Bandit
  Dataset check (:func:`distillrank.bandits.ope.evaluate_logged_policy`).

Example::

    from distillrank.bandits import BanditConfig, PolicySpec, obd_environment, simulate

    env = obd_environment("../shared/data/clicks/open-bandit-dataset")
    res = simulate(env, BanditConfig(rounds=20_000, seeds=(0, 1, 2), policies=(PolicySpec("thompson"),)))
    res.regret_at("thompson", 20_000)
"""

from distillrank.bandits.datasets import (
    click_log_environment,
    estimate_pbm_from_uniform_log,
    graded_environment,
    ltr_environment,
    obd_environment,
    run_environment,
    scale_features,
)
from distillrank.bandits.environments import (
    FEEDBACK_MODELS,
    CascadeEnvironment,
    Environment,
    MultiQueryEnvironment,
    PositionBasedEnvironment,
    SlateEnvironment,
)
from distillrank.bandits.linear import LINEAR_POLICY_NAMES, LinearPolicy, LinTS, LinUCB
from distillrank.bandits.policies import (
    KLUCB,
    POLICIES,
    UCB1,
    DecayingEpsilonGreedy,
    EpsilonGreedy,
    Policy,
    ThompsonSampling,
    UniformRandom,
    make_policy,
)
from distillrank.bandits.simulate import (
    DEFAULT_POLICIES,
    BanditConfig,
    PolicyRegret,
    PolicyRun,
    PolicySpec,
    RegretResult,
    compare_policies,
    run_policy,
    simulate,
)

__all__ = [
    "DEFAULT_POLICIES",
    "FEEDBACK_MODELS",
    "KLUCB",
    "LINEAR_POLICY_NAMES",
    "POLICIES",
    "UCB1",
    "BanditConfig",
    "CascadeEnvironment",
    "DecayingEpsilonGreedy",
    "Environment",
    "EpsilonGreedy",
    "LinTS",
    "LinUCB",
    "LinearPolicy",
    "MultiQueryEnvironment",
    "Policy",
    "PolicyRegret",
    "PolicyRun",
    "PolicySpec",
    "PositionBasedEnvironment",
    "RegretResult",
    "SlateEnvironment",
    "ThompsonSampling",
    "UniformRandom",
    "click_log_environment",
    "compare_policies",
    "estimate_pbm_from_uniform_log",
    "graded_environment",
    "ltr_environment",
    "make_policy",
    "obd_environment",
    "run_environment",
    "run_policy",
    "scale_features",
    "simulate",
]
