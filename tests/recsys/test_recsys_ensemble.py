"""The score ensemble: the mean of its members' scores, usable wherever one model is (evaluation, the
teacher's top-K), and clear errors for members that cannot be averaged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distillrank.data.interactions import Interactions
from distillrank.recsys.caser import Caser, CaserConfig
from distillrank.recsys.data import make_windows, split_sequential, to_tensor
from distillrank.recsys.distill import teacher_topk
from distillrank.recsys.ensemble import ScoreEnsemble
from distillrank.recsys.metrics import evaluate_ranking


def _casers(n_users: int, n_items: int, ds: tuple[int, ...], L: int = 3) -> list[Caser]:
    out = []
    for seed, d in enumerate(ds):
        torch.manual_seed(seed)
        model = Caser(CaserConfig(n_users, n_items, d=d, L=L))
        model.eval()
        out.append(model)
    return out


def test_scores_are_the_mean_of_the_members(synthetic: Interactions) -> None:
    data = split_sequential(synthetic, n_test=2, n_valid=1)
    members = _casers(data.n_users, data.n_items, (8, 4, 6))  # state sizes may differ
    ens = ScoreEnsemble(members).eval()
    users = torch.arange(5)
    seqs = torch.randint(0, data.n_items, (5, 3))
    with torch.no_grad():
        want = torch.stack([m.score_all(users, seqs) for m in members]).mean(0)
        got = ens.score_all(users, seqs)
        items = torch.randint(0, data.n_items, (5, 4))
        some = ens(users, seqs, items)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(some, want.gather(1, items))
    assert ens.history_length == 3
    # members that disagree: the ensemble differs from each of them
    assert all(not torch.allclose(got, m.score_all(users, seqs)) for m in members)


def test_an_ensemble_of_one_is_its_member(synthetic: Interactions) -> None:
    data = split_sequential(synthetic, n_test=2, n_valid=1)
    (member,) = _casers(data.n_users, data.n_items, (8,))
    ens = ScoreEnsemble([member]).eval()
    windows = make_windows(data, 3, 2)
    with torch.no_grad():
        ours, its = teacher_topk(ens, windows, data, K=4), teacher_topk(member, windows, data, K=4)
        np.testing.assert_array_equal(ours, its)
        a = evaluate_ranking(ens, data, "test").metrics
        b = evaluate_ranking(member, data, "test").metrics
    assert a == pytest.approx(b)


def test_the_ensembles_top_k_ranks_its_mean_scores_among_unseen_items(synthetic: Interactions) -> None:
    data = split_sequential(synthetic, n_test=2, n_valid=1)
    members = _casers(data.n_users, data.n_items, (8, 8))
    ens = ScoreEnsemble(members).eval()
    windows = make_windows(data, 3, 2)
    with torch.no_grad():
        topk = teacher_topk(ens, windows, data, K=5)
        users, seqs = to_tensor(windows.users), to_tensor(windows.inputs)
        mean = torch.stack([m.score_all(users, seqs) for m in members]).mean(0)
    mean = mean.masked_fill(data.seen_mask(windows.users), -torch.inf)
    np.testing.assert_array_equal(topk, torch.topk(mean, 5, dim=1).indices.numpy())
    seen = data.seen_mask(windows.users).numpy()
    assert not seen[np.arange(len(topk))[:, None], topk].any()


def test_members_that_cannot_be_averaged_are_refused(synthetic: Interactions) -> None:
    data = split_sequential(synthetic, n_test=2, n_valid=1)
    with pytest.raises(ValueError, match="at least one member"):
        ScoreEnsemble([])
    (short,) = _casers(data.n_users, data.n_items, (4,), L=2)
    (long,) = _casers(data.n_users, data.n_items, (4,), L=3)
    with pytest.raises(ValueError, match=r"different history lengths: \[2, 3\]"):
        ScoreEnsemble([short, long])
