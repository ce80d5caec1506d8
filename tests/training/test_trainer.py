"""The trainer: batching, accumulation, learning, early stopping, checkpoints and exact resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from distillrank.training.examples import ListExample, collate
from distillrank.training.trainer import (
    Trainer,
    TrainState,
    batch_order,
    in_batch_inputs,
    latest_checkpoint,
)

from .conftest import TinyDual, make_examples


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- batching ------------------------------------------------------------------------------------------
def test_batch_order_is_a_seeded_partition_that_changes_every_epoch() -> None:
    ex = make_examples(50, ragged=True)
    for bucket in (False, True):
        e0 = batch_order(ex, 8, seed=1, epoch=0, bucket_by_length=bucket)
        assert sorted(i for b in e0 for i in b) == list(range(50))
        assert [len(b) for b in e0].count(8) == 6
        assert e0 == batch_order(ex, 8, seed=1, epoch=0, bucket_by_length=bucket)
        assert e0 != batch_order(ex, 8, seed=1, epoch=1, bucket_by_length=bucket)
        assert e0 != batch_order(ex, 8, seed=2, epoch=0, bucket_by_length=bucket)


def padding(examples: list[ListExample], batches: list[list[int]]) -> int:
    """Characters of padding when every pair of a batch is padded to the batch's longest pair."""
    total = 0
    for b in batches:
        pairs = [len(examples[i].query) + len(d) for i in b for d in examples[i].docs]
        total += max(pairs) * len(pairs) - sum(pairs)
    return total


