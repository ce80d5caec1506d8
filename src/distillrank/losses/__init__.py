"""Ranking and distillation losses as pure functions on score tensors.

Every loss in :data:`LOSSES` has one signature::

    fn(scores, labels=None, *, teacher_scores=None, mask=None, weights=None, reduction="mean",
       **hyperparameters) -> Tensor

* ``scores``, ``labels``, ``teacher_scores``, ``mask``: ``[..., L]`` — any leading batch dimensions, the
  candidate list last (``in_batch_softmax`` takes a ``[..., B, N]`` query x document matrix). ``mask`` is
  bool, False for padding; padded entries may hold anything (even nan) and never change the result.
  Teacher scores are treated as constants.
* A loss computes one value per list ``[...]`` (an all-padded list: exactly 0), multiplies it by
  ``weights [...]`` when given, then reduces: ``"none"`` returns ``[...]``; ``"sum"`` the sum; ``"mean"``
  the sum divided by the number of lists with at least one valid entry.
* A loss that needs ``labels`` or ``teacher_scores`` raises ``ValueError`` when it is missing; the others
  accept and ignore them, so a trainer can pass everything it has.

:func:`get_loss` binds and validates hyper-parameters by name:

>>> import torch
>>> loss = get_loss("soft_label", temperature=2.0)
>>> loss(torch.zeros(2, 3), teacher_scores=torch.zeros(2, 3))
tensor(0.)
"""

from distillrank.losses._utils import Reduction
from distillrank.losses.distillation import (
    hard_label_loss,
    joint_loss,
    margin_mse_loss,
    rank_distillation_loss,
    soft_label_loss,
)
from distillrank.losses.inbatch import in_batch_softmax_loss
from distillrank.losses.listwise import lambda_loss, listnet_loss, softmax_loss
from distillrank.losses.pairwise import margin_loss, pair_ce_loss, triplet_loss
from distillrank.losses.pointwise import bce_loss, mse_loss, sampled_softmax_loss
from distillrank.losses.registry import LOSSES, Kind, LossFn, LossInfo, get_loss
from distillrank.losses.regularizers import flops_regularizer

__all__ = [
    "LOSSES",
    "Kind",
    "LossFn",
    "LossInfo",
    "Reduction",
    "bce_loss",
    "flops_regularizer",
    "get_loss",
    "hard_label_loss",
    "in_batch_softmax_loss",
    "joint_loss",
    "lambda_loss",
    "listnet_loss",
    "margin_loss",
    "margin_mse_loss",
    "mse_loss",
    "pair_ce_loss",
    "rank_distillation_loss",
    "sampled_softmax_loss",
    "soft_label_loss",
    "softmax_loss",
    "triplet_loss",
]
