r"""Relevance from biased clicks: naive, IPS, SNIPS, doubly robust, and the full-information baseline.

Every estimator turns click statistics of ``(query, document)`` pairs, collected over a set of sessions,
into one relevance estimate per pair; a ranker is then trained on those estimates with a loss that is
*linear in its targets* (:mod:`.losses`, :mod:`.lgbm`), so that an unbiased estimate of the relevance
gives an unbiased estimate of the full-information loss.

Click model (PBM, Joachims, Swaminathan and Schnabel 2017): the result at rank ``k`` is examined with
probability ``alpha_k`` and then clicked with probability ``R_d``, so ``P(C = 1 | d at k) = alpha_k R_d``.
``alpha`` may be relative (``alpha_k / alpha_1``, what :mod:`~distillrank.feedback.propensity` estimates):
the estimates are then ``alpha_1 R_d``, the same ranking. Click noise (``eps-`` of the simulator) makes
``R_d`` an increasing affine function of the true relevance, which leaves rankings unchanged too.

Statistics (:class:`ClickStats`), per pair, summed over the ``N`` sessions of its query, where
``k_i(d)`` is the rank of ``d`` in session ``i`` and ``alpha = 0`` for a result that was not shown:

=====================  ===============================================================================
``clicks``             ``C_d = sum_i c_i(d)``
``exposure``           ``E_d = sum_i alpha_{k_i(d)}``: the examination probability of the ranks actually
                       shown (the *expected treatment per rank* of Oosterhuis 2023)
``expected_exposure``  ``P_d = sum_i E_{y ~ pi_i}[alpha_{k(d)}]``: its expectation under the logging
                       policy of each session (``pi_i`` may be stochastic, e.g. Plackett-Luce; for a
                       deterministic logger ``P = E``). Default: ``E``
``sessions``           ``N``: sessions of the query (broadcast against the pairs)
``noise``              ``B_d = sum_i beta_{k_i(d)}``: expected clicks that are noise, for the affine click
                       model ``P(C = 1 | d at k) = alpha_k R_d + beta_k`` (trust bias, click noise;
                       Vardasbi et al. 2020). Default: none (``B = 0``, plain PBM)
=====================  ===============================================================================

A batch of single sessions is the case ``N = 1``: ``C = c``, ``E = alpha`` of the shown rank
(:meth:`ClickStats.from_sessions`). Estimators, with the clipped denominator
``D(X) = max(X, tau * N)`` (propensity clipping at ``tau``, Strehl et al. 2010; Joachims et al. 2017:
a pair whose exposure per session is below ``tau`` is treated as if it were ``tau``, which bounds the
weights by ``1 / tau`` at the price of a downward bias for rarely shown results):

* :class:`Naive` — clicks as relevance: ``C / N``. Biased towards what the logger ranks high.
* :class:`IPS` — inverse propensity scoring (Wang et al. 2016; Joachims et al. 2017), with the
  expected exposure of a stochastic logger (policy-aware, Oosterhuis and de Rijke 2020):
  ``C / D(P)``. Unbiased for every pair with ``P_d >= tau N``: ``E[C_d] = P_d R_d``.
* :class:`SNIPS` — self-normalised IPS (Swaminathan and Joachims 2015): the importance weights of the
  expected treatment, ``w_i = alpha_{k_i(d)} / rho_d``, have expectation 1, so their mean
  ``E_d / P_d`` is a control variate; dividing IPS by it gives ``C / D(E)``. Biased (a ratio estimator)
  but consistent, with lower variance when the logger is stochastic; equal to IPS for a deterministic
  logger.
* :class:`DoublyRobust` — Oosterhuis (2023), "Doubly Robust Estimation for Correcting Position Bias in
  Click Feedback for Unbiased Learning to Rank" (TOIS): with a click-regression model ``R^_d``
  (:class:`~distillrank.feedback.unbiased.lgbm.ClickRegression`), the direct-method prediction
  corrected by the IPS-weighted residual of the expected treatment:
  ``R^ + (C - E R^) / D(P)``. With the ``alpha`` right, it is unbiased when either ``R^`` is right or
  the expected exposure ``D(P)`` is (clipping makes IPS biased, not DR with a right model); it equals
  ``IPS + R^ (1 - E / D(P))``, IPS with the realised-exposure control variate, which removes the
  variance a stochastic logger adds through the ranks it happens to draw; and a pair the logger never
  showed still gets the model's prediction instead of 0.
* :class:`FullInformation` — the ceiling: the true relevance labels (no clicks at all).

With ``noise``, the corrected estimators (IPS, SNIPS, DR) use ``C - B`` for ``C`` — the affine
correction of Vardasbi et al. (2020), the click model Oosterhuis (2023) defines DR for; the naive
estimator ignores it.

Example:
    >>> import numpy as np
    >>> stats = ClickStats(clicks=np.array([3.0, 1.0, 0.0]), exposure=np.array([4.0, 0.5, 0.0]),
    ...                    sessions=4.0)
    >>> IPS(clip=0.1).relevance(stats).tolist()      # 3/4, 1/max(0.5, 0.4), 0/max(0, 0.4)
    [0.75, 2.0, 0.0]
    >>> Naive().relevance(stats).tolist()
    [0.75, 0.25, 0.0]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "ESTIMATORS",
    "IPS",
    "SNIPS",
    "ClickStats",
    "DoublyRobust",
    "FullInformation",
    "Naive",
    "RelevanceEstimator",
    "clip_propensities",
    "get_estimator",
]

A = TypeVar("A", np.ndarray, Tensor)


def _maximum(x: A, floor: A | float) -> A:
    if isinstance(x, Tensor):
        return torch.maximum(x, torch.as_tensor(floor, dtype=x.dtype, device=x.device))
    return np.maximum(x, floor)


def _as_like(value: Any, like: A) -> A:
    """``value`` as an array (or tensor, when ``like`` is one) of ``like``'s dtype."""
    if isinstance(like, Tensor):
        return torch.as_tensor(value, dtype=like.dtype, device=like.device)
    return np.asarray(value, dtype=np.float64)


