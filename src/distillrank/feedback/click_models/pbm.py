"""The position-based model (PBM) and the EM they share with the user browsing model.

PBM (Richardson et al. 2007; Craswell et al. 2008; Chuklin et al. 2015, Sec. 3.3): a result at rank
``r`` is examined with probability ``gamma_r`` whatever happens elsewhere, and an examined result is
clicked if attractive, with probability ``alpha_qd``::

    P(C_r = 1) = gamma_r * alpha_qd        (clicks independent, so conditional = marginal)

EM runs on counts aggregated per ``(pair, examination cell)`` (impressions ``N`` and clicks ``C``), so
an iteration costs the number of distinct cells, not of sessions. With ``x = alpha * gamma`` the
E-step posteriors of a skip are ``P(A = 1 | C = 0) = alpha (1 - gamma) / (1 - x)`` and
``P(E = 1 | C = 0) = gamma (1 - alpha) / (1 - x)``; a click has both at 1.

Identifiability: ``(c * gamma, alpha / c)`` predicts the same clicks as ``(gamma, alpha)`` while both
stay in [0, 1], so only ``gamma_r / gamma_1`` and the products ``gamma_r * alpha`` are determined by
the data; EM's scale depends on where it starts (0.5 everywhere). A pair shown at a single rank only
tells the product. Compare examination curves after dividing by ``gamma_1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from distillrank.feedback.click_models.base import (
    ClickModel,
    Sessions,
    beta_update,
    prob_array,
)

__all__ = ["PBM"]


@dataclass(eq=False)
class ExaminationModel(ClickModel):
    """Clicks = examination (indexed by a per-cell examination index) x attractiveness, independent
    given the index. PBM indexes examination by rank; UBM by (rank, previous click rank)."""

    examination: np.ndarray | None = None

    _params = ("attractiveness", "examination")

    def _exam_index(self, s: Sessions, depth: int) -> np.ndarray:
        """``[U, K]`` flat index into ``examination`` of each cell."""
        raise NotImplementedError

    def _exam_shape(self, depth: int) -> tuple[int, ...]:
        raise NotImplementedError

    def _valid_exam(self, depth: int) -> np.ndarray:
        """Boolean mask of the examination entries the model uses."""
        return np.ones(self._exam_shape(depth), dtype=bool)

    def _fit(self, s: Sessions, max_iter: int, tol: float) -> tuple[int, bool]:
        depth = s.depth
        shape = self._exam_shape(depth)
        n_exam = int(np.prod(shape))
        n_pairs = len(s.pairs)
        m = s.mask
        key = s.pair[m] * n_exam + self._exam_index(s, depth)[m]
        w = np.broadcast_to(s.weight[:, None], m.shape)[m]
        ukey, inv = np.unique(key, return_inverse=True)
        n = np.bincount(inv, w)
        c = np.bincount(inv, w * s.click[m])
        cp, ce = ukey // n_exam, ukey % n_exam
        n_pair = np.bincount(cp, n, minlength=n_pairs)
        n_cell = np.bincount(ce, n, minlength=n_exam)
        alpha = np.full(n_pairs, 0.5)
        gamma = np.full(n_exam, 0.5)
        it, converged = 0, False
        for it in range(1, max_iter + 1):  # noqa: B007
            a, g = alpha[cp], gamma[ce]
            skip = (n - c) / (1.0 - a * g)
            new_alpha = beta_update(np.bincount(cp, c + skip * a * (1 - g), n_pairs), n_pair, self.prior)
            new_gamma = beta_update(np.bincount(ce, c + skip * g * (1 - a), n_exam), n_cell, self.prior)
            delta = max(np.abs(new_alpha - alpha).max(), np.abs(new_gamma - gamma).max())
            alpha, gamma = new_alpha, new_gamma
            if delta < tol:
                converged = True
                break
        exam = gamma.reshape(shape)
        exam[~self._valid_exam(depth)] = np.nan
        self.examination = exam
        self.attractiveness = self._series(alpha, s, "attractiveness")
        return it, converged

    def _depth(self) -> int | None:
        assert self.examination is not None
        return int(self.examination.shape[0])

    def _gamma_cells(self, s: Sessions) -> np.ndarray:
        assert self.examination is not None
        depth = self.examination.shape[0]
        flat = np.nan_to_num(self.examination.reshape(-1))
        return np.where(s.mask, flat[np.where(s.mask, self._exam_index(s, depth), 0)], 0.0)

    def _conditional(self, s: Sessions) -> np.ndarray:
        return self._alpha(s) * self._gamma_cells(s)


@dataclass(eq=False)
class PBM(ExaminationModel):
    """Position-based model: ``P(C_r = 1) = examination[r - 1] * attractiveness[q, d]``.

    Attributes:
        examination: ``[K]`` examination probability ``gamma_r`` of ranks ``1..K``.
        attractiveness: ``alpha_qd`` per ``(qid, docno)``.

    Example:
        >>> import numpy as np, pandas as pd
        >>> from distillrank.data.clicklog import ClickLog
        >>> log = ClickLog(pd.DataFrame({"session_id": [0, 0], "qid": ["q", "q"], "position": [1, 2],
        ...     "docno": ["a", "b"], "click": [1, 0], "propensity": [np.nan, np.nan]}))
        >>> pbm = PBM(examination=[1.0, 0.5], attractiveness={("q", "a"): 0.8, ("q", "b"): 0.4})
        >>> pbm.click_probabilities(log).round(3).tolist()
        [0.8, 0.2]
    """

    def _validate_params(self) -> None:
        if self.examination is not None:
            self.examination = prob_array(self.examination, "examination", ndim=1)
            if np.isnan(self.examination).any():
                raise ValueError("examination must be probabilities in [0, 1]")

    def _exam_shape(self, depth: int) -> tuple[int, ...]:
        return (depth,)

    def _exam_index(self, s: Sessions, depth: int) -> np.ndarray:
        return np.broadcast_to(np.arange(s.depth), s.pair.shape)

    def _marginal(self, s: Sessions) -> np.ndarray:
        return self._conditional(s)

    def _simulate(self, s: Sessions, rng: np.random.Generator) -> np.ndarray:
        p = self._conditional(s)
        return (rng.random(p.shape) < p) & s.mask
