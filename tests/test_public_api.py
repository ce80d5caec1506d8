"""The package root re-exports the public API (lazily for the heavier pieces)."""

from __future__ import annotations

import pytest

import distillrank


@pytest.mark.parametrize("name", distillrank.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(distillrank, name) is not None


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        distillrank.nosuch  # noqa: B018


def test_dir_lists_the_lazy_exports_for_tab_completion() -> None:
    assert set(distillrank.__all__) <= set(dir(distillrank))
