"""The dependent click model (DCM; Guo, Liu and Wang, WSDM 2009; Chuklin et al. 2015, Sec. 3.6).

A cascade model (see :mod:`~distillrank.feedback.click_models.cascade`) in which the user goes on after
a skip, and after a click at rank ``r`` goes on with probability ``lambda_r`` (one per rank)::

    P(E_{r+1} = 1 | E_r = 1, C_r = 0) = 1        P(E_{r+1} = 1 | C_r = 1) = lambda_r

Fitted by EM on the exact likelihood. Guo et al. (and PyClick's DCM) use a simpler counting estimator
that assumes the user stopped at the last click and examined nothing after it; that is biased when
``lambda`` is large (it counts every last click as a stop), which EM is not. ``lambda`` at the deepest
rank of the log is not identifiable (nothing follows it) and stays at the prior mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from distillrank.feedback.click_models.base import Sessions, beta_update, prob_array
from distillrank.feedback.click_models.cascade import CascadeFamily

__all__ = ["DCM"]


@dataclass(eq=False)
class DCM(CascadeFamily):
    """Dependent click model.

    Attributes:
        continuation: ``[K]``; ``continuation[r - 1]`` is ``lambda_r``, the probability of going on
            after a click at rank ``r``.
        attractiveness: ``alpha_qd`` per ``(qid, docno)``.
    """

    continuation: np.ndarray | None = None

    _params = ("attractiveness", "continuation")

    def _validate_params(self) -> None:
        if self.continuation is not None:
            self.continuation = prob_array(self.continuation, "continuation", ndim=1)
            if np.isnan(self.continuation).any():
                raise ValueError("continuation must be probabilities in [0, 1]")

    def _depth(self) -> int | None:
        assert self.continuation is not None
        return len(self.continuation)

    def _transitions(self, s: Sessions, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self.continuation is not None
        return np.ones(1), self.continuation[None, : s.depth]

    def _fit(self, s: Sessions, max_iter: int, tol: float) -> tuple[int, bool]:
        k = s.depth
        alpha_pair = np.full(len(s.pairs), 0.5)
        lam = np.full(k, 0.5)
        # a click at rank r with a rank r + 1 shown: lambda_r's observations
        has_next = np.zeros_like(s.mask)
        has_next[:, :-1] = s.mask[:, 1:]
        clicked = (s.click > 0) & has_next
        w_clicked = s.weight[:, None] * clicked
        it, converged = 0, False
        for it in range(1, max_iter + 1):  # noqa: B007
            alpha = s.cells(alpha_pair)
            post = self._posterior(s, alpha, np.ones(1), lam[None, :])
            new_alpha = self._attractiveness_update(s, alpha, post)
            new_lam = beta_update((w_clicked * post.next_exam).sum(0), w_clicked.sum(0), self.prior)
            delta = max(np.abs(new_alpha - alpha_pair).max(), np.abs(new_lam - lam).max())
            alpha_pair, lam = new_alpha, new_lam
            if delta < tol:
                converged = True
                break
        self.attractiveness = self._series(alpha_pair, s, "attractiveness")
        self.continuation = lam
        return it, converged
