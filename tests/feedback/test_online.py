"""The online loop end to end on a tiny synthetic collection, its serving policy, resuming, learning from
an existing click log, and (with the shared data) the catalogue datasets."""

from __future__ import annotations

import doctest
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distillrank.data.clicklog import ClickLog
from distillrank.data.collection import Corpus, Qrels, Queries, TextCollection
from distillrank.data.dataset import SplitDataset
from distillrank.data.ltr import LTRDataset
from distillrank.errors import DataFormatError, DistillrankError
from distillrank.feedback.online import (
    OnlineConfig,
    OnlineData,
    build_report,
    check_feature_coverage,
    estimate_propensities,
    learn_from_log,
    load_online_data,
    pair_statistics,
    run_online,
    utility,
    write_report,
)
from distillrank.feedback.online.data import hold_out_queries, online_data_from_ltr, online_data_from_text
from distillrank.feedback.online.serving import (
    rank_distribution,
    sample_rankings,
    simulate_sessions,
    standardise,
)
from distillrank.feedback.simulation import ClickSimulator
from distillrank.feedback.store import ClickStore

ESTIMATORS = ("naive", "ips", "snips", "dr", "full_info")


def synthetic_ltr(seed: int, n_queries: int, n_docs: int = 12) -> LTRDataset:
    """Graded relevance 0..2 carried by feature 0 (noisily); feature 1 is noise."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=(n_queries, n_docs), p=[0.6, 0.3, 0.1]).astype(float)
    X = np.stack([y + rng.normal(0, 0.7, y.shape), rng.normal(size=y.shape)], axis=-1).reshape(-1, 2)
    qids = np.repeat([f"s{seed}q{i}" for i in range(n_queries)], n_docs).astype(object)
    return LTRDataset(X, y.ravel(), qids)


@pytest.fixture(scope="module")
def tiny() -> OnlineData:
    data = SplitDataset("synthetic", {"train": synthetic_ltr(0, 60), "test": synthetic_ltr(1, 30)})
    return online_data_from_ltr(data, initial_queries=0.1, initial_rounds=5)


def quick_config(**kw: object) -> OnlineConfig:
    base: dict[str, object] = {
        "rounds": 2,
        "sessions_per_round": 300,
        "trees_per_round": 5,
        "regression_rounds": 10,
        "mc_samples": 20,
        "store": "memory",
        "lgbm_params": {"min_data_in_leaf": 5},
    }
    base.update(kw)
    return OnlineConfig(**base)  # type: ignore[arg-type]


def test_the_loop_end_to_end(tiny: OnlineData) -> None:
    result = run_online(tiny, quick_config())
    assert list(result.curves) == list(ESTIMATORS)
    for name, curve in result.curves.items():
        assert curve.sessions == [300, 600]
        assert len(curve.ndcg) == 2 and all(0 <= v <= 1 for v in curve.ndcg)
        if name in ("ips", "snips", "dr"):
            assert curve.propensities[-1] is not None and curve.propensities[-1][0] == 1.0
            assert curve.propensity_mae[-1] is not None
        if name == "full_info":
            assert curve.served == [None, None]
    metrics = result.metrics()
    assert set(metrics["estimators"]) == set(ESTIMATORS)
    for entry in metrics["estimators"].values():
        assert len(entry["nDCG@10"]) == len(entry["sessions"]) == 2
    json.dumps(metrics, allow_nan=False)
    # learning from clicks helps over the initial ranker, and full information helps most
    assert result.final("full_info") > result.initial_ndcg


@pytest.mark.parametrize(("objective", "candidates"), [("softmax", "all"), ("lambdarank", "shown")])
def test_the_loop_with_each_objective(tiny: OnlineData, objective: str, candidates: str) -> None:
    names = ("naive", "dr", "full_info")
    res = run_online(tiny, quick_config(estimators=names, objective=objective, candidates=candidates))
    for name in names:
        assert len(res.curves[name].ndcg) == 2
        assert all(0 < v <= 1 for v in res.curves[name].ndcg)


def test_auto_candidates_pick_the_set_per_estimator(tiny: OnlineData) -> None:
    """``candidates="auto"`` (the default) trains IPS on the shown candidates and DR on all of them: each
    curve equals the one of the forced set, and differs from the other set's (IPS on all candidates
    learns from the structural zeros of the unshown ones)."""
    names = ("ips", "dr")
    sets = ("auto", "all", "shown")
    runs = {c: run_online(tiny, quick_config(estimators=names, candidates=c)) for c in sets}
    assert OnlineConfig().candidates == "auto"
    assert runs["auto"].curves["ips"].ndcg == runs["shown"].curves["ips"].ndcg
    assert runs["auto"].curves["dr"].ndcg == runs["all"].curves["dr"].ndcg
    assert runs["all"].curves["ips"].ndcg != runs["shown"].curves["ips"].ndcg


def test_runs_are_repeatable(tiny: OnlineData) -> None:
    a = run_online(tiny, quick_config(estimators=("ips", "dr")))
    b = run_online(tiny, quick_config(estimators=("ips", "dr")))
    assert a.curves["ips"].ndcg == b.curves["ips"].ndcg
    assert a.curves["dr"].ndcg == b.curves["dr"].ndcg


def test_the_seed_replicates_the_rankers_bagging_too(tiny: OnlineData) -> None:
    # full information reads no clicks: only the rankers' LightGBM bagging can differ between seeds
    runs = [run_online(tiny, quick_config(estimators=("full_info",), seed=s)) for s in (0, 1, 2)]
    assert len({tuple(r.curves["full_info"].ndcg) for r in runs}) > 1
    assert [r.metrics()["config"]["lgbm_params"]["seed"] for r in runs] == [0, 1, 2]
    pinned = [
        run_online(tiny, quick_config(estimators=("full_info",), seed=s, lgbm_params={"seed": 7}))
        for s in (0, 1)
    ]  # a seed in lgbm_params wins
    assert pinned[0].curves["full_info"].ndcg == pinned[1].curves["full_info"].ndcg


def test_refit_and_warm_start_build_models_of_the_same_size(tiny: OnlineData) -> None:
    """Refitting (the default) trains ``trees_per_round * rounds`` trees from scratch on the whole log in
    the last round; warm starting adds ``trees_per_round`` to the last model: the same size, other trees."""
    refit = run_online(tiny, quick_config(estimators=("ips",)), output=None)
    warm = run_online(tiny, quick_config(estimators=("ips",), warm_start=True), output=None)
    assert refit.curves["ips"].ndcg[0] == warm.curves["ips"].ndcg[0]  # round 1: the same fit
    assert refit.curves["ips"].ndcg != warm.curves["ips"].ndcg  # round 2: refit != fine-tuned
    assert OnlineConfig().warm_start is False


def test_refit_models_have_all_the_trees(tiny: OnlineData, tmp_path: Path) -> None:
    import lightgbm as lgb

    for warm in (False, True):
        out = tmp_path / str(warm)
        run_online(tiny, quick_config(estimators=("dr",), warm_start=warm, rounds=3), output=out)
        booster = lgb.Booster(model_file=str(out / "models" / "dr.txt"))
        assert booster.num_trees() == 3 * 5


def test_cross_fitted_click_regression_in_the_loop(tiny: OnlineData) -> None:
    one = run_online(tiny, quick_config(estimators=("dr",)))
    two = run_online(tiny, quick_config(estimators=("dr",), regression_folds=2))
    assert all(0 < v <= 1 for v in two.curves["dr"].ndcg)
    assert one.curves["dr"].ndcg != two.curves["dr"].ndcg  # other R^, other targets


def test_true_propensities_and_no_exploration(tiny: OnlineData) -> None:
    result = run_online(tiny, quick_config(estimators=("ips",), propensities="true", exploration=0.0))
    truth = result.true_propensities
    assert result.curves["ips"].propensities[-1] == pytest.approx(truth, abs=1e-4)
    assert result.curves["ips"].propensity_mae[-1] == pytest.approx(0.0, abs=1e-4)
    # one deterministic logger cannot identify position bias: no correction, never the true curve
    blind = run_online(tiny, quick_config(estimators=("ips",), exploration=0.0, rounds=1))
    assert blind.curves["ips"].propensities[0] == [1.0] * len(truth)


def test_outputs_stores_and_resume(tiny: OnlineData, tmp_path: Path) -> None:
    cfg = quick_config(estimators=("naive", "dr"), store="duckdb")
    first = run_online(tiny, cfg, output=tmp_path)
    for name in ("naive", "dr"):
        assert (tmp_path / "clicks" / f"{name}.duckdb").exists()
        assert (tmp_path / "clicks" / f"{name}.parquet").exists()
        assert (tmp_path / "models" / f"{name}.txt").exists()
    with ClickStore(tmp_path / "clicks" / "dr.duckdb") as store:
        assert store.n_sessions == 600 and store.rounds == [0, 1]
    # a finished run resumes to the same result without simulating again
    calls: list[str] = []
    again = run_online(tiny, cfg, output=tmp_path, callback=lambda e, n, r, v: calls.append(e))
    assert again.curves["dr"].ndcg == first.curves["dr"].ndcg
    assert "round" not in calls
    # more rounds continue from the checkpoint of the first two
    rounds: list[int] = []
    longer = run_online(
        tiny,
        quick_config(estimators=("dr",), store="duckdb", rounds=3),
        output=tmp_path,
        callback=lambda e, n, r, v: rounds.append(r) if e == "round" else None,
    )
    assert rounds == [2] and longer.curves["dr"].ndcg[:2] == first.curves["dr"].ndcg
    # another configuration does not reuse the checkpoint
    events: list[tuple[str, str]] = []
    other = run_online(
        tiny,
        quick_config(estimators=("dr",), store="duckdb", clip=0.3),
        output=tmp_path,
        callback=lambda e, n, r, v: events.append((e, n)),
    )
    assert len(other.curves["dr"].ndcg) == 2
    assert ("restart", "dr") in events  # and says so (the CLI warns: starting over)
    paths = write_report(first, tmp_path / "report")
    assert {p.name for p in paths} == {"report.md", "report.html", "metrics.json"}
    html = (tmp_path / "report" / "report.html").read_text()
    assert "data:image/png;base64" in html and "doubly robust" in html
    md = (tmp_path / "report" / "report.md").read_text()
    # the estimators this run trained, each with its candidate set (naive and DR here)
    assert "naive on the candidates the log showed, DR on every candidate of the queries seen." in md
    assert "SNIPS" not in md


def test_resume_after_an_interruption_gives_the_same_curve(tiny: OnlineData, tmp_path: Path) -> None:
    cfg = quick_config(estimators=("ips",), store="duckdb", rounds=3)
    full = run_online(tiny, cfg, output=tmp_path / "a")

    class Stop(Exception):
        pass

    def stop_after_second(event: str, name: str, r: int, value: float | None) -> None:
        if event == "round" and r == 1:
            raise Stop

    with pytest.raises(Stop):
        run_online(tiny, cfg, output=tmp_path / "b", callback=stop_after_second)
    resumed = run_online(tiny, cfg, output=tmp_path / "b")
    assert resumed.curves["ips"].ndcg == full.curves["ips"].ndcg
    with ClickStore(tmp_path / "b" / "clicks" / "ips.duckdb") as store:
        assert store.n_sessions == 900


def test_a_crash_inside_a_checkpoint_or_after_the_last_one_resumes_to_the_same_files(
    tiny: OnlineData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill after round r's statistics and model were written but before ``state.json`` marked the
    round complete resumed with round r's statistics as round r-1's (its clicks counted twice: a wrong
    curve, silently); a stop after the last checkpoint left the final model and Parquet log unwritten."""
    from distillrank.feedback.online import checkpoint

    cfg = quick_config(estimators=("ips",), store="duckdb", rounds=3)
    full = run_online(tiny, cfg, output=tmp_path / "a")
    real = checkpoint.atomic_write

    class Crash(Exception):
        pass

    def crash_before_the_second_state(path: Path, *args: object, **kwargs: object) -> object:
        if Path(path).name == "state.json" and (Path(path).parent / "stats-1.npz").exists():
            raise Crash
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(checkpoint, "atomic_write", crash_before_the_second_state)
    with pytest.raises(Crash):
        run_online(tiny, cfg, output=tmp_path / "b")
    monkeypatch.setattr(checkpoint, "atomic_write", real)
    assert json.loads((tmp_path / "b" / "state" / "ips" / "state.json").read_text())["round"] == 0
    resumed = run_online(tiny, cfg, output=tmp_path / "b")
    assert resumed.curves["ips"].ndcg == full.curves["ips"].ndcg
    assert sorted(p.name for p in (tmp_path / "b" / "state" / "ips").iterdir()) == [
        "model-2.txt",
        "state.json",
        "stats-2.npz",
    ]
    for final in ("models/ips.txt", "clicks/ips.parquet"):  # as if stopped after the last checkpoint
        (tmp_path / "b" / final).unlink()
    again = run_online(tiny, cfg, output=tmp_path / "b")
    assert again.curves["ips"].ndcg == full.curves["ips"].ndcg
    assert (tmp_path / "b" / "models" / "ips.txt").read_text() == (
        tmp_path / "a" / "models" / "ips.txt"
    ).read_text()
    assert pd.read_parquet(tmp_path / "b" / "clicks" / "ips.parquet").equals(
        pd.read_parquet(tmp_path / "a" / "clicks" / "ips.parquet")
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rounds": 0}, "rounds must be an integer >= 1"),
        ({"estimators": ("ips", "magic")}, "unknown estimator"),
        ({"estimators": ("ips", "ips")}, "repeat"),
        ({"estimators": "naive,magic"}, r"unknown estimator\(s\) \['magic'\]"),  # a str is names, not letters
        ({"exploration": -1.0}, "exploration must be finite and >= 0"),
        ({"propensities": "guess"}, "propensities must be"),
        ({"lgbm_params": {"objective": "lambdarank"}}, "must not set the objective"),
        ({"objective": "pointwise"}, "objective must be one of"),
        ({"candidates": "some"}, "candidates must be"),
        ({"regression_folds": 0}, "regression_folds must be an integer >= 1"),
        ({"eps_minus": 0.5, "eps_plus": 0.2}, "eps_minus must be <= eps_plus"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ],
)
def test_bad_configurations(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OnlineConfig(**kwargs)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------- serving
def test_standardise_and_deterministic_rankings() -> None:
    mask = np.array([[True, True, True], [True, True, False]])
    z = standardise(np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 99.0]]), mask)
    assert z[1, 2] == -np.inf and np.allclose(z[0].mean(), 0.0)
    ranked = sample_rankings(z, 2, 0.0, np.random.default_rng(0))
    assert ranked.tolist() == [[0, 2], [1, 0]]


