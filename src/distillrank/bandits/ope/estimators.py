"""Off-policy estimators of a policy's value from logged bandit feedback, OBP-style.

Every estimator is a small dataclass on :class:`OffPolicyEstimator` that says, per round ``i``, three
terms — a direct part ``d_i``, a weighted part ``u_i`` and a normaliser ``z_i`` — and the estimate is

    V_hat = (1/n) sum_i d_i + sum_i u_i / sum_i z_i        (z_i = 1 unless the estimator normalises).

Notation (per round ``i``: context ``x_i``, action ``a_i`` at slot ``k_i``, reward ``r_i``, logging
propensity ``p_i = pi_b(a_i | x_i, k_i)``): ``w_i = pi_e(a_i | x_i, k_i) / p_i`` is the importance weight,
``q_hat(x, a, k)`` a reward model, ``q_hat(x_i, pi_e) = sum_a pi_e(a | x_i, k_i) q_hat(x_i, a, k_i)``.

``action_dist`` is ``pi_e``: ``(n_actions, len_list)`` for a context-free policy or
``(n_rounds, n_actions, len_list)``; ``estimated_rewards`` is ``q_hat``, ``(n_rounds, n_actions, len_list)``
(:class:`~distillrank.bandits.ope.regression.RewardModel` fits one with cross-fitting). Intervals are
percentile bootstraps over rounds (the reward model is not refitted per resample, as in OBP).

Reference: Saito, Aihara, Matsutani, Narita, "Open Bandit Dataset and Pipeline: Towards Realistic and
Reproducible Off-Policy Evaluation", NeurIPS 2021 Datasets and Benchmarks (``obp.ope.estimators``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from distillrank.bandits.ope.feedback import BanditFeedback

__all__ = [
    "OPE_ESTIMATORS",
    "ConfidenceInterval",
    "DirectMethod",
    "DoublyRobust",
    "InverseProbabilityWeighting",
    "OffPolicyEstimator",
    "ReplayMethod",
    "RoundTerms",
    "SelfNormalizedDoublyRobust",
    "SelfNormalizedIPS",
    "SwitchDoublyRobust",
    "make_estimator",
]


@dataclass(frozen=True)
class RoundTerms:
    """Per-round terms ``d, u, z`` (each ``(n_rounds,)``; ``z=None`` means all ones) of an estimate."""

    direct: np.ndarray
    weighted: np.ndarray
    normaliser: np.ndarray | None = None

    def value(self, rows: np.ndarray | None = None) -> float:
        """``mean(d) + sum(u) / sum(z)`` over ``rows`` (all rounds by default); NaN when ``sum(z) == 0``."""
        d, u, z = self.direct, self.weighted, self.normaliser
        if rows is not None:
            d, u, z = d[rows], u[rows], None if z is None else z[rows]
        den = float(len(u)) if z is None else float(z.sum())
        return float(d.mean()) + (float(u.sum()) / den if den > 0 else math.nan)


@dataclass(frozen=True)
class ConfidenceInterval:
    """An estimate with its ``1 - alpha`` percentile-bootstrap interval ``[low, high]``."""

    estimate: float
    low: float
    high: float
    alpha: float
    n_bootstrap: int

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class _Inputs:
    """What the estimators read, gathered once: ``pi_e`` and ``q_hat`` at each round's slot."""

    feedback: BanditFeedback
    pi_factual: np.ndarray  # (n,) pi_e(a_i | x_i, k_i)
    pi_at_slot: np.ndarray  # (n, n_actions) pi_e(. | x_i, k_i)
    q_at_slot: np.ndarray | None  # (n, n_actions) q_hat(x_i, ., k_i)
    q_factual: np.ndarray | None  # (n,) q_hat(x_i, a_i, k_i)

    @property
    def weights(self) -> np.ndarray:
        return self.pi_factual / self.feedback.pscore

    @property
    def q_policy(self) -> np.ndarray:
        """``q_hat(x_i, pi_e)``, the reward model averaged over the evaluation policy at the round's slot."""
        assert self.q_at_slot is not None
        return (self.pi_at_slot * self.q_at_slot).sum(axis=1)


