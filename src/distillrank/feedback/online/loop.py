r"""The online loop: serve with the current ranker, log clicks, estimate propensities, fine-tune, evaluate.

For every estimator of :mod:`distillrank.feedback.unbiased` (``naive``, ``ips``, ``snips``, ``dr``,
``full_info``) the same loop runs on its own traffic, for ``rounds`` rounds:

1. **serve** ``sessions_per_round`` sessions, queries drawn uniformly from the training queries, each
   showing the top ``top_k`` of a Plackett-Luce ranking of the current ranker's scores with temperature
   ``exploration`` (:mod:`.serving`; the first round is served by the data's initial ranker);
2. **simulate clicks** with the PBM user model of
   :class:`~distillrank.feedback.simulation.ClickSimulator` (``eta``, ``eps_minus``, ``eps_plus``) and
   **log** the sessions to a :class:`~distillrank.feedback.store.ClickStore` (DuckDB; Parquet export);
3. **estimate propensities** from the logged clicks by EM regression (Wang et al. 2018) on the latest
   ``propensity_sessions`` sessions of the store (``propensities="true"`` uses the simulator's own);
   their error against the truth is recorded every round;
4. **aggregate** per (query, candidate) the clicks ``C``, the exposure ``E = sum alpha_{k shown}`` and the
   expected exposure under the serving policies ``P = sum_k P(rank k) alpha_k`` (Monte Carlo,
   ``mc_samples`` rankings per query), turn them into relevance estimates with the estimator
   (:mod:`distillrank.feedback.unbiased.estimators`; ``dr`` first fits its click-regression model,
   with ``regression_folds > 1`` *cross-fitted* over folds of the queries: ``R^`` of a query's
   candidates then comes from a model fitted on the other folds' clicks, independent of the clicks it
   corrects — :func:`~distillrank.feedback.unbiased.lgbm.cross_fit_predict`; the default, 1, fits and
   predicts on the same clicks, which measured as well here).
   Clicks on irrelevant results (``eps-``) make PBM estimates an affine function of relevance,
   ``f + g R``; with ``noise="estimate"`` (the default) ``ips``, ``snips`` and ``dr`` subtract the
   expected noise clicks ``B = f E`` (the affine correction of Vardasbi et al. 2020), ``f`` being the
   5th percentile of the click-regression model's predicted rate over the shown candidates (the least
   attractive results); ``"true"`` uses the simulator's ``theta_1 eps-``; ``"none"`` keeps plain PBM;
5. **train** the LightGBM ranker on the candidates of the queries seen so far: by default **from
   scratch** on the estimates of the whole log, with ``trees_per_round * (round + 1)`` trees (the
   final model has as many trees as a fine-tuned one), or with ``warm_start=True`` fine-tuned from the
   last model with ``trees_per_round`` more trees (``init_model``). Refitting is the default because
   the estimates of the early rounds are the worst (few sessions, a logger that has not explored the
   tail: results it rarely shows are clipped, their targets under-estimated): trees fitted to them stay
   in a warm-started model, and 30 trees a round at learning rate 0.05 cannot undo them. On SciFact
   with noise-free IPS targets (their expectation; the diagnosis in ``bench/README.md``) the
   warm-started ranker ends at 0.734 nDCG@10 and the refitted one at 0.746, full information at 0.755.
   Trained on the candidates :func:`~distillrank.feedback.unbiased.lgbm.training_candidates` picks
   (``candidates="auto"``: ``naive``, ``ips`` and ``snips`` only on those the log has shown at least
   once — they give the others 0, which teaches the ranker to copy what the logger did not show —
   ``dr`` on all, its click model predicts the unshown ones; ``"all"`` or ``"shown"`` force one set)
   with the objective chosen by name on the
   estimates (:func:`~distillrank.feedback.unbiased.lgbm.lgbm_setup`: ``"lambdarank"``, LambdaMART with
   the estimates as gains, or the listwise ``"softmax"``); ``full_info`` trains the same way (same
   objective, trees and parameters) on the true relevance ``(2^y - 1) / (2^y_max - 1)`` of every
   training candidate, no clicks. ``unbiased_lambdamart`` (:data:`SESSION_LEARNERS`) skips steps 3-4:
   it refits :func:`~distillrank.feedback.unbiased.fit_session_lambdamart` (Unbiased LambdaMART, Hu
   et al. 2019, position biases learned jointly, bias cost ``session_bias_cost``) on the
   clicked/unclicked pairs of the latest ``session_window`` sessions of its store, with the booster
   settings and trees of the refitted rankers (``warm_start`` does not apply to it). With its own
   settings (XGBoost's: depth 6, learning rate 0.1) it overfitted as the trees grew: SciFact seed 0
   peaked at 0.737 after 4 rounds and ended at 0.694. A window, because its gradient costs time per
   session per boosting round: the whole log of the last round would cost ~10x more;
6. **evaluate** nDCG@10 on the test queries.

Random numbers are drawn per round from ``numpy.random.default_rng([seed, round, stream])``: queries,
Gumbel noise and click draws are common to all estimators (common random numbers), and a run can resume
from its last finished round with the same result. With an ``output`` folder, each estimator writes its
store (``clicks/<name>.duckdb``, exported to ``clicks/<name>.parquet``), its final model
(``models/<name>.txt``) and a checkpoint after every round (``state/<name>/``), all atomically; a rerun
with the same configuration resumes, and one with more ``rounds`` extends the run.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from distillrank.data.run import Run
from distillrank.evaluation.metrics import evaluate
from distillrank.feedback.online.checkpoint import EstimatorState
from distillrank.feedback.online.config import DEFAULT_LGBM_PARAMS, METRIC, SESSION_LEARNERS, OnlineConfig
from distillrank.feedback.online.data import OnlineData
from distillrank.feedback.online.result import EstimatorCurve, OnlineResult
from distillrank.feedback.online.serving import (
    rank_distribution,
    sample_rankings,
    simulate_sessions,
    standardise,
)
from distillrank.feedback.propensity import EMRegressionEstimator, propensity_errors
from distillrank.feedback.simulation import ClickSimulator
from distillrank.feedback.store import ClickStore
from distillrank.feedback.unbiased.estimators import ClickStats, get_estimator
from distillrank.feedback.unbiased.lgbm import (
    ClickRegression,
    cross_fit_predict,
    lgbm_setup,
    query_folds,
    training_candidates,
)
from distillrank.feedback.unbiased.session_lambdamart import fit_session_lambdamart
from distillrank.io import atomic_write

__all__ = [
    "DEFAULT_LGBM_PARAMS",
    "SESSION_LEARNERS",
    "EstimatorCurve",
    "OnlineConfig",
    "OnlineResult",
    "run_online",
]

NOISE_QUANTILE = 0.05
Callback = Callable[[str, str, int, float | None], None]


class _Grid:
    """The training candidates as a padded ``[Q, L]`` grid of row indices."""

    def __init__(self, data: OnlineData) -> None:
        ds = data.train
        assert ds.docnos is not None
        self.group = ds.group
        self.qids = np.asarray(ds.query_ids, dtype=object)
        starts = np.concatenate([[0], np.cumsum(self.group)[:-1]]).astype(np.int64)
        width = int(self.group.max())
        offs = np.arange(width)
        self.mask = offs[None, :] < self.group[:, None]
        self.rows = np.where(self.mask, starts[:, None] + offs[None, :], 0)
        self.docnos = np.full(self.mask.shape, None, dtype=object)  # None where padded
        self.docnos[self.mask] = np.asarray(ds.docnos, dtype=object)[self.rows[self.mask]]
        self.grades = np.where(self.mask, np.asarray(ds.y, dtype=np.float64)[self.rows], 0.0)
        self.index: dict[tuple[str, str], tuple[int, int]] = {}
        for qi, j in zip(*np.nonzero(self.mask), strict=True):
            self.index[(str(self.qids[qi]), str(self.docnos[qi, j]))] = (int(qi), int(j))

    def to_grid(self, values: np.ndarray) -> np.ndarray:
        return np.where(self.mask, values[self.rows], 0.0)

    def to_rows(self, grid: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """Values of the rows of ``queries`` (in row order) from a ``[Q, L]`` grid."""
        return grid[queries][self.mask[queries]]


def _ndcg(scores: np.ndarray, data: OnlineData) -> float:
    ds = data.test
    assert ds.docnos is not None
    run: dict[str, dict[str, float]] = {}
    for q, d, s in zip(ds.qids.tolist(), ds.docnos.tolist(), scores.tolist(), strict=True):
        run.setdefault(str(q), {})[str(d)] = float(s)
    return float(evaluate(Run.from_trusted(run), data.test_qrels, METRIC).aggregate[METRIC])


def _served_ndcg(grades: np.ndarray, ideal: np.ndarray) -> float:
    """Mean nDCG@k (linear gains) of served pages ``grades [n, k]`` with ideal DCGs ``[n]``."""
    disc = 1.0 / np.log2(np.arange(2, grades.shape[1] + 2))
    dcg = (np.clip(grades, 0, None) * disc).sum(axis=1)
    return float(np.mean(np.where(ideal > 0, dcg / np.where(ideal > 0, ideal, 1.0), 0.0)))


def run_online(
    data: OnlineData,
    config: OnlineConfig | None = None,
    *,
    output: str | Path | None = None,
    callback: Callback | None = None,
) -> OnlineResult:
    """Run the loop of the module docstring for every estimator of ``config``.

    Args:
        data: candidates, relevance and the initial ranker (:func:`~.data.load_online_data`).
        output: a folder for the click stores, models and checkpoints (None: everything in memory).
        callback: ``callback(event, estimator, round, value)`` with events ``"start"`` (value: None),
            ``"round"`` (value: test nDCG@10), ``"done"``, and ``"restart"`` when ``output`` holds a
            checkpoint of other settings or data, which is discarded.
    """
    config = config or OnlineConfig()
    t0 = time.perf_counter()
    grid = _Grid(data)
    sim = ClickSimulator(
        eta=config.eta,
        eps_minus=config.eps_minus,
        eps_plus=config.eps_plus,
        top_k=config.top_k,
        max_grade=data.max_grade,
    )
    k = _page_length(config, grid)
    truth = sim.examination(k)
    initial_ndcg = _ndcg(data.initial_scores("test"), data)
    out = Path(output) if output is not None else None
    curves: dict[str, EstimatorCurve] = {}
    for name in config.estimators:
        if callback:
            callback("start", name, 0, None)
        curves[name] = _run_estimator(name, data, config, grid, sim, out, callback)
        if callback:
            callback("done", name, config.rounds, curves[name].ndcg[-1])
    return OnlineResult(
        data.name,
        config,
        initial_ndcg,
        data.initial_name,
        [round(float(x), 4) for x in truth / truth[0]],
        curves,
        time.perf_counter() - t0,
        data.held_out,
    )


def _run_estimator(
    name: str,
    data: OnlineData,
    config: OnlineConfig,
    grid: _Grid,
    sim: ClickSimulator,
    out: Path | None,
    callback: Callback | None,
) -> EstimatorCurve:
    k, n_sessions, seed = _page_length(config, grid), config.sessions_per_round, config.seed
    n_q, width = grid.mask.shape
    fingerprint = config.fingerprint(data.name)
    state_dir = out / "state" / name if out is not None else None
    state = EstimatorState.load(state_dir, fingerprint, name, (n_q, width, k)) if state_dir else None
    if state is None:
        state = EstimatorState(name, n_q, width, k)
        if state_dir is not None and state_dir.exists():
            if callback is not None:
                callback("restart", name, -1, None)
            shutil.rmtree(state_dir)  # another configuration's checkpoint
        if data.initial_model is not None and config.start_from_initial:
            state.booster = lgb.Booster(model_str=data.initial_model.model_to_string())
    clicks_based = name != "full_info"
    store_path = ":memory:"
    if clicks_based and out is not None and config.store == "duckdb":
        store_path = str(out / "clicks" / f"{name}.duckdb")
        if state.round < 0 and Path(store_path).exists():
            Path(store_path).unlink()
    if state.round >= config.rounds - 1:  # finished: only what a stop after the last round left unwritten
        _write_outputs(name, state, out, store_path if clicks_based else None, missing_only=True)
        return state.curve
    store = ClickStore(store_path) if clicks_based else None
    if store is not None and state.round >= 0:
        store.query("DELETE FROM clicks WHERE round > ?", [state.round])  # an unfinished round
    by_sessions = name in SESSION_LEARNERS
    estimator = None if by_sessions else get_estimator(name, clip=config.clip)
    truth = sim.examination(k)
    # until the log identifies position bias (EM), no correction at all: never the simulator's truth
    alpha = truth / truth[0] if config.propensities == "true" else np.ones(k)
    full_rel = grid.to_grid(sim.relevance_probability(data.train.y, data.max_grade))
    ideal = np.sort(grid.grades, axis=1)[:, ::-1][:, :k] @ (1.0 / np.log2(np.arange(2, k + 2)))
    t_start = time.perf_counter() - state.curve.seconds
    try:
        for r in range(state.round + 1, config.rounds):
            rng = [np.random.default_rng([seed, r, s]) for s in range(4)]
            qi = rng[0].integers(0, n_q, n_sessions)
            counts_q = np.bincount(qi, minlength=n_q).astype(np.float64)
            state.n += counts_q
            prop_mae: float | None = None
            used: list[float] | None = None
            served: float | None = None
            if store is not None:
                scores = _scores(state.booster, data, grid)
                z = standardise(scores, grid.mask)
                ranked = sample_rankings(z[qi], k, config.exploration, rng[2])
                shown = grid.mask[qi[:, None], ranked]
                docnos = grid.docnos[qi[:, None], ranked]  # None where the page is short
                grades = np.where(shown, grid.grades[qi[:, None], ranked], 0.0)
                served = round(_served_ndcg(grades, ideal[qi]), 5)
                log = simulate_sessions(
                    sim,
                    grid.qids[qi],
                    docnos,
                    grades,
                    data.max_grade,
                    rng[1].random((n_sessions, k)),
                    first_session_id=r * n_sessions,
                )
                store.append(log, round=r)
                if not by_sessions:  # pooled statistics; the session learner reads the sessions themselves
                    seen = np.flatnonzero(counts_q)
                    dist = rank_distribution(z[seen], k, config.exploration, rng[3], config.mc_samples)
                    state.expected[seen] += dist * counts_q[seen, None, None]
                    _accumulate(state, store, r, grid)
                if name != "naive" and not by_sessions:  # the session learner learns its own biases
                    alpha = _propensities(store, config, alpha, truth)
                    used = [round(float(x), 4) for x in alpha]
                    prop_mae = round(propensity_errors(alpha, truth)["mae"], 5)
            if by_sessions:
                assert store is not None
                first = (r + 1) * n_sessions - config.session_window
                state.booster, _ = fit_session_lambdamart(
                    store.to_clicklog("session_id >= ?", [first]),
                    data.train,
                    num_boost_round=config.trees_per_round * (r + 1),
                    params={**DEFAULT_LGBM_PARAMS, "seed": config.seed, **config.lgbm_params},
                    bias_cost=config.session_bias_cost,
                    seed=config.seed + r,  # the sessions held out when the bias cost is "auto"
                )
            else:
                queries = np.flatnonzero(state.n > 0) if clicks_based else np.arange(n_q)
                rel = _relevance(estimator, state, alpha, sim, full_rel, data, grid, config)
                fit = grid.mask[queries]
                if training_candidates(name, config.candidates) == "shown":
                    fit = fit & (state.counts[queries].sum(axis=2) > 0)
                rows = grid.rows[queries][fit]
                group = fit.sum(axis=1)
                setup, label = lgbm_setup(rel[queries][fit], group, config.objective)
                params = {**DEFAULT_LGBM_PARAMS, "seed": config.seed, **config.lgbm_params, **setup}
                train_set = lgb.Dataset(data.train.X[rows], label=label, group=group)
                if config.warm_start:
                    state.booster = lgb.train(
                        params,
                        train_set,
                        num_boost_round=config.trees_per_round,
                        init_model=state.booster,
                        keep_training_booster=True,
                    )
                else:  # refit on the whole log, as many trees as the fine-tuned model would have
                    init = None
                    if config.start_from_initial and data.initial_model is not None:
                        init = lgb.Booster(model_str=data.initial_model.model_to_string())
                    state.booster = lgb.train(
                        params, train_set, num_boost_round=config.trees_per_round * (r + 1), init_model=init
                    )
            nd = _ndcg(np.asarray(state.booster.predict(data.test.X), dtype=np.float64), data)
            c = state.curve
            c.ndcg.append(round(nd, 5))
            c.sessions.append((r + 1) * n_sessions)
            c.propensities.append(used)
            c.propensity_mae.append(prop_mae)
            c.served.append(served)
            c.seconds = time.perf_counter() - t_start
            state.round = r
            if state_dir is not None:
                state.save(state_dir, fingerprint)
            if callback:
                callback("round", name, r, nd)
        if store is not None and out is not None:
            store.export_parquet(out / "clicks" / f"{name}.parquet")
        _write_outputs(name, state, out, None)
    finally:
        if store is not None:
            store.close()
    return state.curve


def _write_outputs(
    name: str, state: EstimatorState, out: Path | None, store_path: str | None, *, missing_only: bool = False
) -> None:
    """An estimator's final files: its model (``models/<name>.txt``) and, from the DuckDB store at
    ``store_path`` when given, the Parquet export of its log (``clicks/<name>.parquet``); with
    ``missing_only``, only those that are not there (a stop after the last checkpoint)."""
    if out is None:
        return
    model = out / "models" / f"{name}.txt"
    if state.booster is not None and not (missing_only and model.exists()):
        with atomic_write(model) as f:
            f.write(state.booster.model_to_string())
    parquet = out / "clicks" / f"{name}.parquet"
    exported = missing_only and parquet.exists()
    if store_path is not None and store_path != ":memory:" and Path(store_path).exists() and not exported:
        with ClickStore(store_path) as store:
            store.export_parquet(parquet)


def _page_length(config: OnlineConfig, grid: _Grid) -> int:
    """Results per page: ``top_k``, or fewer when no query has that many candidates."""
    return min(config.top_k, int(grid.mask.shape[1]))


def _scores(booster: lgb.Booster | None, data: OnlineData, grid: _Grid) -> np.ndarray:
    """The serving ranker's scores of the training candidates, ``[Q, L]``."""
    if booster is None:
        return grid.to_grid(data.initial_scores("train"))
    return grid.to_grid(np.asarray(booster.predict(data.train.X), dtype=np.float64))