def test_length_bucketing_reduces_padding() -> None:
    rng = np.random.default_rng(0)
    ex = [
        ListExample(query="q", docs=["x" * int(n), "y" * int(n // 2 + 1)], labels=[1.0, 0.0])
        for n in rng.integers(5, 500, size=400)
    ]
    plain = [padding(ex, batch_order(ex, 16, seed=s, epoch=0, bucket_by_length=False)) for s in range(3)]
    bucketed = [padding(ex, batch_order(ex, 16, seed=s, epoch=0, bucket_by_length=True)) for s in range(3)]
    assert max(bucketed) < 0.35 * min(plain)  # within-list padding (a doc half as long) remains


# -- in-batch layout -----------------------------------------------------------------------------------
def test_in_batch_labels_and_mask() -> None:
    ex = [
        ListExample("qa", ["A", "n1", "shared"], [1.0, 0.0, 0.0]),
        ListExample("qb", ["B", "A"], [1.0, 0.0]),  # "A" is qa's positive: a duplicate for qa
        ListExample("qc", ["C", "shared", "B"], [2.0, 0.0, 0.0]),
    ]
    texts, column_text, labels, mask = in_batch_inputs(collate(ex))
    assert texts == ["A", "n1", "shared", "B", "C"]  # each distinct text encoded once, padding never
    assert column_text == [0, 1, 2, 3, 0, -1, 4, 2, 3]
    assert labels.tolist() == [
        [1, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 1, 0, 0],
    ]
    t, f = True, False
    assert mask.tolist() == [
        [t, t, t, t, f, f, t, t, t],  # qb's copy of "A" masked for qa; padding masked
        [t, t, t, t, t, f, t, t, f],  # qc's copy of "B" masked for qb
        [t, t, t, t, t, f, t, t, t],
    ]


# -- the loop ------------------------------------------------------------------------------------------
def fit(model: Any, ex: list[ListExample], **settings: Any) -> Any:
    settings.setdefault("eval_every", "epoch")
    callbacks = settings.pop("callbacks", ())
    evaluate = settings.pop("evaluate", None)
    return Trainer(settings, callbacks=callbacks).fit(model, ex, evaluate=evaluate)


def test_gradient_accumulation_equals_the_larger_batch(examples: list[ListExample]) -> None:
    common = {"loss": "listnet", "max_steps": 3, "lr": 1e-2, "warmup_ratio": 0.0, "max_grad_norm": 0.5}
    big, small = TinyDual(), TinyDual()
    fit(big, examples, batch_size=8, **common)
    r = fit(small, examples, batch_size=4, grad_accumulation=2, **common)
    assert r.steps == 3 and r.cost.items == 3 * 8 * 4
    a, b = weights(big), weights(small)
    assert not same_weights(a, weights(TinyDual()))  # it did train
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "settings",
    [
        {"loss": "listnet"},
        {"loss": "bce"},
        {"loss": "margin_mse"},  # distillation from the teacher scores
        {"in_batch": True},
        {"in_batch": True, "loss_kwargs": {"symmetric": True}},
    ],
    ids=["listnet", "bce", "margin_mse", "in_batch", "in_batch_symmetric"],
)
def test_training_lowers_the_loss(settings: dict[str, Any]) -> None:
    ex = make_examples(64, ragged=True)
    model = TinyDual()
    r = fit(model, ex, epochs=6, batch_size=8, lr=5e-2, bucket_by_length=True, **settings)
    assert r.steps == 6 * 8 == len(r.losses)
    first, last = np.mean(r.losses[:8]), np.mean(r.losses[-8:])
    assert last < 0.85 * first, (first, last)
    assert r.cost.items == 6 * sum(len(e.docs) for e in ex)  # real pairs only, padding excluded
    assert r.cost.items_per_s > 0 and r.cost.n_queries == r.steps
    assert [h["step"] for h in r.history] == list(range(1, 49))
    lrs = [h["lr"] for h in r.history]
    assert max(lrs) == pytest.approx(5e-2) and lrs[-1] < lrs[len(lrs) // 2]  # warm-up then decay


def test_early_stopping_restores_the_best_weights(examples: list[ListExample]) -> None:
    metrics = iter([0.1, 0.5, 0.4, 0.45, 0.3, 0.9, 0.9])
    seen: dict[int, dict[str, torch.Tensor]] = {}
    steps: list[int] = []

    def evaluate(model: torch.nn.Module) -> float:
        assert not model.training and not torch.is_grad_enabled()
        seen[len(steps)] = weights(model)
        return next(metrics)

    model = TinyDual()
    r = fit(
        model,
        examples,
        batch_size=4,
        max_steps=20,
        lr=1e-2,
        eval_every=1,
        patience=3,
        callbacks=[lambda s: steps.append(s.step)],
        evaluate=evaluate,
    )
    assert r.stopped_early and r.steps == 5 and steps == [1, 2, 3, 4, 5]
    assert r.best_step == 2 and r.best_metric == 0.5 and r.restored_best
    assert [e["metric"] for e in r.evals] == [0.1, 0.5, 0.4, 0.45, 0.3]
    assert same_weights(weights(model), seen[2])
    assert not same_weights(weights(model), seen[5])


@pytest.mark.parametrize("start_metric", [0.8, 0.2])
def test_eval_start_makes_the_starting_weights_a_candidate(
    examples: list[ListExample], start_metric: float
) -> None:
    """With ``eval_start`` the untrained weights are evaluated at step 0: when no later evaluation beats
    them they come back unchanged (and count for patience); otherwise training goes on as without it,
    with the same weights at every step."""
    later = iter([0.5, 0.6, 0.7, 0.4])

    def evaluate(model: torch.nn.Module) -> float:
        return start_metric if not evals_seen else next(later)

    evals_seen: list[int] = []
    model, plain = TinyDual(), TinyDual()
    start = weights(model)
    common = {"batch_size": 4, "max_steps": 4, "lr": 1e-2, "eval_every": 1}
    r = fit(
        model,
        examples,
        eval_start=True,
        patience=3,
        callbacks=[lambda s: evals_seen.append(s.step)],
        evaluate=evaluate,
        **common,
    )
    assert r.evals[0]["step"] == 0 and r.evals[0]["metric"] == start_metric
    if start_metric == 0.8:  # every step worse: stopped by patience after 3, the start restored
        assert r.stopped_early and r.steps == 3 and r.best_step == 0 and r.restored_best
        assert same_weights(weights(model), start)
    else:  # the start loses: the same run as without eval_start
        assert r.best_step == 3 and r.best_metric == 0.7 and r.steps == 4
        plain_metrics = iter([0.5, 0.6, 0.7, 0.4])
        p = fit(plain, examples, patience=3, evaluate=lambda m: next(plain_metrics), **common)
        assert p.best_step == 3 and p.restored_best
        assert same_weights(weights(model), weights(plain))


def test_evaluation_does_not_perturb_training(examples: list[ListExample]) -> None:
    def noisy_eval(model: torch.nn.Module) -> float:
        torch.rand(5)
        np.random.rand(3)
        return 0.0

    a, b = TinyDual(dropout=0.3), TinyDual(dropout=0.3)
    fit(a, examples, batch_size=4, max_steps=6, eval_every=2, keep_best=False, evaluate=noisy_eval)
    fit(b, examples, batch_size=4, max_steps=6, keep_best=False)
    assert same_weights(weights(a), weights(b))


class Crash(RuntimeError):
    pass


def crash_at(step: int) -> Any:
    def callback(state: TrainState) -> None:
        if state.step == step:
            raise Crash(f"simulated crash at step {step}")

    return callback


def test_crash_and_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    ex = make_examples(20, ragged=True)  # 20 lists, batch 3 x accumulation 2: 4 steps per epoch
    settings = {
        "batch_size": 3,
        "grad_accumulation": 2,
        "max_steps": 10,
        "lr": 1e-2,
        "bucket_by_length": True,
        "eval_every": 3,
    }

    def evaluate(model: torch.nn.Module) -> float:
        return -float(sum(p.abs().sum() for p in model.parameters()))

    reference = TinyDual(dropout=0.2)
    full = fit(reference, ex, evaluate=evaluate, **settings)
    assert full.steps == 10 and full.epochs == 3

    ckpt = tmp_path / "ckpt"
    crashed = TinyDual(dropout=0.2)
    with pytest.raises(Crash):
        fit(
            crashed,
            ex,
            evaluate=evaluate,
            checkpoint_dir=ckpt,
            checkpoint_every=4,
            callbacks=[crash_at(6)],
            **settings,
        )
    assert latest_checkpoint(ckpt) == ckpt / "checkpoint-00000004.pt"

    steps: list[int] = []
    resumed_model = TinyDual(dropout=0.2, seed=123)  # a fresh process: other initial weights
    resumed = fit(
        resumed_model,
        ex,
        evaluate=evaluate,
        checkpoint_dir=ckpt,
        checkpoint_every=4,
        callbacks=[lambda s: steps.append(s.step)],
        **settings,
    )
    assert resumed.resumed_from == 4 and steps == [5, 6, 7, 8, 9, 10]
    assert same_weights(weights(resumed_model), weights(reference))
    assert resumed.losses == full.losses
    assert resumed.evals == full.evals and resumed.best_step == full.best_step
    assert resumed.cost.n_queries == 6  # this call's steps only
    assert sorted(p.name for p in ckpt.iterdir()) == ["checkpoint-00000008.pt", "checkpoint-00000010.pt"]

    # A finished run resumes to its end without training again.
    again_model = TinyDual(seed=5, dropout=0.2)
    again = fit(again_model, ex, evaluate=evaluate, checkpoint_dir=ckpt, **settings)
    assert again.resumed_from == 10 and again.steps == 10 and again.cost.n_queries == 0
    assert same_weights(weights(again_model), weights(reference))


def test_resume_refuses_other_settings_or_data(tmp_path: Path, examples: list[ListExample]) -> None:
    fit(TinyDual(), examples, batch_size=4, max_steps=2, checkpoint_dir=tmp_path)
    with pytest.raises(
        ValueError, match=r"written with other settings \(batch_size: 4 -> 8, lr: 2e-05 -> 0\.001\)"
    ):
        fit(TinyDual(), examples, batch_size=8, lr=1e-3, max_steps=2, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="the checkpoint was written for other training lists"):
        fit(TinyDual(), examples[:-1], batch_size=4, max_steps=2, checkpoint_dir=tmp_path)
    r = fit(TinyDual(), examples, batch_size=8, max_steps=2, checkpoint_dir=tmp_path, resume=False)
    assert r.resumed_from is None and r.steps == 2


def test_fit_errors(examples: list[ListExample]) -> None:
    with pytest.raises(ValueError, match="fit\\(\\) got no training examples"):
        fit(TinyDual(), [])
    with pytest.raises(ValueError, match="patience is set but fit\\(\\) got no evaluate function"):
        fit(TinyDual(), examples, patience=2)
    no_teacher = [ListExample(e.query, e.docs, e.labels) for e in examples]
    with pytest.raises(
        ValueError, match="loss 'margin_mse' needs teacher scores, but 32 of 32 training lists"
    ):
        fit(TinyDual(), no_teacher, loss="margin_mse")

    class ListOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def list_scores(self, queries: Any, docs: Any) -> torch.Tensor:
            return self.w * torch.ones(len(docs), len(docs[0]))

    with pytest.raises(ValueError, match="in_batch needs a model with encode_queries/encode_docs/similarity"):
        fit(ListOnly(), examples, in_batch=True)
    with pytest.raises(
        ValueError, match=r"fit needs a model with list_scores\(queries, docs\).*Linear has none"
    ):
        fit(torch.nn.Linear(2, 1), examples)  # was an AttributeError from inside torch
    with pytest.raises(
        ValueError, match="loss 'in_batch_softmax': temperature must be a positive number, got -1"
    ):
        Trainer(in_batch=True, loss_kwargs={"temperature": -1})


def test_nan_loss_stops_training_before_the_update(examples: list[ListExample]) -> None:
    class NanAtStep3(TinyDual):
        calls = 0

        def list_scores(self, queries: Any, docs: Any) -> torch.Tensor:
            self.calls += 1
            scores = super().list_scores(queries, docs)
            return scores * float("nan") if self.calls == 3 else scores

    model = NanAtStep3()
    seen: list[dict[str, torch.Tensor]] = []
    with pytest.raises(FloatingPointError, match="the training loss is nan at step 3"):
        fit(model, examples, loss="bce", batch_size=4, callbacks=[lambda s: seen.append(weights(model))])
    assert len(seen) == 2 and same_weights(weights(model), seen[-1])


def test_progress_bar_and_config_file(tmp_path: Path, examples: list[ListExample]) -> None:
    path = tmp_path / "train.toml"
    path.write_text('loss = "softmax"\nmax_steps = 2\nbatch_size = 4\nshow_progress = true\n')
    r = Trainer(path, seed=3).fit(TinyDual(), examples)
    assert r.steps == 2 and r.best_step is None and not r.restored_best
    assert Trainer(path, seed=3).config.seed == 3
    assert r.to_dict()["cost"]["items"] == 2 * 4 * 4