def _at_slot(name: str, arr: np.ndarray, fb: BanditFeedback) -> np.ndarray:
    """``arr[., ., k_i]`` per round as ``(n, n_actions)`` from a 2-d or 3-d array, shape checked."""
    arr = np.asarray(arr, dtype=np.float64)
    n, na, ll = fb.n_rounds, fb.n_actions, fb.len_list
    if arr.shape == (na, ll):
        return arr[:, fb.position].T
    if arr.shape == (n, na, ll):
        return arr[np.arange(n), :, fb.position]
    raise ValueError(
        f"{name} must have shape (n_actions, len_list) = ({na}, {ll}) or (n_rounds, n_actions, len_list) = "
        f"({n}, {na}, {ll}), got {arr.shape}"
    )


def _gather(
    feedback: BanditFeedback,
    action_dist: np.ndarray,
    estimated_rewards: np.ndarray | None,
    needs_q: bool,
    who: str,
) -> _Inputs:
    if not isinstance(feedback, BanditFeedback):
        raise TypeError(f"{who} takes a BanditFeedback, got a {type(feedback).__name__}")
    pi = _at_slot("action_dist", action_dist, feedback)
    if not np.all(np.isfinite(pi)) or (pi < 0).any():
        raise ValueError("action_dist must hold finite probabilities >= 0")
    sums = pi.sum(axis=1)
    off = np.abs(sums - 1.0) > 1e-6
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"action_dist must sum to 1 over actions: it sums to {sums[i]:.6g} at slot "
            f"{feedback.position[i]} (round {i})"
        )
    q_at = q_fact = None
    if estimated_rewards is not None:
        q_at = _at_slot("estimated_rewards", estimated_rewards, feedback)
        if not np.all(np.isfinite(q_at)):
            raise ValueError("estimated_rewards must be finite")
        q_fact = q_at[np.arange(feedback.n_rounds), feedback.action]
    elif needs_q:
        raise ValueError(
            f"{who} needs estimated_rewards (n_rounds, n_actions, len_list): fit them with "
            "distillrank.bandits.ope.RewardModel(...).fit_predict(feedback)"
        )
    pi_fact = pi[np.arange(feedback.n_rounds), feedback.action]
    return _Inputs(feedback, pi_fact, pi, q_at, q_fact)


@dataclass(frozen=True)
class OffPolicyEstimator:
    """Base of the estimators: a subclass sets ``name`` (its registry key) and overrides :meth:`_terms`."""

    name: ClassVar[str] = ""
    needs_rewards: ClassVar[bool] = False

    def _terms(self, inp: _Inputs) -> RoundTerms:
        raise NotImplementedError

    def round_terms(
        self, feedback: BanditFeedback, action_dist: np.ndarray, estimated_rewards: np.ndarray | None = None
    ) -> RoundTerms:
        """The per-round terms ``d, u, z`` of the estimate (inputs validated)."""
        who = type(self).__name__
        return self._terms(_gather(feedback, action_dist, estimated_rewards, self.needs_rewards, who))

    def estimate_policy_value(
        self, feedback: BanditFeedback, action_dist: np.ndarray, estimated_rewards: np.ndarray | None = None
    ) -> float:
        """The estimated value of the policy ``action_dist`` (mean reward per round)."""
        return self.round_terms(feedback, action_dist, estimated_rewards).value()

    def estimate_interval(
        self,
        feedback: BanditFeedback,
        action_dist: np.ndarray,
        estimated_rewards: np.ndarray | None = None,
        *,
        n_bootstrap: int = 1000,
        alpha: float = 0.05,
        seed: int = 0,
    ) -> ConfidenceInterval:
        """The estimate and its percentile-bootstrap interval: rounds resampled with replacement
        ``n_bootstrap`` times, the whole estimator (normalisers included) recomputed on each resample."""
        if n_bootstrap < 1:
            raise ValueError(f"n_bootstrap must be >= 1, got {n_bootstrap}")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        terms = self.round_terms(feedback, action_dist, estimated_rewards)
        n = feedback.n_rounds
        rng = np.random.default_rng(seed)
        boot = np.empty(n_bootstrap)
        for b in range(n_bootstrap):
            boot[b] = terms.value(rng.integers(0, n, n))
        low, high = np.nanquantile(boot, [alpha / 2, 1 - alpha / 2])
        return ConfidenceInterval(terms.value(), float(low), float(high), alpha, n_bootstrap)


