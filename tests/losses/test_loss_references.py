"""Losses against the formulas of peer implementations, written with torch.nn.functional directly."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from distillrank.losses import (
    bce_loss,
    in_batch_softmax_loss,
    listnet_loss,
    margin_loss,
    margin_mse_loss,
    pair_ce_loss,
    soft_label_loss,
    softmax_loss,
)

torch.set_num_threads(1)


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("temperature", [1.0, 0.05])
def test_in_batch_softmax_is_multiple_negatives_ranking_loss(temperature: float) -> None:
    # sentence-transformers' MultipleNegativesRankingLoss: cross_entropy(scale * sim, arange(B))
    sim = rand(8, 8)
    expected = F.cross_entropy(sim / temperature, torch.arange(8))
    torch.testing.assert_close(in_batch_softmax_loss(sim, temperature=temperature), expected)
    torch.testing.assert_close(in_batch_softmax_loss(sim, torch.eye(8), temperature=temperature), expected)


def test_in_batch_softmax_with_hard_negatives_is_cross_entropy_over_the_rows() -> None:
    sim = rand(4, 12, seed=1)  # 4 queries, their 4 positives then 8 hard negatives
    torch.testing.assert_close(in_batch_softmax_loss(sim), F.cross_entropy(sim, torch.arange(4)))


def test_symmetric_in_batch_softmax_is_clip() -> None:
    sim = rand(6, 6, seed=2)
    target = torch.arange(6)
    expected = 0.5 * (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target))
    torch.testing.assert_close(in_batch_softmax_loss(sim, symmetric=True), expected)


def test_margin_mse_is_mse_of_margins() -> None:
    s, t = rand(16, 2, seed=3), rand(16, 2, seed=4)
    expected = F.mse_loss(s[:, 0] - s[:, 1], t[:, 0] - t[:, 1])
    torch.testing.assert_close(margin_mse_loss(s, teacher_scores=t), expected)
    # several negatives per positive: the MSE over every (positive, negative) margin
    s, t = rand(16, 5, seed=5), rand(16, 5, seed=6)
    expected = F.mse_loss(s[:, :1] - s[:, 1:], t[:, :1] - t[:, 1:])
    torch.testing.assert_close(margin_mse_loss(s, teacher_scores=t), expected)


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_soft_label_is_hinton_kl(temperature: float) -> None:
    s, t = rand(5, 7, seed=7), rand(5, 7, seed=8)
    kl = F.kl_div(
        F.log_softmax(s / temperature, dim=-1), F.softmax(t / temperature, dim=-1), reduction="batchmean"
    )
    torch.testing.assert_close(
        soft_label_loss(s, teacher_scores=t, temperature=temperature), temperature**2 * kl
    )


def test_softmax_with_one_positive_is_cross_entropy() -> None:
    s = rand(6, 5, seed=9)
    target = torch.tensor([0, 3, 1, 4, 2, 0])
    labels = F.one_hot(target, 5).to(torch.float64)
    torch.testing.assert_close(softmax_loss(s, labels), F.cross_entropy(s, target))


def test_listnet_is_cross_entropy_with_soft_targets() -> None:
    s, y = rand(6, 5, seed=10), rand(6, 5, seed=11)
    torch.testing.assert_close(listnet_loss(s, y), F.cross_entropy(s, F.softmax(y, dim=-1)))


def test_bce_is_binary_cross_entropy_with_logits() -> None:
    s = rand(6, 5, seed=12)
    y = (rand(6, 5, seed=13) > 0).to(torch.float64)
    torch.testing.assert_close(bce_loss(s, y), F.binary_cross_entropy_with_logits(s, y))


def test_ranknet_and_margin_on_one_pair_per_list() -> None:
    s = rand(10, 2, seed=14)
    y = torch.tensor([[1.0, 0.0]]).expand(10, 2)
    diff = s[:, 0] - s[:, 1]
    torch.testing.assert_close(
        pair_ce_loss(s, y, sigma=2.0),
        F.binary_cross_entropy_with_logits(2.0 * diff, torch.ones(10, dtype=s.dtype)),
    )
    torch.testing.assert_close(
        margin_loss(s, y, margin=0.5),
        F.margin_ranking_loss(s[:, 0], s[:, 1], torch.ones(10, dtype=s.dtype), margin=0.5),
    )
