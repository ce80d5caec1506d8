"""Listwise losses: the whole list's scores are compared with the whole list's labels.

See :mod:`distillrank.losses._utils` for masks, weights and reductions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from distillrank.losses._utils import (
    Check,
    Reduction,
    check_hyper,
    masked_log_softmax,
    masked_softmax,
    one_of,
    ordered_pairs,
    pair_diffs,
    positive,
    prepare,
    ranks,
    reduce_lists,
)

HYPERPARAMETERS: dict[str, dict[str, Check]] = {
    "listnet": {"temperature": positive},
    "softmax": {},
    "lambdaloss": {"variant": one_of("ndcg2pp", "lambdarank"), "sigma": positive, "mu": positive},
}


def listnet_loss(
    scores: Tensor,
    labels: Tensor | None = None,
    *,
    teacher_scores: Tensor | None = None,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
    temperature: float = 1.0,
) -> Tensor:
    r"""ListNet (top-1): cross-entropy between the top-one probabilities of the labels and of the scores.

    .. math:: \ell(s, y) = -\sum_{i \in V} \operatorname{softmax}(y / \tau)_i \,
              \log \operatorname{softmax}(s)_i

    Cao et al. 2007, "Learning to Rank: From Pairwise Approach to Listwise Approach" (ICML), with the
    exponential as the increasing function ``phi``. Unlike :func:`softmax_loss`, a list whose labels are all
    equal still has a (uniform) target.

    Args:
        scores: ``[..., L]``.
        labels: ``[..., L]`` graded labels; required.
        teacher_scores: ignored (see ``soft_label`` for a teacher's distribution).
        mask, weights, reduction: see :mod:`distillrank.losses`.
        temperature: ``tau``, sharpens (``< 1``) or flattens (``> 1``) the label distribution.

    Example:
        >>> listnet_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 1.0]]))
        tensor(0.6931)
    """
    check_hyper("listnet", HYPERPARAMETERS["listnet"], temperature=temperature)
    x = prepare("listnet", scores, labels, teacher_scores, mask, weights, reduction, needs_labels=True)
    assert x.labels is not None
    target = masked_softmax(x.labels / temperature, x.mask)
    per_list = -(target * masked_log_softmax(x.scores, x.mask)).sum(dim=-1)
    return reduce_lists(per_list, x, reduction)


def softmax_loss(
    scores: Tensor,
    labels: Tensor | None = None,
    *,
    teacher_scores: Tensor | None = None,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Softmax cross-entropy with the labels normalised into a distribution.

    .. math:: \ell(s, y) = -\sum_{i \in V} \frac{y_i}{\sum_{j \in V} y_j} \log \operatorname{softmax}(s)_i

    Bruch et al. 2019, "An Analysis of the Softmax Cross Entropy Loss for Learning-to-Rank with Binary
    Relevance" (ICTIR); rax's ``softmax_loss``. Negative labels count as 0; a list without a positive label
    has loss 0.

    Args:
        scores: ``[..., L]``.
        labels: ``[..., L]`` non-negative graded labels; required.
        teacher_scores: ignored.
        mask, weights, reduction: see :mod:`distillrank.losses`.

    Example:
        >>> softmax_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]))
        tensor(0.6931)
    """
    x = prepare("softmax", scores, labels, teacher_scores, mask, weights, reduction, needs_labels=True)
    assert x.labels is not None
    per_list = label_cross_entropy(x.scores, x.labels, x.mask)
    return reduce_lists(per_list, x, reduction)


