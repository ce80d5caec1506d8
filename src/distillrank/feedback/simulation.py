"""Simulated clicks over any collection with graded relevance: the unbiased learning-to-rank protocol.

:class:`ClickSimulator` follows Joachims, Swaminathan and Schnabel (WSDM 2017) and Oosterhuis and
de Rijke (2020): a logging ranker (a :class:`~distillrank.data.run.Run`) shows its top ``top_k`` for a
sampled query; the result at rank ``r`` is examined with probability ``theta_r`` and an examined result
with grade ``y`` is clicked with probability ``eps(y)``::

    theta_r = base_r ** eta          base = (0.68, 0.61, 0.48, 0.34, 0.28, 0.20, 0.11, 0.10, 0.08, 0.06)
    eps(y)  = eps_minus + (eps_plus - eps_minus) * (2**y - 1) / (2**y_max - 1)
    P(C_r = 1) = theta_r * eps(y)

``base`` is the eye-tracking examination curve of Joachims et al. (2005) used by Ai et al. (2018) and
the ULTRA toolbox. Beyond rank 10 (``tail``) it is extended with its last value (``"last"``, the
default) or decays as ``base_10 * 10 / r`` (``"reciprocal"``). Grades are clipped to ``[0, y_max]``; an
unjudged document has grade 0; ``y_max`` is ``max_grade`` or else the largest grade in the relevance
labels. Teacher scores serve as relevance through :func:`teacher_grades`.

Trust bias (Agarwal et al., WWW 2019): ``eps_minus`` and ``eps_plus`` may be given per rank (a sequence,
extended with its last value), so that ``P(C = 1 | E = 1, relevant) = eps_plus_r`` and
``P(C = 1 | E = 1, not relevant) = eps_minus_r``; :class:`TrustBiasSimulator` has the per-rank defaults of
Vardasbi et al. (CIKM 2020), ``eps_plus_r = 1`` and ``eps_minus_r = 0.65 / r``, and records both per row.

The log it returns (a :class:`~distillrank.data.clicklog.ClickLog`) has the true examination
probability ``theta_r`` of each shown position in ``propensity``, the grade used in ``label`` (for
evaluation only: a learner must not see it), ``logger`` (the index of the logging run) when several
runs share the traffic, and any column an intervention adds (``swap_rank`` for :class:`SwapWithTop`).

Interventions (Joachims et al. 2017) randomise what is shown, per session, to make position bias
estimable: :class:`RandTopN` shuffles the top ``n``; :class:`SwapWithTop` swaps rank 1 with a rank drawn
uniformly from ``1..n`` (1: no swap).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import pandas as pd

from distillrank.data.clicklog import ClickLog
from distillrank.data.run import Run
from distillrank.feedback.click_models.base import RandomState, rng_from

__all__ = [
    "JOACHIMS_EXAMINATION",
    "ClickSimulator",
    "Intervention",
    "RandTopN",
    "SwapWithTop",
    "TrustBiasSimulator",
    "rankings_to_log",
    "teacher_grades",
]

JOACHIMS_EXAMINATION: tuple[float, ...] = (0.68, 0.61, 0.48, 0.34, 0.28, 0.20, 0.11, 0.10, 0.08, 0.06)
"""Examination probability of ranks 1..10 from the eye-tracking study of Joachims et al. (2005)."""

Relevance = Mapping[str, Mapping[str, float]]


class Intervention(Protocol):
    """Re-orders each session's list before it is shown."""

    def apply(
        self, lengths: np.ndarray, k: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(order, columns)``: ``order[s, j]`` is the logger's 0-based rank shown at position
        ``j + 1`` of session ``s`` (``lengths[s]`` results, ``k`` columns); ``columns`` are per-session
        values to record in the log."""
        ...


@dataclass(frozen=True)
class RandTopN:
    """Shuffle the top ``n`` results of every session uniformly at random (RandTop-n)."""

    n: int = 10

    def __post_init__(self) -> None:
        if int(self.n) != self.n or self.n < 2:
            raise ValueError(f"n must be an integer >= 2, got {self.n!r}")

    def apply(
        self, lengths: np.ndarray, k: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        order = np.tile(np.arange(k), (len(lengths), 1))
        m = min(self.n, k)
        keys = rng.random((len(lengths), m))
        keys[np.arange(m)[None, :] >= lengths[:, None]] = np.inf  # missing results stay at the end
        order[:, :m] = np.argsort(keys, axis=1, kind="stable")
        return order, {}


@dataclass(frozen=True)
class SwapWithTop:
    """Swap rank 1 with a rank drawn uniformly from ``1..min(n, length)``; records ``swap_rank``."""

    n: int = 10

    def __post_init__(self) -> None:
        if int(self.n) != self.n or self.n < 2:
            raise ValueError(f"n must be an integer >= 2, got {self.n!r}")

    def apply(
        self, lengths: np.ndarray, k: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        rows = np.arange(len(lengths))
        top = np.minimum(np.minimum(self.n, k), lengths)
        j = np.floor(rng.random(len(lengths)) * top).astype(np.int64)
        order = np.tile(np.arange(k), (len(lengths), 1))
        order[rows, 0] = j
        order[rows, j] = 0
        return order, {"swap_rank": j + 1}


def _per_rank(value: float | Sequence[float], what: str) -> tuple[float, ...]:
    if isinstance(value, int | float | np.number):
        vals: tuple[float, ...] = (float(value),)
    else:
        vals = tuple(float(v) for v in value)
    if not vals:
        raise ValueError(f"{what} must be a number or a non-empty sequence")
    for v in vals:
        if not 0 <= v <= 1:
            raise ValueError(f"{what} must be in [0, 1], got {v}")
    return vals


def _extend(values: Sequence[float], k: int) -> np.ndarray:
    out = np.full(k, values[-1])
    n = min(k, len(values))
    out[:n] = values[:n]
    return out


@dataclass(frozen=True)
class ClickSimulator:
    """Position-biased, noisy clicks on a logging ranker's top ``top_k`` (see the module docstring).

    Attributes:
        eta: severity of position bias, ``>= 0`` (0: no bias).
        eps_minus: click probability of an examined grade-0 result (number, or one per rank).
        eps_plus: click probability of an examined top-grade result (number, or one per rank).
        top_k: results shown per session.
        max_grade: ``y_max``; default: the largest grade in the relevance labels.
        base_examination: ``base_r`` of ranks 1.. (default :data:`JOACHIMS_EXAMINATION`).
        tail: how ``base`` continues past its end: ``"last"`` or ``"reciprocal"``.

    Example:
        >>> from distillrank.data.run import Run
        >>> run = Run({"q1": {"a": 3.0, "b": 2.0, "c": 1.0}})
        >>> log = ClickSimulator(eta=1.0).simulate(run, {"q1": {"a": 1}}, n_sessions=5, rng=0)
        >>> log.df["propensity"].head(3).round(2).tolist()
        [0.68, 0.61, 0.48]
    """

    eta: float = 1.0
    eps_minus: float | Sequence[float] = 0.1
    eps_plus: float | Sequence[float] = 1.0
    top_k: int = 10
    max_grade: float | None = None
    base_examination: Sequence[float] = JOACHIMS_EXAMINATION
    tail: Literal["last", "reciprocal"] = "last"
    _eps: tuple[tuple[float, ...], tuple[float, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.eta < float("inf"):
            raise ValueError(f"eta must be finite and >= 0, got {self.eta}")
        lo, hi = _per_rank(self.eps_minus, "eps_minus"), _per_rank(self.eps_plus, "eps_plus")
        n = max(len(lo), len(hi))
        lo_n, hi_n = _extend(lo, n), _extend(hi, n)
        bad = np.flatnonzero(lo_n > hi_n)
        if len(bad):
            r = int(bad[0])
            where = f" at rank {r + 1}" if n > 1 else ""
            raise ValueError(
                f"eps_minus must be <= eps_plus{where}, got eps_minus={lo_n[r]} > eps_plus={hi_n[r]}"
            )
        object.__setattr__(self, "_eps", (lo, hi))
        if int(self.top_k) != self.top_k or self.top_k < 1:
            raise ValueError(f"top_k must be an integer >= 1, got {self.top_k!r}")
        base = tuple(float(b) for b in self.base_examination)
        if not base or not all(0 < b <= 1 for b in base):
            raise ValueError(f"base_examination must be non-empty with values in (0, 1], got {base}")
        object.__setattr__(self, "base_examination", base)
        if self.tail not in ("last", "reciprocal"):
            raise ValueError(f"tail must be 'last' or 'reciprocal', got {self.tail!r}")
        if self.max_grade is not None and not self.max_grade > 0:
            raise ValueError(f"max_grade must be > 0, got {self.max_grade}")

    # ----- the user model ------------------------------------------------------------------------

    def examination(self, k: int | None = None) -> np.ndarray:
        """``theta_r`` for ranks ``1..k`` (default ``top_k``): the true propensities."""
        k = self.top_k if k is None else k
        base = np.asarray(self.base_examination)
        out = _extend(self.base_examination, k)
        if self.tail == "reciprocal" and k > len(base):
            r = np.arange(len(base) + 1, k + 1)
            out[len(base) :] = base[-1] * len(base) / r
        return out**self.eta

    def relevance_probability(self, grades: np.ndarray, max_grade: float) -> np.ndarray:
        """``(2**y - 1) / (2**y_max - 1)`` with ``y`` clipped to ``[0, y_max]``."""
        y = np.clip(grades, 0.0, max_grade)
        return (2.0**y - 1.0) / (2.0**max_grade - 1.0)

    def click_given_examined(self, grades: np.ndarray, max_grade: float) -> np.ndarray:
        """``[n, k]`` P(click | examined) of results with ``grades`` shown at ranks ``1..k``."""
        k = grades.shape[-1]
        lo, hi = _extend(self._eps[0], k), _extend(self._eps[1], k)
        return lo + (hi - lo) * self.relevance_probability(grades, max_grade)

    def _extra_columns(self, positions: np.ndarray) -> dict[str, np.ndarray]:
        """Per-row columns the log records besides the standard ones (a variant may add some)."""
        return {}

    # ----- simulation ----------------------------------------------------------------------------

    def simulate(
        self,
        run: Run | Sequence[Run],
        relevance: Relevance,
        n_sessions: int,
        rng: RandomState = None,
        *,
        query_weights: Mapping[str, float] | None = None,
        logger_weights: Sequence[float] | None = None,
        intervention: Intervention | None = None,
        first_session_id: int = 0,
    ) -> ClickLog:
        """Simulate ``n_sessions`` result pages with clicks.

        Args:
            run: the logging ranker, or several that share the traffic (each session picks one by
                ``logger_weights``, uniform by default). Queries are those with results in every run.
            relevance: grades ``qid -> {docno: grade}`` (a :class:`~distillrank.data.collection.Qrels`
                or :func:`teacher_grades` of a teacher's run).
            n_sessions: sessions to draw; queries are drawn uniformly or by ``query_weights``.
            intervention: re-orders each session's list (:class:`RandTopN`, :class:`SwapWithTop`).
            first_session_id: ``session_id`` of the first session (sessions are numbered on from it).

        Returns:
            a ClickLog (columns in the module docstring), sessions in order, positions ``1..n``.
        """
        if int(n_sessions) != n_sessions or n_sessions < 1:
            raise ValueError(f"n_sessions must be an integer >= 1, got {n_sessions!r}")
        gen = rng_from(rng)
        runs: list[Run] = [run] if isinstance(run, Run) else list(run)
        if not runs:
            raise ValueError("no logging run given")
        qids = [q for q in runs[0] if all(r.get(q) for r in runs)]
        if not qids:
            raise ValueError("the logging runs have no query with results (in every run)")
        ymax = self.max_grade
        if ymax is None:
            ymax = max((float(g) for q in qids for g in relevance.get(q, {}).values()), default=0.0)
            if not ymax > 0:
                raise ValueError("the relevance labels have no positive grade: pass max_grade")
        k = self.top_k
        shown, grade, docnos = self._lists(runs, qids, relevance, k)

        qprob = self._query_probabilities(qids, query_weights)
        qi = gen.choice(len(qids), size=int(n_sessions), p=qprob)
        if len(runs) > 1:
            lw = np.ones(len(runs)) if logger_weights is None else np.asarray(logger_weights, float)
            if lw.shape != (len(runs),) or (lw < 0).any() or not lw.sum() > 0:
                raise ValueError("logger_weights must be one weight >= 0 per run, with a positive sum")
            li = gen.choice(len(runs), size=int(n_sessions), p=lw / lw.sum())
        else:
            li = np.zeros(int(n_sessions), dtype=np.int64)
        codes, grades = shown[li, qi], grade[li, qi]
        lengths = (codes >= 0).sum(axis=1)
        extra_sessions: dict[str, np.ndarray] = {}
        if intervention is not None:
            order, extra_sessions = intervention.apply(lengths, k, gen)
            codes = np.take_along_axis(codes, order, axis=1)
            grades = np.take_along_axis(grades, order, axis=1)
        theta = self.examination(k)
        p = theta[None, :] * self.click_given_examined(grades, ymax)
        clicks = gen.random(p.shape) < p
        mask = codes >= 0
        sess = np.broadcast_to(np.arange(int(n_sessions))[:, None], mask.shape)[mask]
        pos = np.broadcast_to(np.arange(1, k + 1)[None, :], mask.shape)[mask]
        cols: dict[str, object] = {
            "session_id": sess + int(first_session_id),
            "qid": np.asarray(qids, dtype=object)[qi][sess],
            "position": pos,
            "docno": docnos[codes[mask]],
            "click": clicks[mask].astype(np.int64),
            "propensity": theta[pos - 1],
            "label": grades[mask],
        }
        if len(runs) > 1:
            cols["logger"] = li[sess]
        for name, values in extra_sessions.items():
            cols[name] = np.asarray(values)[sess]
        cols.update(self._extra_columns(pos))
        return ClickLog(pd.DataFrame(cols), source=f"simulated:{type(self).__name__}")

    @staticmethod
    def _lists(
        runs: list[Run], qids: list[str], relevance: Relevance, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(shown [L, Q, k] doc codes, -1 padded; grades [L, Q, k]; docno per code)``."""
        vocab: dict[str, int] = {}
        shown = np.full((len(runs), len(qids), k), -1, dtype=np.int64)
        grade = np.zeros((len(runs), len(qids), k))
        for li, r in enumerate(runs):
            for qi, q in enumerate(qids):
                rel = relevance.get(q, {})
                for j, (d, _) in enumerate(r.ranked(q, k)):
                    shown[li, qi, j] = vocab.setdefault(d, len(vocab))
                    grade[li, qi, j] = float(rel.get(d, 0.0))
        return shown, grade, np.asarray(list(vocab), dtype=object)

    @staticmethod
    def _query_probabilities(qids: list[str], weights: Mapping[str, float] | None) -> np.ndarray:
        if weights is None:
            return np.full(len(qids), 1.0 / len(qids))
        unknown = sorted(set(weights) - set(qids))
        if unknown:
            raise ValueError(f"query_weights names queries the runs do not answer: {unknown[:5]}")
        w = np.array([float(weights.get(q, 0.0)) for q in qids])
        if (w < 0).any() or not w.sum() > 0:
            raise ValueError("query_weights must be >= 0 with a positive sum")
        return w / w.sum()


def _trust_minus() -> tuple[float, ...]:
    return tuple(0.65 / r for r in range(1, 11))


@dataclass(frozen=True)
class TrustBiasSimulator(ClickSimulator):
    """Trust bias (Agarwal et al. 2019): per-rank click noise, by default Vardasbi et al.'s
    ``eps_plus_r = 1`` and ``eps_minus_r = 0.65 / r`` (ranks past 10 keep rank 10's value).

    Each row also records ``eps_plus`` and ``eps_minus`` of its rank: with ``propensity`` they give
    the affine correction ``P(C) = theta (eps_minus + (eps_plus - eps_minus) P(R))``.
    """

    eps_minus: float | Sequence[float] = field(default_factory=_trust_minus)
    eps_plus: float | Sequence[float] = 1.0

    def _extra_columns(self, positions: np.ndarray) -> dict[str, np.ndarray]:
        k = int(positions.max()) if len(positions) else 1
        lo, hi = _extend(self._eps[0], k), _extend(self._eps[1], k)
        return {"eps_plus": hi[positions - 1], "eps_minus": lo[positions - 1]}


def teacher_grades(run: Run, max_grade: float = 4.0) -> dict[str, dict[str, float]]:
    """Teacher scores as relevance grades: per query, min-max scaled to ``[0, max_grade]`` (a query
    whose documents all score the same gets grade 0 everywhere)."""
    out: dict[str, dict[str, float]] = {}
    for q in run:
        scores = run[q]
        if not scores:
            continue
        v = np.fromiter(scores.values(), dtype=np.float64, count=len(scores))
        lo, span = v.min(), v.max() - v.min()
        g = (v - lo) / span * max_grade if span > 0 else np.zeros_like(v)
        out[q] = dict(zip(scores, g.tolist(), strict=True))
    return out


def rankings_to_log(
    qids: Sequence[str], rankings: Sequence[Sequence[str]], first_session_id: int = 0
) -> ClickLog:
    """Result pages without clicks — one session per ``(qid, ranking)`` — to simulate a click model on.

    Example:
        >>> rankings_to_log(["q1"], [["a", "b"]]).df[["session_id", "position", "docno"]].values.tolist()
        [[0, 1, 'a'], [0, 2, 'b']]
    """
    if len(qids) != len(rankings):
        raise ValueError(f"{len(qids)} qids but {len(rankings)} rankings")
    n = np.array([len(r) for r in rankings], dtype=np.int64)
    starts = np.repeat(np.cumsum(n) - n, n)
    df = pd.DataFrame(
        {
            "session_id": np.repeat(np.arange(len(qids), dtype=np.int64) + first_session_id, n),
            "qid": np.repeat(np.asarray(qids, dtype=object), n),
            "position": np.arange(int(n.sum()), dtype=np.int64) - starts + 1,
            "docno": np.asarray([d for r in rankings for d in r], dtype=object),
            "click": np.zeros(int(n.sum()), dtype=np.int64),
            "propensity": np.full(int(n.sum()), np.nan),
        }
    )
    return ClickLog(df)
