"""JobConfig (``distillrank run --config``): every mistake is a one-line error naming the file, the
setting and what is allowed, raised before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillrank.cli.main import app
from distillrank.config import ConfigError
from distillrank.pipeline.config import JobConfig

BAD: list[tuple[str, str]] = [
    ("studnets: {}\n", "studnets: unknown setting (did you mean 'students'? valid settings: "),
    (
        "students: {famlies: [lgbm]}\n",
        "students.famlies: unknown setting (did you mean 'families'? valid settings: align_epochs, ",
    ),
    ("students: {temperatures: 2}\n", "students.temperatures: must be a list (got 2)"),
    ("students: [lgbm]\n", "students: must be a mapping (got ['lgbm'])"),
    (
        "students: {temperatures: [1, .nan]}\n",
        "students.temperatures: must be a non-empty list of finite numbers > 0 (got [1.0, nan])",
    ),
    ("students: {temperatures: [1, .inf]}\n", "students.temperatures: must be a non-empty list of finite"),
    ("students: {joint_temperature: 0}\n", "students.joint_temperature: must be a finite number > 0"),
    ("students: {teacher_scale: x}\n", "students.teacher_scale: must be a number or 'auto' (got 'x')"),
    (
        "candidates: {k: 10, depth: 50}\n",
        "candidates.depth: must be <= k (10), the candidates BM25 retrieves (got 50)",
    ),
    ("teacher: {loss: softmaxx}\n", "teacher.loss: must be a loss trained on labels, one of bce, "),
    ("teacher: {loss: soft_label}\n", "teacher.loss: must be a loss trained on labels"),
    ("teacher: {skip: [100, 3]}\n", "teacher.skip: must be [start, stop] BM25 ranks with 0 <= start < stop"),
    ("evaluation: {measures: [nDCG@10, ndgc@5]}\n", "evaluation.measures: unknown metric 'ndgc@5'"),
    ("evaluation: {measures: [RR@10]}\n", "evaluation.measures: must include nDCG@10"),
    ("evaluation: {measures: []}\n", "evaluation.measures: no metric given"),
    ("students: {temperatures: []}\n", "students.temperatures: must be a non-empty list of finite numbers"),
    (
        "students: {families: []}\n",
        "students.families: must name at least one, from lgbm, lgbm_dense, lgbm_static, bi_encoder, "
        "bi_encoder_shallow, dssm (leave the key out for all of them)",
    ),
    (
        "students: {targets: []}\n",
        "students.targets: must name at least one, from qrels, hard, soft, joint, margin_mse, rd (leave the "
        "key out for all of them)",
    ),
    (
        "students: {families: [lgbm, dssm, lgbm], targets: [qrels, soft]}\n",
        "students.families: names lgbm more than once (each trains once)",
    ),
    ("students: {targets: [soft, rd, soft, rd]}\n", "students.targets: names rd, soft more than once"),
    (
        "query_field: description\n",
        "query_field: must be title, desc or narr, or several joined with '+' such as title+desc "
        "(got 'description')",
    ),
    (
        "students:\n  families: [lgbm\nteacher: {epochs: 1}\n",
        "cannot parse YAML: line 3, column 8: expected ',' or ']', but got ':' (while parsing a flow "
        "sequence started at line 2, column 13)",
    ),
    (
        "students: {families: [lgbm]}\nteacher: {epochs: 1}\nstudents: {targets: [soft]}\n",
        "cannot parse YAML: line 3, column 1: key 'students' given twice (first at line 1, column 1)",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_bad_settings_are_one_line_naming_file_and_setting(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        JobConfig.from_file(path)
    assert str(info.value).startswith(f"{path}: {message}")
    assert "\n" not in str(info.value)


def test_measures_are_spelled_as_ir_measures_does() -> None:
    # the job looks each measure up by its ir_measures name: 'ndcg@10' would be a KeyError at the end
    cfg = JobConfig.from_dict({"evaluation": {"measures": ["ndcg@10", "mrr@10", "recall_100"]}})
    assert cfg.evaluation.measures == ["nDCG@10", "RR@10", "R@100"]


def test_query_field_is_spelled_as_the_topics_reader_takes_it() -> None:
    assert JobConfig().query_field == "title"
    assert JobConfig.from_dict({"query_field": "Title + Desc"}).query_field == "title+desc"


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("job.json", '{"dataset": "nosuch", "candidates": {"k": 10, "depth": 50}}'),
        ("job.toml", 'dataset = "nosuch"\n[candidates]\nk = 10\ndepth = 50\n'),
        ("job.yaml", "run:\n  dataset: nosuch\n  candidates: {k: 10, depth: 50}\n"),
    ],
)
def test_cli_run_refuses_a_bad_config_before_any_work(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    res = CliRunner().invoke(app, ["run", "--config", str(path), "--output", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert f"{name}: candidates.depth: must be <= k (10)" in " ".join(res.output.split())
    assert not (tmp_path / "o").exists()


def test_cli_run_refuses_empty_students_before_any_work(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("dataset: nosuch\nstudents: {families: [lgbm], targets: []}\n")
    res = CliRunner().invoke(app, ["run", "--config", str(path), "--output", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "job.yaml: students.targets: must name at least one" in " ".join(res.output.split())
    assert not (tmp_path / "o").exists()


def test_distilled_targets_without_qrels_are_allowed() -> None:
    cfg = JobConfig.from_dict({"students": {"families": ["lgbm"], "targets": ["soft", "rd"]}})
    assert cfg.students.targets == ["soft", "rd"]


def test_quick_names_the_chosen_settings_it_replaces(tmp_path: Path) -> None:
    """``--quick`` wins over the config file (its values are the quick protocol), but not silently: each
    setting chosen in the file that it replaces is named with both values; defaults are not listed."""
    path = tmp_path / "job.yaml"
    path.write_text(
        "max_test_queries: 300\nseed: 7\ncandidates: {depth: 10}\n"
        "students: {temperatures: [1.0, 2.0, 4.0], lgbm_rounds: 50}\n"
    )
    cfg = JobConfig.from_file(path)
    assert cfg.quick_overrides() == [
        "max_test_queries: 300 -> 60",
        "students.temperatures: [1.0, 2.0, 4.0] -> [1.0, 2.0]",
    ]
    assert JobConfig().quick_overrides() == []
    assert cfg.with_quick().quick_overrides() == []  # applied once: nothing left to replace


def test_the_optional_families_are_named_not_default() -> None:
    from distillrank.pipeline.config import FAMILIES, OPTIONAL_FAMILIES

    assert JobConfig().students.families == list(FAMILIES)
    assert not set(OPTIONAL_FAMILIES) & set(FAMILIES)
    cfg = JobConfig.from_dict({"students": {"families": ["lgbm", "colbert", "splade"], "splade_flops": 0}})
    assert cfg.students.families == ["lgbm", "colbert", "splade"]
    with pytest.raises(ConfigError, match=r"students\.families"):
        JobConfig.from_dict({"students": {"families": ["colbertv2"]}})
    with pytest.raises(ConfigError, match="colbert_dim"):
        JobConfig.from_dict({"students": {"colbert_dim": 0}})
