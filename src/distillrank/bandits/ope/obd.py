"""The Open Bandit Dataset check: estimate one logged policy's click rate from another policy's log.

Saito et al., "Open Bandit Dataset and Pipeline" (NeurIPS 2021 D&B) evaluate Bernoulli Thompson sampling
(``bts``) off-policy from the uniform-random (``random``) logs and compare with the bts logs' own mean click
rate, the ground truth; the figure of merit is the relative error ``|V_hat - V| / V``.

:func:`evaluate_logged_policy` runs it end to end; :func:`prepare_obd_ope` and :func:`evaluate_ope` are its
two halves (the inputs — feedback, ``pi_e``, ``q_hat``, truth — are what a peer implementation is given).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distillrank.bandits.ope.estimators import ConfidenceInterval, OffPolicyEstimator, make_estimator
from distillrank.bandits.ope.feedback import (
    BanditFeedback,
    PolicyCoverage,
    action_dist_from_logged_policy,
    from_obd,
    logged_policy_coverage,
)
from distillrank.bandits.ope.regression import RewardModel

__all__ = [
    "DEFAULT_ESTIMATORS",
    "EstimatorResult",
    "OPEInputs",
    "OPEResult",
    "evaluate_logged_policy",
    "evaluate_ope",
    "prepare_logged_ope",
    "prepare_obd_ope",
    "refit_intervals",
]

DEFAULT_ESTIMATORS = ("replay", "dm", "ips", "snips", "dr", "sndr", "switch-dr")


def _bootstrap_mean(x: np.ndarray, n_bootstrap: int, alpha: float, seed: int) -> ConfidenceInterval:
    rng = np.random.default_rng(seed)
    boot = np.array([x[rng.integers(0, len(x), len(x))].mean() for _ in range(n_bootstrap)])
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return ConfidenceInterval(float(x.mean()), float(low), float(high), alpha, n_bootstrap)


@dataclass(frozen=True)
class OPEInputs:
    """Everything an estimator is given, and the truth it is judged by.

    Fields: ``behaviour`` the logged feedback of the behaviour policy; ``action_dist`` the evaluation
    policy's ``(n_actions, len_list)`` distribution read from its own log; ``estimated_rewards`` the
    cross-fitted ``q_hat`` ``(n_rounds, n_actions, len_list)`` on the behaviour log; ``ground_truth`` the
    evaluation log's mean reward; ``evaluation_rewards`` that log's rewards; ``coverage`` how much of the
    evaluation policy its log shows; names of the campaign and both policies, and the reward model."""

    behaviour: BanditFeedback
    action_dist: np.ndarray
    estimated_rewards: np.ndarray
    ground_truth: float
    evaluation_rewards: np.ndarray
    coverage: PolicyCoverage
    campaign: str
    evaluation_policy: str
    behaviour_policy: str
    reward_model: RewardModel


def prepare_obd_ope(
    data_dir: str | Path | None = None,
    campaign: str = "all",
    evaluation: str = "bts",
    behaviour: str = "random",
    *,
    reward_model: RewardModel | None = None,
    action_dist_method: str = "harmonic",
) -> OPEInputs:
    """Read both logs of ``campaign`` and build the :class:`OPEInputs` (``reward_model`` defaults to a
    3-fold cross-fitted logistic regression, seed 0; ``action_dist_method`` as in
    :func:`~distillrank.bandits.ope.feedback.action_dist_from_logged_policy`)."""
    if evaluation == behaviour:
        raise ValueError(f"evaluation and behaviour policies must differ, both are {evaluation!r}")
    return prepare_logged_ope(
        from_obd(data_dir, policy=behaviour, campaign=campaign),
        from_obd(data_dir, policy=evaluation, campaign=campaign),
        reward_model=reward_model,
        action_dist_method=action_dist_method,
        campaign=campaign,
        evaluation_policy=evaluation,
        behaviour_policy=behaviour,
    )


def prepare_logged_ope(
    behaviour: BanditFeedback,
    evaluation: BanditFeedback,
    *,
    reward_model: RewardModel | None = None,
    action_dist_method: str = "harmonic",
    campaign: str = "log",
    evaluation_policy: str = "evaluation",
    behaviour_policy: str = "behaviour",
) -> OPEInputs:
    """:class:`OPEInputs` from two logs of the same actions and slots: the ``behaviour`` log the
    estimators read, and the ``evaluation`` policy's own log, whose recorded propensities give its
    (context-free) action distribution and whose mean reward is the truth (e.g. two
    :func:`~distillrank.bandits.ope.table.feedback_from_table` logs). ``reward_model`` defaults to a
    3-fold cross-fitted logistic regression, seed 0; the names label the result."""
    if (evaluation.n_actions, evaluation.len_list) != (behaviour.n_actions, behaviour.len_list):
        raise ValueError(
            f"the {evaluation_policy} and {behaviour_policy} logs differ in actions x slots: "
            f"{evaluation.n_actions}x{evaluation.len_list} vs {behaviour.n_actions}x{behaviour.len_list}"
        )
    model = reward_model or RewardModel()
    dist = action_dist_from_logged_policy(evaluation, method=action_dist_method)  # type: ignore[arg-type]
    return OPEInputs(
        behaviour=behaviour,
        action_dist=dist,
        estimated_rewards=model.fit_predict(behaviour),
        ground_truth=float(evaluation.reward.mean()),
        evaluation_rewards=evaluation.reward,
        coverage=logged_policy_coverage(evaluation),
        campaign=campaign,
        evaluation_policy=evaluation_policy,
        behaviour_policy=behaviour_policy,
        reward_model=model,
    )


@dataclass(frozen=True)
class EstimatorResult:
    """One estimator's estimate, its relative error to the truth and its bootstrap interval."""

    name: str
    estimate: float
    relative_error: float
    interval: ConfidenceInterval
    covers_truth: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "relative_error": self.relative_error,
            "ci_low": self.interval.low,
            "ci_high": self.interval.high,
            "covers_truth": self.covers_truth,
        }


