"""Click models: parameter recovery from simulated clicks (seeded, with stated bounds), hand-computed
log-likelihood and perplexity on a tiny log, invariants over every model, and invalid inputs."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distillrank.data.clicklog import ClickLog
from distillrank.errors import DataFormatError
from distillrank.feedback.click_models import (
    CLICK_MODELS,
    DBN,
    DCM,
    PBM,
    PROB_MIN,
    SDBN,
    UBM,
    CascadeModel,
    ClickModel,
    encode_sessions,
)
from distillrank.feedback.click_models.ubm import previous_click_rank

EXAM = np.array([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3])
LAMBDA = np.linspace(0.8, 0.3, 10)


def ubm_exam() -> np.ndarray:
    g = np.full((10, 10), np.nan)
    for r in range(10):
        for rp in range(r + 1):
            g[r, rp] = 1.0 if r == 0 else max(0.95 - 0.06 * (r - rp) - (0.03 * r if rp == 0 else 0.0), 0.05)
    return g


def max_err(fitted: pd.Series, truth: pd.Series) -> float:
    return float(np.abs(fitted.reindex(truth.index).to_numpy() - truth.to_numpy()).max())


# ----- recovery: simulate from known parameters, fit, compare -------------------------------------
# 20,000 pages, each of the 100 (query, document) pairs shown ~2,000 times at random ranks, so a
# click probability is estimated from ~1,000 examinations: standard error <= 0.016. Per-pair bounds
# are 4-5 standard errors on the largest error of 100 pairs (over seeds 10-13 the largest seen were:
# PBM 0.057, DCM 0.049, DBN 0.060, CM 0.076 — CM's and DBN's satisfaction rest on fewer examinations,
# hence their looser bounds); per-rank bounds are tighter since a rank pools all pairs. Seeds are fixed.


def test_pbm_recovers_examination_ratios_and_click_probabilities(
    pages: ClickLog, true_attractiveness: pd.Series
) -> None:
    truth = PBM(examination=EXAM, attractiveness=true_attractiveness)
    sim = truth.simulate(pages, rng=10)
    fit = PBM().fit(sim, max_iter=500, tol=1e-7)
    assert fit.examination is not None and fit.attractiveness is not None
    # PBM is identified up to scale: compare gamma_r / gamma_1 and the products gamma_1 * alpha.
    assert np.abs(fit.examination / fit.examination[0] - EXAM).max() < 0.03
    assert max_err(fit.attractiveness * fit.examination[0], true_attractiveness) < 0.08
    assert fit.log_likelihood(sim) >= truth.log_likelihood(sim) - 1e-4  # the MLE explains its data best


def test_ubm_recovers_examination_in_populated_cells(pages: ClickLog, true_attractiveness: pd.Series) -> None:
    g = ubm_exam()
    truth = UBM(examination=g, attractiveness=true_attractiveness)
    sim = truth.simulate(pages, rng=11)
    fit = UBM().fit(sim, max_iter=500, tol=1e-7)
    assert fit.examination is not None
    s = encode_sessions(sim)
    prev = previous_click_rank(s.click)
    counts = np.zeros((10, 10))
    np.add.at(counts, (np.broadcast_to(np.arange(10), prev.shape), prev), s.weight[:, None])
    well = counts >= 2000  # cells seen >= 2,000 times (the sparse ones are checked loosely)
    err = np.abs(fit.examination / fit.examination[0, 0] - g)
    assert well.sum() >= 25
    assert np.nanmax(err[well]) < 0.05
    assert np.nanmax(err[counts >= 200]) < 0.15
    assert fit.log_likelihood(sim) >= truth.log_likelihood(sim) - 1e-4


def test_dcm_recovers_attractiveness_and_continuation(
    pages: ClickLog, true_attractiveness: pd.Series
) -> None:
    truth = DCM(continuation=LAMBDA, attractiveness=true_attractiveness)
    sim = truth.simulate(pages, rng=12)
    fit = DCM().fit(sim, max_iter=300, tol=1e-6)
    assert fit.attractiveness is not None and fit.continuation is not None
    assert max_err(fit.attractiveness, true_attractiveness) < 0.07
    assert np.abs(fit.continuation - LAMBDA)[:-1].max() < 0.03  # rank 10's lambda is not identifiable
    assert fit.continuation[-1] == pytest.approx(0.5)  # ... and stays at the prior mean


def test_dbn_recovers_attractiveness_satisfaction_and_gamma(
    pages: ClickLog, true_attractiveness: pd.Series, true_satisfaction: pd.Series
) -> None:
    truth = DBN(gamma=0.9, satisfaction=true_satisfaction, attractiveness=true_attractiveness)
    sim = truth.simulate(pages, rng=13)
    fit = DBN().fit(sim, max_iter=300, tol=1e-6)
    assert fit.attractiveness is not None and fit.satisfaction is not None and fit.gamma is not None
    assert fit.gamma == pytest.approx(0.9, abs=0.01)
    assert max_err(fit.attractiveness, true_attractiveness) < 0.09
    # satisfaction is only seen through last clicks: judge it where clicks are common
    often = true_attractiveness >= 0.3
    assert max_err(fit.satisfaction.reindex(true_satisfaction.index)[often], true_satisfaction[often]) < 0.15
    assert float(np.abs(fit.satisfaction.reindex(true_satisfaction.index) - true_satisfaction).mean()) < 0.05


def test_sdbn_keeps_gamma_one_and_recovers_satisfaction(
    pages: ClickLog, true_attractiveness: pd.Series, true_satisfaction: pd.Series
) -> None:
    truth = SDBN(satisfaction=true_satisfaction, attractiveness=true_attractiveness)
    sim = truth.simulate(pages, rng=14)
    fit = SDBN().fit(sim, max_iter=300, tol=1e-6)
    assert fit.gamma == 1.0
    assert max_err(fit.attractiveness, true_attractiveness) < 0.06
    assert float(np.abs(fit.satisfaction.reindex(true_satisfaction.index) - true_satisfaction).mean()) < 0.04  # type: ignore[union-attr]


def test_cascade_model_recovers_attractiveness(pages: ClickLog, true_attractiveness: pd.Series) -> None:
    truth = CascadeModel(attractiveness=true_attractiveness)
    sim = truth.simulate(pages, rng=15)
    assert sim.df.groupby("session_id")["click"].sum().max() == 1  # CM clicks at most once
    fit = CascadeModel().fit(sim)
    assert fit.attractiveness is not None
    err = np.abs(fit.attractiveness.reindex(true_attractiveness.index) - true_attractiveness)
    assert float(err.mean()) < 0.03
    assert float(err.max()) < 0.15  # pairs ranked below attractive ones are rarely examined


# ----- hand-computed values on a tiny log ----------------------------------------------------------

ATTR = {("q", "a"): 0.8, ("q", "b"): 0.4}


def test_pbm_log_likelihood_and_perplexity_by_hand(tiny_log: ClickLog) -> None:
    m = PBM(examination=np.array([1.0, 0.5]), attractiveness=ATTR)
    # session 0: a clicked at 1 (0.8), b skipped at 2 (1 - 0.5 * 0.4);
    # session 1: b skipped at 1 (1 - 0.4), a clicked at 2 (0.5 * 0.8)
    assert m.click_probabilities(tiny_log).tolist() == pytest.approx([0.8, 0.2, 0.4, 0.4])
    ll = ((math.log(0.8) + math.log(0.8)) / 2 + (math.log(0.6) + math.log(0.4)) / 2) / 2
    assert m.log_likelihood(tiny_log) == pytest.approx(ll)
    overall, per_rank = m.perplexity(tiny_log)
    assert per_rank.tolist() == pytest.approx([(0.8 * 0.6) ** -0.5, (0.8 * 0.4) ** -0.5])
    assert overall == pytest.approx(per_rank.mean())


def two_clicks() -> ClickLog:
    return ClickLog(
        pd.DataFrame(
            {
                "session_id": [0, 0],
                "qid": ["q", "q"],
                "position": [1, 2],
                "docno": ["a", "b"],
                "click": [1, 1],
                "propensity": [np.nan, np.nan],
            }
        )
    )


def test_dcm_ubm_dbn_conditional_and_marginal_by_hand() -> None:
    log = two_clicks()
    dcm = DCM(continuation=np.array([0.5, 0.5]), attractiveness=ATTR)
    assert dcm.click_probabilities(log).tolist() == pytest.approx([0.8, 0.5 * 0.4])
    assert dcm.marginal_click_probabilities(log).tolist() == pytest.approx([0.8, (0.2 + 0.8 * 0.5) * 0.4])
    assert dcm.log_likelihood(log) == pytest.approx((math.log(0.8) + math.log(0.2)) / 2)
    ubm = UBM(examination=np.array([[1.0, np.nan], [0.3, 0.9]]), attractiveness=ATTR)
    assert ubm.click_probabilities(log).tolist() == pytest.approx([0.8, 0.9 * 0.4])
    assert ubm.marginal_click_probabilities(log).tolist() == pytest.approx([0.8, 0.8 * 0.36 + 0.2 * 0.12])
    dbn = DBN(gamma=0.9, satisfaction={("q", "a"): 0.5, ("q", "b"): 0.5}, attractiveness=ATTR)
    assert dbn.click_probabilities(log).tolist() == pytest.approx([0.8, 0.9 * 0.5 * 0.4])
    assert dbn.marginal_click_probabilities(log).tolist() == pytest.approx([0.8, 0.9 * (1 - 0.4) * 0.4])


def test_cascade_model_below_the_first_click() -> None:
    log = two_clicks()
    cm = CascadeModel(attractiveness=ATTR)
    assert cm.click_probabilities(log).tolist() == pytest.approx([0.8, 0.0])
    assert cm.log_likelihood(log) == pytest.approx((math.log(0.8) + math.log(PROB_MIN)) / 2)
    skip = ClickLog(two_clicks().df.assign(click=[1, 0]))
    assert cm.log_likelihood(skip) == pytest.approx(math.log(0.8) / 2)  # CM is sure of the skip
    pyclick = CascadeModel(attractiveness=ATTR, pyclick_likelihood=True)
    assert pyclick.log_likelihood(skip) == pytest.approx((math.log(0.8) + math.log(PROB_MIN)) / 2)
    assert cm.marginal_click_probabilities(log).tolist() == pytest.approx([0.8, 0.2 * 0.4])


def test_unseen_pairs_get_the_prior_mean(tiny_log: ClickLog) -> None:
    m = PBM(prior=(1.0, 3.0), examination=np.array([1.0, 1.0]), attractiveness={("q", "a"): 0.8})
    assert m.click_probabilities(tiny_log).tolist() == pytest.approx([0.8, 0.25, 0.25, 0.8])


def test_variable_length_sessions_and_row_order() -> None:
    df = pd.DataFrame(
        {
            "session_id": [5, 3, 5, 3, 3],
            "qid": ["q"] * 5,
            "position": [2, 1, 1, 3, 2],
            "docno": ["b", "a", "a", "c", "b"],
            "click": [0, 1, 1, 0, 0],
            "propensity": [np.nan] * 5,
        }
    )
    attr = {("q", "a"): 0.8, ("q", "b"): 0.4, ("q", "c"): 0.2}
    m = PBM(examination=np.array([1.0, 0.5, 0.25]), attractiveness=attr)
    p = m.click_probabilities(ClickLog(df))
    assert p.tolist() == pytest.approx([0.2, 0.8, 0.8, 0.05, 0.2])  # in the log's row order
    _, per_rank = m.perplexity(ClickLog(df))
    assert per_rank.shape == (3,)


# ----- invariants over every model ------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_sim(pages: ClickLog, true_attractiveness: pd.Series) -> ClickLog:
    sim = DBN(gamma=0.8, satisfaction=true_attractiveness * 0.5, attractiveness=true_attractiveness)
    return sim.simulate(ClickLog(pages.df[pages.df["session_id"] < 3000]), rng=20)


@pytest.mark.parametrize("name", sorted(CLICK_MODELS))
def test_invariants(name: str, small_sim: ClickLog) -> None:
    m: ClickModel = CLICK_MODELS[name]().fit(small_sim, max_iter=30)
    cond = m.click_probabilities(small_sim)
    marg = m.marginal_click_probabilities(small_sim)
    assert cond.shape == marg.shape == (len(small_sim.df),)
    assert ((cond >= 0) & (cond <= 1)).all() and ((marg >= 0) & (marg <= 1)).all()
    ll = m.log_likelihood(small_sim)
    assert np.isfinite(ll) and ll <= 0
    overall, per_rank = m.perplexity(small_sim)
    assert overall >= 1 and (per_rank >= 1).all() and np.isfinite(per_rank).all()
    assert overall == pytest.approx(per_rank.mean())
    # the first rank has nothing above it: conditional and marginal agree there
    first = small_sim.df["position"].to_numpy() == 1
    assert cond[first] == pytest.approx(marg[first])
    again = m.simulate(small_sim, rng=1)
    assert again.df[["session_id", "qid", "position", "docno"]].equals(
        small_sim.df[["session_id", "qid", "position", "docno"]]
    )
    assert m.simulate(small_sim, rng=1).df["click"].equals(again.df["click"])  # seeded


def test_marginal_matches_simulated_click_rates(small_sim: ClickLog, true_attractiveness: pd.Series) -> None:
    """The unconditional probabilities are what simulation produces on average (binomial 4-sigma)."""
    for m in (
        UBM(examination=ubm_exam(), attractiveness=true_attractiveness),
        DBN(gamma=0.8, satisfaction=true_attractiveness * 0.5, attractiveness=true_attractiveness),
        DCM(continuation=LAMBDA, attractiveness=true_attractiveness),
    ):
        reps = [m.simulate(small_sim, rng=i).df["click"].to_numpy() for i in range(20)]
        rate = np.mean(reps, axis=0)
        p = m.marginal_click_probabilities(small_sim)
        pos = small_sim.df["position"].to_numpy()
        for r in range(1, 11):
            sel = pos == r
            n = 20 * sel.sum()
            bound = 4 * math.sqrt(p[sel].mean() * (1 - p[sel].mean()) / n)
            assert abs(rate[sel].mean() - p[sel].mean()) < bound, (type(m).__name__, r)


# ----- invalid inputs -------------------------------------------------------------------------------


def gap_log() -> ClickLog:
    return ClickLog(two_clicks().df.assign(position=[1, 3]))


def mixed_log() -> ClickLog:
    return ClickLog(two_clicks().df.assign(qid=["q", "r"]))


EMPTY = ClickLog(two_clicks().df.iloc[:0])
FITTED = PBM(examination=np.array([1.0, 0.5]), attractiveness=ATTR)

BAD: list[tuple[Callable[[], object], type[Exception], str]] = [
    (lambda: PBM(prior=(0, 1)), ValueError, "prior must be two positive pseudo-counts (a, b), got (0, 1)"),
    (lambda: PBM(examination=np.array([1.2])), ValueError, "examination must be probabilities in [0, 1]"),
    (
        lambda: UBM(examination=np.ones((2, 3))),
        ValueError,
        "examination must be a square [K, K] array, got shape (2, 3)",
    ),
    (
        lambda: UBM(examination=np.array([[1.0, 1.0], [np.nan, 1.0]])),
        ValueError,
        "examination[r - 1, r'] must be a probability for every r' < r",
    ),
    (lambda: DCM(continuation=np.array([-0.1])), ValueError, "continuation must be probabilities in [0, 1]"),
    (lambda: DBN(gamma=1.5), ValueError, "gamma must be in [0, 1], got 1.5"),
    (lambda: SDBN(gamma=0.5), ValueError, "SDBN has gamma = 1 by definition, got 0.5"),
    (
        lambda: PBM(attractiveness={("q", "a"): 2.0}),
        ValueError,
        "attractiveness must be probabilities in [0, 1]",
    ),
    (
        lambda: PBM(attractiveness=pd.Series([0.5], index=["a"])),
        ValueError,
        "attractiveness must be indexed by (qid, docno) pairs",
    ),
    (lambda: PBM().fit(EMPTY), ValueError, "cannot fit PBM on an empty click log"),
    (lambda: PBM().fit(two_clicks(), max_iter=0), ValueError, "max_iter must be an integer >= 1, got 0"),
    (lambda: PBM().fit(two_clicks(), tol=-1), ValueError, "tol must be >= 0, got -1"),
    (
        lambda: PBM().log_likelihood(two_clicks()),
        ValueError,
        "PBM has no attractiveness, examination: call fit(log) or pass the parameters when creating it",
    ),
    (
        lambda: DBN(attractiveness=ATTR).perplexity(two_clicks()),
        ValueError,
        "DBN has no satisfaction, gamma: call fit(log) or pass the parameters when creating it",
    ),
    (
        lambda: PBM(examination=np.array([1.0]), attractiveness=ATTR).log_likelihood(two_clicks()),
        ValueError,
        "PBM has parameters for ranks 1..1; the log has rank 2",
    ),
    (lambda: FITTED.log_likelihood(EMPTY), ValueError, "the click log is empty"),
    (
        lambda: PBM().fit(gap_log()),
        DataFormatError,
        "session 0 lacks position 2 (its positions: 1, 3); click models and propensity estimates need "
        "every session's results at positions 1, 2, ... without gaps or repeats: drop such sessions or "
        "renumber their positions",
    ),
    (lambda: FITTED.click_probabilities(mixed_log()), DataFormatError, "session 0: more than one qid"),
]


@pytest.mark.parametrize(("make", "error", "message"), BAD)
def test_invalid_inputs(make: Callable[[], object], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        make()
    got = info.value.problem if isinstance(info.value, DataFormatError) else str(info.value)
    assert got == message


def test_a_gap_is_named_in_the_numbers_of_the_file(tmp_path: Path) -> None:
    """A CSV log counted from 0 whose session 7 lacks its third result: the message says position 2 (the
    file's number, not the shifted 3), lists what the session shows and says what to do."""
    from distillrank.data.formats.clicktable import read_click_table
    from distillrank.feedback.online import estimate_propensities

    rows = ["session_id,qid,docno,position,click"]
    rows += [
        f"{s},q,d{(p + s) % 4},{p},{int(p == 0)}" for s in range(6, 9) for p in range(4) if (s, p) != (7, 2)
    ]
    path = tmp_path / "log.csv"
    path.write_text("\n".join(rows) + "\n")
    log = read_click_table(path)
    assert log.first_position == 0
    for fit in (lambda: PBM().fit(log), lambda: estimate_propensities(log)):
        with pytest.raises(DataFormatError) as info:
            fit()
        assert info.value.problem.startswith(
            "session 7 lacks position 2 (its positions: 0, 1, 3); click models and propensity estimates "
            "need every session's results at positions 0, 1, ... without gaps or repeats"
        )
    repeated = ClickLog(pd.concat([log.df, log.df.iloc[[0]]], ignore_index=True), first_position=0)
    with pytest.raises(DataFormatError, match=r"session 6 shows position 0 twice \(its positions: 0, 0, 1"):
        PBM().fit(repeated)


def test_a_loaded_dataset_or_a_table_instead_of_a_log_is_a_clear_error(pages: ClickLog) -> None:
    # load_dataset gives a SplitDataset of logs: passing it whole failed with "'SplitDataset' object has
    # no attribute 'df'"
    from distillrank.data.dataset import SplitDataset

    loaded = SplitDataset("yandex", {"train": pages, "test": pages})
    with pytest.raises(TypeError, match=r"PBM.fit takes a ClickLog, got a SplitDataset; .*'train'"):
        PBM().fit(loaded)  # type: ignore[arg-type]
    model = PBM().fit(pages)
    with pytest.raises(TypeError, match=r"PBM takes a ClickLog, got a DataFrame; wrap the table"):
        model.perplexity(pages.df)  # type: ignore[arg-type]


def test_encoding_does_not_depend_on_how_the_ids_are_stored() -> None:
    """Sessions are encoded from integer codes: string, Arrow-string and mixed int/str id columns give
    the encoding of their values as strings, with sessions in ascending id order and identical pages
    (same pairs, same clicks) sharing a row numbered by first appearance."""
    rows = [  # (session, qid, position, docno, click): s2 and s9 show the same page with the same clicks
        ("s9", "1", 1, "a", 1), ("s9", "1", 2, "b", 0), ("s2", "1", 2, "b", 0), ("s2", "1", 1, "a", 1),
        ("s5", "2", 1, "b", 0), ("s10", "1", 1, "a", 0), ("s10", "1", 2, "b", 1),
    ]  # fmt: skip
    df = pd.DataFrame(rows, columns=["session_id", "qid", "position", "docno", "click"]).assign(
        propensity=np.nan
    )
    plain = encode_sessions(ClickLog(df))
    assert list(plain.pairs) == [("1", "a"), ("1", "b"), ("2", "b")]
    # sessions s10 < s2 < s5 < s9 (string order); s2 and s9 share the row first seen (s10's is its own)
    assert plain.inverse.tolist() == [0, 1, 2, 1] and plain.weight.tolist() == [1.0, 2.0, 1.0]
    assert plain.click.tolist() == [[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]
    arrow = df.astype({c: "string[pyarrow]" for c in ("session_id", "qid", "docno")})
    mixed = df.assign(qid=[1, "1", 1, "1", 2, "1", 1])  # 1 and "1" are the same query as strings
    for other in (arrow, mixed):
        s = encode_sessions(ClickLog(other))
        assert list(s.pairs) == list(plain.pairs)
        for field in ("pair", "click", "mask", "weight", "inverse", "rows"):
            np.testing.assert_array_equal(getattr(s, field), getattr(plain, field))


def test_measures_take_a_log_or_its_encoding(pages: ClickLog, true_attractiveness: pd.Series) -> None:
    model = PBM(examination=EXAM, attractiveness=true_attractiveness)
    sim = model.simulate(pages, rng=3)
    s = encode_sessions(sim)
    assert model.log_likelihood(s) == model.log_likelihood(sim)
    ppl, per_rank = model.perplexity(s)
    assert ppl == model.perplexity(sim)[0]
    np.testing.assert_array_equal(per_rank, model.perplexity(sim)[1])
