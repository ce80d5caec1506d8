"""Ranking Distillation: weights of every scheme, catalogue ranks, the teacher's top-K, and training that
beats random on the synthetic data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from distillrank.data.interactions import Interactions
from distillrank.losses import get_loss
from distillrank.recsys.caser import Caser, CaserConfig
from distillrank.recsys.data import NegativeSampler, make_windows, split_sequential
from distillrank.recsys.distill import WEIGHTINGS, RDConfig, catalogue_ranks, rd_step, teacher_topk
from distillrank.recsys.metrics import evaluate_ranking
from distillrank.recsys.objectives import bce_step, in_batch_step, sampled_list_step
from distillrank.recsys.train import TrainConfig, fit, set_seed
from distillrank.recsys.two_tower import TwoTower, TwoTowerConfig

K = 4


def _weights(weighting: str, student_ranks: list[float] | None = None, lam: float = 1.0) -> list[float]:
    """The RD weights the loss applies: with student scores 0, -log sigma(0) = log 2 per item, and one
    item at a time switched on through a unit-weight difference of the loss."""
    loss = get_loss(
        "rank_distillation", top_k=K, weighting=weighting, lam=lam, mu=0.1, alpha=1.0, reduction="none"
    )
    teacher = torch.tensor([[4.0, 3.0, 2.0, 1.0]])  # the list is in the teacher's order: r = 1..4
    ranks = None if student_ranks is None else torch.tensor([student_ranks])
    out = []
    for r in range(K):
        scores = torch.zeros(1, K, requires_grad=True)
        value = loss(scores, teacher_scores=teacher, student_ranks=ranks)
        (grad,) = torch.autograd.grad(value.sum(), scores)
        out.append(float(-grad[0, r] / 0.5))  # d/ds (-w log sigma(s)) at 0 = -w / 2
    return out


def test_static_weights_of_each_scheme() -> None:
    assert _weights("uniform") == pytest.approx([0.25] * 4)
    inv = [1, 1 / 2, 1 / 3, 1 / 4]
    assert _weights("inverse") == pytest.approx([w / sum(inv) for w in inv])
    ex = [math.exp(-r / 2.0) for r in range(1, 5)]
    assert _weights("exp", lam=2.0) == pytest.approx([w / sum(ex) for w in ex])


def test_dynamic_and_hybrid_weights_use_the_given_catalogue_ranks() -> None:
    # the student ranks the teacher's 1st item 1st (no discrepancy), the others far below
    ranks = [1.0, 52.0, 3.0, 1000.0]
    dyn = [0.0, math.tanh(0.1 * 50), math.tanh(0.1 * 0), math.tanh(0.1 * 996)]
    assert _weights("dynamic", ranks) == pytest.approx(dyn, abs=1e-6)
    ex = [math.exp(-r) for r in range(1, 5)]
    hybrid = [e / sum(ex) * d for e, d in zip(ex, dyn, strict=True)]
    assert _weights("hybrid", ranks) == pytest.approx(hybrid, abs=1e-6)
    # without catalogue ranks the loss falls back to ranks within the list
    assert _weights("dynamic") == pytest.approx([0.0] * 4)


def test_catalogue_ranks_skip_excluded_items() -> None:
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5]])
    excluded = torch.tensor([[True, False, False, False, False]])
    assert catalogue_ranks(scores, torch.tensor([[3, 1]]), excluded).tolist() == [[3, 1]]


@pytest.fixture(scope="module")
def trained(synthetic: Interactions) -> dict[str, object]:
    data = split_sequential(synthetic)
    windows = make_windows(data, L=3, T=2)
    set_seed(0)
    teacher = Caser(CaserConfig(data.n_users, data.n_items, d=16, L=3, dropout=0.1))
    cfg = TrainConfig(epochs=25, batch_size=64, lr=0.01, patience=25, eval_every=5)
    fit(teacher, bce_step(teacher, windows, NegativeSampler(data)), len(windows), data, cfg)
    return {"data": data, "windows": windows, "teacher": teacher, "cfg": cfg}


def _random_ndcg(data, seed: int = 0) -> float:
    class Random:
        history_length = 1

        def score_all(self, users: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
            return torch.rand(len(users), data.n_items, generator=torch.Generator().manual_seed(seed))

    return evaluate_ranking(Random(), data, "test").metrics["nDCG@10"]


def test_trained_caser_beats_random(trained: dict[str, object]) -> None:
    data = trained["data"]
    ndcg = evaluate_ranking(trained["teacher"], data, "test").metrics["nDCG@10"]  # type: ignore[arg-type]
    assert ndcg > 2 * _random_ndcg(data) and ndcg > 0.3


def test_teacher_topk_excludes_training_items(trained: dict[str, object]) -> None:
    data, windows = trained["data"], trained["windows"]
    topk = teacher_topk(trained["teacher"], windows, data, K=K)  # type: ignore[arg-type]
    assert topk.shape == (len(windows), K)  # type: ignore[arg-type]
    for u, row in zip(windows.users, topk, strict=True):  # type: ignore[attr-defined]
        assert not set(row.tolist()) & set(data.train[u].tolist())  # type: ignore[attr-defined]
        assert len(set(row.tolist())) == K


@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_rd_student_trains_with_every_weighting(trained: dict[str, object], weighting: str) -> None:
    data, windows = trained["data"], trained["windows"]
    topk = teacher_topk(trained["teacher"], windows, data, K=K)  # type: ignore[arg-type]
    set_seed(1)
    student = Caser(CaserConfig(data.n_users, data.n_items, d=8, L=3, dropout=0.1))  # type: ignore[attr-defined]
    step = rd_step(student, topk, windows, NegativeSampler(data), data, RDConfig(K=K, weighting=weighting))  # type: ignore[arg-type]
    cfg = TrainConfig(epochs=6, batch_size=64, lr=0.01, patience=6, eval_every=3)
    result = fit(student, step, len(windows), data, cfg)  # type: ignore[arg-type]
    assert np.isfinite([e.loss for e in result.history]).all()
    assert result.history[-1].loss < result.history[0].loss
    assert evaluate_ranking(student, data, "test").metrics["nDCG@10"] > _random_ndcg(data)  # type: ignore[arg-type]


def test_dynamic_weights_wait_for_the_start_epoch(trained: dict[str, object]) -> None:
    """Before ``dynamic_start_epoch`` hybrid is exactly the exp loss (and dynamic the uniform one), as in
    the authors' code; from that epoch on the rank-discrepancy weights apply."""
    data, windows = trained["data"], trained["windows"]
    topk = teacher_topk(trained["teacher"], windows, data, K=K)  # type: ignore[arg-type]
    student = Caser(CaserConfig(data.n_users, data.n_items, d=8, L=3, dropout=0.0))  # type: ignore[attr-defined]
    student.eval()
    idx = np.arange(32)

    def loss(weighting: str, epoch: int, start: int = 3) -> float:
        cfg = RDConfig(K=K, weighting=weighting, alpha=5.0, dynamic_start_epoch=start)
        step = rd_step(student, topk, windows, NegativeSampler(data, seed=7), data, cfg)  # type: ignore[arg-type]
        with torch.no_grad():
            return float(step(idx, epoch))

    assert loss("hybrid", 1) == pytest.approx(loss("exp", 1))
    assert loss("dynamic", 2) == pytest.approx(loss("uniform", 2))
    assert loss("hybrid", 3) != pytest.approx(loss("exp", 3))
    assert loss("hybrid", 1, start=0) == pytest.approx(loss("hybrid", 3))