def _accumulate(state: EstimatorState, store: ClickStore, r: int, grid: _Grid) -> None:
    """Add round ``r``'s clicks and (candidate, rank) impressions from the store to ``state``."""
    agg = store.query(
        "SELECT qid, docno, position, count(*) AS n, sum(click) AS c FROM clicks WHERE round = ? "
        "GROUP BY qid, docno, position",
        [r],
    )
    idx = np.array([grid.index[(q, d)] for q, d in zip(agg["qid"], agg["docno"], strict=True)])
    if len(idx) == 0:
        return
    pos = agg["position"].to_numpy(dtype=np.int64) - 1
    np.add.at(state.counts, (idx[:, 0], idx[:, 1], pos), agg["n"].to_numpy(dtype=np.float64))
    np.add.at(state.clicks, (idx[:, 0], idx[:, 1]), agg["c"].to_numpy(dtype=np.float64))


def _propensities(
    store: ClickStore, config: OnlineConfig, previous: np.ndarray, truth: np.ndarray
) -> np.ndarray:
    """Relative propensities ``p_k / p_1`` for ranks ``1..top_k`` (module docstring, step 3)."""
    if config.propensities == "true":
        return truth / truth[0]
    where = None
    if config.propensity_sessions is not None:
        where = f"session_id >= (SELECT max(session_id) FROM clicks) - {int(config.propensity_sessions) - 1}"
    log = store.to_clicklog(where)
    try:
        est = EMRegressionEstimator(max_rank=len(previous), max_iter=500, tol=1e-6).estimate(log)
    except ValueError:  # not identifiable yet (one deterministic logger): keep the last estimate
        return previous
    if len(est) != len(previous) or not np.isfinite(est).all():
        return previous
    return np.clip(est, 1e-6, None)


