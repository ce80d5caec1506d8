"""The registry, ``get_loss`` and the input checks: tables of bad inputs with the exact error expected."""

from __future__ import annotations

import doctest
import functools
import importlib
import re

import pytest
import torch

import distillrank.losses as losses
from distillrank.losses import LOSSES, get_loss

torch.set_num_threads(1)

KNOWN = (
    "bce, hard_label, in_batch_softmax, joint, lambdaloss, listnet, margin, margin_mse, mse, pair_ce, "
    "rank_distillation, sampled_softmax, soft_label, softmax, triplet"
)

BAD_HYPERPARAMETERS = [
    ("nosuch", {}, f"unknown loss 'nosuch'; known losses: {KNOWN}"),
    ("pair_ce", {"sigm": 1.0}, "loss 'pair_ce' has no hyper-parameter 'sigm'; its hyper-parameters: sigma"),
    ("mse", {"sigma": 1.0}, "loss 'mse' has no hyper-parameter 'sigma'; its hyper-parameters: none"),
    ("pair_ce", {"sigma": -1.0}, "loss 'pair_ce': sigma must be a positive number, got -1.0"),
    ("pair_ce", {"sigma": "1"}, "loss 'pair_ce': sigma must be a positive number, got '1'"),
    ("soft_label", {"temperature": 0}, "loss 'soft_label': temperature must be a positive number, got 0"),
    ("soft_label", {"divergence": "js"}, "loss 'soft_label': divergence must be one of 'kl', 'ce', got 'js'"),
    ("margin", {"margin": -0.5}, "loss 'margin': margin must be a non-negative number, got -0.5"),
    ("triplet", {"negatives": "semi-hard"},
     "loss 'triplet': negatives must be one of 'mean', 'hardest', got 'semi-hard'"),
    ("lambdaloss", {"variant": "ndcg1"},
     "loss 'lambdaloss': variant must be one of 'ndcg2pp', 'lambdarank', got 'ndcg1'"),
    ("bce", {"binarize": "yes"}, "loss 'bce': binarize must be True or False, got 'yes'"),
    ("bce", {"max_label": 0.0}, "loss 'bce': max_label must be a positive number, got 0.0"),
    ("in_batch_softmax", {"symmetric": 1}, "loss 'in_batch_softmax': symmetric must be True or False, got 1"),
    ("joint", {"alpha": 1.5}, "loss 'joint': alpha must be a number in [0, 1], got 1.5"),
    ("hard_label", {"mode": "listmle"},
     "loss 'hard_label': mode must be one of 'pointwise', 'pairwise', 'listwise', got 'listmle'"),
    ("hard_label", {"top_k": 0}, "loss 'hard_label': top_k must be a positive integer, got 0"),
    ("margin_mse", {"pairs": "some"}, "loss 'margin_mse': pairs must be one of 'first', 'all', got 'some'"),
    ("rank_distillation", {"top_k": 2.0},
     "loss 'rank_distillation': top_k must be a positive integer, got 2.0"),
    ("rank_distillation", {"weighting": "linear"},
     "loss 'rank_distillation': weighting must be one of 'hybrid', 'exp', 'inverse', 'uniform', 'dynamic', "
     "got 'linear'"),
    ("rank_distillation", {"mu": True}, "loss 'rank_distillation': mu must be a positive number, got True"),
    ("rank_distillation", {"alpha": -1},
     "loss 'rank_distillation': alpha must be a non-negative number, got -1"),
    ("softmax", {"reduction": "avg"}, "reduction must be one of 'mean', 'sum', 'none', got 'avg'"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "hyper", "message"), BAD_HYPERPARAMETERS)