def test_rank_distribution_is_a_distribution_and_matches_sampling() -> None:
    rng = np.random.default_rng(0)
    z = standardise(rng.normal(size=(3, 6)), np.ones((3, 6), dtype=bool))
    dist = rank_distribution(z, 3, 1.0, rng, samples=4000)
    np.testing.assert_allclose(dist.sum(axis=1), 1.0)  # every rank holds exactly one candidate
    assert (dist.sum(axis=2) <= 1.0 + 1e-12).all()
    # the candidate with the highest score is the most likely at rank 1
    assert np.argmax(dist[:, :, 0], axis=1).tolist() == np.argmax(z, axis=1).tolist()
    exact = rank_distribution(z, 3, 0.0, rng)
    assert set(np.unique(exact)) <= {0.0, 1.0}


def test_simulated_click_rates_follow_the_user_model() -> None:
    sim = ClickSimulator(eta=1.0, eps_minus=0.1, eps_plus=1.0, top_k=3)
    n = 50_000
    docnos = np.tile(np.array([["a", "b", None]], dtype=object), (n, 1))
    grades = np.tile([[1.0, 0.0, 0.0]], (n, 1))
    log = simulate_sessions(
        sim, np.array(["q"] * n, dtype=object), docnos, grades, 1.0, np.random.default_rng(0).random((n, 3))
    )
    assert len(log) == 2 * n  # the empty slot is not shown
    ctr = log.df.groupby("docno")["click"].mean()
    theta = sim.examination(3)
    assert ctr["a"] == pytest.approx(theta[0] * 1.0, abs=0.01)
    assert ctr["b"] == pytest.approx(theta[1] * 0.1, abs=0.005)


