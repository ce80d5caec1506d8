"""Caser and two-tower: shapes, agreement between scoring paths, save/load round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from distillrank.errors import DataFormatError
from distillrank.recsys.caser import Caser, CaserConfig
from distillrank.recsys.two_tower import TwoTower, TwoTowerConfig

N_USERS, N_ITEMS = 7, 20


def _inputs(L: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    users = torch.randint(0, N_USERS, (4,), generator=g)
    seqs = torch.randint(0, N_ITEMS + 1, (4, L), generator=g)  # N_ITEMS is the padding item
    seqs[0, :2] = N_ITEMS
    items = torch.randint(0, N_ITEMS, (4, 6), generator=g)
    return users, seqs, items


@pytest.mark.parametrize(
    "model",
    [
        Caser(CaserConfig(N_USERS, N_ITEMS, d=8, L=5)),
        Caser(CaserConfig(N_USERS, N_ITEMS, d=6, L=3, n_v=0, ac_fc="sigmoid", ac_conv="identity")),
        TwoTower(TwoTowerConfig(N_USERS, N_ITEMS, d=8, hidden=16, L=5, similarity="dot")),
        TwoTower(
            TwoTowerConfig(N_USERS, N_ITEMS, d=8, hidden=16, L=4, share_embeddings=False, user_ids=False)
        ),
    ],
    ids=["caser", "caser-no-vertical", "two-tower-dot", "two-tower-cosine"],
)
def test_shapes_scoring_paths_and_round_trip(model: torch.nn.Module, tmp_path: Path) -> None:
    users, seqs, items = _inputs(int(model.history_length))  # type: ignore[arg-type]
    model.eval()
    scores = model(users, seqs, items)
    assert scores.shape == (4, 6)
    full = model.score_all(users, seqs)  # type: ignore[operator]
    assert full.shape == (4, N_ITEMS)
    torch.testing.assert_close(full.gather(1, items), scores, rtol=1e-5, atol=1e-5)
    model.save(tmp_path / "m")  # type: ignore[operator]
    loaded = type(model).load(tmp_path / "m")  # type: ignore[attr-defined]
    torch.testing.assert_close(loaded.score_all(users, seqs), full)
    assert loaded.config == model.config


def test_caser_convolutions_equal_nn_conv2d() -> None:
    model = Caser(CaserConfig(N_USERS, N_ITEMS, d=8, L=4)).eval()
    users, seqs, _ = _inputs(4)
    emb = model.item_embeddings(seqs).unsqueeze(1)
    parts = [model.conv_v(emb).flatten(1)]  # type: ignore[misc]
    for conv in model.conv_h:
        out = torch.relu(conv(emb).squeeze(3))
        parts.append(F.max_pool1d(out, out.size(2)).squeeze(2))
    z = torch.relu(model.fc1(torch.cat(parts, 1)))
    expected = torch.cat([z, model.user_embeddings(users)], 1)
    torch.testing.assert_close(model.user_state(users, seqs), expected, rtol=1e-5, atol=1e-6)


def test_padding_item_is_ignored_by_the_two_tower_user_tower() -> None:
    model = TwoTower(TwoTowerConfig(N_USERS, N_ITEMS, d=8, hidden=16, L=3, user_ids=False)).eval()
    a = model.encode_users(torch.tensor([0]), torch.tensor([[N_ITEMS, 2, 3]]))
    b = model.encode_users(torch.tensor([0]), torch.tensor([[N_ITEMS, N_ITEMS, 2]]))
    c = model.encode_users(torch.tensor([0]), torch.tensor([[2, 3, N_ITEMS]]))
    torch.testing.assert_close(a, c)
    assert not torch.allclose(a, b)


def test_parameter_count_halves_with_d() -> None:
    def count(d: int) -> int:
        return sum(p.numel() for p in Caser(CaserConfig(943, 1682, d=d)).parameters())

    assert count(50) / count(100) <= 0.5


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (CaserConfig, {"d": 0}, "d must be at least 1"),
        (CaserConfig, {"n_v": 0, "n_h": 0}, "needs some filters"),
        (CaserConfig, {"ac_fc": "gelu"}, "ac_fc must be one of"),
        (TwoTowerConfig, {"similarity": "l2"}, "similarity must be"),
        (TwoTowerConfig, {"temperature": 0.0}, "temperature must be positive"),
    ],
)
def test_invalid_configs(cls: type, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cls(N_USERS, N_ITEMS, **kwargs)


def test_loading_the_wrong_kind_is_an_error(tmp_path: Path) -> None:
    Caser(CaserConfig(N_USERS, N_ITEMS, d=4, L=2)).save(tmp_path / "c")
    with pytest.raises(DataFormatError, match="not a 'two_tower' model"):
        TwoTower.load(tmp_path / "c")
    with pytest.raises(FileNotFoundError):
        Caser.load(tmp_path / "nothing")