def test_get_loss_rejects(name: str, hyper: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        get_loss(name, **hyper)


@pytest.mark.parametrize(("name", "hyper", "message"), [c for c in BAD_HYPERPARAMETERS if c[0] in LOSSES])
def test_the_loss_itself_rejects_the_same_values(name: str, hyper: dict[str, object], message: str) -> None:
    if set(hyper) - set(LOSSES[name].hyperparameters) - {"reduction"}:
        return  # an unknown keyword is Python's TypeError when calling the function directly
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        LOSSES[name].fn(x, torch.ones(2, 3), teacher_scores=x, **hyper)


def test_get_loss_binds_validated_hyperparameters() -> None:
    loss = get_loss("rank_distillation", top_k=3, weighting="exp", reduction="none")
    assert isinstance(loss, functools.partial)
    assert loss.func is LOSSES["rank_distillation"].fn
    assert loss.keywords == {"top_k": 3, "weighting": "exp", "reduction": "none"}
    out = loss(torch.zeros(2, 5), torch.zeros(2, 5), teacher_scores=torch.randn(2, 5))
    assert out.shape == (2,)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_get_loss_with_defaults_matches_the_function(name: str) -> None:
    gen = torch.Generator().manual_seed(0)
    s, y, t = (torch.randn(3, 4, generator=gen) for _ in range(3))
    y = (y > 0).float()
    fn = LOSSES[name].fn
    torch.testing.assert_close(get_loss(name)(s, y, teacher_scores=t), fn(s, y, teacher_scores=t))
    defaults = LOSSES[name].hyperparameters
    torch.testing.assert_close(get_loss(name, **defaults)(s, y, teacher_scores=t), fn(s, y, teacher_scores=t))


S = torch.zeros(2, 3)
BAD_INPUTS = [
    ("mse", (S, torch.zeros(2, 4)), {}, "loss 'mse': labels shape (2, 4) does not match scores shape (2, 3)"),
    ("soft_label", (S,), {"teacher_scores": torch.zeros(3, 3)},
     "loss 'soft_label': teacher_scores shape (3, 3) does not match scores shape (2, 3)"),
    ("mse", (S, S), {"mask": torch.ones(2, 3)},
     "loss 'mse': mask must be a bool tensor, got dtype torch.float32"),
    ("mse", (S, S), {"mask": torch.ones(3, 2, dtype=torch.bool)},
     "loss 'mse': mask shape (3, 2) does not match scores shape (2, 3)"),
    ("soft_label", (S,), {"teacher_scores": torch.ones(2, 1)},
     "loss 'soft_label': teacher_scores shape (2, 1) does not match scores shape (2, 3): give one value per "
     "list entry (the list dimension, last, does not broadcast)"),  # was stretched to a flat target
    ("mse", (S, torch.ones(())), {},
     "loss 'mse': labels shape () does not match scores shape (2, 3): give one value per list entry (the "
     "list dimension, last, does not broadcast)"),
    ("mse", (S, S), {"weights": torch.ones(3)},
     "loss 'mse': weights shape (3,) does not match the list shape (2,) (one weight per list)"),
    ("mse", (S, S), {"reduction": "avg"}, "reduction must be one of 'mean', 'sum', 'none', got 'avg'"),
    ("mse", (torch.zeros(2, 3, dtype=torch.long), S), {},
     "loss 'mse': scores must be a floating-point tensor, got a tensor of dtype torch.int64"),
    ("mse", ([0.0, 1.0], S), {}, "loss 'mse': scores must be a floating-point tensor, got list"),
    ("in_batch_softmax", (torch.zeros(3),), {},
     "loss 'in_batch_softmax': scores must have at least 2 dimension(s), got shape (3,)"),
    ("in_batch_softmax", (torch.zeros(4, 3),), {},
     "loss 'in_batch_softmax': without labels the positives are the diagonal, which needs at least as many "
     "documents as queries, got scores shape (4, 3)"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "args", "kwargs", "message"), BAD_INPUTS)
def test_bad_inputs(name: str, args: tuple[object, ...], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        LOSSES[name].fn(*args, **kwargs)


def test_flops_regularizer_rejects_bad_shapes() -> None:
    with pytest.raises(
        ValueError, match=r"^flops_regularizer: reps must be a floating-point \[N, V\] tensor"
    ):
        losses.flops_regularizer(torch.zeros(2, 3, 4))


def test_labels_broadcast_and_mask_broadcast() -> None:
    s = torch.randn(3, 4)
    y = torch.tensor([1.0, 0.0, 0.0, 0.0])
    torch.testing.assert_close(losses.softmax_loss(s, y), losses.softmax_loss(s, y.expand(3, 4)))


def test_every_registered_loss_is_exported() -> None:
    exported = [id(getattr(losses, name)) for name in losses.__all__]
    assert all(id(info.fn) in exported for info in LOSSES.values())
    assert id(losses.flops_regularizer) in exported


@pytest.mark.parametrize(
    "module",
    ["", "._utils", ".pointwise", ".pairwise", ".listwise", ".inbatch", ".distillation", ".regularizers",
     ".registry"],
)  # fmt: skip
def test_docstring_examples_run(module: str) -> None:
    mod = importlib.import_module("distillrank.losses" + module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_a_mask_may_be_a_nested_list_and_batch_dimensions_still_broadcast() -> None:
    scores = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.1, 0.2]])
    mask = [[True, True, False], [True, False, True]]
    as_list = LOSSES["listnet"].fn(scores, scores, mask=mask)
    assert torch.equal(as_list, LOSSES["listnet"].fn(scores, scores, mask=torch.tensor(mask)))
    one_row = torch.tensor([1.0, 0.0, 0.0])  # [L] labels over a [B, L] batch: the same list for each
    assert torch.equal(LOSSES["mse"].fn(scores, one_row), LOSSES["mse"].fn(scores, one_row.expand(2, 3)))