@dataclass(frozen=True)
class ReplayMethod(OffPolicyEstimator):
    """Replay (Li, Chu, Langford, Wang, "Unbiased Offline Evaluation of Contextual-bandit-based News Article
    Recommendation Algorithms", WSDM 2011): keep the rounds where the evaluation policy's choice matches the
    logged action,

        V_hat = sum_i 1{a'_i = a_i} r_i / sum_i 1{a'_i = a_i},   a'_i ~ pi_e(. | x_i, k_i)

    (a stochastic ``pi_e`` is sampled once per round with ``seed``; a deterministic one is exact). Unbiased
    when the logging policy is uniform at random; NaN when no round matches."""

    seed: int = 0
    name: ClassVar[str] = "replay"

    def _terms(self, inp: _Inputs) -> RoundTerms:
        rng = np.random.default_rng(self.seed)
        cdf = np.cumsum(inp.pi_at_slot, axis=1)
        u = rng.random(len(cdf))[:, None]
        choice = np.minimum((cdf < u * cdf[:, -1:]).sum(axis=1), cdf.shape[1] - 1)
        match = (choice == inp.feedback.action).astype(np.float64)
        return RoundTerms(np.zeros_like(match), match * inp.feedback.reward, match)


@dataclass(frozen=True)
class DirectMethod(OffPolicyEstimator):
    """Direct method: the reward model averaged over the evaluation policy (Beygelzimer & Langford, "The
    Offset Tree for Learning with Partial Labels", KDD 2009; Dudík et al. 2011),

        V_hat = (1/n) sum_i sum_a pi_e(a | x_i, k_i) q_hat(x_i, a, k_i)."""

    name: ClassVar[str] = "dm"
    needs_rewards: ClassVar[bool] = True

    def _terms(self, inp: _Inputs) -> RoundTerms:
        d = inp.q_policy
        return RoundTerms(d, np.zeros_like(d))


@dataclass(frozen=True)
class InverseProbabilityWeighting(OffPolicyEstimator):
    """Inverse propensity scoring (Horvitz & Thompson 1952; Precup, Sutton, Singh 2000),

        V_hat = (1/n) sum_i min(w_i, clip) r_i,

    unbiased with ``clip = inf`` (the default) when ``p_i > 0`` wherever ``pi_e`` acts; a finite ``clip``
    trades bias for variance (Strehl, Langford, Li, Kakade, "Learning from Logged Implicit Exploration
    Data", NeurIPS 2010)."""

    clip: float = math.inf
    name: ClassVar[str] = "ips"

    def __post_init__(self) -> None:
        if not self.clip > 0:
            raise ValueError(f"clip must be > 0, got {self.clip}")

    def _w(self, inp: _Inputs) -> np.ndarray:
        return np.minimum(inp.weights, self.clip)

    def _terms(self, inp: _Inputs) -> RoundTerms:
        u = self._w(inp) * inp.feedback.reward
        return RoundTerms(np.zeros_like(u), u)


@dataclass(frozen=True)
class SelfNormalizedIPS(InverseProbabilityWeighting):
    """Self-normalised IPS (Swaminathan & Joachims, "The Self-Normalized Estimator for Counterfactual
    Learning", NeurIPS 2015): IPS divided by the mean weight,

        V_hat = sum_i w_i r_i / sum_i w_i;

    equal to IPS when the weights average 1, bounded by the largest reward, slightly biased."""

    name: ClassVar[str] = "snips"

    def _terms(self, inp: _Inputs) -> RoundTerms:
        w = self._w(inp)
        return RoundTerms(np.zeros_like(w), w * inp.feedback.reward, w)


