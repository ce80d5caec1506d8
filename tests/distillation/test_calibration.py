"""Teacher-score calibration: the scale of the student's scores, measured on the training lists."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import torch

from distillrank.distillation.calibration import scale_teacher, teacher_scale
from distillrank.training import ListExample


class _Scorer(torch.nn.Module):
    """Scores a document by a fixed per-document value (its text is the value), times ``factor``."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def list_scores(self, queries: Sequence[str], docs: Sequence[Sequence[str]]) -> torch.Tensor:
        assert not self.training  # measured in eval mode
        return torch.tensor([[self.factor * float(d) for d in row] for row in docs])


def _lists(rng: np.random.Generator, n: int = 30) -> list[ListExample]:
    out = []
    for i in range(n):
        values = rng.normal(size=int(rng.integers(2, 8)))
        out.append(
            ListExample(
                f"q{i}", [str(v) for v in values], [0.0] * len(values), teacher_scores=values.tolist()
            )
        )
    return out


def test_scale_is_the_ratio_of_the_spreads_and_mode_is_restored() -> None:
    lists = _lists(np.random.default_rng(0))
    model = _Scorer(4.0)
    model.train()
    assert teacher_scale(model, lists) == pytest.approx(4.0, rel=1e-6)
    assert model.training  # put back as it was
    scaled = scale_teacher(lists, 4.0)
    assert teacher_scale(model, scaled) == pytest.approx(1.0, rel=1e-6)
    for a, b in zip(lists, scaled, strict=True):
        assert b.teacher_scores == pytest.approx([4.0 * t for t in a.teacher_scores or []])
        assert b.docs == a.docs and b.labels == a.labels
    assert lists[0].teacher_scores is not scaled[0].teacher_scores  # copies, the input is untouched


def test_scale_uses_a_seeded_sample_of_lists() -> None:
    lists = _lists(np.random.default_rng(1), n=50)
    # student spread twice the teacher's on the first 25 lists, the same on the others
    doubled = [
        ListExample(e.query, e.docs, e.labels, teacher_scores=[t / 2 for t in e.teacher_scores or []])
        if i < 25
        else e
        for i, e in enumerate(lists)
    ]
    a = teacher_scale(_Scorer(1.0).eval(), doubled, max_lists=10, seed=3)
    assert a == teacher_scale(_Scorer(1.0).eval(), doubled, max_lists=10, seed=3)
    assert 1.0 < teacher_scale(_Scorer(1.0).eval(), doubled) < 2.0


def test_degenerate_inputs_give_one_and_bad_factors_raise() -> None:
    model = _Scorer(2.0).eval()
    assert teacher_scale(model, []) == 1.0
    flat = [ListExample("q", ["1", "2"], [0.0, 0.0], teacher_scores=[0.5, 0.5])]
    assert teacher_scale(model, flat) == 1.0
    unlabelled = [ListExample("q", ["1", "2"], [1.0, 0.0])]
    assert teacher_scale(model, unlabelled) == 1.0
    assert scale_teacher(unlabelled, 3.0)[0].teacher_scores is None
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="teacher scale"):
            scale_teacher(unlabelled, bad)
