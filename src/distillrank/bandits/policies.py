r"""Exploration policies for ranking: a slate of ``L`` of ``n`` items per round, learnt from its clicks.

Every policy is a small dataclass on :class:`Policy` (the zr-obp layout): the problem (``n_items``,
``slate_size``, ``feedback``, ``examination``) and its hyper-parameters are fields validated in
``__post_init__``; a variant overrides one method, :meth:`Policy.scores`, which gives each item a
score; the slate holds the ``L`` best-scored items, the best on the most examined position (PBM) or
first (cascade). :data:`POLICIES` names them; :func:`make_policy` builds one for an environment.

**Feedback and statistics**, kept per context (query) ``c`` and item ``i`` — clicks ``S_i``, times
observed ``N_i`` and exposure ``Ñ_i``:

* ``"pbm"``, examination ``kappa_k`` known (Lagrée et al. 2016): every shown item is observed and
  ``Ñ_i`` adds the examination probability of its position, ``Ñ_i = sum_s kappa_{k_s(i)}``, so that
  ``S_i / Ñ_i`` is an unbiased estimate of the attractiveness ``alpha_i``;
* ``"cascade"`` (Kveton et al. 2015): only the items up to the first click (all ``L`` when none) are
  observed; each adds 1 to ``N_i = Ñ_i`` and its click (the last observed, if any) to ``S_i``.

Indices (``t``: the rounds of the context so far, this one included; ``mu_i = S_i / Ñ_i``; an item
never observed scores ``+inf``, so every item is tried once):

* :class:`UniformRandom`: a uniformly random slate (the reference).
* :class:`EpsilonGreedy`: with probability ``epsilon`` a uniformly random slate, else the ``L`` best
  ``mu_i`` (ties broken at random). :class:`DecayingEpsilonGreedy`: the ``epsilon_t``-greedy of Auer,
  Cesa-Bianchi and Fischer (2002), ``epsilon_t = min(1, c n / (d^2 t))``.
* :class:`UCB1`: ``mu_i + sqrt(alpha N_i log t) / Ñ_i``. With ``N = Ñ`` this is UCB1 (Auer et al. 2002:
  ``alpha = 2``); for PBM, PBM-UCB (Lagrée et al. 2016, ``sqrt(N/Ñ) sqrt(delta / (2 Ñ))`` with
  ``delta = (1 + eps) log t``: ``alpha = (1 + eps) / 2``, default 1/2); for the cascade, CascadeUCB1
  (Kveton et al. 2015: ``alpha = 1.5``, the default).
* :class:`KLUCB`: ``max {q in [mu_i, 1] : Ñ_i kl(mu_i, q) <= log t + c log log t}`` with the Bernoulli
  ``kl(p, q) = p log(p/q) + (1-p) log((1-p)/(1-q))`` (Garivier and Cappé 2011; PBM-PIE's index with
  the exposure ``Ñ``, Lagrée et al. 2016; CascadeKL-UCB, Kveton et al. 2015). ``c = 0`` by default, as
  Garivier and Cappé recommend in practice (``c = 3`` for their regret bound).
* :class:`ThompsonSampling`: a draw ``theta_i ~ Beta(a + S_i, b + Ñ_i - S_i)`` per item (Beta-Bernoulli;
  Thompson 1933, Agrawal and Goyal 2012); for the cascade this is CascadeTS (the Beta-Bernoulli CTS of
  Huyuk and Tekin 2019, Zhong et al. 2021). For PBM the posterior of ``alpha_i`` given clicks of
  probability ``kappa alpha`` is not Beta; it is approximated by a Beta with the exposure as the
  number of trials (``Ñ_i`` pseudo-examinations, ``S_i`` successes; ``Ñ - S`` floored at 0): its mean
  ``~ S / Ñ`` is the unbiased PBM estimate and its spread shrinks as ``1 / Ñ``, exact when every
  ``kappa = 1``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np
from scipy.special import xlogy

from distillrank.bandits.environments import FEEDBACK_MODELS, Environment, Feedback

try:
    from numba import njit as _njit

    HAS_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency; the numpy loop stands in without it
    HAS_NUMBA = False

__all__ = [
    "KLUCB",
    "POLICIES",
    "UCB1",
    "DecayingEpsilonGreedy",
    "EpsilonGreedy",
    "Policy",
    "ThompsonSampling",
    "UniformRandom",
    "kl_ucb_indices",
    "kl_ucb_indices_numpy",
    "make_policy",
    "policy_parameters",
]

_Q_MIN = 1e-15


@dataclass(kw_only=True, eq=False)
class Policy(ABC):
    """The shared state and slate logic (module docstring); subclasses define :meth:`scores`.

    Attributes:
        n_items: items of the single context, or of each context (query).
        slate_size: ``L``, items shown per round.
        feedback: ``"pbm"`` or ``"cascade"``.
        examination: ``[L]`` known ``kappa_k`` for PBM (default: all 1); ``None`` for the cascade.
    """

    n_items: int | Sequence[int]
    slate_size: int
    feedback: Feedback = "pbm"
    examination: Sequence[float] | None = None

    random_ties: ClassVar[bool] = True
    """Break ties among equal scores at random (policies whose scores are deterministic)."""
    needs_features: ClassVar[bool] = False
    """Takes the environment's item features (:func:`make_policy` passes them as ``features``)."""

    sizes: tuple[int, ...] = field(init=False, repr=False)
    clicks: np.ndarray = field(init=False, repr=False)
    exposure: np.ndarray = field(init=False, repr=False)
    observed: np.ndarray = field(init=False, repr=False)
    rounds: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        sizes = (self.n_items,) if isinstance(self.n_items, int | np.integer) else tuple(self.n_items)
        if not sizes or any(int(n) != n or n < 1 for n in sizes):
            raise ValueError(f"n_items must be an integer >= 1 or a non-empty list of them, got {sizes}")
        if int(self.slate_size) != self.slate_size or self.slate_size < 1:
            raise ValueError(f"slate_size must be an integer >= 1, got {self.slate_size!r}")
        if min(sizes) < self.slate_size:
            raise ValueError(f"slate_size {self.slate_size} exceeds the items of a context ({min(sizes)})")
        if self.feedback not in FEEDBACK_MODELS:
            raise ValueError(f"feedback must be one of {FEEDBACK_MODELS}, got {self.feedback!r}")
        if self.feedback == "cascade" and self.examination is not None:
            raise ValueError("the cascade model takes no examination probabilities")
        kappa = np.ones(self.slate_size) if self.examination is None else np.asarray(self.examination, float)
        if kappa.shape != (self.slate_size,) or not ((kappa > 0) & (kappa <= 1)).all():
            raise ValueError(f"examination must be {self.slate_size} probabilities in (0, 1], got {kappa}")
        self.sizes = tuple(int(n) for n in sizes)
        self._kappa = kappa
        # the best item goes to the most examined position (cascade: position 1)
        self._positions = np.argsort(-kappa, kind="stable")
        self.check()
        self.reset()

    def check(self) -> None:  # noqa: B027 - a hook: policies without hyper-parameters check nothing
        """Validate the hyper-parameters (``ValueError`` naming the field)."""

    def reset(self) -> None:
        """Forget everything learnt."""
        shape = (len(self.sizes), max(self.sizes))
        self.clicks, self.exposure, self.observed = np.zeros(shape), np.zeros(shape), np.zeros(shape)
        self.rounds = np.zeros(len(self.sizes), dtype=np.int64)
        self._padded = np.arange(shape[1])[None, :] >= np.asarray(self.sizes)[:, None]
        self._any_padded = bool(self._padded.any())

    def means(self, context: int = 0) -> np.ndarray:
        """``S / Ñ`` per item of ``context``; ``+inf`` for an item never observed."""
        e = self.exposure[context]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(e > 0, self.clicks[context] / e, np.inf)

    @abstractmethod
    def scores(self, rng: np.random.Generator, context: int, t: int) -> np.ndarray:
        """``[max(n_items)]`` a score per item at round ``t`` (>= 1) of ``context``; higher is better."""

    def select(self, rng: np.random.Generator, context: int = 0) -> np.ndarray:
        """``[L]`` item indices of the slate to show, position 1 first."""
        s = np.asarray(self.scores(rng, context, int(self.rounds[context]) + 1), dtype=np.float64)
        if self._any_padded:
            s = np.where(self._padded[context], -np.inf, s)
        if self.random_ties:
            perm = rng.permutation(len(s))
            top = perm[np.argsort(-s[perm], kind="stable")[: self.slate_size]]
        else:
            top = np.argsort(-s)[: self.slate_size]
        slate = np.empty(self.slate_size, dtype=np.int64)
        slate[self._positions] = top
        return slate

    def observations(
        self, slate: np.ndarray, clicks: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(items, clicks, weights)`` observed from the ``[L]`` clicks on ``slate``: PBM every shown item
        with its position's ``kappa``; cascade the items up to the first click (all when none), weight 1."""
        slate, c = np.asarray(slate), np.asarray(clicks, dtype=np.float64)
        if self.feedback == "cascade":
            last = int(np.argmax(c)) + 1 if c.any() else self.slate_size
            return slate[:last], c[:last], np.ones(last)
        return slate, c, self._kappa

    def update(self, slate: np.ndarray, clicks: np.ndarray, context: int = 0) -> None:
        """Learn from the ``[L]`` clicks on ``slate`` (what is observed depends on ``feedback``)."""
        self.rounds[context] += 1
        self.learn(context, *self.observations(slate, clicks))

    def learn(self, context: int, items: np.ndarray, clicks: np.ndarray, weights: np.ndarray) -> None:
        """Add a round's :meth:`observations` to the statistics of ``context`` (a subclass that keeps
        more extends this)."""
        self.clicks[context, items] += clicks
        self.exposure[context, items] += weights
        self.observed[context, items] += 1.0


@dataclass(kw_only=True, eq=False)
class UniformRandom(Policy):
    """A uniformly random slate every round (learns nothing)."""

    random_ties: ClassVar[bool] = False

    def scores(self, rng: np.random.Generator, context: int, t: int) -> np.ndarray:
        return rng.random(int(self.clicks.shape[1]))


@dataclass(kw_only=True, eq=False)
class EpsilonGreedy(Policy):
    """Explore (a uniform slate) with probability ``epsilon``, else exploit the best ``S / Ñ``.

    Attributes:
        epsilon: exploration probability in ``[0, 1]`` (1: uniform random; 0: greedy).
    """

    epsilon: float = 0.1

    def check(self) -> None:
        if not 0 <= self.epsilon <= 1:
            raise ValueError(f"epsilon must be in [0, 1], got {self.epsilon}")

    def epsilon_at(self, t: int, n_items: int) -> float:
        """The exploration probability at round ``t`` of a context with ``n_items`` items."""
        return self.epsilon

    def scores(self, rng: np.random.Generator, context: int, t: int) -> np.ndarray:
        if rng.random() < self.epsilon_at(t, self.sizes[context]):
            return rng.random(int(self.clicks.shape[1]))
        return self.means(context)


@dataclass(kw_only=True, eq=False)
class DecayingEpsilonGreedy(EpsilonGreedy):
    """``epsilon_t = min(1, c n / (d^2 t))`` (Auer et al. 2002, the ``epsilon_n``-greedy; ``n`` items,
    ``d`` a lower bound on the gap of the best item to the others).

    Attributes:
        c: ``> 0``. d: in ``(0, 1]``.
    """

    c: float = 0.1
    d: float = 0.1

    def check(self) -> None:
        if not self.c > 0:
            raise ValueError(f"c must be > 0, got {self.c}")
        if not 0 < self.d <= 1:
            raise ValueError(f"d must be in (0, 1], got {self.d}")

    def epsilon_at(self, t: int, n_items: int) -> float:
        return min(1.0, self.c * n_items / (self.d**2 * t))


@dataclass(kw_only=True, eq=False)
class UCB1(Policy):
    """``S / Ñ + sqrt(alpha N log t) / Ñ``: UCB1, PBM-UCB or CascadeUCB1 by feedback (module docstring).

    Attributes:
        alpha: exploration scale ``> 0``; default (``None``) 1/2 for PBM (PBM-UCB, ``eps = 0``), 1.5 for
            the cascade (CascadeUCB1).
    """

    alpha: float | None = None

    def check(self) -> None:
        if self.alpha is not None and not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha}")

    @property
    def exploration(self) -> float:
        if self.alpha is not None:
            return self.alpha
        return 1.5 if self.feedback == "cascade" else 0.5

    def scores(self, rng: np.random.Generator, context: int, t: int) -> np.ndarray:
        e = self.exposure[context]
        with np.errstate(divide="ignore", invalid="ignore"):
            bonus = np.sqrt(self.exploration * self.observed[context] * math.log(t)) / e
        return np.where(e > 0, self.means(context) + bonus, np.inf)


