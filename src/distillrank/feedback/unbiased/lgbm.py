r"""Unbiased learning to rank for LightGBM: corrected relevance targets and a click-regression model.

**IPS, SNIPS and DR for LightGBM as targets, not weights.** Every estimator of :mod:`.estimators` gives
each row a relevance estimate ``r^``; :func:`lgbm_setup` trains LightGBM on those estimates with one of
two objectives, chosen by name (:data:`LGBM_OBJECTIVES`):

* ``"softmax"`` (the default) — :func:`lgbm_objective`, a listwise custom objective built by
  :mod:`distillrank.distillation.lgbm_objectives` from the registered ``softmax`` loss: per query
  ``-sum_i r^_i log softmax(s)_i`` (the targets, clipped at 0, are normalised by ``softmax_loss`` and
  the query weighted by their sum, which makes the loss linear in ``r^``, hence unbiased under an
  unbiased ``r^``), with autograd gradients and the closed-form Hessian diagonal;
* ``"lambdarank"`` — LambdaMART (Burges 2010) with the estimates as the gains of nDCG: LightGBM's own
  ``lambdarank`` objective on integer labels that quantise ``r^`` per query with a matching
  ``label_gain`` table (:func:`lambdarank_labels`). Every pair ``r^_i > r^_j`` of a query gets the
  lambda ``-|delta nDCG_ij| / (1 + exp(s_i - s_j))``. On IPS or DR estimates this is the debiased
  pairwise LambdaMART of Wang et al. (2018) and Hu et al. (2019, "Unbiased LambdaMART"), with the
  per-document estimates of Oosterhuis (2023) in place of per-click weights. It is not linear in
  ``r^`` (``|delta nDCG|`` is normalised by the query's ideal DCG), but it optimises the metric the
  rankers are judged by.

Neither is better everywhere (``bench/online_ltr.py``; validation splits of the training queries):
LambdaMART learns better rankers offline from a click log on SciFact (100 candidates a query) and worse
ones on the LightGBM example (15 a query, graded labels), and in the online loop the two are level
within the noise; the default stays the listwise objective.

Why not LightGBM sample weights on click labels:

* a per-row weight scales that row's summed lambda gradient — not a loss that is linear in the clicks,
  so inverse-propensity weights on rows do not give an unbiased estimate of a ranking loss (Unbiased
  LambdaMART needed pair-level weights and its own estimation of them);
* the doubly robust estimate is a value for every candidate, shown, clicked or not — a regression term
  plus a correction — which a weight on a click label cannot express;
* the same targets feed the neural losses of :mod:`.losses`: one estimator, two kinds of student.

**The click-regression model** of the doubly robust estimator, :class:`ClickRegression`: under PBM
``E[C_d] = E_d R_d`` exactly (``E_d`` the summed examination probabilities of the ranks ``d`` was shown
at), so a LightGBM Poisson regression of the clicks ``C_d`` on the features with offset ``log E_d``
(``init_score``) fits ``R^(x) = exp(f(x))`` by a quasi-likelihood with the right mean — its maximum for
one pair is ``C_d / E_d`` — and generalises through the features to results that were rarely or never
shown. Pairs never shown (``E_d = 0``) carry no information and are left out of the fit.

**Cross-fitting** (:func:`cross_fit_predict`, :func:`query_folds`): the doubly robust estimate
``R^ + (C - E R^) / P`` is unbiased when the residual ``C - E R^`` has mean 0 given ``R^``; a model
fitted on the very clicks ``C`` it then corrects has learned part of their noise (with ``min_data_in_leaf``
rows a leaf, a handful of lucky clicks raise ``R^`` of their own rows), so its residual is shrunk towards
0 and DR inherits the model's overfit. Splitting the queries into ``K`` folds and predicting each
fold with a model fitted on the other ``K - 1`` makes ``R^`` of a row independent of that row's clicks
(Chernozhukov et al. 2018, "Double/debiased machine learning", the cross-fitting of DR and DML
estimators). Measured in the online loop of ``bench/online_ltr.py`` (100k sessions, refitted rankers)
it did not help there: DR's final test nDCG@10 with K = 1 / 2 / 5 folds was 0.730 / 0.725 / 0.734 on
SciFact (one seed) and 0.783 / 0.772 / 0.764 on the LightGBM example (mean of 3 seeds, whose spread is
about 0.02): no gain beyond the noise, so the loop's default is ``regression_folds=1``, and
cross-fitting is an option (a plausible reason: 100 trees with at least 50 rows a leaf, fitted on
thousands of shown pairs, leave the model little room to memorise its own rows' clicks).

Example:
    >>> import numpy as np
    >>> obj = lgbm_objective(np.array([1.0, 0.2, 0.0, 0.5, 0.0]), [3, 2])
    >>> grad, hess = obj(np.zeros(5), None)
    >>> grad.round(3).tolist()        # softmax p - r^ (per query, r^ summing to 1.2 and 0.5)
    [-0.6, 0.2, 0.4, -0.25, 0.25]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp

from distillrank.distillation.lgbm_objectives import ListwiseObjective
from distillrank.distillation.lgbm_student import BOOSTER_PARAMS

__all__ = [
    "CANDIDATE_SETS",
    "LGBM_OBJECTIVES",
    "CandidateSet",
    "ClickRegression",
    "LGBMObjective",
    "cross_fit_predict",
    "lambdarank_labels",
    "lgbm_objective",
    "lgbm_setup",
    "query_folds",
    "training_candidates",
]

LGBMObjective = Literal["softmax", "lambdarank"]
LGBM_OBJECTIVES: tuple[str, ...] = ("softmax", "lambdarank")
"""The ranking objectives :func:`lgbm_setup` builds, by name; the first is the default."""

CandidateSet = Literal["auto", "all", "shown"]
CANDIDATE_SETS: tuple[str, ...] = ("auto", "all", "shown")
"""Which candidates a ranker trains on (:func:`training_candidates`); the first is the default."""

_SHOWN_ONLY = frozenset({"naive", "ips", "snips"})


def training_candidates(estimator: str, candidates: str = "auto") -> Literal["all", "shown"]:
    r"""The candidate set a ranker learns from under ``estimator``: ``"all"`` candidates of a query, or
    only those the log has ``"shown"`` at least once.

    ``"auto"`` picks by what the estimator knows about a candidate the log never showed:

    * ``naive``, ``ips``, ``snips`` — nothing: their estimate there is ``0 / D = 0`` by construction, not
      evidence of irrelevance, and training on it teaches the ranker to copy what the logger did not
      show (the relevant results the logger buried stay buried); they train on the shown candidates;
    * ``dr`` — the click-regression model's prediction ``R^``, which generalises through the features
      to results that were never shown (Oosterhuis 2023): it trains on all candidates;
    * ``full_info`` — the true label of every candidate: all, whatever ``candidates`` says (it has no
      log, so no candidate counts as shown).

    Measured in the online loop of ``bench/online_ltr.py`` (SciFact, 100k sessions, means of seeds
    0-2, test nDCG@10): IPS 0.718 on all candidates, 0.724 on the shown ones; DR 0.736 on all, 0.736
    on the shown ones.

    >>> training_candidates("ips"), training_candidates("dr"), training_candidates("ips", "all")
    ('shown', 'all', 'all')

    Raises:
        ValueError: ``candidates`` not in :data:`CANDIDATE_SETS`.
    """
    if candidates not in CANDIDATE_SETS:
        raise ValueError(f"candidates must be one of {CANDIDATE_SETS}, got {candidates!r}")
    if estimator == "full_info":
        return "all"
    if candidates == "auto":
        return "shown" if estimator in _SHOWN_ONLY else "all"
    return "shown" if candidates == "shown" else "all"


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
    rel = _check_targets(relevance, group)
    group = np.asarray(group, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(group)[:-1]]).astype(np.int64)
    mass = np.add.reduceat(rel, starts) if len(rel) else np.zeros(0)
    mass = np.where(group > 0, mass, 0.0)
    return ListwiseObjective("softmax", rel, group, group_weights=mass, min_hessian=min_hessian)


def lambdarank_labels(
    relevance: np.ndarray, group: Sequence[int] | np.ndarray, *, levels: int = 256
) -> tuple[np.ndarray, list[float]]:
    r"""Integer labels and a ``label_gain`` table that give LightGBM's ``lambdarank`` the estimates
    ``r^`` as gains: per query ``label_i = round((levels - 1) r^_i / max_q r^)`` and
    ``gain(l) = l / (levels - 1)``, so ``gain(label_i) = r^_i / max_q r^`` up to ``1 / (2 (levels - 1))``.

    The per-query scale cancels in LambdaMART's ``|delta nDCG|`` (gains over the query's ideal DCG), so
    each query keeps the full resolution. Negative estimates (DR) count as 0; a query whose estimates
    are all 0 gets labels 0 (no pairs, no gradient).

    >>> labels, gain = lambdarank_labels(np.array([2.0, 1.0, 0.0, 0.3, -0.1]), [3, 2], levels=11)
    >>> labels.tolist(), gain[:3]
    ([10, 5, 0, 10, 0], [0.0, 0.1, 0.2])

    Raises:
        ValueError: NaN or infinite estimates, groups that do not add up, or ``levels < 2``.
    """
    rel = _check_targets(relevance, group)
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
        raise ValueError(f"levels must be an integer >= 2, got {levels!r}")
    group = np.asarray(group, dtype=np.int64)
    q = np.repeat(np.arange(len(group)), group)
    top = np.zeros(len(group))
    np.maximum.at(top, q, rel)
    scale = np.where(top[q] > 0, top[q], 1.0)
    labels = np.rint(rel / scale * (levels - 1)).astype(np.int64)
    return labels, [i / (levels - 1) for i in range(levels)]


def lgbm_setup(
    relevance: np.ndarray,
    group: Sequence[int] | np.ndarray,
    objective: LGBMObjective = "softmax",
    *,
    levels: int = 256,
) -> tuple[dict[str, Any], np.ndarray]:
    r"""LightGBM parameters and a label column that train a ranker on relevance estimates ``r^``.

    * ``"lambdarank"`` — LambdaMART (Burges 2010) with the estimates as gains (:func:`lambdarank_labels`):
      for every pair ``r^_i > r^_j`` of a query, the lambda
      ``lambda_ij = -|delta nDCG_ij| / (1 + exp(s_i - s_j))`` with
      ``delta nDCG_ij = (g_i - g_j)(1 / log2(1 + rank_i) - 1 / log2(1 + rank_j)) / IDCG``, ``g = r^``.
      On IPS or DR estimates this is the pairwise debiased LambdaMART of Wang et al. (2018, "Position
      bias estimation for unbiased learning to rank in personal search") and Hu et al. (2019,
      "Unbiased LambdaMART"), with the per-document estimate of Oosterhuis (2023) in place of the
      per-click weights. (LightGBM also rescales each query's lambdas, ``lambdarank_norm``, and
      truncates the pairs to the top ``lambdarank_truncation_level`` ranks.)
    * ``"softmax"`` (the default) — the listwise objective of :func:`lgbm_objective` (linear in
      ``r^``).

    Returns:
        ``(params, label)``: parameters to merge over the booster's, and the ``label`` of the
        ``lightgbm.Dataset``.

    Raises:
        ValueError: an unknown objective, or invalid estimates (see :func:`lambdarank_labels`).
    """
    if objective == "lambdarank":
        labels, gain = lambdarank_labels(relevance, group, levels=levels)
        return {"objective": "lambdarank", "label_gain": gain}, labels.astype(np.float64)
    if objective == "softmax":
        rel = np.asarray(relevance, dtype=np.float64).reshape(-1)
        return {"objective": lgbm_objective(rel, group)}, np.zeros(len(rel))
    raise ValueError(f"unknown objective {objective!r}; known: {', '.join(LGBM_OBJECTIVES)}")


def _check_targets(relevance: np.ndarray, group: Sequence[int] | np.ndarray) -> np.ndarray:
    rel = np.asarray(relevance, dtype=np.float64).reshape(-1)
    if not np.isfinite(rel).all():
        raise ValueError("relevance estimates contain NaN or infinite values")
    total = int(np.asarray(group, dtype=np.int64).sum())
    if total != len(rel):
        raise ValueError(f"{len(rel)} relevance estimates but the groups add up to {total}")
    return np.maximum(rel, 0.0)


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


def query_folds(n_queries: int, n_folds: int, seed: int = 0) -> np.ndarray:
    """``[n_queries]`` fold numbers ``0..n_folds-1``, as balanced as possible, in a random order.

    >>> np.bincount(query_folds(10, 3, seed=1)).tolist()
    [4, 3, 3]

    Raises:
        ValueError: ``n_folds < 1`` or ``n_queries < 0``.
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 1:
        raise ValueError(f"n_folds must be an integer >= 1, got {n_folds!r}")
    if n_queries < 0:
        raise ValueError(f"n_queries must be >= 0, got {n_queries}")
    return np.random.default_rng(seed).permutation(n_queries) % n_folds