# ----------------------------------------------------------------------------------- offline
def _two_ranker_log() -> ClickLog:
    sim = ClickSimulator(eta=1.0, eps_minus=0.05, eps_plus=1.0, top_k=4)
    from distillrank.data.run import Run

    rel = {f"q{i}": {f"q{i}d{j}": int(j % 3 == 0) for j in range(6)} for i in range(20)}
    a = Run({q: {d: float(-j) for j, d in enumerate(docs)} for q, docs in rel.items()})
    b = Run({q: {d: float(j) for j, d in enumerate(docs)} for q, docs in rel.items()})
    return sim.simulate([a, b], rel, 20_000, rng=3)


def test_learn_from_a_log_without_features() -> None:
    log = _two_ranker_log()
    ranker = learn_from_log(log, "ips")
    assert ranker.propensities[0] == 1.0 and len(ranker.propensities) == 4
    table = ranker.table
    relevant = table["docno"].str.endswith(("d0", "d3"))
    assert table.loc[relevant, "relevance"].min() > table.loc[~relevant, "relevance"].max()
    run = ranker.run()
    naive = learn_from_log(log, "naive", propensities=ranker.propensities).run()
    assert utility(run, log, ranker.propensities) >= utility(naive, log, ranker.propensities) - 1e-9
    stats = pair_statistics(log, ranker.propensities)
    assert {"clicks", "impressions", "exposure", "sessions"} <= set(stats.columns)