def bernoulli_kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``kl(p, q) = p log(p/q) + (1-p) log((1-p)/(1-q))`` with ``0 log 0 = 0`` (``q`` kept off 0 and 1)."""
    q = np.clip(q, _Q_MIN, 1 - _Q_MIN)
    return xlogy(p, p) - xlogy(p, q) + xlogy(1 - p, 1 - p) - xlogy(1 - p, 1 - q)


def kl_ucb_indices_numpy(
    clicks: np.ndarray, exposure: np.ndarray, level: float, iterations: int
) -> np.ndarray:
    """``max {q in [mu, 1] : Ñ kl(mu, q) <= level}`` per item by bisection on the bracket
    ``[mu, min(1, mu + sqrt(level / (2 Ñ)))]`` (Pinsker: ``kl(p, q) >= 2 (p - q)^2``); ``+inf`` where
    ``Ñ = 0``. Vectorised over items; :func:`kl_ucb_indices` is the same loop compiled when numba is
    installed."""
    seen = exposure > 0
    n = np.where(seen, exposure, 1.0)
    mu = np.minimum(clicks / n, 1.0)
    lo, hi = mu, np.minimum(1.0, mu + np.sqrt(level / (2 * n)))
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        ok = n * bernoulli_kl(mu, mid) <= level
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    return np.where(seen, lo, np.inf)


def _kl_ucb_indices_loop(
    clicks: np.ndarray, exposure: np.ndarray, level: float, iterations: int
) -> np.ndarray:
    out = np.empty(clicks.shape[0])
    for i in range(clicks.shape[0]):
        n = exposure[i]
        if n <= 0:
            out[i] = np.inf
            continue
        mu = min(clicks[i] / n, 1.0)
        lo, hi = mu, min(1.0, mu + np.sqrt(level / (2.0 * n)))
        for _ in range(iterations):
            mid = 0.5 * (lo + hi)
            q = min(max(mid, _Q_MIN), 1.0 - _Q_MIN)
            kl = 0.0
            if mu > 0:
                kl += mu * np.log(mu / q)
            if mu < 1:
                kl += (1.0 - mu) * np.log((1.0 - mu) / (1.0 - q))
            if n * kl <= level:
                lo = mid
            else:
                hi = mid
        out[i] = lo
    return out


kl_ucb_indices: Callable[[np.ndarray, np.ndarray, float, int], np.ndarray] = (
    _njit(cache=True)(_kl_ucb_indices_loop) if HAS_NUMBA else kl_ucb_indices_numpy
)


@dataclass(kw_only=True, eq=False)
class KLUCB(Policy):
    """``max {q : Ñ kl(S/Ñ, q) <= log t + c log log t}`` by bisection (module docstring).

    Attributes:
        c: ``>= 0`` (0 by default).
        iterations: bisection steps (:func:`kl_ucb_indices_numpy`; the bracket, at most
            ``sqrt(level / (2 Ñ))`` wide, halves at each).
    """

    c: float = 0.0
    iterations: int = 24

    def check(self) -> None:
        if not self.c >= 0:
            raise ValueError(f"c must be >= 0, got {self.c}")
        if int(self.iterations) != self.iterations or self.iterations < 1:
            raise ValueError(f"iterations must be an integer >= 1, got {self.iterations!r}")

    def scores(self, rng: np.random.Generator, context: int, t: int) -> np.ndarray:
        level = math.log(t) + (self.c * math.log(math.log(t)) if t > math.e else 0.0)
        return kl_ucb_indices(self.clicks[context], self.exposure[context], level, self.iterations)


@dataclass(kw_only=True, eq=False)
class ThompsonSampling(Policy):
    """A draw from ``Beta(a + S, b + Ñ - S)`` per item (module docstring; PBM: an approximation).

    Attributes:
        prior_a, prior_b: the Beta prior's pseudo-counts, ``> 0`` (default 1, 1: uniform).
    """

    prior_a: float = 1.0
    prior_b: float = 1.0
    random_ties: ClassVar[bool] = False

    def check(self) -> None:
        for name in ("prior_a", "prior_b"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")

    def scores(self, rng: np.random.Generator, context: int, t: int) -> np.ndarray:
        s = self.clicks[context]
        failures = np.maximum(self.exposure[context] - s, 0.0)
        return rng.beta(self.prior_a + s, self.prior_b + failures)


POLICIES: dict[str, type[Policy]] = {  # the linear policies register themselves (bandits.linear)
    "uniform": UniformRandom,
    "epsilon_greedy": EpsilonGreedy,
    "epsilon_greedy_decay": DecayingEpsilonGreedy,
    "ucb1": UCB1,
    "kl_ucb": KLUCB,
    "thompson": ThompsonSampling,
}
"""Policies by name (with ``lin_ucb`` and ``lin_ts`` of :mod:`distillrank.bandits.linear`)."""

_PROBLEM = ("n_items", "slate_size", "feedback", "examination", "features")


def policy_parameters(name: str) -> list[str]:
    """The hyper-parameters of policy ``name`` (sorted): its fields but those the environment sets."""
    return sorted(f.name for f in fields(POLICIES[name]) if f.init and f.name not in _PROBLEM)


def make_policy(name: str, env: Environment, **params: Any) -> Policy:
    """The policy registered as ``name`` for ``env`` (its items, slate size, feedback model, for PBM
    examination probabilities and, for a policy that needs them, the item features of every context),
    with hyper-parameters ``params``.

    Raises:
        ValueError: an unknown name, an unknown or invalid hyper-parameter, or a policy that needs item
            features in an environment without them.
    """
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)}")
    clash = sorted(set(params) & set(_PROBLEM))
    if clash:
        raise ValueError(f"{clash} come from the environment, not from the policy's parameters")
    cls = POLICIES[name]
    known = policy_parameters(name)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"{name}: unknown parameters {unknown}; known: {known}")
    problem: dict[str, Any] = {
        "n_items": env.n_items,
        "slate_size": env.slate_size,
        "feedback": env.feedback,
        "examination": tuple(env.examination.tolist()) if env.feedback == "pbm" else None,
    }
    if cls.needs_features:
        features = env.context_features
        if features is None:
            raise ValueError(
                f"{name} needs item features and this environment has none (ltr_environment gives each "
                "query's document features; the OBD, click-log and run environments have none)"
            )
        problem["features"] = features
    return cls(**problem, **params)
