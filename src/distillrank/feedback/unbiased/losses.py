r"""Unbiased pointwise, pairwise and listwise losses for neural students, on corrected relevance.

Each loss takes the relevance estimates ``r^`` of an estimator of :mod:`.estimators` (naive, IPS,
SNIPS, doubly robust, or the true labels) and is built on a registered loss of
:mod:`distillrank.losses` in a form that is **linear in** ``r^``::

    loss(s; r^) = sum_i r^_i g_i(s) + h(s)

so ``E[loss(s; r^)] = loss(s; E[r^])``: with IPS (or DR) estimates it is an unbiased estimate of the
full-information loss on the relevance ``R`` (Joachims, Swaminathan and Schnabel 2017; Wang et al.
2016, 2018; Ai et al. 2018), with SNIPS the self-normalised estimate (Swaminathan and Joachims 2015),
with DR the doubly robust one (Oosterhuis 2023).

================  =====================================================================================
:func:`listwise`  ``-sum_i r^_i log softmax(s)_i`` — softmax cross-entropy (Ai et al. 2018's IPS-weighted
                  softmax): :func:`~distillrank.losses.softmax_loss` with targets ``r^`` and per-list
                  weight ``sum_i r^_i`` (``softmax_loss`` normalises its targets; the weight undoes that)
:func:`pairwise`  ``sum_i r^_i sum_{j != i} log(1 + exp(-sigma (s_i - s_j)))`` — every estimated-relevant
                  result against every other result of its list, the IPS pairwise loss of Joachims et
                  al. 2017 (Propensity SVM-Rank, with RankNet's logistic loss instead of the hinge):
                  :func:`~distillrank.losses.pair_ce_loss` over one sub-list per result ``i`` (``i`` the
                  only positive), weighted by ``r^_i`` times its number of pairs
:func:`pointwise` ``kind="mse"``: ``sum_i (s_i - r^_i)^2`` (:func:`~distillrank.losses.mse_loss`; linear
                  in ``r^`` up to a term without ``s``, so its gradient is unbiased) — or ``kind="bce"``:
                  ``sum_i r^_i BCE(s_i, 1) + (1 - r^_i) BCE(s_i, 0)`` (:func:`~distillrank.losses.bce_loss`
                  on single-result lists; Saito et al. 2020)
================  =====================================================================================

Targets outside the range where a loss stays bounded below are clipped, a small bias stated per loss:
the listwise and pairwise losses clip ``r^`` at 0 (a DR estimate can be negative; with a negative
weight the loss has no minimum), the BCE clips to ``[0, 1]`` (an IPS estimate can exceed 1). MSE takes
any value.

Shapes follow :mod:`distillrank.losses`: ``scores``, ``relevance``, ``mask`` ``[..., L]``; ``weights``
``[...]`` per list; ``reduction`` ``"mean"`` (over lists with a valid entry), ``"sum"`` or ``"none"``.
:func:`unbiased_loss` goes from click statistics to a loss value in one call.

Example:
    >>> import torch
    >>> from distillrank.feedback.unbiased.estimators import IPS, ClickStats
    >>> scores = torch.tensor([[1.0, 0.0, 0.0]], requires_grad=True)
    >>> stats = ClickStats.from_sessions(torch.tensor([[0.0, 1.0, 0.0]]), torch.tensor([[1.0, 0.5, 0.25]]))
    >>> loss = unbiased_loss(scores, stats, IPS(clip=0.1), "listwise")   # -(1 / 0.5) log softmax(s)_2
    >>> round(loss.item(), 4)
    3.1029
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from distillrank.feedback.unbiased.estimators import ClickStats, RelevanceEstimator
from distillrank.losses import bce_loss, mse_loss, pair_ce_loss, softmax_loss
from distillrank.losses._utils import Reduction

__all__ = ["LOSS_KINDS", "LossKind", "listwise", "pairwise", "pointwise", "unbiased_loss"]

LossKind = Literal["listwise", "pairwise", "pointwise"]
LOSS_KINDS: tuple[str, ...] = ("listwise", "pairwise", "pointwise")


def _mask(scores: Tensor, mask: Tensor | None) -> Tensor:
    if mask is None:
        return torch.ones(scores.shape, dtype=torch.bool, device=scores.device)
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be a bool tensor, got dtype {mask.dtype}")
    return mask.broadcast_to(scores.shape)


def _relevance(scores: Tensor, relevance: Any, mask: Tensor) -> Tensor:
    rel = torch.as_tensor(relevance, device=scores.device).to(scores.dtype)
    try:
        rel = rel.broadcast_to(scores.shape)
    except RuntimeError:
        raise ValueError(
            f"relevance shape {tuple(rel.shape)} does not match scores shape {tuple(scores.shape)}"
        ) from None
    rel = rel.masked_fill(~mask, 0.0)
    if not torch.isfinite(rel).all():
        raise ValueError("relevance estimates contain NaN or infinite values")
    return rel


def _times(a: Tensor, weights: Tensor | None) -> Tensor:
    return a if weights is None else a * torch.as_tensor(weights, device=a.device).to(a.dtype)


def listwise(
    scores: Tensor,
    relevance: Any,
    *,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""``-sum_i max(r^_i, 0) log softmax(s)_i`` per list (see the module docstring).

    Example:
        >>> round(float(listwise(torch.zeros(1, 2), torch.tensor([[2.0, 0.0]]))), 4)   # 2 log 2
        1.3863
    """
    m = _mask(scores, mask)
    rel = _relevance(scores, relevance, m).clamp(min=0.0)
    mass = rel.sum(dim=-1)
    return softmax_loss(scores, rel, mask=m, weights=_times(mass, weights), reduction=reduction)


