"""The user browsing model (UBM; Dupret and Piwowarski, SIGIR 2008; Chuklin et al. 2015, Sec. 3.5).

Examination depends on the rank ``r`` and on the rank ``r'`` of the previous click in the session
(``r' = 0`` when there was none; Dupret and Piwowarski write it as the distance ``r - r'``, the same
parameters)::

    P(C_r = 1 | C_1..C_{r-1}) = gamma[r, r'] * alpha_qd

Given the clicks above ``r``, ``r'`` is known, so the EM is PBM's with examination indexed by
``(r, r')``. The *unconditional* ``P(C_r = 1)`` used for perplexity sums over where the previous click
was, by a forward recursion over ``P(previous click at r' before rank r)``. The same scale caveat as
PBM applies (only ratios of ``gamma`` are identified).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from distillrank.feedback.click_models.base import Sessions, prob_array
from distillrank.feedback.click_models.pbm import ExaminationModel

__all__ = ["UBM"]


def previous_click_rank(click: np.ndarray) -> np.ndarray:
    """``[U, K]`` 1-based rank of the last click strictly above each rank (0 if none)."""
    ranks = np.arange(1, click.shape[1] + 1)
    last = np.maximum.accumulate(np.where(click > 0, ranks, 0), axis=1)
    out = np.zeros_like(last)
    out[:, 1:] = last[:, :-1]
    return out


@dataclass(eq=False)
class UBM(ExaminationModel):
    """User browsing model.

    Attributes:
        examination: ``[K, K]``; ``examination[r - 1, r']`` is ``gamma`` at rank ``r`` when the previous
            click was at rank ``r'`` (0: no click yet). Entries with ``r' >= r`` are unused (NaN).
        attractiveness: ``alpha_qd`` per ``(qid, docno)``.
    """

    def _validate_params(self) -> None:
        if self.examination is not None:
            exam = prob_array(self.examination, "examination", ndim=2)
            k = exam.shape[0]
            if exam.shape != (k, k):
                raise ValueError(f"examination must be a square [K, K] array, got shape {exam.shape}")
            valid = self._valid_exam(k)
            if np.isnan(exam[valid]).any():
                raise ValueError("examination[r - 1, r'] must be a probability for every r' < r")
            exam[~valid] = np.nan
            self.examination = exam

    def _exam_shape(self, depth: int) -> tuple[int, ...]:
        return (depth, depth)

    def _valid_exam(self, depth: int) -> np.ndarray:
        r = np.arange(depth)[:, None]
        return np.arange(depth)[None, :] <= r

    def _exam_index(self, s: Sessions, depth: int) -> np.ndarray:
        return np.arange(s.depth)[None, :] * depth + previous_click_rank(s.click)

    def _marginal(self, s: Sessions) -> np.ndarray:
        assert self.examination is not None
        gamma = np.nan_to_num(self.examination)
        alpha = self._alpha(s)
        u, k = alpha.shape
        prev = np.zeros((u, k + 1))  # P(previous click at r' | before the current rank), r' = 0..K
        prev[:, 0] = 1.0
        out = np.zeros((u, k))
        for r in range(k):
            p = alpha[:, r : r + 1] * gamma[r, None, : r + 1]  # P(click at r | previous click at r')
            joint = prev[:, : r + 1] * p
            out[:, r] = joint.sum(axis=1)
            prev[:, : r + 1] -= joint
            prev[:, r + 1] = out[:, r]
        return out

    def _simulate(self, s: Sessions, rng: np.random.Generator) -> np.ndarray:
        assert self.examination is not None
        gamma = np.nan_to_num(self.examination)
        alpha = self._alpha(s)
        u, k = alpha.shape
        clicks = np.zeros((u, k), dtype=bool)
        prev = np.zeros(u, dtype=np.int64)
        draws = rng.random((u, k))
        for r in range(k):
            c = (draws[:, r] < alpha[:, r] * gamma[r, prev]) & s.mask[:, r]
            clicks[:, r] = c
            prev = np.where(c, r + 1, prev)
        return clicks
