"""The examples in the feedback modules' docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

import distillrank.feedback as feedback

MODULES = [
    "distillrank.feedback.click_models.pbm",
    "distillrank.feedback.online.data",
    "distillrank.feedback.simulation",
    "distillrank.feedback.store",
]


@pytest.mark.parametrize("name", MODULES)
def test_module_doctest(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name", feedback.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(feedback, name) is not None
