"""Inference cost of recommenders: parameters and milliseconds per user to score the full catalogue.

``ms_per_user`` is measured the way a recommender serves a catalogue offline: every evaluated user's
scores for all items, computed in batches of ``batch_size`` users (``score_all``), total wall time divided
by the number of users. Models are timed in interleaved rounds (model A, model B, ..., then again) and
the median round is kept, so background load on a shared machine spreads over all models instead of
penalising whichever ran while the machine was busy. ``latency_ms`` is the median time of one user alone
(batch of 1), which is dominated by per-call overhead for models this small.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from distillrank.evaluation.cost import count_parameters
from distillrank.recsys.data import SequentialData, last_items
from distillrank.recsys.metrics import SequenceScorer

__all__ = ["measure_inference"]


@torch.no_grad()
def measure_inference(
    models: Mapping[str, SequenceScorer],
    data: SequentialData,
    *,
    part: str = "test",
    batch_size: int = 256,
    rounds: int = 5,
    single_user_calls: int = 50,
) -> dict[str, dict[str, Any]]:
    """``{name: {"params", "ms_per_user", "latency_ms", "rounds_ms_per_user"}}`` for each model."""
    users = data.eval_users(part)
    history = data.history(part)
    inputs = {}
    for name, model in models.items():
        if hasattr(model, "eval"):
            model.eval()
        seqs = last_items([history[u] for u in users], model.history_length, data.pad)
        inputs[name] = [
            (torch.from_numpy(users[i : i + batch_size]), torch.from_numpy(seqs[i : i + batch_size]))
            for i in range(0, len(users), batch_size)
        ]
    per_round: dict[str, list[float]] = {name: [] for name in models}
    single: dict[str, list[float]] = {name: [] for name in models}
    for r in range(rounds + 1):  # round 0 warms up
        for name, model in models.items():
            t0 = time.perf_counter()
            for u, s in inputs[name]:
                model.score_all(u, s)
            if r:
                per_round[name].append((time.perf_counter() - t0) * 1000 / max(len(users), 1))
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(users), size=single_user_calls) if len(users) else np.zeros(0, np.int64)
    for name, model in models.items():
        seqs = last_items([history[u] for u in users], model.history_length, data.pad)
        for i in picks:
            u, s = torch.tensor([int(users[i])]), torch.from_numpy(seqs[i : i + 1])
            t0 = time.perf_counter()
            model.score_all(u, s)
            single[name].append((time.perf_counter() - t0) * 1000)
    return {
        name: {
            "params": count_parameters(model),
            "ms_per_user": statistics.median(per_round[name]) if per_round[name] else float("nan"),
            "latency_ms": statistics.median(single[name]) if single[name] else float("nan"),
            "rounds_ms_per_user": [round(v, 5) for v in per_round[name]],
        }
        for name, model in models.items()
    }
