"""A LightGBM ranking student trained on qrels, on a teacher's scores, or on both.

:class:`LGBMStudent` follows the scikit-learn / LightGBM estimator contract (``fit(X, y, group=...)``,
``predict(X)``) and picks its training signal by ``objective``:

===============  ==========================================================================================
``"qrels"``      LambdaMART (LightGBM's ``lambdarank``) on the ground-truth labels ``y`` — no teacher
``"hard"``       LambdaMART on the teacher's top-``top_k`` of each query as binary labels (hard labels)
``"soft"``       the ``soft_label`` loss, ``T^2 KL(softmax(t/T) || softmax(s/T))`` (``temperature``)
``"joint"``      the ``joint`` loss, ``alpha * CE(labels) + (1 - alpha) * soft_label`` (``alpha``)
``"margin_mse"`` the ``margin_mse`` loss; rows are reordered so that each query's first row is the
                 anchor (``pairs="first"``: margins to the teacher's best, or the judged positive)
``"rd"``         ``rank_distillation`` (Tang & Wang 2018): the teacher's top-``top_k`` unlabelled
                 candidates as weighted positives, plus a BCE on the labels
===============  ==========================================================================================

The distillation objectives are LightGBM custom objectives from :func:`.make_objective`, i.e. the
registered losses of :mod:`distillrank.losses` with autograd gradients and exact Hessian diagonals.
Early stopping watches nDCG@``eval_at`` on ``eval_set`` (its labels must be graded relevance).

What ``num_parameters`` counts: a tree ensemble has no weight matrices; its learned numbers are one
threshold per split node and one output value per leaf, so ``num_parameters`` is the number of nodes
(splits + leaves) of the trees used for prediction (up to the best iteration). The split features and
the tree shapes are structure, not counted. ``num_leaves`` and ``num_trees`` are reported too.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, group = rng.normal(size=(200, 3)), np.full(20, 10)
    >>> teacher = X[:, 0] - X[:, 1]
    >>> student = LGBMStudent("soft", params={"n_estimators": 20, "verbose": -1}).fit(
    ...     X, np.zeros(200), group, teacher_scores=teacher)
    >>> student.predict(X).shape
    (200,)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp

from distillrank.data.ltr import LTRDataset
from distillrank.data.run import Run
from distillrank.data.run import break_ties as _break_ties
from distillrank.distillation.lgbm_objectives import ListwiseObjective, make_objective
from distillrank.errors import DistillrankError
from distillrank.io import atomic_write

__all__ = ["OBJECTIVES", "LGBMStudent", "StudentObjective", "rerank"]

StudentObjective = Literal["qrels", "hard", "soft", "joint", "margin_mse", "rd"]
OBJECTIVES: tuple[str, ...] = ("qrels", "hard", "soft", "joint", "margin_mse", "rd")
_TEACHER_LOSS = {
    "soft": "soft_label",
    "joint": "joint",
    "margin_mse": "margin_mse",
    "rd": "rank_distillation",
}
_MODEL = "model.txt"
_CONFIG = "student.json"
_FORMAT = "distillrank-lgbm-student"
_FORMAT_VERSION = 1

BOOSTER_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "seed": 0,
    "num_threads": 1,  # LightGBM's OpenMP threads spin-wait: on a busy machine 2 threads can be 100x slower
    "verbose": -1,
}
"""The tree settings every distillrank booster starts from (this student, the online loop's ranker and
the click-regression model of :mod:`distillrank.feedback.unbiased.lgbm`), without the number of rounds."""
DEFAULT_PARAMS: dict[str, Any] = {"n_estimators": 300, **BOOSTER_PARAMS}


class _Predictor(Protocol):
    def predict(self, X: Any) -> np.ndarray: ...


@dataclass
class LGBMStudent:
    """A LightGBM ranker distilled from a teacher (or trained on qrels); see the module docstring.

    Attributes:
        objective: ``"qrels"``, ``"hard"``, ``"soft"``, ``"joint"``, ``"margin_mse"`` or ``"rd"``.
        params: LightGBM parameters, over :data:`DEFAULT_PARAMS` (``n_estimators`` is the number of
            boosting rounds).
        temperature: ``T`` of ``"soft"`` and ``"joint"``.
        alpha: weight of the hard (label) part of ``"joint"``, or of the distillation term of ``"rd"``.
        top_k: teacher positives per query for ``"hard"`` and ``"rd"``.
        early_stopping_rounds: stop when nDCG@``eval_at[0]`` on ``eval_set`` has not improved for this
            many rounds (None: no early stopping).
        eval_at: nDCG cut-offs evaluated on ``eval_set``.
        loss_hyper: further hyper-parameters of the distillation loss (e.g. ``{"weighting": "exp"}``).
        margin_anchor: the first row of each query for ``"margin_mse"``, to which every margin is taken:
            the teacher's best (``"teacher"``) or the judged positive with the highest label
            (``"positive"``, as in Hofstätter et al.'s (query, positive, negative) triples; the teacher's
            best for a query without one).
    """

    objective: StudentObjective = "soft"
    params: dict[str, Any] = field(default_factory=dict)
    temperature: float = 1.0
    alpha: float = 0.5
    top_k: int = 1
    early_stopping_rounds: int | None = 50
    eval_at: tuple[int, ...] = (10,)
    loss_hyper: dict[str, Any] = field(default_factory=dict)
    margin_anchor: Literal["teacher", "positive"] = "teacher"
    booster_: lgb.Booster | None = field(default=None, init=False, repr=False)
    best_iteration_: int = field(default=0, init=False)
    feature_names_: list[str] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}; got {self.objective!r}")
        if not (isinstance(self.temperature, int | float) and self.temperature > 0):
            raise ValueError(f"temperature must be a positive number; got {self.temperature!r}")
        if not (isinstance(self.alpha, int | float) and 0 <= self.alpha <= 1):
            raise ValueError(f"alpha must be in [0, 1]; got {self.alpha!r}")
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1:
            raise ValueError(f"top_k must be a positive integer; got {self.top_k!r}")
        if self.margin_anchor not in ("teacher", "positive"):
            raise ValueError(f"margin_anchor must be 'teacher' or 'positive'; got {self.margin_anchor!r}")
        if self.early_stopping_rounds is not None and self.early_stopping_rounds < 1:
            raise ValueError(
                f"early_stopping_rounds must be >= 1 or None; got {self.early_stopping_rounds!r}"
            )
        if "objective" in self.params:
            raise ValueError("set the objective with LGBMStudent(objective=...), not in params")
        self.eval_at = tuple(int(k) for k in self.eval_at)

    @property
    def needs_teacher(self) -> bool:
        return self.objective != "qrels"

    # ------------------------------------------------------------------ training
    def fit(
        self,
        X: np.ndarray | sp.spmatrix,
        y: np.ndarray,
        group: np.ndarray,
        teacher_scores: np.ndarray | None = None,
        eval_set: tuple[Any, np.ndarray, np.ndarray] | LTRDataset | None = None,
        *,
        feature_names: list[str] | None = None,
    ) -> LGBMStudent:
        """Train on rows ``X`` grouped by query (``group``: rows per query, in order).

        Args:
            X: ``[n_rows, n_features]``.
            y: ``[n_rows]`` graded labels (qrels; 0 for unjudged). Used by ``"qrels"``, ``"joint"`` and
                ``"rd"``; the other objectives ignore them.
            group: rows per query.
            teacher_scores: ``[n_rows]`` the teacher's scores; required except for ``"qrels"``.
            eval_set: ``(X_val, y_val, group_val)`` or an LTRDataset, for early stopping on nDCG; one without
                rows (no validation query has candidates) is ignored: every round is kept.
            feature_names: names for the model file (default: ``eval_set``'s or ``f0, f1, ...``).
        """
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        group = np.asarray(group, dtype=np.int64).reshape(-1)
        n = X.shape[0]
        if n == 0:
            raise ValueError("no training rows: every training query has an empty candidate list")
        if len(y) != n or int(group.sum()) != n:
            raise ValueError(f"{n} rows, {len(y)} labels and groups adding up to {int(group.sum())}")
        if self.needs_teacher:
            if teacher_scores is None:
                raise ValueError(f"objective {self.objective!r} needs teacher_scores")
            teacher = np.asarray(teacher_scores, dtype=np.float64).reshape(-1)
            if len(teacher) != n or not np.isfinite(teacher).all():
                raise ValueError(f"teacher_scores must be {n} finite values")
        params = {**DEFAULT_PARAMS, **self.params}
        rounds = int(params.pop("n_estimators", params.pop("num_boost_round", 100)))
        params["metric"] = "ndcg"
        params["eval_at"] = list(self.eval_at)
        if self.objective == "margin_mse":
            perm = _anchor_first(teacher, group, y if self.margin_anchor == "positive" else None)
            X, y, teacher = X[perm], y[perm], teacher[perm]
        train_labels = y
        if self.objective == "qrels":
            params["objective"] = "lambdarank"
        elif self.objective == "hard":
            params["objective"] = "lambdarank"
            train_labels = _top_k_labels(teacher, group, self.top_k)
        else:
            params["objective"] = self._objective(teacher, y, group)
        if isinstance(eval_set, LTRDataset):
            feature_names = feature_names or eval_set.feature_names
            eval_set = (eval_set.X, eval_set.y, eval_set.group)
        if eval_set is not None and len(eval_set[0]) == 0:  # (validation queries without candidates)
            eval_set = None
        self.feature_names_ = feature_names
        train = lgb.Dataset(
            X,
            label=np.clip(train_labels, 0, None),
            group=group,
            feature_name=feature_names or "auto",
            free_raw_data=False,
        )
        valid_sets: list[lgb.Dataset] = []
        callbacks: list[Callable[..., Any]] = []
        if eval_set is not None:
            X_val, y_val, g_val = eval_set
            valid_sets.append(lgb.Dataset(X_val, label=np.clip(y_val, 0, None), group=g_val, reference=train))
            if self.early_stopping_rounds is not None:
                callbacks.append(
                    lgb.early_stopping(self.early_stopping_rounds, first_metric_only=True, verbose=False)
                )
        try:
            self.booster_ = lgb.train(
                params, train, num_boost_round=rounds, valid_sets=valid_sets, callbacks=callbacks
            )
        except lgb.basic.LightGBMError as e:
            if "num_features" not in str(e):
                raise
            leaf = params.get("min_data_in_leaf", params.get("min_child_samples", 20))
            raise DistillrankError(
                f"LightGBM found no feature it can split on in the training data ({n} candidates of "
                f"{len(group)} queries; a leaf needs {leaf}): too few candidates, or every feature constant; "
                "train on more queries, or queries with more BM25 candidates"
            ) from e
        best = self.booster_.best_iteration
        self.best_iteration_ = int(best) if best and best > 0 else self.booster_.current_iteration()
        return self

    def _objective(self, teacher: np.ndarray, y: np.ndarray, group: np.ndarray) -> ListwiseObjective:
        name = _TEACHER_LOSS[self.objective]
        hyper: dict[str, Any] = {}
        labels: np.ndarray | None = None
        if self.objective == "soft":
            hyper = {"temperature": float(self.temperature)}
        elif self.objective == "joint":
            hyper = {"alpha": float(self.alpha), "temperature": float(self.temperature)}
            labels = y
        elif self.objective == "margin_mse":
            hyper = {"pairs": "first"}
        elif self.objective == "rd":
            hyper = {"top_k": self.top_k, "alpha": float(self.alpha)}
            labels = y
        return make_objective(name, teacher, group, labels=labels, **{**hyper, **self.loss_hyper})

    # ------------------------------------------------------------------ inference
    def _require(self) -> lgb.Booster:
        if self.booster_ is None:
            raise RuntimeError("LGBMStudent is not fitted: call fit() or LGBMStudent.load()")
        return self.booster_

    def predict(self, X: np.ndarray | sp.spmatrix) -> np.ndarray:
        """Scores of rows ``X`` (higher is more relevant), using the trees up to the best iteration."""
        return np.asarray(self._require().predict(X, num_iteration=self.best_iteration_), dtype=np.float64)

    def rerank(self, run: Run, features: LTRDataset, *, name: str | None = None) -> Run:
        """``run`` re-scored by this student; see :func:`rerank`."""
        return rerank(self, run, features, name=name or f"lgbm-{self.objective}")

    @property
    def num_trees(self) -> int:
        return int(self.best_iteration_)

    @property
    def num_leaves(self) -> int:
        return sum(t["num_leaves"] for t in self._trees())

    @property
    def num_parameters(self) -> int:
        """Nodes (split thresholds + leaf values) of the trees used for prediction; see the module doc."""
        return sum(2 * t["num_leaves"] - 1 for t in self._trees())

    def _trees(self) -> list[dict[str, Any]]:
        info = self._require().dump_model(num_iteration=self.best_iteration_)
        return list(info["tree_info"])

    def feature_importance(self, importance_type: str = "gain") -> dict[str, float]:
        booster = self._require()
        values = booster.feature_importance(importance_type, iteration=self.best_iteration_)
        return dict(zip(booster.feature_name(), (float(v) for v in values), strict=True))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the folder ``path``: LightGBM's model text (``model.txt``) and ``student.json``."""
        booster = self._require()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with atomic_write(path / _MODEL) as f:
            f.write(booster.model_to_string(num_iteration=self.best_iteration_))
        config = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "objective": self.objective,
            "params": self.params,
            "temperature": self.temperature,
            "alpha": self.alpha,
            "top_k": self.top_k,
            "early_stopping_rounds": self.early_stopping_rounds,
            "eval_at": list(self.eval_at),
            "loss_hyper": self.loss_hyper,
            "margin_anchor": self.margin_anchor,
            "best_iteration": self.best_iteration_,
            "feature_names": self.feature_names_,
        }
        with atomic_write(path / _CONFIG) as f:
            json.dump(config, f, indent=2)

    @classmethod
    def load(cls, path: str | Path) -> LGBMStudent:
        """Read a student written by :meth:`save`."""
        path = Path(path)
        with open(path / _CONFIG, encoding="utf-8") as f:
            config = json.load(f)
        if config.get("format") != _FORMAT or config.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"{path}: not a {_FORMAT} v{_FORMAT_VERSION} folder")
        student = cls(
            objective=config["objective"],
            params=config["params"],
            temperature=config["temperature"],
            alpha=config["alpha"],
            top_k=config["top_k"],
            early_stopping_rounds=config["early_stopping_rounds"],
            eval_at=tuple(config["eval_at"]),
            loss_hyper=config["loss_hyper"],
            margin_anchor=config.get("margin_anchor", "teacher"),
        )
        student.booster_ = lgb.Booster(model_file=str(path / _MODEL))
        student.best_iteration_ = int(config["best_iteration"])
        student.feature_names_ = config["feature_names"]
        return student