def cross_fit_predict(
    model: ClickRegression,
    X: np.ndarray | sp.spmatrix,
    clicks: np.ndarray,
    exposure: np.ndarray,
    folds: np.ndarray,
) -> np.ndarray:
    """Cross-fitted ``R^`` of every row of ``X`` (module docstring): the rows of fold ``k`` are predicted
    by a copy of ``model`` (same rounds and parameters) fitted on the rows of the other folds.

    One fold (every row in it) fits and predicts on the same rows, the plain model; a fold whose
    complement has no row with exposure is predicted by the model fitted on all rows.

    Args:
        model: the settings (it is not fitted itself).
        X: features of the rows.
        clicks, exposure: ``[n_rows]`` per row, as for :meth:`ClickRegression.fit`.
        folds: ``[n_rows]`` fold of each row (all rows of a query in one fold).

    Raises:
        ValueError: lengths differ, or no row has exposure.
    """
    c = np.asarray(clicks, dtype=np.float64).reshape(-1)
    e = np.asarray(exposure, dtype=np.float64).reshape(-1)
    f = np.asarray(folds).reshape(-1)
    if not (len(c) == len(e) == len(f) == X.shape[0]):
        raise ValueError(f"{X.shape[0]} rows, {len(c)} click counts, {len(e)} exposures and {len(f)} folds")
    out = np.zeros(len(c))
    pooled: ClickRegression | None = None
    labels = np.unique(f)
    for k in labels:
        held = f == k
        train = ~held if len(labels) > 1 else held
        if not (e[train] > 0).any():
            if pooled is None:
                pooled = replace(model).fit(X, c, e)
            out[held] = pooled.predict(X[np.flatnonzero(held)])
            continue
        fitted = replace(model).fit(X[np.flatnonzero(train)], c[train], e[train])
        out[held] = fitted.predict(X[np.flatnonzero(held)])
    return out
