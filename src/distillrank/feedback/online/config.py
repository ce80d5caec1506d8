"""The settings of the online loop (:class:`OnlineConfig`) and the defaults they start from."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from distillrank.distillation.lgbm_student import BOOSTER_PARAMS
from distillrank.feedback.simulation import ClickSimulator
from distillrank.feedback.unbiased.estimators import ESTIMATORS
from distillrank.feedback.unbiased.lgbm import (
    CANDIDATE_SETS,
    LGBM_OBJECTIVES,
    CandidateSet,
    LGBMObjective,
)
from distillrank.feedback.unbiased.session_lambdamart import BIAS_COSTS

__all__ = ["DEFAULT_LGBM_PARAMS", "METRIC", "SESSION_LEARNERS", "OnlineConfig"]


METRIC = "nDCG@10"


DEFAULT_LGBM_PARAMS: dict[str, Any] = dict(BOOSTER_PARAMS)


SESSION_LEARNERS: tuple[str, ...] = ("unbiased_lambdamart",)
"""Learners that train on the logged sessions themselves rather than on per-candidate estimates."""


@dataclass(frozen=True)
class OnlineConfig:
    """Settings of :func:`run_online` (see the module docstring).

    Attributes:
        rounds, sessions_per_round: the traffic.
        estimators: names in :data:`~distillrank.feedback.unbiased.ESTIMATORS`, or
            ``"unbiased_lambdamart"`` (:data:`SESSION_LEARNERS`, step 5).
        exploration: Plackett-Luce temperature on standardised scores (0: show the ranker's top k).
        clip: propensity clipping of ``ips``, ``snips`` and ``dr`` (least exposure per session).
        propensities: ``"em"`` (estimated from the log) or ``"true"`` (the simulator's).
        propensity_sessions: EM uses at most this many of the latest sessions (None: all).
        top_k, eta, eps_minus, eps_plus: the user model (results shown, PBM severity, click noise).
        trees_per_round: boosting rounds added per round.
        lgbm_params: LightGBM parameters over :data:`DEFAULT_LGBM_PARAMS`.
        regression_rounds: boosting rounds of the doubly robust estimator's click model.
        regression_folds: folds of the queries for cross-fitting that model (step 4; 1: fit and predict
            on the same clicks).
        warm_start: fine-tune the last round's model with ``trees_per_round`` more trees instead of
            refitting from scratch with ``trees_per_round * (round + 1)`` trees (step 5).
        mc_samples: rankings per query for the expected exposure of a stochastic policy.
        seed: the random seed of everything random in a run: the sessions, the clicks, the click model
            and the rankers' LightGBM bagging (``seed`` in their parameters, unless ``lgbm_params`` sets
            it), so runs with different seeds are independent replicates, ``full_info`` included.
        store: ``"duckdb"`` (a file under the output folder; memory without one) or ``"memory"``.
        start_from_initial: start every round's model (refitted, or the first fine-tuned one) from the
            initial ranker's trees when that is a LightGBM model (default: no; the initial ranker only
            serves the first round).
        noise: click-noise correction of ``ips``, ``snips`` and ``dr`` (step 4): ``"estimate"`` the noise
            floor from the log, use the simulator's (``"true"``), or none (plain PBM).
        objective: the ranker's LightGBM objective on the estimates, by name (step 5,
            :data:`~distillrank.feedback.unbiased.lgbm.LGBM_OBJECTIVES`).
        candidates: the click-based estimators train on ``"all"`` candidates of the queries seen, only
            on those ``"shown"`` at least once, or ``"auto"``: by estimator (step 5,
            :func:`~distillrank.feedback.unbiased.lgbm.training_candidates`); ``full_info`` always
            trains on all.
        session_window: ``unbiased_lambdamart`` learns from the latest this many sessions (step 5).
        session_bias_cost: its bias cost (:data:`~distillrank.feedback.unbiased.BIAS_COSTS`), or
            ``"auto"``: chosen on held-out sessions every round, which costs ~2.6x its fit per round
            (:func:`~distillrank.feedback.unbiased.choose_bias_cost`; the default of offline learning).
    """

    rounds: int = 10
    sessions_per_round: int = 10_000
    estimators: tuple[str, ...] = ("naive", "ips", "snips", "dr", "full_info")
    exploration: float = 0.3
    clip: float = 0.1
    propensities: Literal["em", "true"] = "em"
    propensity_sessions: int | None = 50_000
    top_k: int = 10
    eta: float = 1.0
    eps_minus: float = 0.1
    eps_plus: float = 1.0
    trees_per_round: int = 30
    lgbm_params: dict[str, Any] = field(default_factory=dict)
    regression_rounds: int = 100
    regression_folds: int = 1
    mc_samples: int = 100
    seed: int = 0
    store: Literal["duckdb", "memory"] = "duckdb"
    start_from_initial: bool = False
    noise: Literal["none", "true", "estimate"] = "estimate"
    objective: LGBMObjective = "softmax"
    candidates: CandidateSet = "auto"
    warm_start: bool = False
    session_window: int = 30_000
    session_bias_cost: Literal["margin", "loss", "auto"] = "margin"

    def __post_init__(self) -> None:
        for name in (
            "rounds",
            "sessions_per_round",
            "top_k",
            "trees_per_round",
            "regression_rounds",
            "regression_folds",
            "session_window",
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if isinstance(self.mc_samples, bool) or not isinstance(self.mc_samples, int) or self.mc_samples < 1:
            raise ValueError(f"mc_samples must be an integer >= 1, got {self.mc_samples!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(
                f"seed must be an integer >= 0 (numpy's generators take no other), got {self.seed!r}"
            )
        names = self.estimators
        if isinstance(names, str):  # "naive,dr" (or one name): names, not the letters of a string
            names = tuple(n.strip() for n in names.split(",") if n.strip())
        object.__setattr__(self, "estimators", tuple(names))
        known = (*ESTIMATORS, *SESSION_LEARNERS)
        unknown = [e for e in self.estimators if e not in known]
        if unknown or not self.estimators:
            raise ValueError(f"unknown estimator(s) {unknown}; choose from {', '.join(known)}")
        if len(set(self.estimators)) != len(self.estimators):
            raise ValueError(f"estimators repeat a name: {self.estimators}")
        if not 0 <= self.exploration < float("inf"):
            raise ValueError(f"exploration must be finite and >= 0, got {self.exploration}")
        if not 0 < self.clip <= 1:
            raise ValueError(
                f"clip must be in (0, 1], got {self.clip}: a result the loop showed can have an expected "
                "exposure of 0 (its policy's sampled rankings never placed it), and without clipping its "
                "clicks have no finite IPS estimate"
            )
        if self.propensities not in ("em", "true"):
            raise ValueError(f"propensities must be 'em' or 'true', got {self.propensities!r}")
        if self.propensity_sessions is not None and self.propensity_sessions < 1:
            raise ValueError(f"propensity_sessions must be >= 1 or None, got {self.propensity_sessions}")
        if self.session_bias_cost not in (*BIAS_COSTS, "auto"):
            raise ValueError(
                f"session_bias_cost must be one of {', '.join(BIAS_COSTS)} or 'auto', "
                f"got {self.session_bias_cost!r}"
            )
        if self.noise not in ("none", "true", "estimate"):
            raise ValueError(f"noise must be 'none', 'true' or 'estimate', got {self.noise!r}")
        if self.store not in ("duckdb", "memory"):
            raise ValueError(f"store must be 'duckdb' or 'memory', got {self.store!r}")
        if self.objective not in LGBM_OBJECTIVES:
            raise ValueError(f"objective must be one of {LGBM_OBJECTIVES}, got {self.objective!r}")
        if self.candidates not in CANDIDATE_SETS:
            raise ValueError(f"candidates must be one of {CANDIDATE_SETS}, got {self.candidates!r}")
        if "objective" in self.lgbm_params:
            raise ValueError("lgbm_params must not set the objective: the estimator decides it")
        ClickSimulator(eta=self.eta, eps_minus=self.eps_minus, eps_plus=self.eps_plus, top_k=self.top_k)

    def fingerprint(self, dataset: str) -> str:
        """A hash of everything that decides an estimator's curve round by round (checkpoints must match
        it); not the number of rounds, so a finished run can be extended."""
        d = asdict(self)
        d.pop("estimators")
        d.pop("rounds")
        d["ranker_seed"] = "seed"  # older checkpoints' rankers used bagging seed 0 whatever the seed
        return hashlib.sha256(json.dumps([dataset, d], sort_keys=True, default=str).encode()).hexdigest()[:16]
