"""The base every click model shares: the session encoding, evaluation and the public contract.

A click model describes how a user scans one result page and where they click. Every model here
(:class:`~distillrank.feedback.click_models.PBM`, ``CascadeModel``, ``DCM``, ``UBM``, ``DBN``,
``SDBN``) is a small dataclass whose fields are its prior and its parameters; ``fit`` fills the
parameters from a :class:`~distillrank.data.clicklog.ClickLog`, or they are given at creation to
simulate from known values. Definitions follow Chuklin, Markov and de Rijke, *Click Models for Web
Search* (2015), and the PyClick library that accompanies the book.

Shared conventions:

* **Parameters** are probabilities. ``attractiveness`` is a :class:`pandas.Series` indexed by
  ``(qid, docno)``; per-rank parameters are arrays whose entry ``r - 1`` belongs to rank ``r``.
* **Prior.** Every estimate is ``(a + expected successes) / (a + b + trials)`` with Beta pseudo-counts
  ``prior = (a, b)`` (default ``(1, 1)``, PyClick's ``1 / 2`` start). A ``(qid, docno)`` pair that the
  model never saw (for example in a test log) gets the prior mean ``a / (a + b)`` (0.5 by default).
* **Log-likelihood** (:meth:`ClickModel.log_likelihood`), as PyClick computes it and Chuklin et al.
  report it: the natural-log probability of each observed click or skip given the session's earlier
  clicks, averaged over the ranks of a session, then over sessions::

      LL = 1/|S| * sum_s 1/n_s * sum_{r<=n_s} ln P(C_r = c_r | C_1..C_{r-1})

  so it is a per-result figure in ``(-inf, 0]``; higher is better.
* **Perplexity** (:meth:`ClickModel.perplexity`, Dupret and Piwowarski 2008; Chuklin et al. 2015,
  Sec. 5.2): at rank ``r``, with ``q`` the model's *unconditional* click probability ``P(C_r = 1)``
  (it does not look at the session's other clicks) and ``S_r`` the sessions that show rank ``r``::

      perplexity_r = 2 ** ( -1/|S_r| * sum_{s in S_r} [c log2 q + (1 - c) log2 (1 - q)] )

  and the overall perplexity is the mean of ``perplexity_r`` over ranks. It is ``>= 1``; 1 is a perfect
  prediction, 2 a coin flip; lower is better.
* Probabilities are clipped to ``[PROB_MIN, 1 - PROB_MIN]`` (``PROB_MIN = 1e-6``, PyClick's floor) before
  taking logarithms, so a model that rules an observed event out gets a large finite penalty.
* A session's positions must be ``1..n`` (every rank shown once); sessions may differ in length.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from distillrank.data.clicklog import ClickLog
from distillrank.errors import DataFormatError

__all__ = ["PROB_MIN", "ClickModel", "Sessions", "encode_sessions"]

PROB_MIN = 1e-6
"""Floor (and ``1 -`` ceiling) on probabilities before logarithms, as in PyClick."""

RandomState = np.random.Generator | int | None


@dataclass(frozen=True, eq=False)
class Sessions:
    """A click log as dense arrays: one row per *distinct* session, one column per rank.

    Identical sessions (same query, same shown list, same clicks) share a row with a ``weight``: real
    logs repeat result pages a lot, and every model computes each distinct page once.

    Attributes:
        pair: ``[U, K]`` index into ``pairs`` of the ``(qid, docno)`` shown at each rank; -1 past the end.
        click: ``[U, K]`` float 0/1 (0 past the end).
        mask: ``[U, K]`` True where a result is shown.
        weight: ``[U]`` how many sessions of the log share the row.
        inverse: ``[S]`` the row of each session of the log (sessions in ascending ``session_id``).
        rows: ``[S, K]`` position in ``log.df`` of each shown result; -1 past the end.
        pairs: the distinct ``(qid, docno)`` pairs.
    """

    pair: np.ndarray
    click: np.ndarray
    mask: np.ndarray
    weight: np.ndarray
    inverse: np.ndarray
    rows: np.ndarray
    pairs: pd.MultiIndex

    @property
    def depth(self) -> int:
        return int(self.pair.shape[1])

    @property
    def n_sessions(self) -> int:
        return int(self.inverse.shape[0])

    @property
    def lengths(self) -> np.ndarray:
        return self.mask.sum(axis=1)

    def cells(self, per_pair: np.ndarray) -> np.ndarray:
        """``[U, K]`` values of a per-pair array at each shown result (0 past the end)."""
        return np.append(per_pair, 0.0)[self.pair]

    def to_rows(self, values: np.ndarray, n_rows: int) -> np.ndarray:
        """Spread ``[U, K]`` values back to one value per row of the log."""
        full = values[self.inverse]
        shown = self.rows >= 0
        out = np.full(n_rows, np.nan)
        out[self.rows[shown]] = full[shown]
        return out

    def expanded(self) -> Sessions:
        """One row per session of the log (no sharing): what simulation needs."""
        n = self.n_sessions
        return Sessions(
            self.pair[self.inverse],
            self.click[self.inverse],
            self.mask[self.inverse],
            np.ones(n),
            np.arange(n),
            self.rows,
            self.pairs,
        )


def _position_problem(session: object, positions: np.ndarray, log: ClickLog) -> str:
    """What is wrong with the sorted 1-based ``positions`` of ``session`` (not ``1..n``), in the numbers
    of the log's source (``log.first_position``: a log counted from 0 shows 0..n-1) and what to do."""
    shift = log.first_position - 1
    shown = [int(p) + shift for p in positions]
    listed = ", ".join(map(str, shown[:12])) + (", ..." if len(shown) > 12 else "")
    repeats = sorted({p for p in shown if shown.count(p) > 1})
    if repeats:
        what = f"shows position {repeats[0]} twice"
    else:
        missing = sorted(set(range(log.first_position, max(shown) + 1)) - set(shown))
        gaps = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        what = f"lacks position{'s' if len(missing) > 1 else ''} {gaps}"
    top = log.first_position
    return (
        f"session {session} {what} (its positions: {listed}); click models and propensity estimates need "
        f"every session's results at positions {top}, {top + 1}, ... without gaps or repeats: drop such "
        "sessions or renumber their positions"
    )


