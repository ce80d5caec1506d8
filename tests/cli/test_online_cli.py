"""``distillrank online``: the simulated loop on a tiny LTR folder and learning from a click log."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from distillrank.cli.main import app
from distillrank.data.clicklog import ClickLog
from distillrank.data.formats.svmlight import write_svmlight
from distillrank.data.formats.trec import read_trec_run
from distillrank.data.formats.yandex import write_yandex_clicklog
from distillrank.data.ltr import LTRDataset
from distillrank.data.run import Run
from distillrank.feedback.simulation import ClickSimulator

runner = CliRunner()


def _ltr(seed: int, n_queries: int) -> LTRDataset:
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=(n_queries, 8), p=[0.6, 0.3, 0.1]).astype(float)
    X = np.stack([y + rng.normal(0, 0.7, y.shape), rng.normal(size=y.shape)], axis=-1).reshape(-1, 2)
    qids = np.repeat([f"{seed}{i:03d}" for i in range(n_queries)], 8).astype(object)
    return LTRDataset(X, y.ravel(), qids)


@pytest.fixture()
def tiny_ltr(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny-ltr"
    folder.mkdir()
    write_svmlight(_ltr(1, 40), folder / "train.txt")
    write_svmlight(_ltr(2, 20), folder / "test.txt")
    return folder


def test_simulate_writes_the_report_and_metrics(tiny_ltr: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["online", "simulate", "--dataset", str(tiny_ltr), "--rounds", "2", "--sessions-per-round", "200"]
    args += ["--trees-per-round", "3", "--output", str(out), "--seed", "3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["estimators"]) == {"naive", "ips", "snips", "dr", "full_info"}
    for entry in metrics["estimators"].values():
        assert len(entry["nDCG@10"]) == 2 and entry["sessions"] == [200, 400]
        assert all(isinstance(v, float) for v in entry["nDCG@10"])
    html = (out / "report.html").read_text()
    assert "<img" in html and "full information" in html
    assert (out / "report.md").exists() and (out / "ndcg_vs_sessions.png").exists()
    assert (out / "clicks" / "ips.duckdb").exists() and (out / "clicks" / "ips.parquet").exists()


def test_quick_and_a_subset_of_estimators(tiny_ltr: Path, tmp_path: Path) -> None:
    out = tmp_path / "quick"
    args = ["online", "simulate", "-d", str(tiny_ltr), "--quick", "--estimators", "naive,ips"]
    result = runner.invoke(app, [*args, "--store", "memory", "-o", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["estimators"]) == ["naive", "ips"]
    assert metrics["estimators"]["ips"]["sessions"] == [2000, 4000, 6000]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--estimators", "ips,magic"], "unknown estimator"),
        (["--exploration", "-1"], "exploration must be finite and >= 0"),
        (["--propensities", "guess"], "propensities must be"),
        (["--candidates", "some"], "candidates must be one of"),
        (["--query-field", "desc"], "applies to TREC topics files only; this is a learning-to-rank feature"),
        (["--query-field", "summary"], "--query-field: must be title, desc or narr"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    tiny_ltr: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    result = runner.invoke(app, ["online", "simulate", "-d", str(tiny_ltr), "-o", str(tmp_path), *extra])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


SIMULATE_BAD: list[tuple[list[str], str]] = [
    (["--rounds", "-1"], "--rounds must be an integer >= 1, got -1"),
    (["--quick", "--rounds", "-1"], "--rounds must be an integer >= 1, got -1"),
    (["--sessions-per-round", "0"], "--sessions-per-round must be an integer >= 1, got 0"),
    (["--trees-per-round", "0"], "--trees-per-round must be an integer >= 1, got 0"),
    (["--eta", "-0.5"], "--eta must be finite and >= 0, got -0.5"),
    (["--eta", "inf"], "--eta must be finite and >= 0, got inf"),
    (["--eps-minus", "-0.1"], "--eps-minus must be in [0, 1], got -0.1"),
    (["--eps-plus", "1.5"], "--eps-plus must be in [0, 1], got 1.5"),
    (["--eps-minus", "0.6", "--eps-plus", "0.5"], "--eps-minus must be <= --eps-plus, got --eps-minus=0.6 >"),
    (["--clip", "0"], "--clip must be in (0, 1], got 0.0"),
    (["--clip", "1.5"], "--clip must be in (0, 1], got 1.5"),
    (["--exploration", "-1"], "--exploration must be finite and >= 0, got -1.0"),
    (["--exploration", "inf"], "--exploration must be finite and >= 0, got inf"),
    (
        ["--estimators", "ips,snps"],
        "--estimators: unknown estimator 'snps' (did you mean 'snips'?); choose from",
    ),
    (
        ["--estimators", "ips,magic"],
        "--estimators: unknown estimator 'magic'; choose from naive, ips, snips,",
    ),
    (["--estimators", ","], "--estimators names no estimator (got ',')"),
    (["--estimators", "ips,IPS"], "--estimators repeat a name: ('ips', 'ips')"),
    (["--noise", "guess"], "--noise must be 'none', 'true' or 'estimate', got 'guess'"),
    (["--store", "disk"], "--store must be 'duckdb' or 'memory', got 'disk'"),
    (["--depth", "1"], "--depth must be >= 2 (got 1): clicks teach an order of two results or more"),
    (["--eps-minus", "0", "--eps-plus", "0"], "--eps-plus must be > 0 (got 0.0): the simulated users"),
    (["-o", "FILE/sub"], "is a file (in "),
    (["--seed", "-1"], "--seed must be an integer >= 0"),
]


@pytest.mark.parametrize(("extra", "message"), SIMULATE_BAD, ids=[" ".join(a) for a, _ in SIMULATE_BAD])
def test_simulate_option_errors_name_the_option_before_any_work(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    """Every bad value is refused before the dataset is even looked up (``nosuch`` would fail there)."""
    out = tmp_path / "out"
    (tmp_path / "FILE").write_text("x")
    extra = [str(tmp_path / a) if a.startswith("FILE") else a for a in extra]
    result = runner.invoke(app, ["online", "simulate", "-d", "nosuch", "-o", str(out), *extra])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert text.startswith(f"error: {message}") or (message.startswith("is a file") and message in text), text
    assert "Traceback" not in result.output and not out.exists()


def test_estimator_names_are_case_insensitive(tiny_ltr: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["online", "simulate", "-d", str(tiny_ltr), "--rounds", "1", "--sessions-per-round", "50"]
    args += ["--trees-per-round", "2", "--estimators", "Naive", "--store", "memory", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert list(json.loads((out / "metrics.json").read_text())["estimators"]) == ["naive"]


def test_a_rerun_with_other_estimators_names_what_else_the_folder_holds(
    tiny_ltr: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    base = ["online", "simulate", "-d", str(tiny_ltr), "--rounds", "1", "--sessions-per-round", "50"]
    base += ["--trees-per-round", "2", "-o", str(out)]
    assert runner.invoke(app, [*base, "--estimators", "naive,ips"]).exit_code == 0
    result = runner.invoke(app, [*base, "--estimators", "dr"])
    assert result.exit_code == 0, result.output
    assert list(json.loads((out / "metrics.json").read_text())["estimators"]) == ["dr"]
    said = " ".join(result.stderr.split())
    assert "checkpoints of ips, naive from an earlier run; this report covers dr only" in said
    assert "--estimators dr,ips,naive reports them together" in said
    assert (out / "clicks" / "naive.duckdb").exists()  # kept: a re-run naming them resumes
    again = runner.invoke(app, [*base, "--estimators", "dr,ips,naive"])
    assert again.exit_code == 0 and "earlier run" not in again.stderr
    assert list(json.loads((out / "metrics.json").read_text())["estimators"]) == ["dr", "ips", "naive"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--clip", "-1"], "--clip must be in [0, 1] (got -1.0)"),
        (["--rounds", "0"], "--rounds must be >= 1"),
        (["--estimators", "snps"], "--estimators: unknown estimator 'snps' (did you mean 'snips'?)"),
    ],
)
def test_learn_option_errors_are_one_line_and_exit_2(tmp_path: Path, extra: list[str], message: str) -> None:
    args = ["online", "learn", "-c", str(tmp_path / "none"), "-o", str(tmp_path)]
    result = runner.invoke(app, [*args, *extra])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def _yandex_folder(tmp_path: Path) -> Path:
    sim = ClickSimulator(eta=1.0, eps_minus=0.05, eps_plus=1.0, top_k=5)
    rel = {f"{i}": {f"{i}{j}": int(j % 3 == 0) for j in range(7)} for i in range(1, 11)}
    a = Run({q: {d: float(j) for j, d in enumerate(docs)} for q, docs in rel.items()})
    b = Run({q: {d: float((5 * j) % 7) for j, d in enumerate(docs)} for q, docs in rel.items()})
    folder = tmp_path / "clicks"
    folder.mkdir()
    for split, seed in (("trainSample", 1), ("testSample", 2)):
        log = sim.simulate([a, b], rel, 4000, rng=seed)
        write_yandex_clicklog(ClickLog(log.df[list(log.df.columns[:6])]), folder / split)
    return folder


def test_learn_from_a_click_log(tmp_path: Path) -> None:
    out = tmp_path / "learned"
    args = ["online", "learn", "--clicks", str(_yandex_folder(tmp_path)), "--output", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["propensities"][0] == 1.0
    assert set(metrics["estimators"]) == {"naive", "ips", "snips"}
    assert metrics["estimators"]["ips"]["utility@10"] > 1.05 * metrics["logged"]["utility@10"]
    assert (out / "runs" / "ips.trec").exists() and (out / "relevance" / "ips.parquet").exists()
    bad = runner.invoke(app, [*args, "--estimators", "dr"])
    assert bad.exit_code == 2 and "features" in bad.output
    again = runner.invoke(app, [*args, "--estimators", "naive"])  # the folder now holds naive's only
    assert again.exit_code == 0, again.output
    assert "removed what an earlier run" in again.stderr and "runs/ips.trec" in again.stderr
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["naive.trec"]
    assert sorted(p.name for p in (out / "relevance").iterdir()) == ["naive.parquet"]


def test_learn_from_one_click_log_file(tmp_path: Path) -> None:
    """A single file (Yandex or Parquet) is the training log; with no test split nothing is evaluated."""
    from distillrank.data.formats.yandex import read_yandex_clicklog

    yandex = _yandex_folder(tmp_path) / "trainSample"
    parquet = tmp_path / "log.parquet"
    read_yandex_clicklog(yandex).df.drop(columns="propensity").to_parquet(parquet, index=False)
    for path in (yandex, parquet):
        out = tmp_path / f"out-{path.name}"
        result = runner.invoke(app, ["online", "learn", "--clicks", str(path), "--output", str(out)])
        assert result.exit_code == 0, result.output
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["logged"]["utility@10"] is None and metrics["test_propensities"] is None
        assert set(metrics["estimators"]) == {"naive", "ips", "snips"}
        assert (out / "runs" / "ips.trec").exists()
        # the report and the console say that nothing was evaluated, not "held-out utility@10"
        report = (out / "report.md").read_text()
        assert "held-out utility" not in report and "on the held-out sessions" not in report
        assert "**Not evaluated**: the rankings were learnt from every session" in report
        assert "not evaluated: the rankings were learnt from every session" in " ".join(result.output.split())
    bad = runner.invoke(
        app, ["online", "learn", "--clicks", str(parquet), "-o", str(out), "--test-split", "x"]
    )
    assert bad.exit_code == 2 and "the click log has no split 'x' (it has ['train'])" in bad.output


def _write_wscd_original(log: ClickLog, path: Path) -> None:
    """``log`` in the original Yandex WSCD 2011 layout (gzip-compressed): two queries per SessionID, each
    a ``Q`` action then a ``C`` action per click."""
    import gzip

    out: list[str] = []
    for i, s in enumerate(log.sessions()):
        out.append(f"{i // 2}\t{len(out)}\tQ\t{s.qid}\t213\t" + "\t".join(s.docnos))
        out += [f"{i // 2}\t{len(out)}\tC\t{d}" for d, c in zip(s.docnos, s.clicks, strict=True) if c]
    path.write_bytes(gzip.compress("".join(line + "\n" for line in out).encode()))


def test_learn_from_the_original_yandex_layout(tmp_path: Path) -> None:
    """A folder of train/test logs in the original WSCD layout (one Q/C action per line) is detected,
    read and learned from like the sample layout; ``datasets info`` reads one such file."""
    from distillrank.data.formats.yandex import read_yandex_clicklog

    sample = _yandex_folder(tmp_path)
    logs = tmp_path / "wscd"
    logs.mkdir()
    for split in ("train", "test"):
        _write_wscd_original(read_yandex_clicklog(sample / f"{split}Sample"), logs / f"{split}.txt.gz")
    out = tmp_path / "out-wscd"
    result = runner.invoke(app, ["online", "learn", "--clicks", str(logs), "--output", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["propensities"][0] == 1.0 and len(metrics["propensities"]) == 5
    assert metrics["estimators"]["ips"]["utility@10"] > 1.05 * metrics["logged"]["utility@10"]
    info = runner.invoke(app, ["datasets", "info", str(logs / "test.txt.gz")])
    assert info.exit_code == 0, info.output
    assert "ClickLog(4000 sessions" in info.output


def test_learn_from_csv_tsv_and_parquet_logs_counted_from_zero(tmp_path: Path) -> None:
    """Per-impression tables from elsewhere: CSV/TSV files, a folder of Parquet train/test logs, positions
    counted from 0; the folder's test split is evaluated on."""
    from distillrank.data.formats.yandex import read_yandex_clicklog

    yandex = _yandex_folder(tmp_path)
    logs = tmp_path / "tables"
    logs.mkdir()
    for split in ("train", "test"):
        df = read_yandex_clicklog(yandex / f"{split}Sample").df.drop(columns="propensity")
        df.assign(position=df["position"] - 1).to_parquet(logs / f"{split}.parquet", index=False)
    df.to_csv(tmp_path / "log.csv", index=False)
    df.to_csv(tmp_path / "log.tsv", index=False, sep="\t")
    for path in (logs, tmp_path / "log.csv", tmp_path / "log.tsv"):
        out = tmp_path / f"out-{path.name}"
        result = runner.invoke(app, ["online", "learn", "--clicks", str(path), "--output", str(out)])
        assert result.exit_code == 0, result.output
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["propensities"][0] == 1.0 and len(metrics["propensities"]) == 5
        assert (metrics["logged"]["utility@10"] is not None) == (path == logs)
    df.iloc[[0, 1, 2, 2]].to_csv(tmp_path / "dup.csv", index=False)
    bad = runner.invoke(app, ["online", "learn", "--clicks", str(tmp_path / "dup.csv"), "-o", str(out)])
    assert bad.exit_code == 2 and "dup.csv:5: session 0 shows position 3 twice (also at line 4)" in bad.output


