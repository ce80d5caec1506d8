"""Logged bandit feedback for off-policy evaluation, and a logged policy's action distribution.

:class:`BanditFeedback` is the one record schema every estimator of :mod:`.estimators` reads: round ``i``
showed action ``action[i]`` at slot ``position[i]`` (0-based), observed ``reward[i]``, and the logging
(behaviour) policy chose that action at that slot with probability ``pscore[i]`` = ``pi_b(a_i | x_i, k_i)``.
It mirrors OBP's ``bandit_feedback`` dictionary (Saito et al., "Open Bandit Dataset and Pipeline",
NeurIPS 2021 D&B), typed and validated.

:func:`from_obd` builds it from an Open Bandit Dataset log through
:func:`~distillrank.data.formats.obd.read_obd`;
:func:`action_dist_from_logged_policy` turns another policy's log (its recorded propensities) into that
policy's context-free action distribution ``(n_actions, len_list)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from distillrank.data.formats.obd import locate_obd, read_obd, read_obd_item_context
from distillrank.errors import DataFormatError, DataWarning

__all__ = [
    "BanditFeedback",
    "PolicyCoverage",
    "action_dist_from_logged_policy",
    "from_obd",
    "logged_policy_coverage",
]


def _bad(source: str | None, mask: np.ndarray, name: str, values: np.ndarray, problem: str) -> None:
    """Raise for the first round where ``mask`` holds: ``source: record N (round i): name value problem``."""
    if mask.any():
        i = int(np.flatnonzero(mask)[0])
        raise DataFormatError(
            source, None, f"record {i + 1} (round {i}): {name} {values[i].item()!r} {problem}"
        )


@dataclass
class BanditFeedback:
    """Logged bandit feedback: one round per shown (action, slot), with the logging policy's propensity.

    Fields (``n = n_rounds``):
        n_actions: number of actions (items); actions are ``0 .. n_actions - 1``.
        len_list: number of slots; positions are ``0 .. len_list - 1``.
        action: ``(n,)`` int, the action shown in each round.
        position: ``(n,)`` int, its 0-based slot.
        reward: ``(n,)`` float, the observed reward (a click: 0/1).
        pscore: ``(n,)`` float in (0, 1], ``pi_b(a_i | x_i, k_i)``.
        context: optional ``(n, d_x)`` float, the round's context (user features).
        action_context: optional ``(n_actions, d_a)`` float, features of every action.
        source: where the rounds came from (a file), named in error messages.

    Raises:
        DataFormatError: ``source: record N (round i): problem`` for the first bad round (a pscore outside
            (0, 1], an action or position out of range, a non-finite reward), or ``source: problem`` for
            arrays of mismatched lengths or shapes.
    """

    n_actions: int
    len_list: int
    action: np.ndarray
    position: np.ndarray
    reward: np.ndarray
    pscore: np.ndarray
    context: np.ndarray | None = None
    action_context: np.ndarray | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        src = self.source
        if int(self.n_actions) < 1 or int(self.len_list) < 1:
            raise DataFormatError(
                src, None, f"n_actions ({self.n_actions}) and len_list ({self.len_list}) must be >= 1"
            )
        self.n_actions, self.len_list = int(self.n_actions), int(self.len_list)
        arrays = {"action": self.action, "position": self.position, "reward": self.reward}
        arrays["pscore"] = self.pscore
        lengths = {name: np.shape(a) for name, a in arrays.items()}
        if any(len(s) != 1 for s in lengths.values()):
            raise DataFormatError(
                src, None, f"action, position, reward and pscore must be 1-d, got {lengths}"
            )
        n = len(self.action)
        if n == 0:
            raise DataFormatError(src, None, "no rounds: the feedback is empty")
        if len({s[0] for s in lengths.values()}) != 1:
            sizes = ", ".join(f"{k} {v[0]}" for k, v in lengths.items())
            raise DataFormatError(src, None, f"length mismatch: {sizes}")
        for name in ("action", "position"):
            a = np.asarray(arrays[name])
            integral = np.issubdtype(a.dtype, np.floating) and bool(np.all(a == np.round(a)))
            if not np.issubdtype(a.dtype, np.integer) and not integral:
                raise DataFormatError(src, None, f"{name} must hold integers, got dtype {a.dtype}")
            setattr(self, name, a.astype(np.int64))
        self.reward = np.asarray(self.reward, dtype=np.float64)
        self.pscore = np.asarray(self.pscore, dtype=np.float64)
        n_a, n_k = self.n_actions, self.len_list
        _bad(src, (self.action < 0) | (self.action >= n_a), "action", self.action, f"is outside 0..{n_a - 1}")
        bad_k = (self.position < 0) | (self.position >= n_k)
        _bad(src, bad_k, "position", self.position, f"is outside 0..{n_k - 1} (positions are 0-based)")
        _bad(src, ~np.isfinite(self.reward), "reward", self.reward, "is not a finite number")
        _bad(src, ~((self.pscore > 0) & (self.pscore <= 1)), "pscore", self.pscore, "is not in (0, 1]")
        if self.context is not None:
            self.context = np.asarray(self.context, dtype=np.float64)
            if self.context.ndim != 2 or len(self.context) != n:
                raise DataFormatError(
                    src, None, f"context must be (n_rounds={n}, d), got {self.context.shape}"
                )
        if self.action_context is not None:
            self.action_context = np.asarray(self.action_context, dtype=np.float64)
            ac = self.action_context
            if ac.ndim != 2 or len(ac) != self.n_actions:
                raise DataFormatError(
                    src, None, f"action_context must be (n_actions={self.n_actions}, d), got {ac.shape}"
                )

    @property
    def n_rounds(self) -> int:
        return len(self.action)

    def subset(self, rows: np.ndarray) -> BanditFeedback:
        """The feedback of rounds ``rows`` (indices or a boolean mask), same actions and slots."""
        ctx = None if self.context is None else self.context[rows]
        return BanditFeedback(
            self.n_actions,
            self.len_list,
            self.action[rows],
            self.position[rows],
            self.reward[rows],
            self.pscore[rows],
            ctx,
            self.action_context,
            self.source,
        )

    def __repr__(self) -> str:
        d = 0 if self.context is None else self.context.shape[1]
        return (
            f"BanditFeedback(n_rounds={self.n_rounds}, n_actions={self.n_actions}, len_list={self.len_list}, "
            f"mean reward={self.reward.mean():.5f}, context dim={d}, source={self.source!r})"
        )


def _one_hot(df: pd.DataFrame, drop_first: bool) -> np.ndarray:
    return pd.get_dummies(df.astype(str), drop_first=drop_first).to_numpy(dtype=np.float64)


def from_obd(
    data_dir_or_path: str | Path | None = None, policy: str = "random", campaign: str = "all"
) -> BanditFeedback:
    """Bandit feedback of one Open Bandit Dataset log (``policy`` ``random`` or ``bts``, ``campaign``).

    ``data_dir_or_path`` is a folder :func:`~distillrank.data.formats.obd.read_obd` accepts (the dataset
    root, a policy's folder, a campaign folder), a data root holding ``clicks/open-bandit-dataset``, or
    ``None`` for the default data folder (``$DISTILLRANK_DATA``, else ``~/.cache/distillrank``).
    Actions are the integer item ids, positions the logged 1..3 shifted to 0..2, rewards the clicks and
    pscores the logged ``propensity_score``. Context: the four hashed user features one-hot encoded (the
    first level of each dropped, as OBP's ``OpenBanditDataset.pre_process``; a category absent from this
    log has no column). Action context (when ``item_context.csv`` is present): ``item_feature_0`` as a
    number and the hashed ``item_feature_1..3`` one-hot. ``n_actions`` is the number of items of
    ``item_context.csv`` (else the largest logged id + 1); ``len_list`` is 3 unless a larger position is
    logged.
    """
    root = locate_obd(data_dir_or_path)
    ds = read_obd(root, campaign=campaign)
    log = ds[policy]
    df = log.df
    source = log.source or str(root)
    try:
        action = df["docno"].astype(np.int64).to_numpy()
    except ValueError as exc:
        raise DataFormatError(source, None, f"item ids must be integers for bandit feedback ({exc})") from exc
    context = None
    user_cols = [c for c in df.columns if c.startswith("user_feature_")]
    if user_cols:
        context = _one_hot(df[user_cols], drop_first=True)
    n_actions = int(action.max()) + 1
    action_context = None
    csv = Path(source).parent / "item_context.csv"
    if csv.is_file():
        items = read_obd_item_context(csv)
        ids = items["item_id"].astype(np.int64).to_numpy()
        n_actions = max(n_actions, int(ids.max()) + 1)
        feats = [c for c in items.columns if c.startswith("item_feature_")]
        numeric = [c for c in feats if pd.api.types.is_numeric_dtype(items[c])]
        parts = [items[numeric].to_numpy(dtype=np.float64)]
        cats = [c for c in feats if c not in numeric]
        if cats:
            parts.append(_one_hot(items[cats], drop_first=False))
        rows = np.hstack(parts)
        action_context = np.zeros((n_actions, rows.shape[1]))
        action_context[ids] = rows
    len_list = max(3, int(df["position"].max()))
    return BanditFeedback(
        n_actions=n_actions,
        len_list=len_list,
        action=action,
        position=df["position"].to_numpy() - 1,
        reward=df["click"].to_numpy(dtype=np.float64),
        pscore=df["propensity"].to_numpy(dtype=np.float64),
        context=context,
        action_context=action_context,
        source=source,
    )


@dataclass(frozen=True)
class PolicyCoverage:
    """How much of a logged policy's action distribution its own log shows, per slot.

    Fields (arrays of length ``len_list``):
        rounds: rounds logged at the slot.
        observed_pairs: actions ever logged at the slot.
        raw_mass: sum over the logged actions of the (un-normalised) estimate of ``pi(a | k)``; near 1
            when the log saw nearly all of the policy's mass at that slot.
        unobserved_mass: Good–Turing estimate of the probability the policy put on actions the log never
            shows at the slot, ``n_1 / n`` (actions logged exactly once over the slot's rounds; Good,
            "The population frequencies of species", Biometrika 1953).
    """

    rounds: np.ndarray
    observed_pairs: np.ndarray
    raw_mass: np.ndarray
    unobserved_mass: np.ndarray


def _harmonic_table(feedback: BanditFeedback) -> tuple[np.ndarray, np.ndarray]:
    """Per (action, slot): rounds logged and the sum of ``1 / pscore`` over them."""
    shape = (feedback.n_actions, feedback.len_list)
    counts = np.zeros(shape)
    inv = np.zeros(shape)
    np.add.at(counts, (feedback.action, feedback.position), 1.0)
    np.add.at(inv, (feedback.action, feedback.position), 1.0 / feedback.pscore)
    return counts, inv


def logged_policy_coverage(feedback: BanditFeedback) -> PolicyCoverage:
    """:class:`PolicyCoverage` of ``feedback``'s logging policy (see
    :func:`action_dist_from_logged_policy`)."""
    counts, inv = _harmonic_table(feedback)
    rounds = counts.sum(axis=0)
    seen = counts > 0
    raw = np.where(seen, counts / np.where(seen, inv, 1.0), 0.0).sum(axis=0)
    singletons = (counts == 1).sum(axis=0)
    return PolicyCoverage(
        rounds=rounds.astype(np.int64),
        observed_pairs=seen.sum(axis=0),
        raw_mass=raw,
        unobserved_mass=np.where(rounds > 0, singletons / np.maximum(rounds, 1), 1.0),
    )


def action_dist_from_logged_policy(
    feedback: BanditFeedback,
    *,
    method: Literal["harmonic", "frequency"] = "harmonic",
    max_unobserved: float = 0.01,
) -> np.ndarray:
    """A context-free policy's action distribution ``pi(a | k)`` ``(n_actions, len_list)``, from its log.

    A policy that logged its own propensities (Open Bandit Dataset's ``bts``) tells its distribution
    without its parameters (OBP instead re-simulates Bernoulli TS from a prior file). When the policy
    changed during the log (OBD's bts was updated every few minutes: one (item, slot) shows hundreds of
    different pscores), the distribution that matches the log's mean reward is the time average
    ``pi_bar(a|k) = mean_t pi_t(a|k)`` over the slot's rounds. The rounds that show ``a`` were drawn with
    probability ``pi_t(a|k)``, so the plain mean of their pscores over-weights the times ``a`` was likely;
    the self-normalised (Hájek) estimate corrects it: the harmonic mean

        pi_hat(a|k) = n_ak / sum_{t: a_t=a, k_t=k} 1 / pscore_t,

    (with a constant policy it is exactly that constant). ``method="frequency"`` gives the empirical
    shares ``n_ak / n_k`` instead (unbiased too, but ignores the pscores). Each slot is normalised to sum
    to 1; a slot without rounds is uniform.

    Warns:
        DataWarning: when the log never shows more than ``max_unobserved`` of a slot's mass
            (:func:`logged_policy_coverage`'s Good–Turing estimate) or the raw estimated mass of a slot
            is off 1 by more than 25% (the normalisation then rescales the estimate much; the ratio
            ``n / sum 1/p`` runs high for rarely logged items, so masses of 1.03-1.13 are usual, e.g.
            on every Open Bandit Dataset campaign's bts log).
    """
    if method not in ("harmonic", "frequency"):
        raise ValueError(f"method must be 'harmonic' or 'frequency', not {method!r}")
    counts, inv = _harmonic_table(feedback)
    if method == "harmonic":
        dist = np.where(counts > 0, counts / np.where(counts > 0, inv, 1.0), 0.0)
    else:
        dist = counts.copy()
    cov = logged_policy_coverage(feedback)
    problems = []
    for k in range(feedback.len_list):
        if cov.rounds[k] == 0:
            problems.append(f"slot {k}: no rounds (uniform assumed)")
        elif cov.unobserved_mass[k] > max_unobserved:
            problems.append(f"slot {k}: ~{cov.unobserved_mass[k]:.3f} of the mass never logged (Good–Turing)")
        if cov.rounds[k] and method == "harmonic" and abs(cov.raw_mass[k] - 1) > 0.25:
            problems.append(f"slot {k}: estimated mass {cov.raw_mass[k]:.3f} before normalising")
    if problems:
        where = f"{feedback.source}: " if feedback.source else ""
        warnings.warn(where + "; ".join(problems), DataWarning, stacklevel=2)
    total = dist.sum(axis=0, keepdims=True)
    uniform = np.full_like(dist, 1.0 / feedback.n_actions)
    return np.where(total > 0, dist / np.where(total > 0, total, 1.0), uniform)
