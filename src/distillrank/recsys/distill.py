"""Ranking Distillation (Tang & Wang, KDD 2018) for sequential recommenders.

For every training instance ``(u, S)`` (a user and the ``L`` items before a position), the teacher ranks
the whole catalogue; its top-``K`` items among those the user has **not** interacted with in training,
``pi_1 .. pi_K``, are cached once (:func:`teacher_topk`). The student then minimises

    L = sum_{t in targets} -log sigma(y_t) + sum_{j in negatives} -log(1 - sigma(y_j))
        + alpha * sum_{r=1}^{K} w_r * (-log sigma(y_{pi_r}))

(Caser's ground-truth BCE with sampled negatives, plus the distillation term). The distillation term and
its weights ``w_r`` — ``"inverse"`` (1/r), ``"uniform"``, ``"exp"`` (exp(-r/lambda)), ``"dynamic"``
(rank discrepancy ``tanh(max(0, mu (rhat_r - r)))``) and ``"hybrid"`` (exp x dynamic) — are the
``"rank_distillation"`` loss of :mod:`distillrank.losses`.

**Student ranks over the full catalogue.** The dynamic weights compare the teacher's rank ``r`` of an
item with the student's rank ``rhat_r``. The paper estimates ``rhat_r`` from a sample; here it is exact:
each step scores the whole catalogue with the student (no gradient; one ``[B, 2d] x [2d, n_items]``
product for Caser) and counts the items, among those the user has not interacted with in training (the
set the teacher ranked), that score higher. These ranks are passed to the loss as ``student_ranks``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import torch

from distillrank.losses import get_loss
from distillrank.recsys.data import NegativeSampler, SequentialData, TrainingWindows, to_tensor
from distillrank.recsys.objectives import bce_sum, positives_and_negatives
from distillrank.recsys.train import Step

__all__ = ["WEIGHTINGS", "RDConfig", "StateScorer", "catalogue_ranks", "rd_step", "teacher_topk"]

WEIGHTINGS = ("inverse", "uniform", "exp", "dynamic", "hybrid")


class StateScorer(Protocol):
    """A model that encodes (user, recent items) into a state and scores items from it (Caser does; the
    state is whatever the model's scoring methods take: a tensor, or a list of them for an ensemble)."""

    def user_state(self, users: torch.Tensor, seqs: torch.Tensor) -> Any: ...

    def score_items(self, x: Any, items: torch.Tensor) -> torch.Tensor: ...

    def score_catalogue(self, x: Any) -> torch.Tensor: ...


@dataclass
class RDConfig:
    """Ranking Distillation settings (the paper's defaults: ``K=10, lambda=1, mu=0.1``).

    Attributes:
        K: length of the teacher's exemplary ranking.
        weighting: ``"inverse"``, ``"uniform"``, ``"exp"``, ``"dynamic"`` or ``"hybrid"``.
        alpha: weight of the distillation term (chosen on validation).
        lam: sharpness ``lambda`` of the exp position weights.
        mu: sharpness of the rank-discrepancy weights.
        n_neg: sampled negatives per target for the ground-truth BCE.
        dynamic_start_epoch: for ``"dynamic"``/``"hybrid"``, epochs before this one use the static
            weights (``"uniform"``/``"exp"``), as the authors' code does; 0 uses the dynamic ones from the
            start.
    """

    K: int = 10
    weighting: str = "hybrid"
    alpha: float = 1.0
    lam: float = 1.0
    mu: float = 0.1
    n_neg: int = 3
    dynamic_start_epoch: int = 0

    def __post_init__(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"RDConfig.weighting must be one of {WEIGHTINGS}, not {self.weighting!r}")
        if self.K < 1 or self.n_neg < 0:
            raise ValueError("RDConfig.K must be at least 1 and n_neg non-negative")
        if self.alpha < 0 or self.lam <= 0 or self.mu <= 0:
            raise ValueError("RDConfig.alpha must be non-negative, lam and mu positive")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def teacher_topk(
    teacher: StateScorer,
    windows: TrainingWindows,
    data: SequentialData,
    K: int = 10,
    batch_size: int = 1024,
) -> np.ndarray:
    """``[n_instances, K]`` the teacher's top-``K`` items for every training instance, best first, among the
    items the instance's user has not interacted with in training."""
    if hasattr(teacher, "eval"):
        teacher.eval()
    out = np.zeros((len(windows), K), dtype=np.int64)
    batch_size = max(1, min(batch_size, 20_000_000 // max(data.n_items, 1)))  # bound the score matrix
    for start in range(0, len(windows), batch_size):
        sl = slice(start, start + batch_size)
        users = windows.users[sl]
        scores = teacher.score_catalogue(teacher.user_state(to_tensor(users), to_tensor(windows.inputs[sl])))
        scores = scores.masked_fill(data.seen_mask(users), -torch.inf)
        out[sl] = torch.topk(scores, K, dim=1, sorted=True).indices.numpy()
    return out


def catalogue_ranks(all_scores: torch.Tensor, items: torch.Tensor, excluded: torch.Tensor) -> torch.Tensor:
    """1-based rank of ``items [B, K]`` under ``all_scores [B, n_items]`` among the items not ``excluded``
    (``[B, n_items]`` bool): ``1 + #{j not excluded: s_j > s_item}``."""
    s = all_scores.detach().masked_fill(excluded, -torch.inf)
    own = all_scores.detach().gather(1, items).contiguous()
    ascending = torch.from_numpy(np.sort(s.numpy(), axis=1))  # numpy's sort is ~10x torch's on CPU here
    n_greater = s.shape[1] - torch.searchsorted(ascending, own, right=True)
    return 1 + n_greater


def rd_step(
    student: StateScorer,
    topk: np.ndarray,
    windows: TrainingWindows,
    sampler: NegativeSampler,
    data: SequentialData,
    config: RDConfig,
) -> Step:
    """The RD training step (see the module docstring) for :func:`~distillrank.recsys.train.fit`."""
    if topk.shape != (len(windows), config.K):
        raise ValueError(f"teacher top-K has shape {topk.shape}, expected {(len(windows), config.K)}")
    hyper = {"top_k": config.K, "lam": config.lam, "mu": config.mu, "alpha": config.alpha}
    losses = {
        w: get_loss("rank_distillation", weighting=w, include_ground_truth=False, **hyper) for w in WEIGHTINGS
    }
    # the cached list is in the teacher's order: these scores make the loss's teacher ranking r = 1..K
    teacher_order = torch.arange(config.K, 0, -1, dtype=torch.float32).expand(1, config.K)
    n_total = config.n_neg * windows.targets.shape[1]
    dynamic = config.weighting in ("dynamic", "hybrid")

    def step(idx: np.ndarray, epoch: int) -> torch.Tensor:
        users, inputs, items, labels, mask = positives_and_negatives(windows, idx, sampler, n_total)
        cand = to_tensor(topk[idx])
        x = student.user_state(users, inputs)
        scores = student.score_items(x, torch.cat([items, cand], 1))
        gt_scores, cand_scores = scores[:, : items.shape[1]], scores[:, items.shape[1] :]
        loss = bce_sum(gt_scores, labels, mask)
        if config.alpha == 0:
            return loss
        weighting = config.weighting
        kwargs: dict[str, Any] = {}
        if dynamic and epoch < config.dynamic_start_epoch:
            weighting = "exp" if weighting == "hybrid" else "uniform"
        elif dynamic:
            with torch.no_grad():
                all_scores = student.score_catalogue(x.detach())
            kwargs["student_ranks"] = catalogue_ranks(all_scores, cand, data.seen_mask(windows.users[idx]))
        rd = losses[weighting](cand_scores, teacher_scores=teacher_order.expand_as(cand_scores), **kwargs)
        return loss + rd

    return step
