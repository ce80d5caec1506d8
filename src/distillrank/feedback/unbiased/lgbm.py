r"""Unbiased learning to rank for LightGBM: corrected relevance targets and a click-regression model.

**IPS, SNIPS and DR for LightGBM as targets, not weights.** :func:`lgbm_objective` trains on each row's
relevance estimate ``r^`` (from :mod:`.estimators`) with a listwise custom objective built by
:mod:`distillrank.distillation.lgbm_objectives` from the registered ``softmax`` loss: per query
``-sum_i r^_i log softmax(s)_i`` (the targets, clipped at 0, are normalised by ``softmax_loss`` and the
query weighted by their sum, which makes the loss linear in ``r^``), with autograd gradients and the
closed-form Hessian diagonal. Why not LightGBM sample weights on click labels:

* LightGBM's ``lambdarank`` takes integer labels, and a per-row weight scales that row's summed lambda
  gradient — not a loss that is linear in the clicks, so inverse-propensity weights on rows do not give
  an unbiased estimate of a ranking loss (Unbiased LambdaMART, Hu et al. 2019, needed pair-level
  weights and its own estimation of them);
* the doubly robust estimate is a value for every candidate, shown, clicked or not — a regression term
  plus a correction — which a weight on a click label cannot express;
* the same targets feed the neural losses of :mod:`.losses`: one estimator, two kinds of student.

**The click-regression model** of the doubly robust estimator, :class:`ClickRegression`: under PBM
``E[C_d] = E_d R_d`` exactly (``E_d`` the summed examination probabilities of the ranks ``d`` was shown
at), so a LightGBM Poisson regression of the clicks ``C_d`` on the features with offset ``log E_d``
(``init_score``) fits ``R^(x) = exp(f(x))`` by a quasi-likelihood with the right mean — its maximum for
one pair is ``C_d / E_d`` — and generalises through the features to results that were rarely or never
shown. Pairs never shown (``E_d = 0``) carry no information and are left out of the fit.

Example:
    >>> import numpy as np
    >>> obj = lgbm_objective(np.array([1.0, 0.2, 0.0, 0.5, 0.0]), [3, 2])
    >>> grad, hess = obj(np.zeros(5), None)
    >>> grad.round(3).tolist()        # softmax p - r^ (per query, r^ summing to 1.2 and 0.5)
    [-0.6, 0.2, 0.4, -0.25, 0.25]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp

from distillrank.distillation.lgbm_objectives import ListwiseObjective
from distillrank.distillation.lgbm_student import BOOSTER_PARAMS

__all__ = ["ClickRegression", "lgbm_objective"]


def lgbm_objective(
    relevance: np.ndarray, group: Sequence[int] | np.ndarray, *, min_hessian: float = 1e-6
) -> ListwiseObjective:
    """A LightGBM custom objective ``(preds, data) -> (grad, hess)``: ``-sum_i r^_i log softmax(s)_i``
    per query group (see the module docstring).

    Args:
        relevance: ``[n_rows]`` relevance estimates in row order (negative values count as 0).
        group: rows per query, in row order.

    Raises:
        ValueError: NaN or infinite estimates, or groups that do not add up to the rows.
    """
    rel = np.asarray(relevance, dtype=np.float64).reshape(-1)
    if not np.isfinite(rel).all():
        raise ValueError("relevance estimates contain NaN or infinite values")
    rel = np.maximum(rel, 0.0)
    group = np.asarray(group, dtype=np.int64)
    if int(group.sum()) != len(rel):
        raise ValueError(f"{len(rel)} relevance estimates but the groups add up to {int(group.sum())}")
    starts = np.concatenate([[0], np.cumsum(group)[:-1]]).astype(np.int64)
    mass = np.add.reduceat(rel, starts) if len(rel) else np.zeros(0)
    mass = np.where(group > 0, mass, 0.0)
    return ListwiseObjective("softmax", rel, group, group_weights=mass, min_hessian=min_hessian)


_REGRESSION_PARAMS: dict[str, Any] = {
    "objective": "poisson",
    **BOOSTER_PARAMS,
    "learning_rate": 0.1,
    "min_data_in_leaf": 50,
}


@dataclass
class ClickRegression:
    """``R^(x)``: Poisson regression of clicks on features with a log-exposure offset (module docstring).

    Attributes:
        num_boost_round: boosting rounds.
        params: LightGBM parameters over the defaults (Poisson objective, learning rate 0.1).
    """

    num_boost_round: int = 100
    params: dict[str, Any] = field(default_factory=dict)
    booster_: lgb.Booster | None = field(default=None, init=False, repr=False)
    base_: float = field(default=1.0, init=False)

    def fit(self, X: np.ndarray | sp.spmatrix, clicks: np.ndarray, exposure: np.ndarray) -> ClickRegression:
        """Fit on rows with ``exposure > 0``: ``clicks`` (counts) and ``exposure`` (summed examination
        probabilities) per row of ``X``.

        Raises:
            ValueError: lengths differ, negative values, or no row with exposure.
        """
        c = np.asarray(clicks, dtype=np.float64).reshape(-1)
        e = np.asarray(exposure, dtype=np.float64).reshape(-1)
        if len(c) != X.shape[0] or len(e) != X.shape[0]:
            raise ValueError(f"{X.shape[0]} rows, {len(c)} click counts and {len(e)} exposures")
        if (c < 0).any() or (e < 0).any():
            raise ValueError("clicks and exposure must be >= 0")
        seen = np.flatnonzero(e > 0)
        if len(seen) == 0:
            raise ValueError("no row has exposure > 0: nothing to learn from")
        # start from the pooled rate C / E, so that boosting only has to learn the differences
        self.base_ = max(float(c[seen].sum() / e[seen].sum()), 1e-6)
        rows = X[seen]
        data = lgb.Dataset(rows, label=c[seen], init_score=np.log(e[seen] * self.base_))
        self.booster_ = lgb.train(
            {**_REGRESSION_PARAMS, **self.params}, data, num_boost_round=self.num_boost_round
        )
        return self

    def predict(self, X: np.ndarray | sp.spmatrix) -> np.ndarray:
        """``R^`` of rows ``X`` (on the scale of the propensities used for the exposure)."""
        if self.booster_ is None:
            raise RuntimeError("ClickRegression is not fitted: call fit()")
        raw = np.asarray(self.booster_.predict(X, raw_score=True), dtype=np.float64)
        return self.base_ * np.exp(raw)
