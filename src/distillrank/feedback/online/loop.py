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

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import numpy as np

from distillrank.data.run import Run
from distillrank.distillation.lgbm_student import BOOSTER_PARAMS
from distillrank.evaluation.metrics import evaluate
from distillrank.feedback.online.data import OnlineData
from distillrank.feedback.online.serving import (
    rank_distribution,
    sample_rankings,
    simulate_sessions,
    standardise,
)
from distillrank.feedback.propensity import EMRegressionEstimator, propensity_errors
from distillrank.feedback.simulation import ClickSimulator
from distillrank.feedback.store import ClickStore
from distillrank.feedback.unbiased.estimators import ESTIMATORS, ClickStats, get_estimator
from distillrank.feedback.unbiased.lgbm import (
    CANDIDATE_SETS,
    LGBM_OBJECTIVES,
    CandidateSet,
    ClickRegression,
    LGBMObjective,
    cross_fit_predict,
    lgbm_setup,
    query_folds,
    training_candidates,
)
from distillrank.feedback.unbiased.session_lambdamart import BIAS_COSTS, fit_session_lambdamart
from distillrank.io import atomic_write

__all__ = [
    "DEFAULT_LGBM_PARAMS",
    "SESSION_LEARNERS",
    "EstimatorCurve",
    "OnlineConfig",
    "OnlineResult",
    "run_online",
]

METRIC = "nDCG@10"
NOISE_QUANTILE = 0.05
DEFAULT_LGBM_PARAMS: dict[str, Any] = dict(BOOSTER_PARAMS)
Callback = Callable[[str, str, int, float | None], None]
SESSION_LEARNERS: tuple[str, ...] = ("unbiased_lambdamart",)
"""Learners that train on the logged sessions themselves rather than on per-candidate estimates."""