def rerank(
    model: _Predictor, run: Run, features: LTRDataset, *, name: str = "rerank", break_ties: bool = True
) -> Run:
    """Re-score the candidates of ``run`` with ``model.predict(features.X)``.

    ``features`` must hold a row (with docnos) for every (query, document) of ``run``, e.g.
    ``FeatureExtractor.transform(run, ...)``; rows for other pairs are ignored. Queries of ``run`` keep
    their candidate sets; only the scores change.

    Tree ensembles often give several candidates of a query the same score (same leaves). With
    ``break_ties`` (the default) such ties are broken by the order of ``run`` (the first stage), by
    adding less than half the smallest gap between the query's distinct scores, so the order of
    candidates with different scores never changes. Without it, ties fall back to the Run convention
    (descending docno).

    Raises:
        ValueError: ``features`` has no docnos, or lacks a pair of ``run``.
    """
    if features.docnos is None:
        raise ValueError("features have no docnos: build them with FeatureExtractor.transform(run, ...)")
    scores = np.asarray(model.predict(features.X), dtype=np.float64).reshape(-1)
    if not np.isfinite(scores).all():
        raise ValueError("the model predicted a NaN or infinite score")
    by_query: dict[str, dict[str, float]] = {}
    for q, d, s in zip(features.qids.tolist(), features.docnos.tolist(), scores.tolist(), strict=True):
        by_query.setdefault(q, {})[d] = s
    out: dict[str, dict[str, float]] = {}
    for qid in run:
        ranked = [d for d, _ in run.ranked(qid)]
        have = by_query.get(qid, {})
        missing = [d for d in ranked if d not in have]
        if missing:
            raise ValueError(
                f"query {qid!r}: no feature row for {len(missing)} candidates, e.g. {missing[0]!r}"
            )
        values = np.array([have[d] for d in ranked], dtype=np.float64)
        if break_ties and len(values) > 1:
            values = _break_ties(values)
        out[qid] = dict(zip(ranked, values.tolist(), strict=True))
    return Run.from_trusted(out, name=name)


def _group_starts(group: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(group)[:-1]]).astype(np.int64)


def _top_k_labels(teacher: np.ndarray, group: np.ndarray, k: int) -> np.ndarray:
    """1 for each group's ``k`` rows with the highest teacher score (ties to the earlier row), else 0."""
    labels = np.zeros(len(teacher))
    for start, size in zip(_group_starts(group).tolist(), group.tolist(), strict=True):
        block = teacher[start : start + size]
        top = np.argsort(-block, kind="stable")[:k]
        labels[start + top] = 1.0
    return labels


def _anchor_first(teacher: np.ndarray, group: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """A row permutation that moves each group's anchor row to the group's front: the row with the
    highest label when ``labels`` are given and the group has one > 0 (ties: the teacher's best of them),
    else the row with the highest teacher score."""
    perm = np.arange(len(teacher))
    for start, size in zip(_group_starts(group).tolist(), group.tolist(), strict=True):
        if size > 1:
            t = teacher[start : start + size]
            if labels is not None and (y := labels[start : start + size]).max() > 0:
                best = start + int(np.lexsort((-t, -y))[0])
            else:
                best = start + int(np.argmax(t))
            perm[[start, best]] = perm[[best, start]]
    return perm
