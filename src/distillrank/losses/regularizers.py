"""Regularisers on representations: not ranking losses (they take no scores), so not in ``LOSSES``."""

from __future__ import annotations

import torch
from torch import Tensor


def flops_regularizer(reps: Tensor) -> Tensor:
    r"""FLOPS regulariser: a smooth proxy of the number of floating-point operations of sparse retrieval.

    .. math:: \mathcal{L}_{\text{FLOPS}} = \sum_{j=1}^{V} \Big(\frac{1}{N} \sum_{i=1}^{N} |w_{ij}|\Big)^2

    Penalises vocabulary dimensions that are active across many representations (their mean activation
    squared), which drives the posting lists of a learned sparse index to be short. Paria et al. 2020,
    "Minimizing FLOPs to Learn Efficient Sparse Representations" (ICLR); used by SPLADE (Formal et al. 2021)
    on the query and document batches separately.

    Args:
        reps: ``[N, V]`` representations (``N`` texts of the batch over ``V`` dimensions); leading
            dimensions beyond the first two are not allowed.

    Returns:
        A scalar tensor; 0 for an empty batch.

    Example:
        >>> flops_regularizer(torch.tensor([[1.0, 0.0], [3.0, -2.0]]))  # 2^2 + 1^2
        tensor(5.)
    """
    if not isinstance(reps, Tensor) or not reps.is_floating_point() or reps.dim() != 2:
        shape = tuple(reps.shape) if isinstance(reps, Tensor) else type(reps).__name__
        raise ValueError(f"flops_regularizer: reps must be a floating-point [N, V] tensor, got {shape}")
    if reps.shape[0] == 0:
        return reps.new_zeros(())
    return torch.sum(reps.abs().mean(dim=0) ** 2)


__all__ = ["flops_regularizer"]