def test_learn_from_a_log_with_features(tiny: OnlineData) -> None:
    result_log = _log_over(tiny)
    for name, objective, candidates in itertools.product(
        ("ips", "dr"), ("lambdarank", "softmax"), ("all", "shown")
    ):
        ranker = learn_from_log(
            result_log,
            name,
            features=tiny.train,
            num_boost_round=10,
            objective=objective,  # type: ignore[arg-type]
            candidates=candidates,  # type: ignore[arg-type]
        )
        assert ranker.booster is not None
        run = ranker.run(tiny.test)
        assert len(run) == len(tiny.test.query_ids)
    # without the noise correction, IPS is C / max(E, clip N); with it, the noise clicks f E come off
    plain = learn_from_log(result_log, "ips", features=tiny.train, num_boost_round=5, noise_correction=False)
    corrected = learn_from_log(result_log, "ips", features=tiny.train, num_boost_round=5)
    t = plain.table.dropna(subset=["relevance"])
    expected = t["clicks"] / np.maximum(t["exposure"], 0.1 * t["sessions"])
    np.testing.assert_allclose(t["relevance"], expected)
    c = corrected.table.dropna(subset=["relevance"])
    assert (c["relevance"].to_numpy() <= t["relevance"].to_numpy() + 1e-12).all()
    assert (c["relevance"].to_numpy() < t["relevance"].to_numpy() - 1e-6).any()
    with pytest.raises(ValueError, match="candidates"):
        learn_from_log(result_log, "ips", features=tiny.train, candidates="some")  # type: ignore[arg-type]


