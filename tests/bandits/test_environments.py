"""Click environments: hand-computed rewards, best slates, click statistics, and the real-data builders."""

from __future__ import annotations

import doctest
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import distillrank.bandits.datasets as datasets_module
import distillrank.bandits.environments as environments_module
from distillrank.bandits.datasets import (
    click_log_environment,
    estimate_pbm_from_uniform_log,
    graded_environment,
    ltr_environment,
    obd_environment,
    run_environment,
)
from distillrank.bandits.environments import (
    CascadeEnvironment,
    MultiQueryEnvironment,
    PositionBasedEnvironment,
)
from distillrank.data.catalogue import load_dataset
from distillrank.data.clicklog import ClickLog
from distillrank.data.dataset import SplitDataset
from distillrank.data.run import Run
from distillrank.feedback.simulation import JOACHIMS_EXAMINATION


@pytest.mark.parametrize("module", [environments_module, datasets_module])
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0


def test_pbm_hand_computed() -> None:
    env = PositionBasedEnvironment([0.9, 0.5, 0.1], [1.0, 0.5])
    assert env.expected_reward([1, 0]) == pytest.approx(0.5 * 1.0 + 0.9 * 0.5)
    assert env.expected_reward([2, 1]) == pytest.approx(0.1 + 0.25)
    assert env.optimal_slate().tolist() == [0, 1]
    assert env.optimal_reward() == pytest.approx(1.15)


