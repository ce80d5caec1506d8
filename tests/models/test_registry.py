"""Models are chosen by name from the registry."""

from __future__ import annotations

import pytest

import distillrank.models as models


@pytest.mark.parametrize("name", list(models.MODELS))
def test_every_registered_model_resolves(name: str) -> None:
    cls = models.get_model_class(name)
    assert getattr(models, cls.__name__) is cls
    for method in ("predict", "rank", "list_scores", "save", "load"):
        assert hasattr(cls, method), f"{cls.__name__} lacks {method}"


def test_unknown_model_lists_the_registry() -> None:
    with pytest.raises(ValueError, match="unknown model 'nosuch'; known models: cross_encoder, bi_encoder"):
        models.get_model_class("nosuch")