def _log_over(data: OnlineData) -> ClickLog:
    """A log of the tiny data's training queries, shown in random orders."""
    assert data.train.docnos is not None
    rng = np.random.default_rng(5)
    rows = []
    sid = 0
    for q in data.train.query_ids:
        idx = np.flatnonzero(data.train.qids == q)
        for _ in range(30):
            shown = rng.permutation(idx)[:5]
            for pos, i in enumerate(shown, start=1):
                p = (1.0 / pos) * (0.1 + 0.45 * data.train.y[i])
                rows.append((sid, q, pos, data.train.docnos[i], int(rng.random() < p), np.nan))
            sid += 1
    return ClickLog(
        pd.DataFrame(rows, columns=["session_id", "qid", "position", "docno", "click", "propensity"])
    )


def test_learn_from_log_errors(tiny: OnlineData) -> None:
    log = _two_ranker_log()
    with pytest.raises(DistillrankError, match="no true labels"):
        learn_from_log(log, "full_info")
    with pytest.raises(DistillrankError, match="needs features"):
        learn_from_log(log, "dr")
    with pytest.raises(DistillrankError, match="share no query"):
        learn_from_log(log, "ips", features=tiny.train)
    single = ClickLog(log.df[log.df["logger"] == 0].drop(columns="logger"))
    with pytest.raises(DistillrankError, match="cannot estimate propensities"):
        learn_from_log(single, "ips")


def test_features_whose_docnos_are_not_the_logs_are_named(tiny: OnlineData) -> None:
    """Feature rows with other document ids than the log's: a clear error, not LightGBM's, and a
    sentence for the logged documents that some rows lack."""
    log = _log_over(tiny)
    assert tiny.train.docnos is not None and check_feature_coverage(log, tiny.train) is None
    other = LTRDataset(
        tiny.train.X, tiny.train.y, tiny.train.qids, "D" + tiny.train.docnos.astype(str), source="f.txt"
    )
    for estimator in ("ips", "dr"):
        with pytest.raises(DistillrankError, match=r"f\.txt: none of the .* logged .* docnos like 'D"):
            learn_from_log(log, estimator, features=other, num_boost_round=2)
    first = tiny.train.docnos[0]
    partial = log.df.copy()
    partial.loc[partial["docno"] == first, "docno"] = "unknown"
    message = check_feature_coverage(ClickLog(partial), tiny.train)
    assert message is not None and "1 of the" in message and "docno 'unknown'" in message
    assert learn_from_log(ClickLog(partial), "ips", features=tiny.train, num_boost_round=2).booster


def test_a_log_with_a_gap_in_its_positions_is_named_not_asked_for_propensities() -> None:
    log = _two_ranker_log()
    df = log.df[~((log.df["session_id"] == 4) & (log.df["position"] == 2))]
    with pytest.raises(
        DataFormatError, match=r"^clicks\.parquet: session 4 lacks position 2 \(its positions: 1, 3"
    ) as e:
        estimate_propensities(ClickLog(df, source="clicks.parquet"))
    assert "pass them" not in str(e.value)


def test_offline_doctest() -> None:
    import distillrank.feedback.online.offline as offline

    result = doctest.testmod(offline)
    assert result.attempted > 0 and result.failed == 0