def _full(value: Any, like: A) -> A:
    """``value`` broadcast to ``like``'s shape (and type)."""
    v = _as_like(value, like)
    if isinstance(v, Tensor):
        return torch.broadcast_to(v, like.shape)
    return np.broadcast_to(v, like.shape)


def clip_propensities(propensities: A, min_propensity: float) -> A:
    """``max(p, min_propensity)``: propensities below the floor count as the floor (weights <= 1/floor).

    >>> clip_propensities(np.array([0.5, 0.01]), 0.1).tolist()
    [0.5, 0.1]
    """
    _check_clip(min_propensity)
    return _maximum(propensities, float(min_propensity))


def _check_clip(clip: float) -> None:
    if isinstance(clip, bool) or not isinstance(clip, int | float) or not 0 <= clip <= 1:
        raise ValueError(f"clip must be a number in [0, 1], got {clip!r}")


@dataclass(frozen=True)
class ClickStats:
    """Click statistics per ``(query, document)`` pair (see the module docstring); arrays or tensors
    of one shape ``[..., L]``, ``sessions`` broadcastable to it.

    Raises:
        ValueError: shapes that do not broadcast, or negative values.
    """

    clicks: Any
    exposure: Any
    expected_exposure: Any = None
    sessions: Any = 1.0
    noise: Any = None

    def __post_init__(self) -> None:
        c = self.clicks
        like: Any = c if isinstance(c, Tensor) else np.asarray(c, dtype=np.float64)
        object.__setattr__(self, "clicks", like)
        for name in ("exposure", "expected_exposure", "sessions", "noise"):
            value = getattr(self, name)
            if value is None:
                continue
            v = _as_like(value, like)
            try:
                np.broadcast_shapes(tuple(like.shape), tuple(v.shape))
            except ValueError:
                raise ValueError(
                    f"{name} has shape {tuple(v.shape)}, which does not broadcast to the clicks' "
                    f"{tuple(like.shape)}"
                ) from None
            object.__setattr__(self, name, v)
        for name in ("clicks", "exposure", "expected_exposure", "sessions", "noise"):
            v = getattr(self, name)
            if v is not None and bool((v < 0).any()):
                raise ValueError(f"{name} must be >= 0")

    @classmethod
    def from_sessions(cls, clicks: Any, propensities: Any, expected: Any = None) -> ClickStats:
        """One session per list: ``clicks`` 0/1 and ``propensities`` (the examination probability of
        the rank each result was shown at) ``[..., L]``; ``expected``: their expectation under a
        stochastic logger (default: the propensities, a deterministic logger)."""
        return cls(clicks, propensities, expected, 1.0)

    @property
    def expected(self) -> Any:
        """``P``: the expected exposure, or the exposure when none was given."""
        return self.exposure if self.expected_exposure is None else self.expected_exposure

    def corrected_clicks(self) -> Any:
        """``C - B``: the clicks less the expected noise clicks (``C`` when no noise is given)."""
        if self.noise is None:
            return self.clicks
        return self.clicks - _full(self.noise, self.clicks)


