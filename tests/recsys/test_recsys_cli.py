"""``distillrank recsys distill`` end to end on a tiny synthetic interaction file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from distillrank.cli.main import app

runner = CliRunner()


def test_distill_writes_the_report_and_documented_metrics(synthetic_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "rd"
    args = ["recsys", "distill", "--data", str(synthetic_file), "--output", str(out), "--threads", "1"]
    args += ["--teacher-dim", "16", "--student-dim", "8", "--epochs-scale", "0.05", "--alphas", "1.0"]
    args += ["--student-sizes", "4,8", "--weight-decays", "1e-6,1e-2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "report.md").exists() and (out / "report.html").exists()
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "Targets" in html
    metrics = json.loads((out / "metrics.json").read_text())
    models = metrics["models"]
    roles = {m["role"] for m in models.values()}
    assert {"teacher", "student", "rd_student", "two_tower"} <= roles
    assert sum(m["role"] in ("rd_student", "rd_ablation") for m in models.values()) == 5
    for entry in models.values():
        assert {"nDCG@10", "P@10", "MAP"} <= set(entry["metrics"])
        assert entry["cost"]["params"] > 0 and entry["cost"]["ms_per_user"] > 0
    head = metrics["headline"]
    assert models[head["teacher"]]["role"] == "teacher" and models[head["rd_student"]]["role"] == "rd_student"
    assert set(metrics["targets"]) == {"rd_over_student", "rd_over_teacher", "params_ratio", "speedup"}
    assert {m["loss"] for m in models.values() if m["role"] == "two_tower"} == {
        "sampled_softmax",
        "pair_ce",
        "triplet",
        "in_batch_softmax",
    }
    report = (out / "report.md").read_text()
    assert "Ablation" in report and "FPS pre-training" in report
    # the student-size table: d=4 (both models trained here) and the headline d=8 (not trained twice)
    sizes = metrics["student_sizes"]
    assert [row["d"] for row in sizes] == [4, 8] and [row["headline"] for row in sizes] == [False, True]
    assert {m["role"] for m in models.values() if m.get("d") == 4} == {"size_student", "size_rd"}
    assert "Student size" in report
    # the RD student against the student alone, user by user
    test = metrics["rd_vs_student_test"]
    assert test["rd_student"] == head["rd_student"] and test["student"] == head["student"]
    assert 0 < test["p_value"] <= 1 and test["significant"] == (test["p_value"] < 0.05)
    assert test["users_better"] + test["users_worse"] <= test["users"]
    delta = models[head["rd_student"]]["metrics"]["nDCG@10"] - models[head["student"]]["metrics"]["nDCG@10"]
    assert test["delta_nDCG@10"] == pytest.approx(delta, abs=1e-5)
    assert all(0 < row["rd_vs_student_p"] <= 1 for row in sizes)
    assert "paired randomisation test p =" in report
    # the L2 weight: chosen on validation for the teacher and the student; RD students take the student's
    search = metrics["weight_decay_search"]
    for role, name in (("teacher", head["teacher"]), ("student", head["student"])):
        rows = [r for r in search if r["role"] == role]
        assert [r["weight_decay"] for r in rows] == [1e-6, 1e-2]
        assert models[name]["weight_decay"] == max(rows, key=lambda r: r["valid_nDCG@10"])["weight_decay"]
    chosen = models[head["student"]]["weight_decay"]
    assert {m["weight_decay"] for m in models.values() if m["role"].startswith(("rd_", "size_"))} == {chosen}
    assert "L2 weight on validation" in report


def test_a_teacher_of_several_casers(synthetic_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "ens"
    args = ["recsys", "distill", "--data", str(synthetic_file), "--output", str(out), "--threads", "1"]
    args += ["--teacher-dim", "16", "--student-dim", "8", "--epochs-scale", "0.05", "--alphas", "1.0"]
    args += ["--weightings", "hybrid", "--no-two-tower", "--teacher-members", "3", "--weight-decays", "1e-6"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    models = metrics["models"]
    teacher, member = models["caser-teacher-d16-x3"], models["caser-teacher-d16"]
    assert metrics["headline"]["teacher"] == "caser-teacher-d16-x3"
    assert teacher["role"] == "teacher" and member["role"] == "teacher_member"
    assert teacher["members"] == 3 and len(teacher["members_valid_nDCG@10"]) == 3
    assert teacher["members_valid_nDCG@10"][0] == member["training"]["valid_nDCG@10"]
    assert teacher["cost"]["params"] == 3 * member["cost"]["params"]  # the ensemble's cost is counted
    params_ratio = models[metrics["headline"]["rd_student"]]["cost"]["params"] / teacher["cost"]["params"]
    assert metrics["targets"]["params_ratio"]["value"] == pytest.approx(params_ratio, abs=1e-4)
    assert "mean score of 3 Casers" in (out / "report.md").read_text()
    # the models are kept in OUTPUT/cache: the same command again trains nothing and repeats the figures
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    said = " ".join(again.output.split())
    assert "5 trained models reused from" in said and "(0 trained now)" in said
    assert "report of an earlier run" not in said  # the same settings: nothing to say
    rerun = json.loads((out / "metrics.json").read_text())
    assert {n: m["metrics"] for n, m in rerun["models"].items()} == {
        n: m["metrics"] for n, m in models.items()
    }
    assert rerun["cache"]["models_reused"] == 5 and metrics["cache"]["models_trained"] == 5


def test_columns_name_the_columns_of_a_check_in_file(synthetic_file: Path, tmp_path: Path) -> None:
    """A Gowalla-style check-in file (user, ISO time, lat, lon, location; no header) trains with --columns."""
    df = pd.read_csv(synthetic_file, sep="\t")
    path = tmp_path / "loc-gowalla_totalCheckins.txt"
    times = pd.to_datetime(df["timestamp"] + 1.2e9, unit="s").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [
        f"{u}\t{t}\t30.2359091167\t-97.7951395833\t{i}\n"
        for u, t, i in zip(df["user"], times, df["item"], strict=True)
    ]
    path.write_text("".join(lines))
    out = tmp_path / "rd"
    args = [
        "recsys",
        "distill",
        "--data",
        str(path),
        "--output",
        str(out),
        "--threads",
        "1",
        "--no-two-tower",
    ]
    args += ["--teacher-dim", "8", "--student-dim", "4", "--epochs-scale", "0.02", "--alphas", "1.0"]
    args += ["--weightings", "inverse", "--weight-decays", "1e-4"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "--columns" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, [*args, "--columns", "user,timestamp,,,item"])
    assert result.exit_code == 0, result.output
    assert "Interactions(" + str(len(df)) + " rows, 40 users, 30 items)" in result.output
    result = runner.invoke(app, [*args, "--columns", "user,when,,,item"])
    assert (
        result.exit_code == 2
        and "--columns: 'when' is not one of user, item, rating, timestamp" in result.output
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--student-dim", "200"], "must not exceed"),
        (["--teacher-dim", "0"], "teacher_d and student_d must be at least 1, got 0, 10"),
        (["--weightings", "linear"], "unknown weighting"),
        (["--alphas", "one"], "--alphas must be numbers"),
        (["--weight-decays", "1e-4,small"], "--weight-decays must be numbers"),
        (["--weight-decays", "-1"], "weight_decays must be a non-empty list"),
        (["--student-sizes", "4,x"], "--student-sizes must be integers"),
        (["--student-sizes", "500"], "student_sizes must be between"),
        (["--teacher-members", "0"], "teacher_members must be at least 1"),
        (["--test-fraction", "1.5"], "--test-fraction and --valid-fraction must be in (0, 1)"),
        (["--valid-fraction", "0"], "every evaluated user holds out at least one item for each"),
        (["--top-k", "0"], "--top-k must be >= 1 (got 0)"),
        (["--sampled-metrics", "0"], "--sampled-metrics must be >= 1 (got 0)"),
        (["--threads", "0"], "--threads must be >= 1 (got 0)"),
        (["--epochs-scale", "-1"], "--epochs-scale must be > 0 (got -1)"),
    ],
)
def test_bad_options_are_one_line_errors(
    synthetic_file: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    result = runner.invoke(
        app, ["recsys", "distill", "--data", str(synthetic_file), "-o", str(tmp_path), *extra]
    )
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_non_interaction_dataset_is_an_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["recsys", "distill", "--data", str(tmp_path / "missing.tsv"), "-o", str(tmp_path)]
    )
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "user,item,rating,when\n1,a,3,2020-01-01\n1,b,3,2020-01-02\n",
            "r.csv: no timestamps (columns: user, item, rating, when): the per-user temporal split needs "
            "a timestamp column (one of: timestamp, ts, time, unixReviewTime, date; or name it with "
            "--columns)",
        ),
        (
            "1\t10\n1\t11\n",
            "r.csv: no timestamps (columns: user, item): the per-user temporal split needs a timestamp",
        ),
        (
            "user,item,timestamp\n1,a,1\n1,b,2\n2,a,3\n2,a,4\n2,c,5\n",
            "r.csv: no user has enough interactions for validation and test items (a user needs 3 "
            "different items; the most any user has is 2)",
        ),
        (
            "user,item,timestamp\n" + "".join(f"{u},{i},{i}\n" for u in range(3) for i in range(4)),
            "r.csv: the catalogue has 4 items, fewer than the teacher's top-K ranking (--top-k 10)",
        ),
        (
            "user,item,timestamp\n1,a,1\n1,b,\n1,c,3\n",
            "r.csv: 1 of 3 interactions have no timestamp (the first: user '1', item 'b'): the per-user "
            "temporal split cannot place them",
        ),
    ],
    ids=[
        "no-timestamp-column",
        "headerless-user-item",
        "every-user-too-short",
        "catalogue-smaller-than-top-k",
        "some-rows-without-timestamp",
    ],
)
def test_unusable_interaction_files_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text(text)
    result = runner.invoke(app, ["recsys", "distill", "--data", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output


def test_sampled_metrics_beyond_the_catalogue_and_an_output_file_are_refused_before_training(
    synthetic_file: Path, tmp_path: Path
) -> None:
    args = ["recsys", "distill", "--data", str(synthetic_file), "--threads", "1"]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "out"), "--sampled-metrics", "100000"])
    assert result.exit_code == 2 and "--sampled-metrics 100000 is not below the catalogue's" in result.output
    (tmp_path / "afile").write_text("x")
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "afile")])
    assert result.exit_code == 2 and "is a file; give a folder to write into" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out" / "cache").exists()


def test_the_report_says_which_users_and_items_the_split_leaves_out(
    synthetic_file: Path, tmp_path: Path
) -> None:
    """Users with one or two interactions are training-only and test items unseen in training are cold:
    the report says so next to the user count, instead of '40 users ... at least one each'."""
    df = pd.read_csv(synthetic_file, sep="\t")[["user", "item", "timestamp"]]
    short = pd.DataFrame(
        {"user": ["s1", "s2", "s2"], "item": ["i1", "i1", "i2"], "timestamp": [1.0, 1.0, 2.0]}
    )
    cold = pd.DataFrame({"user": ["u0"], "item": ["brand-new"], "timestamp": [1e9]})  # u0's last item
    path = tmp_path / "short.csv"
    pd.concat([df, short, cold]).to_csv(path, index=False)
    out = tmp_path / "rd"
    args = ["recsys", "distill", "--data", str(path), "--output", str(out), "--threads", "1", "--quick"]
    args += ["--teacher-dim", "8", "--student-dim", "4", "--epochs-scale", "0.02", "--no-two-tower"]
    args += ["--weightings", "hybrid", "--leave-one-out"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "metrics.json").read_text())["data"]
    assert (data["users"], data["test_users"], data["train_only_users"], data["cold_test"]) == (42, 40, 2, 1)
    report = " ".join((out / "report.md").read_text().split())
    assert "2 user(s) with fewer than 3 different items are kept for training only" in report
    assert "metrics are over 40 test users" in report
    assert "1 test interactions (2.5%) are of items that no training sequence has" in report


def test_min_rating_keeps_the_interactions_rated_that_high(tmp_path: Path) -> None:
    from distillrank.errors import DataFormatError
    from distillrank.recsys.pipeline import load_interactions

    path = tmp_path / "r.csv"
    path.write_text("user,item,rating,timestamp\n1,a,5,1\n1,b,2,2\n1,c,4,3\n2,a,1,4\n")
    kept = load_interactions(str(path), min_rating=4)
    assert kept.df["item"].tolist() == ["a", "c"] and "(rating >= 4: 2 of 4)" in (kept.source or "")
    with pytest.raises(
        Exception, match=r"--min-rating 6: no interaction is rated that high \(ratings 1\.\.5\)"
    ):
        load_interactions(str(path), min_rating=6)
    implicit = tmp_path / "i.csv"
    implicit.write_text("user,item,timestamp\n1,a,1\n1,b,2\n")
    with pytest.raises(DataFormatError, match="--min-rating 4: the table has no ratings"):
        load_interactions(str(implicit), min_rating=4)


def test_an_earlier_report_of_other_settings_or_data_is_pointed_out(tmp_path: Path) -> None:
    from dataclasses import asdict

    from distillrank.cli.recsys import _earlier_report
    from distillrank.recsys.config import JobConfig

    config = JobConfig(quick=True)
    assert _earlier_report(tmp_path, config, "a.tsv") is None  # no report yet
    saved = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config.effective()).items()}
    write = (tmp_path / "metrics.json").write_text
    write(json.dumps({"models": {}, "config": saved, "data": {"source": "a.tsv"}}))
    assert _earlier_report(tmp_path, config, "a.tsv") is None
    assert (
        _earlier_report(tmp_path, JobConfig(quick=True, threads=3), "a.tsv") is None
    )  # threads: same results
    assert _earlier_report(tmp_path, config, "b.tsv") == "other data (a.tsv)"
    assert (
        _earlier_report(tmp_path, JobConfig(quick=True, student_d=7, K=5), "a.tsv")
        == "other settings (student_d, K)"
    )
    assert _earlier_report(tmp_path, JobConfig(), "a.tsv") is not None  # a full run after a quick one
    write(
        json.dumps({"models": {}, "config": saved, "data": {"source": str(tmp_path / "x" / ".." / "a.tsv")}})
    )
    assert _earlier_report(tmp_path, config, str(tmp_path / "a.tsv")) is None  # one file, two spellings
    write(json.dumps({"models": {}, "config": saved, "data": ["a.tsv"]}))  # odd but ours: no crash
    assert _earlier_report(tmp_path, config, "a.tsv") is None
    write(json.dumps({"models": {}, "config": {"seed": 42, "quick": False}}))  # the main job's report
    assert _earlier_report(tmp_path, config, "a.tsv") == "another command (its report is not a recsys one)"
    write("not json")
    assert _earlier_report(tmp_path, config, "a.tsv") is None
