"""The teacher's fine-tuning, stopped half-way and started again, resumes from its last checkpoint and ends
where an uninterrupted run ends."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import torch

from distillrank.data import Corpus, Qrels
from distillrank.pipeline.config import TeacherSettings
from distillrank.pipeline.teacher import train_cross_encoder
from distillrank.retrieval.bm25 import BM25Retriever
from distillrank.training import Trainer

TOPICS = ["protein folding", "solar panels", "river floods", "coffee beans"]


def _data() -> dict[str, Any]:
    rng = random.Random(0)
    words = ["study", "results", "method", "data", "effect", "model", "sample", "rate"]
    docnos = [f"d{i}" for i in range(32)]
    texts = [f"{TOPICS[i % 4]} " + " ".join(rng.choice(words) for _ in range(8)) for i in range(32)]
    corpus = Corpus(docnos, [""] * 32, texts)
    queries = {f"q{j}": f"{TOPICS[j % 4]} {rng.choice(words)}" for j in range(12)}
    qrels = Qrels({f"q{j}": {f"d{(j % 4) + 4 * k}": 1 for k in range(2)} for j in range(12)})
    bm25 = BM25Retriever()
    bm25.index(corpus)
    return {"corpus": corpus, "queries": queries, "qrels": qrels, "bm25_run": bm25.search(queries, k=16)}


def _train(tiny_bert_dir: Path, folder: Path, data: dict[str, Any], logs: list[str]) -> Any:
    settings = TeacherSettings(
        model=str(tiny_bert_dir), max_length=32, max_steps=10, batch_size=2, evaluations=2, n_negatives=2,
        skip=(1, 16),
    )  # fmt: skip
    return train_cross_encoder(
        settings,
        **data,
        fit_qids=[f"q{j}" for j in range(10)],
        val_qids=["q10", "q11"],
        depth=8,
        folder=folder,
        seed=5,
        log=logs.append,
    )


def test_a_stopped_teacher_resumes_from_its_checkpoint_and_ends_as_an_uninterrupted_one(
    tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data()
    whole, whole_summary = _train(tiny_bert_dir, tmp_path / "whole", data, [])

    steps: list[int] = []
    original = Trainer._step

    def counted(self: Trainer, *args: Any) -> Any:
        steps.append(args[-1])
        if stop_at is not None and args[-1] == stop_at:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(Trainer, "_step", counted)
    stop_at: int | None = 7
    with pytest.raises(KeyboardInterrupt):
        _train(tiny_bert_dir, tmp_path / "stopped", data, [])
    assert [p.name for p in (tmp_path / "stopped" / "checkpoints").iterdir()] == ["checkpoint-00000006.pt"]

    stop_at, steps[:] = None, []
    logs: list[str] = []
    resumed, summary = _train(tiny_bert_dir, tmp_path / "stopped", data, logs)
    assert "  teacher: resuming from the checkpoint of step 6 of 10" in logs
    assert steps == [7, 8, 9, 10]  # only the steps after the checkpoint are trained again
    assert summary["steps"] == whole_summary["steps"] == 10
    assert summary["best_step"] == whole_summary["best_step"]
    assert summary["best_validation_ndcg@10"] == pytest.approx(whole_summary["best_validation_ndcg@10"])
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name
