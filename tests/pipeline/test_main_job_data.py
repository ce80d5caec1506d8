"""``distillrank run --quick`` on the real SciFact: what CI runs of the main job (about 3 minutes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillrank.cli.main import app


@pytest.mark.data
def test_quick_main_job_on_scifact(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["run", "--quick", "--dataset", "scifact", "--data-dir", str(shared_data), "--output", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    models = metrics["models"]
    assert metrics["config"]["quick"] is True
    assert metrics["data"]["test_queries"] == 60 and metrics["data"]["train_split"] is True
    for name, m in models.items():
        assert {"nDCG@10", "RR@10", "R@100"} <= set(m["metrics"]), name
        assert {"params", "docs_per_s", "latency_p50_ms", "latency_p99_ms"} <= set(m["cost"]), name
    # BM25 on these 60 test queries, and the rerankers of its top 10 keep its R@100
    assert models["bm25"]["metrics"]["nDCG@10"] > 0.55
    assert models["lgbm/qrels"]["metrics"]["R@100"] == models["bm25"]["metrics"]["R@100"]
    assert models["lgbm/qrels"]["metrics"]["nDCG@10"] > 0.55
    assert models["teacher"]["cost"]["latency_p50_ms"] > models["lgbm/qrels"]["cost"]["latency_p50_ms"]
    assert (out / "report.html").stat().st_size > 10_000
