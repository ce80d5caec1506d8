r"""Learning from a click log that is already there: a real one (Yandex WSCD, any log the data layer
reads) or the store of a simulated run.

:func:`pair_statistics` aggregates a :class:`~distillrank.data.clicklog.ClickLog` per
``(qid, docno)``: clicks ``C``, impressions, exposure ``E = sum alpha_{position}`` (relative propensities
of the shown ranks, estimated by EM regression, Wang et al. 2018, unless given) and the query's session
count ``N``. A log records the ranks that were shown, not the policy that chose them, so the expected
exposure is taken to be the realised one (``P = E``): IPS and SNIPS coincide, and the doubly robust
estimate differs from IPS where clipping applies and on candidates the log never showed.

:func:`learn_from_log` turns the statistics into relevance estimates (:mod:`distillrank.feedback.unbiased`)
and either keeps them as the ranking (no features: each query's logged documents ordered by estimated
relevance) or, given a feature table of candidates, trains a LightGBM ranker on them with the objective
chosen by name (:func:`~distillrank.feedback.unbiased.lgbm.lgbm_setup`: the listwise softmax by
default, or LambdaMART with the estimates as gains), on every candidate of the logged queries or only on those
the log showed (``candidates``, by default chosen per estimator: ``naive``, ``ips`` and ``snips`` on the
shown ones, ``dr`` on all — :func:`~distillrank.feedback.unbiased.lgbm.training_candidates`; ``dr``
needs features: its click-regression model predicts from them).

:func:`utility` evaluates a ranking counterfactually on a held-out log: the PBM utility
``sum_{r <= k} alpha_r r^(q, d_r)`` (the expected clicks of the ranking, relative to rank 1's
examination) with ``r^`` the held-out IPS estimates, averaged over the held-out queries; documents the
held-out log never showed count 0.

Example:
    >>> import pandas as pd
    >>> from distillrank.data.clicklog import ClickLog
    >>> log = ClickLog(pd.DataFrame({"session_id": [0, 0, 1, 1], "qid": ["q"] * 4, "position": [1, 2] * 2,
    ...     "docno": ["a", "b", "b", "a"], "click": [0, 1, 1, 0], "propensity": [float("nan")] * 4}))
    >>> ranker = learn_from_log(log, "ips", propensities=[1.0, 0.5])
    >>> ranker.table[["docno", "clicks", "exposure", "relevance"]].round(3).values.tolist()
    [['a', 0.0, 1.5, 0.0], ['b', 2.0, 1.5, 1.333]]
    >>> [d for d, _ in ranker.run().ranked("q")]
    ['b', 'a']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from distillrank.data.clicklog import ClickLog
from distillrank.data.ltr import LTRDataset
from distillrank.data.run import Run
from distillrank.errors import DataFormatError, DistillrankError
from distillrank.feedback.propensity import EMRegressionEstimator
from distillrank.feedback.unbiased.estimators import ClickStats, get_estimator
from distillrank.feedback.unbiased.lgbm import (
    CandidateSet,
    ClickRegression,
    LGBMObjective,
    lgbm_setup,
    training_candidates,
)
from distillrank.pipeline.ranker import by_query

__all__ = [
    "LoggedRanker",
    "check_feature_coverage",
    "estimate_propensities",
    "learn_from_log",
    "logged_propensities",
    "pair_statistics",
    "propensities_of",
    "utility",
]

NOISE_QUANTILE = 0.05
"""The quantile of the click-regression rates taken as the noise floor (as in the loop)."""


def estimate_propensities(log: ClickLog, max_rank: int = 10) -> np.ndarray:
    """Relative propensities ``p_k / p_1`` of ranks ``1..max_rank`` by EM regression on ``log``.

    Raises:
        DistillrankError: the log cannot identify position bias (every pair shown at one rank only).
    """
    where = log.source or "the click log"
    if len(log.df) and not log.df["click"].any():
        raise DistillrankError(
            f"{where}: no click in {log.df['session_id'].nunique():,} sessions: nothing to estimate "
            "propensities or relevance from"
        )
    if len(log.df) and (low := int(log.df["position"].min())) > max_rank:
        high = int(log.df["position"].max())
        raise DistillrankError(
            f"{where}: the log shows positions {low}..{high} only (a later page?), none of the top "
            f"{max_rank} whose propensities are estimated: a log of the first page is needed"
        )
    depth = int(min(max_rank, log.df["position"].max())) if len(log.df) else 2
    try:
        return EMRegressionEstimator(max_rank=max(depth, 2), max_iter=500, tol=1e-6).estimate(log)
    except DataFormatError:  # the log itself is malformed: its own error names the file and session
        raise
    except ValueError as e:
        raise DistillrankError(
            f"{where}: cannot estimate propensities from this log: {e} (in Python, learn_from_log(..., "
            "propensities=...) takes known ones)"
        ) from e


def logged_propensities(log: ClickLog, max_rank: int = 10) -> np.ndarray | None:
    """Relative propensities ``p_k / p_1`` read from the log's own ``propensity`` column, when every row
    has one in ``(0, 1]`` and they depend on the rank only (a position-based model the logging system
    knew, from interventions say); ``None`` otherwise (the column absent, partly empty, or varying within
    a rank: per-session propensities, which these estimates do not take).
    """
    df = log.df
    if "propensity" not in df.columns or not len(df):
        return None
    p = pd.to_numeric(df["propensity"], errors="coerce").to_numpy(dtype=np.float64)
    if not (np.isfinite(p).all() and (p > 0).all() and (p <= 1).all()):
        return None
    pos = df["position"].to_numpy(dtype=np.int64)
    depth = int(min(max_rank, pos.max()))
    by_rank = pd.Series(p).groupby(pos)
    if (by_rank.max() - by_rank.min()).max() > 1e-9 or 1 not in by_rank.groups:
        return None
    first = by_rank.first()
    curve = np.array([first.get(k, np.nan) for k in range(1, max(depth, 2) + 1)], dtype=np.float64)
    if not np.isfinite(curve).all():
        return None
    return curve / curve[0]


def propensities_of(log: ClickLog, max_rank: int = 10) -> tuple[np.ndarray, bool]:
    """The relative propensities of ``log``: its own (:func:`logged_propensities`) where it carries a
    per-rank curve, else :func:`estimate_propensities`; and whether they came from the log."""
    logged = logged_propensities(log, max_rank)
    return (estimate_propensities(log, max_rank), False) if logged is None else (logged, True)


def _alpha(propensities: Sequence[float] | np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``alpha`` of each 1-based position; positions past the curve get its last value."""
    p = np.asarray(propensities, dtype=np.float64)
    if p.ndim != 1 or len(p) == 0 or not np.isfinite(p).all() or (p <= 0).any():
        raise ValueError("propensities must be a non-empty sequence of positive numbers")
    return p[np.minimum(positions, len(p)) - 1]