def test_job_config_validation() -> None:
    from distillrank.recsys.pipeline import JobConfig

    with pytest.raises(ValueError, match="student_sizes"):
        JobConfig(teacher_d=20, student_sizes=(5, 30))
    with pytest.raises(ValueError, match="dynamic_start_epoch"):
        JobConfig(dynamic_start_epoch=-1)
    with pytest.raises(ValueError, match="teacher_n_neg"):
        JobConfig(teacher_n_neg=0)
    with pytest.raises(ValueError, match="weight_decays"):
        JobConfig(weight_decays=())
    # sizes and counts that would only fail deep in training (make_windows, the batch loop) fail here
    with pytest.raises(ValueError, match=r"L=0, tt_neg=-1: must be an integer of at least 1"):
        JobConfig(L=0, tt_neg=-1)
    with pytest.raises(ValueError, match=r"batch_size=2\.5"):
        JobConfig(batch_size=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lr, tt_lr and tt_finetune_lr must be positive"):
        JobConfig(lr=0.0)
    assert JobConfig(quick=True).effective().weight_decays == JobConfig().weight_decays[:1]
    # the default student is well under half the teacher and every student shares one budget
    cfg = JobConfig()
    assert cfg.student_d <= cfg.teacher_d // 2
    assert JobConfig(quick=True).effective().dynamic_start_epoch <= 2


def test_rd_config_validation() -> None:
    with pytest.raises(ValueError, match="weighting must be one of"):
        RDConfig(weighting="linear")
    with pytest.raises(ValueError, match="alpha"):
        RDConfig(alpha=-1)


@pytest.mark.parametrize("loss", ["sampled_softmax", "pair_ce", "triplet", "in_batch_softmax"])
def test_two_tower_losses_beat_random(synthetic: Interactions, loss: str) -> None:
    data = split_sequential(synthetic)
    windows = make_windows(data, L=4, T=1)
    set_seed(0)
    model = TwoTower(TwoTowerConfig(data.n_users, data.n_items, d=16, hidden=32, L=4))
    sampler = NegativeSampler(data)
    step = (
        in_batch_step(model, windows, sampler)
        if loss == "in_batch_softmax"
        else sampled_list_step(model, windows, sampler, loss, n_neg=10)
    )
    cfg = TrainConfig(epochs=12, batch_size=32, lr=0.01, patience=12, eval_every=4)
    fit(model, step, len(windows), data, cfg)
    assert evaluate_ranking(model, data, "test").metrics["nDCG@10"] > 1.5 * _random_ndcg(data)


def test_two_tower_training_repeats_exactly_on_two_threads(larger_synthetic: Interactions) -> None:
    """One seed, one model: the item-table gather's backward (advanced indexing) summed in a
    thread-dependent order, so two-tower runs on two threads differed (a resumed job's figures too)."""
    data = split_sequential(larger_synthetic)
    windows = make_windows(data, L=4, T=1)

    def train() -> list[torch.Tensor]:
        set_seed(0)
        model = TwoTower(TwoTowerConfig(data.n_users, data.n_items, d=16, hidden=32, L=4))
        step = sampled_list_step(model, windows, NegativeSampler(data, seed=1), "sampled_softmax", n_neg=16)
        fit(model, step, len(windows), data, TrainConfig(epochs=2, batch_size=256, lr=0.01, eval_every=2))
        return [p.detach().clone() for p in model.parameters()]

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        first, second = train(), train()
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
