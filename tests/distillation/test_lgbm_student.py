"""LGBMStudent: every objective trains, distillation follows the teacher, save/load, rerank, folds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import kendalltau

from distillrank.data import LTRDataset, Run
from distillrank.distillation.folds import kfold_queries, split_by_queries
from distillrank.distillation.lgbm_student import OBJECTIVES, LGBMStudent, rerank

N_GROUPS, SIZE, N_FEATURES = 60, 15, 4
FAST = {"n_estimators": 40, "learning_rate": 0.2, "num_leaves": 7, "min_data_in_leaf": 5}


def _teacher(X: np.ndarray) -> np.ndarray:
    return 2.0 * X[:, 0] - X[:, 1] + np.sin(2.0 * X[:, 2])


def _synthetic(seed: int, n_groups: int = N_GROUPS) -> LTRDataset:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_groups * SIZE, N_FEATURES))
    t = _teacher(X)
    y = np.zeros(len(X))
    for g in range(n_groups):  # graded labels: the teacher's best two are relevant, with noise
        block = slice(g * SIZE, (g + 1) * SIZE)
        order = np.argsort(-(t[block] + rng.normal(scale=0.3, size=SIZE)))
        y[g * SIZE + order[0]], y[g * SIZE + order[1]] = 2, 1
    qids = np.repeat(np.array([f"q{g}" for g in range(n_groups)], dtype=object), SIZE)
    docnos = np.array([f"d{i}" for i in range(len(X))], dtype=object)
    return LTRDataset(X, y, qids, docnos, feature_names=[f"f{i}" for i in range(N_FEATURES)])


@pytest.fixture(scope="module")
def train() -> LTRDataset:
    return _synthetic(0)


@pytest.fixture(scope="module")
def test_set() -> LTRDataset:
    return _synthetic(1, 30)


def _mean_tau(pred: np.ndarray, target: np.ndarray) -> float:
    taus = [kendalltau(pred[i : i + SIZE], target[i : i + SIZE]).statistic for i in range(0, len(pred), SIZE)]
    return float(np.mean(taus))


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_every_objective_learns_the_teacher_ordering(objective: Any, train, test_set) -> None:
    student = LGBMStudent(objective, params=FAST, temperature=1.0, top_k=3, early_stopping_rounds=None)
    student.fit(train.X, train.y, train.group, teacher_scores=_teacher(train.X))
    tau = _mean_tau(student.predict(test_set.X), _teacher(test_set.X))
    assert tau > (0.3 if objective in ("qrels", "hard", "rd") else 0.6), tau
    assert student.num_trees == 40
    assert student.num_parameters == 2 * student.num_leaves - student.num_trees


def test_early_stopping_on_validation_ndcg(train, test_set) -> None:
    student = LGBMStudent(
        "soft", params={**FAST, "n_estimators": 400, "learning_rate": 0.5}, early_stopping_rounds=5
    )
    student.fit(train.X, train.y, train.group, teacher_scores=_teacher(train.X), eval_set=test_set)
    assert 0 < student.best_iteration_ < 400
    assert student.feature_names_ == test_set.feature_names


def test_a_validation_set_without_rows_is_ignored_and_no_training_rows_named(train) -> None:
    empty = (np.zeros((0, train.X.shape[1])), np.zeros(0), np.zeros(0, dtype=np.int64))
    student = LGBMStudent("qrels", params={**FAST, "n_estimators": 7}, early_stopping_rounds=5)
    student.fit(train.X, train.y, train.group, eval_set=empty)  # validation queries without candidates
    assert student.best_iteration_ == 7
    with pytest.raises(ValueError, match="no training rows"):
        LGBMStudent("qrels").fit(*empty)


def test_save_load_round_trip(tmp_path: Path, train, test_set) -> None:
    student = LGBMStudent("joint", params=FAST, alpha=0.3, early_stopping_rounds=None)
    student.fit(train.X, train.y, train.group, teacher_scores=_teacher(train.X))
    student.save(tmp_path / "student")
    assert (tmp_path / "student" / "model.txt").exists()
    loaded = LGBMStudent.load(tmp_path / "student")
    np.testing.assert_array_equal(loaded.predict(test_set.X), student.predict(test_set.X))
    assert (loaded.objective, loaded.alpha, loaded.num_parameters) == ("joint", 0.3, student.num_parameters)


def test_rerank_rescores_the_run(train, test_set) -> None:
    student = LGBMStudent("qrels", params=FAST, early_stopping_rounds=None).fit(train.X, train.y, train.group)
    run = Run(
        {
            q: {d: 0.0 for d, qq in zip(test_set.docnos, test_set.qids, strict=True) if qq == q}
            for q in test_set.query_ids
        }
    )
    out = student.rerank(run, test_set)
    pred = student.predict(test_set.X)
    assert out[test_set.qids[0]][test_set.docnos[0]] == pytest.approx(pred[0])
    assert {q: set(v) for q, v in out.items()} == {q: set(v) for q, v in run.items()}
    with pytest.raises(ValueError, match="no feature row for 1 candidates"):
        rerank(student, Run({test_set.qids[0]: {"nosuch": 1.0}}), test_set)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"objective": "distill"}, "objective must be one of"),
        ({"temperature": 0.0}, "temperature must be a positive number"),
        ({"alpha": 1.5}, r"alpha must be in \[0, 1\]"),
        ({"top_k": 0}, "top_k must be a positive integer"),
        ({"params": {"objective": "regression"}}, "not in params"),
        ({"margin_anchor": "best"}, "margin_anchor must be 'teacher' or 'positive'"),
    ],
)
def test_invalid_configuration(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LGBMStudent(**kwargs)


def test_margin_anchor_moves_the_judged_positive_or_the_teachers_best_first() -> None:
    from distillrank.distillation.lgbm_student import _anchor_first

    teacher = np.array([0.1, 0.9, 0.5, 0.3, 0.2, 0.8, 0.7])
    labels = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    group = np.array([3, 4])  # the second query has no judged positive: the teacher's best anchors it
    assert _anchor_first(teacher, group).tolist() == [1, 0, 2, 5, 4, 3, 6]
    assert _anchor_first(teacher, group, labels).tolist() == [2, 1, 0, 5, 4, 3, 6]
    graded = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0])  # tied labels: the teacher's best of them
    assert _anchor_first(teacher, group, graded).tolist() == [2, 1, 0, 5, 4, 3, 6]


def test_margin_mse_student_with_positive_anchor_saves_it(tmp_path: Path, train, test_set) -> None:
    student = LGBMStudent("margin_mse", params=FAST, margin_anchor="positive", early_stopping_rounds=None)
    student.fit(train.X, train.y, train.group, teacher_scores=_teacher(train.X))
    assert _mean_tau(student.predict(test_set.X), _teacher(test_set.X)) > 0.6
    student.save(tmp_path / "m")
    assert LGBMStudent.load(tmp_path / "m").margin_anchor == "positive"


def test_teacher_objectives_need_teacher_scores(train) -> None:
    with pytest.raises(ValueError, match="needs teacher_scores"):
        LGBMStudent("soft").fit(train.X, train.y, train.group)
    with pytest.raises(RuntimeError, match="not fitted"):
        LGBMStudent("soft").predict(train.X)


# ------------------------------------------------------------------------------------------------ folds
def test_kfold_queries_partition_the_queries() -> None:
    qids = [f"q{i}" for i in range(23)]
    folds = kfold_queries(qids + qids[:5], k=5, seed=3)  # duplicates count once
    tests = [set(test) for _, test in folds]
    assert sorted(len(t) for t in tests) == [4, 4, 5, 5, 5]
    assert set().union(*tests) == set(qids)
    for train_q, test_q in folds:
        assert not set(train_q) & set(test_q)
        assert set(train_q) | set(test_q) == set(qids)
    assert kfold_queries(qids, 5, seed=3) == kfold_queries(qids, 5, seed=3)
    assert kfold_queries(qids, 5, seed=3) != kfold_queries(qids, 5, seed=4)
    with pytest.raises(ValueError, match="k must be an integer >= 2"):
        kfold_queries(qids, 1)
    with pytest.raises(ValueError, match="cannot make 5 folds"):
        kfold_queries(qids[:3], 5)


def test_no_test_query_label_reaches_training(train) -> None:
    """Scrambling the test queries' labels (and teacher scores) leaves every fold's model unchanged."""
    teacher = _teacher(train.X)
    rng = np.random.default_rng(0)
    for train_q, test_q in kfold_queries(train.query_ids, k=3, seed=0):
        scrambled_y = train.y.copy()
        scrambled_t = teacher.copy()
        in_test = np.isin(train.qids, test_q)
        scrambled_y[in_test] = rng.integers(0, 3, size=int(in_test.sum()))
        scrambled_t[in_test] = rng.normal(size=int(in_test.sum()))
        preds = []
        for y, t in ((train.y, teacher), (scrambled_y, scrambled_t)):
            ds = LTRDataset(np.column_stack([train.X, t]), y, train.qids, train.docnos)
            tr, te = split_by_queries(ds, train_q, test_q)
            assert set(tr.query_ids) == set(train_q) and set(te.query_ids) == set(test_q)
            student = LGBMStudent("joint", params=FAST, early_stopping_rounds=None)
            student.fit(tr.X[:, :-1], tr.y, tr.group, teacher_scores=tr.X[:, -1])
            preds.append(student.predict(te.X[:, :-1]))
        np.testing.assert_array_equal(preds[0], preds[1])
    with pytest.raises(ValueError, match="both train and test"):
        split_by_queries(train, ["q1", "q2"], ["q2"])


class _Constant:
    """A model that scores every row 1.0, except rows whose first feature is negative (0.0)."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.where(np.asarray(X)[:, 0] < 0, 0.0, 1.0)


