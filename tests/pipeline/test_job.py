"""The main job end to end on a small synthetic collection with tiny models built in code."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from distillrank.cli.main import app
from distillrank.data import Corpus, Qrels, Queries, TextCollection
from distillrank.data.formats.beir import write_beir
from distillrank.data.run import Run
from distillrank.errors import DistillrankError
from distillrank.pipeline.config import JobConfig
from distillrank.pipeline.job import run_job
from distillrank.pipeline.plan import _plan

TOPICS = [
    "protein folding",
    "solar panels",
    "river floods",
    "vaccine trials",
    "neural networks",
    "coffee beans",
]
WORDS = [
    "study",
    "results",
    "method",
    "data",
    "effect",
    "model",
    "analysis",
    "sample",
    "group",
    "level",
    "rate",
    "test",
]


def _collection(with_train: bool = True) -> TextCollection:
    rng = random.Random(0)
    docnos, titles, texts = [], [], []
    for i in range(48):
        topic = TOPICS[i % len(TOPICS)]
        docnos.append(f"d{i}")
        titles.append(f"{topic} report {i}")
        texts.append(f"{topic} " + " ".join(rng.choice(WORDS) for _ in range(12)) + f" {topic.split()[0]}")
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, dict[str, int]]] = {"train": {}, "test": {}}
    for j in range(30):
        topic = TOPICS[j % len(TOPICS)]
        qid = f"q{j}"
        queries[qid] = f"what about {topic} {rng.choice(WORDS)}"
        split = "test" if (j >= 18 or not with_train) else "train"
        rel = [d for d, t in zip(docnos, titles, strict=True) if t.startswith(topic)]
        qrels[split][qid] = {d: (2 if k == 0 else 1) for k, d in enumerate(rng.sample(rel, 3))}
    qrels = {s: q for s, q in qrels.items() if q}
    return TextCollection(
        "synthetic",
        Corpus(docnos, titles, texts),
        Queries(queries),
        {s: Qrels(q) for s, q in qrels.items()},
    )


def _settings(tiny_bert_dir: Path, folder: Path) -> dict[str, Any]:
    return {
        "dataset": str(folder),
        "seed": 3,
        "validation_fraction": 0.2,
        "folds": 3,
        "threads": 1,
        "candidates": {"k": 20, "depth": 8},
        "teacher": {"model": str(tiny_bert_dir), "max_length": 32, "max_steps": 3, "evaluations": 1},
        "dense": {"model": str(tiny_bert_dir), "doc_max_length": 32, "query_max_length": 16},
        "students": {
            "temperatures": [1.0, 2.0],
            "shallow_layers": 1,
            "align_epochs": 1,
            "neural_epochs": 1,
            "dssm_epochs": 1,
            "lgbm_rounds": 5,
            "static_sentences": 50,
            "static_epochs": 1,
        },
        "evaluation": {"latency_queries": 2},
    }


REQUIRED_COST = ("params", "docs_per_s", "latency_p50_ms", "latency_p99_ms")


def _check_metrics(metrics: dict[str, Any]) -> None:
    models = metrics["models"]
    assert {"teacher", "bm25"} <= set(models)
    roles = {m["role"] for m in models.values()}
    assert {"teacher", "baseline", "student"} <= roles
    for name, m in models.items():
        assert set(m["metrics"]) == {"nDCG@10", "RR@10", "R@100"}, name
        assert all(0.0 <= v <= 1.0 for v in m["metrics"].values()), name
        for key in REQUIRED_COST:
            assert key in m["cost"], (name, key)
        assert m["cost"]["latency_p99_ms"] >= m["cost"]["latency_p50_ms"] > 0
    families = {m["family"] for m in models.values() if m["role"] == "student"}
    assert families == {"lgbm", "lgbm_dense", "lgbm_static", "bi_encoder", "bi_encoder_shallow", "dssm"}
    targets = {m["targets"] for m in models.values() if m["role"] == "student"}
    assert targets == {"qrels", "hard", "soft", "joint", "margin_mse", "rd"}
    assert "lgbm/soft-T2" in models and "dssm/joint" in models


@pytest.fixture(scope="module")
def first_run(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("job")
    write_beir(_collection(), root / "data")
    cfg = JobConfig.from_dict(_settings(tiny_bert_dir, root / "data"))
    logs: list[str] = []
    result = run_job(cfg, root / "out", log=logs.append)
    return {"root": root, "cfg": cfg, "result": result, "logs": logs}


def test_job_writes_the_report_and_every_model(first_run: dict[str, Any]) -> None:
    out = first_run["root"] / "out"
    for name in (
        "report.md",
        "report.html",
        "metrics.json",
        "frontier.png",
        "targets.png",
        "temperature.png",
    ):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    _check_metrics(metrics)
    assert metrics["data"]["train_split"] is True
    assert metrics["teacher"]["fine_tuned_here"] is True
    assert (out / "teacher" / "cross-encoder").is_dir()
    assert (out / "teacher" / "ranker").is_dir()  # the feature ranker, a fusion signal
    assert any("labels the training queries in sample" in line for line in first_run["logs"])  # default
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "lgbm/qrels" in html
    for family in ("bi_encoder", "bi_encoder_shallow", "dssm"):  # the teacher brought to their scale
        scale = metrics["models"][f"{family}/margin_mse"]["training"]["teacher_scale"]
        assert scale > 0 and scale != 1.0
        # measured once per family and fold, and not for the qrels-only twin (it uses no teacher scores)
        scales = {
            n: m["training"]["teacher_scale"]
            for n, m in metrics["models"].items()
            if n.startswith(f"{family}/")
        }
        assert scales.pop(f"{family}/qrels") is None
        assert set(scales.values()) == {scale}
    assert "`students.teacher_scale`): bi_encoder " in (out / "report.md").read_text()


def test_every_distilled_student_is_tested_against_its_twin(first_run: dict[str, Any]) -> None:
    out = first_run["root"] / "out"
    metrics = json.loads((out / "metrics.json").read_text())
    checks = metrics["checks"]
    entries = [v for fam in checks["distilled_vs_qrels_only"].values() for v in fam.values()]
    assert entries
    for v in entries:
        assert 0 < v["p_value"] <= 1
        assert v["significant"] == (v["p_value"] < 0.05)
        assert v["queries_better"] >= 0 and v["queries_worse"] >= 0
        if v["delta_vs_qrels"] > 0:  # a better mean needs a query where the student is better
            assert v["queries_better"] > 0
    summary = checks["distilled_vs_qrels_only_summary"]
    assert summary["distilled_students"] == len(entries)
    assert summary["beat_their_twin"] == sum(v["beats_qrels"] for v in entries)
    parts = ("significantly_better", "significantly_worse", "no_significant_difference")
    assert sum(summary[k] for k in parts) == len(entries)
    assert "paired randomisation test" in (out / "report.md").read_text()
    teacher = metrics["models"]["teacher"]["metrics"]["nDCG@10"]
    headroom = checks["distillation_headroom"]
    assert set(headroom) == set(checks["distilled_vs_qrels_only"])
    for fam, v in headroom.items():
        assert v == pytest.approx(teacher - metrics["models"][f"{fam}/qrels"]["metrics"]["nDCG@10"], abs=1e-4)
    assert "minus each family's qrels-only twin's" in (out / "report.md").read_text()


def test_paired_test_of_a_student_against_its_twin(tmp_path: Path) -> None:
    from distillrank.data.run import Run
    from distillrank.pipeline.summary import _against_twin

    qrels = Qrels({f"q{i}": {"good": 1} for i in range(40)})
    good = Run({f"q{i}": {"good": 2.0, "bad": 1.0} for i in range(40)}, name="good")
    bad = Run({f"q{i}": {"good": 1.0, "bad": 2.0} for i in range(40)}, name="bad")
    good.save(tmp_path / "good.trec")
    bad.save(tmp_path / "bad.trec")
    student = {"metrics": {"nDCG@10": 1.0}, "run": "good.trec"}
    twin = {"metrics": {"nDCG@10": 0.63}, "run": "bad.trec"}
    entry = _against_twin(student, twin, tmp_path, qrels)
    # every one of the 40 queries is better: only the all-positive sign vector and its mirror are as extreme
    assert entry["significant"] and entry["p_value"] < 0.001
    assert (entry["queries_better"], entry["queries_worse"]) == (40, 0)
    same = _against_twin(twin, twin, tmp_path, qrels)
    assert same["p_value"] == 1.0 and not same["significant"] and not same["beats_qrels"]
    assert "p_value" not in _against_twin(student, twin, None, None)  # no runs on disk: no test


def test_teacher_scale_setting_is_validated() -> None:
    assert JobConfig.from_dict({"students": {"teacher_scale": 2.5}}).students.teacher_scale == 2.5
    for bad in (0, -1.0, "big"):
        with pytest.raises(ValueError, match="teacher_scale"):
            JobConfig.from_dict({"students": {"teacher_scale": bad}})


def test_rerun_reuses_every_stage(first_run: dict[str, Any]) -> None:
    logs: list[str] = []
    again = run_job(first_run["cfg"], first_run["root"] / "out", log=logs.append)
    before = first_run["result"].metrics["models"]
    after = again.metrics["models"]
    students = [n for n, m in before.items() if m["role"] == "student"]
    assert all(after[n]["metrics"] == before[n]["metrics"] for n in students)
    assert sum(": cached (test nDCG@10" in line for line in logs) == len(students)
    assert any("teacher: reusing" in line for line in logs)
    assert again.metrics["teacher"]["scored_pairs_this_run"] == 0
    assert after["teacher"]["metrics"] == before["teacher"]["metrics"]
    # the first run's stage timings survive the re-run, whose own timings are those of the cache
    first = first_run["result"].metrics
    assert first["first_run_timings"] == first["timings"]
    assert again.metrics["first_run_timings"] == first["timings"]
    assert again.metrics["timings"] != first["timings"]


def test_a_damaged_student_record_is_trained_again_with_a_warning(
    first_run: dict[str, Any], tmp_path: Path
) -> None:
    """A student's cached record cut short outside the job (a disk, a hand): a warning naming the file,
    and that student trained again to the same figures, not a JSONDecodeError traceback."""
    import shutil

    from distillrank.errors import DataWarning

    out = tmp_path / "out"
    shutil.copytree(first_run["root"] / "out", out)
    record = out / "students" / "lgbm" / "hard.json"
    record.write_text(record.read_text()[:300])
    logs: list[str] = []
    with pytest.warns(DataWarning, match=r"hard\.json: cannot be read \(.*\); computing it again"):
        again = run_job(first_run["cfg"], out, log=logs.append)
    assert any(line.strip().startswith("lgbm/hard: validation nDCG@10") for line in logs)  # trained
    before = first_run["result"].metrics["models"]["lgbm/hard"]["metrics"]
    assert again.metrics["models"]["lgbm/hard"]["metrics"] == before


def test_a_stopped_first_run_adds_its_time_to_the_first_run_timings(
    first_run: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first run stopped in the students' stage and resumed: the first-run timings are the time of
    reaching the first report, both runs added stage by stage, not the resumed run's cached stages."""
    import shutil

    from distillrank.pipeline import job as job_module

    out = tmp_path / "out"
    shutil.copytree(first_run["root"] / "out", out)
    for name in ("metrics.json", "report.md", "report.html"):  # a folder that has no report yet
        (out / name).unlink()

    def stop(self: Any) -> None:
        self.timings["students_lgbm_s"] = 7.0  # a family that finished before the Ctrl-C
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(job_module._Job, "students", stop)
        with pytest.raises(KeyboardInterrupt):
            run_job(first_run["cfg"], out, log=lambda _: None)
    ledger = json.loads((out / "cache" / job_module.UNFINISHED_FIRST_RUNS).read_text())
    assert ledger["unfinished_runs"] == 1 and ledger["students_lgbm_s"] == 7.0
    assert ledger["total_s"] >= sum(v for k, v in ledger.items() if k.endswith("_s") and k != "total_s") - 7.0

    again = run_job(first_run["cfg"], out, log=lambda _: None)
    first, this = again.metrics["first_run_timings"], again.metrics["timings"]
    assert first["unfinished_runs"] == 1
    assert first["total_s"] == pytest.approx(ledger["total_s"] + this["total_s"], abs=0.2)
    assert first["students_lgbm_s"] == pytest.approx(7.0 + this["students_lgbm_s"], abs=0.02)
    assert not (out / "cache" / job_module.UNFINISHED_FIRST_RUNS).exists()
    assert "the first run was stopped 1 time(s) and resumed" in (out / "report.md").read_text()
    # a finished folder stopped again keeps its first run's figures and writes no ledger
    with monkeypatch.context() as m:
        m.setattr(job_module._Job, "students", stop)
        with pytest.raises(KeyboardInterrupt):
            run_job(first_run["cfg"], out, log=lambda _: None)
    assert not (out / "cache" / job_module.UNFINISHED_FIRST_RUNS).exists()
    assert run_job(first_run["cfg"], out, log=lambda _: None).metrics["first_run_timings"] == first


