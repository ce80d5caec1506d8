"""The dynamic Bayesian network model (DBN; Chapelle and Zhang, WWW 2009; Chuklin et al. 2015,
Sec. 3.8) and its simplified form SDBN.

A cascade model (see :mod:`~distillrank.feedback.click_models.cascade`): an examined result is clicked
if attractive (``alpha_qd``); after a click the user is satisfied with probability ``sigma_qd`` and
stops; an unsatisfied user (or one who skipped) goes on with probability ``gamma``::

    P(E_{r+1} = 1 | E_r = 1, C_r = 0) = gamma      P(E_{r+1} = 1 | C_r = 1) = gamma (1 - sigma_qd)

EM updates (expected counts from the cascade posteriors): ``alpha`` as every cascade model;
``sigma_qd`` = expected satisfactions over clicks on the pair, where only the last click of a session
can be satisfying, with ``P(S = 1 | clicks) = sigma / Z``; ``gamma`` = expected examinations of
``r + 1`` over expected unsatisfied examinations of ``r``, over ranks that have a next rank.

SDBN fixes ``gamma = 1`` (Chapelle and Zhang's simplified model): users stop only when satisfied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from distillrank.feedback.click_models.base import PROB_MIN, Sessions, beta_update, pair_series
from distillrank.feedback.click_models.cascade import CascadeFamily

__all__ = ["DBN", "SDBN"]


@dataclass(eq=False)
class DBN(CascadeFamily):
    """Dynamic Bayesian network click model.

    Attributes:
        satisfaction: ``sigma_qd`` per ``(qid, docno)``: P(satisfied | clicked).
        gamma: P(going on) after an unsatisfying result, one value for every rank.
        attractiveness: ``alpha_qd`` per ``(qid, docno)``.
    """

    satisfaction: pd.Series | None = None
    gamma: float | None = None

    _params = ("attractiveness", "satisfaction", "gamma")

    def _validate_params(self) -> None:
        if self.satisfaction is not None:
            self.satisfaction = pair_series(self.satisfaction, "satisfaction")
        if self.gamma is not None:
            g = float(self.gamma)
            if not 0 <= g <= 1:
                raise ValueError(f"gamma must be in [0, 1], got {self.gamma!r}")
            self.gamma = g

    def _transitions(self, s: Sessions, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self.gamma is not None
        sigma = s.cells(self._lookup(self.satisfaction, s))
        return np.full(1, self.gamma), self.gamma * (1 - sigma)

    def _update_gamma(self, num: float, den: float) -> float:
        """M-step of ``gamma`` from the expected transitions (``None`` before the first: its start)."""
        if den == 0:
            return 0.5
        return float(beta_update(np.array(num), np.array(den), self.prior))

    def _fit(self, s: Sessions, max_iter: int, tol: float) -> tuple[int, bool]:
        n = len(s.pairs)
        alpha_pair = np.full(n, 0.5)
        sigma_pair = np.full(n, 0.5)
        gamma = self._update_gamma(0.0, 0.0)
        rows = np.arange(len(s.weight))
        has = s.click.any(axis=1)
        clicked = s.mask & (s.click > 0)
        has_next = np.zeros_like(s.mask)
        has_next[:, :-1] = s.mask[:, 1:]
        w = s.weight[:, None] * s.mask
        w_clicks = np.bincount(s.pair[clicked], w[clicked], n)
        it, converged = 0, False
        for it in range(1, max_iter + 1):  # noqa: B007
            alpha = s.cells(alpha_pair)
            sigma = s.cells(sigma_pair)
            tau1 = gamma * (1 - sigma)
            post = self._posterior(s, alpha, np.full(1, gamma), tau1)
            new_alpha = self._attractiveness_update(s, alpha, post)
            p_sat = np.zeros_like(alpha)
            lc = np.maximum(post.last, 0)
            p_sat[rows[has], lc[has]] = sigma[rows[has], lc[has]] / post.z[has]
            new_sigma = beta_update(
                np.bincount(s.pair[clicked], (w * p_sat)[clicked], n), w_clicks, self.prior
            )
            num = float((w * has_next * post.next_exam).sum())
            den = float((w * has_next * (post.exam - s.click * p_sat)).sum())
            new_gamma = self._update_gamma(num, den)
            delta = max(
                np.abs(new_alpha - alpha_pair).max(),
                np.abs(new_sigma - sigma_pair).max(),
                abs(new_gamma - gamma),
            )
            alpha_pair, sigma_pair, gamma = new_alpha, new_sigma, new_gamma
            if delta < tol:
                converged = True
                break
        self.attractiveness = self._series(alpha_pair, s, "attractiveness")
        self.satisfaction = self._series(np.clip(sigma_pair, PROB_MIN, 1 - PROB_MIN), s, "satisfaction")
        self.gamma = gamma
        return it, converged


@dataclass(eq=False)
class SDBN(DBN):
    """Simplified DBN: ``gamma = 1`` (users leave only when satisfied)."""

    gamma: float | None = 1.0

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.gamma != 1.0:
            raise ValueError(f"SDBN has gamma = 1 by definition, got {self.gamma!r}")

    def _update_gamma(self, num: float, den: float) -> float:
        return 1.0