def encode_sessions(log: ClickLog) -> Sessions:
    """Encode ``log`` for the click models (see :class:`Sessions`).

    Works on integer codes of the ids, never a Python string per row: about 1 GiB of working space per
    million result pages of ten results beside the log itself (``bench/README.md``, click models at
    scale).

    Raises:
        ValueError: the log is empty.
        DataFormatError: a session whose positions are not ``1..n``, or that mixes queries.
    """
    df = log.df
    if len(df) == 0:
        raise ValueError("the click log is empty")
    # integer codes throughout: session ids in ascending order, qids and docnos as strings in order of
    # first appearance (a Python string per row, or sorting them, costs gigabytes and minutes on a log of
    # millions of result pages)
    scode, suniq = pd.factorize(df["session_id"], sort=True)
    pos = df["position"].to_numpy().astype(np.int64)
    order = np.lexsort((pos, scode))
    sid_s, pos_s = scode[order], pos[order]
    del scode, pos  # (temporaries of a row each are freed as soon as they are done with)
    new = np.ones(len(order), dtype=bool)
    new[1:] = sid_s[1:] != sid_s[:-1]
    starts = np.flatnonzero(new)
    sess = np.cumsum(new) - 1
    del new
    bad = pos_s != np.arange(len(order)) - starts[sess] + 1
    if bad.any():
        s = int(sess[np.argmax(bad)])
        end = starts[s + 1] if s + 1 < len(starts) else len(order)
        raise DataFormatError(
            log.source, None, _position_problem(suniq[sid_s[starts[s]]], pos_s[starts[s] : end], log)
        )
    del bad
    qcode, quniq = _string_codes(df["qid"])
    qcode = qcode[order]
    mixed = qcode != qcode[starts[sess]]
    if mixed.any():
        s = int(sess[np.argmax(mixed)])
        raise DataFormatError(log.source, None, f"session {suniq[sid_s[starts[s]]]}: more than one qid")
    del mixed, sid_s
    dcode, duniq = _string_codes(df["docno"])
    key = qcode.astype(np.int64) * len(duniq) + dcode[order]
    del qcode, dcode
    ukeys, pair_code = np.unique(key, return_inverse=True)
    del key
    pairs = pd.MultiIndex.from_arrays(
        [quniq[ukeys // len(duniq)], duniq[ukeys % len(duniq)]],
        names=["qid", "docno"],
    )
    n, k = len(starts), int(pos_s.max())
    pair = np.full((n, k), -1, dtype=np.int64)
    pair[sess, pos_s - 1] = pair_code.reshape(-1)
    click = np.zeros((n, k))
    click[sess, pos_s - 1] = df["click"].to_numpy()[order]
    rows = np.full((n, k), -1, dtype=np.int64)
    rows[sess, pos_s - 1] = order
    del sess, pos_s, order, pair_code
    inverse, first = _first_seen_groups(pair, click)
    weight = np.bincount(inverse).astype(np.float64)
    upair = pair[first]
    return Sessions(upair, click[first], upair >= 0, weight, inverse, rows, pairs)


def _string_codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize`` of the column's values as strings (codes in order of first appearance, object
    array of the distinct strings), without making a Python string for every row: the distinct values
    are factorised first and turned into strings after."""
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    as_str = pd.Series(uniques, dtype=column.dtype).astype(str).to_numpy(dtype=object)
    merged, distinct = pd.factorize(as_str)  # distinct values with one string (1 and "1")
    return merged[codes], np.asarray(distinct, dtype=object)


def _first_seen_groups(pair: np.ndarray, click: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sessions with the same shown pairs and clicks: each session's group, groups numbered in order of
    first appearance, and each group's first session. The click pattern is packed into one integer
    (when the lists are at most 62 long) and each row compared as raw bytes."""
    k = pair.shape[1]
    if k <= 62:
        bits = (click.astype(np.int64) << np.arange(k, dtype=np.int64)).sum(axis=1)
        rows = np.concatenate([pair, bits[:, None]], axis=1)
    else:
        rows = np.concatenate([pair, click.astype(np.int64)], axis=1)
    rows = np.ascontiguousarray(rows)
    flat = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, first_sorted, group_sorted = np.unique(flat, return_index=True, return_inverse=True)
    by_first = np.argsort(first_sorted, kind="stable")
    relabel = np.empty_like(by_first)
    relabel[by_first] = np.arange(len(by_first))
    return relabel[group_sorted.reshape(-1)], first_sorted[by_first]


def rng_from(rng: RandomState) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def pair_series(values: Any, what: str) -> pd.Series:
    """A probability per ``(qid, docno)`` as a Series with a unique 2-level index (validated)."""
    if isinstance(values, Mapping) and not isinstance(values, pd.Series):
        values = pd.Series(dict(values), dtype=np.float64)
    if not isinstance(values, pd.Series):
        raise TypeError(f"{what} must be a pandas Series indexed by (qid, docno) or a mapping")
    if values.index.nlevels != 2:
        raise ValueError(f"{what} must be indexed by (qid, docno) pairs")
    if not values.index.is_unique:
        raise ValueError(f"{what} has a (qid, docno) pair twice")
    out = values.astype(np.float64)
    out.index = out.index.set_names(["qid", "docno"])
    v = out.to_numpy()
    if not np.all((v >= 0) & (v <= 1)):
        raise ValueError(f"{what} must be probabilities in [0, 1]")
    out.name = what
    return out


def prob_array(values: Any, what: str, ndim: int) -> np.ndarray:
    """A per-rank probability array (NaN allowed only where the model ignores the entry)."""
    a = np.array(values, dtype=np.float64)
    if a.ndim != ndim or a.size == 0:
        raise ValueError(f"{what} must be a non-empty {ndim}-d array of probabilities")
    ok = np.isnan(a) | ((a >= 0) & (a <= 1))
    if not ok.all():
        raise ValueError(f"{what} must be probabilities in [0, 1]")
    return a


def beta_update(num: np.ndarray, den: np.ndarray, prior: tuple[float, float]) -> np.ndarray:
    """``(a + num) / (a + b + den)``, clipped to ``[PROB_MIN, 1 - PROB_MIN]``."""
    a, b = prior
    return np.clip((a + num) / (a + b + den), PROB_MIN, 1 - PROB_MIN)


@dataclass(eq=False)
class ClickModel(ABC):
    """Base of every click model: fitting, prediction, evaluation and simulation on ClickLogs.

    Attributes:
        prior: Beta pseudo-counts ``(a, b)`` added to every estimate; unseen pairs get ``a / (a + b)``.
        attractiveness: ``P(A = 1)`` per ``(qid, docno)`` (the probability that an examined result is
            clicked / found attractive); set by :meth:`fit` or given.
    """

    prior: tuple[float, float] = (1.0, 1.0)
    attractiveness: pd.Series | None = None
    n_iter_: int = field(default=0, init=False, repr=False)
    converged_: bool = field(default=False, init=False, repr=False)

    _params: ClassVar[tuple[str, ...]] = ("attractiveness",)

    def __post_init__(self) -> None:
        prior = tuple(float(x) for x in self.prior)
        if len(prior) != 2 or not all(np.isfinite(prior)) or min(prior) <= 0:
            raise ValueError(f"prior must be two positive pseudo-counts (a, b), got {self.prior!r}")
        self.prior = (prior[0], prior[1])
        if self.attractiveness is not None:
            self.attractiveness = pair_series(self.attractiveness, "attractiveness")
        self._validate_params()

    # ----- what a model defines -------------------------------------------------------------------

    def _validate_params(self) -> None:  # noqa: B027 - optional hook, most models have fields to check
        """Check (and normalise) the model's own parameter fields."""

    @abstractmethod
    def _fit(self, s: Sessions, max_iter: int, tol: float) -> tuple[int, bool]:
        """Set the parameters from ``s``; return (iterations, converged)."""

    @abstractmethod
    def _conditional(self, s: Sessions) -> np.ndarray:
        """``[U, K]`` P(C_r = 1 | the session's clicks above r)."""

    @abstractmethod
    def _marginal(self, s: Sessions) -> np.ndarray:
        """``[U, K]`` P(C_r = 1), not conditioned on other clicks."""

    @abstractmethod
    def _simulate(self, s: Sessions, rng: np.random.Generator) -> np.ndarray:
        """``[S, K]`` 0/1 clicks drawn for the (expanded) sessions ``s``."""

    def _depth(self) -> int | None:
        """Deepest rank the per-rank parameters cover (None: any depth)."""
        return None

    def _log_prob_observed(self, s: Sessions, p_click: np.ndarray) -> np.ndarray:
        """``[U, K]`` ln P(observed outcome | earlier clicks) from the conditional click probabilities."""
        p = np.where(s.click > 0, p_click, 1.0 - p_click)
        return np.log(np.clip(p, PROB_MIN, 1.0))

    # ----- shared helpers -------------------------------------------------------------------------

    @property
    def default_probability(self) -> float:
        """The prior mean ``a / (a + b)``: the value of a parameter for a pair never seen in training."""
        return self.prior[0] / (self.prior[0] + self.prior[1])

    def _lookup(self, series: pd.Series | None, s: Sessions) -> np.ndarray:
        """Per-pair values of ``series`` aligned to ``s.pairs``; unseen pairs get the prior mean."""
        assert series is not None
        idx = series.index.get_indexer(s.pairs)
        return np.where(idx >= 0, series.to_numpy()[idx], self.default_probability)

    def _alpha(self, s: Sessions) -> np.ndarray:
        return s.cells(self._lookup(self.attractiveness, s))

    def _series(self, values: np.ndarray, s: Sessions, name: str) -> pd.Series:
        return pd.Series(values, index=s.pairs, name=name)

    def _prepare(self, log: ClickLog | Sessions) -> Sessions:
        if not isinstance(log, Sessions):
            ClickLog.check(log, f"{type(self).__name__}")
        missing = [p for p in self._params if getattr(self, p) is None]
        if missing:
            raise ValueError(
                f"{type(self).__name__} has no {', '.join(missing)}: call fit(log) or pass the parameters "
                "when creating it"
            )
        s = log if isinstance(log, Sessions) else encode_sessions(log)
        depth = self._depth()
        if depth is not None and s.depth > depth:
            raise ValueError(
                f"{type(self).__name__} has parameters for ranks 1..{depth}; the log has rank {s.depth}"
            )
        return s

    # ----- public API -----------------------------------------------------------------------------

    def fit(self, log: ClickLog, max_iter: int = 100, tol: float = 1e-6) -> Self:
        """Estimate the parameters from ``log`` (EM, or the closed-form MLE where one exists).

        Args:
            max_iter: at most this many EM iterations (ignored by closed-form models).
            tol: stop when no parameter moves by more than ``tol`` in an iteration.

        Returns:
            ``self``, fitted; ``n_iter_`` and ``converged_`` tell how EM ended.
        """
        if int(max_iter) != max_iter or max_iter < 1:
            raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
        if not tol >= 0:
            raise ValueError(f"tol must be >= 0, got {tol!r}")
        ClickLog.check(log, f"{type(self).__name__}.fit")
        if len(log.df) == 0:
            raise ValueError(f"cannot fit {type(self).__name__} on an empty click log")
        s = encode_sessions(log)
        self.n_iter_, self.converged_ = self._fit(s, int(max_iter), float(tol))
        return self

    def click_probabilities(self, log: ClickLog) -> np.ndarray:
        """P(click) of every row of ``log.df`` given the clicks above it in its session (the
        probabilities the log-likelihood uses), in row order."""
        s = self._prepare(log)
        return s.to_rows(self._conditional(s), len(log.df))

    def marginal_click_probabilities(self, log: ClickLog) -> np.ndarray:
        """Unconditional P(click) of every row of ``log.df`` (the probabilities perplexity uses)."""
        s = self._prepare(log)
        return s.to_rows(self._marginal(s), len(log.df))

    def log_likelihood(self, log: ClickLog | Sessions) -> float:
        """Mean over sessions of the mean over ranks of ln P(c_r | earlier clicks) (module docstring).

        ``log`` may be a click log or its :func:`encode_sessions` (to evaluate several models, or the
        log-likelihood and the perplexity, on one encoding of a large log)."""
        s = self._prepare(log)
        lp = np.where(s.mask, self._log_prob_observed(s, self._conditional(s)), 0.0)
        per_session = lp.sum(axis=1) / s.lengths
        return float(np.sum(per_session * s.weight) / s.weight.sum())

    def perplexity(self, log: ClickLog | Sessions) -> tuple[float, np.ndarray]:
        """``(overall, per_rank)``: perplexity at each rank from unconditional click probabilities and
        their mean over ranks (module docstring); ``per_rank[r - 1]`` is rank ``r``. ``log`` may be a
        click log or its :func:`encode_sessions`."""
        s = self._prepare(log)
        q = np.clip(self._marginal(s), PROB_MIN, 1 - PROB_MIN)
        bits = np.where(s.click > 0, np.log2(q), np.log2(1 - q))
        w = s.weight[:, None] * s.mask
        per_rank = 2.0 ** (-(bits * w).sum(axis=0) / w.sum(axis=0))
        return float(per_rank.mean()), per_rank

    def simulate(self, log: ClickLog, rng: RandomState = None) -> ClickLog:
        """Draw clicks on the result pages of ``log`` (its own clicks are ignored).

        Returns:
            a copy of ``log`` with the ``click`` column replaced by simulated clicks.
        """
        s = self._prepare(log).expanded()
        clicks = self._simulate(s, rng_from(rng))
        df = log.df.copy()
        df["click"] = s.to_rows(clicks.astype(np.float64), len(df)).astype(np.int64)
        return log.with_rows(df)

    def copy(self) -> Self:
        return copy.deepcopy(self)
