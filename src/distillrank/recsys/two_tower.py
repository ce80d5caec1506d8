"""A two-tower (DSSM-style) recommender: a user tower over the recent history and an item tower.

* **User tower**: the mean of the embeddings of the ``L`` most recent items (padding ignored), plus a
  user-id embedding when ``user_ids=True``, through an MLP ``d -> hidden -> d``.
* **Item tower**: the item-id embedding through its own MLP ``d -> hidden -> d`` (with a residual
  connection, so an untrained tower starts from the embedding).
* **Score**: ``u . v`` (``similarity="dot"``) or ``cos(u, v) / temperature`` (``"cosine"``; the
  temperature makes softmax losses over cosines trainable).

Because user and item are encoded separately, a batch of ``B`` users against ``N`` items is one
``[B, d] x [d, N]`` product: the full-product matrix used by in-batch softmax (FPS) training, and the
whole catalogue at inference (item vectors can be precomputed once).

Example:
    >>> model = TwoTower(TwoTowerConfig(n_users=3, n_items=10, d=8, L=4))
    >>> u = model.encode_users(torch.tensor([0, 1]), torch.tensor([[10, 10, 1, 2], [3, 4, 5, 6]]))
    >>> model.similarity(u, model.encode_items(torch.arange(10))).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Self

import torch
import torch.nn.functional as F
from torch import nn

from distillrank.recsys._io import load_weights, read_config, save_model

__all__ = ["TwoTower", "TwoTowerConfig"]


@dataclass
class TwoTowerConfig:
    """Two-tower hyper-parameters.

    Attributes:
        n_users, n_items: vocabulary sizes (item ``n_items`` pads histories).
        d: embedding and output size; hidden: MLP hidden size.
        L: recent items read by the user tower.
        similarity: ``"dot"`` or ``"cosine"``; temperature: divides cosines.
        user_ids: add a user-id embedding to the user tower.
        share_embeddings: the history items and the item tower share one embedding table.
        dropout: dropout in the MLPs.
    """

    n_users: int
    n_items: int
    d: int = 64
    hidden: int = 128
    L: int = 20
    similarity: str = "cosine"
    temperature: float = 0.1
    user_ids: bool = True
    share_embeddings: bool = True
    dropout: float = 0.1

    def __post_init__(self) -> None:
        for name in ("n_users", "n_items", "d", "hidden", "L"):
            if getattr(self, name) < 1:
                raise ValueError(f"TwoTowerConfig.{name} must be at least 1, got {getattr(self, name)}")
        if self.similarity not in ("dot", "cosine"):
            raise ValueError(f"TwoTowerConfig.similarity must be 'dot' or 'cosine', not {self.similarity!r}")
        if self.temperature <= 0:
            raise ValueError(f"TwoTowerConfig.temperature must be positive, got {self.temperature}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"TwoTowerConfig.dropout must be in [0, 1), got {self.dropout}")


def _mlp(d: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, d))


class TwoTower(nn.Module):
    """User and item towers; see the module docstring."""

    kind = "two_tower"

    def __init__(self, config: TwoTowerConfig) -> None:
        super().__init__()
        self.config = c = config
        self.item_embeddings = nn.Embedding(c.n_items + 1, c.d, padding_idx=c.n_items)
        self.history_embeddings = (
            self.item_embeddings
            if c.share_embeddings
            else nn.Embedding(c.n_items + 1, c.d, padding_idx=c.n_items)
        )
        self.user_embeddings = nn.Embedding(c.n_users, c.d) if c.user_ids else None
        self.user_mlp = _mlp(c.d, c.hidden, c.dropout)
        self.item_mlp = _mlp(c.d, c.hidden, c.dropout)
        for emb in {id(m): m for m in (self.item_embeddings, self.history_embeddings)}.values():
            nn.init.normal_(emb.weight, 0, 0.1)
            emb.weight.data[c.n_items].zero_()
        if self.user_embeddings is not None:
            nn.init.normal_(self.user_embeddings.weight, 0, 0.1)

    @property
    def history_length(self) -> int:
        return self.config.L

    def encode_users(self, users: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
        """``[B, d]`` user vectors from ``users [B]`` and recent items ``seqs [B, L]`` (left-padded)."""
        mask = (seqs != self.config.n_items).unsqueeze(2).float()
        emb = self.history_embeddings(seqs)
        pooled = (emb * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        if self.user_embeddings is not None:
            pooled = pooled + self.user_embeddings(users)
        return pooled + self.user_mlp(pooled)

    def encode_items(self, items: torch.Tensor) -> torch.Tensor:
        """``[..., d]`` item vectors of ``items [...]``."""
        emb = self.item_embeddings(items)
        return emb + self.item_mlp(emb)

    def similarity(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The full-product matrix ``[B, N]`` of user vectors ``[B, d]`` against item vectors ``[N, d]``."""
        if self.config.similarity == "cosine":
            return F.normalize(u, dim=-1) @ F.normalize(v, dim=-1).t() / self.config.temperature
        return u @ v.t()

    def forward(self, users: torch.Tensor, seqs: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores ``[B, M]`` of each user's own candidates ``items [B, M]``."""
        u = self.encode_users(users, seqs).unsqueeze(1)  # [B, 1, d]
        if items.numel() > self.config.n_items:  # cheaper to run the item tower once per item
            table = self.encode_items(torch.arange(self.config.n_items, device=items.device))
            # F.embedding, not table[items]: the backward of advanced indexing (index_put_ with
            # accumulate) sums in a thread-dependent order on CPU, so runs with one seed differed
            v = F.embedding(items, table)
        else:
            v = self.encode_items(items)  # [B, M, d]
        if self.config.similarity == "cosine":
            u, v = F.normalize(u, dim=-1), F.normalize(v, dim=-1)
            return (u * v).sum(-1) / self.config.temperature
        return (u * v).sum(-1)

    def score_all(self, users: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
        """Scores ``[B, n_items]`` of the whole catalogue."""
        items = torch.arange(self.config.n_items)
        return self.similarity(self.encode_users(users, seqs), self.encode_items(items))

    def save(self, path: str | Path) -> None:
        save_model(self, self.config, self.kind, path)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        model = cls(TwoTowerConfig(**read_config(path, cls.kind)))
        load_weights(model, path)
        model.eval()
        return model
