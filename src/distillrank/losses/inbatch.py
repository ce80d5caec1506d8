"""In-batch (full-product) contrastive loss on a query x document similarity matrix.

The trainer builds ``scores[b, n] = sim(query_b, doc_n)`` over every document of the batch (each query's
positive, plus any hard negatives), so every other query's documents serve as negatives.
"""

from __future__ import annotations

import torch
from torch import Tensor

from distillrank.losses._utils import (
    Check,
    Reduction,
    boolean,
    check_hyper,
    masked_log_softmax,
    positive,
    prepare,
    reduce_lists,
)

HYPERPARAMETERS: dict[str, dict[str, Check]] = {
    "in_batch_softmax": {"temperature": positive, "symmetric": boolean},
}


def in_batch_softmax_loss(
    scores: Tensor,
    labels: Tensor | None = None,
    *,
    teacher_scores: Tensor | None = None,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
    temperature: float = 1.0,
    symmetric: bool = False,
) -> Tensor:
    r"""InfoNCE / multiple-negatives ranking loss over a ``[B, N]`` query x document similarity matrix.

    For query ``b`` with positives ``P_b = {n : y_bn > 0}`` among the valid entries ``V`` (``mask`` True):

    .. math:: \ell^{q \to d}_b = -\frac{1}{|P_b|} \sum_{n \in P_b}
              \log \frac{e^{s_{bn}/\tau}}{\sum_{m : (b, m) \in V} e^{s_{bm}/\tau}}

    and, with ``symmetric=True``, the document-to-query direction, each positive document's column
    normalised over the queries of the batch:

    .. math:: \ell^{d \to q}_b = -\frac{1}{|P_b|} \sum_{n \in P_b}
              \log \frac{e^{s_{bn}/\tau}}{\sum_{c : (c, n) \in V} e^{s_{cn}/\tau}}, \qquad
              \ell_b = \tfrac12 (\ell^{q \to d}_b + \ell^{d \to q}_b)

    Columns that are no query's positive (hard negatives) only enter the rows' denominators. Set ``mask``
    False for duplicates and known false negatives: they leave both denominators. Several positives per
    query are averaged, each against the whole row (so the other positives stay in its denominator).
    A query without a positive has loss 0. With ``labels = eye(B)`` on a square matrix this is exactly
    ``cross_entropy(scores / tau, arange(B))`` (sentence-transformers' MultipleNegativesRankingLoss,
    Henderson et al. 2017, "Efficient Natural Language Response Suggestion for Smart Reply"), and with
    ``symmetric=True`` CLIP's loss (Radford et al. 2021); InfoNCE is van den Oord et al. 2018,
    "Representation Learning with Contrastive Predictive Coding".

    Args:
        scores: ``[..., B, N]`` similarities, ``B`` queries by ``N >= B`` documents (leading dimensions are
            independent batches).
        labels: ``[..., B, N]``, > 0 where document ``n`` is a positive of query ``b``. Default: the
            identity, query ``b``'s positive is document ``b`` (needs ``N >= B``).
        teacher_scores: ignored.
        mask: ``[..., B, N]`` bool, False for entries to leave out of the softmaxes (and padding).
        weights: ``[..., B]`` per-query weights.
        reduction: ``"mean"`` over queries with a valid entry, ``"sum"``, or ``"none"`` (``[..., B]``).
        temperature: ``tau``; scores are divided by it (default 1, the model owns its scale).
        symmetric: add the document-to-query direction and average the two (CLIP).

    Example:
        >>> in_batch_softmax_loss(torch.zeros(2, 2))  # log 2: each query picks among 2 documents
        tensor(0.6931)
    """
    checks = HYPERPARAMETERS["in_batch_softmax"]
    check_hyper("in_batch_softmax", checks, temperature=temperature, symmetric=symmetric)
    if labels is None and isinstance(scores, Tensor) and scores.dim() >= 2:
        b, n = scores.shape[-2:]
        if n < b:
            raise ValueError(
                f"loss 'in_batch_softmax': without labels the positives are the diagonal, which needs at "
                f"least as many documents as queries, got scores shape {tuple(scores.shape)}"
            )
        labels = torch.eye(b, n, dtype=scores.dtype, device=scores.device).expand(scores.shape)
    x = prepare("in_batch_softmax", scores, labels, teacher_scores, mask, weights, reduction, min_dims=2)
    assert x.labels is not None
    pos = (x.labels > 0) & x.mask
    s = x.scores / temperature
    n_pos = pos.sum(dim=-1).clamp(min=1).to(s.dtype)
    per_query = -(masked_log_softmax(s, x.mask, dim=-1) * pos).sum(dim=-1) / n_pos
    if symmetric:
        d2q = -(masked_log_softmax(s, x.mask, dim=-2) * pos).sum(dim=-1) / n_pos
        per_query = 0.5 * (per_query + d2q)
    return reduce_lists(per_query, x, reduction)


__all__ = ["in_batch_softmax_loss"]