def _one_split_collection() -> TextCollection:
    """20 judged queries in a single ``test`` split, as in Vaswani or Cranfield."""
    topics = ["solar panel", "river flood", "wheat harvest", "jet engine"]
    docnos = [f"d{i}" for i in range(40)]
    texts = [f"{topics[i % 4]} study number {i} with {topics[(i + 1) % 4]}" for i in range(40)]
    queries = {f"q{j}": f"{topics[j % 4]} effects" for j in range(20)}
    qrels = {f"q{j}": {d: 1 + (k == 0) for k, d in enumerate(docnos[j % 4 :: 4][:3])} for j in range(20)}
    return TextCollection(
        "one-split", Corpus(docnos, [""] * 40, texts), Queries(queries), {"test": Qrels(qrels)}
    )


def test_a_collection_with_one_split_has_test_queries_held_out() -> None:
    """The clicks come from 70% of the judged queries; the other 30% are only evaluated on."""
    coll = _one_split_collection()
    data = online_data_from_text(coll, depth=10, seed=1)
    train_q, test_q = set(data.train.query_ids), set(data.test.query_ids)
    assert len(test_q) == 6 and len(train_q) == 14 and not train_q & test_q
    assert set(data.test_qrels) == test_q
    assert data.held_out == "6 of the 20 judged queries of 'test', seed 1"
    assert "test queries held out: 6 of the 20" in repr(data)
    assert set(online_data_from_text(coll, depth=10, seed=1).test.query_ids) == test_q  # seeded
    assert set(online_data_from_text(coll, depth=10, seed=2).test.query_ids) != test_q
    result = run_online(
        data, quick_config(estimators=("naive", "full_info"), lgbm_params={"min_data_in_leaf": 2})
    )
    assert result.metrics()["held_out_test_queries"] == data.held_out
    assert "no train/test split of its own" in build_report(result).to_markdown()
    coll.qrels["dev"] = coll.qrels["test"]
    with pytest.raises(DistillrankError, match=r"or a single judged split to hold test queries out of"):
        online_data_from_text(coll)


def test_an_ltr_dataset_with_one_split_has_test_queries_held_out(tmp_path: Path) -> None:
    """One svmlight file (a single split, whatever its name): 30% of its queries are held out for test."""
    from distillrank.data.formats.svmlight import write_svmlight

    path = tmp_path / "set1.train.txt"
    write_svmlight(synthetic_ltr(0, 20), path)
    data = load_online_data(path)
    train_q, test_q = set(data.train.query_ids), set(data.test.query_ids)
    assert len(test_q) == 6 and len(train_q) == 14 and not train_q & test_q
    assert set(data.test_qrels) == test_q
    assert data.held_out == "6 of the 20 queries of set1.train.txt, seed 0"
    two = SplitDataset("two", {"valid": synthetic_ltr(1, 5), "test": synthetic_ltr(0, 20)})
    with pytest.raises(DistillrankError, match=r"has no 'train' split \(it has \['valid', 'test'\]\)"):
        online_data_from_ltr(two)


def test_an_ltr_dataset_without_a_positive_label_is_refused_by_name() -> None:
    """All-zero labels (a file of another task, a label column lost): a one-line error naming the split,
    not a ValueError from inside OnlineData after the first ranker was trained."""

    def zeroed(ds: LTRDataset, source: str) -> LTRDataset:
        return LTRDataset(ds.X, np.zeros_like(ds.y), ds.qids, source=source)

    train, test = synthetic_ltr(0, 10), synthetic_ltr(1, 5)
    flat = SplitDataset("flat", {"train": zeroed(train, "flat.txt")}, source="flat.txt")
    with pytest.raises(
        DataFormatError,
        match=r"^flat\.txt: no document of the training queries has a "
        r"relevance label above 0 \(labels 0\.\.0\)",
    ):
        online_data_from_ltr(flat)
    blind = SplitDataset("blind", {"train": train, "test": zeroed(test, "blind/test.txt")})
    with pytest.raises(DataFormatError, match=r"^blind/test\.txt: no document of the test queries"):
        online_data_from_ltr(blind)


