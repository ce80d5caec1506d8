"""Training steps (``step(batch_indices, epoch) -> loss``) for :func:`~distillrank.recsys.train.fit`.

Each step builds a score list per training instance and calls a loss of :mod:`distillrank.losses`
(one loss, one place); nothing here re-implements loss maths.

* :func:`bce_step` — Caser's objective: the ``T`` next items are positives, ``n_neg`` uniform unseen
  items per target negatives, sigmoid cross-entropy **summed** over the list (as in Caser and the RD
  paper: ``-sum_t log sigma(y_t) - sum_j log(1 - sigma(y_j))``), averaged over instances.
* :func:`sampled_list_step` — two-tower losses on ``[positive, n_neg sampled negatives]`` lists:
  ``"sampled_softmax"`` (softmax over 1 positive + 10-20 negatives), ``"pair_ce"`` (RankNet on
  (positive, negative) pairs), ``"triplet"`` (hinge with a margin).
* :func:`in_batch_step` — full-product softmax (FPS): a ``[B, B]`` matrix of every user of the batch
  against every positive of the batch, the other users' positives being the negatives
  (``"in_batch_softmax"``). Entries that are known positives of the row's user (duplicates of its item
  in the batch, or items in its training history) are masked out of the softmax, and the logits are
  corrected by the log of each item's in-batch sampling probability (logQ, see :func:`in_batch_step`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from distillrank.losses import get_loss
from distillrank.recsys.caser import Caser
from distillrank.recsys.data import NegativeSampler, TrainingWindows, to_tensor
from distillrank.recsys.train import Step
from distillrank.recsys.two_tower import TwoTower

__all__ = ["TWO_TOWER_LOSSES", "bce_step", "bce_sum", "in_batch_step", "sampled_list_step"]

TWO_TOWER_LOSSES = ("sampled_softmax", "pair_ce", "triplet", "in_batch_softmax")


def bce_sum(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over instances of the BCE *summed* over each list's valid entries (the ``"bce"`` loss gives the
    per-list mean; times the number of valid entries, the sum)."""
    per_list = get_loss("bce")(scores, labels, mask=mask, reduction="none")
    return (per_list * mask.sum(-1).to(per_list.dtype)).mean()


def _batch(windows: TrainingWindows, idx: np.ndarray) -> tuple[torch.Tensor, ...]:
    return (
        to_tensor(windows.users[idx]),
        to_tensor(windows.inputs[idx]),
        to_tensor(windows.targets[idx]),
        to_tensor(windows.target_mask[idx]),
    )


def positives_and_negatives(
    windows: TrainingWindows, idx: np.ndarray, sampler: NegativeSampler, n_neg: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``users, inputs, items [B, T + n_neg], labels, mask`` for a minibatch: targets then negatives."""
    users, inputs, targets, tmask = _batch(windows, idx)
    negs = to_tensor(sampler.sample(windows.users[idx], n_neg))
    items = torch.cat([targets, negs], 1)
    labels = torch.cat([torch.ones_like(targets, dtype=torch.float32), torch.zeros(negs.shape)], 1)
    mask = torch.cat([tmask, torch.ones(negs.shape, dtype=torch.bool)], 1)
    return users, inputs, items, labels, mask


def bce_step(
    model: Caser | TwoTower, windows: TrainingWindows, sampler: NegativeSampler, n_neg: int = 3
) -> Step:
    """Caser's ground-truth objective with ``n_neg`` sampled negatives per target (see the module doc)."""
    n_total = n_neg * windows.targets.shape[1]

    def step(idx: np.ndarray, epoch: int) -> torch.Tensor:
        users, inputs, items, labels, mask = positives_and_negatives(windows, idx, sampler, n_total)
        return bce_sum(model(users, inputs, items), labels, mask)

    return step


def sampled_list_step(
    model: TwoTower,
    windows: TrainingWindows,
    sampler: NegativeSampler,
    loss: str = "sampled_softmax",
    n_neg: int = 16,
    **hyper: Any,
) -> Step:
    """A list loss (``sampled_softmax``, ``pair_ce``, ``triplet``...) on ``[positive, n_neg negatives]``."""
    fn = get_loss(loss, **hyper)

    def step(idx: np.ndarray, epoch: int) -> torch.Tensor:
        users, inputs, items, labels, mask = positives_and_negatives(windows, idx, sampler, n_neg)
        return fn(model(users, inputs, items), labels, mask=mask)

    return step


def in_batch_step(
    model: TwoTower,
    windows: TrainingWindows,
    sampler: NegativeSampler,
    *,
    logq: bool = True,
    **hyper: Any,
) -> Step:
    """Full-product softmax with in-batch negatives (see the module docstring); uses the first target.

    In-batch negatives are the batch's positives, so an item is a negative in proportion to its
    popularity ``q_j``. With ``logq=True`` (default) the logits are corrected to ``s_bj - log q_j`` before
    the softmax (Yi et al. 2019, "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item
    Recommendations", RecSys): without it, popular items are over-penalised, which costs much on data
    where popularity matters (MovieLens).
    """
    fn = get_loss("in_batch_softmax", **hyper)
    counts = np.bincount(windows.targets[:, 0], minlength=sampler.n_items).astype(np.float64)
    log_q = torch.from_numpy(np.log(np.maximum(counts, 1.0) / max(counts.sum(), 1.0))).float()

    def step(idx: np.ndarray, epoch: int) -> torch.Tensor:
        users, inputs, targets, _ = _batch(windows, idx)
        pos = targets[:, 0]
        scores = model.similarity(model.encode_users(users, inputs), model.encode_items(pos))  # [B, B]
        if logq:
            scores = scores - log_q[pos].unsqueeze(0)
        known = sampler.seen(windows.users[idx], np.broadcast_to(pos.numpy(), (len(idx), len(idx))))
        mask = ~torch.from_numpy(known) | torch.eye(len(idx), dtype=torch.bool)
        return fn(scores, mask=mask)

    return step
