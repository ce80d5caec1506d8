"""Sequential recommendation data: a per-user temporal split, Caser training windows, negative sampling.

Conventions (every model and metric in :mod:`distillrank.recsys` follows them):

* Users and items are re-indexed ``0 .. n_users-1`` and ``0 .. n_items-1`` (``SequentialData.users`` and
  ``.items`` map back to the original ids). Item index ``n_items`` is the **padding** item of input
  sequences; models keep an extra embedding row for it, never score it.
* Each user's interactions are ordered by timestamp; ties (and unknown timestamps) keep the file order
  (a stable sort). Repeated (user, item) pairs keep their **first** occurrence only: the test items of a
  user are then never among the items that user already had, and ranking evaluation can exclude
  everything seen without excluding a target.
* The split is sequential per user: the **last** interactions are the test items, the ones just before
  them the validation items, the rest the training sequence. By default (the Caser / RD protocol,
  Tang & Wang 2018) 20% of each user's interactions are test and 10% validation, at least one each;
  ``n_test`` / ``n_valid`` give fixed counts instead (``n_test=1, n_valid=1`` is leave-one-out). Users
  with fewer than ``min_interactions`` interactions are kept for training only.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from distillrank.data.interactions import Interactions, timestamp_seconds
from distillrank.errors import DataFormatError, DataWarning

__all__ = [
    "NegativeSampler",
    "SequentialData",
    "TrainingWindows",
    "last_items",
    "make_windows",
    "split_sequential",
]


@dataclass
class SequentialData:
    """A temporal per-user split of an interaction table.

    Attributes:
        users, items: original ids of user index ``u`` and item index ``i``.
        train, valid, test: per user index, the item indices in time order (empty arrays when the user
            has none in that part).
        source: where the interactions came from.
        tied_share: the share of the interactions with a timestamp that tie with another of their user
            (their order, and so which of them are held out, is the file's).
        repeats_dropped: rows that repeat an earlier (user, item) pair, dropped (the first is kept).
    """

    users: list[str]
    items: list[str]
    train: list[np.ndarray]
    valid: list[np.ndarray]
    test: list[np.ndarray]
    source: str | None = None
    tied_share: float = 0.0
    repeats_dropped: int = 0
    _seen_keys: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        counts = ", ".join(
            f"{p}={sum(len(s) for s in getattr(self, p)):,}" for p in ("train", "valid", "test")
        )
        source = f", source={self.source!r}" if self.source else ""
        return (
            f"SequentialData({self.n_users:,} users, {self.n_items:,} items; interactions {counts}{source})"
        )

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def pad(self) -> int:
        """The padding item index of input sequences (``n_items``)."""
        return len(self.items)

    def history(self, part: str) -> list[np.ndarray]:
        """What a user has seen before ``part`` is predicted: ``train`` for ``valid``, ``train + valid``
        for ``test`` (the input sequence, and the items excluded from the ranking)."""
        if part == "valid":
            return self.train
        if part == "test":
            return [np.concatenate([t, v]) for t, v in zip(self.train, self.valid, strict=True)]
        raise ValueError(f"part must be 'valid' or 'test', not {part!r}")

    def targets(self, part: str) -> list[np.ndarray]:
        if part not in ("valid", "test"):
            raise ValueError(f"part must be 'valid' or 'test', not {part!r}")
        return self.valid if part == "valid" else self.test

    def eval_users(self, part: str) -> np.ndarray:
        """Users with at least one target item in ``part``."""
        return np.array([u for u, t in enumerate(self.targets(part)) if len(t)], dtype=np.int64)

    def seen_keys(self, part: str = "train") -> np.ndarray:
        """Sorted ``user * n_items + item`` keys of the items each user has in ``history(part)``
        (``part="train"``: the training items), for fast membership tests."""
        if part not in self._seen_keys:
            seqs = self.train if part == "train" else self.history(part)
            keys = [u * self.n_items + s.astype(np.int64) for u, s in enumerate(seqs)]
            self._seen_keys[part] = np.unique(np.concatenate(keys)) if keys else np.zeros(0, np.int64)
        return self._seen_keys[part]

    def seen_mask(self, users: np.ndarray, part: str = "train") -> torch.Tensor:
        """``[len(users), n_items]`` bool: True where the item is in the user's ``history(part)``
        (``"train"``: the training items)."""
        seqs = self.train if part == "train" else self.history(part)
        chosen = [seqs[u] for u in users]
        rows = np.repeat(np.arange(len(users)), [len(s) for s in chosen])
        cols = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
        mask = torch.zeros(len(users), self.n_items, dtype=torch.bool)
        mask[torch.from_numpy(rows), torch.from_numpy(cols.astype(np.int64))] = True
        return mask

    @functools.cached_property
    def few_decoy_users(self) -> int:
        """Test users with fewer than :data:`MIN_DECOYS` *decoys*: unseen items (not in their training or
        validation sequence) that are not their test items (counted once: the split does not change)."""
        few = 0
        for tr, va, te in zip(self.train, self.valid, self.test, strict=True):
            if len(te):
                seen = np.union1d(tr, va)
                few += self.n_items - len(seen) - len(np.setdiff1d(te, seen)) < MIN_DECOYS
        return few

    def stats(self) -> dict[str, int | float]:
        """Sizes of the split: users, items, interactions per part, and what the split could not do.

        ``train_only_users``: users with too few interactions to hold any out (fewer than three
        different items), kept for training and never evaluated; ``test_users``: users evaluated on
        test; ``cold_test``: test interactions whose item is in no user's training sequence (no model
        has learnt anything about it: a cold-start item the full-catalogue ranking still has to find);
        ``tied_timestamps_share``: see :attr:`tied_share`; ``repeats_dropped``: see
        :attr:`repeats_dropped`; ``few_decoy_test_users``: test users with
        fewer than :data:`MIN_DECOYS` unseen items that are not their test items (on a catalogue that
        small the top-10 metrics hardly tell models apart; with none, every order scores 1.0).
        """
        trained = np.zeros(self.n_items, dtype=bool)
        for seq in self.train:
            trained[seq] = True
        return {
            "few_decoy_test_users": self.few_decoy_users,
            "users": self.n_users,
            "items": self.n_items,
            "train": int(sum(len(s) for s in self.train)),
            "valid": int(sum(len(s) for s in self.valid)),
            "test": int(sum(len(s) for s in self.test)),
            "test_users": int(sum(len(t) > 0 for t in self.test)),
            "train_only_users": int(
                sum(len(t) == 0 and len(v) == 0 for t, v in zip(self.test, self.valid, strict=True))
            ),
            "cold_test": int(sum(int((~trained[t]).sum()) for t in self.test)),
            "tied_timestamps_share": round(self.tied_share, 4),
            "repeats_dropped": self.repeats_dropped,
        }


def split_sequential(
    interactions: Interactions | pd.DataFrame,
    *,
    test_fraction: float = 0.2,
    valid_fraction: float = 0.1,
    n_test: int | None = None,
    n_valid: int | None = None,
    min_interactions: int = 3,
) -> SequentialData:
    """Split interactions per user in time order: the last ones for test, those before for validation.

    Args:
        interactions: a table with ``user``, ``item`` and ``timestamp`` (numbers, datetimes or ISO 8601
            strings; empty: unknown) columns.
        test_fraction, valid_fraction: share of each user's interactions held out (rounded, at least 1).
        n_test, n_valid: fixed numbers of held-out interactions per user instead of the fractions.
        min_interactions: users with fewer interactions (after removing repeats) are training-only.

    Raises:
        DataFormatError: a missing column, a timestamp that is neither a number nor a date, or nothing
            left to train on.
    """
    df = interactions.df if isinstance(interactions, Interactions) else interactions
    source = interactions.source if isinstance(interactions, Interactions) else None
    for col in ("user", "item", "timestamp"):
        if col not in df.columns:
            raise DataFormatError(source, None, f"interactions lack a {col!r} column")
    if not (0 <= test_fraction < 1 and 0 <= valid_fraction < 1 and test_fraction + valid_fraction < 1):
        raise ValueError("test_fraction and valid_fraction must be in [0, 1) and sum to less than 1")
    seconds, bad, what = timestamp_seconds(df["timestamp"].reset_index(drop=True))
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise DataFormatError(
            source, None, f"record {r + 1}: timestamp {df['timestamp'].iloc[r]!r} is {what}"
        )
    frame = pd.DataFrame(
        {
            "user": df["user"].astype(str).to_numpy(),
            "item": df["item"].astype(str).to_numpy(),
            "timestamp": seconds.to_numpy(dtype=np.float64),
            "row": np.arange(len(df)),
        }
    )
    # time order per user; ties and unknown timestamps keep the file order
    frame["timestamp"] = frame["timestamp"].fillna(-np.inf)
    frame = frame.sort_values(["user", "timestamp", "row"], kind="stable")
    rows = len(frame)
    frame = frame.drop_duplicates(["user", "item"], keep="first")
    repeats = rows - len(frame)
    if frame.empty:
        raise DataFormatError(source, None, "no interactions")
    tied = _tied_share(frame, source)
    user_codes, users = pd.factorize(frame["user"], sort=True)
    item_codes, items = pd.factorize(frame["item"], sort=True)
    starts = np.flatnonzero(np.r_[True, user_codes[1:] != user_codes[:-1]])
    ends = np.r_[starts[1:], len(user_codes)]
    train, valid, test = [], [], []
    empty = np.zeros(0, dtype=np.int64)
    for s, e in zip(starts, ends, strict=True):
        seq = item_codes[s:e].astype(np.int64)
        n = len(seq)
        if n < max(min_interactions, 3):
            train.append(seq)
            valid.append(empty)
            test.append(empty)
            continue
        nt = n_test if n_test is not None else max(1, round(test_fraction * n))
        nv = n_valid if n_valid is not None else max(1, round(valid_fraction * n))
        nt = min(nt, n - 2)
        nv = min(nv, n - 1 - nt)
        cut_t, cut_v = n - nt, n - nt - nv
        train.append(seq[:cut_v])
        valid.append(seq[cut_v:cut_t])
        test.append(seq[cut_t:])
    data = SequentialData(
        list(map(str, users)),
        list(map(str, items)),
        train,
        valid,
        test,
        source=source,
        tied_share=tied,
        repeats_dropped=repeats,
    )
    _warn_few_decoys(data)
    return data


MIN_DECOYS = 10
"""A test user needs this many unseen items besides their test items for top-10 metrics to rank them
against anything (:attr:`SequentialData.few_decoy_users`)."""

FEW_DECOYS_WARNING = 0.05
"""Warn when more than this share of the test users have fewer than :data:`MIN_DECOYS` decoys."""


def _warn_few_decoys(data: SequentialData) -> None:
    few, users = data.few_decoy_users, int(sum(len(t) > 0 for t in data.test))
    if users and few > FEW_DECOYS_WARNING * users:
        warnings.warn(
            f"{data.source or 'interactions'}: {few:,} of {users:,} test users have fewer than {MIN_DECOYS} "
            "unseen items besides their test items (the catalogue is hardly larger than what they have "
            f"seen, {data.n_items:,} items): their top-10 metrics are near-perfect whatever the model, so "
            "the figures do not tell models apart",
            DataWarning,
            stacklevel=3,
        )


TIED_SHARE_WARNING = 0.9
"""Warn when more than this share of the interactions with a timestamp tie with another of their user:
the timestamps then barely order anything. (MovieLens-100K, rated in bursts within a second, has 0.76.)"""


def _tied_share(frame: pd.DataFrame, source: str | None) -> float:
    """The share of the interactions with a timestamp that share it with another of their user (their
    order is the file's), with one :class:`~distillrank.errors.DataWarning` when it is above
    :data:`TIED_SHARE_WARNING` (one timestamp for everything, dates of a few days)."""
    known = frame[np.isfinite(frame["timestamp"].to_numpy())]
    if known.empty:
        return 0.0
    share = float(known.duplicated(["user", "timestamp"], keep=False).mean())
    if share > TIED_SHARE_WARNING:
        warnings.warn(
            f"{source or 'interactions'}: {share:.0%} of the interactions share their timestamp with "
            "another of the same user (dates without a time?); the split puts those in file order, so "
            "which of them are held out for validation and test follows the file",
            DataWarning,
            stacklevel=3,
        )
    return share


def last_items(sequences: Sequence[np.ndarray], L: int, pad: int) -> np.ndarray:
    """``[n_users, L]`` the last ``L`` items of each sequence, left-padded with ``pad``."""
    out = np.full((len(sequences), L), pad, dtype=np.int64)
    for u, s in enumerate(sequences):
        tail = s[-L:] if L > 0 else s[:0]
        if len(tail):
            out[u, L - len(tail) :] = tail
    return out


@dataclass
class TrainingWindows:
    """Training instances ``(user, the L items before, the next T items)``.

    Attributes:
        users: ``[N]``; inputs: ``[N, L]`` (left-padded with the padding item); targets: ``[N, T]``;
        target_mask: ``[N, T]`` bool, False where a window near the end has fewer than ``T`` targets.
    """

    users: np.ndarray
    inputs: np.ndarray
    targets: np.ndarray
    target_mask: np.ndarray

    def __len__(self) -> int:
        return len(self.users)


def make_windows(data: SequentialData, L: int, T: int) -> TrainingWindows:
    """Caser's training windows: for every position ``t >= 1`` of each training sequence, the ``L`` items
    before ``t`` (left-padded) predict items ``t .. t+T-1``; positions stop at ``n - T`` so that every
    window but a short sequence's only one has ``T`` targets."""
    if L < 1 or T < 1:
        raise ValueError(f"L and T must be at least 1, got L={L}, T={T}")
    users, inputs, targets, masks = [], [], [], []
    pad = data.pad
    for u, seq in enumerate(data.train):
        n = len(seq)
        if n < 2:
            continue
        padded = np.concatenate([np.full(L, pad, dtype=np.int64), seq, np.full(T, pad, dtype=np.int64)])
        ts = np.arange(1, max(1, n - T) + 1)
        idx_in = ts[:, None] + np.arange(-L, 0)[None, :] + L
        idx_tg = ts[:, None] + np.arange(T)[None, :] + L
        users.append(np.full(len(ts), u, dtype=np.int64))
        inputs.append(padded[idx_in])
        tg = padded[idx_tg]
        targets.append(tg)
        masks.append(tg != pad)
    if not users:
        raise DataFormatError(data.source, None, "no user has two training interactions to learn from")
    tg = np.concatenate(targets)
    mask = np.concatenate(masks)
    tg = np.where(mask, tg, 0)  # a valid index where masked; the loss ignores it
    return TrainingWindows(np.concatenate(users), np.concatenate(inputs), tg, mask)


class NegativeSampler:
    """Uniform negatives for each user among the items not in that user's training history.

    Rejection sampling against sorted ``user * n_items + item`` keys: no dense user x item matrix, so it
    scales to large catalogues. A user who has seen almost every item gets whatever remains after
    ``max_rounds`` rounds of resampling (possibly seen items, which is then harmless noise).
    """

    def __init__(self, data: SequentialData, *, seed: int = 0, max_rounds: int = 20) -> None:
        self.n_items = data.n_items
        self.keys = data.seen_keys("train")
        self.rng = np.random.default_rng(seed)
        self.max_rounds = max_rounds

    def seen(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Bool array: whether ``items[i, j]`` is in the training history of ``users[i]``."""
        keys = users.reshape(-1, *([1] * (items.ndim - 1))) * self.n_items + items
        pos = np.searchsorted(self.keys, keys)
        pos = np.minimum(pos, len(self.keys) - 1)
        return self.keys[pos] == keys if len(self.keys) else np.zeros(keys.shape, dtype=bool)

    def sample(self, users: np.ndarray, n: int) -> np.ndarray:
        """``[len(users), n]`` item indices."""
        out = self.rng.integers(0, self.n_items, size=(len(users), n))
        for _ in range(self.max_rounds):
            bad = self.seen(users, out)
            if not bad.any():
                break
            out[bad] = self.rng.integers(0, self.n_items, size=int(bad.sum()))
        return out


def to_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))
