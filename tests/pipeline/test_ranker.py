"""The teacher's feature ranker: cross-fitted scores never come from a model that saw the query."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from distillrank.data import Qrels
from distillrank.data.ltr import LTRDataset
from distillrank.distillation import lgbm_student
from distillrank.pipeline import ranker as ranker_mod

QIDS = [f"q{i}" for i in range(10)]
LISTS = {q: {f"{q}-d{j}": float(5 - j) for j in range(4)} for q in QIDS}
OTHERS = {"v1": {"v1-d0": 1.0, "v1-d1": 0.5}, "t1": {"t1-d0": 2.0}}


class _Features:
    """Feature 0 is the query's index, so a model can tell which queries it was trained on."""

    feature_names: ClassVar[list[str]] = ["query_index", "bm25"]

    def transform(self, run: Any, queries: Any, qrels: Any = None) -> LTRDataset:
        rows, y, qids, docnos = [], [], [], []
        for q in run:
            for d, s in run[q].items():
                index = QIDS.index(q) if q in QIDS else -1
                rows.append([float(index), s])
                y.append(float((qrels or {}).get(q, {}).get(d, 0)))
                qids.append(q)
                docnos.append(d)
        return LTRDataset(
            np.array(rows),
            np.array(y),
            np.array(qids, dtype=object),
            np.array(docnos, dtype=object),
            feature_names=self.feature_names,
        )


class _Recorder:
    """Stands in for LGBMStudent: remembers the queries it was fit on; predicts its own id."""

    fitted: ClassVar[list[set[int]]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def fit(self, X: np.ndarray, y: np.ndarray, group: np.ndarray, eval_set: Any = None) -> _Recorder:
        self.id = len(_Recorder.fitted)
        _Recorder.fitted.append({int(v) for v in X[:, 0]})
        self.eval_queries = None if eval_set is None else set(eval_set.qids.tolist())
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), float(self.id))


def test_cross_fitted_scores_come_from_models_that_never_saw_the_query(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lgbm_student, "LGBMStudent", _Recorder)
    _Recorder.fitted = []
    qrels = Qrels({q: {f"{q}-d1": 1} for q in QIDS})
    scores, full = ranker_mod.cross_fit_ranker(
        _Features(),
        LISTS,
        {q: q for q in [*QIDS, "v1", "t1"]},
        qrels,
        score_lists=OTHERS,
        eval_lists={"v1": OTHERS["v1"]},
        student_kwargs={"objective": "qrels"},
        folds=5,
        seed=0,
    )
    assert len(_Recorder.fitted) == 6  # 5 fold models and the full one
    assert full.id == 5 and _Recorder.fitted[5] == set(range(10))
    assert full.eval_queries == {"v1"}
    assert set(scores) == {*QIDS, "v1", "t1"}
    for i, q in enumerate(QIDS):
        model = int(next(iter(scores[q].values())))
        assert model < 5 and i not in _Recorder.fitted[model]  # out of fold
        assert len(_Recorder.fitted[model]) == 8
    assert all(v == 5.0 for q in ("v1", "t1") for v in scores[q].values())  # the full model


def test_saved_ranker_must_match_the_features() -> None:
    class Booster:
        def feature_name(self) -> list[str]:
            return ["query_index", "bm25"]

    class Model:
        booster_ = Booster()

    assert ranker_mod.ranker_signal_matches(Model(), _Features())
    other = _Features()
    other.feature_names = ["bm25"]  # type: ignore[misc]
    assert not ranker_mod.ranker_signal_matches(Model(), other)