def _ratio(clicks: A, denominator: A, what: str) -> A:
    """``clicks / denominator`` with ``0 / 0 = 0``; a non-zero value over a zero denominator is an
    error (it can only happen without clipping)."""
    zero = denominator <= 0
    if bool((zero & (clicks != 0)).any()):
        raise ValueError(
            f"clicks on a result whose {what} is 0 (the logging policy never exposes it): pass clip > 0"
        )
    if isinstance(denominator, Tensor):
        safe = torch.where(zero, torch.ones_like(denominator), denominator)
        return torch.where(zero, torch.zeros_like(clicks), clicks / safe)
    safe_np = np.where(zero, 1.0, denominator)
    return np.where(zero, 0.0, clicks / safe_np)


class RelevanceEstimator(Protocol):
    """Turns click statistics into one relevance estimate per pair."""

    @property
    def name(self) -> str:
        """The estimator's registry name."""
        ...

    def relevance(self, stats: ClickStats, *, predicted: Any = None, labels: Any = None) -> Any:
        """``[..., L]`` estimates, an array or tensor like ``stats.clicks``."""
        ...


@dataclass(frozen=True)
class Naive:
    """Clicks as relevance: ``C / N`` (no position-bias correction)."""

    name: ClassVar[str] = "naive"

    def relevance(self, stats: ClickStats, *, predicted: Any = None, labels: Any = None) -> Any:
        return _ratio(stats.clicks, _full(stats.sessions, stats.clicks), "session count")


@dataclass(frozen=True)
class IPS:
    """Inverse propensity scoring, ``C / max(P, clip N)`` (see the module docstring).

    Attributes:
        clip: ``tau``, the least exposure per session a pair is credited with (0: no clipping).
    """

    clip: float = 0.1
    name: ClassVar[str] = "ips"

    def __post_init__(self) -> None:
        _check_clip(self.clip)

    def denominator(self, stats: ClickStats) -> Any:
        """``D(P) = max(P, clip * N)``."""
        n = _full(stats.sessions, stats.clicks)
        return _maximum(_full(stats.expected, stats.clicks), self.clip * n)

    def relevance(self, stats: ClickStats, *, predicted: Any = None, labels: Any = None) -> Any:
        return _ratio(stats.corrected_clicks(), self.denominator(stats), "propensity")


@dataclass(frozen=True)
class SNIPS(IPS):
    """Self-normalised IPS, ``C / max(E, clip N)``: IPS divided by the mean importance weight."""

    name: ClassVar[str] = "snips"

    def denominator(self, stats: ClickStats) -> Any:
        """``D(E) = max(E, clip * N)``: the realised instead of the expected exposure."""
        n = _full(stats.sessions, stats.clicks)
        return _maximum(_full(stats.exposure, stats.clicks), self.clip * n)


@dataclass(frozen=True)
class DoublyRobust(IPS):
    """Doubly robust (Oosterhuis 2023): ``R^ + (C - E R^) / max(P, clip N)``; ``predicted`` is ``R^``.

    Where the clipped denominator is 0 (no exposure, ``clip = 0``), the estimate is ``R^`` alone.
    """

    name: ClassVar[str] = "dr"

    def relevance(self, stats: ClickStats, *, predicted: Any = None, labels: Any = None) -> Any:
        if predicted is None:
            raise ValueError("the doubly robust estimator needs predicted relevance R^ (a click model)")
        r_hat = _full(predicted, stats.clicks)
        den = self.denominator(stats)
        # the residual is 0 wherever the denominator is (no exposure and no clicks), so 0/0 -> 0 is exact
        residual = stats.corrected_clicks() - _full(stats.exposure, stats.clicks) * r_hat
        return r_hat + _ratio(residual, den, "propensity")


@dataclass(frozen=True)
class FullInformation:
    """The full-information ceiling: the true relevance ``labels`` (clicks are ignored)."""

    name: ClassVar[str] = "full_info"

    def relevance(self, stats: ClickStats, *, predicted: Any = None, labels: Any = None) -> Any:
        if labels is None:
            raise ValueError("the full-information baseline needs the true relevance labels")
        return _full(labels, stats.clicks) * 1.0


ESTIMATORS: dict[str, Callable[..., RelevanceEstimator]] = {
    "naive": Naive,
    "ips": IPS,
    "snips": SNIPS,
    "dr": DoublyRobust,
    "full_info": FullInformation,
}
"""Estimators by name; ``ips``, ``snips`` and ``dr`` take ``clip``."""


def get_estimator(name: str, clip: float = 0.1) -> RelevanceEstimator:
    """The estimator called ``name`` (``clip`` applies to ``ips``, ``snips`` and ``dr``).

    Raises:
        ValueError: an unknown name.
    """
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; known: {', '.join(ESTIMATORS)}")
    if name in ("ips", "snips", "dr"):
        return ESTIMATORS[name](clip=clip)
    return ESTIMATORS[name]()