def pair_statistics(log: ClickLog, propensities: Sequence[float] | np.ndarray) -> pd.DataFrame:
    """Per ``(qid, docno)``: ``clicks``, ``impressions``, ``exposure`` and the query's ``sessions``."""
    df = log.df
    if len(df) == 0:
        raise ValueError("the click log is empty")
    alpha = _alpha(propensities, df["position"].to_numpy(dtype=np.int64))
    work = pd.DataFrame(
        {
            "qid": df["qid"].astype(str).to_numpy(),
            "docno": df["docno"].astype(str).to_numpy(),
            "click": df["click"].to_numpy(dtype=np.float64),
            "alpha": alpha,
        }
    )
    table = (
        work.groupby(["qid", "docno"], sort=True)
        .agg(clicks=("click", "sum"), impressions=("click", "size"), exposure=("alpha", "sum"))
        .reset_index()
    )
    sessions = df.groupby(df["qid"].astype(str))["session_id"].nunique()
    table["sessions"] = table["qid"].map(sessions).astype(np.float64)
    table["impressions"] = table["impressions"].astype(np.int64)
    return table


@dataclass
class LoggedRanker:
    """What :func:`learn_from_log` learned.

    Attributes:
        estimator: the estimator's name.
        propensities: the relative propensities used.
        table: per ``(qid, docno)`` of the log: ``clicks``, ``impressions``, ``exposure``, ``sessions``
            and the estimated ``relevance``.
        booster: the LightGBM ranker, when trained on features.
    """

    estimator: str
    propensities: np.ndarray
    table: pd.DataFrame
    booster: lgb.Booster | None = None

    def run(self, features: LTRDataset | None = None, name: str | None = None) -> Run:
        """The ranking: the booster's scores of ``features`` (with docnos) when there is a booster,
        else each logged query's documents by estimated relevance."""
        label = name or f"clicks-{self.estimator}"
        if self.booster is not None:
            if features is None or features.docnos is None:
                raise ValueError("a ranker trained on features needs the features (with docnos) to rank")
            scores = np.asarray(self.booster.predict(features.X), dtype=np.float64)
            return Run.from_trusted(by_query(features, scores), name=label)
        out: dict[str, dict[str, float]] = {}
        for q, d, r in zip(self.table["qid"], self.table["docno"], self.table["relevance"], strict=True):
            out.setdefault(q, {})[d] = float(r)
        return Run.from_trusted(out, name=label)


