"""A teacher made of several recommenders: the mean of their scores.

Independently trained copies of one model (different seeds) make different errors, so the mean of their
scores ranks better than any one of them — the cheapest way to a stronger teacher for distillation
(Hinton, Vinyals and Dean 2015 distil an ensemble; Lakshminarayanan et al. 2017 for seed ensembles):

    s_ens(u, i) = (1 / M) * sum_m s_m(u, i)

:class:`ScoreEnsemble` is a :class:`~distillrank.recsys.metrics.SequenceScorer` and a
:class:`~distillrank.recsys.distill.StateScorer`, so it is evaluated with
:func:`~distillrank.recsys.metrics.evaluate_ranking` and its top-``K`` cached with
:func:`~distillrank.recsys.distill.teacher_topk` like one model. Its user state is the list of the
members' states, so members need not share a state size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, cast

import torch
from torch import nn

__all__ = ["ScoreEnsemble"]


class _Member(Protocol):
    @property
    def history_length(self) -> int: ...

    def user_state(self, users: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor: ...

    def score_items(self, x: torch.Tensor, items: torch.Tensor) -> torch.Tensor: ...

    def score_catalogue(self, x: torch.Tensor) -> torch.Tensor: ...


class ScoreEnsemble(nn.Module):
    """The mean score of ``members`` (models that read the same history length ``L``).

    Raises:
        ValueError: no members, or members that read different history lengths.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        lengths = {int(cast(_Member, m).history_length) for m in members}
        if len(lengths) != 1:
            raise ValueError(f"members read different history lengths: {sorted(lengths)}")
        self.members = nn.ModuleList(members)
        self._L = lengths.pop()

    def _each(self) -> list[_Member]:
        return list(self.members)  # type: ignore[arg-type]

    @property
    def history_length(self) -> int:
        return self._L

    def user_state(self, users: torch.Tensor, seqs: torch.Tensor) -> list[torch.Tensor]:
        """Every member's user state, in member order."""
        return [m.user_state(users, seqs) for m in self._each()]

    def score_items(self, x: list[torch.Tensor], items: torch.Tensor) -> torch.Tensor:
        """Mean scores ``[B, M]`` of ``items [B, M]`` from the members' states ``x``."""
        return torch.stack([m.score_items(xm, items) for m, xm in zip(self._each(), x, strict=True)]).mean(0)

    def score_catalogue(self, x: list[torch.Tensor]) -> torch.Tensor:
        """Mean scores ``[B, n_items]`` of the whole catalogue from the members' states ``x``."""
        return torch.stack([m.score_catalogue(xm) for m, xm in zip(self._each(), x, strict=True)]).mean(0)

    def score_all(self, users: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
        """Mean scores ``[B, n_items]`` of the catalogue for ``users [B]`` with recent items ``seqs``."""
        return self.score_catalogue(self.user_state(users, seqs))

    def forward(self, users: torch.Tensor, seqs: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.score_items(self.user_state(users, seqs), items)
