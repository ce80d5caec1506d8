r"""Bringing a teacher's scores to a student's scale before distillation.

Score-based distillation losses compare the teacher's scores with the student's in the same units:
MarginMSE fits the student's margins ``s_i - s_j`` to the teacher's ``t_i - t_j`` (Hofstätter et al.
2020), and the soft-label loss compares ``softmax(s / T)`` with ``softmax(t / T)`` (Hinton et al. 2015).
When the two live on different scales — a fused teacher of z-scored signals spreads its scores over
about one unit, a cosine bi-encoder with temperature ``τ = 0.05`` over several — the student must first
shrink or stretch its whole score space to match, which undoes much of what pre-training gave it.

:func:`teacher_scale` measures the ratio of the two spreads on the training lists, with the student as
it starts (pre-trained towers already rank sensibly, so their spread is the one to keep):

.. math::

    c = \frac{\operatorname{mean}_q \operatorname{std}_{d \in L_q} s_0(q, d)}
             {\operatorname{mean}_q \operatorname{std}_{d \in L_q} t(q, d)}

and :func:`scale_teacher` multiplies every teacher score by ``c``. The ranking the teacher gives is
unchanged; for the soft-label loss, scaling by ``c`` is the same as a teacher temperature of ``T / c``.

Example:
    >>> from distillrank.training import ListExample
    >>> lists = [ListExample("q", ["a", "b"], [1.0, 0.0], teacher_scores=[1.0, -1.0])]
    >>> scale_teacher(lists, 3.0)[0].teacher_scores
    [3.0, -3.0]
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["scale_teacher", "teacher_scale"]


def teacher_scale(model: Any, lists: Sequence[Any], *, max_lists: int = 200, seed: int = 0) -> float:
    """The factor ``c`` (see the module docstring) that gives the teacher's scores of ``lists`` the
    spread of ``model``'s scores (``model.list_scores``, a :class:`~distillrank.models.base.ListScorer`).

    Uses up to ``max_lists`` lists (sampled with ``seed``) with two or more documents and teacher scores;
    returns 1.0 when there are none or when either side does not vary.
    """
    usable = [e for e in lists if e.teacher_scores is not None and len(e.docs) >= 2]
    if len(usable) > max_lists:
        usable = random.Random(seed).sample(usable, max_lists)
    if not usable:
        return 1.0
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    student, teacher = [], []
    try:
        with torch.no_grad():
            for e in usable:
                s = model.list_scores([e.query], [e.docs])
                student.append(float(s.detach().to(torch.float64).std(unbiased=False)))
                teacher.append(float(np.std(np.asarray(e.teacher_scores, dtype=np.float64))))
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    s_spread, t_spread = float(np.mean(student)), float(np.mean(teacher))
    if not (s_spread > 0 and t_spread > 0 and math.isfinite(s_spread / t_spread)):
        return 1.0
    return s_spread / t_spread


def scale_teacher(lists: Sequence[Any], factor: float) -> list[Any]:
    """Copies of ``lists`` (:class:`~distillrank.training.ListExample`) with every teacher score times
    ``factor``; lists without teacher scores are kept as they are."""
    if not (isinstance(factor, int | float) and math.isfinite(factor) and factor > 0):
        raise ValueError(f"the teacher scale must be a finite number > 0; got {factor!r}")
    return [
        e
        if e.teacher_scores is None
        else dataclasses.replace(e, teacher_scores=[float(factor) * float(t) for t in e.teacher_scores])
        for e in lists
    ]