def learn_from_log(
    log: ClickLog,
    estimator: str = "ips",
    *,
    propensities: Sequence[float] | np.ndarray | None = None,
    features: LTRDataset | None = None,
    clip: float = 0.1,
    num_boost_round: int = 300,
    params: dict[str, Any] | None = None,
    regression_rounds: int = 100,
    objective: LGBMObjective = "softmax",
    candidates: CandidateSet = "auto",
    noise_correction: bool = True,
) -> LoggedRanker:
    """Relevance estimates (and, with ``features``, a LightGBM ranker) from a click log.

    Args:
        estimator: ``naive``, ``ips``, ``snips`` or ``dr`` (``dr`` needs ``features``).
        propensities: relative propensities of ranks 1.. (default: EM regression on the log).
        features: candidates with ``qids`` and ``docnos``; logged pairs without a row are ignored,
            rows the log never showed get no clicks and no exposure.
        clip, num_boost_round, params, regression_rounds, objective, candidates: see
            :class:`~.loop.OnlineConfig`.
        noise_correction: with features, ``ips``, ``snips`` and ``dr`` subtract the expected noise
            clicks ``B = f E`` (Vardasbi et al. 2020), ``f`` the 5th percentile of the click-regression
            model's rate over the shown candidates — the loop's ``noise="estimate"``.

    Raises:
        TypeError: ``log`` is not a :class:`ClickLog` (a loaded dataset rather than one of its splits).
        ValueError: ``candidates`` not ``"auto"``, ``"all"`` or ``"shown"``.
        DistillrankError: ``full_info`` (a log has no true labels), ``dr`` without features, features
            without docnos or sharing no query with the log.
    """
    from distillrank.feedback.online.config import DEFAULT_LGBM_PARAMS

    ClickLog.check(log, "learn_from_log")
    mode = training_candidates(estimator, candidates)
    if estimator == "full_info":
        raise DistillrankError("a click log has no true labels: choose naive, ips, snips or dr")
    if estimator == "dr" and features is None:
        raise DistillrankError(
            "the doubly robust estimator needs features for its click model (features=; --features on the "
            "command line)"
        )
    est = get_estimator(estimator, clip=clip)
    alpha = estimate_propensities(log) if propensities is None else np.asarray(propensities, dtype=float)
    table = pair_statistics(log, alpha)
    if features is None:
        stats = ClickStats(
            table["clicks"].to_numpy(), table["exposure"].to_numpy(), None, table["sessions"].to_numpy()
        )
        table["relevance"] = est.relevance(stats)
        return LoggedRanker(estimator, alpha, table)

    check_feature_coverage(log, features)
    assert features.docnos is not None  # checked above
    sessions = table.groupby("qid")["sessions"].first()
    keyed = table.set_index(["qid", "docno"])
    qids = features.qids.astype(str)
    keep = np.isin(qids, sessions.index.to_numpy())
    rows = np.flatnonzero(keep)
    idx = pd.MultiIndex.from_arrays([qids[rows], features.docnos[rows].astype(str)])
    found = keyed.reindex(idx)
    clicks = found["clicks"].fillna(0.0).to_numpy()
    exposure = found["exposure"].fillna(0.0).to_numpy()
    n = sessions.reindex(qids[rows]).to_numpy(dtype=np.float64)
    predicted = None
    X = features.X[rows]
    seen = exposure > 0
    noise = None
    if estimator == "dr" or (estimator != "naive" and noise_correction):
        model = ClickRegression(num_boost_round=regression_rounds)
        model.fit(X[np.flatnonzero(seen)], clicks[seen], exposure[seen])
        predicted = model.predict(X)
        floor = float(np.quantile(predicted[seen], NOISE_QUANTILE)) if noise_correction else 0.0
        if estimator != "naive" and floor > 0:
            noise = floor * exposure
            predicted = predicted - floor
    rel = np.asarray(est.relevance(ClickStats(clicks, exposure, None, n, noise), predicted=predicted))
    fit = np.flatnonzero(exposure > 0) if mode == "shown" else np.arange(len(rows))
    fq = qids[rows][fit]
    group = np.diff(np.flatnonzero(np.r_[True, fq[1:] != fq[:-1], True]))
    setup, label = lgbm_setup(rel[fit], group, objective)
    booster = lgb.train(
        {**DEFAULT_LGBM_PARAMS, **(params or {}), **setup},
        lgb.Dataset(X[fit], label=label, group=group),
        num_boost_round=num_boost_round,
    )
    out = table.merge(
        pd.DataFrame({"qid": idx.get_level_values(0), "docno": idx.get_level_values(1), "relevance": rel}),
        on=["qid", "docno"],
        how="left",
    )
    return LoggedRanker(estimator, alpha, out, booster)


