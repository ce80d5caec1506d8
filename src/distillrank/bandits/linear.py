r"""Linear contextual policies: one model of the attractiveness shared by every query, through item features.

The per-query policies of :mod:`distillrank.bandits.policies` learn each query's items apart: with many
queries each gets few rounds and they keep exploring. The policies here assume the attractiveness is
(close to) linear in the item (query-document) features ``x`` of the environment
(:attr:`~distillrank.bandits.environments.MultiQueryEnvironment.context_features`), with one ``theta``
for every query, ``alpha_{c,i} ~ x_{c,i}^T theta``, so that a click on one query teaches about all.

**Statistics** (ridge regression over the observations ``(x_s, c_s, w_s)``: features, click, weight)::

    A = lambda I + sum_s w_s x_s x_s^T        b = sum_s c_s x_s        theta_hat = A^{-1} b

* ``"pbm"`` (examination ``kappa_k`` known): every shown item is an observation, weighted by its
  position's examination, ``w = kappa_k``, with its click as target. Since ``E[c] = kappa_k x^T theta``,
  ``E[b] = sum kappa x x^T theta``: ``theta_hat`` solves the examination-weighted normal equations, the
  linear counterpart of the per-query ``S / Ñ`` (exposure ``Ñ = sum kappa``, PBM-UCB of Lagrée et al.
  2016; with one-hot features and ``lambda -> 0`` it is ``S / Ñ`` itself), and ``x^T A^{-1} x`` shrinks as
  ``1 / Ñ``. (The alternative of Li et al. 2016, "Contextual combinatorial cascading bandits", regresses
  ``c`` on the discounted features ``kappa x``, i.e. ``w = kappa^2`` and ``b = sum kappa c x``; both are
  consistent; the weighting here keeps the per-query policies' statistics.)
* ``"cascade"`` (CascadeLinUCB / CascadeLinTS, Zong et al. 2016, UAI): only the items up to the first
  click (all ``L`` when none) are observed, each with ``w = 1`` and its click.

**Indices** (the slate holds the ``L`` best-scored items of the round's query, placed as in
:class:`~distillrank.bandits.policies.Policy`):

* :class:`LinUCB` (Li et al. 2010, WWW; CascadeLinUCB of Zong et al. 2016 with the cascade feedback):
  ``x^T theta_hat + alpha sqrt(x^T A^{-1} x)``. (Zong et al. clip the index at 1, which changes no order
  but adds ties; not done here.)
* :class:`LinTS` (Agrawal and Goyal 2013, ICML; CascadeLinTS of Zong et al. 2016): a draw
  ``theta ~ N(theta_hat, v^2 A^{-1})``, scores ``x^T theta``. Only the scores of the query's ``n``
  candidates are used, so they are drawn exactly from their joint law
  ``N(X theta_hat, v^2 X A^{-1} X^T)`` (Cholesky of an ``n x n`` matrix, not of the ``d x d`` ``A^{-1}``).

**Features**: an intercept (a constant 1) is appended by default, so the model has a base attractiveness;
feature columns that are 0 in every context are dropped (exact: they would only hold ``lambda`` on
``A``'s diagonal and 0 in ``theta``). **Inverse**: ``A^{-1}`` is kept by the Woodbury identity (the
batched Sherman-Morrison update) for the ``k <= L`` observations of a round, ``X_o`` (``k x d``) with
weights ``W``::

    A'^{-1} = A^{-1} - U (W^{-1} + X_o U)^{-1} U^T        U = A^{-1} X_o^T

(``O(k d^2)`` a round); ``A`` is kept as well and ``A^{-1}`` recomputed from it (Cholesky) every
``refresh`` updates, which bounds the round-off drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from scipy.linalg.lapack import dposv as _posv

from distillrank.bandits.policies import POLICIES, Policy

__all__ = ["LINEAR_POLICY_NAMES", "LinTS", "LinUCB", "LinearPolicy", "sherman_morrison_update"]


def sherman_morrison_update(
    a_inv: np.ndarray, x: np.ndarray, weights: np.ndarray | None = None, *, out: np.ndarray | None = None
) -> np.ndarray:
    """``(A + X^T W X)^{-1}`` from ``A^{-1}`` (``[d, d]``, symmetric), ``x`` (``[k, d]`` rows or one
    ``[d]`` row) and positive ``weights`` (``[k]``, default 1), by the Woodbury identity (module
    docstring). Returns a new array, or updates ``a_inv`` in place when ``out is a_inv``.

    Example:
        >>> a = np.array([[2.0, 0.5], [0.5, 1.0]])
        >>> x = np.array([[1.0, 2.0]])
        >>> bool(np.allclose(sherman_morrison_update(np.linalg.inv(a), x), np.linalg.inv(a + x.T @ x)))
        True
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    w = np.ones(x.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    u = a_inv @ x.T
    m = x @ u
    m.flat[:: m.shape[0] + 1] += 1.0 / w
    _, sol, info = _posv(m, u.T)  # m = W^{-1} + X A^{-1} X^T is positive definite
    if info != 0:  # pragma: no cover - only when round-off breaks the positive definiteness
        sol = np.linalg.solve(m, u.T)
    if out is None:
        return np.asarray(a_inv - u @ sol)
    out -= u @ sol
    return out


@dataclass(kw_only=True, eq=False)
class LinearPolicy(Policy):
    """The ridge statistics shared by :class:`LinUCB` and :class:`LinTS` (module docstring).

    Attributes:
        features: the ``[n_items, d]`` item features of each context (:func:`make_policy` passes the
            environment's).
        ridge: ``lambda > 0``, the ridge (prior precision) of ``A``.
        intercept: append a constant-1 feature.
        refresh: recompute ``A^{-1}`` from ``A`` every ``refresh`` updates (an integer ``>= 1``).
    """

    features: Sequence[np.ndarray]
    ridge: float = 1.0
    intercept: bool = True
    refresh: int = 1000

    needs_features: ClassVar[bool] = True

    dim: int = field(init=False, repr=False)
    a_inv: np.ndarray = field(init=False, repr=False)
    b: np.ndarray = field(init=False, repr=False)
    theta: np.ndarray = field(init=False, repr=False)

    def check(self) -> None:
        if not (isinstance(self.ridge, int | float) and self.ridge > 0):
            raise ValueError(f"ridge must be > 0, got {self.ridge!r}")
        if not isinstance(self.intercept, bool | np.bool_) and self.intercept not in (0, 1):
            raise ValueError(f"intercept must be a bool, got {self.intercept!r}")
        if isinstance(self.refresh, bool) or int(self.refresh) != self.refresh or self.refresh < 1:
            raise ValueError(f"refresh must be an integer >= 1, got {self.refresh!r}")
        self._prepare_features()

    def _prepare_features(self) -> None:
        feats = [np.asarray(f, dtype=np.float64) for f in self.features]
        if len(feats) != len(self.sizes):
            raise ValueError(f"features must be one matrix per context: {len(feats)} for {len(self.sizes)}")
        widths = {f.shape[1] if f.ndim == 2 else -1 for f in feats}
        for i, (f, n) in enumerate(zip(feats, self.sizes, strict=True)):
            if f.ndim != 2 or f.shape[0] != n or len(widths) != 1 or f.shape[1] < 1:
                raise ValueError(
                    f"features of context {i} must be [n_items={n}, d] with one d >= 1 for all, got {f.shape}"
                )
            if not np.isfinite(f).all():
                raise ValueError(f"features of context {i} must be finite")
        used = np.zeros(feats[0].shape[1], dtype=bool)
        for f in feats:
            used |= (f != 0).any(axis=0)
        dim = int(used.sum()) + int(bool(self.intercept))
        if dim == 0:
            raise ValueError("every feature is 0 in every context and intercept=False: nothing to learn")
        x = np.zeros((len(feats), max(self.sizes), dim))
        for i, f in enumerate(feats):
            x[i, : f.shape[0], : int(used.sum())] = f[:, used]
            if self.intercept:
                x[i, : f.shape[0], -1] = 1.0
        self.dim, self._x, self._features_used = dim, x, used

    def reset(self) -> None:
        super().reset()
        self._a = self.ridge * np.eye(self.dim)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self.a_inv = np.eye(self.dim) / self.ridge
        self.b = np.zeros(self.dim)
        self.theta = np.zeros(self.dim)
        self._updates = 0

    @property
    def a(self) -> np.ndarray:
        """``A = lambda I + sum w x x^T`` (its updates are batched until read, or the next refresh)."""
        if self._pending:
            x = np.concatenate([p[0] for p in self._pending])
            w = np.concatenate([p[1] for p in self._pending])
            self._a += (x.T * w) @ x
            self._pending.clear()
        return self._a

    def item_features(self, context: int) -> np.ndarray:
        """``[n_items, dim]`` the features the model uses for ``context`` (used columns, intercept)."""
        return self._x[context, : self.sizes[context]]

    def learn(self, context: int, items: np.ndarray, c: np.ndarray, w: np.ndarray) -> None:
        super().learn(context, items, c, w)
        x = self._x[context, items]
        self._pending.append((x, w))
        self.b += x.T @ c
        self._updates += 1
        if self._updates % self.refresh == 0:
            root_inv = np.linalg.inv(np.linalg.cholesky(self.a))
            self.a_inv = root_inv.T @ root_inv
        else:
            sherman_morrison_update(self.a_inv, x, w, out=self.a_inv)
        self.theta = self.a_inv @ self.b

    def _padded_scores(self, s: np.ndarray) -> np.ndarray:
        out = np.full(self._x.shape[1], -np.inf)
        out[: len(s)] = s
        return out


@dataclass(kw_only=True, eq=False)
class LinUCB(LinearPolicy):
    """``x^T theta_hat + alpha sqrt(x^T A^{-1} x)`` (Li et al. 2010; with ``feedback="cascade"``,
    CascadeLinUCB of Zong et al. 2016; module docstring).

    Attributes:
        alpha: exploration scale ``>= 0`` (0: greedy on ``theta_hat``).
    """

    alpha: float = 0.5

    def check(self) -> None:
        if not (isinstance(self.alpha, int | float) and self.alpha >= 0):
            raise ValueError(f"alpha must be >= 0, got {self.alpha!r}")
        super().check()

    def scores(self, rng: np.random.Generator, context: int, t: int) -> np.ndarray:
        x = self.item_features(context)
        z = x @ self.a_inv
        width = np.sqrt(np.maximum(np.einsum("ij,ij->i", z, x), 0.0))
        return self._padded_scores(x @ self.theta + self.alpha * width)


@dataclass(kw_only=True, eq=False)
class LinTS(LinearPolicy):
    """Scores ``x^T theta`` with ``theta ~ N(theta_hat, v^2 A^{-1})`` (Agrawal and Goyal 2013; with
    ``feedback="cascade"``, CascadeLinTS of Zong et al. 2016), drawn as the candidates' joint Gaussian
    (module docstring).

    Attributes:
        v: the posterior scale ``> 0``.
    """

    v: float = 0.1
    random_ties: ClassVar[bool] = False

    def check(self) -> None:
        if not (isinstance(self.v, int | float) and self.v > 0):
            raise ValueError(f"v must be > 0, got {self.v!r}")
        super().check()

    def scores(self, rng: np.random.Generator, context: int, t: int) -> np.ndarray:
        x = self.item_features(context)
        cov = (x @ self.a_inv) @ x.T
        cov = 0.5 * (cov + cov.T)
        cov[np.diag_indices_from(cov)] += 1e-10 * (1.0 + float(np.trace(cov)) / len(cov))
        try:
            root = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:  # pragma: no cover - the jitter keeps cov positive definite
            vals, vecs = np.linalg.eigh(cov)
            root = vecs * np.sqrt(np.maximum(vals, 0.0))
        draw = x @ self.theta + self.v * (root @ rng.standard_normal(len(cov)))
        return self._padded_scores(draw)


LINEAR_POLICY_NAMES: tuple[str, ...] = ("lin_ucb", "lin_ts")
"""The names :data:`~distillrank.bandits.policies.POLICIES` gives the linear policies."""

_LINEAR: dict[str, type[Policy]] = {"lin_ucb": LinUCB, "lin_ts": LinTS}
POLICIES.update(_LINEAR)
