r"""Stochastic click environments: a slate of ``L`` items is shown, the user clicks by a click model.

Two user models over ``n`` items with attractiveness ``alpha_i`` (the probability that an examined item
is clicked) and a slate ``a = (a_1, .., a_L)`` (item indices, position 1 first):

* **PBM** (position-based model; Richardson et al. 2007, Lagrée et al. 2016): position ``k`` is
  examined with a known probability ``kappa_k``, independently of the rest; a click is examined AND
  attracted::

      P(C_k = 1) = kappa_k alpha_{a_k}          r(a) = E[sum_k C_k] = sum_k kappa_k alpha_{a_k}

  The best slate puts the ``L`` most attractive items on the positions in decreasing order of
  ``kappa`` (rearrangement inequality).
* **Cascade** (Craswell et al. 2008; cascading bandits, Kveton et al. 2015): the user scans down and
  clicks the first attractive item, then stops; at most one click::

      r(a) = 1 - prod_k (1 - alpha_{a_k})

  The best slate holds the ``L`` most attractive items (in any order; here in decreasing order).

The expected reward is the expected number of clicks of the slate; pseudo-regret compares it with the
best slate's. :class:`MultiQueryEnvironment` draws a query (a context) per round, each with its own
items and model, so that a ranking bandit per query can run. Constructors from real data (the Open
Bandit Dataset, graded relevance) are in :mod:`distillrank.bandits.datasets`.

**Item features** (optional): an environment may carry, per context, an ``[n_items, d]`` matrix of
item (query-document) feature vectors ``x_i``, the same ``d`` for every context; the linear policies of
:mod:`distillrank.bandits.linear` learn one model across the contexts from them. They do not enter the
click model (the attractiveness does); ``features=None`` (the default) is an environment without them.

Every environment draws clicks from uniforms ``u`` (one per position): a click at ``k`` is
``u_k < P(attracted)``, so that two policies run on the same uniforms face the same users (common
random numbers).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = [
    "FEEDBACK_MODELS",
    "CascadeEnvironment",
    "Environment",
    "Feedback",
    "MultiQueryEnvironment",
    "PositionBasedEnvironment",
    "SlateEnvironment",
]

Feedback = Literal["pbm", "cascade"]
FEEDBACK_MODELS: tuple[Feedback, ...] = ("pbm", "cascade")


def feature_matrix(values: np.ndarray, n_items: int, name: str = "features") -> np.ndarray:
    """``values`` as a read-only ``[n_items, d]`` finite float array (``d >= 1``), else a ``ValueError``."""
    arr = np.array(values, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != n_items or arr.shape[1] < 1:
        raise ValueError(
            f"{name} must be an [n_items={n_items}, d] matrix with d >= 1, got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite")
    arr.setflags(write=False)
    return arr


def probabilities(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    """``values`` as a new non-empty 1-d float array in ``[0, 1]``, else a ``ValueError`` naming ``name``."""
    arr = np.array(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-d sequence, got shape {arr.shape}")
    bad = np.flatnonzero(~((arr >= 0) & (arr <= 1)))
    if bad.size:
        raise ValueError(f"{name} must be probabilities in [0, 1], got {arr[bad[0]]} at index {bad[0]}")
    return arr


class SlateEnvironment(ABC):
    """One query's items and click model (the base of :class:`PositionBasedEnvironment` and
    :class:`CascadeEnvironment`); also an :class:`Environment` with a single context.

    Attributes:
        attractiveness: ``[n_items]`` ``alpha_i``.
        items: optional names of the items (``docno``/item ids), for reports.
        features: optional ``[n_items, d]`` item feature vectors (module docstring), read-only.
    """

    feedback: Feedback

    def __init__(
        self,
        attractiveness: Sequence[float] | np.ndarray,
        *,
        items: Sequence[str] | None = None,
        features: np.ndarray | None = None,
    ) -> None:
        self.attractiveness = probabilities(attractiveness, "attractiveness")
        self.attractiveness.setflags(write=False)
        self.items = None if items is None else tuple(str(i) for i in items)
        if self.items is not None and len(self.items) != self.n_items:
            raise ValueError(f"{len(self.items)} item names for {self.n_items} items")
        self.features = None if features is None else feature_matrix(features, self.n_items)

    def _check_size(self) -> None:
        if self.slate_size > self.n_items:
            raise ValueError(f"{self.slate_size} positions but only {self.n_items} items")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.n_items} items, {self.slate_size} positions)"

    @property
    def n_items(self) -> int:
        return int(self.attractiveness.shape[0])

    @property
    @abstractmethod
    def slate_size(self) -> int:
        """``L``, the positions shown."""

    @property
    def examination(self) -> np.ndarray:
        """``[L]`` ``kappa_k``, the examination probability of each position known to a policy (all 1
        for the cascade, where examination follows from the clicks)."""
        return np.ones(self.slate_size)

    @abstractmethod
    def clicks_from_uniforms(self, slate: np.ndarray, u: np.ndarray) -> np.ndarray:
        """``[L]`` bool clicks on ``slate`` given ``[L]`` uniforms ``u``."""

    @abstractmethod
    def rewards_of(self, shown: np.ndarray) -> np.ndarray:
        """Expected clicks of slates whose items have attractiveness ``shown`` (``[..., L]``, position 1
        first): the formulas of the module docstring."""

    def expected_rewards(self, slates: np.ndarray) -> np.ndarray:
        """Expected clicks of each of ``[..., L]`` slates."""
        return self.rewards_of(self.attractiveness[slates])

    @abstractmethod
    def optimal_slate(self) -> np.ndarray:
        """``[L]`` a slate of the highest expected reward, position 1 first."""

    def check_slate(self, slate: np.ndarray) -> np.ndarray:
        """``slate`` as an int array of ``L`` distinct item indices, else a ``ValueError``."""
        s = np.asarray(slate)
        if s.shape != (self.slate_size,) or not np.issubdtype(s.dtype, np.integer):
            raise ValueError(f"a slate is {self.slate_size} item indices, got {s!r}")
        if s.min() < 0 or s.max() >= self.n_items or len(np.unique(s)) != len(s):
            raise ValueError(f"a slate holds distinct items in 0..{self.n_items - 1}, got {s.tolist()}")
        return s

    def step(self, slate: Sequence[int] | np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Show ``slate`` once: ``[L]`` bool clicks."""
        s = self.check_slate(np.asarray(slate))
        return self.clicks_from_uniforms(s, rng.random(self.slate_size))

    def expected_reward(self, slate: Sequence[int] | np.ndarray) -> float:
        """Expected clicks of one slate."""
        return float(self.expected_rewards(self.check_slate(np.asarray(slate))))

    def optimal_reward(self) -> float:
        """Expected clicks of :meth:`optimal_slate`."""
        return float(self.expected_rewards(self.optimal_slate()))

    # ----- the single-context view of :class:`Environment` ---------------------------------------

    @property
    def n_contexts(self) -> int:
        return 1

    def context(self, index: int) -> SlateEnvironment:
        """Context ``index`` (0: this environment)."""
        if index != 0:
            raise IndexError(f"a single-query environment has context 0 only, got {index}")
        return self

    @property
    def context_features(self) -> tuple[np.ndarray, ...] | None:
        """The ``[n_items, d]`` features of each context (here one), or ``None`` without features."""
        return None if self.features is None else (self.features,)

    def draw_contexts(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` zeros (no random numbers drawn)."""
        return np.zeros(size, dtype=np.int64)

    def context_rewards(self, slates: np.ndarray, contexts: np.ndarray) -> np.ndarray:
        """Expected clicks of ``[T, L]`` slates shown in ``[T]`` contexts."""
        return self.expected_rewards(slates)

    def optimal_rewards(self) -> np.ndarray:
        """``[n_contexts]`` the best expected reward per context."""
        return np.array([self.optimal_reward()])


class PositionBasedEnvironment(SlateEnvironment):
    """PBM clicks: ``P(C_k = 1) = kappa_k alpha_{a_k}`` (module docstring).

    Attributes:
        attractiveness: ``[n_items]`` ``alpha_i``.
        examination: ``[L]`` ``kappa_k`` of positions ``1..L`` (not necessarily decreasing).

    Example:
        >>> env = PositionBasedEnvironment([0.9, 0.5, 0.1], examination=[1.0, 0.5])
        >>> env.expected_reward([1, 0]), env.optimal_slate().tolist(), env.optimal_reward()
        (0.95, [0, 1], 1.15)
    """

    feedback: Feedback = "pbm"

    def __init__(
        self,
        attractiveness: Sequence[float] | np.ndarray,
        examination: Sequence[float] | np.ndarray,
        *,
        items: Sequence[str] | None = None,
        features: np.ndarray | None = None,
    ) -> None:
        super().__init__(attractiveness, items=items, features=features)
        self.examination_probabilities = probabilities(examination, "examination")
        self.examination_probabilities.setflags(write=False)
        self._check_size()

    @property
    def slate_size(self) -> int:
        return int(self.examination_probabilities.shape[0])

    @property
    def examination(self) -> np.ndarray:
        return self.examination_probabilities

    def clicks_from_uniforms(self, slate: np.ndarray, u: np.ndarray) -> np.ndarray:
        return u < self.examination_probabilities * self.attractiveness[slate]

    def rewards_of(self, shown: np.ndarray) -> np.ndarray:
        return (shown * self.examination_probabilities).sum(axis=-1)

    def optimal_slate(self) -> np.ndarray:
        best = np.argsort(-self.attractiveness, kind="stable")[: self.slate_size]
        slate = np.empty(self.slate_size, dtype=np.int64)
        slate[np.argsort(-self.examination_probabilities, kind="stable")] = best
        return slate


class CascadeEnvironment(SlateEnvironment):
    """Cascade clicks: the first attractive item of the slate is clicked (module docstring).

    Example:
        >>> env = CascadeEnvironment([0.2, 0.5, 0.1], slate_size=2)
        >>> round(env.expected_reward([0, 2]), 6), env.optimal_slate().tolist(), env.optimal_reward()
        (0.28, [1, 0], 0.6)
    """

    feedback: Feedback = "cascade"

    def __init__(
        self,
        attractiveness: Sequence[float] | np.ndarray,
        slate_size: int,
        *,
        items: Sequence[str] | None = None,
        features: np.ndarray | None = None,
    ) -> None:
        super().__init__(attractiveness, items=items, features=features)
        if int(slate_size) != slate_size or slate_size < 1:
            raise ValueError(f"slate_size must be an integer >= 1, got {slate_size!r}")
        self.positions = int(slate_size)
        self._check_size()

    @property
    def slate_size(self) -> int:
        return self.positions

    def clicks_from_uniforms(self, slate: np.ndarray, u: np.ndarray) -> np.ndarray:
        attracted = u < self.attractiveness[slate]
        clicks = np.zeros(self.slate_size, dtype=bool)
        if attracted.any():
            clicks[int(np.argmax(attracted))] = True
        return clicks

    def rewards_of(self, shown: np.ndarray) -> np.ndarray:
        return 1.0 - np.prod(1.0 - shown, axis=-1)

    def optimal_slate(self) -> np.ndarray:
        return np.argsort(-self.attractiveness, kind="stable")[: self.slate_size].astype(np.int64)


@dataclass(frozen=True, eq=False)
class MultiQueryEnvironment:
    """A query drawn each round (by ``weights``, uniform by default), each with its own items.

    All queries share the feedback model and ``L`` (and, for PBM, the examination curve), so one policy
    keeps per-query statistics over them; either every query has item features of the same width ``d``,
    or none has (:attr:`context_features`).

    Attributes:
        queries: one :class:`SlateEnvironment` per query (context).
        qids: names of the queries.
        weights: ``[n_contexts]`` probabilities of drawing each query.
    """

    queries: tuple[SlateEnvironment, ...]
    qids: tuple[str, ...] | None = None
    weights: np.ndarray | None = None
    _attr: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        qs = tuple(self.queries)
        if not qs:
            raise ValueError("a multi-query environment needs at least one query")
        first = qs[0]
        for i, q in enumerate(qs):
            if type(q) is not type(first) or q.slate_size != first.slate_size:
                raise ValueError(f"query {i} differs from query 0 in feedback model or slate size")
            if not np.array_equal(q.examination, first.examination):
                raise ValueError(f"query {i} differs from query 0 in its examination probabilities")
        widths = {None if q.features is None else q.features.shape[1] for q in qs}
        if len(widths) > 1:
            raise ValueError(
                "either every query has item features of the same width or none has, got widths "
                + ", ".join(sorted(str(w) for w in widths))
            )
        object.__setattr__(self, "queries", qs)
        if self.qids is not None and len(self.qids) != len(qs):
            raise ValueError(f"{len(self.qids)} qids for {len(qs)} queries")
        if self.weights is not None:
            w = np.asarray(self.weights, dtype=np.float64)
            if w.shape != (len(qs),) or (w < 0).any() or not w.sum() > 0:
                raise ValueError("weights must be one number >= 0 per query, with a positive sum")
            object.__setattr__(self, "weights", w / w.sum())
        attr = np.zeros((len(qs), max(q.n_items for q in qs)))
        for i, q in enumerate(qs):
            attr[i, : q.n_items] = q.attractiveness
        object.__setattr__(self, "_attr", attr)

    @property
    def feedback(self) -> Feedback:
        return self.queries[0].feedback

    @property
    def slate_size(self) -> int:
        return self.queries[0].slate_size

    @property
    def examination(self) -> np.ndarray:
        return self.queries[0].examination

    @property
    def n_contexts(self) -> int:
        return len(self.queries)

    @property
    def n_items(self) -> tuple[int, ...]:
        """Items of each query."""
        return tuple(q.n_items for q in self.queries)

    @property
    def context_features(self) -> tuple[np.ndarray, ...] | None:
        """The ``[n_items, d]`` features of each query, or ``None`` when the queries have none."""
        feats = [q.features for q in self.queries]
        return tuple(f for f in feats if f is not None) if all(f is not None for f in feats) else None

    def context(self, index: int) -> SlateEnvironment:
        return self.queries[index]

    def draw_contexts(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` query indices drawn by ``weights``."""
        if self.weights is None:
            return rng.integers(self.n_contexts, size=size)
        return rng.choice(self.n_contexts, size=size, p=self.weights)

    def context_rewards(self, slates: np.ndarray, contexts: np.ndarray) -> np.ndarray:
        """Expected clicks of ``[T, L]`` slates shown in ``[T]`` contexts (vectorised)."""
        # every query shares the click model, slate size and examination: the first one's formula
        return self.queries[0].rewards_of(self._attr[np.asarray(contexts)[:, None], slates])

    def optimal_rewards(self) -> np.ndarray:
        return np.array([q.optimal_reward() for q in self.queries])


Environment = SlateEnvironment | MultiQueryEnvironment
"""What a policy runs in: one query, or a query drawn per round (``n_contexts``, ``context(i)``,
``draw_contexts``, ``context_rewards``, ``optimal_rewards``, ``feedback``, ``slate_size``,
``examination``, ``context_features``)."""