def label_cross_entropy(scores: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
    """Per-list ``-sum (y+ / sum y+) log softmax(s)`` on clean inputs; 0 where ``sum y+ == 0``."""
    gains = labels.clamp(min=0.0)
    total = gains.sum(dim=-1, keepdim=True)
    target = gains / total.clamp(min=torch.finfo(scores.dtype).tiny)
    return -(target * masked_log_softmax(scores, mask)).sum(dim=-1)


def lambda_loss(
    scores: Tensor,
    labels: Tensor | None = None,
    *,
    teacher_scores: Tensor | None = None,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
    variant: str = "ndcg2pp",
    sigma: float = 1.0,
    mu: float = 10.0,
) -> Tensor:
    r"""LambdaLoss: RankNet pairs weighted by how much NDCG depends on their order.

    .. math:: \ell(s, y) = -\sum_{y_i > y_j} w_{ij} \, \log_2 \sigma\big(\sigma_s (s_i - s_j)\big)

    with gains ``G_i = (2^{y_i} - 1) / maxDCG`` and discounts ``D(r) = log2(1 + r)`` at the ranks ``r_i`` of
    the current scores (1-based among the valid entries, ties to the earlier position; the ranks, and so the
    weights, carry no gradient). ``maxDCG`` is the DCG of the ideal ordering of the list's labels.

    * ``variant="ndcg2pp"`` (default) — NDCG-Loss2++ of Wang et al. 2018, "The LambdaLoss Framework for
      Ranking Metric Optimization" (CIKM), eq. 13:
      ``w_ij = (rho_ij + mu * delta_ij) |G_i - G_j|`` with
      ``rho_ij = |1/D(r_i) - 1/D(r_j)|`` and ``delta_ij = 1/D(|r_i - r_j|) - 1/D(|r_i - r_j| + 1)``.
    * ``variant="lambdarank"`` — ``w_ij = rho_ij |G_i - G_j|``, the |delta NDCG| of swapping ``i`` and ``j``:
      LambdaRank's weighting of RankNet (Burges et al. 2006), which LambdaLoss shows is a bound on NDCG.

    The per-list loss is the *sum* over the list's pairs (the weights are already normalised by maxDCG),
    as in the paper and allRank's ``lambdaLoss``. Labels below 0 count as 0.

    Args:
        scores: ``[..., L]``.
        labels: ``[..., L]`` graded labels; required.
        teacher_scores: ignored.
        mask, weights, reduction: see :mod:`distillrank.losses`.
        variant: ``"ndcg2pp"`` or ``"lambdarank"``.
        sigma: slope of the pairwise sigmoid.
        mu: weight of ``delta_ij`` in NDCG-Loss2++.

    Example:
        >>> round(float(lambda_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]))), 4)
        4.0598
    """
    check_hyper("lambdaloss", HYPERPARAMETERS["lambdaloss"], variant=variant, sigma=sigma, mu=mu)
    x = prepare("lambdaloss", scores, labels, teacher_scores, mask, weights, reduction, needs_labels=True)
    assert x.labels is not None
    y = x.labels.clamp(min=0.0)
    pairs = ordered_pairs(y, x.mask)
    with torch.no_grad():
        weight = lambda_weights(x.scores, y, x.mask, variant, mu)
    pair_loss = F.softplus(-sigma * pair_diffs(x.scores)) / math.log(2.0)
    per_list = (pair_loss * weight).masked_fill(~pairs, 0.0).sum(dim=(-2, -1))
    return reduce_lists(per_list, x, reduction)


def lambda_weights(scores: Tensor, labels: Tensor, mask: Tensor, variant: str, mu: float) -> Tensor:
    """``[..., L, L]`` LambdaLoss pair weights (see :func:`lambda_loss`); labels already clamped at 0."""
    rank = ranks(scores, mask).to(scores.dtype)
    gains = torch.pow(2.0, labels) - 1.0
    ideal = torch.sort(gains.masked_fill(~mask, 0.0), dim=-1, descending=True).values
    positions = torch.arange(1, scores.shape[-1] + 1, device=scores.device, dtype=scores.dtype)
    max_dcg = (ideal / torch.log2(1.0 + positions)).sum(dim=-1, keepdim=True)
    g = gains / max_dcg.clamp(min=torch.finfo(scores.dtype).tiny)
    inv_discount = 1.0 / torch.log2(1.0 + rank)
    gain_gap = pair_diffs(g).abs()
    weight = pair_diffs(inv_discount).abs() * gain_gap
    if variant == "ndcg2pp":
        gap = pair_diffs(rank).abs().clamp(min=1.0)
        delta = 1.0 / torch.log2(1.0 + gap) - 1.0 / torch.log2(2.0 + gap)
        weight = weight + mu * delta * gain_gap
    return weight


__all__ = ["lambda_loss", "listnet_loss", "softmax_loss"]
