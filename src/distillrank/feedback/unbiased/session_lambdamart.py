r"""Unbiased LambdaMART (Hu et al., WWW 2019) on the sessions of a click log, as a LightGBM objective.

The estimators of :mod:`.estimators` pool a log per ``(query, document)`` before any ranker sees it.
This learner keeps the **sessions**: every page shown is a list, and within it every pair of a clicked
result ``i`` (at rank ``k``) and an unclicked result ``j`` (at rank ``l``) is a training pair.

**The loss** (Hu et al. 2019, "Unbiased LambdaMART: An Unbiased Pairwise Learning-to-Rank Algorithm",
eq. 8-14): the click-based pairwise loss is debiased by two position factors, one for the clicked
result's rank and one for the unclicked result's,

.. math::

    L = \sum_{\text{sessions}} \sum_{i \text{ clicked}, j \text{ not}}
        \frac{|\Delta \mathrm{nDCG}_{ij}|}{t^+_k\, t^-_l}\, \log\bigl(1 + e^{-\sigma (s_i - s_j)}\bigr),

``t+_k`` the ratio of click probability to relevance at rank ``k`` (position bias of clicks) and
``t-_l`` the ratio of non-click probability to irrelevance at rank ``l`` (an unclicked result low on the
page says little: it was likely not examined). ``|Delta nDCG_ij|`` is LambdaMART's (Burges 2010): the
change of the session's nDCG (clicks as gains, the documents ranked by the current scores) when ``i``
and ``j`` swap. The gradient of a pair is the lambda
``lambda_ij = -sigma |Delta nDCG_ij| / (t+_k t-_l) / (1 + exp(sigma (s_i - s_j)))`` and its Hessian
``sigma^2 |Delta nDCG_ij| / (t+_k t-_l) rho (1 - rho)``, ``rho = 1 / (1 + exp(sigma (s_i - s_j)))``.
With ``lambda_norm`` each session's lambdas are rescaled by ``log2(1 + sum lambda) / sum lambda``
(LightGBM's ``lambdarank_norm``, XGBoost's ``lambdarank_normalization``): sessions with many pairs do
not dominate.

**The position bias is learned jointly** with the ranker (eq. 27-30): after each boosting iteration,

.. math::

    t^+_k = \Bigl(\frac{\sum_{\text{pairs at } (k, \cdot)} c_{ij} / t^-_l}
                       {\sum_{\text{pairs at } (1, \cdot)} c_{ij} / t^-_l}\Bigr)^{1/(p+1)},\qquad
    t^-_l = \Bigl(\frac{\sum_{\text{pairs at } (\cdot, l)} c_{ij} / t^+_k}
                       {\sum_{\text{pairs at } (\cdot, 1)} c_{ij} / t^+_k}\Bigr)^{1/(p+1)},

``p`` the ``bias_norm`` of the Lp regulariser on the biases (``p = 1``, the default of XGBoost's
``lambdarank_bias_norm``: square roots, as the reference implementation's ``eta = 0.5``), ``t+_1 = t-_1
= 1``, and ``c_ij`` what a pair contributes (``bias_cost``):

* ``"margin"`` (the objective's default): ``|Delta nDCG_ij| log(1 + exp(+sigma (s_i - s_j)))``, which
  is what XGBoost's ``lambdarank_unbiased`` accumulates (``log(1 / (1 - sigmoid(s_i - s_j)))``,
  XGBoost 2-3, ``src/objective/lambdarank_obj.h``). It grows with how confidently the ranker orders the
  pair, so a rank's ``t+`` follows the clicks its pairs hold, and with a logger that ranks weakly by
  relevance it tracks the examination curve: in ``tests/feedback/test_session_lambdamart.py`` (PBM,
  eta = 2) ``t+`` came out 1, 0.84, 0.58, 0.36, 0.25, 0.16, 0.08, ... against the true
  ``theta_k / theta_1`` of 1, 0.80, 0.50, 0.25, 0.17, 0.09, 0.03, ..., and the debiased ranker beat raw
  clicks (nDCG@5 0.798 against 0.717). With a good logger, clicks high on the page are also relevance,
  and ``t+`` over-states the position bias (SciFact's simulated log: 1, 0.27, 0.15, 0.10, ... against
  the simulator's 1, 0.90, 0.71, 0.50, ...);
* ``"loss"``: the pair's loss ``|Delta nDCG_ij| log(1 + exp(-sigma (s_i - s_j)))`` as in the paper's
  eq. 30-31 and its reference implementation. It shrinks as the ranker fits the pairs; on the same
  test it left ``t+`` at 1, 1.01, 0.87, ..., 0.24 and the debiased ranker below raw clicks (0.697
  against 0.717 nDCG@5).

Which cost suits a log depends on its logger, and no test labels are needed to choose:
``bias_cost="auto"``, the default of :func:`fit_session_lambdamart` (:func:`choose_bias_cost`), fits
the ranker with each cost on 80% of the sessions and keeps the cost whose ranker has the higher
counterfactual utility on the other 20% (:func:`~distillrank.feedback.online.offline.utility`: IPS
estimates from the held-out clicks, with propensities by EM regression on the log; Joachims et al.
2017), then fits on every session with it. On the test's log above it picks ``"margin"``.

With ``score_norm`` each pair's ``|Delta nDCG_ij|`` is divided by ``|s_i - s_j| + 0.01`` (XGBoost's
``lambdarank_score_normalization``, LightGBM's before 3.0); off by default (it did not help on the
test). With ``debias=False`` the biases stay 1: LambdaMART on the raw clicks of each session.

**Rows are candidates, not impressions**: the LightGBM data set holds one row per ``(query,
document)`` of the feature table and the sessions index into it; a document's score is the same in
every session, so its gradient is the sum of its lambdas over the sessions that showed it. The trees
see the same gradient sums as with one row per impression, on a table 10-100x smaller.

Measured on SciFact's simulated log (``bench/online_ltr.py``, the same-log comparison): see
``bench/README.md``.

Example:
    >>> import numpy as np
    >>> batch = SessionBatch(rows=np.array([[0, 1], [1, 0]]), clicks=np.array([[0, 1], [1, 0]]),
    ...                      positions=np.array([[0, 1], [0, 1]]), mask=np.ones((2, 2), bool))
    >>> obj = UnbiasedLambdaMART(batch, n_rows=2, debias=False, lambda_norm=False)
    >>> grad, hess = obj(np.zeros(2), None)
    >>> grad.round(3).tolist()  # row 1 clicked in both sessions: 2 x |Delta nDCG| (1 - 1/log2 3) x 0.5
    [0.369, -0.369]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd

from distillrank.data.clicklog import ClickLog
from distillrank.data.ltr import LTRDataset
from distillrank.distillation.lgbm_student import BOOSTER_PARAMS
from distillrank.errors import DistillrankError

__all__ = [
    "BIAS_COSTS",
    "SESSION_LAMBDAMART_PARAMS",
    "SessionBatch",
    "UnbiasedLambdaMART",
    "choose_bias_cost",
    "fit_session_lambdamart",
    "sessions_from_log",
]

SESSION_LAMBDAMART_PARAMS: dict[str, Any] = {
    **BOOSTER_PARAMS,
    "learning_rate": 0.1,
    "num_leaves": 63,
    "max_depth": 6,
    "min_data_in_leaf": 1,
    "min_sum_hessian_in_leaf": 1.0,
    "bagging_fraction": 1.0,
    "bagging_freq": 0,
    "feature_fraction": 1.0,
}
"""The booster settings of :func:`fit_session_lambdamart`: those of the XGBoost Unbiased LambdaMART it is
compared with in ``bench/online_ltr.py`` (depth 6, eta 0.1, no row or feature subsampling, a leaf needs a
Hessian sum of 1: XGBoost's ``min_child_weight``), over distillrank's defaults."""

BiasCost = Literal["margin", "loss"]
BIAS_COSTS: tuple[str, ...] = ("margin", "loss")
"""What a pair contributes to the position-bias update (module docstring); the first is the objective's
default and wins ties in :func:`choose_bias_cost`."""

_CHUNK = 8192  # sessions per vectorised block: [chunk, K, K] pair arrays stay small


@dataclass(frozen=True)
class SessionBatch:
    """Sessions padded to ``K`` slots, ``[S, K]`` arrays.

    Attributes:
        rows: the row of the candidate table each slot shows (any value where ``mask`` is False).
        clicks: 1 where the slot was clicked.
        positions: 0-based rank of the slot on its page (capped by the objective at its last bias).
        mask: True where the slot holds a result.
    """

    rows: np.ndarray
    clicks: np.ndarray
    positions: np.ndarray
    mask: np.ndarray

    def __post_init__(self) -> None:
        shapes = {a.shape for a in (self.rows, self.clicks, self.positions, self.mask)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise ValueError(f"rows, clicks, positions and mask must be [S, K] arrays of one shape: {shapes}")
        if (self.positions[self.mask] < 0).any():
            raise ValueError("positions are 0-based ranks and must be >= 0")

    @property
    def n_sessions(self) -> int:
        return int(self.rows.shape[0])

    def pairs(self) -> int:
        """Clicked-unclicked pairs in all sessions."""
        c = (self.clicks > 0) & self.mask
        u = (self.clicks == 0) & self.mask
        return int((c.sum(axis=1) * u.sum(axis=1)).sum())


def sessions_from_log(log: ClickLog, features: LTRDataset) -> tuple[SessionBatch, np.ndarray]:
    """The sessions of ``log`` over the rows of ``features`` that they show.

    Slots whose ``(qid, docno)`` has no feature row are left out (as :func:`~distillrank.feedback.online.
    learn_from_log` ignores them); sessions that keep no clicked-unclicked pair are dropped (they carry
    no gradient).

    Returns:
        ``(batch, rows)``: the sessions, their ``rows`` indexing into ``rows`` — the feature rows used,
        in order (the LightGBM data set is ``features.X[rows]``).

    Raises:
        DistillrankError: features without docnos, or no session with a pair over the feature rows.
    """
    if features.docnos is None:
        raise DistillrankError("the features need docnos to be matched with the logged documents")
    df = log.df
    keys = pd.MultiIndex.from_arrays([features.qids.astype(str), features.docnos.astype(str)])
    if not keys.is_unique:
        dup = keys[keys.duplicated()][0]
        raise DistillrankError(
            f"{features.source or 'features'}: (qid {dup[0]!r}, docno {dup[1]!r}) has two feature rows"
        )
    found = keys.get_indexer(pd.MultiIndex.from_arrays([df["qid"].astype(str), df["docno"].astype(str)]))
    ok = found >= 0
    sub = pd.DataFrame(
        {
            "session": df["session_id"].to_numpy()[ok],
            "position": df["position"].to_numpy(dtype=np.int64)[ok],
            "click": df["click"].to_numpy(dtype=np.int8)[ok],
            "row": found[ok],
        }
    ).sort_values(["session", "position"], kind="stable")
    if len(sub) == 0:
        raise DistillrankError("no logged result has a feature row: the features share no query with the log")
    session = sub["session"].to_numpy()
    starts = np.flatnonzero(np.r_[True, session[1:] != session[:-1]])
    lengths = np.diff(np.r_[starts, len(sub)])
    slot = np.arange(len(sub)) - np.repeat(starts, lengths)
    s_idx = np.repeat(np.arange(len(starts)), lengths)
    n, k = len(starts), int(lengths.max())
    rows_g = np.zeros((n, k), dtype=np.int64)
    clicks = np.zeros((n, k), dtype=np.int8)
    positions = np.zeros((n, k), dtype=np.int64)
    mask = np.zeros((n, k), dtype=bool)
    rows_g[s_idx, slot] = sub["row"].to_numpy()
    clicks[s_idx, slot] = sub["click"].to_numpy()
    positions[s_idx, slot] = sub["position"].to_numpy() - 1
    mask[s_idx, slot] = True
    useful = ((clicks > 0) & mask).any(axis=1) & ((clicks == 0) & mask).any(axis=1)
    if not useful.any():
        raise DistillrankError(
            "no session has both a clicked and an unclicked result: no pairs to learn from"
        )
    rows_g, clicks, positions, mask = rows_g[useful], clicks[useful], positions[useful], mask[useful]
    used, compact = np.unique(rows_g[mask], return_inverse=True)
    local = np.zeros_like(rows_g)
    local[mask] = compact
    return SessionBatch(local, clicks, positions, mask), used


@dataclass
class UnbiasedLambdaMART:
    """A LightGBM custom objective ``(preds, data) -> (grad, hess)`` over the sessions of ``batch``
    (module docstring), learning the position biases ``t_plus`` and ``t_minus`` as it goes.

    Stateful by design: LightGBM calls it once per boosting iteration, and each call updates the biases
    from that iteration's pairs. ``copy.deepcopy`` (which ``lightgbm.train`` applies to its parameters)
    returns the object itself, so the biases it learned stay readable after training.

    Attributes:
        batch: the sessions.
        n_rows: rows of the LightGBM data set (``batch.rows`` index them).
        debias: learn the biases (False: LambdaMART on raw clicks, biases fixed at 1).
        bias_norm: ``p`` of the Lp regulariser on the biases (exponent ``1 / (p + 1)``).
        lambda_norm: rescale each session's lambdas by ``log2(1 + sum) / sum``.
        sigma: the logistic's steepness.
        score_norm: divide each pair's ``|Delta nDCG|`` by ``|s_i - s_j| + 0.01`` (module docstring).
        bias_cost: what a pair adds to the bias update, :data:`BIAS_COSTS` (module docstring).
        n_positions: ranks with their own bias (deeper ranks share the last one; default: the
            deepest rank in the sessions).
        selection: with ``bias_cost="auto"`` in :func:`fit_session_lambdamart`, each cost's held-out
            utility (:func:`choose_bias_cost`).
    """

    batch: SessionBatch
    n_rows: int
    debias: bool = True
    bias_norm: float = 1.0
    lambda_norm: bool = True
    sigma: float = 1.0
    score_norm: bool = False
    bias_cost: BiasCost = "margin"
    n_positions: int | None = None
    t_plus: np.ndarray = field(init=False, repr=False)
    t_minus: np.ndarray = field(init=False, repr=False)
    iterations: int = field(default=0, init=False)
    selection: dict[str, float] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not self.sigma > 0:
            raise ValueError(f"sigma must be > 0, got {self.sigma}")
        if self.bias_cost not in BIAS_COSTS:
            raise ValueError(f"bias_cost must be one of {BIAS_COSTS}, got {self.bias_cost!r}")
        if not self.bias_norm >= 0:
            raise ValueError(f"bias_norm must be >= 0, got {self.bias_norm}")
        b = self.batch
        deepest = int(b.positions[b.mask].max()) + 1 if b.mask.any() else 1
        if self.n_positions is None:
            self.n_positions = deepest
        if self.n_positions < 1:
            raise ValueError(f"n_positions must be >= 1, got {self.n_positions}")
        if b.mask.any() and int(b.rows[b.mask].max()) >= self.n_rows:
            raise ValueError(f"the sessions index row {int(b.rows[b.mask].max())} of {self.n_rows}")
        self.t_plus = np.ones(self.n_positions)
        self.t_minus = np.ones(self.n_positions)
        k = b.rows.shape[1]
        self._discount = 1.0 / np.log2(np.arange(k) + 2.0)
        self._ideal = np.cumsum(self._discount)

    def __deepcopy__(self, memo: dict[int, Any]) -> UnbiasedLambdaMART:
        return self

    def __call__(self, preds: np.ndarray, data: Any) -> tuple[np.ndarray, np.ndarray]:
        preds = np.asarray(preds, dtype=np.float64).reshape(-1)
        grad = np.zeros(self.n_rows)
        hess = np.zeros(self.n_rows)
        cost_plus = np.zeros(len(self.t_plus))
        cost_minus = np.zeros(len(self.t_minus))
        for start in range(0, self.batch.n_sessions, _CHUNK):
            self._chunk(preds, slice(start, start + _CHUNK), grad, hess, cost_plus, cost_minus)
        if self.debias:
            self._update_biases(cost_plus, cost_minus)
        self.iterations += 1
        return grad, np.maximum(hess, 1e-9)

    def _chunk(
        self,
        preds: np.ndarray,
        part: slice,
        grad: np.ndarray,
        hess: np.ndarray,
        cost_plus: np.ndarray,
        cost_minus: np.ndarray,
    ) -> None:
        b = self.batch
        rows, mask = b.rows[part], b.mask[part]
        clicked = (b.clicks[part] > 0) & mask
        pos = np.minimum(b.positions[part], len(self.t_plus) - 1)
        n, k = rows.shape
        s = np.where(mask, preds[rows], 0.0)
        # rank of every slot in its session by the current scores (empty slots last)
        order = np.argsort(np.where(mask, -s, np.inf), axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.broadcast_to(np.arange(k), (n, k)), axis=1)
        disc = self._discount[rank]
        n_clicks = clicked.sum(axis=1)
        ideal = self._ideal[np.maximum(n_clicks, 1) - 1]
        pair = clicked[:, :, None] & (mask & ~clicked)[:, None, :]
        delta = np.abs(disc[:, :, None] - disc[:, None, :]) / ideal[:, None, None]
        gap = s[:, :, None] - s[:, None, :]
        diff = self.sigma * gap
        if self.score_norm:
            delta = delta / (np.abs(gap) + 0.01)
        rho = 0.5 * (1.0 - np.tanh(0.5 * diff))  # 1 / (1 + exp(diff)), without overflow
        bias = self.t_plus[pos][:, :, None] * self.t_minus[pos][:, None, :]
        w = np.where(pair, delta / bias, 0.0)
        lam = self.sigma * w * rho
        h = self.sigma**2 * w * rho * (1.0 - rho)
        if self.lambda_norm:
            total = lam.sum(axis=(1, 2))
            factor = np.where(total > 0, np.log2(1.0 + total) / np.where(total > 0, total, 1.0), 0.0)
            lam *= factor[:, None, None]
            h *= factor[:, None, None]
        g_slot = -lam.sum(axis=2) + lam.sum(axis=1)
        h_slot = h.sum(axis=2) + h.sum(axis=1)
        grad += np.bincount(rows[mask], g_slot[mask], minlength=self.n_rows)
        hess += np.bincount(rows[mask], h_slot[mask], minlength=self.n_rows)
        if self.debias:
            margin = -diff if self.bias_cost == "loss" else diff
            cost = np.where(pair, delta * np.logaddexp(0.0, margin), 0.0)
            pi = np.broadcast_to(pos[:, :, None], cost.shape)[pair]
            pj = np.broadcast_to(pos[:, None, :], cost.shape)[pair]
            c = cost[pair]
            m = len(cost_plus)
            cost_plus += np.bincount(pi, c / self.t_minus[pj], minlength=m)
            cost_minus += np.bincount(pj, c / self.t_plus[pi], minlength=m)

    def _update_biases(self, cost_plus: np.ndarray, cost_minus: np.ndarray) -> None:
        exponent = 1.0 / (self.bias_norm + 1.0)
        for t, cost in ((self.t_plus, cost_plus), (self.t_minus, cost_minus)):
            if cost[0] <= 0:
                continue
            seen = cost > 0  # ranks without pairs keep their bias
            t[seen] = (cost[seen] / cost[0]) ** exponent


def fit_session_lambdamart(
    log: ClickLog,
    features: LTRDataset,
    *,
    debias: bool = True,
    num_boost_round: int = 200,
    params: dict[str, Any] | None = None,
    bias_norm: float = 1.0,
    lambda_norm: bool = True,
    score_norm: bool = False,
    bias_cost: BiasCost | Literal["auto"] = "auto",
    n_positions: int | None = None,
    held_out: float = 0.2,
    seed: int = 0,
) -> tuple[lgb.Booster, UnbiasedLambdaMART]:
    """Train a LightGBM ranker on the sessions of ``log`` with :class:`UnbiasedLambdaMART`.

    Args:
        log: the click log (sessions with positions and clicks).
        features: candidates with ``qids`` and ``docnos``; the ranker scores any rows with these
            features.
        debias: learn the position biases (False: LambdaMART on raw clicks).
        num_boost_round: boosting rounds.
        params: LightGBM parameters over :data:`SESSION_LAMBDAMART_PARAMS` (not the objective).
        bias_norm, lambda_norm, score_norm, bias_cost, n_positions: see :class:`UnbiasedLambdaMART`;
            ``bias_cost="auto"`` chooses it on held-out sessions (:func:`choose_bias_cost`; the
            objective's ``selection`` then holds each cost's held-out utility).
        held_out, seed: the share of sessions held out, and the seed that draws them (``"auto"`` only).

    Returns:
        ``(booster, objective)``: the ranker, and the objective with its learned ``t_plus`` and
        ``t_minus``.

    Raises:
        DistillrankError: see :func:`sessions_from_log`.
        ValueError: ``params`` sets the objective.
    """
    if params and "objective" in params:
        raise ValueError("params must not set the objective: this learner is the objective")
    selection: dict[str, float] | None = None
    if bias_cost == "auto" and not debias:
        bias_cost = "margin"  # the biases stay 1: the cost plays no part
    elif bias_cost == "auto":
        bias_cost, selection = choose_bias_cost(
            log,
            features,
            held_out=held_out,
            seed=seed,
            num_boost_round=num_boost_round,
            params=params,
            bias_norm=bias_norm,
            lambda_norm=lambda_norm,
            score_norm=score_norm,
            n_positions=n_positions,
        )
    elif bias_cost not in BIAS_COSTS:
        raise ValueError(f"bias_cost must be one of {', '.join(BIAS_COSTS)} or 'auto', got {bias_cost!r}")
    batch, rows = sessions_from_log(log, features)
    objective = UnbiasedLambdaMART(
        batch,
        n_rows=len(rows),
        debias=debias,
        bias_norm=bias_norm,
        lambda_norm=lambda_norm,
        score_norm=score_norm,
        bias_cost=bias_cost,
        n_positions=n_positions,
    )
    objective.selection = selection
    booster = lgb.train(
        {**SESSION_LAMBDAMART_PARAMS, **(params or {}), "objective": objective},
        lgb.Dataset(features.X[rows]),
        num_boost_round=num_boost_round,
    )
    return booster, objective


def choose_bias_cost(
    log: ClickLog,
    features: LTRDataset,
    *,
    held_out: float = 0.2,
    seed: int = 0,
    k: int = 10,
    **options: Any,
) -> tuple[BiasCost, dict[str, float]]:
    """The bias cost (:data:`BIAS_COSTS`) whose ranker does best on held-out sessions, from clicks alone.

    A share ``held_out`` of the sessions, drawn with ``seed``, is set aside; a ranker is fitted with each
    cost on the others (:func:`fit_session_lambdamart` with ``options``) and scored by its counterfactual
    utility on the held-out sessions, ``mean_q sum_{r <= k} alpha_r IPS(q, d_r)``
    (:func:`~distillrank.feedback.online.offline.utility`; ``alpha`` by EM regression on the whole log).
    Ties go to the default, the first cost.

    Returns:
        ``(cost, {cost: held-out utility})``.

    Raises:
        ValueError: ``held_out`` is not in (0, 1).
        DistillrankError: too few sessions to hold some out, or see :func:`sessions_from_log`.
    """
    # the online package builds on this module: imported here, not at the top
    from distillrank.data.run import Run
    from distillrank.feedback.online.offline import estimate_propensities, utility
    from distillrank.pipeline.ranker import by_query

    if not 0 < held_out < 1:
        raise ValueError(f"held_out must be in (0, 1), got {held_out}")
    sessions = log.df["session_id"].unique()
    held = np.random.default_rng(seed).random(len(sessions)) < held_out
    if held.all() or not held.any():
        raise DistillrankError(f"{len(sessions)} session(s): too few to hold out {held_out:.0%} of them")
    in_held = log.df["session_id"].isin(sessions[held]).to_numpy()
    fit_log = log.with_rows(log.df[~in_held].reset_index(drop=True))
    held_log = log.with_rows(log.df[in_held].reset_index(drop=True))
    alpha = estimate_propensities(log, max_rank=k)
    values: dict[str, float] = {}
    for cost in BIAS_COSTS:
        booster, _ = fit_session_lambdamart(fit_log, features, bias_cost=cost, **options)  # type: ignore[arg-type]
        # utility reads the held-out log's queries only
        run = Run.from_trusted(by_query(features, np.asarray(booster.predict(features.X))), name=cost)
        values[cost] = utility(run, held_log, alpha, k=k)
    best = max(BIAS_COSTS, key=lambda c: values[c])
    return best, values  # type: ignore[return-value]
