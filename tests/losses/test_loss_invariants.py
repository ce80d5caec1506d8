"""The same invariants, run over every registered loss (the rax pattern).

Inputs are random ``[B, L]`` lists whose first entry is a positive (the layout the trainer feeds, and the
one ``margin_mse``'s ``pairs="first"`` expects) and whose last entry is a negative.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from distillrank.losses import LOSSES, LossInfo

torch.set_num_threads(1)

NAMES = sorted(LOSSES)
Inputs = dict[str, torch.Tensor]


def make_inputs(shape: tuple[int, ...], seed: int = 0, dtype: torch.dtype = torch.float64) -> Inputs:
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, shape, generator=gen).to(dtype)
    labels[..., 0] = 3.0
    labels[..., -1] = 0.0
    return {
        "scores": torch.randn(shape, generator=gen, dtype=dtype),
        "labels": labels,
        "teacher_scores": 2.0 * torch.randn(shape, generator=gen, dtype=dtype),
        "mask": torch.ones(shape, dtype=torch.bool),
    }


def call(name: str, inputs: Inputs, **kwargs: object) -> torch.Tensor:
    info = LOSSES[name]
    return info.fn(
        inputs["scores"],
        inputs["labels"],
        teacher_scores=inputs["teacher_scores"],
        mask=inputs["mask"],
        **kwargs,
    )


def pad(inputs: Inputs, positions: torch.Tensor, width: int, seed: int = 1) -> Inputs:
    """Spread the entries over ``width`` slots at ``positions``; the other slots: garbage, mask False."""
    gen = torch.Generator().manual_seed(seed)
    out: Inputs = {}
    for key, value in inputs.items():
        shape = (*value.shape[:-1], width)
        if key == "mask":
            filled = torch.zeros(shape, dtype=torch.bool)
        else:
            filled = 1e4 * torch.randn(shape, generator=gen, dtype=value.dtype)
            filled[..., ::3] = float("nan")
        filled[..., positions] = value
        out[key] = filled
    return out


def permute(inputs: Inputs, perm: torch.Tensor) -> Inputs:
    return {key: value[..., perm] for key, value in inputs.items()}


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 5), (3, 1), (1, 7)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_loss_and_gradients(name: str, shape: tuple[int, ...], dtype: torch.dtype) -> None:
    for scale in (1.0, 1e3):
        x = make_inputs(shape, dtype=dtype)
        x["scores"] = (scale * x["scores"]).requires_grad_()
        loss = call(name, x)
        assert loss.shape == ()
        assert loss.dtype == dtype
        loss.backward()
        assert torch.isfinite(loss)
        assert x["scores"].grad is not None
        assert torch.isfinite(x["scores"].grad).all()


@pytest.mark.parametrize("name", NAMES)
def test_leading_dimensions_are_independent_batches(name: str) -> None:
    x = make_inputs((2, 3, 5))
    per_list = call(name, x, reduction="none")
    assert per_list.shape == (2, 3)
    for i in range(2):
        close(per_list[i], call(name, {k: v[i] for k, v in x.items()}, reduction="none"))


@pytest.mark.parametrize("name", NAMES)
def test_padding_with_garbage_changes_nothing(name: str) -> None:
    x = make_inputs((4, 6))
    width = 10
    if LOSSES[name].permutation_invariant:  # padding anywhere
        positions = torch.sort(torch.randperm(width, generator=torch.Generator().manual_seed(3))[:6]).values
    else:  # the positive must stay first: padding at the end only
        positions = torch.arange(6)
    padded = pad(x, positions, width)
    padded["scores"].requires_grad_()
    expected = call(name, x, reduction="none")
    got = call(name, padded, reduction="none")
    close(got, expected)
    got.sum().backward()
    grad = padded["scores"].grad
    assert grad is not None and torch.isfinite(grad).all()
    assert (grad[..., ~padded["mask"][0]] == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_an_all_padded_list_contributes_nothing(name: str) -> None:
    x = make_inputs((3, 5))
    garbage = make_inputs((1, 5), seed=9)
    garbage["scores"][0, 1] = float("nan")
    garbage["labels"][0, 2] = float("inf")
    garbage["mask"][:] = False
    both = {k: torch.cat([x[k], garbage[k]]) for k in x}
    both["scores"].requires_grad_()
    per_list = call(name, both, reduction="none")
    assert per_list[3] == 0
    close(per_list[:3], call(name, x, reduction="none"))
    mean = call(name, both)
    close(mean, call(name, x))  # the mean leaves the empty list out of the count
    mean.backward()
    grad = both["scores"].grad
    assert grad is not None and torch.isfinite(grad).all() and (grad[3] == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_a_batch_of_nothing_but_padding_gives_zero(name: str) -> None:
    x = make_inputs((2, 4))
    x["mask"][:] = False
    x["scores"].requires_grad_()
    for reduction in ("mean", "sum"):
        loss = call(name, x, reduction=reduction)
        assert loss.item() == 0.0
    call(name, x).backward()
    assert x["scores"].grad is not None and (x["scores"].grad == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_reductions_agree(name: str) -> None:
    x = make_inputs((5, 6))
    x["mask"][1, 3:] = False
    x["mask"][4, :] = False  # one empty list
    per_list = call(name, x, reduction="none")
    assert per_list.shape == (5,)
    close(call(name, x, reduction="sum"), per_list.sum())
    close(call(name, x, reduction="mean"), per_list.sum() / 4)
    close(call(name, x), per_list.sum() / 4)  # "mean" is the default


@pytest.mark.parametrize("name", NAMES)
def test_weights_scale_each_list(name: str) -> None:
    x = make_inputs((4, 6))
    weights = torch.tensor([0.5, 2.0, 0.0, 3.0], dtype=torch.float64)
    per_list = call(name, x, reduction="none")
    close(call(name, x, weights=weights, reduction="none"), weights * per_list)
    close(call(name, x, weights=weights), (weights * per_list).sum() / 4)
    close(call(name, x, weights=torch.tensor(2.0, dtype=torch.float64)), 2 * call(name, x))


@pytest.mark.parametrize("name", [n for n in NAMES if LOSSES[n].permutation_invariant])
def test_permutation_invariance(name: str) -> None:
    x = make_inputs((4, 7), seed=5)
    x["mask"][2, 4] = False
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(6))
    close(call(name, permute(x, perm), reduction="none"), call(name, x, reduction="none"))


def test_margin_mse_first_is_the_only_order_sensitive_loss() -> None:
    assert [n for n in NAMES if not LOSSES[n].permutation_invariant] == ["margin_mse"]
    x = make_inputs((4, 7), seed=5)
    perm = torch.tensor([3, 1, 2, 0, 4, 5, 6])
    moved = call("margin_mse", permute(x, perm))
    assert not torch.allclose(moved, call("margin_mse", x))
    close(
        LOSSES["margin_mse"].fn(
            permute(x, perm)["scores"], teacher_scores=permute(x, perm)["teacher_scores"], pairs="all"
        ),
        LOSSES["margin_mse"].fn(x["scores"], teacher_scores=x["teacher_scores"], pairs="all"),
    )


@pytest.mark.parametrize("name", NAMES)
def test_a_gradient_step_lowers_the_loss(name: str) -> None:
    x = make_inputs((4, 6), seed=11)
    x["scores"] = (0.1 * x["scores"]).requires_grad_()  # small scores keep the hinges active
    loss = call(name, x)
    loss.backward()
    assert x["scores"].grad is not None and x["scores"].grad.abs().sum() > 0
    stepped = dict(x, scores=(x["scores"] - 1e-2 * x["scores"].grad).detach())
    assert call(name, stepped) < loss


@pytest.mark.parametrize("name", NAMES)
def test_required_inputs(name: str) -> None:
    info: LossInfo = LOSSES[name]
    x = make_inputs((2, 4))
    fn: Callable[..., torch.Tensor] = info.fn
    if info.needs_labels:
        with pytest.raises(ValueError, match=f"^loss '{name}' needs labels, got labels=None$"):
            fn(x["scores"], teacher_scores=x["teacher_scores"])
    else:
        assert torch.isfinite(fn(x["scores"], teacher_scores=x["teacher_scores"]))
    if info.needs_teacher:
        with pytest.raises(
            ValueError, match=f"^loss '{name}' needs teacher_scores, got teacher_scores=None$"
        ):
            fn(x["scores"], x["labels"])
    else:
        assert torch.isfinite(fn(x["scores"], x["labels"]))


@pytest.mark.parametrize("name", NAMES)
def test_the_registry_entry_describes_the_loss(name: str) -> None:
    info = LOSSES[name]
    assert info.kind in ("pointwise", "pairwise", "listwise", "inbatch", "distillation")
    assert info.description
    doc = info.fn.__doc__ or ""
    assert ".. math::" in doc or "w_r" in doc, "the docstring gives the formula"
    assert "Args:" in doc and "[..., " in doc, "the docstring gives the shapes"
    assert any(str(year) in doc for year in range(1995, 2026)), "the docstring cites a paper"
    assert set(info.hyperparameters) == set(info.checks), "every hyper-parameter is validated"