@dataclass(frozen=True)
class DoublyRobust(OffPolicyEstimator):
    """Doubly robust (Dudík, Langford, Li, "Doubly Robust Policy Evaluation and Learning", ICML 2011):
    the direct method corrected by importance-weighted residuals,

        V_hat = (1/n) sum_i [ q_hat(x_i, pi_e) + w_i (r_i - q_hat(x_i, a_i, k_i)) ];

    unbiased when either the propensities or the reward model are right, and with a good ``q_hat`` of
    lower variance than IPS."""

    name: ClassVar[str] = "dr"
    needs_rewards: ClassVar[bool] = True

    def _residuals(self, inp: _Inputs) -> np.ndarray:
        assert inp.q_factual is not None
        return inp.weights * (inp.feedback.reward - inp.q_factual)

    def _terms(self, inp: _Inputs) -> RoundTerms:
        return RoundTerms(inp.q_policy, self._residuals(inp))


@dataclass(frozen=True)
class SelfNormalizedDoublyRobust(DoublyRobust):
    """Self-normalised DR (as OBP's ``SelfNormalizedDoublyRobust``; Kallus & Uehara, "Intrinsically
    Efficient, Stable, and Bounded Off-Policy Evaluation for Reinforcement Learning", NeurIPS 2019): the
    residual term divided by the mean weight,

        V_hat = (1/n) sum_i q_hat(x_i, pi_e) + sum_i w_i (r_i - q_hat(x_i, a_i, k_i)) / sum_i w_i."""

    name: ClassVar[str] = "sndr"

    def _terms(self, inp: _Inputs) -> RoundTerms:
        return RoundTerms(inp.q_policy, self._residuals(inp), inp.weights)


@dataclass(frozen=True)
class SwitchDoublyRobust(DoublyRobust):
    """Switch-DR (Wang, Agarwal, Dudík, "Optimal and Adaptive Off-policy Evaluation in Contextual Bandits",
    ICML 2017): the DR correction only where the weight is at most ``tau``, the direct method elsewhere,

        V_hat = (1/n) sum_i [ q_hat(x_i, pi_e) + 1{w_i <= tau} w_i (r_i - q_hat(x_i, a_i, k_i)) ].

    ``tau = inf`` is DR, ``tau = 0`` the direct method; the default 1.0 is OBP 0.4's."""

    tau: float = 1.0
    name: ClassVar[str] = "switch-dr"

    def __post_init__(self) -> None:
        if not self.tau >= 0:
            raise ValueError(f"tau must be >= 0, got {self.tau}")

    def _terms(self, inp: _Inputs) -> RoundTerms:
        return RoundTerms(inp.q_policy, (inp.weights <= self.tau) * self._residuals(inp))


OPE_ESTIMATORS: dict[str, type[OffPolicyEstimator]] = {
    cls.name: cls
    for cls in (
        ReplayMethod,
        DirectMethod,
        InverseProbabilityWeighting,
        SelfNormalizedIPS,
        DoublyRobust,
        SelfNormalizedDoublyRobust,
        SwitchDoublyRobust,
    )
}


def make_estimator(name: str, **params: Any) -> OffPolicyEstimator:
    """The estimator registered as ``name`` (``replay``, ``dm``, ``ips``, ``snips``, ``dr``, ``sndr``,
    ``switch-dr``) with hyper-parameters ``params`` (``clip=`` for ips/snips, ``tau=`` for switch-dr)."""
    if name not in OPE_ESTIMATORS:
        raise KeyError(f"unknown OPE estimator {name!r}; known: {', '.join(OPE_ESTIMATORS)}")
    return OPE_ESTIMATORS[name](**params)