def test_learn_rankers_on_features_from_a_click_log(tmp_path: Path) -> None:
    """With --features: LightGBM rankers on the estimates, DR and per-session Unbiased LambdaMART."""
    rng = np.random.default_rng(0)
    qids = np.repeat([f"{i}" for i in range(1, 11)], 7).astype(object)
    docnos = np.array([f"{i}{j}" for i in range(1, 11) for j in range(7)], dtype=object)
    rel = np.array([float(j % 3 == 0) for _ in range(10) for j in range(7)])
    X = np.stack([rel + rng.normal(0, 0.3, rel.shape), rng.normal(size=rel.shape)], axis=1)
    feats = tmp_path / "features.txt"
    write_svmlight(LTRDataset(X, rel, qids, docnos), feats)
    out = tmp_path / "ranked"
    args = ["online", "learn", "--clicks", str(_yandex_folder(tmp_path)), "--output", str(out)]
    args += ["--features", str(feats), "--estimators", "ips,dr,unbiased_lambdamart", "--rounds", "30"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["features"] == str(feats) and set(metrics["estimators"]) == {
        "ips",
        "dr",
        "unbiased_lambdamart",
    }
    ulm = metrics["estimators"]["unbiased_lambdamart"]
    assert ulm["t_plus"][0] == 1.0 and ulm["sessions_with_pairs"] > 0
    ips = metrics["estimators"]["ips"]
    assert 0 < ips["pairs_with_features"] <= ips["pairs"]
    for name, entry in metrics["estimators"].items():
        assert (out / "models" / f"{name}.txt").exists()
        run = read_trec_run(out / "runs" / f"{name}.trec")
        assert sum(len(dict(run.ranked(q))) for q in map(str, range(1, 11))) == 70  # every feature row
        assert entry["utility@10"] > 1.05 * metrics["logged"]["utility@10"]
    assert "LightGBM ranker on the features" in (out / "report.md").read_text()
    bad = runner.invoke(app, [*args[:6], "--estimators", "unbiased_lambdamart"])
    assert bad.exit_code == 2 and "--features" in bad.output


@pytest.mark.data
@pytest.mark.filterwarnings("ignore::distillrank.errors.DataWarning")
def test_learn_from_the_yandex_sample(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "yandex"
    args = ["online", "learn", "--clicks", "yandex-wscd-sample", "--data-dir", str(shared_data)]
    result = runner.invoke(app, [*args, "--output", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["estimators"]["ips"]["utility@10"] > metrics["logged"]["utility@10"]


def test_simulate_refuses_no_clipping_before_it_starts(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["online", "simulate", "-d", "lightgbm-lambdarank", "--clip", "0", "-o", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    assert "clip must be in (0, 1], got 0.0" in " ".join(result.output.split())


def _click_csv(path: Path, rows: list[tuple[str, str, int, str, int]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "session_id,qid,position,docno,click\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    )
    return path


def _sessions(qids: list[str], clicks: bool = True, n: int = 6) -> list[tuple[str, str, int, str, int]]:
    rows = []
    for s in range(n):
        q = qids[s % len(qids)]
        docs = ["a", "b", "c"] if (s // len(qids)) % 2 else ["b", "a", "c"]  # each query: two orders
        rows += [(f"s{s}", q, p + 1, d, int(clicks and d == "a")) for p, d in enumerate(docs)]
    return rows


def test_learn_refuses_logs_it_cannot_learn_from_before_any_work(tmp_path: Path) -> None:
    """No click at all; query ids that a TREC run cannot hold; empty ids in a CSV (named at their line)."""
    cases = {
        "noclicks": (_sessions(["q1"], clicks=False), "no click in 6 sessions: nothing to estimate"),
        "spaced": (_sessions(["what is a cat"]), "query id 'what is a cat' holds whitespace (18 rows)"),
        "emptydoc": ([("s0", "q1", 1, "a", 1), ("s0", "q1", 2, "", 0)], "train.csv:3: empty docno"),
    }
    for name, (rows, message) in cases.items():
        log = _click_csv(tmp_path / name / "train.csv", rows)
        out = tmp_path / f"out-{name}"
        result = runner.invoke(app, ["online", "learn", "--clicks", str(log.parent), "-o", str(out)])
        assert result.exit_code == 2, (name, result.output)
        assert message in " ".join(result.output.split()), (name, result.output)
        assert "Traceback" not in result.output and not (out / "runs").exists()


def test_learn_warns_when_test_queries_were_never_learnt(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    _click_csv(folder / "train.csv", _sessions(["q1", "q2"]))
    _click_csv(folder / "test.csv", _sessions(["q2", "q3"]))
    result = runner.invoke(app, ["online", "learn", "--clicks", str(folder), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "test.csv: 1 of its 2 queries are not in the training log" in " ".join(result.output.split())


def test_a_parquet_click_log_is_told_by_its_contents(tmp_path: Path) -> None:
    from distillrank.data.formats.clicktable import read_click_file, read_click_table

    table = read_click_table(_click_csv(tmp_path / "log.csv", _sessions(["q1"])))
    table.df.to_parquet(tmp_path / "log_without_suffix", index=False)
    assert len(read_click_file(tmp_path / "log_without_suffix").df) == 18


def test_simulate_refuses_labels_that_are_not_whole_grades(tmp_path: Path) -> None:
    folder = tmp_path / "frac"
    folder.mkdir()
    train = _ltr(1, 40)
    train.y[3] = 0.25
    write_svmlight(train, folder / "train.txt")
    write_svmlight(_ltr(2, 20), folder / "test.txt")
    out = tmp_path / "out"
    result = runner.invoke(app, ["online", "simulate", "-d", str(folder), "--rounds", "1", "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert (
        "row 4 of the training queries has label 0.25: online simulate needs whole relevance grades 0..30"
        in (" ".join(result.output.split()))
    )


def test_learn_takes_the_logs_own_propensities_when_they_depend_on_the_rank_only(tmp_path: Path) -> None:
    from distillrank.data.formats.clicktable import read_click_table
    from distillrank.feedback.online import logged_propensities

    rows = _sessions(["q1", "q2"], n=8)
    f = tmp_path / "log" / "train.csv"
    f.parent.mkdir()
    f.write_text(
        "session_id,qid,position,docno,click,propensity\n"
        + "".join(f"{s},{q},{p},{d},{c},{[1.0, 0.5, 0.25][p - 1]}\n" for s, q, p, d, c in rows)
    )
    assert logged_propensities(read_click_table(f)).tolist() == [1.0, 0.5, 0.25]
    out = tmp_path / "out"
    result = runner.invoke(app, ["online", "learn", "--clicks", str(f.parent), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "p_k/p_1 (from the log's propensity column): 1.000 0.500 0.250" in " ".join(result.output.split())
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["propensities_from"] == "log" and metrics["propensities"] == [1.0, 0.5, 0.25]
    # propensities that vary within a rank (per session) are not a per-rank curve: EM it is
    f.write_text(f.read_text().replace(",1.0\n", ",0.9\n", 1))
    assert logged_propensities(read_click_table(f)) is None


def test_a_log_of_a_later_page_is_named_as_such(tmp_path: Path) -> None:
    rows = [(s, q, p + 10, d, c) for s, q, p, d, c in _sessions(["q1"])]
    log = _click_csv(tmp_path / "page2" / "train.csv", rows)
    result = runner.invoke(app, ["online", "learn", "--clicks", str(log.parent), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "the log shows positions 11..13 only (a later page?)" in " ".join(result.output.split())


@pytest.mark.data
@pytest.mark.filterwarnings("ignore::distillrank.errors.DataWarning")
def test_clickmodels_on_the_yandex_sample(shared_data: Path, tmp_path: Path) -> None:
    """``online clickmodels`` fits on train, evaluates on test, and reports what the library computes."""
    from distillrank.data.catalogue import load_dataset
    from distillrank.feedback.click_models import PBM, CascadeModel

    out = tmp_path / "cm"
    args = ["online", "clickmodels", "--data-dir", str(shared_data), "--models", "PBM,cm", "--max-iter", "30"]
    result = runner.invoke(app, [*args, "--output", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["models"]) == ["pbm", "cm"] and metrics["test_sessions"] == 21_413
    log = load_dataset("yandex-wscd-sample", shared_data)
    for name, cls in (("pbm", PBM), ("cm", CascadeModel)):
        model = cls().fit(log["train"], max_iter=30)
        entry = metrics["models"][name]
        assert entry["log_likelihood"] == round(model.log_likelihood(log["test"]), 5)
        assert entry["perplexity_at_rank"] == [round(float(x), 5) for x in model.perplexity(log["test"])[1]]
    assert metrics["models"]["pbm"]["log_likelihood"] > metrics["models"]["cm"]["log_likelihood"]
    assert (out / "perplexity_by_rank.png").exists() and "held-out log-likelihood" in (
        out / "report.md"
    ).read_text()


def test_clickmodels_hold_out_sessions_of_a_single_log(tmp_path: Path) -> None:
    from distillrank.data.formats.yandex import read_yandex_clicklog

    yandex = _yandex_folder(tmp_path) / "trainSample"
    n = read_yandex_clicklog(yandex).n_sessions
    out = tmp_path / "out"
    args = [
        "online",
        "clickmodels",
        "-c",
        str(yandex),
        "-o",
        str(out),
        "--models",
        "ubm",
        "--test-fraction",
        "0.25",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_sessions"] == round(0.25 * n) and metrics["train_sessions"] == n - round(0.25 * n)
    assert "25% of its sessions at random (seed 0)" in metrics["held_out"]
    bad = runner.invoke(app, [*args[:6], "--models", "ubn"])
    assert bad.exit_code == 2 and "--models" in bad.output and "ubm" in bad.output
    bad = runner.invoke(app, [*args, "--test-fraction", "1.5"])
    assert bad.exit_code == 2 and "--test-fraction" in bad.output