def pairwise(
    scores: Tensor,
    relevance: Any,
    *,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
    sigma: float = 1.0,
) -> Tensor:
    r"""``sum_i max(r^_i, 0) sum_{j != i} log(1 + exp(-sigma (s_i - s_j)))`` per list.

    Memory: ``[..., L, L, L]`` pair terms (one RankNet list per result), fine for result pages.

    Example:
        >>> round(float(pairwise(torch.zeros(1, 3), torch.tensor([[1.0, 0.0, 0.0]]))), 4)   # 2 log 2
        1.3863
    """
    m = _mask(scores, mask)
    rel = _relevance(scores, relevance, m).clamp(min=0.0)
    n = scores.shape[-1]
    eye = torch.eye(n, dtype=scores.dtype, device=scores.device)
    lists = scores.unsqueeze(-2).expand(*scores.shape[:-1], n, n)  # sub-list i: the whole list
    positive = eye.expand_as(lists)  # ... with result i as its only positive
    sub_mask = m.unsqueeze(-2).expand_as(lists) & m.unsqueeze(-1)
    n_pairs = (m.sum(dim=-1, keepdim=True) - 1).clamp(min=0).to(scores.dtype)
    per_result = pair_ce_loss(
        lists, positive, mask=sub_mask, weights=rel * n_pairs, reduction="none", sigma=sigma
    )
    per_list = per_result.sum(dim=-1)
    return _reduce(per_list, m, weights, reduction)


def pointwise(
    scores: Tensor,
    relevance: Any,
    *,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
    kind: Literal["mse", "bce"] = "mse",
) -> Tensor:
    r"""``sum_i (s_i - r^_i)^2`` (``kind="mse"``) or ``sum_i r^_i BCE(s_i, 1) + (1 - r^_i) BCE(s_i, 0)``
    with ``r^`` clipped to ``[0, 1]`` (``kind="bce"``, scores are logits), summed over each list.

    Example:
        >>> float(pointwise(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]])))
        1.0
    """
    m = _mask(scores, mask)
    rel = _relevance(scores, relevance, m)
    single = scores.unsqueeze(-1)  # every result its own list of one: per-result weights
    single_mask = m.unsqueeze(-1)
    if kind == "mse":
        per_result = mse_loss(single, rel.unsqueeze(-1), mask=single_mask, reduction="none")
    elif kind == "bce":
        r = rel.clamp(0.0, 1.0)
        ones, zeros = torch.ones_like(single), torch.zeros_like(single)
        per_result = bce_loss(single, ones, mask=single_mask, weights=r, reduction="none") + bce_loss(
            single, zeros, mask=single_mask, weights=1.0 - r, reduction="none"
        )
    else:
        raise ValueError(f"kind must be 'mse' or 'bce', got {kind!r}")
    return _reduce(per_result.sum(dim=-1), m, weights, reduction)


def _reduce(per_list: Tensor, mask: Tensor, weights: Tensor | None, reduction: str) -> Tensor:
    """The reduction convention of :mod:`distillrank.losses` (lists without a valid entry give 0)."""
    has = mask.any(dim=-1)
    loss = torch.where(has, _times(per_list, weights), torch.zeros_like(per_list))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / has.sum().clamp(min=1).to(loss.dtype)
    raise ValueError(f"reduction must be one of 'mean', 'sum', 'none', got {reduction!r}")


_LOSSES = {"listwise": listwise, "pairwise": pairwise, "pointwise": pointwise}


def unbiased_loss(
    scores: Tensor,
    stats: ClickStats,
    estimator: RelevanceEstimator,
    loss: LossKind = "listwise",
    *,
    predicted: Tensor | None = None,
    labels: Tensor | None = None,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
    **hyper: Any,
) -> Tensor:
    """``loss(scores, estimator.relevance(stats))``: e.g. the IPS listwise loss or the SNIPS pairwise
    loss of a batch. ``predicted`` (``R^``, no gradient) is the doubly robust estimator's regression
    model; ``labels`` the full-information baseline's true relevance.

    Raises:
        ValueError: an unknown ``loss``, or what the estimator or the loss reject.
    """
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSS_KINDS)}, got {loss!r}")
    with torch.no_grad():
        rel = estimator.relevance(
            stats,
            predicted=None if predicted is None else torch.as_tensor(predicted).detach(),
            labels=labels,
        )
    fn = _LOSSES[loss]
    return fn(scores, rel, mask=mask, weights=weights, reduction=reduction, **hyper)
