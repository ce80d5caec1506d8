"""Caser: convolutional sequence embedding for next-item recommendation (Tang & Wang, WSDM 2018).

The ``L`` most recent items of a user form an ``L x d`` "image" ``E`` of item embeddings. Horizontal
filters of heights ``h = 1..L`` (``n_h`` each, width ``d``) slide over it and are max-pooled over time
(union-level and point-level sequential patterns); ``n_v`` vertical filters ``L x 1`` take weighted sums
of the rows. Their outputs, concatenated and passed through dropout, give ``z = phi(W1 [o; o'] + b1)``
(``d`` values); with the user embedding ``P_u`` the score of item ``i`` is

    y(u, S, i) = W2_i . [z; P_u] + b2_i

so scoring the full catalogue is one ``[B, 2d] x [2d, n_items]`` product. This is the model of the
Ranking Distillation paper (Tang & Wang, KDD 2018): a teacher with ``d = 100`` and students with
``d <= 50``.

Example:
    >>> model = Caser(CaserConfig(n_users=3, n_items=10, d=8, L=4))
    >>> model.score_all(torch.tensor([0, 2]), torch.tensor([[10, 10, 1, 2], [3, 4, 5, 6]])).shape
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

__all__ = ["Caser", "CaserConfig"]

_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "identity": lambda x: x}


@dataclass
class CaserConfig:
    """Caser hyper-parameters (defaults: the Caser paper's, with ``L=5``).

    Attributes:
        n_users, n_items: sizes of the user and item vocabularies (item ``n_items`` pads sequences).
        d: embedding size (the RD paper: 100 for the teacher, 50 or less for students).
        L: number of recent items read.
        n_v, n_h: vertical filters, and horizontal filters per height ``1..L``.
        dropout: dropout on the convolution outputs.
        ac_conv, ac_fc: activations of the horizontal convolutions and of the fully-connected layer.
    """

    n_users: int
    n_items: int
    d: int = 50
    L: int = 5
    n_v: int = 4
    n_h: int = 16
    dropout: float = 0.5
    ac_conv: str = "relu"
    ac_fc: str = "relu"

    def __post_init__(self) -> None:
        for name in ("n_users", "n_items", "d", "L"):
            if getattr(self, name) < 1:
                raise ValueError(f"CaserConfig.{name} must be at least 1, got {getattr(self, name)}")
        if self.n_v < 0 or self.n_h < 0 or self.n_v + self.n_h == 0:
            raise ValueError("CaserConfig needs some filters: n_v >= 0, n_h >= 0, n_v + n_h >= 1")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"CaserConfig.dropout must be in [0, 1), got {self.dropout}")
        for name in ("ac_conv", "ac_fc"):
            if getattr(self, name) not in _ACTIVATIONS:
                raise ValueError(f"CaserConfig.{name} must be one of {sorted(_ACTIVATIONS)}")


class Caser(nn.Module):
    """The Caser network; see the module docstring. It only produces scores (losses live in
    :mod:`distillrank.losses`)."""

    kind = "caser"

    def __init__(self, config: CaserConfig) -> None:
        super().__init__()
        self.config = c = config
        self.user_embeddings = nn.Embedding(c.n_users, c.d)
        self.item_embeddings = nn.Embedding(c.n_items + 1, c.d, padding_idx=c.n_items)
        self.conv_v = nn.Conv2d(1, c.n_v, (c.L, 1)) if c.n_v else None
        self.conv_h = nn.ModuleList(
            [nn.Conv2d(1, c.n_h, (h, c.d)) for h in range(1, c.L + 1)] if c.n_h else []
        )
        self.fc1 = nn.Linear(c.n_v * c.d + c.n_h * c.L, c.d)
        self.W2 = nn.Embedding(c.n_items, 2 * c.d)
        self.b2 = nn.Embedding(c.n_items, 1)
        self._ac_conv = _ACTIVATIONS[c.ac_conv]
        self._ac_fc = _ACTIVATIONS[c.ac_fc]
        # initialisation of the reference implementation
        self.user_embeddings.weight.data.normal_(0, 1.0 / c.d)
        self.item_embeddings.weight.data.normal_(0, 1.0 / c.d)
        self.item_embeddings.weight.data[c.n_items].zero_()
        self.W2.weight.data.normal_(0, 1.0 / (2 * c.d))
        self.b2.weight.data.zero_()

    @property
    def history_length(self) -> int:
        return self.config.L

    def user_state(self, users: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
        """``x = [z; P_u]``, ``[B, 2d]``, for ``users [B]`` and recent items ``seqs [B, L]``.

        The convolutions are computed as matrix products over the (few) sliding windows, which is the
        same function as ``nn.Conv2d`` (whose modules hold the weights) and several times faster on CPU
        for these tiny images.
        """
        emb = self.item_embeddings(seqs)  # [B, L, d]
        parts = []
        if self.conv_v is not None:  # out_v[b, k, j] = sum_l w[k, l] E[b, l, j] + bias[k]
            w_v = self.conv_v.weight.view(self.config.n_v, self.config.L)
            out_v = torch.einsum("bld,kl->bkd", emb, w_v) + self.conv_v.bias.view(1, -1, 1)  # type: ignore[union-attr]
            parts.append(out_v.flatten(1))
        for h, conv in enumerate(self.conv_h, start=1):
            assert isinstance(conv, nn.Conv2d)
            n_pos = self.config.L - h + 1  # window i is rows i .. i+h-1 of E, flattened row by row
            windows = torch.cat([emb[:, i : i + n_pos] for i in range(h)], dim=2)  # [B, L - h + 1, h * d]
            out = self._ac_conv(F.linear(windows, conv.weight.flatten(1), conv.bias))  # [B, L - h + 1, n_h]
            parts.append(out.amax(1))
        z = self._ac_fc(self.fc1(self._dropout(torch.cat(parts, 1))))
        return torch.cat([z, self.user_embeddings(users)], 1)

    def _dropout(self, x: torch.Tensor) -> torch.Tensor:
        """Inverted dropout, as ``nn.Dropout`` (a uniform mask is ~3x faster than torch's bernoulli here)."""
        p = self.config.dropout
        if not self.training or p == 0:
            return x
        return x * (torch.rand_like(x) >= p).to(x.dtype) / (1 - p)

    def score_items(self, x: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores ``[B, M]`` of ``items [B, M]`` from user states ``x [B, 2d]``."""
        return (self.W2(items) * x.unsqueeze(1)).sum(-1) + self.b2(items).squeeze(-1)

    def score_catalogue(self, x: torch.Tensor) -> torch.Tensor:
        """Scores ``[B, n_items]`` of every item from user states ``x [B, 2d]``."""
        return torch.addmm(self.b2.weight.t(), x, self.W2.weight.t())

    def forward(self, users: torch.Tensor, seqs: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores ``[B, M]`` of candidate items ``items [B, M]``."""
        return self.score_items(self.user_state(users, seqs), items)

    def score_all(self, users: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
        """Scores ``[B, n_items]`` of the whole catalogue."""
        return self.score_catalogue(self.user_state(users, seqs))

    def save(self, path: str | Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` into the folder ``path``."""
        save_model(self, self.config, self.kind, path)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        model = cls(CaserConfig(**read_config(path, cls.kind)))
        load_weights(model, path)
        model.eval()
        return model