def _noise_floor(
    config: OnlineConfig, sim: ClickSimulator, model: ClickRegression | None, seen: np.ndarray, X: Any
) -> float:
    """``f``: noise clicks per unit of relative exposure (``theta_1 eps-`` under the simulator).

    ``"estimate"``: the 5th percentile of the click-regression model's predicted rate over the shown
    candidates — the rate of the least attractive results, which under the affine click model is the
    noise floor when at least 5% of the shown candidates are not relevant.
    """
    if config.noise == "none":
        return 0.0
    if config.noise == "true":
        return float(sim.examination(1)[0] * sim.click_given_examined(np.zeros((1, 1)), 1.0)[0, 0])
    assert model is not None
    return float(np.quantile(model.predict(X[seen]), NOISE_QUANTILE))


def _relevance(
    estimator: Any,
    state: EstimatorState,
    alpha: np.ndarray,
    sim: ClickSimulator,
    full_rel: np.ndarray,
    data: OnlineData,
    grid: _Grid,
    config: OnlineConfig,
) -> np.ndarray:
    """``[Q, L]`` relevance estimates of every training candidate."""
    exposure = state.counts @ alpha
    corrected = estimator.name not in ("naive", "full_info")
    model: ClickRegression | None = None
    seen = grid.mask & (exposure > 0)
    seen_rows = grid.rows[seen]
    predicted = None
    if estimator.name == "dr" or (corrected and config.noise == "estimate"):
        model = ClickRegression(num_boost_round=config.regression_rounds, params={"seed": config.seed})
        if estimator.name == "dr":
            folds = query_folds(grid.mask.shape[0], config.regression_folds, config.seed)
            cells = grid.mask
            predicted = np.zeros(cells.shape)
            predicted[cells] = cross_fit_predict(
                model,
                data.train.X[grid.rows[cells]],
                state.clicks[cells],
                exposure[cells],
                np.broadcast_to(folds[:, None], cells.shape)[cells],
            )
        else:
            model.fit(data.train.X[seen_rows], state.clicks[seen], exposure[seen])
    if not corrected:
        floor = 0.0
    elif predicted is not None and config.noise == "estimate":
        floor = float(np.quantile(predicted[seen], NOISE_QUANTILE))
    else:
        floor = _noise_floor(config, sim, model, seen_rows, data.train.X)
    noise = floor * exposure if floor > 0 else None
    stats = ClickStats(state.clicks, exposure, state.expected @ alpha, state.n[:, None], noise)
    if predicted is not None:
        predicted = predicted - floor
    rel = estimator.relevance(stats, predicted=predicted, labels=full_rel)
    return np.where(grid.mask, rel, 0.0)