def test_an_ltr_folder_without_a_test_file_has_test_queries_held_out_of_train(tmp_path: Path) -> None:
    """train.txt + vali.txt, no test.txt: 30% of the training queries are held out for test, drawn as for
    a single file (the same queries, with the same seed); the validation queries stay out of both."""
    from distillrank.data.formats.svmlight import write_svmlight

    single = tmp_path / "single" / "set1.train.txt"
    single.parent.mkdir()
    write_svmlight(synthetic_ltr(0, 20), single)
    folder = tmp_path / "Fold1"
    folder.mkdir()
    write_svmlight(synthetic_ltr(0, 20), folder / "train.txt")
    write_svmlight(synthetic_ltr(1, 5), folder / "vali.txt")
    data = load_online_data(folder)
    train_q, test_q = set(data.train.query_ids), set(data.test.query_ids)
    assert len(test_q) == 6 and len(train_q) == 14 and not train_q & test_q
    assert train_q | test_q == set(synthetic_ltr(0, 20).query_ids)  # none of vali.txt's
    assert test_q == set(load_online_data(single).test.query_ids)
    assert data.held_out == "6 of the 20 queries of train.txt, seed 0"
    assert "test queries held out: 6 of the 20 queries of train.txt" in repr(data)
    assert set(load_online_data(folder, seed=1).test.query_ids) != test_q


def test_a_trec_collection_serves_the_query_field_asked_for(tmp_path: Path) -> None:
    """``query_field`` reaches the collection: BM25 retrieves for the topics' descriptions."""
    topics = ["solar panel", "river flood", "wheat harvest", "jet engine"]
    docs = "".join(
        f"<DOC><DOCNO>d{i}</DOCNO><TEXT>{topics[i % 4]} study {i}</TEXT></DOC>\n" for i in range(40)
    )
    (tmp_path / "docs.trec").write_text(docs)
    (tmp_path / "topics.txt").write_text(
        "".join(
            f"<top>\n<num> Number: {j}\n<title> {topics[j % 4]}\n<desc> {topics[(j + 1) % 4]}\n</top>\n"
            for j in range(20)
        )
    )
    (tmp_path / "qrels.txt").write_text("".join(f"{j} 0 d{j % 4} 1\n" for j in range(20)))
    by_title = load_online_data(tmp_path, depth=5)
    by_desc = load_online_data(tmp_path, depth=5, query_field="desc")
    assert by_title.test.query_ids == by_desc.test.query_ids  # the same queries held out
    # named apart, so that the loop's checkpoints of one are never resumed with the other
    assert (by_title.name, by_desc.name) == (tmp_path.name, f"{tmp_path.name} (desc queries)")
    q = by_title.test.query_ids[0]
    assert {int(d[1:]) % 4 for d in by_title.test.docnos[by_title.test.qids == q]} == {int(q) % 4}
    assert {int(d[1:]) % 4 for d in by_desc.test.docnos[by_desc.test.qids == q]} == {(int(q) + 1) % 4}


def test_hold_out_queries_keeps_one_query_on_each_side() -> None:
    assert hold_out_queries(["a", "b"], 0.9, seed=0)[0] != []
    assert hold_out_queries(["a", "b", "c"], 0.01, seed=0)[1] != []
    with pytest.raises(DistillrankError, match="at least 2 judged queries"):
        hold_out_queries(["a"], 0.3, seed=0)


# ----------------------------------------------------------------------------------- real data
@pytest.mark.data
def test_catalogue_datasets_load(shared_data: Path) -> None:
    ltr = load_online_data("lightgbm-lambdarank", shared_data)
    assert ltr.train.n_rows == 3005 and ltr.initial_model is not None and ltr.max_grade == 4
    with pytest.raises(DistillrankError, match="neither a text collection"):
        load_online_data("yandex-wscd-sample", shared_data)
    vaswani = load_online_data("vaswani", shared_data, depth=20)  # one judged split: 30% held out
    assert len(vaswani.test.query_ids) == 28 and len(vaswani.train.query_ids) == 65


@pytest.mark.data
@pytest.mark.filterwarnings("ignore::distillrank.errors.DataWarning")
def test_learn_from_the_yandex_log(shared_data: Path) -> None:
    from distillrank.data.catalogue import load_dataset

    logs = load_dataset("yandex-wscd-sample", shared_data)
    ranker = learn_from_log(logs["train"], "ips")
    alpha = ranker.propensities
    assert alpha[0] == 1.0 and np.all(np.diff(alpha[:5]) < 0)  # position bias: steadily fewer clicks
    logged = utility(_mean_position_run(logs["train"]), logs["test"], alpha)
    learned = utility(ranker.run(), logs["test"], alpha)
    assert learned > logged


