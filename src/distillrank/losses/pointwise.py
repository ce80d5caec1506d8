"""Pointwise losses: each document's score is fitted to its own label, independently of the others.

All follow the convention of :mod:`distillrank.losses._utils`: scores ``[..., L]``, a per-list loss ``[...]``
(the mean over the list's valid entries), then ``reduction``.
"""

from __future__ import annotations

import torch  # noqa: F401  (the doctests use it)
import torch.nn.functional as F
from torch import Tensor

from distillrank.losses._utils import (
    Check,
    Reduction,
    boolean,
    check_hyper,
    masked_log_softmax,
    masked_mean,
    positive,
    prepare,
    reduce_lists,
)

HYPERPARAMETERS: dict[str, dict[str, Check]] = {
    "mse": {},
    "bce": {"binarize": boolean, "max_label": positive},
    "sampled_softmax": {"temperature": positive},
}


def mse_loss(
    scores: Tensor,
    labels: Tensor | None = None,
    *,
    teacher_scores: Tensor | None = None,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Mean squared error between scores and labels (pointwise regression).

    .. math:: \ell(s, y) = \frac{1}{|V|} \sum_{i \in V} (s_i - y_i)^2

    over the valid entries ``V`` of each list. Pointwise regression for ranking, e.g. Cossock & Zhang 2006,
    "Subset Ranking Using Regression" (COLT).

    Args:
        scores: ``[..., L]`` predicted scores.
        labels: ``[..., L]`` targets (graded relevance); required.
        teacher_scores: ignored (use ``margin_mse`` or ``soft_label`` to fit a teacher).
        mask: ``[..., L]`` bool, False for padding.
        weights: ``[...]`` per-list weights.
        reduction: ``"mean"`` over non-empty lists, ``"sum"`` or ``"none"`` (``[...]``).

    Example:
        >>> mse_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]]))
        tensor(0.5000)
    """
    x = prepare("mse", scores, labels, teacher_scores, mask, weights, reduction, needs_labels=True)
    assert x.labels is not None
    per_list = masked_mean((x.scores - x.labels) ** 2, x.mask)
    return reduce_lists(per_list, x, reduction)


def bce_loss(
    scores: Tensor,
    labels: Tensor | None = None,
    *,
    teacher_scores: Tensor | None = None,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
    binarize: bool = True,
    max_label: float = 1.0,
) -> Tensor:
    r"""Sigmoid binary cross-entropy of each score against a target in ``[0, 1]`` (pointwise classification).

    .. math:: \ell(s, y) = -\frac{1}{|V|} \sum_{i \in V} \big[ t_i \log\sigma(s_i)
              + (1 - t_i) \log(1 - \sigma(s_i)) \big]

    with ``t_i = 1[y_i > 0]`` (``binarize=True``, the default: any graded label > 0 is relevant) or
    ``t_i = clip(y_i / max_label, 0, 1)`` (``binarize=False``; set ``max_label`` to the top grade of the
    scale, e.g. 3 for TREC-style 0-3 judgements). The relevant / not-relevant objective of cross-encoders
    such as monoBERT (Nogueira & Cho 2019, "Passage Re-ranking with BERT").

    Args:
        scores: ``[..., L]`` logits.
        labels: ``[..., L]`` graded or binary labels; required.
        teacher_scores: ignored.
        mask, weights, reduction: see :mod:`distillrank.losses`.
        binarize: turn labels > 0 into 1 (True) or scale them by ``max_label`` (False).
        max_label: the label that maps to target 1 when ``binarize=False``.

    Example:
        >>> bce_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]))
        tensor(0.6931)
    """
    check_hyper("bce", HYPERPARAMETERS["bce"], binarize=binarize, max_label=max_label)
    x = prepare("bce", scores, labels, teacher_scores, mask, weights, reduction, needs_labels=True)
    assert x.labels is not None
    targets = (x.labels > 0).to(x.scores.dtype) if binarize else (x.labels / max_label).clamp(0.0, 1.0)
    per_entry = F.binary_cross_entropy_with_logits(x.scores, targets, reduction="none")
    return reduce_lists(masked_mean(per_entry, x.mask), x, reduction)


def sampled_softmax_loss(
    scores: Tensor,
    labels: Tensor | None = None,
    *,
    teacher_scores: Tensor | None = None,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
    temperature: float = 1.0,
) -> Tensor:
    r"""Softmax cross-entropy of the positive(s) against the sampled negatives of the list.

    .. math:: \ell(s, y) = -\frac{1}{|P|} \sum_{p \in P} \log
              \frac{e^{s_p / \tau}}{\sum_{j \in V} e^{s_j / \tau}}

    where ``P = {i in V : y_i > 0}`` are the positives and ``V`` the valid entries. With several positives
    the loss is the average over them of each positive's ``-log softmax``, every positive being scored
    against the whole list (other positives included in the denominator); for binary labels this equals
    ``softmax`` (Bruch et al. 2019). A list without a positive has loss 0.

    The usual training objective of dense retrievers and recommenders with one positive and sampled
    negatives (Jean et al. 2015, "On Using Very Large Target Vocabulary"; Covington et al. 2016).

    Args:
        scores: ``[..., L]`` scores.
        labels: ``[..., L]``; entries > 0 are positives. Required.
        teacher_scores: ignored.
        mask, weights, reduction: see :mod:`distillrank.losses`.
        temperature: scores are divided by it (default 1: models own their scale).

    Example:
        >>> sampled_softmax_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]))
        tensor(0.6931)
    """
    check_hyper("sampled_softmax", HYPERPARAMETERS["sampled_softmax"], temperature=temperature)
    x = prepare(
        "sampled_softmax", scores, labels, teacher_scores, mask, weights, reduction, needs_labels=True
    )
    assert x.labels is not None
    positives = (x.labels > 0) & x.mask
    log_p = masked_log_softmax(x.scores / temperature, x.mask)
    per_list = -masked_mean(log_p, positives)
    return reduce_lists(per_list, x, reduction)


__all__ = ["bce_loss", "mse_loss", "sampled_softmax_loss"]
