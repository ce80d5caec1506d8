r"""Serving with exploration, the expected exposure it gives each candidate, and the clicks it gets.

The policy (Oosterhuis and de Rijke 2020; Oosterhuis 2023): a **Plackett-Luce** distribution over the
candidates of a query, with the ranker's scores standardised per query and divided by a temperature
``tau`` — each session draws a ranking by the Gumbel-max trick (``z / tau + Gumbel noise``, sorted) and
shows its top ``k``. ``tau = 0`` serves the ranker's own top ``k`` (a deterministic logger). Exploration
gives every candidate a chance to be shown, so that every candidate has a positive propensity.

The propensity a candidate gets from the policy is its *expected exposure*
``rho_d = sum_k P(d at rank k) alpha_k``; :func:`rank_distribution` estimates ``P(d at rank k)`` by
Monte Carlo (exact for ``tau = 0``), as Oosterhuis (2023) does.

Clicks come from the user model of a :class:`~distillrank.feedback.simulation.ClickSimulator`
(``examination`` and ``click_given_examined``), drawn with common random numbers: with the same ``rng``
two policies that show a result at the same rank get the same click draw, which makes comparisons
between learners less noisy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from distillrank.data.clicklog import ClickLog
from distillrank.feedback.simulation import ClickSimulator

__all__ = ["rank_distribution", "sample_rankings", "simulate_sessions", "standardise"]


def standardise(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``[Q, L]`` scores standardised per query over the valid entries (``-inf`` where padded)."""
    valid = np.where(mask, scores, np.nan)
    with np.errstate(invalid="ignore"):
        mu = np.nanmean(valid, axis=1, keepdims=True)
        sd = np.nanstd(valid, axis=1, keepdims=True)
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
    z = (np.nan_to_num(scores) - np.nan_to_num(mu)) / sd
    return np.where(mask, z, -np.inf)


def sample_rankings(z: np.ndarray, k: int, tau: float, rng: np.random.Generator) -> np.ndarray:
    """``[n, k]`` candidate indices of a top-``k`` ranking per row of ``z`` ``[n, L]`` (``-inf``: padding).

    Plackett-Luce with temperature ``tau`` by the Gumbel-max trick; ``tau = 0`` sorts ``z`` (ties to
    the lower index). Rows with fewer than ``k`` valid entries end with padded indices (check ``z``).
    """
    if tau < 0:
        raise ValueError(f"tau must be >= 0, got {tau}")
    n, width = z.shape
    k = min(k, width)
    keys = z / tau + rng.gumbel(size=z.shape) if tau > 0 else z.copy()
    keys = np.where(np.isfinite(z), keys, -np.inf)
    full = np.tile(np.arange(width), (n, 1))
    part = np.argpartition(-keys, k - 1, axis=1)[:, :k] if k < width else full
    top = np.take_along_axis(keys, part, axis=1)
    # stable sort on (-key, index): ties keep the lower candidate index first
    order = np.lexsort((part, -top), axis=1)
    return np.take_along_axis(part, order, axis=1)


def rank_distribution(
    z: np.ndarray, k: int, tau: float, rng: np.random.Generator, samples: int = 100
) -> np.ndarray:
    """``[Q, L, k]``: the probability that candidate ``j`` of query ``q`` is shown at rank ``r``.

    Exact for ``tau = 0``; else the frequencies over ``samples`` rankings drawn per query.
    """
    q, width = z.shape
    k = min(k, width)
    draws = 1 if tau == 0 else int(samples)
    if draws < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    ranked = sample_rankings(np.repeat(z, draws, axis=0), k, tau, rng).reshape(q, draws, k)
    valid = np.take_along_axis(np.repeat(np.isfinite(z)[:, None, :], draws, axis=1), ranked, axis=2)
    out = np.zeros((q, width, k))
    qi = np.broadcast_to(np.arange(q)[:, None, None], ranked.shape)
    ri = np.broadcast_to(np.arange(k)[None, None, :], ranked.shape)
    np.add.at(out, (qi[valid], ranked[valid], ri[valid]), 1.0 / draws)
    return out


def simulate_sessions(
    simulator: ClickSimulator,
    qids: np.ndarray,
    docnos: np.ndarray,
    grades: np.ndarray,
    max_grade: float,
    uniforms: np.ndarray,
    *,
    first_session_id: int = 0,
) -> ClickLog:
    """Clicks on given result pages under ``simulator``'s user model.

    Args:
        qids: ``[n]`` the query of each session.
        docnos: ``[n, k]`` the documents shown, best first (``None`` past the end of a short page).
        grades: ``[n, k]`` their true grades.
        uniforms: ``[n, k]`` uniform draws in ``[0, 1)``: a result is clicked when its draw is below its
            click probability ``theta_r eps(y)``.

    Returns:
        a ClickLog with ``propensity`` the true ``theta_r`` and ``label`` the grade (for evaluation only),
        sessions numbered from ``first_session_id``.
    """
    n, k = docnos.shape
    if grades.shape != (n, k) or uniforms.shape != (n, k) or len(qids) != n:
        raise ValueError("qids, docnos, grades and uniforms disagree in shape")
    shown = ~pd.isna(docnos)
    theta = simulator.examination(k)
    p = theta[None, :] * simulator.click_given_examined(grades, max_grade)
    clicks = (uniforms < p) & shown
    sess = np.broadcast_to(np.arange(n)[:, None], (n, k))[shown]
    pos = np.broadcast_to(np.arange(1, k + 1)[None, :], (n, k))[shown]
    df = pd.DataFrame(
        {
            "session_id": sess.astype(np.int64) + int(first_session_id),
            "qid": np.asarray(qids, dtype=object)[sess],
            "position": pos.astype(np.int64),
            "docno": docnos[shown],
            "click": clicks[shown].astype(np.int64),
            "propensity": theta[pos - 1],
            "label": grades[shown],
        }
    )
    return ClickLog(df, source=f"simulated:{type(simulator).__name__}")