def test_target_settings_retrain_only_their_students(first_run: dict[str, Any], tmp_path: Path) -> None:
    import shutil

    out = tmp_path / "out"
    shutil.copytree(first_run["root"] / "out", out)
    cfg = first_run["cfg"].model_copy(deep=True)
    assert (cfg.students.hard_mode, cfg.students.margin_anchor) == ("listwise", "teacher")  # defaults
    cfg.students.hard_mode = "pairwise"
    cfg.students.margin_anchor = "positive"
    logs: list[str] = []
    again = run_job(cfg, out, log=logs.append)
    retrained = {line.split(":")[0].strip() for line in logs if ": validation nDCG@10" in line}
    families = ("lgbm", "lgbm_dense", "lgbm_static", "bi_encoder", "bi_encoder_shallow", "dssm")
    assert retrained == {"bi_encoder/hard", "bi_encoder_shallow/hard", "dssm/hard"} | {
        f"{f}/margin_mse" for f in families
    }
    loss = again.metrics["models"]["dssm/hard"]["training"]["loss_kwargs"]
    assert loss == {"top_k": 1, "mode": "pairwise"}


def test_changing_which_targets_to_train_retrains_no_finished_student(
    first_run: dict[str, Any], tmp_path: Path
) -> None:
    """``targets`` and ``temperatures`` choose which students to train, not how: a re-run with fewer (or
    more) of them reuses every student already trained and trains only the new ones."""
    out = tmp_path / "out"
    shutil.copytree(first_run["root"] / "out", out)
    cfg = first_run["cfg"].model_copy(deep=True)
    cfg.students.families = ["lgbm", "dssm"]
    cfg.students.targets = ["qrels", "soft", "rd"]
    cfg.students.temperatures = [2.0, 4.0]
    logs: list[str] = []
    again = run_job(cfg, out, log=logs.append)
    retrained = {line.split(":")[0].strip() for line in logs if ": validation nDCG@10" in line}
    assert retrained == {"lgbm/soft-T4", "dssm/soft-T4"}
    assert sum(": cached (test nDCG@10" in line for line in logs) == 6
    before = first_run["result"].metrics["models"]
    assert again.metrics["models"]["dssm/rd"]["metrics"] == before["dssm/rd"]["metrics"]