@dataclass(frozen=True)
class OPEResult:
    """The check's outcome for one campaign; :meth:`to_dict` is JSON-ready."""

    campaign: str
    evaluation_policy: str
    behaviour_policy: str
    n_rounds_behaviour: int
    n_rounds_evaluation: int
    ground_truth: float
    ground_truth_interval: ConfidenceInterval
    estimators: dict[str, EstimatorResult]
    settings: dict[str, Any] = field(default_factory=dict)
    coverage: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "evaluation_policy": self.evaluation_policy,
            "behaviour_policy": self.behaviour_policy,
            "n_rounds": {"behaviour": self.n_rounds_behaviour, "evaluation": self.n_rounds_evaluation},
            "ground_truth": self.ground_truth,
            "ground_truth_ci": [self.ground_truth_interval.low, self.ground_truth_interval.high],
            "estimators": {k: v.to_dict() for k, v in self.estimators.items()},
            "evaluation_log_coverage": self.coverage,
            "settings": self.settings,
        }


def _estimators(spec: Sequence[str] | Mapping[str, OffPolicyEstimator]) -> dict[str, OffPolicyEstimator]:
    if isinstance(spec, Mapping):
        return dict(spec)
    if isinstance(spec, str):
        raise TypeError(f"estimators must be a list of names, not the string {spec!r}")
    return {name: make_estimator(name) for name in spec}


