"""Distillation losses: the student's scores learn from a teacher's scores ``teacher_scores [..., L]``.

Teacher scores are constants (detached). See :mod:`distillrank.losses._utils` for masks, weights and
reductions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from distillrank.losses._utils import (
    Check,
    Reduction,
    boolean,
    check_hyper,
    masked_log_softmax,
    masked_mean,
    masked_softmax,
    non_negative,
    one_of,
    pair_diffs,
    positive,
    positive_int,
    prepare,
    ranks,
    reduce_lists,
    top_k_indicator,
    unit_interval,
)
from distillrank.losses.listwise import label_cross_entropy
from distillrank.losses.pairwise import ranknet


def _optional_ranks(name: str, value: object) -> None:
    """None or an integer/float tensor of ranks (``rank_distillation``'s ``student_ranks``)."""
    if value is not None and not isinstance(value, Tensor):
        raise ValueError(f"{name} must be None or a tensor of ranks, got {type(value).__name__}")


HYPERPARAMETERS: dict[str, dict[str, Check]] = {
    "hard_label": {"top_k": positive_int, "mode": one_of("pointwise", "pairwise", "listwise")},
    "soft_label": {"temperature": positive, "divergence": one_of("kl", "ce")},
    "joint": {"alpha": unit_interval, "temperature": positive, "divergence": one_of("kl", "ce")},
    "margin_mse": {"pairs": one_of("first", "all")},
    "rank_distillation": {
        "top_k": positive_int,
        "weighting": one_of("hybrid", "exp", "inverse", "uniform", "dynamic"),
        "lam": positive,
        "mu": positive,
        "alpha": non_negative,
        "include_ground_truth": boolean,
        "ground_truth": one_of("bce", "softmax"),
        "student_ranks": _optional_ranks,
    },
}


def hard_label_loss(
    scores: Tensor,
    labels: Tensor | None = None,
    *,
    teacher_scores: Tensor | None = None,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
    top_k: int = 1,
    mode: str = "pointwise",
) -> Tensor:
    r"""Hard-label distillation: the teacher's top-k documents of each list become the positives.

    Targets ``h_i = 1`` for the ``top_k`` valid entries with the highest teacher scores (ties to the earlier
    position; every valid entry when the list is shorter), 0 for the others. Then

    .. math:: \ell_{\text{pointwise}} = -\frac{1}{|V|} \sum_{i \in V} \big[h_i \log \sigma(s_i)
              + (1 - h_i) \log(1 - \sigma(s_i))\big], \qquad
              \ell_{\text{pairwise}} = \frac{1}{|P|} \sum_{h_i > h_j} \log\big(1 + e^{-(s_i - s_j)}\big),

    .. math:: \ell_{\text{listwise}} = -\sum_{i \in V} \frac{h_i}{\sum_j h_j} \log \operatorname{softmax}(s)_i

    (``mode="pointwise"``: sigmoid BCE; ``mode="pairwise"``: RankNet over the pairs ``P`` with ``h_i > h_j``;
    ``mode="listwise"``: the softmax cross-entropy of Hinton et al.'s hard targets, i.e. the ``softmax``
    loss with the teacher's top-k in place of the qrels, so a student trained on qrels with ``softmax``
    and one trained on hard labels differ only in where the labels come from).

    The ground-truth ``labels`` are ignored. Pseudo-labelling with a teacher's top results, e.g. Hinton
    et al. 2015 (hard targets) and Qu et al. 2021 (RocketQA, denoised hard labels from a cross-encoder).

    Args:
        scores: ``[..., L]`` student scores.
        labels: ignored.
        teacher_scores: ``[..., L]``; required.
        mask, weights, reduction: see :mod:`distillrank.losses`.
        top_k: how many of the teacher's best documents are positives.
        mode: ``"pointwise"`` (BCE), ``"pairwise"`` (RankNet) or ``"listwise"`` (softmax cross-entropy).

    Example:
        >>> hard_label_loss(torch.tensor([[0.0, 0.0]]), teacher_scores=torch.tensor([[3.0, 1.0]]))
        tensor(0.6931)
    """
    check_hyper("hard_label", HYPERPARAMETERS["hard_label"], top_k=top_k, mode=mode)
    x = prepare("hard_label", scores, labels, teacher_scores, mask, weights, reduction, needs_teacher=True)
    assert x.teacher is not None
    targets = top_k_indicator(x.teacher, x.mask, top_k).to(x.scores.dtype)
    if mode == "pointwise":
        per_entry = F.binary_cross_entropy_with_logits(x.scores, targets, reduction="none")
        per_list = masked_mean(per_entry, x.mask)
    elif mode == "listwise":
        per_list = label_cross_entropy(x.scores, targets, x.mask)
    else:
        per_list = ranknet(x.scores, targets, x.mask)
    return reduce_lists(per_list, x, reduction)


def soft_label_loss(
    scores: Tensor,
    labels: Tensor | None = None,
    *,
    teacher_scores: Tensor | None = None,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
    temperature: float = 1.0,
    divergence: str = "kl",
) -> Tensor:
    r"""Soft-label distillation (Hinton et al. 2015) over each list's softmax distribution.

    .. math:: \ell_{\text{kl}} = T^2 \, \mathrm{KL}\big(\operatorname{softmax}(t/T) \,\|\,
              \operatorname{softmax}(s/T)\big), \qquad
              \ell_{\text{ce}} = -T^2 \sum_{i \in V} \operatorname{softmax}(t/T)_i
              \log \operatorname{softmax}(s/T)_i

    over the valid entries ``V``. Both have the same gradient; ``"kl"`` is 0 when the student matches the
    teacher, ``"ce"`` adds the teacher's entropy. The ``T^2`` keeps the gradient's scale independent of
    ``T``. Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network"; for ranking lists,
    e.g. Hofstätter et al. 2021 (TAS-B) and Lin et al. 2021.

    Args:
        scores: ``[..., L]`` student scores.
        labels: ignored.
        teacher_scores: ``[..., L]``; required.
        mask, weights, reduction: see :mod:`distillrank.losses`.
        temperature: ``T``.
        divergence: ``"kl"`` or ``"ce"``.

    Example:
        >>> soft_label_loss(torch.tensor([[1.0, 0.0]]), teacher_scores=torch.tensor([[1.0, 0.0]]))
        tensor(0.)
    """
    check_hyper("soft_label", HYPERPARAMETERS["soft_label"], temperature=temperature, divergence=divergence)
    x = prepare("soft_label", scores, labels, teacher_scores, mask, weights, reduction, needs_teacher=True)
    assert x.teacher is not None
    return reduce_lists(_soft(x.scores, x.teacher, x.mask, temperature, divergence), x, reduction)


def _soft(scores: Tensor, teacher: Tensor, mask: Tensor, temperature: float, divergence: str) -> Tensor:
    p_teacher = masked_softmax(teacher / temperature, mask)
    log_q = masked_log_softmax(scores / temperature, mask)
    if divergence == "kl":
        log_p = masked_log_softmax(teacher / temperature, mask)
        per_list = (p_teacher * (log_p - log_q)).sum(dim=-1)
    else:
        per_list = -(p_teacher * log_q).sum(dim=-1)
    return temperature**2 * per_list


def joint_loss(
    scores: Tensor,
    labels: Tensor | None = None,
    *,
    teacher_scores: Tensor | None = None,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
    alpha: float = 0.5,
    temperature: float = 1.0,
    divergence: str = "kl",
) -> Tensor:
    r"""Hard and soft targets together (Hinton et al. 2015, §2).

    .. math:: \ell = \alpha \Big(-\sum_{i \in V} h_i \log \operatorname{softmax}(s)_i\Big)
              + (1 - \alpha) \, \ell_{\text{soft}}(s, t)

    * ``hard`` is a softmax cross-entropy at temperature 1, ``-sum_i h_i log softmax(s)_i``, against the
      target distribution ``h`` of the list: its ground-truth label distribution ``h = y+ / sum y+``
      (``y+ = max(y, 0)``, as in ``softmax``) when ``labels`` are given and the list has a label > 0;
      otherwise — no labels passed, or a list without a positive label — the one-hot of the teacher's
      top-1 entry (ties to the earlier position).
    * ``soft`` is :func:`soft_label_loss` with ``temperature`` and ``divergence``.

    Args:
        scores: ``[..., L]`` student scores.
        labels: ``[..., L]`` optional ground truth.
        teacher_scores: ``[..., L]``; required.
        mask, weights, reduction: see :mod:`distillrank.losses`.
        alpha: weight of the hard part, in ``[0, 1]``.
        temperature, divergence: of the soft part.

    Example:
        >>> s, t = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, 0.0]])
        >>> joint_loss(s, torch.tensor([[1.0, 0.0]]), teacher_scores=t)  # 0.5 * log 2 + 0.5 * 0
        tensor(0.3466)
    """
    checks = HYPERPARAMETERS["joint"]
    check_hyper("joint", checks, alpha=alpha, temperature=temperature, divergence=divergence)
    x = prepare("joint", scores, labels, teacher_scores, mask, weights, reduction, needs_teacher=True)
    assert x.teacher is not None
    teacher_top1 = top_k_indicator(x.teacher, x.mask, 1).to(x.scores.dtype)
    if x.labels is None:
        hard_targets = teacher_top1
    else:
        has_positive = (x.labels > 0).any(dim=-1, keepdim=True)
        hard_targets = torch.where(has_positive, x.labels.clamp(min=0.0), teacher_top1)
    hard = label_cross_entropy(x.scores, hard_targets, x.mask)
    soft = _soft(x.scores, x.teacher, x.mask, temperature, divergence)
    return reduce_lists(alpha * hard + (1.0 - alpha) * soft, x, reduction)


def margin_mse_loss(
    scores: Tensor,
    labels: Tensor | None = None,
    *,
    teacher_scores: Tensor | None = None,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
    pairs: str = "first",
) -> Tensor:
    r"""Margin-MSE: the student's score margins should equal the teacher's.

    .. math:: \ell = \frac{1}{|P|} \sum_{(i, j) \in P} \big((s_i - s_j) - (t_i - t_j)\big)^2

    * ``pairs="first"`` (default): the first entry of each list is the positive, every other valid entry a
      negative, ``P = {(0, j) : j >= 1}`` — the layout of (query, positive, negative, ...) training
      triples. A list whose first entry is padding has loss 0. Not permutation invariant.
    * ``pairs="all"``: every unordered pair of valid entries, ``P = {(i, j) : i < j}``; permutation
      invariant (the square does not care about the pair's order).

    Hofstätter et al. 2020, "Improving Efficient Neural Ranking Models with Cross-Architecture Knowledge
    Distillation" (sentence-transformers' ``MarginMSELoss``). For ``[B, 2]`` lists (positive, negative)
    the mean equals ``mse_loss(s_pos - s_neg, t_pos - t_neg)``; for ``[B, L]`` lists it is that MSE over all
    ``B (L - 1)`` (positive, negative) pairs. ``labels`` are ignored.

    Args:
        scores: ``[..., L]`` student scores.
        labels: ignored.
        teacher_scores: ``[..., L]``; required.
        mask, weights, reduction: see :mod:`distillrank.losses`.
        pairs: ``"first"`` or ``"all"``.

    Example:
        >>> margin_mse_loss(torch.tensor([[2.0, 0.0]]), teacher_scores=torch.tensor([[5.0, 2.0]]))
        tensor(1.)
    """
    check_hyper("margin_mse", HYPERPARAMETERS["margin_mse"], pairs=pairs)
    x = prepare("margin_mse", scores, labels, teacher_scores, mask, weights, reduction, needs_teacher=True)
    assert x.teacher is not None
    if pairs == "first":
        student_margin = x.scores[..., :1] - x.scores[..., 1:]
        teacher_margin = x.teacher[..., :1] - x.teacher[..., 1:]
        selected = x.mask[..., :1] & x.mask[..., 1:]
        per_list = masked_mean((student_margin - teacher_margin) ** 2, selected)
    else:
        n = x.scores.shape[-1]
        upper = torch.ones(n, n, dtype=torch.bool, device=x.scores.device).triu(diagonal=1)
        selected = x.mask.unsqueeze(-1) & x.mask.unsqueeze(-2) & upper
        sq = (pair_diffs(x.scores) - pair_diffs(x.teacher)) ** 2
        per_list = masked_mean(sq, selected, dim=(-2, -1))
    return reduce_lists(per_list, x, reduction)


def rank_distillation_loss(
    scores: Tensor,
    labels: Tensor | None = None,
    *,
    teacher_scores: Tensor | None = None,
    mask: Tensor | None = None,
    weights: Tensor | None = None,
    reduction: Reduction = "mean",
    top_k: int = 5,
    weighting: str = "hybrid",
    lam: float = 1.0,
    mu: float = 0.1,
    alpha: float = 0.5,
    include_ground_truth: bool = True,
    ground_truth: str = "bce",
    student_ranks: Tensor | None = None,
) -> Tensor:
    r"""Ranking Distillation (Tang & Wang, KDD 2018): the teacher's top-K unlabelled documents become
    weighted extra positives.

    Candidates are the valid entries that are not labelled positive (``labels <= 0``; every valid entry
    when ``labels`` is None). ``pi_1 .. pi_K`` are the ``K = top_k`` candidates with the highest teacher
    scores (fewer when the list has fewer candidates), ``r = 1..K`` their teacher rank. The distillation
    term is

    .. math:: L_{RD} = -\sum_{r=1}^{K} w_r \log \sigma(s_{\pi_r})

    with weights (no gradient flows through them):

    * ``"uniform"``: ``w_r = 1/K``;
    * ``"inverse"``: ``w_r ∝ 1/r``, normalised to sum 1;
    * ``"exp"``: position importance ``w^a_r ∝ exp(-r / lam)``, normalised to sum 1;
    * ``"dynamic"``: ranking discrepancy ``w^b_r = tanh(max(0, mu * (rhat_r - r)))``, not normalised, where
      ``rhat_r`` is the student's rank of ``pi_r`` among *all* valid entries of the list under its current
      scores (1 = best), or ``student_ranks`` when given: only documents the student ranks below the
      teacher are pushed up;
    * ``"hybrid"`` (default, the paper's method): ``w_r = w^a_r * w^b_r`` — the normalised exp weight times
      the dynamic weight, not renormalised (as the authors' code, ``weight_dynamic * weight_static``).

    With ``include_ground_truth=True`` and ``labels`` given, the loss is
    ``L = L_GT(labels) + alpha * L_RD``; otherwise ``L = alpha * L_RD``.

    ``ground_truth="bce"`` (the paper's, pointwise) makes ``L_GT`` the mean sigmoid cross-entropy over the
    valid entries with targets ``1[y > 0]`` (as ``bce``) and ``L_RD`` as above. ``"softmax"`` (listwise)
    uses the list's softmax as the likelihood of a positive in both terms: ``L_GT = -sum_i (y_i / sum_j y_j)
    log softmax(s)_i`` (as ``softmax``) and ``L_RD = -sum_r w_r log softmax(s)_{pi_r}`` — the teacher's
    top-K as weighted extra positives of the listwise loss. It is meant for students whose scores are
    bounded similarities (a cosine over a temperature; a query tower against fixed document vectors), where
    the BCE's push of every negative below 0 has no solution and ``sigma(s)`` of a cosine over a small
    temperature is saturated: only the order within the list can be learnt.

    Tang & Wang 2018, "Ranking Distillation: Learning Compact Ranking Models With High Performance for
    Recommender System" (KDD), eq. 4-8.

    Args:
        scores: ``[..., L]`` student scores (logits).
        labels: ``[..., L]`` optional ground truth; positives are excluded from the candidates.
        teacher_scores: ``[..., L]``; required.
        mask, weights, reduction: see :mod:`distillrank.losses`.
        top_k: ``K``.
        weighting: ``"hybrid"``, ``"exp"``, ``"inverse"``, ``"uniform"`` or ``"dynamic"``.
        lam: ``lambda``, the sharpness of the exp position weights.
        mu: the sharpness of the rank-discrepancy weights.
        alpha: weight of the distillation term.
        include_ground_truth: add the ground-truth loss on ``labels`` (when given).
        ground_truth: ``"bce"`` or ``"softmax"`` (see above).
        student_ranks: ``[..., L]`` optional ranks ``rhat`` of the entries (1 = best) computed by the
            caller, used by ``"dynamic"``/``"hybrid"`` instead of the ranks within the list — e.g. ranks
            over a whole catalogue when the list holds only the teacher's top-K (Tang & Wang rank the
            student over all items). Not differentiated.

    Example:
        >>> s, t = torch.tensor([[0.0, 0.0, 0.0]]), torch.tensor([[0.0, 2.0, 1.0]])
        >>> y = torch.tensor([[1.0, 0.0, 0.0]])
        >>> # BCE log 2 + 0.5 * (1/2 + 1/2) log 2 with K=2 uniform weights
        >>> rank_distillation_loss(s, y, teacher_scores=t, top_k=2, weighting="uniform")
        tensor(1.0397)
    """
    check_hyper(
        "rank_distillation",
        HYPERPARAMETERS["rank_distillation"],
        top_k=top_k,
        weighting=weighting,
        lam=lam,
        mu=mu,
        alpha=alpha,
        include_ground_truth=include_ground_truth,
        ground_truth=ground_truth,
        student_ranks=student_ranks,
    )
    if student_ranks is not None and student_ranks.shape != scores.shape:
        raise ValueError(
            f"loss 'rank_distillation': student_ranks has shape {tuple(student_ranks.shape)}, "
            f"scores {tuple(scores.shape)}"
        )
    x = prepare(
        "rank_distillation", scores, labels, teacher_scores, mask, weights, reduction, needs_teacher=True
    )
    assert x.teacher is not None
    candidates = x.mask if x.labels is None else x.mask & (x.labels <= 0)
    k = min(top_k, x.scores.shape[-1])
    teacher_rank = ranks(x.teacher, candidates)  # 1-based among candidates
    order = torch.argsort(teacher_rank, dim=-1)[..., :k]  # the teacher's top-k, best first
    chosen = candidates.gather(-1, order)  # False where the list has fewer than k candidates
    with torch.no_grad():
        r = torch.arange(1, k + 1, device=x.scores.device, dtype=x.scores.dtype).expand(chosen.shape)
        w = _rd_weights(weighting, r, chosen, x.scores, x.mask, order, lam, mu, student_ranks)
    if ground_truth == "softmax":  # the extra positives' likelihood is the list's softmax, as the labels'
        log_p = masked_log_softmax(x.scores, x.mask).gather(-1, order)
    else:
        log_p = F.logsigmoid(x.scores.gather(-1, order))
    distill = -(w * log_p).sum(dim=-1)
    per_list = alpha * distill
    if include_ground_truth and x.labels is not None:
        if ground_truth == "softmax":
            per_list = label_cross_entropy(x.scores, x.labels, x.mask) + per_list
        else:
            targets = (x.labels > 0).to(x.scores.dtype)
            bce = F.binary_cross_entropy_with_logits(x.scores, targets, reduction="none")
            per_list = masked_mean(bce, x.mask) + per_list
    return reduce_lists(per_list, x, reduction)


def _rd_weights(
    weighting: str,
    r: Tensor,
    chosen: Tensor,
    scores: Tensor,
    mask: Tensor,
    order: Tensor,
    lam: float,
    mu: float,
    student_ranks: Tensor | None = None,
) -> Tensor:
    """``[..., K]`` Ranking Distillation weights for teacher ranks ``r`` (0 where not ``chosen``)."""
    zero = torch.zeros_like(r)

    def normalised(w: Tensor) -> Tensor:
        w = torch.where(chosen, w, zero)
        return w / w.sum(dim=-1, keepdim=True).clamp(min=torch.finfo(w.dtype).tiny)

    if weighting == "uniform":
        return normalised(torch.ones_like(r))
    if weighting == "inverse":
        return normalised(1.0 / r)
    position = normalised(torch.exp(-r / lam))
    if weighting == "exp":
        return position
    rhat = ranks(scores, mask) if student_ranks is None else student_ranks.to(order.device)
    student_rank = rhat.gather(-1, order).to(r.dtype)
    discrepancy = torch.where(chosen, torch.tanh((mu * (student_rank - r)).clamp(min=0.0)), zero)
    if weighting == "dynamic":
        return discrepancy
    return position * discrepancy


__all__ = ["hard_label_loss", "joint_loss", "margin_mse_loss", "rank_distillation_loss", "soft_label_loss"]
