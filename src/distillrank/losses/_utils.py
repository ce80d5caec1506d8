"""Shared plumbing of the ranking losses: input checks, masking, per-list reduction, hyper-parameter checks.

Every loss of :mod:`distillrank.losses` follows one convention (that of google/rax):

* ``scores``, ``labels``, ``teacher_scores`` and ``mask`` have shape ``[..., L]``: any number of leading
  batch dimensions, the list last. ``mask`` is boolean, ``False`` marking padding.
* Padded entries are neutralised on entry (replaced by 0 with a zero gradient), so any garbage there —
  even ``nan`` or ``inf`` — never reaches the result or the gradients.
* A loss first computes one value per list, ``[...]``; an all-padded list gets exactly 0.
* ``weights`` (shape ``[...]``) multiply the per-list losses.
* ``reduction="none"`` returns the weighted per-list losses ``[...]``; ``"sum"`` their sum; ``"mean"`` their
  sum divided by the number of lists with at least one valid entry (all-padded lists are left out of the
  count; a batch of nothing but padding gives 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

Reduction = Literal["mean", "sum", "none"]
REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")

# --------------------------------------------------------------------------------------------------------
# Hyper-parameter checks. Each check raises ValueError("<name> must be ..., got <value>"); `check_hyper`
# prefixes the loss name. The same tables drive `get_loss`, so a bad value fails when the loss is built.
# --------------------------------------------------------------------------------------------------------

Check = Callable[[str, Any], None]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def positive(name: str, value: Any) -> None:
    """A number > 0."""
    if not _is_number(value) or not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def non_negative(name: str, value: Any) -> None:
    """A finite number >= 0."""
    if not _is_number(value) or not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")


def unit_interval(name: str, value: Any) -> None:
    """A number in [0, 1]."""
    if not _is_number(value) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")


def positive_int(name: str, value: Any) -> None:
    """An int >= 1."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def boolean(name: str, value: Any) -> None:
    """True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def one_of(*choices: str) -> Check:
    """A check that the value is one of ``choices``."""

    def check(name: str, value: Any) -> None:
        if value not in choices:
            listed = ", ".join(repr(c) for c in choices)
            raise ValueError(f"{name} must be one of {listed}, got {value!r}")

    return check


def check_hyper(loss: str, checks: Mapping[str, Check], **values: Any) -> None:
    """Run ``checks[name](name, value)`` for every value, naming ``loss`` in the error."""
    for name, value in values.items():
        try:
            checks[name](name, value)
        except ValueError as err:
            raise ValueError(f"loss {loss!r}: {err}") from None


# --------------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    """Checked inputs: padding replaced by 0, labels and teacher scores in the scores' dtype.

    Attributes:
        scores: ``[..., L]`` with padded entries 0 (zero gradient there).
        mask: ``[..., L]`` bool, True for real entries.
        labels: ``[..., L]`` or None (0 where padded).
        teacher: ``[..., L]`` detached teacher scores or None (0 where padded).
        weights: ``[...]`` per-list weights or None.
    """

    scores: Tensor
    mask: Tensor
    labels: Tensor | None
    teacher: Tensor | None
    weights: Tensor | None

    @property
    def has_entries(self) -> Tensor:
        """``[...]`` bool: the lists with at least one valid entry."""
        return self.mask.any(dim=-1)


def _same_shape(loss: str, what: str, tensor: Tensor, shape: torch.Size) -> Tensor:
    """``tensor`` as ``shape``: leading (batch) dimensions may broadcast, the list dimension may not (a
    ``[B, 1]`` teacher score stretched over a list of ``L`` would be a flat target, silently)."""
    if tensor.shape != shape:
        stretched = tensor.dim() == 0 or tensor.shape[-1] != shape[-1]
        try:
            if stretched:
                tensor.broadcast_to(shape)  # a shape that would not even broadcast gets the plain message
                raise ValueError(
                    f"loss {loss!r}: {what} shape {tuple(tensor.shape)} does not match scores shape "
                    f"{tuple(shape)}: give one value per list entry (the list dimension, last, does not "
                    "broadcast)"
                )
            return tensor.broadcast_to(shape)
        except RuntimeError:
            raise ValueError(
                f"loss {loss!r}: {what} shape {tuple(tensor.shape)} does not match "
                f"scores shape {tuple(shape)}"
            ) from None
    return tensor


def prepare(
    loss: str,
    scores: Tensor,
    labels: Tensor | None,
    teacher_scores: Tensor | None,
    mask: Tensor | None,
    weights: Tensor | None,
    reduction: str,
    *,
    needs_labels: bool = False,
    needs_teacher: bool = False,
    min_dims: int = 1,
) -> Inputs:
    """Check shapes, dtypes and the required inputs; neutralise padding.

    Raises:
        ValueError: a required input is missing, shapes disagree, or ``reduction`` is unknown.
    """
    if not isinstance(scores, Tensor) or not scores.is_floating_point():
        raise ValueError(f"loss {loss!r}: scores must be a floating-point tensor, got {_describe(scores)}")
    if scores.dim() < min_dims:
        raise ValueError(
            f"loss {loss!r}: scores must have at least {min_dims} dimension(s), "
            f"got shape {tuple(scores.shape)}"
        )
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of 'mean', 'sum', 'none', got {reduction!r}")
    if needs_labels and labels is None:
        raise ValueError(f"loss {loss!r} needs labels, got labels=None")
    if needs_teacher and teacher_scores is None:
        raise ValueError(f"loss {loss!r} needs teacher_scores, got teacher_scores=None")
    shape = scores.shape
    if mask is None:
        valid = torch.ones(shape, dtype=torch.bool, device=scores.device)
    else:
        mask = torch.as_tensor(mask, device=scores.device)  # a nested list of bools works too
        if mask.dtype != torch.bool:
            raise ValueError(f"loss {loss!r}: mask must be a bool tensor, got dtype {mask.dtype}")
        valid = _same_shape(loss, "mask", mask, shape)
    pad = ~valid
    clean_scores = scores.masked_fill(pad, 0.0)
    clean_labels = None
    if labels is not None:
        labels = _same_shape(loss, "labels", torch.as_tensor(labels, device=scores.device), shape)
        clean_labels = labels.to(scores.dtype).masked_fill(pad, 0.0)
    clean_teacher = None
    if teacher_scores is not None:
        teacher = torch.as_tensor(teacher_scores, device=scores.device)
        teacher = _same_shape(loss, "teacher_scores", teacher, shape)
        clean_teacher = teacher.detach().to(scores.dtype).masked_fill(pad, 0.0)
    if weights is not None:
        weights = torch.as_tensor(weights, device=scores.device).to(scores.dtype)
        try:
            weights = weights.broadcast_to(shape[:-1])
        except RuntimeError:
            raise ValueError(
                f"loss {loss!r}: weights shape {tuple(weights.shape)} does not match the list shape "
                f"{tuple(shape[:-1])} (one weight per list)"
            ) from None
    return Inputs(clean_scores, valid, clean_labels, clean_teacher, weights)


def _describe(value: object) -> str:
    if isinstance(value, Tensor):
        return f"a tensor of dtype {value.dtype}"
    return type(value).__name__


def reduce_lists(per_list: Tensor, inputs: Inputs, reduction: str) -> Tensor:
    """Weight and reduce per-list losses ``[...]`` (see the module docstring for the convention)."""
    has_entries = inputs.has_entries
    loss = torch.where(has_entries, per_list, torch.zeros_like(per_list))
    if inputs.weights is not None:
        loss = loss * torch.where(has_entries, inputs.weights, torch.zeros_like(inputs.weights))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / has_entries.sum().clamp(min=1).to(loss.dtype)


# --------------------------------------------------------------------------------------------------------
# Masked building blocks
# --------------------------------------------------------------------------------------------------------


def masked_log_softmax(x: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """``log softmax`` over the valid entries along ``dim``; 0 at padded entries (never nan)."""
    z = x.masked_fill(~mask, torch.finfo(x.dtype).min)
    return torch.log_softmax(z, dim=dim).masked_fill(~mask, 0.0)


def masked_softmax(x: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """``softmax`` over the valid entries along ``dim``; 0 at padded entries (all 0 for an empty list)."""
    z = x.masked_fill(~mask, torch.finfo(x.dtype).min)
    return torch.softmax(z, dim=dim).masked_fill(~mask, 0.0)


def masked_mean(values: Tensor, mask: Tensor, dim: int | tuple[int, ...] = -1) -> Tensor:
    """Mean of ``values`` where ``mask``, along ``dim``; 0 where nothing is selected."""
    count = mask.sum(dim=dim).clamp(min=1).to(values.dtype)
    return torch.where(mask, values, torch.zeros_like(values)).sum(dim=dim) / count


def pair_diffs(x: Tensor) -> Tensor:
    """``[..., L, L]`` with entry ``(i, j) = x_i - x_j``."""
    return x.unsqueeze(-1) - x.unsqueeze(-2)


def ordered_pairs(labels: Tensor, mask: Tensor) -> Tensor:
    """``[..., L, L]`` bool: both entries valid and ``label_i > label_j``."""
    both = mask.unsqueeze(-1) & mask.unsqueeze(-2)
    return both & (pair_diffs(labels) > 0)


def ranks(values: Tensor, mask: Tensor) -> Tensor:
    """1-based rank of each entry under ``values`` descending, among valid entries (no gradient).

    Ties go to the earlier position; padded entries are ranked after every valid one.
    """
    v = values.detach().masked_fill(~mask, float("-inf"))
    order = torch.argsort(v, dim=-1, descending=True, stable=True)
    positions = torch.arange(1, v.shape[-1] + 1, device=v.device).expand_as(order)
    return torch.empty_like(order).scatter_(-1, order, positions)


def top_k_indicator(values: Tensor, mask: Tensor, k: int) -> Tensor:
    """``[..., L]`` bool: the ``k`` valid entries with the largest ``values`` (all valid ones if fewer)."""
    return ranks(values, mask).le(k) & mask