def check_feature_coverage(log: ClickLog, features: LTRDataset) -> str | None:
    """Whether the feature rows cover the logged documents of the queries the two share.

    Returns:
        ``None`` when every logged ``(qid, docno)`` of those queries has a feature row and every logged
        query has some, else a sentence saying how many queries have none and how many pairs do not
        (they are ignored by :func:`learn_from_log` and
        :func:`~distillrank.feedback.unbiased.fit_session_lambdamart`), with the first one.

    Raises:
        DistillrankError: features without docnos, sharing no query with the log, or none of whose rows
            is a logged document of a shared query (the document ids of the two do not match).
    """
    if features.docnos is None:
        raise DistillrankError("the features need docnos to be matched with the logged documents")
    where = features.source or "the features"
    df = log.df
    logged = pd.MultiIndex.from_arrays([df["qid"].astype(str), df["docno"].astype(str)]).unique()
    rows = pd.MultiIndex.from_arrays([features.qids.astype(str), features.docnos.astype(str)])
    shared = logged.get_level_values(0).isin(rows.get_level_values(0))
    if not shared.any():
        raise DistillrankError(f"{where}: the features share no query with the click log")
    unranked = logged[~shared].get_level_values(0).unique()
    n_queries = len(logged.get_level_values(0).unique())
    no_rows = (
        f"{where}: {len(unranked):,} of the click log's {n_queries:,} queries have no feature row at all "
        f"(first: {unranked[0]!r}): the rankers learnt on features rank nothing for them"
        if len(unranked)
        else None
    )
    logged = logged[shared]
    missing = logged[~logged.isin(rows)]
    if len(missing) == 0:
        return no_rows
    q, d = missing[0]
    like = rows[rows.get_level_values(0) == q][0][1]
    first = f"(first: qid {q!r}, docno {d!r}; the feature rows of that query have docnos like {like!r})"
    if len(missing) == len(logged):
        raise DistillrankError(
            f"{where}: none of the {len(logged):,} logged (qid, docno) pairs of the queries it shares with "
            f"the click log has a feature row {first}: the '#docid' comments must name the log's documents"
        )
    gaps = (
        f"{where}: {len(missing):,} of the {len(logged):,} logged (qid, docno) pairs of the queries it "
        f"shares with the click log have no feature row and are ignored {first}"
    )
    return gaps if no_rows is None else f"{no_rows}; {gaps}"


def utility(
    run: Run,
    log: ClickLog,
    propensities: Sequence[float] | np.ndarray,
    *,
    k: int = 10,
    clip: float = 0.1,
) -> float:
    """Counterfactual PBM utility of ``run`` on the held-out ``log`` (see the module docstring)."""
    alpha = np.asarray(propensities, dtype=np.float64)
    table = pair_statistics(log, alpha)
    stats = ClickStats(
        table["clicks"].to_numpy(), table["exposure"].to_numpy(), None, table["sessions"].to_numpy()
    )
    rel = dict(
        zip(
            zip(table["qid"], table["docno"], strict=True),
            np.asarray(get_estimator("ips", clip=clip).relevance(stats)).tolist(),
            strict=True,
        )
    )
    weights = _alpha(alpha, np.arange(1, k + 1))
    values = []
    for q in table["qid"].unique():
        ranked = [d for d, _ in run.ranked(q, k)] if q in run else []
        values.append(sum(w * rel.get((q, d), 0.0) for w, d in zip(weights, ranked, strict=False)))
    return float(np.mean(values)) if values else 0.0
