r"""The teacher's feature ranker: LambdaMART over the cheap features, trained on the training queries.

A cross-encoder fine-tuned on a few hundred queries is a weak ranker next to a LambdaMART over BM25, the
dense cosine and lexical features trained on the same qrels (on SciFact: 0.67 against 0.77 nDCG@10). The
fusion teacher (:mod:`.teacher`) can therefore take this ranker as a fourth signal, ``"ranker"``, next to
the cross-encoder, BM25 and the dense cosine.

Its scores on the **training** queries can be *cross-fitted* (out of fold): the training queries are cut into
``folds`` parts and each part is scored by a model trained on the others, so the teacher labels that the
students learn from never come from a model that saw those queries' qrels (stacking, Wolpert 1992; the
cross-fitting of Chernozhukov et al. 2018). Validation and test queries, and serving, use one model
trained on all training queries. Every model stops early on the validation queries' nDCG@10. With
``in_sample=True`` the training queries are labelled by that model too, as a teacher usually labels its
own training data, and no fold model is fitted; the main job does this by default
(``teacher.ranker_labels: in_sample``; ``cross_fit`` asks for the out-of-fold labels).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from distillrank.data.collection import Qrels
from distillrank.data.run import Run

__all__ = ["RANKER_DIR", "cross_fit_ranker", "load_ranker", "ranker_signal_matches", "score_with"]

RANKER_DIR = "ranker"


def score_with(
    model: Any, features: Any, run: Mapping[str, Mapping[str, float]], queries: Mapping[str, str]
) -> dict[str, dict[str, float]]:
    """``qid -> {docno: score}`` of ``model`` (an :class:`~distillrank.distillation.LGBMStudent`) over the
    documents of ``run`` (``qid -> {docno: first-stage score}``), with the features of ``features`` (a
    fitted :class:`~distillrank.distillation.features.FeatureExtractor`)."""
    if not run:
        return {}
    ds = features.transform(Run.from_trusted({q: dict(v) for q, v in run.items()}), queries)
    return by_query(ds, model.predict(ds.X))


def by_query(ds: Any, pred: np.ndarray) -> dict[str, dict[str, float]]:
    """``qid -> {docno: score}`` of the per-row scores ``pred`` of the feature rows ``ds`` (an
    :class:`~distillrank.data.ltr.LTRDataset` with docnos)."""
    out: dict[str, dict[str, float]] = {}
    for q, d, v in zip(ds.qids, ds.docnos, np.asarray(pred).tolist(), strict=True):
        out.setdefault(str(q), {})[str(d)] = float(v)
    return out


def cross_fit_ranker(
    features: Any,
    train_lists: Mapping[str, Mapping[str, float]],
    queries: Mapping[str, str],
    qrels: Qrels,
    *,
    score_lists: Mapping[str, Mapping[str, float]],
    eval_lists: Mapping[str, Mapping[str, float]] | None,
    student_kwargs: Mapping[str, Any],
    folds: int = 5,
    seed: int = 0,
    in_sample: bool = False,
) -> tuple[dict[str, dict[str, float]], Any]:
    """Cross-fitted ranker scores (see the module docstring).

    Args:
        features: a fitted :class:`~distillrank.distillation.features.FeatureExtractor`.
        train_lists: ``qid -> {docno: BM25 score}`` of the training queries (their lists).
        queries: query texts.
        qrels: judgements of the training and evaluation queries.
        score_lists: lists of the other queries (validation, test), scored by the model trained on all
            training queries.
        eval_lists: lists of the validation queries, for early stopping (None: no early stopping).
        student_kwargs: :class:`~distillrank.distillation.LGBMStudent` arguments (objective ``"qrels"``).
        folds: number of cross-fitting folds (each training query is scored by a model that did not see
            it).
        seed: fold assignment.
        in_sample: score the training queries with the model trained on all of them too (no fold models
            are fitted).

    Returns:
        ``qid -> {docno: score}`` for every query of ``train_lists`` (out of fold, or in sample) and
        ``score_lists``, and the model trained on all training queries.

    Raises:
        ValueError: fewer training queries than ``folds``.
    """
    from distillrank.distillation.folds import kfold_queries
    from distillrank.distillation.lgbm_student import LGBMStudent

    def dataset(lists: Mapping[str, Mapping[str, float]]) -> Any:
        return features.transform(Run.from_trusted({q: dict(v) for q, v in lists.items()}), queries, qrels)

    eval_set = dataset(eval_lists) if eval_lists else None

    def fit(lists: Mapping[str, Mapping[str, float]]) -> Any:
        ds = dataset(lists)
        return LGBMStudent(**dict(student_kwargs)).fit(ds.X, ds.y, ds.group, eval_set=eval_set)

    qids = sorted(train_lists)
    scores: dict[str, dict[str, float]] = {}
    if not in_sample:
        for train, held_out in kfold_queries(qids, folds, seed=seed):
            model = fit({q: train_lists[q] for q in train})
            scores.update(score_with(model, features, {q: train_lists[q] for q in held_out}, queries))
    full = fit(train_lists)
    scores.update(
        score_with(full, features, {**score_lists, **train_lists} if in_sample else score_lists, queries)
    )
    return scores, full


def load_ranker(folder: str | Path) -> Any | None:
    """The ranker saved in ``folder/ranker`` (None when there is none)."""
    from distillrank.distillation.lgbm_student import LGBMStudent

    path = Path(folder) / RANKER_DIR
    return LGBMStudent.load(path) if path.is_dir() else None


def ranker_signal_matches(model: Any, features: Any) -> bool:
    """Whether ``model`` was trained on the features that ``features`` makes, by name (a ranker saved with
    the dense cosine needs the dense side here too)."""
    booster = getattr(model, "booster_", None)
    return booster is None or list(booster.feature_name()) == list(features.feature_names)