@dataclass(frozen=True)
class OnlineConfig:
    """Settings of :func:`run_online` (see the module docstring).

    Attributes:
        rounds, sessions_per_round: the traffic.
        estimators: names in :data:`~distillrank.feedback.unbiased.ESTIMATORS`, or
            ``"unbiased_lambdamart"`` (:data:`SESSION_LEARNERS`, step 5).
        exploration: Plackett-Luce temperature on standardised scores (0: show the ranker's top k).
        clip: propensity clipping of ``ips``, ``snips`` and ``dr`` (least exposure per session).
        propensities: ``"em"`` (estimated from the log) or ``"true"`` (the simulator's).
        propensity_sessions: EM uses at most this many of the latest sessions (None: all).
        top_k, eta, eps_minus, eps_plus: the user model (results shown, PBM severity, click noise).
        trees_per_round: boosting rounds added per round.
        lgbm_params: LightGBM parameters over :data:`DEFAULT_LGBM_PARAMS`.
        regression_rounds: boosting rounds of the doubly robust estimator's click model.
        regression_folds: folds of the queries for cross-fitting that model (step 4; 1: fit and predict
            on the same clicks).
        warm_start: fine-tune the last round's model with ``trees_per_round`` more trees instead of
            refitting from scratch with ``trees_per_round * (round + 1)`` trees (step 5).
        mc_samples: rankings per query for the expected exposure of a stochastic policy.
        seed: the random seed of everything random in a run: the sessions, the clicks, the click model
            and the rankers' LightGBM bagging (``seed`` in their parameters, unless ``lgbm_params`` sets
            it), so runs with different seeds are independent replicates, ``full_info`` included.
        store: ``"duckdb"`` (a file under the output folder; memory without one) or ``"memory"``.
        start_from_initial: start every round's model (refitted, or the first fine-tuned one) from the
            initial ranker's trees when that is a LightGBM model (default: no; the initial ranker only
            serves the first round).
        noise: click-noise correction of ``ips``, ``snips`` and ``dr`` (step 4): ``"estimate"`` the noise
            floor from the log, use the simulator's (``"true"``), or none (plain PBM).
        objective: the ranker's LightGBM objective on the estimates, by name (step 5,
            :data:`~distillrank.feedback.unbiased.lgbm.LGBM_OBJECTIVES`).
        candidates: the click-based estimators train on ``"all"`` candidates of the queries seen, only
            on those ``"shown"`` at least once, or ``"auto"``: by estimator (step 5,
            :func:`~distillrank.feedback.unbiased.lgbm.training_candidates`); ``full_info`` always
            trains on all.
        session_window: ``unbiased_lambdamart`` learns from the latest this many sessions (step 5).
        session_bias_cost: its bias cost (:data:`~distillrank.feedback.unbiased.BIAS_COSTS`), or
            ``"auto"``: chosen on held-out sessions every round, which costs ~2.6x its fit per round
            (:func:`~distillrank.feedback.unbiased.choose_bias_cost`; the default of offline learning).
    """

    rounds: int = 10
    sessions_per_round: int = 10_000
    estimators: tuple[str, ...] = ("naive", "ips", "snips", "dr", "full_info")
    exploration: float = 0.3
    clip: float = 0.1
    propensities: Literal["em", "true"] = "em"
    propensity_sessions: int | None = 50_000
    top_k: int = 10
    eta: float = 1.0
    eps_minus: float = 0.1
    eps_plus: float = 1.0
    trees_per_round: int = 30
    lgbm_params: dict[str, Any] = field(default_factory=dict)
    regression_rounds: int = 100
    regression_folds: int = 1
    mc_samples: int = 100
    seed: int = 0
    store: Literal["duckdb", "memory"] = "duckdb"
    start_from_initial: bool = False
    noise: Literal["none", "true", "estimate"] = "estimate"
    objective: LGBMObjective = "softmax"
    candidates: CandidateSet = "auto"
    warm_start: bool = False
    session_window: int = 30_000
    session_bias_cost: Literal["margin", "loss", "auto"] = "margin"

    def __post_init__(self) -> None:
        for name in (
            "rounds",
            "sessions_per_round",
            "top_k",
            "trees_per_round",
            "regression_rounds",
            "regression_folds",
            "session_window",
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if isinstance(self.mc_samples, bool) or not isinstance(self.mc_samples, int) or self.mc_samples < 1:
            raise ValueError(f"mc_samples must be an integer >= 1, got {self.mc_samples!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(
                f"seed must be an integer >= 0 (numpy's generators take no other), got {self.seed!r}"
            )
        names = self.estimators
        if isinstance(names, str):  # "naive,dr" (or one name): names, not the letters of a string
            names = tuple(n.strip() for n in names.split(",") if n.strip())
        object.__setattr__(self, "estimators", tuple(names))
        known = (*ESTIMATORS, *SESSION_LEARNERS)
        unknown = [e for e in self.estimators if e not in known]
        if unknown or not self.estimators:
            raise ValueError(f"unknown estimator(s) {unknown}; choose from {', '.join(known)}")
        if len(set(self.estimators)) != len(self.estimators):
            raise ValueError(f"estimators repeat a name: {self.estimators}")
        if not 0 <= self.exploration < float("inf"):
            raise ValueError(f"exploration must be finite and >= 0, got {self.exploration}")
        if not 0 < self.clip <= 1:
            raise ValueError(
                f"clip must be in (0, 1], got {self.clip}: a result the loop showed can have an expected "
                "exposure of 0 (its policy's sampled rankings never placed it), and without clipping its "
                "clicks have no finite IPS estimate"
            )
        if self.propensities not in ("em", "true"):
            raise ValueError(f"propensities must be 'em' or 'true', got {self.propensities!r}")
        if self.propensity_sessions is not None and self.propensity_sessions < 1:
            raise ValueError(f"propensity_sessions must be >= 1 or None, got {self.propensity_sessions}")
        if self.session_bias_cost not in (*BIAS_COSTS, "auto"):
            raise ValueError(
                f"session_bias_cost must be one of {', '.join(BIAS_COSTS)} or 'auto', "
                f"got {self.session_bias_cost!r}"
            )
        if self.noise not in ("none", "true", "estimate"):
            raise ValueError(f"noise must be 'none', 'true' or 'estimate', got {self.noise!r}")
        if self.store not in ("duckdb", "memory"):
            raise ValueError(f"store must be 'duckdb' or 'memory', got {self.store!r}")
        if self.objective not in LGBM_OBJECTIVES:
            raise ValueError(f"objective must be one of {LGBM_OBJECTIVES}, got {self.objective!r}")
        if self.candidates not in CANDIDATE_SETS:
            raise ValueError(f"candidates must be one of {CANDIDATE_SETS}, got {self.candidates!r}")
        if "objective" in self.lgbm_params:
            raise ValueError("lgbm_params must not set the objective: the estimator decides it")
        ClickSimulator(eta=self.eta, eps_minus=self.eps_minus, eps_plus=self.eps_plus, top_k=self.top_k)

    def fingerprint(self, dataset: str) -> str:
        """A hash of everything that decides an estimator's curve round by round (checkpoints must match
        it); not the number of rounds, so a finished run can be extended."""
        d = asdict(self)
        d.pop("estimators")
        d.pop("rounds")
        d["ranker_seed"] = "seed"  # older checkpoints' rankers used bagging seed 0 whatever the seed
        return hashlib.sha256(json.dumps([dataset, d], sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class EstimatorCurve:
    """One estimator's run: test nDCG@10 after each round against the sessions logged so far.

    ``propensities`` are the relative propensities ``p_k / p_1`` used in each round, ``propensity_mae``
    their mean absolute error against the simulator's (None for estimators that use none);
    ``served`` the mean nDCG@10 (training grades) of the pages served in the round.
    """

    name: str
    ndcg: list[float] = field(default_factory=list)
    sessions: list[int] = field(default_factory=list)
    propensities: list[list[float] | None] = field(default_factory=list)
    propensity_mae: list[float | None] = field(default_factory=list)
    served: list[float | None] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class OnlineResult:
    """Everything :func:`run_online` measured."""

    dataset: str
    config: OnlineConfig
    initial_ndcg: float
    initial_name: str
    true_propensities: list[float]
    curves: dict[str, EstimatorCurve]
    seconds: float = 0.0
    held_out: str | None = None

    def final(self, name: str) -> float:
        """Test nDCG@10 of estimator ``name`` after the last round.

        Raises:
            KeyError: ``name`` is not one of the run's estimators (the message lists them).
        """
        if name not in self.curves:
            raise KeyError(f"no estimator {name!r} in this run; it ran: {', '.join(self.curves)}")
        return self.curves[name].ndcg[-1]

    def sessions_to(self, name: str, fraction: float = 0.98, reference: str = "full_info") -> int | None:
        """The first session count at which ``name`` reaches ``fraction`` of ``reference``'s final
        nDCG@10 (None: never within the run)."""
        target = fraction * self.final(reference)
        curve = self.curves[name]
        return next((s for s, v in zip(curve.sessions, curve.ndcg, strict=True) if v >= target), None)

    def metrics(self) -> dict[str, Any]:
        """``{"estimators": {NAME: {"nDCG@10": [...], "sessions": [...], ...}}, ...}`` for metrics.json."""
        est: dict[str, Any] = {}
        full = self.curves.get("full_info")
        for name, c in self.curves.items():
            entry: dict[str, Any] = {
                METRIC: [round(v, 5) for v in c.ndcg],
                "sessions": list(c.sessions),
                "final": round(c.ndcg[-1], 5),
                "propensity_mae": c.propensity_mae,
                "served_nDCG@10": c.served,
                "seconds": round(c.seconds, 1),
            }
            if full is not None and name != "full_info":
                entry["ratio_to_full_info"] = round(c.ndcg[-1] / full.ndcg[-1], 4)
                entry["sessions_to_0.98_full_info"] = self.sessions_to(name)
            est[name] = entry
        return {
            "dataset": self.dataset,
            "metric": METRIC,
            "initial": {"ranker": self.initial_name, METRIC: round(self.initial_ndcg, 5)},
            **({"held_out_test_queries": self.held_out} if self.held_out else {}),
            "true_propensities": self.true_propensities,
            "config": {k: v for k, v in asdict(self.config).items() if k != "lgbm_params"}
            | {"lgbm_params": {**DEFAULT_LGBM_PARAMS, "seed": self.config.seed, **self.config.lgbm_params}},
            "estimators": est,
            "seconds": round(self.seconds, 1),
        }


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


class _State:
    """One estimator's accumulated statistics, model and curve; saved after every round."""

    def __init__(self, name: str, n_queries: int, width: int, k: int) -> None:
        self.name = name
        self.round = -1
        self.n = np.zeros(n_queries)
        self.clicks = np.zeros((n_queries, width))
        self.counts = np.zeros((n_queries, width, k))
        self.expected = np.zeros((n_queries, width, k))
        self.booster: lgb.Booster | None = None
        self.curve = EstimatorCurve(name)

    def save(self, folder: Path, fingerprint: str) -> None:
        """Checkpoint the round: its statistics and model go to files named for the round, then
        ``state.json`` (atomically) names them, then the previous round's files go. A crash anywhere
        leaves ``state.json`` naming one complete round's files, never a mix of two rounds'."""
        folder.mkdir(parents=True, exist_ok=True)
        stats, model = f"stats-{self.round}.npz", f"model-{self.round}.txt"
        with atomic_write(folder / stats, "wb") as f:
            np.savez(f, n=self.n, clicks=self.clicks, counts=self.counts, expected=self.expected)
        if self.booster is not None:
            with atomic_write(folder / model) as f:
                f.write(self.booster.model_to_string())
        with atomic_write(folder / "state.json") as f:  # written last: it marks the round complete
            json.dump(
                {
                    "fingerprint": fingerprint,
                    "round": self.round,
                    "curve": asdict(self.curve),
                    "has_model": self.booster is not None,
                    "stats": stats,
                    "model": model,
                },
                f,
            )
        for old in [*folder.glob("stats*.npz"), *folder.glob("model*.txt")]:
            if old.name not in (stats, model):
                old.unlink(missing_ok=True)

    @classmethod
    def load(cls, folder: Path, fingerprint: str, name: str, shape: tuple[int, int, int]) -> _State | None:
        """The checkpoint in ``folder``, or None when there is none, it is of other settings, or its
        files cannot be read (the estimator then starts over)."""
        try:
            meta = json.loads((folder / "state.json").read_text())
        except (OSError, ValueError):
            return None
        if meta.get("fingerprint") != fingerprint:
            return None
        st = cls(name, *shape)
        try:  # checkpoints written before the files were named for their round: stats.npz, model.txt
            with np.load(folder / meta.get("stats", "stats.npz")) as z:
                st.n, st.clicks, st.counts, st.expected = z["n"], z["clicks"], z["counts"], z["expected"]
            if meta["has_model"]:
                st.booster = lgb.Booster(model_str=(folder / meta.get("model", "model.txt")).read_text())
        except (OSError, ValueError, KeyError, lgb.basic.LightGBMError):
            return None
        st.round = int(meta["round"])
        st.curve = EstimatorCurve(**meta["curve"])
        return st


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
    state = _State.load(state_dir, fingerprint, name, (n_q, width, k)) if state_dir else None
    if state is None:
        state = _State(name, n_q, width, k)
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
    name: str, state: _State, out: Path | None, store_path: str | None, *, missing_only: bool = False
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


def _accumulate(state: _State, store: ClickStore, r: int, grid: _Grid) -> None:
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
    state: _State,
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
