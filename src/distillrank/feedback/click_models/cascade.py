"""Cascade-family click models, and the cascade model (CM) itself.

Cascade models (Chuklin et al. 2015, Ch. 3) scan the page top-down: rank 1 is examined; an examined
result is clicked with probability ``alpha_qd``; after rank ``r`` the user examines ``r + 1`` with
probability ``tau0_r`` if they skipped ``r`` and ``tau1_r`` if they clicked it, and stops otherwise:

==========  =====================  ============================
model       ``tau0`` (after skip)  ``tau1`` (after click)
==========  =====================  ============================
CM          1                      0
DCM         1                      ``lambda_r``
DBN         ``gamma``              ``gamma * (1 - sigma_qd)``
SDBN        1                      ``1 - sigma_qd``
==========  =====================  ============================

:class:`CascadeFamily` holds what they share, computed by recursions over ranks vectorised across
sessions: the conditional click probability (a forward filter over ``P(E_r = 1 | clicks above)``), the
unconditional one (``P(E_{r+1}) = P(E_r) ((1 - alpha) tau0 + alpha tau1)``), simulation, and the EM
posteriors. Given the clicks, every rank up to the last click was examined; after the last click ``l``
the posterior examination is ``F_j B_j / Z`` with the forward mass ``F_j`` (continue after the click,
skip ``l+1..j-1``), the backward probability ``B_j`` of no click from ``j`` to the end, and
``Z = (1 - tau1_l) + tau1_l B_{l+1}`` (``B_1`` for a session without clicks).

CM (Craswell et al., WSDM 2008) cannot explain a second click. As in PyClick it is fitted on each
session up to and including its first click (the closed-form MLE: clicks over impressions at or above
the first click, plus the prior), and it predicts ``P(click) = 0`` below a click. In the log-likelihood
a click below the first one therefore costs ``ln PROB_MIN`` (about -13.8) and a skip there costs
nothing (CM says it is certain). PyClick goes further and gives *every* result below the first click,
skipped or not, probability ``PROB_MIN``, so that even a session CM itself generated is penalised;
``CascadeModel(pyclick_likelihood=True)`` reproduces that figure for comparison with published tables.
Perplexity uses the unconditional ``alpha_r * prod_{j<r} (1 - alpha_j)`` and needs no special case.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np

from distillrank.feedback.click_models.base import (
    PROB_MIN,
    ClickModel,
    Sessions,
    beta_update,
)

__all__ = ["CascadeFamily", "CascadeModel"]


@dataclass(frozen=True)
class Posterior:
    """EM posteriors of a cascade model for ``[U, K]`` sessions."""

    exam: np.ndarray  # P(E_r = 1 | clicks); 0 past the end
    next_exam: np.ndarray  # P(E_{r+1} = 1 | clicks); 0 at the last shown rank
    last: np.ndarray  # [U] 0-based rank of the last click, -1 if none
    z: np.ndarray  # [U] P(no click after the last click | it), or P(no click) without clicks


def last_click(click: np.ndarray) -> np.ndarray:
    has = click.any(axis=1)
    k = click.shape[1]
    return np.where(has, k - 1 - np.argmax(click[:, ::-1] > 0, axis=1), -1)


@dataclass(eq=False)
class CascadeFamily(ClickModel):
    """Shared machinery of cascade models; a model defines its continuation probabilities."""

    @abstractmethod
    def _transitions(self, s: Sessions, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(tau0, tau1)``, each ``[U, K]`` (or broadcastable): P(examine r+1 | examined r) after a
        skip and after a click at r."""

    def _conditional(self, s: Sessions) -> np.ndarray:
        alpha = self._alpha(s)
        tau0, tau1 = np.broadcast_arrays(*self._transitions(s, alpha), alpha)[:2]
        u, k = alpha.shape
        eps = np.ones(u)  # P(E_r = 1 | clicks above r)
        out = np.zeros((u, k))
        for r in range(k):
            p = eps * alpha[:, r]
            out[:, r] = p
            skip = eps * (1 - alpha[:, r]) / np.maximum(1 - p, PROB_MIN)
            eps = np.where(s.click[:, r] > 0, tau1[:, r], tau0[:, r] * skip)
        return out

    def _marginal(self, s: Sessions) -> np.ndarray:
        alpha = self._alpha(s)
        tau0, tau1 = np.broadcast_arrays(*self._transitions(s, alpha), alpha)[:2]
        u, k = alpha.shape
        exam = np.ones(u)
        out = np.zeros((u, k))
        for r in range(k):
            a = alpha[:, r]
            out[:, r] = exam * a
            exam = exam * ((1 - a) * tau0[:, r] + a * tau1[:, r])
        return out

    def _simulate(self, s: Sessions, rng: np.random.Generator) -> np.ndarray:
        alpha = self._alpha(s)
        tau0, tau1 = np.broadcast_arrays(*self._transitions(s, alpha), alpha)[:2]
        u, k = alpha.shape
        clicks = np.zeros((u, k), dtype=bool)
        examined = np.ones(u, dtype=bool)
        draws = rng.random((u, k, 2))
        for r in range(k):
            c = examined & (draws[:, r, 0] < alpha[:, r]) & s.mask[:, r]
            clicks[:, r] = c
            examined &= draws[:, r, 1] < np.where(c, tau1[:, r], tau0[:, r])
        return clicks

    def _posterior(self, s: Sessions, alpha: np.ndarray, tau0: np.ndarray, tau1: np.ndarray) -> Posterior:
        u, k = alpha.shape
        tau0, tau1 = np.broadcast_arrays(tau0, tau1, alpha)[:2]
        m, c = s.mask, s.click
        back = np.ones((u, k + 1))  # P(no click from rank j to the end | E_j = 1)
        for j in range(k - 1, -1, -1):
            nxt = (1 - alpha[:, j]) * ((1 - tau0[:, j]) + tau0[:, j] * back[:, j + 1])
            back[:, j] = np.where(m[:, j], nxt, 1.0)
        fwd = np.empty((u, k))
        f = np.ones(u)
        for j in range(k):
            fwd[:, j] = f
            f = np.where(c[:, j] > 0, tau1[:, j], f * (1 - alpha[:, j]) * tau0[:, j])
        last = last_click(c)
        rows = np.arange(u)
        lc = np.maximum(last, 0)
        t1 = tau1[rows, lc]
        z = np.where(last >= 0, (1 - t1) + t1 * back[rows, lc + 1], back[:, 0])
        z = np.maximum(z, PROB_MIN)
        exam = fwd * back[:, :k] / z[:, None]
        exam = np.where(np.arange(k)[None, :] <= last[:, None], 1.0, exam)
        exam = np.where(m, np.clip(exam, 0.0, 1.0), 0.0)
        next_exam = np.zeros_like(exam)
        next_exam[:, :-1] = exam[:, 1:]
        return Posterior(exam, next_exam, last, z)

    def _attractiveness_update(self, s: Sessions, alpha: np.ndarray, post: Posterior) -> np.ndarray:
        """EM update of ``alpha``: a skipped examined result was not attractive; an unexamined one is
        attractive with its current probability."""
        p_attr = s.click + (1 - s.click) * (1 - post.exam) * alpha
        w = s.weight[:, None] * s.mask
        n = len(s.pairs)
        num = np.bincount(s.pair[s.mask], (w * p_attr)[s.mask], n)
        den = np.bincount(s.pair[s.mask], w[s.mask], n)
        return beta_update(num, den, self.prior)