def test_naming_the_default_test_split_retrains_no_student(first_run: dict[str, Any], tmp_path: Path) -> None:
    """``--test-split test`` where ``test`` is the split evaluated on anyway changes nothing to train."""
    out = tmp_path / "out"
    shutil.copytree(first_run["root"] / "out", out)
    cfg = first_run["cfg"].model_copy(update={"test_split": "test"})
    cfg.students.families = ["lgbm", "dssm"]
    logs: list[str] = []
    run_job(cfg, out, log=logs.append)
    assert not [line for line in logs if ": validation nDCG@10" in line]


def test_collection_without_train_split_uses_kfold_and_a_saved_teacher(
    first_run: dict[str, Any], tiny_bert_dir: Path, tmp_path: Path
) -> None:
    write_beir(_collection(with_train=False), tmp_path / "data")
    settings = _settings(tiny_bert_dir, tmp_path / "data")
    settings["students"]["families"] = ["lgbm", "dssm"]
    settings["students"]["targets"] = ["qrels", "soft"]
    cfg = JobConfig.from_dict(settings)
    result = run_job(
        cfg, tmp_path / "out", teacher_dir=first_run["root"] / "out" / "teacher", log=lambda _: None
    )
    m = result.metrics
    assert m["data"]["train_split"] is False and m["data"]["folds"] == 3
    assert m["data"]["test_queries"] == 30
    assert m["teacher"]["fine_tuned_here"] is False
    run_file = tmp_path / "out" / m["models"]["lgbm/qrels"]["run"]
    ranked_queries = {line.split()[0] for line in run_file.read_text().splitlines()}
    assert len(ranked_queries) == 30  # every query ranked once, by the fold that did not train on it


def test_kfold_plan_never_trains_on_a_test_query(tmp_path: Path) -> None:
    cfg = JobConfig(folds=4, validation_fraction=0.25)
    folds, qrels, has_train, split = _plan(_collection(with_train=False), cfg)
    assert not has_train and len(folds) == 4 and split == "test"
    seen: list[str] = []
    for f in folds:
        assert not set(f.test) & (set(f.fit) | set(f.val))
        assert not set(f.fit) & set(f.val)
        seen += f.test
    assert sorted(seen) == sorted(qrels)


def test_split_plan_holds_out_validation_from_train() -> None:
    folds, _, has_train, _ = _plan(_collection(), JobConfig(validation_fraction=0.25))
    (fold,) = folds
    assert has_train
    assert len(fold.val) == 4 and len(fold.fit) == 14 and len(fold.test) == 12
    assert not set(fold.val) & set(fold.fit)