def test_environments_copy_their_parameters() -> None:
    attr, kappa = np.array([0.9, 0.5]), np.array([1.0, 0.5])
    env = PositionBasedEnvironment(attr, kappa)
    attr[0], kappa[0] = 0.0, 0.1  # the caller's arrays stay writable and the environment unchanged
    assert env.attractiveness[0] == 0.9 and env.examination[0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        env.attractiveness[0] = 0.1


def test_pbm_best_item_goes_to_the_most_examined_position() -> None:
    env = PositionBasedEnvironment([0.9, 0.5, 0.1], [0.5, 1.0])
    assert env.optimal_slate().tolist() == [1, 0]
    assert env.optimal_reward() == pytest.approx(0.9 + 0.25)


def test_cascade_hand_computed() -> None:
    env = CascadeEnvironment([0.2, 0.5, 0.1], slate_size=2)
    assert env.expected_reward([0, 2]) == pytest.approx(1 - 0.8 * 0.9)
    assert env.expected_reward([2, 0]) == pytest.approx(1 - 0.8 * 0.9)
    assert env.optimal_slate().tolist() == [1, 0]
    assert env.optimal_reward() == pytest.approx(1 - 0.5 * 0.8)


@pytest.mark.parametrize("kind", ["pbm", "cascade"])
def test_optimal_slate_beats_every_slate(kind: str) -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        attr = rng.random(6)
        env = (
            PositionBasedEnvironment(attr, rng.random(3))
            if kind == "pbm"
            else CascadeEnvironment(attr, slate_size=3)
        )
        best = max(env.expected_reward(np.array(s)) for s in itertools.permutations(range(6), 3))
        assert env.optimal_reward() == pytest.approx(best)


def test_pbm_click_rates_match_the_model(pbm_env: PositionBasedEnvironment) -> None:
    rng = np.random.default_rng(0)
    slate = np.array([3, 0, 5])
    clicks = np.array([pbm_env.step(slate, rng) for _ in range(20_000)])
    expected = pbm_env.examination * pbm_env.attractiveness[slate]
    se = np.sqrt(expected * (1 - expected) / 20_000)
    assert np.all(np.abs(clicks.mean(axis=0) - expected) < 4 * se + 1e-9)


def test_cascade_clicks_the_first_attractive_item(cascade_env: CascadeEnvironment) -> None:
    rng = np.random.default_rng(1)
    slate = np.array([2, 0, 1])
    clicks = np.array([cascade_env.step(slate, rng) for _ in range(20_000)])
    assert clicks.sum(axis=1).max() == 1
    a = cascade_env.attractiveness[slate]
    expected = a * np.concatenate([[1.0], np.cumprod(1 - a)[:-1]])
    se = np.sqrt(expected * (1 - expected) / 20_000)
    assert np.all(np.abs(clicks.mean(axis=0) - expected) < 4 * se)
    assert clicks.sum(axis=1).mean() == pytest.approx(cascade_env.expected_reward(slate), abs=0.02)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: PositionBasedEnvironment([0.5, 1.2], [1.0]), r"attractiveness must be probabilities"),
        (lambda: PositionBasedEnvironment([0.5, 0.2], [1.0, -0.1]), r"examination must be probabilities"),
        (lambda: PositionBasedEnvironment([0.5], [1.0, 0.5]), r"2 positions but only 1 items"),
        (lambda: PositionBasedEnvironment([], [1.0]), r"non-empty 1-d"),
        (lambda: CascadeEnvironment([0.5, 0.2], slate_size=0), r"slate_size must be an integer >= 1"),
        (lambda: CascadeEnvironment([0.5, 0.2], slate_size=3), r"3 positions but only 2 items"),
        (lambda: CascadeEnvironment([0.5], 1, items=("a", "b")), r"2 item names for 1 items"),
    ],
)
def test_invalid_environments(make: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()  # type: ignore[operator]


@pytest.mark.parametrize("slate", [[0, 0, 1], [0, 1], [0, 1, 8], [-1, 0, 1]])
def test_invalid_slates(pbm_env: PositionBasedEnvironment, slate: list[int]) -> None:
    with pytest.raises(ValueError, match="slate"):
        pbm_env.step(np.array(slate), np.random.default_rng(0))


def test_multi_query_rewards_match_each_query() -> None:
    q0 = PositionBasedEnvironment([0.9, 0.1, 0.4], [1.0, 0.5])
    q1 = PositionBasedEnvironment([0.2, 0.3, 0.8, 0.7], [1.0, 0.5])
    env = MultiQueryEnvironment((q0, q1), qids=("a", "b"), weights=np.array([1.0, 3.0]))
    slates, contexts = np.array([[0, 2], [2, 3], [1, 0]]), np.array([0, 1, 0])
    want = [q0.expected_reward([0, 2]), q1.expected_reward([2, 3]), q0.expected_reward([1, 0])]
    assert env.context_rewards(slates, contexts) == pytest.approx(want)
    assert env.optimal_rewards() == pytest.approx([q0.optimal_reward(), q1.optimal_reward()])
    drawn = env.draw_contexts(np.random.default_rng(0), 20_000)
    assert drawn.mean() == pytest.approx(0.75, abs=0.02)
    assert env.n_items == (3, 4)


def test_multi_query_refuses_mixed_queries() -> None:
    pbm = PositionBasedEnvironment([0.9, 0.1], [1.0, 0.5])
    with pytest.raises(ValueError, match="feedback model or slate size"):
        MultiQueryEnvironment((pbm, CascadeEnvironment([0.9, 0.1], 2)))
    with pytest.raises(ValueError, match="examination"):
        MultiQueryEnvironment((pbm, PositionBasedEnvironment([0.9, 0.1], [1.0, 0.4])))
    with pytest.raises(ValueError, match="weights"):
        MultiQueryEnvironment((pbm,), weights=np.array([-1.0]))


def test_graded_environment_uses_the_click_protocol() -> None:
    grades = {"q1": [0, 1, 2, 2], "q2": [2, 0], "q3": [0, 0, 1]}
    env = graded_environment(grades, slate_size=3, eps_minus=0.1, eps_plus=1.0, eta=1.0)
    assert env.qids == ("q1", "q3")  # q2 has fewer candidates than positions
    assert env.examination == pytest.approx(JOACHIMS_EXAMINATION[:3])
    eps = 0.1 + 0.9 * (2.0 ** np.array([0, 1, 2, 2]) - 1) / 3
    assert env.context(0).attractiveness == pytest.approx(eps)
    cascade = graded_environment(grades, slate_size=3, feedback="cascade", eta=2.0)
    assert cascade.feedback == "cascade" and cascade.context(1).optimal_slate().tolist()[0] == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"feedback": "dbn"}, "feedback"),
        ({"eps_minus": 0.5, "eps_plus": 0.2}, "eps_minus must be <= eps_plus"),
        ({"slate_size": 9}, "no query has 9 or more candidates"),
        ({"max_grade": 0.0}, "max_grade"),
    ],
)
def test_graded_environment_bad_settings(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        graded_environment({"q": [0, 1, 2]}, **{"slate_size": 2, **kwargs})  # type: ignore[arg-type]


def test_run_environment_takes_the_top_of_the_run() -> None:
    run = Run({"q": {"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.5}, "unjudged": {"a": 1.0, "b": 0.5}})
    env = run_environment(run, {"q": {"c": 1}}, depth=3, slate_size=2)
    assert env.qids == ("q",)
    assert env.context(0).items == ("a", "b", "c")
    assert env.context(0).optimal_slate()[0] == 2


def test_pbm_estimator_recovers_a_uniform_log() -> None:
    rng = np.random.default_rng(0)
    alpha, kappa = np.array([0.1, 0.3, 0.5, 0.2]), np.array([1.0, 0.6, 0.4])
    n = 200_000
    items, positions = rng.integers(4, size=n), rng.integers(3, size=n)
    clicks = rng.random(n) < alpha[items] * kappa[positions]
    a, k, m = estimate_pbm_from_uniform_log(items, positions, clicks, prior_strength=0)
    assert m == 0 and k == pytest.approx(kappa, abs=0.02) and a == pytest.approx(alpha, abs=0.01)
    a_eb, _, m_eb = estimate_pbm_from_uniform_log(items, positions, clicks)
    assert 0 < m_eb < 1000 and a_eb == pytest.approx(alpha, abs=0.01)  # strong signal: little shrinkage


def test_pbm_estimator_shrinks_noise_to_the_pooled_rate() -> None:
    rng = np.random.default_rng(1)
    n = 5_000
    items, positions = rng.integers(50, size=n), rng.integers(2, size=n)
    clicks = rng.random(n) < 0.02  # every item the same
    a, _, m = estimate_pbm_from_uniform_log(items, positions, clicks)
    raw, _, _ = estimate_pbm_from_uniform_log(items, positions, clicks, prior_strength=0)
    assert a.std() < 0.5 * raw.std() and m > 50  # the method of moments finds little true spread
    with pytest.raises(ValueError, match="prior_strength"):
        estimate_pbm_from_uniform_log(items, positions, clicks, prior_strength=-1)
    with pytest.raises(ValueError, match="no click"):
        estimate_pbm_from_uniform_log(items, positions, np.zeros(n))


@pytest.mark.data
def test_obd_environment_from_the_random_log(shared_data: Path) -> None:
    root = shared_data / "clicks" / "open-bandit-dataset"
    env = obd_environment(root)
    assert env.n_items == 80 and env.slate_size == 3
    assert env.items is not None and env.items[:3] == ("0", "1", "2")
    assert env.examination.max() == 1.0 and (env.examination > 0).all()
    df = pd.read_csv(root / "random" / "all" / "all.csv", usecols=["item_id", "position", "click"])
    ctr = df.groupby("position")["click"].mean().to_numpy()
    assert env.examination == pytest.approx(ctr / ctr.max())
    raw = obd_environment(root, prior_strength=0)
    exposure = df.assign(k=raw.examination[df["position"] - 1]).groupby("item_id")["k"].sum()
    clicks = df.groupby("item_id")["click"].sum()
    assert raw.attractiveness == pytest.approx((clicks / exposure).sort_index().to_numpy())
    pooled = clicks.sum() / exposure.sum()
    # empirical Bayes moves every raw rate part of the way to the pooled rate
    shrink, spread = env.attractiveness - pooled, raw.attractiveness - pooled
    assert np.all(shrink * spread >= 0) and np.all(np.abs(shrink) <= np.abs(spread) + 1e-12)
    assert 0 < env.attractiveness.std() < 0.5 * raw.attractiveness.std()
    assert env.optimal_reward() > env.expected_reward(np.argsort(env.attractiveness)[:3])


@pytest.mark.data
def test_ltr_environment_from_the_lightgbm_example(shared_data: Path) -> None:
    data = load_dataset("lightgbm-lambdarank", data_dir=shared_data)["train"]
    env = ltr_environment(data, slate_size=5)
    small = int((data.group < 5).sum())
    assert env.n_contexts == len(data.query_ids) - small and small > 0
    assert min(env.n_items) >= 5 and max(env.n_items) == data.group.max()
    attr = np.concatenate([env.context(i).attractiveness for i in range(env.n_contexts)])
    assert attr.min() == pytest.approx(0.1) and attr.max() == pytest.approx(1.0)
    assert ltr_environment(data, slate_size=5, feedback="cascade").feedback == "cascade"


def _pbm_log(alpha: dict[str, np.ndarray], gamma: np.ndarray, sessions: int, seed: int) -> ClickLog:
    """Sessions of each query showing a random ordering of (up to) ``len(gamma)`` of its documents, PBM
    clicks."""
    rng = np.random.default_rng(seed)
    rows = []
    sid = 0
    for q, a in alpha.items():
        for _ in range(sessions):
            shown = rng.permutation(len(a))[: len(gamma)]
            clicks = rng.random(len(shown)) < gamma[: len(shown)] * a[shown]
            rows += [
                (sid, q, k + 1, f"d{d}", int(c), np.nan)
                for k, (d, c) in enumerate(zip(shown, clicks, strict=True))
            ]
            sid += 1
    return ClickLog(
        pd.DataFrame(rows, columns=["session_id", "qid", "position", "docno", "click", "propensity"])
    )


def test_click_log_environment_recovers_the_pbm_that_made_the_log() -> None:
    gamma = np.array([1.0, 0.7, 0.5, 0.35, 0.25, 0.15])
    alpha = {"q1": np.linspace(0.9, 0.1, 8), "q2": np.linspace(0.2, 0.8, 8), "q3": np.full(3, 0.5)}
    log = _pbm_log(alpha, gamma, sessions=3000, seed=0)
    env = click_log_environment(log, slate_size=4, min_impressions=100, max_items=8)
    assert env.qids == ("q1", "q2") and env.n_items == (8, 8)  # q3: 3 documents, fewer than the slate
    for i, q in enumerate(env.qids):
        sub = env.context(i)
        assert sub.items is not None
        truth = alpha[q][[int(d[1:]) for d in sub.items]]
        # PBM fixes the products: attractiveness x examination of rank 1 is the click rate at rank 1
        np.testing.assert_allclose(sub.attractiveness * sub.examination[0], truth * gamma[0], atol=0.05)
        assert set(sub.optimal_slate().tolist()) == set(np.argsort(-truth)[:4].tolist())
    np.testing.assert_allclose(env.examination / env.examination[0], gamma[:4] / gamma[0], atol=0.05)
    with pytest.raises(ValueError, match="slate_size 7 exceeds the log's depth"):
        click_log_environment(log, slate_size=7, max_items=8)
    with pytest.raises(ValueError, match="no query of the log has 4 documents shown in >= 10000 sessions"):
        click_log_environment(log, slate_size=4, min_impressions=10_000)
    with pytest.raises(ValueError, match="max_items \\(3\\) must be >= slate_size \\(4\\)"):
        click_log_environment(log, slate_size=4, max_items=3)
    with pytest.raises(
        TypeError, match=r"takes a ClickLog, got a SplitDataset; pick one of its splits \(train\)"
    ):
        click_log_environment(SplitDataset("clicks", {"train": log}), slate_size=4)  # type: ignore[arg-type]


@pytest.mark.data
def test_click_log_environment_from_the_yandex_sample(shared_data: Path) -> None:
    import warnings

    from distillrank.errors import DataWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        log = load_dataset("yandex-wscd-sample", data_dir=shared_data)["train"]
    env = click_log_environment(log, slate_size=5)
    assert env.n_contexts == 13 and env.feedback == "pbm" and min(env.n_items) >= 5
    assert np.all(np.diff(env.examination) < 0.05)  # examination falls with the rank (as fitted)
    shown = log.df.groupby(["qid", "docno"])["session_id"].nunique()
    for i, q in enumerate(env.qids):
        items = env.context(i).items
        assert items is not None and all(shown[(q, d)] >= 100 for d in items)
    assert (env.optimal_rewards() > 0.5).all()
