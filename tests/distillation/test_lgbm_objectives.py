"""LightGBM objectives from the registered losses: gradients, exact Hessian diagonals, and training."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pytest
from scipy.stats import kendalltau

from distillrank.distillation.lgbm_objectives import make_objective

GROUP = np.array([4, 1, 7, 3, 6])  # uneven sizes: several buckets, padding, a one-entry list
N = int(GROUP.sum())

# (loss, hyper-parameters, teacher loss?, also pass labels?)
CASES = [
    ("soft_label", {"temperature": 2.0}, True, False),
    ("soft_label", {"temperature": 0.5, "divergence": "ce"}, True, False),
    ("joint", {"alpha": 0.3, "temperature": 2.0}, True, True),
    ("joint", {}, True, False),
    ("margin_mse", {}, True, False),
    ("margin_mse", {"pairs": "all"}, True, False),
    ("rank_distillation", {"top_k": 2, "weighting": "exp"}, True, True),
    ("hard_label", {"top_k": 2}, True, False),
    ("hard_label", {"mode": "pairwise"}, True, False),
    ("hard_label", {"top_k": 2, "mode": "listwise"}, True, False),
    ("softmax", {}, False, False),
    ("listnet", {"temperature": 2.0}, False, False),
    ("lambdaloss", {}, False, False),
    ("pair_ce", {}, False, False),
    ("bce", {}, False, False),
    ("mse", {}, False, False),
]


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    preds = rng.normal(size=N)
    teacher = rng.normal(scale=2.0, size=N)
    labels = rng.integers(0, 3, size=N).astype(float)
    labels[4:5] = 0.0  # the one-entry list has no positive
    return preds, teacher, labels


def _objective(loss: str, hyper: dict[str, Any], teacher_loss: bool, with_labels: bool, **kw: Any):
    _, teacher, labels = _data()
    targets = teacher if teacher_loss else labels
    extra: dict[str, Any] = {"labels": labels} if with_labels else {}
    return make_objective(loss, targets, GROUP, **extra, **hyper, **kw)


@pytest.mark.parametrize(("loss", "hyper", "teacher_loss", "with_labels"), CASES)
def test_gradient_equals_finite_differences(loss, hyper, teacher_loss, with_labels) -> None:
    obj = _objective(loss, hyper, teacher_loss, with_labels)
    preds = _data()[0]
    grad = obj.gradient(preds)
    eps = 1e-6
    fd = np.empty(N)
    for i in range(N):
        up, down = preds.copy(), preds.copy()
        up[i] += eps
        down[i] -= eps
        fd[i] = (obj.loss(up) - obj.loss(down)) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(("loss", "hyper", "teacher_loss", "with_labels"), CASES)
def test_auto_hessian_equals_exact_autograd_diagonal(loss, hyper, teacher_loss, with_labels) -> None:
    obj = _objective(loss, hyper, teacher_loss, with_labels)
    preds = _data(1)[0]
    exact = obj.hessian_diagonal(preds, "exact")
    auto = obj.hessian_diagonal(preds, "auto")
    np.testing.assert_allclose(auto, exact, rtol=1e-10, atol=1e-12)


def test_exact_hessian_equals_finite_differences_of_the_gradient() -> None:
    obj = _objective("lambdaloss", {}, False, False)
    preds = _data(2)[0]
    exact = obj.hessian_diagonal(preds, "exact")
    eps = 1e-6
    fd = np.empty(N)
    for i in range(N):
        up, down = preds.copy(), preds.copy()
        up[i] += eps
        down[i] -= eps
        fd[i] = (obj.gradient(up)[i] - obj.gradient(down)[i]) / (2 * eps)
    np.testing.assert_allclose(exact, fd, rtol=1e-5, atol=1e-7)


def test_soft_label_hessian_is_p_times_one_minus_p() -> None:
    """Hinton's T^2 scaling makes the KL Hessian diagonal p(1 - p), p = softmax(s / T)."""
    temperature = 2.0
    preds, teacher, _ = _data(3)
    obj = make_objective("soft_label", teacher, GROUP, temperature=temperature, min_hessian=0.0)
    grad, hess = obj(preds, None)
    exact = obj.hessian_diagonal(preds, "exact")
    start = 0
    for size in GROUP:
        sl = slice(start, start + size)
        p = np.exp(preds[sl] / temperature - np.max(preds[sl] / temperature))
        p /= p.sum()
        q = np.exp(teacher[sl] / temperature - np.max(teacher[sl] / temperature))
        q /= q.sum()
        np.testing.assert_allclose(exact[sl], p * (1 - p), atol=1e-12)
        np.testing.assert_allclose(hess[sl], p * (1 - p), atol=1e-12)
        np.testing.assert_allclose(grad[sl], temperature * (p - q), atol=1e-12)
        start += size


def test_hessian_is_clamped_and_shapes_match() -> None:
    preds, teacher, _ = _data()
    obj = make_objective("soft_label", teacher, GROUP, min_hessian=1e-3)
    grad, hess = obj(preds, None)
    assert grad.shape == hess.shape == (N,)
    assert hess.min() >= 1e-3
    assert obj.n_calls == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss_name": "nosuch"}, "unknown loss 'nosuch'"),
        ({"targets": np.zeros(N - 1)}, f"has {N - 1} rows but the groups add up to {N}"),
        ({"targets": np.full(N, np.nan)}, "NaN or infinite"),
        ({"temperature": -1.0}, "temperature must be a positive number"),
        ({"hessian": "diagonal"}, "hessian must be one of"),
        ({"loss_name": "softmax", "labels": np.zeros(N)}, "takes no teacher scores"),
        ({"loss_name": "in_batch_softmax"}, "query x document matrix"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict, message: str) -> None:
    args = {"loss_name": "soft_label", "targets": np.zeros(N), "group": GROUP, **kwargs}
    with pytest.raises(ValueError, match=message):
        make_objective(**args)


def test_wrong_number_of_predictions() -> None:
    obj = make_objective("soft_label", np.zeros(N), GROUP)
    with pytest.raises(ValueError, match="predictions for an objective built on"):
        obj(np.zeros(N + 1), None)


def test_lightgbm_with_soft_label_objective_reproduces_teacher_ordering() -> None:
    rng = np.random.default_rng(7)
    n_groups, size = 120, 20
    X = rng.normal(size=(n_groups * size, 5))
    teacher = 2.0 * X[:, 0] - X[:, 1] + np.sin(2.0 * X[:, 2])  # features 3 and 4 are noise
    group = np.full(n_groups, size)
    obj = make_objective("soft_label", teacher, group, temperature=1.0)
    params = {
        "objective": obj,
        "learning_rate": 0.2,
        "num_leaves": 15,
        "min_data_in_leaf": 10,
        "num_threads": 1,
        "verbose": -1,
    }
    booster = lgb.train(params, lgb.Dataset(X, group=group), num_boost_round=80)
    X_test = rng.normal(size=(50 * size, 5))
    t_test = 2.0 * X_test[:, 0] - X_test[:, 1] + np.sin(2.0 * X_test[:, 2])
    pred = booster.predict(X_test)
    taus = [kendalltau(pred[i : i + size], t_test[i : i + size]).statistic for i in range(0, len(pred), size)]
    assert np.mean(taus) > 0.8
    assert obj.n_calls == 80
