"""The loss registry: every ranking and distillation loss by name, with what it needs.

>>> loss = get_loss("pair_ce", sigma=2.0)
>>> LOSSES["pair_ce"].kind
'pairwise'
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import Tensor

from distillrank.losses import distillation, inbatch, listwise, pairwise, pointwise
from distillrank.losses._utils import REDUCTIONS, Check, check_hyper

Kind = Literal["pointwise", "pairwise", "listwise", "inbatch", "distillation"]
LossFn = Callable[..., Tensor]

# The arguments every loss takes; everything else in a loss's signature is a hyper-parameter.
COMMON_ARGUMENTS = ("scores", "labels", "teacher_scores", "mask", "weights", "reduction")


@dataclass(frozen=True)
class LossInfo:
    """A registered loss.

    Attributes:
        fn: the loss, ``fn(scores, labels=None, *, teacher_scores=None, mask=None, weights=None,
            reduction="mean", **hyperparameters) -> Tensor``.
        kind: ``"pointwise"``, ``"pairwise"``, ``"listwise"``, ``"inbatch"`` or ``"distillation"``.
        needs_labels: raises ValueError without ``labels``.
        needs_teacher: raises ValueError without ``teacher_scores``.
        permutation_invariant: with its default hyper-parameters, permuting each list (scores, labels,
            teacher scores and mask together) leaves the loss unchanged (up to ties in the scores).
        description: one line.
        checks: the hyper-parameters and their validity checks.
    """

    fn: LossFn
    kind: Kind
    needs_labels: bool
    needs_teacher: bool
    permutation_invariant: bool
    description: str
    checks: Mapping[str, Check] = field(default_factory=dict, repr=False)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """Hyper-parameter names and their defaults."""
        sig = inspect.signature(self.fn)
        return {name: p.default for name, p in sig.parameters.items() if name not in COMMON_ARGUMENTS}


_CHECKS: dict[str, Mapping[str, Check]] = {
    **pointwise.HYPERPARAMETERS,
    **pairwise.HYPERPARAMETERS,
    **listwise.HYPERPARAMETERS,
    **inbatch.HYPERPARAMETERS,
    **distillation.HYPERPARAMETERS,
}

LOSSES: dict[str, LossInfo] = {}


def _register(
    name: str,
    fn: LossFn,
    kind: Kind,
    description: str,
    *,
    labels: bool = False,
    teacher: bool = False,
    permutation_invariant: bool = True,
) -> None:
    LOSSES[name] = LossInfo(fn, kind, labels, teacher, permutation_invariant, description, _CHECKS[name])


_register("mse", pointwise.mse_loss, "pointwise", "mean squared error of scores against labels", labels=True)
_register(
    "bce",
    pointwise.bce_loss,
    "pointwise",
    "sigmoid binary cross-entropy against (binarised) labels",
    labels=True,
)
_register(
    "sampled_softmax",
    pointwise.sampled_softmax_loss,
    "pointwise",
    "-log softmax of each positive against the list's sampled negatives",
    labels=True,
)
_register(
    "pair_ce",
    pairwise.pair_ce_loss,
    "pairwise",
    "RankNet logistic loss on label-ordered pairs (Burges et al. 2005)",
    labels=True,
)
_register(
    "margin",
    pairwise.margin_loss,
    "pairwise",
    "pairwise hinge max(0, margin - (s_i - s_j)) on label-ordered pairs",
    labels=True,
)
_register(
    "triplet",
    pairwise.triplet_loss,
    "pairwise",
    "hinge of each positive against the list's negatives (mean or hardest)",
    labels=True,
)
_register(
    "listnet",
    listwise.listnet_loss,
    "listwise",
    "ListNet top-1: cross-entropy of softmax(labels) and softmax(scores) (Cao et al. 2007)",
    labels=True,
)
_register(
    "softmax",
    listwise.softmax_loss,
    "listwise",
    "softmax cross-entropy against labels / sum(labels) (Bruch et al. 2019)",
    labels=True,
)
_register(
    "lambdaloss",
    listwise.lambda_loss,
    "listwise",
    "LambdaLoss NDCG-Loss2++ (or LambdaRank) weighted RankNet pairs (Wang et al. 2018)",
    labels=True,
)
_register(
    "in_batch_softmax",
    inbatch.in_batch_softmax_loss,
    "inbatch",
    "InfoNCE / MultipleNegativesRanking over a [B, N] query x document matrix (labels default: diagonal)",
)
_register(
    "hard_label",
    distillation.hard_label_loss,
    "distillation",
    "the teacher's top-k as binary targets, BCE or RankNet",
    teacher=True,
)
_register(
    "soft_label",
    distillation.soft_label_loss,
    "distillation",
    "T^2 KL(softmax(t/T) || softmax(s/T)) (Hinton et al. 2015)",
    teacher=True,
)
_register(
    "joint",
    distillation.joint_loss,
    "distillation",
    "alpha * hard (labels, else the teacher's top-1) + (1 - alpha) * soft_label",
    teacher=True,
)
_register(
    "margin_mse",
    distillation.margin_mse_loss,
    "distillation",
    "MSE of the student's score margins against the teacher's (Hofstätter et al. 2020)",
    teacher=True,
    permutation_invariant=False,
)
_register(
    "rank_distillation",
    distillation.rank_distillation_loss,
    "distillation",
    "the teacher's top-K unlabelled documents as weighted positives (Tang & Wang 2018)",
    teacher=True,
)


def get_loss(name: str, **hyperparameters: Any) -> LossFn:
    """The loss ``name`` with its hyper-parameters bound (a :func:`functools.partial`), validated now.

    ``reduction`` may be bound here too.

    Raises:
        ValueError: unknown loss name (the message lists the known ones), unknown hyper-parameter (the
            message lists the loss's), or an invalid value.

    Example:
        >>> get_loss("pair_ce", sigma=2.0).keywords
        {'sigma': 2.0}
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known losses: {', '.join(sorted(LOSSES))}")
    info = LOSSES[name]
    for key, value in hyperparameters.items():
        if key == "reduction":
            if value not in REDUCTIONS:
                raise ValueError(f"reduction must be one of 'mean', 'sum', 'none', got {value!r}")
        elif key not in info.checks:
            known = ", ".join(sorted(info.checks)) or "none"
            raise ValueError(f"loss {name!r} has no hyper-parameter {key!r}; its hyper-parameters: {known}")
    check_hyper(name, info.checks, **{k: v for k, v in hyperparameters.items() if k != "reduction"})
    return functools.partial(info.fn, **hyperparameters)
