r"""Click environments built from real data: the Open Bandit Dataset, and graded relevance judgements.

**Open Bandit Dataset** (Saito et al. 2021; ZOZOTOWN, 80 items, 3 positions), from the log of the
uniform-random policy (:func:`obd_environment`). Every row is one item shown at one position; the
items are drawn uniformly and independently of the position, so under PBM the click rate of position
``k`` is ``kappa_k`` times the mean attractiveness, the same at every position. The estimator:

* examination: ``kappa_k = CTR_k / max_j CTR_j`` (PBM fixes only ratios of ``kappa``: the scale goes
  to the attractiveness; the repository's PBM EM, :class:`~distillrank.feedback.click_models.PBM`,
  needs sessions showing ranks ``1..n``, while an OBD row shows one item at one position);
* attractiveness: the posterior mean of a Beta prior over the items' examination-weighted click
  rates, ``alpha_i = (c_i + m p) / (e_i + m)``, with ``c_i`` the clicks on item ``i``,
  ``e_i = sum kappa_{k(row)}`` its expected examinations, ``p = sum c / sum e`` the pooled rate and
  ``m`` the prior strength (pseudo-examinations). ``prior_strength=None`` fits ``m`` by empirical Bayes
  (method of moments, Efron and Morris 1975): the variance of the raw rates ``c_i / e_i`` across items
  minus their mean binomial noise ``p (1 - p) / e_i`` estimates the true spread ``tau^2``, and
  ``m = p (1 - p) / tau^2 - 1`` (the Beta prior of mean ``p`` and variance ``tau^2``). With about 40
  clicks in the 10,000-row sample the raw rates are mostly noise (51 of the 80 items have no click), so
  the fitted prior pulls them strongly towards ``p``: the environment keeps only the spread that the
  data support. ``prior_strength=0`` keeps the raw rates.

**A click log** (:func:`click_log_environment`; e.g. the Yandex WSCD sample: 20 web queries, their top 10
results): a click model (PBM by default; :mod:`distillrank.feedback.click_models`) is fitted on the log
by EM, and each query becomes a PBM environment whose items are the documents the log showed for it in at
least ``min_impressions`` sessions (at most ``max_items``, the most shown first), with the fitted
attractiveness ``alpha_qd`` and examination ``gamma_k`` of the first ``slate_size`` ranks. Documents
shown rarely are left out: their EM estimate is mostly its starting value. PBM fixes ``gamma`` and
``alpha`` only up to a common scale (``gamma_1`` as EM leaves it); the products ``gamma_k alpha_qd``,
the click probabilities and so the regret, are what the log determines.

**Graded relevance** (:func:`graded_environment`, :func:`ltr_environment`, :func:`run_environment`):
the repository's unbiased-LTR click protocol (:mod:`distillrank.feedback.simulation`): for each query,
its candidate documents are the items and a document of grade ``y`` has attractiveness
``eps(y) = eps_minus + (eps_plus - eps_minus) (2^y - 1) / (2^y_max - 1)``; under PBM position ``k`` is
examined with ``kappa_k = JOACHIMS_EXAMINATION[k] ** eta`` (Joachims et al. 2005, 2017).
:func:`ltr_environment` also gives every query its documents' feature rows as item features (for the
linear policies of :mod:`distillrank.bandits.linear`), densified and scaled by :func:`scale_features`
with statistics computed over all the rows of the dataset passed (the training split): by default
**max-abs** scaling, ``x_j / max_i |x_ij|`` per feature ``j`` (into ``[-1, 1]``; zeros and sparsity kept;
a feature that is 0 on every row stays 0), or **standard** scaling ``(x_j - mean_j) / std_j`` (a
constant feature becomes 0). The LightGBM example's 300 features already lie in ``[0, 1]`` (82 of them
0 on every training row); max-abs scaling leaves features of scale 1 in place and brings any other to it,
so that one ridge ``lambda`` and one exploration scale suit every feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp

from distillrank.bandits.environments import (
    CascadeEnvironment,
    Feedback,
    MultiQueryEnvironment,
    PositionBasedEnvironment,
    SlateEnvironment,
)
from distillrank.data.clicklog import ClickLog
from distillrank.data.formats.obd import read_obd
from distillrank.data.ltr import LTRDataset
from distillrank.data.run import Run
from distillrank.errors import DataFormatError
from distillrank.feedback.simulation import ClickSimulator

__all__ = [
    "click_log_environment",
    "estimate_pbm_from_uniform_log",
    "graded_environment",
    "ltr_environment",
    "obd_environment",
    "run_environment",
    "scale_features",
]

FeatureScaling = Literal["maxabs", "standard", "none"]
FEATURE_SCALINGS: tuple[FeatureScaling, ...] = ("maxabs", "standard", "none")


def _dense(m: sp.spmatrix | np.ndarray) -> np.ndarray:
    return (
        np.asarray(m, dtype=np.float64) if isinstance(m, np.ndarray) else np.asarray(m.toarray(), np.float64)
    )


def scale_features(
    X: sp.spmatrix | np.ndarray,
    scaling: FeatureScaling = "maxabs",
    reference: sp.spmatrix | np.ndarray | None = None,
) -> np.ndarray:
    """``X`` densified and scaled per feature with the statistics of ``reference`` (default ``X``)
    (module docstring): ``"maxabs"`` ``x / max |x_ref|``, ``"standard"`` ``(x - mean_ref) / std_ref``,
    ``"none"``; a feature that is constant (``"standard"``) or 0 (``"maxabs"``) on ``reference`` becomes 0.

    Example:
        >>> scale_features(np.array([[2.0, 0.0, 1.0], [-4.0, 0.0, 1.0]])).tolist()
        [[0.5, 0.0, 1.0], [-1.0, 0.0, 1.0]]
    """
    if scaling not in FEATURE_SCALINGS:
        raise ValueError(f"feature scaling must be one of {FEATURE_SCALINGS}, got {scaling!r}")
    dense = _dense(X)
    ref = dense if reference is None else _dense(reference)
    if dense.ndim != 2 or ref.ndim != 2 or ref.shape[1] != dense.shape[1] or ref.shape[0] < 1:
        raise ValueError(f"features {dense.shape} and reference {ref.shape} must be 2-d of one width")
    if scaling == "none":
        return dense
    if scaling == "maxabs":
        scale = np.abs(ref).max(axis=0)
        return np.where(scale > 0, dense / np.where(scale > 0, scale, 1.0), 0.0)
    mean, std = ref.mean(axis=0), ref.std(axis=0)
    return np.where(std > 0, (dense - mean) / np.where(std > 0, std, 1.0), 0.0)


def estimate_pbm_from_uniform_log(
    items: np.ndarray, positions: np.ndarray, clicks: np.ndarray, prior_strength: float | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """``(attractiveness [n_items], examination [n_positions], m)`` from a uniform-random log.

    Args:
        items: ``[n]`` item index of each row (``0..n_items-1``).
        positions: ``[n]`` 0-based position of each row.
        clicks: ``[n]`` 0/1.
        prior_strength: ``m`` of the module docstring; ``None`` fits it by empirical Bayes (``inf`` when
            the raw rates vary no more than noise: every item gets the pooled rate).

    Example:
        >>> a, k, m = estimate_pbm_from_uniform_log(
        ...     np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1]), np.array([1, 0, 1, 0]), prior_strength=0)
        >>> a.tolist(), k.tolist()
        ([1.0, 0.0], [1.0, 1.0])
    """
    items, positions = np.asarray(items, np.int64), np.asarray(positions, np.int64)
    clicks = np.asarray(clicks, np.float64)
    ctr = np.bincount(positions, clicks) / np.maximum(np.bincount(positions), 1)
    if not ctr.max() > 0:
        raise ValueError("the log has no click: attractiveness and examination cannot be estimated")
    kappa = ctr / ctr.max()
    exposure = np.bincount(items, kappa[positions])
    c = np.bincount(items, clicks, minlength=len(exposure))
    p = float(c.sum() / exposure.sum())
    if prior_strength is None:
        seen = exposure > 0
        raw = c[seen] / exposure[seen]
        tau2 = float(raw.var(ddof=1) - np.mean(p * (1 - p) / exposure[seen])) if seen.sum() > 1 else 0.0
        m = p * (1 - p) / tau2 - 1 if tau2 > 0 else float("inf")
    elif not prior_strength >= 0:
        raise ValueError(f"prior_strength must be >= 0 or None, got {prior_strength}")
    else:
        m = float(prior_strength)
    if np.isinf(m):
        alpha = np.full(len(exposure), p)
    else:
        with np.errstate(invalid="ignore"):
            alpha = np.where(exposure + m > 0, (c + m * p) / (exposure + m), p)
    return np.clip(alpha, 0.0, 1.0), kappa, m


def obd_environment(
    folder: str | Path | None = None, campaign: str = "all", prior_strength: float | None = None
) -> PositionBasedEnvironment:
    """A PBM environment with the items, attractiveness and examination estimated from the Open Bandit
    Dataset's uniform-random log (module docstring).

    Args:
        folder: the dataset root (holding ``random/``), ``random/``, ``random/<campaign>/``, a data
            folder holding ``clicks/open-bandit-dataset``, or ``None``: the default data folder
            (``$DISTILLRANK_DATA``, else ``~/.cache/distillrank``).
        campaign: ``all``, ``men`` or ``women``.
        prior_strength: see :func:`estimate_pbm_from_uniform_log`.

    Raises:
        DatasetNotFoundError: no log of that campaign under ``folder``.
        DataFormatError: the folder has no uniform-random (``random``) log.
    """
    data = read_obd(folder, campaign)
    if "random" not in data:
        raise DataFormatError(folder, None, f"no uniform-random log (found splits {list(data.splits)})")
    df = data["random"].df
    names, items = np.unique(df["docno"].to_numpy(dtype=str), return_inverse=True)
    order = np.argsort(names.astype(np.int64)) if all(n.isdigit() for n in names) else np.arange(len(names))
    rank_of = np.empty(len(order), dtype=np.int64)
    rank_of[order] = np.arange(len(order))
    alpha, kappa, _ = estimate_pbm_from_uniform_log(
        rank_of[items], df["position"].to_numpy() - 1, df["click"].to_numpy(), prior_strength
    )
    return PositionBasedEnvironment(alpha, kappa, items=tuple(names[order].tolist()))


def graded_environment(
    grades: Mapping[str, np.ndarray | list[float]],
    slate_size: int = 5,
    feedback: Feedback = "pbm",
    *,
    eta: float = 1.0,
    eps_minus: float = 0.1,
    eps_plus: float = 1.0,
    max_grade: float | None = None,
    docnos: Mapping[str, list[str]] | None = None,
    features: Mapping[str, np.ndarray] | None = None,
) -> MultiQueryEnvironment:
    """One query per entry of ``grades`` (its candidates' grades), clicks by the unbiased-LTR protocol.

    Queries with fewer than ``slate_size`` candidates are left out (their ids are not in ``qids``).
    ``features``, when given, holds each query's ``[n_candidates, d]`` item features (used as they are).

    Raises:
        ValueError: a bad ``feedback`` or click-model setting, or no query with enough candidates.
    """
    if feedback not in ("pbm", "cascade"):
        raise ValueError(f"feedback must be 'pbm' or 'cascade', got {feedback!r}")
    if not isinstance(eps_minus, int | float) or not isinstance(eps_plus, int | float):
        raise ValueError("eps_minus and eps_plus must be numbers (one click model for every position)")
    sim = ClickSimulator(eta=eta, eps_minus=eps_minus, eps_plus=eps_plus, top_k=slate_size)
    ymax = max_grade if max_grade is not None else max(float(np.max(g)) for g in grades.values() if len(g))
    if not ymax > 0:
        raise ValueError("the grades have no positive value: pass max_grade")
    kappa = sim.examination(slate_size)
    queries: list[SlateEnvironment] = []
    qids: list[str] = []
    for q, g in grades.items():
        y = np.asarray(g, dtype=np.float64)
        if len(y) < slate_size:
            continue
        alpha = sim.click_given_examined(y, ymax)  # eps- + (eps+ - eps-) (2^y - 1) / (2^ymax - 1)
        names = docnos.get(q) if docnos is not None else None
        x = features[q] if features is not None else None
        env: SlateEnvironment = (
            PositionBasedEnvironment(alpha, kappa, items=names, features=x)
            if feedback == "pbm"
            else CascadeEnvironment(alpha, slate_size, items=names, features=x)
        )
        queries.append(env)
        qids.append(str(q))
    if not queries:
        raise ValueError(f"no query has {slate_size} or more candidates")
    return MultiQueryEnvironment(tuple(queries), qids=tuple(qids))


def ltr_environment(
    data: LTRDataset,
    slate_size: int = 5,
    feedback: Feedback = "pbm",
    *,
    eta: float = 1.0,
    eps_minus: float = 0.1,
    eps_plus: float = 1.0,
    max_grade: float | None = None,
    feature_scaling: FeatureScaling = "maxabs",
) -> MultiQueryEnvironment:
    """:func:`graded_environment` over an LTR dataset's queries: every row of a query is a candidate
    (e.g. the LightGBM lambdarank example: 201 training queries of 1 to 27 documents, grades 0-4), with
    its feature row as the item's features, scaled by ``feature_scaling`` over all of ``data``'s rows
    (:func:`scale_features`, module docstring)."""
    bounds = np.concatenate([[0], np.cumsum(data.group)])
    rows = {q: slice(s, e) for q, s, e in zip(data.query_ids, bounds[:-1], bounds[1:], strict=True)}
    grades = {q: data.y[r] for q, r in rows.items()}
    X = scale_features(data.X, feature_scaling)
    feats = {q: X[r] for q, r in rows.items()}
    names = None
    if data.docnos is not None:
        names = {q: [str(d) for d in data.docnos[r]] for q, r in rows.items()}
    return graded_environment(
        grades,
        slate_size,
        feedback,
        docnos=names,
        features=feats,
        eta=eta,
        eps_minus=eps_minus,
        eps_plus=eps_plus,
        max_grade=max_grade,
    )


def run_environment(
    run: Run,
    qrels: Mapping[str, Mapping[str, float]],
    depth: int = 15,
    slate_size: int = 5,
    feedback: Feedback = "pbm",
    *,
    eta: float = 1.0,
    eps_minus: float = 0.1,
    eps_plus: float = 1.0,
    max_grade: float | None = None,
) -> MultiQueryEnvironment:
    """:func:`graded_environment` over a candidate ranking: each judged query's top ``depth`` documents
    of ``run`` are its candidates, unjudged ones of grade 0."""
    grades: dict[str, list[float]] = {}
    names: dict[str, list[str]] = {}
    for q in run:
        if q not in qrels:
            continue
        top = [d for d, _ in run.ranked(q, depth)]
        grades[q] = [float(qrels[q].get(d, 0.0)) for d in top]
        names[q] = top
    return graded_environment(
        grades,
        slate_size,
        feedback,
        docnos=names,
        eta=eta,
        eps_minus=eps_minus,
        eps_plus=eps_plus,
        max_grade=max_grade,
    )


def click_log_environment(
    log: ClickLog,
    slate_size: int = 5,
    *,
    min_impressions: int = 100,
    max_items: int = 20,
    max_iter: int = 100,
) -> MultiQueryEnvironment:
    """A PBM environment per query of a click log, from a PBM fitted on it (module docstring).

    Args:
        log: sessions with ranks ``1..n`` shown (e.g. ``load_dataset("yandex-wscd-sample")["train"]``).
        slate_size: ``L``, positions shown per round (at most the log's depth).
        min_impressions: sessions that must show a document for it to be one of its query's items.
        max_items: items per query at most (the most shown).
        max_iter: EM iterations of the PBM fit.

    Raises:
        TypeError: ``log`` is not a :class:`~distillrank.data.clicklog.ClickLog` (a whole dataset? the
            message names its splits).
        ValueError: a bad setting, or no query keeps ``slate_size`` documents.
    """
    from distillrank.feedback.click_models import PBM

    ClickLog.check(log, "click_log_environment")
    for name, v in (
        ("slate_size", slate_size),
        ("min_impressions", min_impressions),
        ("max_items", max_items),
    ):
        if isinstance(v, bool) or int(v) != v or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if max_items < slate_size:
        raise ValueError(f"max_items ({max_items}) must be >= slate_size ({slate_size})")
    model = PBM().fit(log, max_iter=max_iter)
    gamma = np.asarray(model.examination, dtype=np.float64)
    if len(gamma) < slate_size:
        raise ValueError(f"slate_size {slate_size} exceeds the log's depth ({len(gamma)} ranks)")
    kappa = np.clip(gamma[:slate_size], 1e-9, 1.0)
    alpha = model.attractiveness
    assert alpha is not None
    shown = log.df.groupby(["qid", "docno"], sort=False)["session_id"].nunique()
    queries: list[SlateEnvironment] = []
    qids: list[str] = []
    for q, counts in shown.groupby(level=0, sort=True):
        top = counts[counts >= min_impressions].droplevel(0).sort_values(ascending=False, kind="stable")
        docs = [str(d) for d in top.index[:max_items]]
        if len(docs) < slate_size:
            continue
        a = alpha.loc[[(q, d) for d in docs]].to_numpy(dtype=np.float64)
        queries.append(PositionBasedEnvironment(a, kappa, items=tuple(docs)))
        qids.append(str(q))
    if not queries:
        raise ValueError(
            f"no query of the log has {slate_size} documents shown in >= {min_impressions} sessions"
        )
    return MultiQueryEnvironment(tuple(queries), qids=tuple(qids))
