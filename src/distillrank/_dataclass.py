"""Building a config dataclass from a mapping read back from disk."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def dataclass_from_dict(cls: type[T], d: Mapping[str, Any]) -> T:
    """``cls(**d)``; unknown keys are an error listing the known ones (``<Class>: unknown fields ...``)."""
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown fields {unknown}; known: {sorted(known)}")
    return cls(**d)
