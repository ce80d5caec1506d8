"""Click simulation: click rates match the formula within binomial bounds, propensities are recorded,
interventions re-order as specified, and invalid settings are refused with exact messages."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import pytest

from distillrank.data.run import Run
from distillrank.feedback.simulation import (
    JOACHIMS_EXAMINATION,
    ClickSimulator,
    RandTopN,
    SwapWithTop,
    TrustBiasSimulator,
    teacher_grades,
)

Collection = tuple[Run, Run, dict[str, dict[str, int]]]


def within_binomial(clicks: np.ndarray, p: np.ndarray, sigmas: float = 4.0) -> bool:
    """Observed click rate within ``sigmas`` binomial standard errors of the mean expected rate."""
    n = len(clicks)
    mean_p = float(p.mean())
    bound = sigmas * math.sqrt(float((p * (1 - p)).sum())) / n + 1e-12
    return abs(float(clicks.mean()) - mean_p) <= bound


def test_examination_curve_and_tail() -> None:
    sim = ClickSimulator(eta=2.0, top_k=12)
    base = np.array(JOACHIMS_EXAMINATION)
    assert sim.examination(10) == pytest.approx(base**2)
    assert sim.examination()[10:] == pytest.approx([0.06**2, 0.06**2])  # "last": keep rank 10's value
    rec = ClickSimulator(eta=1.0, tail="reciprocal", top_k=20).examination()
    assert rec[19] == pytest.approx(0.06 * 10 / 20)
    assert ClickSimulator(eta=0.0).examination() == pytest.approx(np.ones(10))


def test_click_rates_match_the_formula(collection: Collection) -> None:
    run, _, qrels = collection
    sim = ClickSimulator(eta=1.0, eps_minus=0.1, eps_plus=1.0)
    log = sim.simulate(run, qrels, 40_000, rng=0)
    df = log.df
    assert log.n_sessions == 40_000 and (df.groupby("session_id").size() == 10).all()
    theta = np.array(JOACHIMS_EXAMINATION)
    np.testing.assert_allclose(df["propensity"].to_numpy(), theta[df["position"].to_numpy() - 1])
    y = df["label"].to_numpy()
    p = df["propensity"].to_numpy() * (0.1 + 0.9 * (2**y - 1) / (2**4 - 1))  # y_max = 4 in the qrels
    cells = (
        df.assign(p=p, var=p * (1 - p))
        .groupby(["position", "label"])
        .agg(n=("click", "size"), rate=("click", "mean"), p=("p", "mean"), var=("var", "sum"))
    )
    cells = cells[cells["n"] >= 100]
    assert len(cells) >= 40  # (rank, grade) cells with enough impressions
    bound = 4 * np.sqrt(cells["var"]) / cells["n"]  # 4 binomial standard errors per cell
    assert ((cells["rate"] - cells["p"]).abs() <= bound).all()
    # the shown lists are the run's top 10 in order
    first = df[df["session_id"] == 0]
    assert first["docno"].tolist() == [d for d, _ in run.ranked(first["qid"].iloc[0], 10)]


def test_trust_bias_records_per_rank_noise(collection: Collection) -> None:
    run, _, qrels = collection
    sim = TrustBiasSimulator(eta=1.0, max_grade=4)
    log = sim.simulate(run, qrels, 30_000, rng=1)
    df = log.df
    pos = df["position"].to_numpy()
    np.testing.assert_allclose(df["eps_minus"].to_numpy(), 0.65 / pos)
    assert (df["eps_plus"] == 1.0).all()
    y = df["label"].to_numpy()
    rel = (2**y - 1) / 15
    p = df["propensity"].to_numpy() * (0.65 / pos + (1 - 0.65 / pos) * rel)
    for r in (1, 2, 5, 10):
        sel = (pos == r) & (y == 0)
        assert within_binomial(df["click"].to_numpy()[sel], p[sel]), r


def test_query_weights_and_loggers(collection: Collection) -> None:
    run, pert, qrels = collection
    sim = ClickSimulator()
    log = sim.simulate(
        [run, pert], qrels, 20_000, rng=2, query_weights={"q0": 3.0, "q1": 1.0}, logger_weights=[1, 3]
    )
    per_session = log.df.groupby("session_id").first()
    assert set(per_session["qid"]) == {"q0", "q1"}
    share_q0 = float((per_session["qid"] == "q0").mean())
    assert abs(share_q0 - 0.75) < 4 * math.sqrt(0.75 * 0.25 / 20_000)
    share_1 = float((per_session["logger"] == 1).mean())
    assert abs(share_1 - 0.75) < 4 * math.sqrt(0.75 * 0.25 / 20_000)
    ids = ClickSimulator().simulate(run, qrels, 3, rng=0, first_session_id=100).df["session_id"].unique()
    assert ids.tolist() == [100, 101, 102]


def test_interventions(collection: Collection) -> None:
    run, _, qrels = collection
    sim = ClickSimulator()
    base = sim.simulate(run, qrels, 5000, rng=3)
    shuffled = sim.simulate(run, qrels, 5000, rng=3, intervention=RandTopN(5))
    # RandTop-5 permutes the top 5 and leaves 6..10 alone
    b, s = base.df, shuffled.df
    rank_of = {(q, d): r for q in run for r, (d, _) in enumerate(run.ranked(q, 10), start=1)}
    orig = np.array([rank_of[(q, d)] for q, d in zip(s["qid"], s["docno"], strict=True)])
    pos = s["position"].to_numpy()
    assert (orig[pos > 5] == pos[pos > 5]).all()
    assert (orig[pos <= 5] <= 5).all() and (orig[pos <= 5] != pos[pos <= 5]).any()
    # every top-5 rank lands at each position ~1/5 of the time
    frac = float(np.mean(orig[pos == 1] == 3))
    assert abs(frac - 0.2) < 4 * math.sqrt(0.2 * 0.8 / 5000)
    assert len(b) == len(s)

    swapped = sim.simulate(run, qrels, 5000, rng=4, intervention=SwapWithTop(10)).df
    orig = np.array([rank_of[(q, d)] for q, d in zip(swapped["qid"], swapped["docno"], strict=True)])
    pos = swapped["position"].to_numpy()
    k = swapped["swap_rank"].to_numpy()
    expected = np.where(pos == 1, k, np.where(pos == k, 1, pos))
    assert (orig == expected).all()
    counts = np.bincount(swapped.groupby("session_id")["swap_rank"].first(), minlength=11)[1:]
    assert counts.min() > 400  # uniform over 1..10: 500 each


def test_teacher_grades_and_short_lists() -> None:
    teacher = Run({"q": {"a": 2.0, "b": 1.0, "c": 0.0}, "r": {"x": 5.0}})
    grades = teacher_grades(teacher, max_grade=4)
    assert grades == {"q": {"a": 4.0, "b": 2.0, "c": 0.0}, "r": {"x": 0.0}}
    log = ClickSimulator(top_k=10).simulate(teacher, grades, 50, rng=0)
    sizes = log.df.groupby("qid")["session_id"].value_counts().groupby("qid").max()
    assert log.df.groupby("session_id").size().isin([1, 3]).all()  # lists shorter than top_k stay short
    assert sizes.index.tolist() == ["q", "r"]


def test_hundred_thousand_sessions_are_fast(collection: Collection) -> None:
    run, _, qrels = collection
    t0 = time.perf_counter()
    log = ClickSimulator().simulate(run, qrels, 100_000, rng=5)
    elapsed = time.perf_counter() - t0
    assert len(log.df) == 1_000_000
    assert elapsed < 10.0, elapsed  # ~1 s on 2 cores


RUN = Run({"q": {"a": 1.0, "b": 0.5}})
QRELS = {"q": {"a": 1}}

BAD: list[tuple[Callable[[], object], str]] = [
    (lambda: ClickSimulator(eta=-1), "eta must be finite and >= 0, got -1"),
    (
        lambda: ClickSimulator(eps_minus=0.5, eps_plus=0.2),
        "eps_minus must be <= eps_plus, got eps_minus=0.5 > eps_plus=0.2",
    ),
    (
        lambda: ClickSimulator(eps_minus=[0.1, 0.6], eps_plus=[1.0, 0.5]),
        "eps_minus must be <= eps_plus at rank 2, got eps_minus=0.6 > eps_plus=0.5",
    ),
    (lambda: ClickSimulator(eps_plus=1.5), "eps_plus must be in [0, 1], got 1.5"),
    (lambda: ClickSimulator(eps_minus=[]), "eps_minus must be a number or a non-empty sequence"),
    (lambda: ClickSimulator(top_k=0), "top_k must be an integer >= 1, got 0"),
    (
        lambda: ClickSimulator(base_examination=(0.5, 0)),
        "base_examination must be non-empty with values in (0, 1], got (0.5, 0.0)",
    ),
    (lambda: ClickSimulator(tail="exp"), "tail must be 'last' or 'reciprocal', got 'exp'"),  # type: ignore[arg-type]
    (lambda: ClickSimulator(max_grade=0), "max_grade must be > 0, got 0"),
    (lambda: ClickSimulator().simulate(RUN, QRELS, 0), "n_sessions must be an integer >= 1, got 0"),
    (
        lambda: ClickSimulator().simulate(Run({"q": {}}), QRELS, 5),
        "the logging runs have no query with results (in every run)",
    ),
    (lambda: ClickSimulator().simulate([], QRELS, 5), "no logging run given"),
    (
        lambda: ClickSimulator().simulate(RUN, {"q": {"a": 0}}, 5),
        "the relevance labels have no positive grade: pass max_grade",
    ),
    (
        lambda: ClickSimulator().simulate(RUN, QRELS, 5, query_weights={"zz": 1.0}),
        "query_weights names queries the runs do not answer: ['zz']",
    ),
    (
        lambda: ClickSimulator().simulate(RUN, QRELS, 5, query_weights={"q": -1.0}),
        "query_weights must be >= 0 with a positive sum",
    ),
    (
        lambda: ClickSimulator().simulate([RUN, RUN], QRELS, 5, logger_weights=[1.0]),
        "logger_weights must be one weight >= 0 per run, with a positive sum",
    ),
    (lambda: RandTopN(1), "n must be an integer >= 2, got 1"),
    (lambda: SwapWithTop(0), "n must be an integer >= 2, got 0"),
]


@pytest.mark.parametrize(("make", "message"), BAD)
def test_invalid_settings(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        make()
    assert str(info.value) == message
