"""Top-N ranking metrics over the full catalogue: ``P@k``, ``R@k``, ``nDCG@k`` and ``MAP``.

Protocol (the one of Caser and Ranking Distillation, Tang & Wang 2018): for each user with held-out
items, the model scores **every** item; the items the user already had before the evaluated part (the
training items for validation, training + validation items for test) are removed from the ranking; the
held-out items are the relevant ones (binary relevance). Ties are broken by item index (a stable sort),
so results are deterministic.

With ``R`` the held-out items of a user and ``rank(i)`` the 1-based position of item ``i`` in the ranking:

* ``P@k = |{i in R: rank(i) <= k}| / k`` and ``R@k = |{i in R: rank(i) <= k}| / |R|``;
* ``nDCG@k = sum_{i in R, rank(i) <= k} 1 / log2(rank(i) + 1)  /  sum_{j=1}^{min(|R|, k)} 1 / log2(j + 1)``;
* ``AP = (1 / |R|) sum_{i in R} |{i' in R: rank(i') <= rank(i)}| / rank(i)`` over the full ranking
  (every held-out item is ranked, so this is exact), and ``MAP`` its mean over users.

Sampled metrics (each user's held-out items ranked against ``sampled`` random unseen items instead of
the whole catalogue) are available with ``sampled=N`` but are **not** the default: they are known to
disagree with full-ranking metrics, even in the order of models (Krichene & Rendle, KDD 2020).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from distillrank.recsys.data import SequentialData, last_items

__all__ = [
    "DEFAULT_KS",
    "RankingResult",
    "SequenceScorer",
    "evaluate_ranking",
    "metrics_from_ranks",
    "target_ranks",
]

DEFAULT_KS = (3, 5, 10)
_MAX_SCORES = 20_000_000  # at most this many scores in memory at once (batch x catalogue)


@runtime_checkable
class SequenceScorer(Protocol):
    """A next-item recommender: scores of every item for users given their recent items."""

    @property
    def history_length(self) -> int:
        """How many recent items (``L``) the model reads."""
        ...

    def score_all(self, users: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
        """``[B, n_items]`` scores for ``users [B]`` with recent items ``seqs [B, L]`` (left-padded)."""
        ...


def target_ranks(
    scores: torch.Tensor,
    targets: Sequence[np.ndarray],
    exclude: Sequence[np.ndarray] | None = None,
    allowed: Sequence[np.ndarray] | None = None,
) -> list[np.ndarray]:
    """1-based rank of each target item of each row after removing excluded items.

    Args:
        scores: ``[B, n_items]``.
        targets: per row, the relevant item indices (never excluded).
        exclude: per row, items removed from the ranking (already seen).
        allowed: per row, the only items ranked (sampled evaluation); ``exclude`` is then ignored.
    """
    s = torch.nan_to_num(scores.detach().float().clone(), nan=-torch.inf)
    b, n = s.shape
    if allowed is not None:
        keep = torch.zeros(b, n, dtype=torch.bool)
        rows, cols = _flat(allowed)
        keep[rows, cols] = True
        trows, tcols = _flat(targets)
        keep[trows, tcols] = True
        s[~keep] = -torch.inf
    elif exclude is not None:
        excluded = torch.zeros(b, n, dtype=torch.bool)
        rows, cols = _flat(exclude)
        excluded[rows, cols] = True
        trows, tcols = _flat(targets)
        if bool(excluded[trows, tcols].any()):
            raise ValueError("a target item is also an excluded item: its rank would be meaningless")
        s[excluded] = -torch.inf
    values = s.numpy()
    ascending = np.sort(values, axis=1)  # numpy's sort: much faster than torch's on CPU
    out = []
    for i, t in enumerate(targets):
        t = np.asarray(t, dtype=np.int64)
        own = values[i, t]
        right = np.searchsorted(ascending[i], own, side="right")
        left = np.searchsorted(ascending[i], own, side="left")
        rank = 1 + (n - right)  # items scoring strictly higher
        for j in np.flatnonzero(right - left > 1):  # ties: the lower item index ranks first
            rank[j] += int(np.count_nonzero(values[i, : t[j]] == own[j]))
        out.append(rank.astype(np.int64))
    return out


def _flat(lists: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    lens = [len(x) for x in lists]
    rows = np.repeat(np.arange(len(lists)), lens)
    cols = np.concatenate([np.asarray(x, dtype=np.int64) for x in lists]) if lists else np.zeros(0)
    return torch.from_numpy(rows.astype(np.int64)), torch.from_numpy(cols.astype(np.int64))


def metrics_from_ranks(ranks: np.ndarray, ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """``P@k``, ``R@k``, ``nDCG@k`` for each ``k`` and ``AP`` of one user from the 1-based ranks of their
    relevant items (see the module docstring for the formulas).

    >>> m = metrics_from_ranks(np.array([1, 4]), ks=(3,))
    >>> round(m["P@3"], 4), round(m["nDCG@3"], 4), round(m["AP"], 4)
    (0.3333, 0.6131, 0.75)
    """
    r = np.sort(np.asarray(ranks, dtype=np.float64))
    out: dict[str, float] = {}
    n_rel = len(r)
    if n_rel == 0:
        raise ValueError("a user without relevant items has no ranking metrics")
    gains = 1.0 / np.log2(r + 1.0)
    for k in ks:
        hit = r <= k
        out[f"P@{k}"] = float(hit.sum() / k)
        out[f"R@{k}"] = float(hit.sum() / n_rel)
        ideal = float((1.0 / np.log2(np.arange(2, min(n_rel, k) + 2))).sum())
        out[f"nDCG@{k}"] = float(gains[hit].sum() / ideal)
    out["AP"] = float((np.arange(1, n_rel + 1) / r).mean())
    return out


@dataclass
class RankingResult:
    """Mean metrics over the evaluated users, and the per-user values (for significance tests)."""

    metrics: dict[str, float]
    per_user: dict[str, np.ndarray] = field(repr=False)
    users: np.ndarray = field(repr=False)

    def __getitem__(self, name: str) -> float:
        return self.metrics[name]


@torch.no_grad()
def evaluate_ranking(
    model: SequenceScorer,
    data: SequentialData,
    part: str = "test",
    *,
    ks: Sequence[int] = DEFAULT_KS,
    batch_size: int = 1024,
    sampled: int | None = None,
    seed: int = 0,
    max_users: int | None = None,
) -> RankingResult:
    """Rank the full catalogue for every user with held-out items in ``part`` (``"valid"`` or ``"test"``).

    Args:
        model: a :class:`SequenceScorer` (put in eval mode here).
        ks: cut-offs for ``P@k``, ``R@k``, ``nDCG@k``.
        sampled: rank each user's held-out items against this many random unseen items only (sampled
            metrics; not recommended, see the module docstring).
        max_users: evaluate a random subset of users (faster validation during training).
    """
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    users = data.eval_users(part)
    rng = np.random.default_rng(seed)
    if max_users is not None and len(users) > max_users:
        users = np.sort(rng.choice(users, size=max_users, replace=False))
    history = data.history(part)
    targets = data.targets(part)
    batch_size = max(1, min(batch_size, _MAX_SCORES // max(data.n_items, 1)))  # bound the score matrix
    seqs = last_items([history[u] for u in users], model.history_length, data.pad)
    per_user: dict[str, list[float]] = {}
    for start in range(0, len(users), batch_size):
        bu = users[start : start + batch_size]
        scores = model.score_all(torch.from_numpy(bu), torch.from_numpy(seqs[start : start + batch_size]))
        tg = [targets[u] for u in bu]
        if sampled is None:
            ranks = target_ranks(scores, tg, exclude=[history[u] for u in bu])
        else:
            allowed = []
            for u, t in zip(bu, tg, strict=True):
                forbidden = np.zeros(data.n_items, dtype=bool)
                forbidden[history[u]] = True
                forbidden[t] = True
                pool = np.flatnonzero(~forbidden)
                allowed.append(rng.choice(pool, size=min(sampled, len(pool)), replace=False))
            ranks = target_ranks(scores, tg, allowed=allowed)
        for r in ranks:
            for name, v in metrics_from_ranks(r, ks).items():
                per_user.setdefault(name, []).append(v)
    if was_training and hasattr(model, "train"):
        model.train()
    arrays = {k: np.asarray(v) for k, v in per_user.items()}
    if "AP" in arrays:
        arrays["MAP"] = arrays.pop("AP")
    means = {k: float(v.mean()) if len(v) else 0.0 for k, v in arrays.items()}
    return RankingResult(means, arrays, users)
