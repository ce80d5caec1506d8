"""Reports render the same content to Markdown and self-contained HTML, and write atomically."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from distillrank.pipeline import plots
from distillrank.pipeline.report import Report


def _report() -> Report:
    r = Report("Quality and cost")
    r.heading("Models")
    r.text("Teacher vs `bm25`, **all** on test.")
    r.table(
        [
            {"model": "teacher", "nDCG@10": 0.71234, "params": 22_713_601, "docs_per_s": 38.2},
            {"model": "bm25", "nDCG@10": 0.6791, "params": 0, "docs_per_s": float("nan")},
        ],
        caption="SciFact test",
    )
    pts = [
        {"name": "teacher", "role": "teacher", "latency_p50_ms": 2600.0, "nDCG@10": 0.71},
        {"name": "bm25", "role": "baseline", "latency_p50_ms": 0.05, "nDCG@10": 0.68},
        {"name": "student", "role": "student", "latency_p50_ms": 3.0, "nDCG@10": 0.70},
    ]
    r.figure(plots.frontier(pts), "frontier", caption="quality against latency")
    r.figure(plots.bars({"qrels": 0.6, "soft": 0.65}, ylabel="nDCG@10", reference=0.7), "by_loss")
    r.figure(plots.curves({"T": ([1, 2, 4], [0.6, 0.62, 0.61])}, xlabel="T", ylabel="nDCG@10"), "temp")
    return r


def test_markdown_has_tables_and_linked_figures() -> None:
    md = _report().to_markdown()
    assert md.startswith("# Quality and cost")
    assert "| model | nDCG@10 | params | docs_per_s |" in md
    assert "| teacher | 0.7123 | 22,713,601 | 38.2000 |" in md
    assert "| bm25 | 0.6791 | 0 | — |" in md
    assert "![quality against latency](frontier.png)" in md


def test_column_formats_apply_to_their_column_in_both_renderings() -> None:
    r = Report("cost")
    rows = [{"model": "bm25", "docs/s": 49_300_000.0, "p50 ms": 0.09, "nDCG@10": 0.67909}]
    r.table(rows, formats={"docs/s": ",.0f", "p50 ms": ".2f"})
    assert "| bm25 | 49,300,000 | 0.09 | 0.6791 |" in r.to_markdown()
    assert "<td class='num'>49,300,000</td><td class='num'>0.09</td>" in r.to_html()


def test_job_report_writes_cost_columns_readably(tmp_path: Path) -> None:
    """docs/s as whole numbers with separators (not 4.93e+07 next to 15574.2000), ms to 0.01."""
    from distillrank.pipeline.summary import write_report

    committed = Path(__file__).parents[2] / "bench" / "results" / "main_job" / "metrics.json"
    write_report(json.loads(committed.read_text()), tmp_path)
    md = (tmp_path / "report.md").read_text()
    bm25 = next(line for line in md.splitlines() if line.startswith("| bm25 |"))
    assert "| 48,304,744 | 0.09 | 0.23 | 3669.2 |" in bm25, bm25


def test_html_is_self_contained() -> None:
    page = _report().to_html()
    assert page.count("data:image/png;base64,") == 3
    assert "<code>bm25</code>" in page and "<b>all</b>" in page
    assert "src='http" not in page and "href=" not in page


def test_write_creates_every_file_and_valid_json(tmp_path: Path) -> None:
    written = _report().write(
        tmp_path, metrics={"models": {"x": {"nDCG@10": np.float32(0.5), "n": np.int64(3)}}}
    )
    assert {p.name for p in written} == {"report.md", "report.html", "metrics.json"}
    assert {p.name for p in tmp_path.glob("*.png")} == {"frontier.png", "by_loss.png", "temp.png"}
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"models": {"x": {"nDCG@10": 0.5, "n": 3}}}
    assert not list(tmp_path.glob(".*tmp"))


def test_nan_in_metrics_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        Report("x").write(tmp_path, metrics={"a": math.nan})


@pytest.mark.parametrize(
    ("labels", "phrase"), [("in_sample", "(in sample)"), ("cross_fit", "(out of fold)"), (None, None)]
)
def test_job_report_says_how_the_teacher_labelled_its_training_queries(
    tmp_path: Path, labels: str | None, phrase: str | None
) -> None:
    from distillrank.pipeline.summary import write_report

    committed = Path(__file__).parents[2] / "bench" / "results" / "main_job_cross_fit" / "metrics.json"
    metrics = json.loads(committed.read_text())  # a real run's metrics.json (fusion weight of the ranker 0.7)
    metrics["config"]["teacher"].pop("ranker_labels", None)
    if labels is not None:
        metrics["config"]["teacher"]["ranker_labels"] = labels
    write_report(metrics, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert ("scores of its feature ranker (fusion weight 0.7)" in text) is (labels is not None)
    if phrase is not None:
        assert phrase in text


@pytest.mark.parametrize(("speedup", "shown"), [(0.353, "0.35x"), (9.94, "9.9x"), (65.2233, "65x")])
def test_job_report_shows_a_student_slower_than_the_teacher(
    tmp_path: Path, speedup: float, shown: str
) -> None:
    """A zero-shot BM25 + dense teacher can be faster than a student: 0.35x, not '0x its throughput'."""
    from distillrank.pipeline.summary import write_report

    committed = Path(__file__).parents[2] / "bench" / "results" / "main_job_cross_fit" / "metrics.json"
    metrics = json.loads(committed.read_text())
    metrics["headline"]["best_student_speedup_vs_teacher"] = speedup
    write_report(metrics, tmp_path)
    assert f"the teacher at {shown} its throughput." in (tmp_path / "report.md").read_text()


def _finished_job(targets: list[str]) -> tuple[Any, dict[str, dict[str, Any]]]:
    """What :func:`build_metrics` reads of a finished job with one LightGBM student per target (no runs
    on disk: no paired tests), and its reference models."""
    from distillrank.pipeline.config import JobConfig

    cost = {
        "params": 1,
        "docs_per_s": 1.0,
        "queries_per_s": 1.0,
        "latency_p50_ms": 1.0,
        "latency_p99_ms": 1.0,
    }
    results = {
        f"lgbm/{t}": {
            "family": "lgbm",
            "target": t,
            "temperature": None,
            "metrics": {"nDCG@10": 0.6 + 0.01 * i},
            "cost": {**cost, "queries_per_s": 100.0},
            "validation_ndcg@10": 0.6,
            "train_seconds": 1.0,
            "training": {},
            "run": f"runs/lgbm/{t}.trec",
        }
        for i, t in enumerate(targets)
    }
    cfg = JobConfig.from_dict({"students": {"families": ["lgbm"], "targets": targets}})
    job = SimpleNamespace(
        results=results,
        out=None,
        qrels=None,
        folds=[SimpleNamespace(fit=["q1"], val=["q2"], test=["q3"])],
        coll=SimpleNamespace(name="tiny"),
        corpus=[1, 2, 3],
        teacher_info={},
        fusion=SimpleNamespace(weights={"cross_encoder": 1.0}, validation={}),
        has_train=True,
        test_split="test",
        cfg=cfg,
        transfer=[],
        timings={"total_s": 1.0},
    )
    reference = {
        "teacher": {
            "role": "teacher",
            "family": "cross_encoder",
            "targets": "qrels",
            "metrics": {"nDCG@10": 0.7},
            "cost": cost,
        }
    }
    return job, reference


@pytest.mark.parametrize("targets", [["soft", "rd"], ["qrels"], ["qrels", "soft"]])
def test_job_report_without_a_qrels_only_twin_claims_nothing_about_twins(
    tmp_path: Path, targets: list[str]
) -> None:
    """Distilled students without their qrels-only twin (or a twin alone): no vacuous 'every distilled
    student beats its twin: True'."""
    from distillrank.pipeline.summary import BEATS_TWIN, build_metrics, write_report

    job, reference = _finished_job(targets)
    metrics = build_metrics(job, reference)
    compared = "qrels" in targets and len(targets) > 1
    assert (BEATS_TWIN in metrics["checks"]) is compared
    assert metrics["checks"]["distilled_vs_qrels_only_summary"]["distilled_students"] == int(compared)
    assert metrics["headline"]["best_student"] == f"lgbm/{targets[-1]}"
    write_report(metrics, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert ("Every distilled student beats the same student" in text) is compared
    assert ("No distilled student has a twin" in text) is not compared


def test_job_report_counts_test_queries_without_a_relevant_document(tmp_path: Path) -> None:
    """A test query judged with nothing relevant scores 0 for every model: the report says how many."""
    from distillrank.data.collection import Qrels
    from distillrank.pipeline.summary import build_metrics, write_report

    job, reference = _finished_job(["qrels"])
    job.folds = [SimpleNamespace(fit=["q1"], val=["q2"], test=["q3", "q4", "q5"])]
    job.qrels = Qrels({"q3": {"d1": 1}, "q4": {"d1": 0, "d2": 0}, "q5": {"d2": 2}})
    metrics = build_metrics(job, reference)
    assert metrics["data"]["test_queries_without_relevant"] == 1
    write_report(metrics, tmp_path)
    assert "1 test query has judgements but no relevant document" in (tmp_path / "report.md").read_text()
    job.qrels = Qrels({"q3": {"d1": 1}, "q4": {"d1": 1}, "q5": {"d2": 2}})
    write_report(build_metrics(job, reference), tmp_path)
    assert "no relevant document" not in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(("documents", "every"), [(50, True), (100, True), (5_183, False)])
def test_job_report_says_when_bm25_candidates_are_every_document(
    tmp_path: Path, documents: int, every: bool
) -> None:
    """BM25 top-100 of a 50-document corpus is every document: the report says so."""
    from distillrank.pipeline.summary import build_metrics, write_report

    job, reference = _finished_job(["qrels"])
    job.corpus = list(range(documents))
    job.cfg.candidates.k = 100
    write_report(build_metrics(job, reference), tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "Candidates: BM25 top-100" in text
    assert ("BM25 top-100 (every document);" in text) is every


def test_job_report_names_the_model_that_meets_the_speed_target_and_the_best_distilled_one(
    tmp_path: Path,
) -> None:
    """The committed main job: the best student overall is slower than 50x, and the one that meets
    0.97x at 50x learnt from the qrels only. The report says both, and which distilled student comes
    closest (the target row alone, at the bottom, named no model)."""
    from distillrank.pipeline.summary import speed_target, write_report

    committed = Path(__file__).parents[2] / "bench" / "results" / "main_job" / "metrics.json"
    metrics = json.loads(committed.read_text())
    assert speed_target(metrics["models"]) == {
        "any": "lgbm_static/qrels",
        "distilled": "lgbm_static/soft-T0.5",
    }
    write_report(metrics, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert (
        "Target 0.97x the teacher's nDCG@10 at >= 50x its throughput: met; best at that speed: "
        "**lgbm_static/qrels** (trained on the qrels only), 0.978x at 269x. Best distilled student at that "
        "speed: **lgbm_static/soft-T0.5** (distilled from the teacher), 0.970x at 267x (misses it)."
    ) in md
    assert md.index("## Targets of the issue") < md.index("## All models")  # the verdicts come first
    assert "| every distilled student beats its qrels-only twin | **no** |" in md


def test_job_report_flags_models_timed_on_a_busy_machine() -> None:
    """Speed-ups are ratios of timings: one taken while other work shared the cores is named."""
    from distillrank.pipeline.summary import _timing_conditions

    def model(load: float | None) -> dict[str, Any]:
        cost: dict[str, Any] = {"latency_p50_ms": 1.0}
        if load is not None:
            cost.update(load_avg_1m=load, cores=2)
        return {"cost": cost}

    assert _timing_conditions({"a": model(None)}) is None  # a folder written before the load was kept
    quiet = _timing_conditions({"teacher": model(1.1), "lgbm/qrels": model(1.4)})
    assert quiet == (
        "Timings one query at a time on 2 cores; the 1-minute load average after each model's timing "
        "ranged 1.1-1.4."
    )
    busy = _timing_conditions({"teacher": model(1.1), "lgbm/qrels": model(3.2)})
    assert (
        busy is not None
        and "**The machine was busy** (load above its 2 cores) while 1 model(s) were timed (lgbm/qrels)"
        in busy
    )