def test_rerank_breaks_ties_by_the_first_stage_order() -> None:
    X = np.array([[1.0], [1.0], [-1.0], [1.0]])
    ds = LTRDataset(
        X, np.zeros(4), np.array(["q"] * 4, dtype=object), np.array(["a", "b", "c", "z"], dtype=object)
    )
    run = Run({"q": {"a": 4.0, "b": 3.0, "c": 2.0, "z": 1.0}})
    out = rerank(_Constant(), run, ds)
    assert [d for d, _ in out.ranked("q")] == ["a", "b", "z", "c"]  # ties in run order, c still last
    plain = rerank(_Constant(), run, ds, break_ties=False)
    assert [d for d, _ in plain.ranked("q")] == ["z", "b", "a", "c"]  # Run's convention: docno descending


def test_training_data_too_small_to_split_is_a_clear_error() -> None:
    """A custom (distillation) objective on fewer candidates than a leaf needs: LightGBM's own check
    fails inside C++; the student says what is wrong instead."""
    from distillrank.errors import DistillrankError

    rng = np.random.default_rng(0)
    X, y, group = rng.normal(size=(12, 3)), np.tile([1.0, 0.0, 0.0], 4), np.array([3, 3, 3, 3])
    with pytest.raises(DistillrankError, match=r"no feature it can split on .*12 candidates of 4 queries"):
        LGBMStudent(objective="soft").fit(X, y, group, teacher_scores=rng.normal(size=12))