def _mean_position_run(log: ClickLog):
    from distillrank.data.run import Run

    mean_pos = log.df.groupby(["qid", "docno"])["position"].mean()
    out: dict[str, dict[str, float]] = {}
    for (q, d), p in mean_pos.items():
        out.setdefault(str(q), {})[str(d)] = -float(p)
    return Run(out)


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        (
            "auto",
            "naive, IPS and SNIPS on the candidates the log showed, "
            "DR and full information on every candidate of the queries seen",
        ),
        ("all", "naive, IPS, SNIPS, DR and full information on every candidate of the queries seen"),
        (
            "shown",
            "naive, IPS, SNIPS and DR on the candidates the log showed, "
            "full information on every candidate of the queries seen",
        ),
    ],
)
def test_report_names_each_estimators_candidate_set(candidates: str, expected: str) -> None:
    from types import SimpleNamespace

    from distillrank.feedback.online.report import _candidate_text

    names = ("naive", "ips", "snips", "dr", "full_info")
    result = SimpleNamespace(curves=dict.fromkeys(names), config=SimpleNamespace(candidates=candidates))
    assert _candidate_text(result) == expected  # type: ignore[arg-type]


def test_unbiased_lambdamart_learns_online_from_its_session_window(tiny: OnlineData, tmp_path: Path) -> None:
    from distillrank.feedback.online import build_report

    cfg = quick_config(
        estimators=("unbiased_lambdamart",), rounds=3, store="duckdb", session_window=400, seed=1
    )
    result = run_online(tiny, cfg, output=tmp_path)
    curve = result.curves["unbiased_lambdamart"]
    assert curve.sessions == [300, 600, 900] and len(curve.ndcg) == 3
    assert curve.propensities == [None] * 3  # it learns its own position biases, no EM
    assert curve.served[-1] > curve.served[0]  # the pages it served improved as it learned
    assert (tmp_path / "models" / "unbiased_lambdamart.txt").exists()
    # resumable like the others: a rerun reads the checkpoint and gives the same curve
    again = run_online(tiny, cfg, output=tmp_path)
    assert again.curves["unbiased_lambdamart"].ndcg == curve.ndcg
    md = build_report(result).to_markdown()
    assert "Unbiased LambdaMART (sessions) on the clicked/unclicked pairs of the latest 400 sessions" in md
    with pytest.raises(ValueError, match="session_window"):
        quick_config(session_window=0)


def test_learn_from_log_names_a_dataset_given_for_a_log() -> None:
    log = _two_ranker_log()
    with pytest.raises(TypeError, match=r"learn_from_log takes a ClickLog, got a SplitDataset; .*'train'"):
        learn_from_log(SplitDataset("clicks", {"train": log}), "ips")  # type: ignore[arg-type]


def test_final_of_an_estimator_the_run_did_not_have_lists_those_it_had() -> None:
    from distillrank.feedback.online.loop import OnlineResult

    result = OnlineResult("x", OnlineConfig(), 0.5, "BM25", [1.0], curves={})
    with pytest.raises(KeyError, match="no estimator 'ips' in this run; it ran: "):
        result.final("ips")


def test_test_queries_without_a_relevant_candidate_are_a_warning(tiny: OnlineData) -> None:
    from dataclasses import replace

    from distillrank.errors import DataWarning
    from distillrank.feedback.online.data import _warn_unjudged_test_queries

    y = np.asarray(tiny.test.y, dtype=np.float64).copy()
    first = str(np.asarray(tiny.test.qids)[0])
    y[np.asarray(tiny.test.qids).astype(str) == first] = 0
    data = replace(tiny, test=LTRDataset(tiny.test.X, y, tiny.test.qids, docnos=tiny.test.docnos))
    with pytest.warns(
        DataWarning, match=rf"1 of the \d+ test queries have no relevant candidate \(first: '{first}'\)"
    ):
        _warn_unjudged_test_queries(data)


def test_the_mean_over_seeds_is_reported_with_bands(tiny: OnlineData, tmp_path: Path) -> None:
    from distillrank.feedback.online.report import mean_result, write_report

    results = [run_online(tiny, quick_config(estimators=("naive", "full_info"), seed=s)) for s in (0, 1)]
    mean, errors = mean_result(results)
    for name in ("naive", "full_info"):
        expected = [(a + b) / 2 for a, b in zip(*(r.curves[name].ndcg for r in results), strict=True)]
        assert mean.curves[name].ndcg == pytest.approx(expected, abs=1e-5)
        assert len(errors[name]) == len(expected)
    paths = write_report(mean, tmp_path, seeds=2, errors=errors)
    assert (tmp_path / "ndcg_vs_sessions.png").is_file() and tmp_path / "report.md" in paths
    assert "**Means over 2 seeds**" in (tmp_path / "report.md").read_text()
    assert "bands are one standard error" in (tmp_path / "report.md").read_text()