def test_cli_run_reads_a_config_file(first_run: dict[str, Any], tiny_bert_dir: Path, tmp_path: Path) -> None:
    settings = _settings(tiny_bert_dir, first_run["root"] / "data")
    settings["students"]["families"] = ["lgbm"]
    settings["students"]["targets"] = ["qrels", "hard"]
    (tmp_path / "job.yaml").write_text(yaml.safe_dump({"run": settings}))
    res = CliRunner().invoke(
        app, ["run", "--config", str(tmp_path / "job.yaml"), "--output", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.output
    assert "best student lgbm/" in res.output
    assert (
        json.loads((tmp_path / "o" / "metrics.json").read_text())["models"]["lgbm/hard"]["role"] == "student"
    )


def test_bad_config_names_the_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("teacher:\n  max_length: 2\nstudents:\n  families: [xgb]\n")
    res = CliRunner().invoke(
        app, ["run", "--config", str(tmp_path / "bad.yaml"), "--output", str(tmp_path / "o")]
    )
    assert res.exit_code == 2
    assert "bad.yaml: teacher.max_length: must be >= 8 (got 2)" in res.output
    assert "students.families.0" in res.output


def test_transfer_queries_train_the_distilled_students_only(
    first_run: dict[str, Any], tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distillrank.pipeline.job import _Job

    data = first_run["root"] / "data"
    log_file = tmp_path / "log.tsv"
    own = next(iter(_collection().queries.values()))  # a collection query's text: must be dropped
    log_file.write_text(f"u1\tsolar panels results method\nu2\t{own}\nu3\triver floods effect rate\n")
    settings = _settings(tiny_bert_dir, data)
    settings["students"]["families"] = ["lgbm", "dssm"]
    settings["students"]["targets"] = ["qrels", "soft", "rd"]
    settings["transfer"] = {"queries": str(log_file), "pseudo_queries": 4}
    seen: dict[str, list[str]] = {}
    original = _Job._fold_lgbm

    def spy(self: Any, fold: Any, spec: Any, features: str = "lexical") -> Any:
        seen[spec.name] = list(fold.fit)
        return original(self, fold, spec, features)

    monkeypatch.setattr(_Job, "_fold_lgbm", spy)
    logs: list[str] = []
    teacher = first_run["root"] / "out" / "teacher"
    result = run_job(JobConfig.from_dict(settings), tmp_path / "out", teacher_dir=teacher, log=logs.append)
    assert any("dropped 1 of 3 queries" in line for line in logs)
    n = result.metrics["data"]["transfer_queries"]
    assert n == 6  # u1, u3 and 4 pseudo-queries
    extra = set(seen["soft-T1"]) - set(seen["qrels"])
    assert extra == set(seen["rd"]) - set(seen["qrels"])
    assert len(extra) == 6 and {"u1", "u3"} <= extra and "u2" not in extra
    assert sum(q.startswith("pseudo-") for q in extra) == 4
    assert not {q for q in seen["qrels"] if q.startswith("pseudo-") or q.startswith("u")}
    assert "unlabelled transfer queries" in (tmp_path / "out" / "report.md").read_text()

    # a re-run with another transfer set retrains the distilled students and reuses the qrels-only ones
    settings["transfer"] = {"pseudo_queries": 2}
    logs.clear()
    run_job(JobConfig.from_dict(settings), tmp_path / "out", teacher_dir=teacher, log=logs.append)
    cached = {line.split(":")[0].strip() for line in logs if ": cached (test nDCG@10" in line}
    assert cached == {"lgbm/qrels", "dssm/qrels"}

    # transfer ids must not be the collection's own query ids
    log_file.write_text("q0\tsolar panels\n")
    settings["transfer"] = {"queries": str(log_file)}
    with pytest.raises(DistillrankError, match="transfer query id 'q0' is also a query id of data"):
        run_job(JobConfig.from_dict(settings), tmp_path / "out2", teacher_dir=teacher, log=logs.append)


def test_cli_run_takes_transfer_queries(
    first_run: dict[str, Any], tiny_bert_dir: Path, tmp_path: Path
) -> None:
    settings = _settings(tiny_bert_dir, first_run["root"] / "data")
    settings["students"]["families"] = ["lgbm"]
    settings["students"]["targets"] = ["qrels", "soft"]
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(settings))
    (tmp_path / "log.tsv").write_text("u1\tsolar panels results\nu2\triver floods data\n")
    args = ["run", "--config", str(tmp_path / "job.yaml"), "--output", str(tmp_path / "o")]
    args += ["--teacher", str(first_run["root"] / "out" / "teacher")]
    res = CliRunner().invoke(
        app, [*args, "--transfer-queries", str(tmp_path / "log.tsv"), "--pseudo-queries", "3"]
    )
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["data"]["transfer_queries"] == 5
    assert metrics["config"]["transfer"] == {
        "queries": str(tmp_path / "log.tsv"),
        "pseudo_queries": 3,
        "depth": None,
    }


@pytest.mark.parametrize("labels", ["cross_fit", "in_sample"])
def test_ranker_labels_of_the_training_queries(
    first_run: dict[str, Any], tiny_bert_dir: Path, tmp_path: Path, labels: str
) -> None:
    from distillrank.pipeline.job import _Job
    from distillrank.pipeline.ranker import score_with

    settings = _settings(tiny_bert_dir, first_run["root"] / "data")
    settings["teacher"]["ranker_labels"] = labels
    logs: list[str] = []
    job = _Job(JobConfig.from_dict(settings), tmp_path / "out", None, logs.append)
    job.load()
    job.dense()
    job.teacher()
    fit = [q for q in job.folds[0].fit if q in job.signals["ranker"]]
    bm = {q: job.signals["bm25"][q] for q in fit}
    final = score_with(job.ranker, job._features("dense"), bm, job.queries)
    same = all(job.signals["ranker"][q] == pytest.approx(final[q]) for q in fit)
    assert same is (labels == "in_sample")
    assert any("labels the training queries in sample" in line for line in logs) is (labels == "in_sample")
    other = job.folds[0].val[0]  # validation queries are scored by the final model either way
    assert job.signals["ranker"][other] == pytest.approx(
        score_with(job.ranker, job._features("dense"), {other: job.signals["bm25"][other]}, job.queries)[
            other
        ]
    )


def test_ids_with_whitespace_are_refused_before_any_work(tmp_path: Path) -> None:
    """The job's runs are TREC files: an id with a space would break them after all the training."""
    coll = _collection()
    texts = dict(zip(coll.corpus.docnos, coll.corpus.texts, strict=True))
    texts["doc 1 é"] = texts.pop("d1")
    spaced = TextCollection(
        "spaced", Corpus(list(texts), [""] * len(texts), list(texts.values())), coll.queries, coll.qrels
    )
    write_beir(spaced, tmp_path / "spaced")
    with pytest.raises(DistillrankError) as err:
        run_job(JobConfig(dataset=str(tmp_path / "spaced")), tmp_path / "out", log=lambda m: None)
    assert str(err.value) == (
        f"{tmp_path / 'spaced' / 'corpus.jsonl'}: record 48: document id 'doc 1 é' is empty or holds "
        "whitespace (1 of the 48 document ids do), which the job's TREC run files cannot hold; give the "
        "collection ids without whitespace"
    )


def test_teacher_folder_is_checked_before_any_work(tmp_path: Path) -> None:
    """``--teacher`` given the run folder instead of its teacher/ folder: one line naming both, at once."""
    run_folder = tmp_path / "runs" / "scifact"
    (run_folder / "teacher" / "cross-encoder").mkdir(parents=True)
    (run_folder / "teacher" / "cross-encoder" / "config.json").write_text("{}")
    cfg = JobConfig(dataset=str(tmp_path / "not-loaded-yet"))
    with pytest.raises(DistillrankError) as err:
        run_job(cfg, tmp_path / "out", teacher_dir=run_folder, log=lambda m: None)
    assert str(err.value) == (
        f"{run_folder}: not a saved teacher (a run's teacher/ folder holding cross-encoder/, or a "
        f"cross-encoder model folder holding config.json); did you mean {run_folder / 'teacher'}?"
    )


def test_plan_says_the_test_split_has_no_judgements() -> None:
    coll = _collection()
    coll.qrels["test"] = Qrels({})  # e.g. qrels/test.tsv holding only its header line
    with pytest.raises(DistillrankError, match=r"^synthetic: split 'test' has no judgements$"):
        _plan(coll, JobConfig())


def _renamed_test_split(name: str) -> TextCollection:
    coll = _collection()
    coll.qrels[name] = coll.qrels.pop("test")
    return coll


def test_plan_evaluates_on_the_split_asked_for() -> None:
    """A folder with train and dev qrels but no test (MS MARCO style) runs with ``test_split="dev"``."""
    coll = _renamed_test_split("dev")
    with pytest.raises(
        DistillrankError,
        match=r"^synthetic: no test split to evaluate on \(splits: train, dev\); choose one with "
        r"--test-split \(e\.g\. --test-split dev\)$",
    ):
        _plan(coll, JobConfig())
    folds, _, has_train, split = _plan(coll, JobConfig(test_split="dev", validation_fraction=0.25))
    reference, _, _, _ = _plan(_collection(), JobConfig(validation_fraction=0.25))
    assert has_train and folds == reference and split == "dev"


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ("train", r"^synthetic: the train split cannot be the test split; pick another$"),
        ("dev", r"^synthetic: no split 'dev' \(splits: train, test\)$"),
    ],
)
def test_plan_refuses_a_test_split_it_cannot_use(split: str, message: str) -> None:
    with pytest.raises(DistillrankError, match=message):
        _plan(_collection(), JobConfig(test_split=split))


