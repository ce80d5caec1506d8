"""Full-catalogue ranking metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distillrank.data.interactions import Interactions
from distillrank.recsys.data import SequentialData, split_sequential
from distillrank.recsys.metrics import evaluate_ranking, metrics_from_ranks, target_ranks


def test_hand_computed_example() -> None:
    # 6 items scored 0.9 .. 0.4; item 1 already seen (excluded); items 2 and 5 held out.
    # Ranking without item 1: 0, 2, 3, 4, 5 -> ranks of the targets: 2 and 5.
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5, 0.4]])
    ranks = target_ranks(scores, [np.array([2, 5])], exclude=[np.array([1])])
    assert ranks[0].tolist() == [2, 5]
    m = metrics_from_ranks(ranks[0], ks=(3, 5))
    # P@3 = 1/3, R@3 = 1/2; nDCG@3 = (1/log2 3) / (1 + 1/log2 3) = 0.386853
    assert m["P@3"] == pytest.approx(1 / 3)
    assert m["R@3"] == pytest.approx(0.5)
    assert m["nDCG@3"] == pytest.approx(0.38685280723454163)
    # P@5 = 2/5; nDCG@5 = (1/log2 3 + 1/log2 6) / (1 + 1/log2 3) = 0.624051
    assert m["P@5"] == pytest.approx(0.4)
    assert m["nDCG@5"] == pytest.approx(0.6240505200038379)
    # AP = (1/2 + 2/5) / 2
    assert m["AP"] == pytest.approx(0.45)


def test_one_target_at_the_top_is_perfect() -> None:
    m = metrics_from_ranks(np.array([1]), ks=(3, 10))
    assert m["nDCG@3"] == 1.0 and m["AP"] == 1.0 and m["P@10"] == pytest.approx(0.1)


def test_excluded_items_do_not_take_ranks_and_ties_go_to_the_lower_index() -> None:
    scores = torch.zeros(1, 5)
    assert target_ranks(scores, [np.array([3])], exclude=[np.array([0, 1])])[0].tolist() == [2]
    assert target_ranks(scores, [np.array([3])])[0].tolist() == [4]


def test_a_target_that_is_excluded_is_an_error() -> None:
    with pytest.raises(ValueError, match="excluded"):
        target_ranks(torch.zeros(1, 4), [np.array([1])], exclude=[np.array([1])])


def test_sampled_candidates_restrict_the_ranking() -> None:
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0]])
    # only items 4 (target) and 3 are ranked: the target is second
    assert target_ranks(scores, [np.array([4])], allowed=[np.array([3])])[0].tolist() == [2]


class _Oracle:
    """Scores the held-out test items highest: every metric at its maximum."""

    history_length = 2

    def __init__(self, data: SequentialData, part: str) -> None:
        self.data, self.part = data, part

    def score_all(self, users: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(len(users), self.data.n_items)
        for i, u in enumerate(users.tolist()):
            out[i, self.data.targets(self.part)[u]] = 1.0
        return out


def test_evaluate_ranking_with_an_oracle_and_history_exclusion(synthetic: Interactions) -> None:
    data = split_sequential(synthetic)
    result = evaluate_ranking(_Oracle(data, "test"), data, "test")
    assert result["nDCG@10"] == pytest.approx(1.0) and result["MAP"] == pytest.approx(1.0)
    assert len(result.users) == data.n_users and len(result.per_user["MAP"]) == data.n_users
    valid = evaluate_ranking(_Oracle(data, "valid"), data, "valid", ks=(10,))
    assert valid["nDCG@10"] == pytest.approx(1.0)
    sampled = evaluate_ranking(_Oracle(data, "test"), data, "test", sampled=5)
    assert sampled["MAP"] == pytest.approx(1.0)