@dataclass(eq=False)
class CascadeModel(CascadeFamily):
    """Cascade model: scan down until the first click, then stop (see the module docstring for how
    sessions with several clicks are handled).

    Attributes:
        attractiveness: ``alpha_qd`` per ``(qid, docno)``.
        pyclick_likelihood: score every result below the first click as ``PROB_MIN`` in
            :meth:`log_likelihood`, as PyClick does (default: CM's own probabilities).
    """

    pyclick_likelihood: bool = False

    def _transitions(self, s: Sessions, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.ones(1), np.zeros(1)

    def _fit(self, s: Sessions, max_iter: int, tol: float) -> tuple[int, bool]:
        k = s.depth
        has = s.click.any(axis=1)
        first = np.where(has, np.argmax(s.click > 0, axis=1), k - 1)
        seen = s.mask & (np.arange(k)[None, :] <= first[:, None])
        w = (s.weight[:, None] * seen)[seen]
        n = len(s.pairs)
        num = np.bincount(s.pair[seen], w * s.click[seen], n)
        den = np.bincount(s.pair[seen], w, n)
        self.attractiveness = self._series(beta_update(num, den, self.prior), s, "attractiveness")
        return 1, True

    def _log_prob_observed(self, s: Sessions, p_click: np.ndarray) -> np.ndarray:
        lp = super()._log_prob_observed(s, p_click)
        if not self.pyclick_likelihood:
            return lp
        k = s.depth
        first = np.where(s.click.any(axis=1), np.argmax(s.click > 0, axis=1), k)
        return np.where(np.arange(k)[None, :] > first[:, None], np.log(PROB_MIN), lp)
