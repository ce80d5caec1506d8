"""A seeded synthetic bandit with known expected rewards, to check estimators against a true value.

Rounds: a context ``x_i ~ N(0, I_d)``, a slot ``k_i`` uniform in ``0 .. len_list - 1``, an action drawn
from the behaviour policy ``pi_b(a | x, k) = softmax_a(beta * x . g_a)`` (the same at every slot), and a
Bernoulli reward with the expected value

    q(x, a, k) = sigmoid(x . t_a + b_a) / (k + 1)        (a position-based examination 1/(k+1)),

``g, t, b`` standard normal. Like OBP's ``SyntheticBanditDataset``, simplified and with slots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from distillrank.bandits.ope.feedback import BanditFeedback

__all__ = ["SyntheticBandit", "softmax_policy", "synthetic_bandit"]


def softmax_policy(logits: np.ndarray, len_list: int) -> np.ndarray:
    """``(n, n_actions)`` logits -> ``(n, n_actions, len_list)`` softmax distribution, same at every slot."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    return np.repeat(p[:, :, None], len_list, axis=2)


@dataclass(frozen=True)
class SyntheticBandit:
    """The logged feedback with the truth behind it.

    Fields: ``feedback``; ``q`` the expected reward ``(n_rounds, n_actions, len_list)``; ``behaviour`` the
    logging policy's distribution, same shape; ``action_logits`` ``x_i . t_a + b_a`` ``(n_rounds, n_actions)``
    (a handy evaluation-policy score)."""

    feedback: BanditFeedback
    q: np.ndarray
    behaviour: np.ndarray
    action_logits: np.ndarray

    def policy_value(self, action_dist: np.ndarray) -> float:
        """The true value on these rounds: ``(1/n) sum_i sum_a pi(a | x_i, k_i) q(x_i, a, k_i)``."""
        fb = self.feedback
        rows = np.arange(fb.n_rounds)
        dist = np.asarray(action_dist, dtype=np.float64)
        pi = dist[:, fb.position].T if dist.ndim == 2 else dist[rows, :, fb.position]
        return float((pi * self.q[rows, :, fb.position]).sum(axis=1).mean())


def synthetic_bandit(
    n_rounds: int = 10_000,
    n_actions: int = 10,
    len_list: int = 3,
    dim_context: int = 5,
    beta: float = 1.0,
    seed: int = 0,
) -> SyntheticBandit:
    """Draw a :class:`SyntheticBandit` (see the module docstring); ``beta`` sharpens the behaviour policy."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_rounds, dim_context))
    g, t = rng.normal(size=(2, dim_context, n_actions))
    b = rng.normal(size=n_actions)
    behaviour = softmax_policy(beta * x @ g, len_list)
    logits = x @ t + b
    exam = 1.0 / (np.arange(len_list) + 1.0)
    q = (1.0 / (1.0 + np.exp(-logits)))[:, :, None] * exam[None, None, :]
    position = rng.integers(0, len_list, n_rounds)
    rows = np.arange(n_rounds)
    p_slot = behaviour[rows, :, position]
    cdf = np.cumsum(p_slot, axis=1)
    action = np.minimum((cdf < rng.random(n_rounds)[:, None]).sum(axis=1), n_actions - 1)
    reward = (rng.random(n_rounds) < q[rows, action, position]).astype(np.float64)
    fb = BanditFeedback(
        n_actions=n_actions,
        len_list=len_list,
        action=action,
        position=position,
        reward=reward,
        pscore=p_slot[rows, action],
        context=x,
        source=f"synthetic_bandit(seed={seed})",
    )
    return SyntheticBandit(fb, q, behaviour, logits)
