"""Pairwise losses: each pair of documents with different labels should be ordered by their scores.

A list's loss is the mean over its valid pairs ``(i, j)``, both entries unpadded and ``y_i > y_j`` (or, for
``triplet_loss``, positive ``i`` and negative ``j``); a list without such a pair has loss 0. See
:mod:`distillrank.losses._utils` for masks, weights and reductions.
"""

from __future__ import annotations

import torch  # noqa: F401  (the doctests use it)
import torch.nn.functional as F
from torch import Tensor

from distillrank.losses._utils import (
    Check,
    Reduction,
    check_hyper,
    masked_mean,
    non_negative,
    one_of,
    ordered_pairs,
    pair_diffs,
    positive,
    prepare,
    reduce_lists,
)

HYPERPARAMETERS: dict[str, dict[str, Check]] = {
    "pair_ce": {"sigma": positive},
    "margin": {"margin": non_negative},
    "triplet": {"margin": non_negative, "negatives": one_of("mean", "hardest")},
}


def pair_ce_loss(
    scores: Tensor,
    labels: Tensor | None = None,
    *,
    teacher_scores: Tensor | None = None,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
    sigma: float = 1.0,
) -> Tensor:
    r"""RankNet: logistic (cross-entropy) loss on every pair ordered by the labels.

    .. math:: \ell(s, y) = \frac{1}{|P|} \sum_{(i, j) \in P} \log\big(1 + e^{-\sigma (s_i - s_j)}\big),
              \qquad P = \{(i, j) : y_i > y_j\}

    Burges et al. 2005, "Learning to Rank using Gradient Descent" (ICML). For pairs weighted by the change
    in NDCG, see :func:`~distillrank.losses.listwise.lambda_loss`.

    Args:
        scores: ``[..., L]``.
        labels: ``[..., L]`` graded labels; required.
        teacher_scores: ignored.
        mask, weights, reduction: see :mod:`distillrank.losses`.
        sigma: the slope of the sigmoid.

    Example:
        >>> pair_ce_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]))
        tensor(0.6931)
    """
    check_hyper("pair_ce", HYPERPARAMETERS["pair_ce"], sigma=sigma)
    x = prepare("pair_ce", scores, labels, teacher_scores, mask, weights, reduction, needs_labels=True)
    assert x.labels is not None
    return reduce_lists(ranknet(x.scores, x.labels, x.mask, sigma), x, reduction)


def ranknet(scores: Tensor, labels: Tensor, mask: Tensor, sigma: float = 1.0) -> Tensor:
    """Per-list RankNet loss ``[...]`` on clean inputs (shared with the distillation losses)."""
    pairs = ordered_pairs(labels, mask)
    return masked_mean(F.softplus(-sigma * pair_diffs(scores)), pairs, dim=(-2, -1))


def margin_loss(
    scores: Tensor,
    labels: Tensor | None = None,
    *,
    teacher_scores: Tensor | None = None,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
    margin: float = 1.0,
) -> Tensor:
    r"""Pairwise hinge loss: the better document of each pair should lead by at least ``margin``.

    .. math:: \ell(s, y) = \frac{1}{|P|} \sum_{(i, j) \in P} \max\big(0, m - (s_i - s_j)\big),
              \qquad P = \{(i, j) : y_i > y_j\}

    Herbrich et al. 2000, "Large Margin Rank Boundaries for Ordinal Regression"; Joachims 2002 (RankSVM).

    Args:
        scores: ``[..., L]``.
        labels: ``[..., L]`` graded labels; required.
        teacher_scores: ignored.
        mask, weights, reduction: see :mod:`distillrank.losses`.
        margin: ``m >= 0``.

    Example:
        >>> margin_loss(torch.tensor([[0.5, 0.0]]), torch.tensor([[1.0, 0.0]]))
        tensor(0.5000)
    """
    check_hyper("margin", HYPERPARAMETERS["margin"], margin=margin)
    x = prepare("margin", scores, labels, teacher_scores, mask, weights, reduction, needs_labels=True)
    assert x.labels is not None
    pairs = ordered_pairs(x.labels, x.mask)
    per_list = masked_mean(F.relu(margin - pair_diffs(x.scores)), pairs, dim=(-2, -1))
    return reduce_lists(per_list, x, reduction)


def triplet_loss(
    scores: Tensor,
    labels: Tensor | None = None,
    *,
    teacher_scores: Tensor | None = None,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
    margin: float = 1.0,
    negatives: str = "mean",
) -> Tensor:
    r"""Triplet hinge loss: each positive against the negatives of its list.

    .. math:: \ell_{\text{mean}} = \frac{1}{|P||N|} \sum_{p \in P} \sum_{n \in N} \max(0, m - s_p + s_n),
              \qquad
              \ell_{\text{hardest}} = \frac{1}{|P|} \sum_{p \in P}
              \max\big(0, m - s_p + \max_{n \in N} s_n\big)

    with positives ``P = {y > 0}`` and negatives ``N = {y <= 0}`` among the valid entries (labels are
    binarised, unlike :func:`margin_loss` which uses every graded pair). ``negatives="hardest"`` keeps only
    the highest-scored negative for each positive (Hermans et al. 2017, "In Defense of the Triplet Loss").
    Schroff et al. 2015 (FaceNet). A list without a positive or without a negative has loss 0.

    Args:
        scores: ``[..., L]``.
        labels: ``[..., L]``; required.
        teacher_scores: ignored.
        mask, weights, reduction: see :mod:`distillrank.losses`.
        margin: ``m >= 0``.
        negatives: ``"mean"`` over all (positive, negative) pairs or ``"hardest"`` negative per positive.

    Example:
        >>> triplet_loss(torch.tensor([[1.0, 0.5, 0.0]]), torch.tensor([[1.0, 0.0, 0.0]]))
        tensor(0.2500)
    """
    check_hyper("triplet", HYPERPARAMETERS["triplet"], margin=margin, negatives=negatives)
    x = prepare("triplet", scores, labels, teacher_scores, mask, weights, reduction, needs_labels=True)
    assert x.labels is not None
    pos = (x.labels > 0) & x.mask
    neg = (x.labels <= 0) & x.mask
    pairs = pos.unsqueeze(-1) & neg.unsqueeze(-2)
    hinge = F.relu(margin - pair_diffs(x.scores))  # (p, n) -> max(0, m - s_p + s_n)
    if negatives == "mean":
        per_list = masked_mean(hinge, pairs, dim=(-2, -1))
    else:
        # the hinge is monotone in s_n, so the hardest negative gives the largest hinge
        hardest = hinge.masked_fill(~pairs, 0.0).amax(dim=-1)
        per_list = masked_mean(hardest, pos & neg.any(dim=-1, keepdim=True))
    return reduce_lists(per_list, x, reduction)


__all__ = ["margin_loss", "pair_ce_loss", "triplet_loss"]