def refit_intervals(
    inputs: OPEInputs,
    estimators: Mapping[str, OffPolicyEstimator],
    n_resamples: int,
    *,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, ConfidenceInterval]:
    """Bootstrap intervals of the reward-model estimators that refit the reward model on every resample.

    :meth:`~distillrank.bandits.ope.estimators.OffPolicyEstimator.estimate_interval` keeps ``q_hat`` fixed
    (as OBP does), so the intervals of DM, DR and Switch-DR leave out the reward model's own uncertainty
    — with a few dozen clicks, most of DM's. Here each of ``n_resamples`` resamples of the rounds gets a
    reward model fitted on it (``inputs.reward_model``, cross-fitted with the resample's original round
    ids as groups, so that a round drawn twice never predicts itself) and every estimator that reads
    ``q_hat`` is recomputed on it: the percentile interval of those values. Costs one reward-model fit
    per resample (~1.2 s for an OBD log); estimators without ``q_hat`` are not in the result.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    model_based = {k: e for k, e in estimators.items() if e.needs_rewards}
    fb, dist = inputs.behaviour, inputs.action_dist
    n = fb.n_rounds
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {k: [] for k in model_based}
    for _ in range(n_resamples if model_based else 0):
        rows = rng.integers(0, n, n)
        sub = fb.subset(rows)
        q = inputs.reward_model.fit_predict(sub, groups=rows)
        sub_dist = dist[rows] if dist.ndim == 3 else dist
        for k, est in model_based.items():
            values[k].append(est.estimate_policy_value(sub, sub_dist, q))
    out: dict[str, ConfidenceInterval] = {}
    for k, est in model_based.items():
        low, high = np.nanquantile(values[k], [alpha / 2, 1 - alpha / 2])
        point = est.estimate_policy_value(fb, dist, inputs.estimated_rewards)
        out[k] = ConfidenceInterval(point, float(low), float(high), alpha, n_resamples)
    return out


def evaluate_ope(
    inputs: OPEInputs,
    estimators: Sequence[str] | Mapping[str, OffPolicyEstimator] = DEFAULT_ESTIMATORS,
    *,
    n_bootstrap: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    refit_resamples: int = 0,
) -> OPEResult:
    """Run each estimator (registry names, or a mapping label -> estimator) on ``inputs``: estimate,
    relative error, ``1 - alpha`` bootstrap interval (``n_bootstrap`` resamples of the rounds, ``seed``;
    the same resamples for every estimator) and whether it covers the truth.

    ``refit_resamples > 0``: the intervals of the estimators that read the reward model (DM, DR, SNDR,
    Switch-DR) come from :func:`refit_intervals` with that many resamples instead, the reward model
    refitted on each (slower; the fixed-model intervals leave out its uncertainty)."""
    truth = inputs.ground_truth
    chosen = _estimators(estimators)
    refit = (
        refit_intervals(inputs, chosen, refit_resamples, alpha=alpha, seed=seed) if refit_resamples else {}
    )
    out: dict[str, EstimatorResult] = {}
    for label, est in chosen.items():
        ci = refit.get(label) or est.estimate_interval(
            inputs.behaviour,
            inputs.action_dist,
            inputs.estimated_rewards,
            n_bootstrap=n_bootstrap,
            alpha=alpha,
            seed=seed,
        )
        rel = abs(ci.estimate - truth) / truth if truth > 0 else float("nan")
        out[label] = EstimatorResult(label, ci.estimate, rel, ci, ci.covers(truth))
    cov = inputs.coverage
    return OPEResult(
        campaign=inputs.campaign,
        evaluation_policy=inputs.evaluation_policy,
        behaviour_policy=inputs.behaviour_policy,
        n_rounds_behaviour=inputs.behaviour.n_rounds,
        n_rounds_evaluation=len(inputs.evaluation_rewards),
        ground_truth=truth,
        ground_truth_interval=_bootstrap_mean(inputs.evaluation_rewards, n_bootstrap, alpha, seed),
        estimators=out,
        settings={
            "n_bootstrap": n_bootstrap,
            "refit_resamples": refit_resamples,
            "alpha": alpha,
            "seed": seed,
            "reward_model": asdict(inputs.reward_model),
        },
        coverage={
            "raw_mass_per_slot": [round(float(m), 4) for m in cov.raw_mass],
            "unobserved_mass_per_slot": [round(float(m), 4) for m in cov.unobserved_mass],
        },
    )


def evaluate_logged_policy(
    data_dir: str | Path | None = None,
    campaign: str = "all",
    evaluation: str = "bts",
    behaviour: str = "random",
    estimators: Sequence[str] | Mapping[str, OffPolicyEstimator] = DEFAULT_ESTIMATORS,
    *,
    n_bootstrap: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    reward_model: RewardModel | None = None,
    refit_resamples: int = 0,
) -> OPEResult:
    """Estimate the ``evaluation`` policy's click rate from the ``behaviour`` log of one OBD campaign.

    ``data_dir`` is the data root (holding ``clicks/open-bandit-dataset``) or the dataset's own folder;
    ``None``: the default data folder (``$DISTILLRANK_DATA``, else ``~/.cache/distillrank``).
    The reward model defaults to ``RewardModel(seed=seed)`` (3-fold cross-fitted logistic regression).

    Example::

        res = evaluate_logged_policy("../shared/data", "men", n_bootstrap=200)
        res.estimators["ips"].relative_error, res.to_dict()
    """
    inputs = prepare_obd_ope(
        data_dir, campaign, evaluation, behaviour, reward_model=reward_model or RewardModel(seed=seed)
    )
    return evaluate_ope(
        inputs, estimators, n_bootstrap=n_bootstrap, alpha=alpha, seed=seed, refit_resamples=refit_resamples
    )