def test_cli_run_evaluates_on_the_test_split_asked_for(
    first_run: dict[str, Any], tiny_bert_dir: Path, tmp_path: Path
) -> None:
    """End to end on a BEIR folder whose held-out qrels are ``qrels/dev.tsv``: the plain command says
    which split to name, and ``--test-split dev`` evaluates on it."""
    data = tmp_path / "data"
    shutil.copytree(first_run["root"] / "data", data)
    (data / "qrels" / "test.tsv").rename(data / "qrels" / "dev.tsv")
    settings = _settings(tiny_bert_dir, data)
    settings["students"]["families"] = ["lgbm"]
    settings["students"]["targets"] = ["qrels"]
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(settings))
    args = ["run", "--config", str(tmp_path / "job.yaml"), "--output", str(tmp_path / "o")]
    args += ["--teacher", str(first_run["root"] / "out" / "teacher")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "choose one with --test-split (e.g. --test-split dev)" in res.output
    res = CliRunner().invoke(app, [*args, "--test-split", "dev"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["data"]["test_split"] == "dev" and metrics["config"]["test_split"] == "dev"
    assert metrics["data"]["test_queries"] == first_run["result"].metrics["data"]["test_queries"]


def _write_trec(coll: TextCollection, folder: Path) -> None:
    """``coll`` as a TREC collection whose topics' descriptions are other texts than their titles."""
    folder.mkdir(parents=True)
    (folder / "docs.trec").write_text(
        "".join(
            f"<DOC>\n<DOCNO>{d}</DOCNO>\n<TITLE>{coll.corpus[d].title}</TITLE>\n<TEXT>{coll.corpus[d].text}"
            "</TEXT>\n</DOC>\n"
            for d in coll.corpus.docnos
        )
    )
    (folder / "topics.txt").write_text(
        "".join(
            f"<top>\n<num> Number: {q}\n<title> {text}\n<desc> Description: documents on {text} please\n"
            "</top>\n"
            for q, text in coll.queries.items()
        )
    )
    for split, qrels in coll.qrels.items():
        (folder / f"qrels.{split}.txt").write_text(
            "".join(f"{q} 0 {d} {rel}\n" for q, docs in qrels.items() for d, rel in docs.items())
        )


def test_query_field_keys_the_teacher_and_the_students(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """Title and description queries share their ids, not their texts: changing ``query_field`` retrains
    the teacher, re-scores its labels and retrains the students; the same field again reuses them all."""
    _write_trec(_collection(), tmp_path / "trec")
    settings = _settings(tiny_bert_dir, tmp_path / "trec")
    settings["teacher"].update({"fusion": False, "ranker": False})
    settings["students"].update({"families": ["lgbm"], "targets": ["qrels", "hard"]})

    def run(query_field: str | None) -> list[str]:
        extra = {} if query_field is None else {"query_field": query_field}
        logs: list[str] = []
        run_job(JobConfig.from_dict({**settings, **extra}), tmp_path / "out", log=logs.append)
        return logs

    def fine_tuned(logs: list[str]) -> bool:
        assert any(m.startswith(("teacher: fine-tuning", "teacher: reusing")) for m in logs)
        return any(m.startswith("teacher: fine-tuning") for m in logs)

    def cached(logs: list[str]) -> int:
        return sum(": cached (test nDCG@10" in m for m in logs)

    title = run(None)
    assert fine_tuned(title) and cached(title) == 0
    again = run("title")  # the default, named: the same keys
    assert not fine_tuned(again) and cached(again) == 2
    desc = run("desc")
    assert fine_tuned(desc) and cached(desc) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["config"]["query_field"] == "desc" and metrics["teacher"]["scored_pairs_this_run"] > 0
    desc_again = run("desc")
    assert not fine_tuned(desc_again) and cached(desc_again) == 2


def test_teacher_checkpoints_are_kept_only_for_the_teacher_they_can_resume(tmp_path: Path) -> None:
    from distillrank.pipeline.records import _resumable_checkpoints

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "checkpoint-00000003.pt").write_bytes(b"")
    _resumable_checkpoints(folder, "k1", None)  # unmarked, no finished teacher: a crashed run's, kept
    assert (folder / "checkpoint-00000003.pt").exists() and (folder / "teacher-key").read_text() == "k1"
    _resumable_checkpoints(folder, "k1", "k0")  # marked for this teacher: kept
    assert (folder / "checkpoint-00000003.pt").exists()
    _resumable_checkpoints(folder, "k2", None)  # another teacher's: removed
    assert [p.name for p in folder.iterdir()] == ["teacher-key"]
    (folder / "checkpoint-00000003.pt").write_bytes(b"")
    (folder / "teacher-key").unlink()
    _resumable_checkpoints(folder, "k3", "k2")  # unmarked, of the finished teacher k2: removed
    assert [p.name for p in folder.iterdir()] == ["teacher-key"]


def _judged_only(coll: TextCollection, keep: dict[str, int]) -> TextCollection:
    """``coll`` with only the first ``keep[split]`` judged queries of each split in ``keep``."""
    qrels = {s: Qrels({q: coll.qrels[s][q] for q in sorted(coll.qrels[s])[:n]}) for s, n in keep.items()}
    return TextCollection(coll.name, coll.corpus, coll.queries, qrels)


@pytest.mark.parametrize(
    ("with_train", "keep", "message"),
    [
        (
            False,
            {"test": 2},
            r"^synthetic: 2 judged queries with a text are too few for k-fold cross-fitting \(folds 5, "
            r"validation_fraction 0\.1\): a fold trains on the other folds' queries less a validation share, "
            r"which leaves 0; the job needs at least 3 \(1 more\)$",
        ),
        (
            False,
            {"test": 1},
            r"^synthetic: 1 judged query with a text is too few .* needs at least 3 \(2 more\)$",
        ),
        (
            True,
            {"train": 1, "test": 4},
            r"^synthetic: the train split has 1 judged query with a text, too few to hold validation "
            r"queries out \(validation_fraction 0\.1\) and train on the rest, which leaves 0; the job needs "
            r"at least 2 \(1 more\)$",
        ),
    ],
)
def test_plan_says_how_many_more_queries_a_tiny_collection_needs(
    with_train: bool, keep: dict[str, int], message: str
) -> None:
    """Too few judged queries for every fold to keep one to train on (after the validation share) is one
    line saying how many more, from the plan, not a crash or a misleading error in the students."""
    coll = _judged_only(_collection(with_train=with_train), keep)
    with pytest.raises(DistillrankError, match=message):
        _plan(coll, JobConfig())


def test_plan_counts_the_queries_max_test_queries_leaves() -> None:
    capped = r"^synthetic: 2 judged queries with a text \(max_test_queries\) are too few"
    with pytest.raises(DistillrankError, match=capped):
        _plan(_collection(with_train=False), JobConfig(max_test_queries=2))
    folds, _, _, _ = _plan(_judged_only(_collection(with_train=False), {"test": 3}), JobConfig())
    assert [len(f.fit) for f in folds] == [1, 1, 1]  # the smallest that works: one to train on per fold


def _no_dense(self: Any) -> None:
    raise AssertionError("the dense side was reached: the problem was not caught before any work")


def test_lightgbm_students_with_too_few_candidates_are_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fold training on fewer candidates than LightGBM needs to split once would make a constant
    qrels-only student and fail on the distilled ones after the teacher: refused at load, by how many."""
    from distillrank.pipeline import job as job_module

    monkeypatch.setattr(job_module._Job, "dense", _no_dense)
    write_beir(_judged_only(_collection(with_train=False), {"test": 3}), tmp_path / "data")
    settings = {"dataset": str(tmp_path / "data"), "candidates": {"k": 20, "depth": 8}}
    cfg = JobConfig.from_dict({**settings, "students": {"families": ["dssm", "lgbm"]}})
    with pytest.raises(DistillrankError) as err:
        run_job(cfg, tmp_path / "out", log=lambda m: None)
    assert str(err.value) == (
        "data: fold 0's LightGBM students would train on 8 candidates (1 query with two or more), fewer "
        "than the 40 LightGBM needs for one split (min_data_in_leaf 20 on each side): 32 more; add judged "
        "queries, raise candidates.depth, or leave the lgbm families out of students.families"
    )
    neural_only = JobConfig.from_dict({**settings, "students": {"families": ["dssm"]}})
    job = job_module._Job(neural_only, tmp_path / "out", None, lambda m: None)
    job.load()  # the neural students have no such floor
    assert [len(f.fit) for f in job.folds] == [1, 1, 1]


def test_teacher_without_a_relevant_training_judgement_is_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A train split judging no document relevant (every score 0) leaves the teacher nothing to learn:
    one line at load, not a ValueError traceback after the document embeddings."""
    from distillrank.pipeline import job as job_module

    monkeypatch.setattr(job_module._Job, "dense", _no_dense)
    coll = _collection()
    coll.qrels["train"] = Qrels({q: dict.fromkeys(j, 0) for q, j in coll.qrels["train"].items()})
    write_beir(coll, tmp_path / "data")
    with pytest.raises(DistillrankError) as err:
        run_job(JobConfig(dataset=str(tmp_path / "data")), tmp_path / "out", log=lambda m: None)
    assert str(err.value) == (
        "data: none of the 16 training queries has a judged relevant document (score > 0) in the corpus, so "
        "the teacher has nothing to be fine-tuned on; give the train split relevant judgements, or a saved "
        "teacher with --teacher DIR"
    )


def test_a_new_teacher_retrains_the_distilled_students_and_no_qrels_only_one(
    first_run: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A qrels-only student reads no teacher score: a teacher setting changed retrains the teacher and the
    distilled students, not the qrels-only twins. Their folders written when their key held the teacher's
    settings are re-keyed, not retrained."""
    from distillrank.pipeline import job as job_module

    out = tmp_path / "out"
    shutil.copytree(first_run["root"] / "out", out)
    cfg = first_run["cfg"].model_copy(deep=True)
    cfg.students.families = ["lgbm", "dssm"]
    cfg.students.targets = ["qrels", "hard"]

    def run(cfg: JobConfig) -> tuple[set[str], set[str]]:
        logs: list[str] = []
        run_job(cfg, out, log=logs.append)
        trained = {m.split(":")[0].strip() for m in logs if ": validation nDCG@10" in m}
        cached = {m.split(":")[0].strip() for m in logs if ": cached (test nDCG@10" in m}
        return trained, cached

    with monkeypatch.context() as m:  # the qrels-only students as the code before keyed them
        teacher_key = job_module._Job._base_key
        m.setattr(
            job_module._Job,
            "_base_key",
            lambda self, teacher, legacy=False: teacher_key(self, teacher=True, legacy=legacy),
        )
        assert run(cfg)[0] == {"lgbm/qrels", "dssm/qrels"}  # written anew, under the old keys
    everything = {"lgbm/qrels", "lgbm/hard", "dssm/qrels", "dssm/hard"}
    assert run(cfg) == (set(), everything)  # the old keys are taken (and re-keyed)
    new_teacher = cfg.model_copy(deep=True)
    new_teacher.teacher.max_steps = 2
    assert run(new_teacher) == ({"lgbm/hard", "dssm/hard"}, {"lgbm/qrels", "dssm/qrels"})
    assert json.loads((out / "teacher" / "teacher.json").read_text())["summary"]["steps"] == 2
    assert not (out / "teacher" / "checkpoints").exists()  # a finished teacher keeps no checkpoint


def test_optional_colbert_and_splade_students(
    first_run: dict[str, Any], tiny_mlm_dir: Path, tmp_path: Path
) -> None:
    """The optional families train beside the others (adding them retrains no finished student); ColBERT
    re-ranks BM25's top ``depth``, SPLADE retrieves from its inverted index; their own settings retrain
    only their students."""
    out = tmp_path / "out"
    shutil.copytree(first_run["root"] / "out", out)
    cfg = first_run["cfg"].model_copy(deep=True)
    cfg.students.families = ["dssm", "colbert", "splade"]
    cfg.students.targets = ["qrels", "soft", "rd"]
    cfg.students.temperatures = [1.0]
    cfg.students.colbert_dim = 16
    cfg.students.colbert_doc_max_length = 24
    cfg.students.splade_model = str(tiny_mlm_dir)
    cfg.students.splade_doc_max_length = 24
    logs: list[str] = []
    result = run_job(cfg, out, log=logs.append)
    trained = {line.split(":")[0].strip() for line in logs if ": validation nDCG@10" in line}
    assert trained == {f"{f}/{t}" for f in ("colbert", "splade") for t in ("qrels", "soft-T1", "rd")}
    models = result.metrics["models"]
    n_docs = len(_collection().corpus)
    for target in ("qrels", "soft-T1", "rd"):
        colbert, splade = models[f"colbert/{target}"], models[f"splade/{target}"]
        assert colbert["cost"]["docs_scored_per_query"] == cfg.candidates.depth
        assert splade["cost"]["docs_scored_per_query"] == n_docs
        assert colbert["cost"]["params"] > 0 and splade["cost"]["params"] > 0
        assert splade["training"]["query_terms_mean"] > 0
        assert 0.0 <= colbert["metrics"]["nDCG@10"] <= 1.0 and 0.0 <= splade["metrics"]["nDCG@10"] <= 1.0
    for name, family in (("colbert-zero-shot", "colbert"), ("splade-zero-shot", "splade")):
        assert (models[name]["role"], models[name]["family"]) == ("baseline", family)
        assert models[name]["cost"]["params"] == models[f"{family}/qrels"]["cost"]["params"]
    checks = result.metrics["checks"]["distilled_vs_qrels_only"]
    assert {"rd", "soft-T1"} <= set(checks["colbert"]) and {"rd", "soft-T1"} <= set(checks["splade"])
    assert any(p.name.startswith("colbert-") for p in (out / "cache").iterdir())
    assert any(p.name.startswith("splade-") for p in (out / "cache").iterdir())

    side = next(p for p in (out / "cache").iterdir() if p.name.startswith("colbert-")) / "docs.npz"
    written = side.stat().st_mtime_ns
    cfg.students.colbert_lr = 1e-4
    logs = []
    run_job(cfg, out, log=logs.append)
    retrained = {line.split(":")[0].strip() for line in logs if ": validation nDCG@10" in line}
    assert retrained == {"colbert/qrels", "colbert/soft-T1", "colbert/rd"}
    assert side.stat().st_mtime_ns == written  # the document side came from the cache


def test_queries_without_bm25_candidates_are_a_warning(tmp_path: Path) -> None:
    """A query of stop words and punctuation has no BM25 candidate: every model that re-ranks BM25's
    candidates ranks nothing for it, so it scores 0; the job says so at load instead of dragging the means
    down silently, and names the models that retrieve on their own (which may rank documents for it)."""
    from distillrank.errors import DataWarning
    from distillrank.pipeline import job as job_module

    coll = _collection(with_train=False)
    queries = dict(coll.queries.items())
    queries["q20"], queries["q21"] = "the of and is a", "??? !!!"
    write_beir(TextCollection(coll.name, coll.corpus, Queries(queries), coll.qrels), tmp_path / "data")
    cfg = JobConfig.from_dict({"dataset": str(tmp_path / "data"), "students": {"families": ["dssm"]}})
    job = job_module._Job(cfg, tmp_path / "out", None, lambda m: None)
    with pytest.warns(
        DataWarning, match=r"2 of 30 queries \(2 of them test queries\) have no BM25 candidates"
    ) as caught:
        job.load()
    (message,) = [str(w.message) for w in caught if "no BM25 candidates" in str(w.message)]
    assert "re-ranks BM25's candidates rank nothing for them" in message
    assert "the bi-encoders and the zero-shot dense baseline" in message and "SPLADE" not in message
    pooled = JobConfig.from_dict({**cfg.model_dump(), "dense": {"documents": "candidates"}})
    job = job_module._Job(pooled, tmp_path / "out2", None, lambda m: None)
    with pytest.warns(DataWarning, match="no BM25 candidates") as caught:
        job.load()
    assert not any("bi-encoders" in str(w.message) for w in caught)  # they re-rank BM25 then


def test_a_family_none_of_whose_students_trained_is_a_warning(tmp_path: Path) -> None:
    import warnings

    from distillrank.errors import DataWarning
    from distillrank.pipeline import job as job_module

    job = job_module._Job(JobConfig(), tmp_path / "out", None, lambda m: None)
    job.coll = _collection()
    kept = {"kept_start": True, "kept_start_folds": 5, "folds": 5}
    job.results = {
        "bi_encoder/qrels": {"training": kept},
        "bi_encoder/hard": {"training": kept},
        "dssm/qrels": {"training": kept},
        "dssm/hard": {"training": {**kept, "kept_start_folds": 4}},  # trained in one fold
        "lgbm/qrels": {"training": {"trees": 1}},  # one tree still ranks by the features
    }
    with pytest.warns(DataWarning, match="none of the 2 bi_encoder students trained past its start"):
        job._warn_untrained("bi_encoder")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        job._warn_untrained("dssm")
        job._warn_untrained("lgbm")


def test_a_start_that_fails_on_its_data_is_not_a_stopped_first_run(tmp_path: Path) -> None:
    """A dataset typo or a missing data folder fails in loading: the later successful run's report said
    "the first run was stopped 1 time(s) and resumed". Nothing is noted, and a folder the failed start
    created is not left behind."""
    from distillrank.errors import DatasetNotFoundError

    new = tmp_path / "new"
    with pytest.raises((DistillrankError, DatasetNotFoundError)):
        run_job(JobConfig(dataset=str(tmp_path / "scifcat")), new, log=lambda _: None)
    assert not new.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises((DistillrankError, DatasetNotFoundError)):
        run_job(JobConfig(dataset=str(tmp_path / "scifcat")), kept, log=lambda _: None)
    assert kept.is_dir() and not (kept / "cache" / "unfinished_first_runs.json").exists()


def test_a_large_corpus_embeds_only_the_candidates_and_its_bi_encoders_re_rank(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    coll = _collection()
    c = coll.corpus
    filler = [f"x{i}" for i in range(40)]  # words no query has: never a BM25 candidate
    corpus = Corpus(
        [*c.docnos, *filler],
        [*c.titles, *([""] * len(filler))],
        [*c.texts, *(f"zebra quilt lantern {i} marble" for i in range(len(filler)))],
    )
    write_beir(TextCollection("big", corpus, coll.queries, coll.qrels), tmp_path / "data")
    settings = _settings(tiny_bert_dir, tmp_path / "data")
    settings["dense"]["max_documents"] = 60  # 88 documents: more than that, so "auto" pools
    settings["students"]["families"] = ["bi_encoder", "lgbm_dense"]
    settings["students"]["targets"] = ["qrels", "soft"]
    settings["students"]["temperatures"] = [1.0]
    logs: list[str] = []
    result = run_job(JobConfig.from_dict(settings), tmp_path / "out", log=logs.append)
    m = result.metrics
    assert m["data"]["documents"] == 88 and m["data"]["dense_documents"] <= 48
    assert any("only the" in line and "BM25 candidate lists" in line for line in logs)
    models = m["models"]
    assert {"bi_encoder/qrels", "bi_encoder/soft-T1", "lgbm_dense/soft-T1", "dense-zero-shot"} <= set(models)
    for name in ("bi_encoder/qrels", "bi_encoder/soft-T1"):
        run = Run.from_file(tmp_path / "out" / models[name]["run"])
        assert all(not d.startswith("x") for q in run for d in run[q]), name  # re-ranks BM25's candidates
        assert models[name]["cost"]["docs_per_s"] > 0
    assert "embedded only the" in (tmp_path / "out" / "report.md").read_text()
    # SPLADE retrieves from every document: refused, before any student trains
    settings["students"]["families"] = ["splade"]
    with pytest.raises(DistillrankError, match="'splade' retrieves from an index of every document"):
        run_job(JobConfig.from_dict(settings), tmp_path / "out2", log=logs.append)
    # dense.documents: all embeds every document again, and the bi-encoder retrieves from all of them
    settings["dense"]["documents"] = "all"
    settings["students"]["families"] = ["bi_encoder"]
    settings["students"]["targets"] = ["qrels"]
    again = run_job(JobConfig.from_dict(settings), tmp_path / "out3", log=logs.append).metrics
    assert again["data"]["dense_documents"] == 88
    run = Run.from_file(tmp_path / "out3" / again["models"]["bi_encoder/qrels"]["run"])
    assert any(d.startswith("x") for q in run for d in run[q])  # retrieval from every document


def test_changed_data_retrains_what_learnt_from_it(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """The caches are keyed by the data too, not only by the collection's name: changed test judgements
    retrain the students (their stored metrics were judged on the old ones) and keep the teacher; changed
    training judgements or a changed document also retrain the teacher."""
    folder = tmp_path / "trec"
    _write_trec(_collection(), folder)
    settings = _settings(tiny_bert_dir, folder)
    settings["teacher"].update({"fusion": False, "ranker": False})
    settings["students"].update({"families": ["lgbm"], "targets": ["qrels", "hard"]})

    def run() -> tuple[bool, int]:
        logs: list[str] = []
        run_job(JobConfig.from_dict(settings), tmp_path / "out", log=logs.append)
        assert any(m.startswith(("teacher: fine-tuning", "teacher: reusing")) for m in logs)
        return any(m.startswith("teacher: fine-tuning") for m in logs), sum(
            ": cached (test" in m for m in logs
        )

    def edit(path: Path, old: str, new: str) -> None:
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))

    assert run() == (True, 0)
    assert run() == (False, 2)
    test_line = next(
        line for line in (folder / "qrels.test.txt").read_text().splitlines() if line.endswith(" 2")
    )
    edit(folder / "qrels.test.txt", test_line, test_line[:-1] + "0")  # a test judgement corrected
    assert run() == (False, 0)
    train_line = next(line for line in (folder / "qrels.train.txt").read_text().splitlines())
    edit(folder / "qrels.train.txt", train_line, train_line[:-1] + "0")
    assert run() == (True, 0)
    edit(folder / "docs.trec", "<TEXT>", "<TEXT>rewritten ")  # one document's text
    assert run() == (True, 0)
    assert run() == (False, 2)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    run_file = tmp_path / "out" / "runs" / "lgbm" / "qrels.trec"
    from distillrank.data.formats.trec import read_trec_run
    from distillrank.evaluation.metrics import evaluate

    qrels: dict[str, dict[str, int]] = {}
    for line in (folder / "qrels.test.txt").read_text().splitlines():
        q, _, d, g = line.split()
        qrels.setdefault(q, {})[d] = int(g)
    got = evaluate(read_trec_run(run_file), qrels, ["nDCG@10"]).aggregate["nDCG@10"]  # current judgements
    assert got == pytest.approx(metrics["models"]["lgbm/qrels"]["metrics"]["nDCG@10"], abs=5e-5)


@pytest.mark.parametrize("documents", ["candidates", "auto"])
def test_splade_with_a_pooled_dense_side_is_refused_for_the_right_reason(
    tmp_path: Path, documents: str
) -> None:
    from distillrank.pipeline import job as job_module

    cfg = JobConfig.from_dict(
        {"dense": {"documents": documents, "max_documents": 10}, "students": {"families": ["lgbm", "splade"]}}
    )
    job = job_module._Job(cfg, tmp_path / "out", None, lambda m: None)
    job.corpus = _collection().corpus  # 48 documents
    job.cands = {"q1": ["d1"]}
    with pytest.raises(DistillrankError) as err:
        job._dense_pool()
    why = "dense.documents: candidates)" if documents == "candidates" else "48 documents > max_documents 10"
    assert why in str(err.value) and ("max_documents" in str(err.value)) == (documents == "auto")
