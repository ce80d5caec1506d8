"""The reward model ``q_hat(x, a, k)`` the direct method, DR and Switch-DR need, cross-fitted.

:class:`RewardModel` predicts the click probability of every (round, action, slot) from the round's
context, the action (one-hot, or its ``action_context`` features) and the slot (one-hot):

    q_hat(x, a, k) = P(r = 1 | [x, phi(a), e_k])

with a logistic regression (L2, ``C``) or a LightGBM classifier. As OBP's ``RegressionModel`` with
``n_folds > 1`` (Chernozhukov et al., "Double/debiased machine learning for treatment and structural
parameters", Econometrics Journal 2018), the rounds are split into ``n_folds`` seeded folds and each fold's
predictions come from a model fitted on the other folds, so that no round's ``q_hat`` saw its own reward.
Unlike OBP, which fits one model per slot, one model takes the slot as a feature (OBD logs have few clicks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from distillrank.bandits.ope.feedback import BanditFeedback

__all__ = ["REWARD_MODELS", "RewardModel"]

REWARD_MODELS = ("logistic", "lightgbm")


@dataclass(frozen=True)
class RewardModel:
    """A cross-fitted click model over (context, action, slot).

    Fields:
        model: ``logistic`` (scikit-learn ``LogisticRegression``, L2 with inverse strength ``C``) or
            ``lightgbm`` (``LGBMClassifier`` with ``n_estimators``, ``learning_rate``, ``num_leaves``,
            ``min_child_samples``; one thread).
        n_folds: cross-fitting folds (1: fit on every round and predict in sample).
        seed: the fold split and LightGBM's seed.
        use_action_context: describe actions by ``feedback.action_context`` instead of a one-hot id.
    """

    model: Literal["logistic", "lightgbm"] = "logistic"
    n_folds: int = 3
    seed: int = 0
    use_action_context: bool = False
    C: float = 1.0
    n_estimators: int = 100
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 50

    def __post_init__(self) -> None:
        if self.model not in REWARD_MODELS:
            raise ValueError(f"model must be one of {', '.join(REWARD_MODELS)}, not {self.model!r}")
        if self.n_folds < 1:
            raise ValueError(f"n_folds must be >= 1, got {self.n_folds}")
        if self.C <= 0 or self.n_estimators < 1:
            raise ValueError("C must be > 0 and n_estimators >= 1")

    def _action_features(self, fb: BanditFeedback) -> np.ndarray:
        if self.use_action_context:
            if fb.action_context is None:
                raise ValueError("use_action_context=True needs feedback.action_context")
            return fb.action_context
        return np.eye(fb.n_actions)

    def _design(
        self, fb: BanditFeedback, rows: np.ndarray, action: np.ndarray, position: np.ndarray
    ) -> np.ndarray:
        """Feature rows ``[x_i, phi(a), e_k]`` of rounds ``rows``, actions ``action``, slots ``position``."""
        ctx = np.zeros((len(rows), 0)) if fb.context is None else fb.context[rows]
        return np.hstack([ctx, self._action_features(fb)[action], np.eye(fb.len_list)[position]])

    def _estimator(self) -> Any:
        if self.model == "logistic":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(C=self.C, max_iter=1000)
        from lightgbm import LGBMClassifier

        return LGBMClassifier(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            random_state=self.seed,
            n_jobs=1,
            verbose=-1,
        )

    def _fit_predict_fold(self, fb: BanditFeedback, train: np.ndarray, test: np.ndarray) -> np.ndarray:
        y = fb.reward[train]
        out = np.empty((len(test), fb.n_actions, fb.len_list))
        if np.unique(y).size < 2:  # a fold without clicks (or only clicks): its mean is the best guess
            out[:] = float(y.mean())
            return out
        est = self._estimator()
        est.fit(self._design(fb, train, fb.action[train], fb.position[train]), y)
        for k in range(fb.len_list):
            for a in range(fb.n_actions):
                x = self._design(fb, test, np.full(len(test), a), np.full(len(test), k))
                out[:, a, k] = est.predict_proba(x)[:, 1]
        return out

    def fit_predict(self, feedback: BanditFeedback, groups: np.ndarray | None = None) -> np.ndarray:
        """``q_hat`` for every round, action and slot: ``(n_rounds, n_actions, len_list)``, cross-fitted.

        ``groups`` (``(n_rounds,)`` non-negative integers) keeps rounds of one group in one fold: a
        bootstrap resample passes the original round ids, so that a round drawn twice never predicts
        itself."""
        n = feedback.n_rounds
        if self.n_folds == 1:
            rows = np.arange(n)
            return self._fit_predict_fold(feedback, rows, rows)
        if n < self.n_folds:
            raise ValueError(f"{n} rounds cannot be split into {self.n_folds} folds")
        if groups is None:
            fold = np.random.default_rng(self.seed).permutation(n) % self.n_folds
        else:
            groups = np.asarray(groups)
            if groups.shape != (n,) or groups.dtype.kind not in "iu" or (groups < 0).any():
                raise ValueError(f"groups must be {n} non-negative integers, one per round")
            size = int(groups.max()) + 1
            fold = (np.random.default_rng(self.seed).permutation(size) % self.n_folds)[groups]
        out = np.empty((n, feedback.n_actions, feedback.len_list))
        for f in range(self.n_folds):
            test = np.flatnonzero(fold == f)
            out[test] = self._fit_predict_fold(feedback, np.flatnonzero(fold != f), test)
        return out
