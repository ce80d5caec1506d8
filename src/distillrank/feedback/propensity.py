"""Position-bias (propensity) estimation under the position-based model.

Every estimator returns relative propensities ``p_k / p_1`` for ranks ``1..K`` — an array whose first
entry is 1 — because clicks only identify examination up to a common factor (see
:mod:`~distillrank.feedback.click_models.pbm`). Ranks the data say nothing about are NaN.

From randomised interventions (Joachims, Swaminathan and Schnabel, WSDM 2017), with logs simulated by
:class:`~distillrank.feedback.simulation.ClickSimulator` with an ``intervention``:

* :class:`RandTopNEstimator` — under RandTop-n every position of the top ``n`` shows documents of the
  same expected relevance, so ``p_k / p_1 = CTR_k / CTR_1``.
* :class:`SwapEstimator` — sessions swap rank 1 with rank ``j`` drawn uniformly from ``1..n``
  (column ``swap_rank``; 1 means no swap). With ``d_1``, ``d_k`` the logger's results at ranks 1 and
  ``k``, ``CTR(rank k | swap k) = p_k r(d_1)`` and ``CTR(rank 1 | no swap) = p_1 r(d_1)``, whose ratio is
  Joachims et al.'s estimate (``symmetric=False``). By default both documents of the swap are used:
  ``[CTR(rank k | swap k) + CTR(rank k | swap != k)] / [CTR(rank 1 | no swap) + CTR(rank 1 | swap k)]``
  ``= p_k (r(d_1) + r(d_k)) / (p_1 (r(d_1) + r(d_k)))`` in expectation, with less variance.

From ordinary logs:

* :class:`EMRegressionEstimator` — Wang, Golbandi, Bendersky, Metzler and Najork (WSDM 2018): EM on
  ``P(C) = theta_k * gamma_qd``. We use the per-``(query, document)`` relevance version (no features),
  which is exactly PBM's EM (:class:`~distillrank.feedback.click_models.PBM`) with a weak prior. It is
  only identified when pairs are shown at several ranks (several loggers, or some randomisation).
* :class:`AllPairsEstimator` — intervention harvesting, Agarwal, Zaitsev, Wang, Li, Najork and
  Joachims (WSDM 2019): a pair ``(q, d)`` shown at ranks ``k`` and ``k'`` by different loggers is a
  natural swap. With ``CTR_k(q, d)`` its click rate at rank ``k`` and ``S_kk'`` the pairs seen at both,
  ``c_kk' = sum_{S_kk'} CTR_k(q, d)`` and ``n_kk' = |S_kk'|`` (each pair weighted once at each of its
  two ranks, so both sums see the same documents), and the *AllPairs extremum estimator* maximises::

      sum_{k != k'} c_kk' log(p_k r_kk') + (n_kk' - c_kk') log(1 - p_k r_kk')

  over ``p`` and symmetric ``r_kk' = r_k'k`` (the mean relevance of ``S_kk'``), by L-BFGS on logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from distillrank.data.clicklog import ClickLog
from distillrank.feedback.click_models.pbm import PBM

__all__ = [
    "PROPENSITY_ESTIMATORS",
    "AllPairsEstimator",
    "EMRegressionEstimator",
    "PropensityEstimator",
    "RandTopNEstimator",
    "SwapEstimator",
    "propensity_errors",
]


class PropensityEstimator(Protocol):
    def estimate(self, log: ClickLog) -> np.ndarray:
        """Relative propensities ``p_k / p_1`` of ranks ``1..K`` (entry 0 is 1)."""
        ...


def _check(log: ClickLog) -> pd.DataFrame:
    if len(log.df) == 0:
        raise ValueError("the click log is empty")
    return log.df


def _normalise(p: np.ndarray, what: str) -> np.ndarray:
    if not p[0] > 0:
        raise ValueError(f"{what}: no clicks at rank 1, so propensities cannot be normalised by p_1")
    return p / p[0]


def _check_n(n: int | None) -> None:
    if n is not None and (int(n) != n or n < 2):
        raise ValueError(f"n must be an integer >= 2, got {n!r}")


@dataclass(frozen=True)
class RandTopNEstimator:
    """``p_k / p_1 = CTR_k / CTR_1`` over the top ``n`` of a RandTop-n log."""

    n: int = 10

    def __post_init__(self) -> None:
        _check_n(self.n)

    def estimate(self, log: ClickLog) -> np.ndarray:
        df = _check(log)
        df = df[df["position"] <= self.n]
        pos = df["position"].to_numpy() - 1
        shown = np.bincount(pos, minlength=self.n).astype(float)
        clicks = np.bincount(pos, df["click"].to_numpy(), minlength=self.n)
        with np.errstate(invalid="ignore", divide="ignore"):
            ctr = np.where(shown > 0, clicks / shown, np.nan)
        return _normalise(ctr, "RandTopNEstimator")


@dataclass(frozen=True)
class SwapEstimator:
    """Swap-intervention estimate from a log with a ``swap_rank`` column (see the module docstring).

    Attributes:
        symmetric: use both swapped documents (default) or only the logger's top result.
    """

    symmetric: bool = True

    def estimate(self, log: ClickLog) -> np.ndarray:
        df = _check(log)
        if "swap_rank" not in df.columns:
            raise ValueError(
                "SwapEstimator needs a 'swap_rank' column (1 = no swap): simulate with SwapWithTop"
            )
        n = int(df["swap_rank"].max())
        pos = df["position"].to_numpy()
        swap = df["swap_rank"].to_numpy()
        click = df["click"].to_numpy().astype(float)

        def ctr(sel: np.ndarray) -> float:
            return float(click[sel].mean()) if sel.any() else np.nan

        at1 = pos == 1
        out = np.full(n, np.nan)
        out[0] = 1.0
        base = ctr(at1 & (swap == 1))
        for k in range(2, n + 1):
            atk = pos == k
            if self.symmetric:
                num = ctr(atk & (swap == k)) + ctr(atk & (swap != k))
                den = base + ctr(at1 & (swap == k))
            else:
                num, den = ctr(atk & (swap == k)), base
            out[k - 1] = num / den if den > 0 else np.nan
        return out


def _identifiable(df: pd.DataFrame) -> None:
    ranks = df.groupby(["qid", "docno"], sort=False)["position"].nunique()
    if not (ranks > 1).any():
        raise ValueError(
            "no (qid, docno) pair is shown at two different ranks, so position bias cannot be told from "
            "relevance: use a log with interventions or several logging rankers"
        )


@dataclass(frozen=True)
class EMRegressionEstimator:
    """Wang et al. (2018) EM with per-``(query, document)`` relevance (PBM's EM), ranks ``1..max_rank``.

    Attributes:
        max_rank: deepest rank used (default: every rank of the log).
        prior: Beta pseudo-counts of the EM estimates (weak, so rare pairs do not pull the curve).
    """

    max_rank: int | None = None
    max_iter: int = 2000
    tol: float = 1e-7
    prior: tuple[float, float] = (0.01, 0.01)

    def __post_init__(self) -> None:
        _check_n(self.max_rank)

    def estimate(self, log: ClickLog) -> np.ndarray:
        df = _check(log)
        if self.max_rank is not None:
            df = df[df["position"] <= self.max_rank]
        _identifiable(df)
        pbm = PBM(prior=self.prior).fit(log.with_rows(df), max_iter=self.max_iter, tol=self.tol)
        assert pbm.examination is not None
        return _normalise(pbm.examination.copy(), "EMRegressionEstimator")


@dataclass(frozen=True)
class AllPairsEstimator:
    """Intervention harvesting with the AllPairs extremum estimator (see the module docstring).

    Attributes:
        max_rank: deepest rank estimated.
    """

    max_rank: int = 10

    def __post_init__(self) -> None:
        _check_n(self.max_rank)

    def interventional_counts(self, log: ClickLog) -> tuple[np.ndarray, np.ndarray]:
        """``(c, n)``: ``[K, K]`` harvested clicks ``c_kk'`` and pair counts ``n_kk'`` (0-based ranks)."""
        df = _check(log)
        df = df[df["position"] <= self.max_rank]
        g = df.groupby(["qid", "docno", "position"], sort=False)["click"].mean().rename("ctr").reset_index()
        m = g.merge(g, on=["qid", "docno"], suffixes=("_a", "_b"))
        m = m[m["position_a"] != m["position_b"]]
        k = self.max_rank
        a = m["position_a"].to_numpy() - 1
        b = m["position_b"].to_numpy() - 1
        c = np.zeros((k, k))
        n = np.zeros((k, k))
        np.add.at(c, (a, b), m["ctr_a"].to_numpy())
        np.add.at(n, (a, b), 1.0)
        return c, n

    def estimate(self, log: ClickLog) -> np.ndarray:
        c, n = self.interventional_counts(log)
        if not n.any():
            _identifiable(log.df)
        k = self.max_rank
        iu = np.triu_indices(k, 1)
        used = (n[iu] > 0) | (n.T[iu] > 0)
        pi, pj = iu[0][used], iu[1][used]
        n_r = len(pi)

        def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            p = 1 / (1 + np.exp(-x[:k]))
            r = np.zeros((k, k))
            rv = 1 / (1 + np.exp(-x[k:]))
            r[pi, pj] = rv
            r[pj, pi] = rv
            return p, r

        def nll(x: np.ndarray) -> tuple[float, np.ndarray]:
            p, r = unpack(x)
            q = np.clip(p[:, None] * r, 1e-12, 1 - 1e-12)
            ll = c * np.log(q) + (n - c) * np.log(1 - q)
            d = c / q - (n - c) / (1 - q)  # dLL/dq
            g_p = (d * q).sum(axis=1) * (1 - p)
            g_rm = d * q * (1 - r)
            g_r = g_rm[pi, pj] + g_rm[pj, pi]
            return -float(ll.sum()), -np.concatenate([g_p, g_r])

        with np.errstate(invalid="ignore", divide="ignore"):
            ctr = np.where(n > 0, c / n, np.nan)
        start_p = np.nan_to_num(np.nanmean(ctr, axis=1), nan=0.1)
        x0 = np.concatenate(
            [np.log(np.clip(start_p, 1e-3, 0.5) / (1 - np.clip(start_p, 1e-3, 0.5))), np.zeros(n_r)]
        )
        res = minimize(nll, x0, jac=True, method="L-BFGS-B", options={"maxiter": 5000})
        p, _ = unpack(res.x)
        seen = n.sum(axis=1) > 0
        p = np.where(seen, p, np.nan)
        return _normalise(p, "AllPairsEstimator")


PROPENSITY_ESTIMATORS: dict[str, type] = {
    "randtop": RandTopNEstimator,
    "swap": SwapEstimator,
    "em": EMRegressionEstimator,
    "allpairs": AllPairsEstimator,
}
"""Propensity estimators by name."""


def propensity_errors(estimate: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Errors of relative propensities over ranks ``2..K`` (rank 1 is 1 by construction):
    ``mae`` (mean absolute error) and ``max_rel`` (max of ``|estimate - truth| / truth``)."""
    est = np.asarray(estimate, float)[1:]
    tru = (np.asarray(truth, float) / truth[0])[1 : len(estimate)]
    err = np.abs(est - tru)
    return {"mae": float(np.mean(err)), "max_rel": float(np.max(err / tru))}
