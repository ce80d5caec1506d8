"""The training loop every recommender here shares: seeds, shuffled minibatches, Adam, early stopping on
validation ``nDCG@10`` (the best weights are restored), and a per-epoch callback for progress display.

A trainer supplies only a *step*: ``step(batch_indices, epoch) -> loss`` computes the loss of a minibatch
of training instances (the objectives in :mod:`distillrank.recsys.objectives` and
:mod:`distillrank.recsys.distill` build them); :func:`fit` does the rest.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from distillrank.recsys.data import SequentialData
from distillrank.recsys.metrics import SequenceScorer, evaluate_ranking

__all__ = ["EpochLog", "FitResult", "Step", "TrainConfig", "fit", "set_seed"]

Step = Callable[[np.ndarray, int], torch.Tensor]
"""``step(batch_indices, epoch) -> scalar loss`` for a minibatch of training instances."""


@dataclass
class TrainConfig:
    """Optimisation and early-stopping settings.

    Attributes:
        epochs: maximum number of passes over the training instances.
        batch_size, lr, weight_decay: minibatch size and Adam's settings (``weight_decay`` is L2).
        eval_every: validate every this many epochs.
        patience: stop after this many validations without a better ``monitor`` value.
        monitor: the validation metric that selects the epoch (``nDCG@10``).
        valid_users: validate on a fixed random subset of this many users (``None``: all).
        seed: seeds Python, NumPy and torch before the model's training starts.
    """

    epochs: int = 30
    batch_size: int = 512
    lr: float = 1e-3
    weight_decay: float = 1e-6
    eval_every: int = 1
    patience: int = 5
    monitor: str = "nDCG@10"
    valid_users: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_every", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError("TrainConfig.lr must be positive and weight_decay non-negative")


@dataclass
class EpochLog:
    epoch: int
    loss: float
    valid: float | None
    seconds: float


@dataclass
class FitResult:
    """What :func:`fit` did: the selected epoch, its validation value, and every epoch's log."""

    best_epoch: int
    best_valid: float
    history: list[EpochLog] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "best_epoch": self.best_epoch,
            "best_valid": self.best_valid,
            "seconds": round(self.seconds, 2),
            "history": [asdict(h) for h in self.history],
        }


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fit(
    model: torch.nn.Module,
    step: Step,
    n_instances: int,
    data: SequentialData,
    config: TrainConfig,
    *,
    on_epoch: Callable[[EpochLog], None] | None = None,
    parameters: Any = None,
) -> FitResult:
    """Train ``model`` with ``step`` over ``n_instances`` instances; keep the best validation epoch.

    Args:
        model: a :class:`~distillrank.recsys.metrics.SequenceScorer` module.
        step: computes the loss of a minibatch (see the module docstring).
        n_instances: number of training instances (indices ``0 .. n_instances-1`` are shuffled).
        data: the split; its validation part drives early stopping.
        config: settings.
        on_epoch: called after every epoch with its :class:`EpochLog` (progress display).
        parameters: what the optimiser updates (default: all of ``model``'s parameters).

    Returns:
        The :class:`FitResult`; ``model`` holds the weights of the best validation epoch, in eval mode.
    """
    if n_instances < 1:
        raise ValueError("nothing to train on: no training instances")
    rng = np.random.default_rng(config.seed)
    optimiser = torch.optim.Adam(
        model.parameters() if parameters is None else parameters,
        lr=config.lr,
        weight_decay=config.weight_decay,
    )
    scorer: SequenceScorer = model  # type: ignore[assignment]
    best_state = copy.deepcopy(model.state_dict())
    best, best_epoch, since_best = -np.inf, 0, 0
    history: list[EpochLog] = []
    t_start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = rng.permutation(n_instances)
        total, batches = 0.0, 0
        for start in range(0, n_instances, config.batch_size):
            loss = step(order[start : start + config.batch_size], epoch)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach())
            batches += 1
        valid = None
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            result = evaluate_ranking(
                scorer, data, "valid", max_users=config.valid_users, seed=config.seed, ks=(10,)
            )
            valid = result.metrics.get(config.monitor, 0.0)
            if valid > best:
                best, best_epoch, since_best = valid, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                since_best += 1
        log = EpochLog(epoch, total / max(batches, 1), valid, time.perf_counter() - t0)
        history.append(log)
        if on_epoch is not None:
            on_epoch(log)
        if since_best >= config.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(best_epoch, float(best), history, time.perf_counter() - t_start)
