"""A named dataset made of splits (train/test for LTR sets and click logs, policies for bandit logs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class SplitDataset(Generic[T]):
    """``splits`` maps a split name (``train``, ``test``, ``random``, ...) to that split's data."""

    name: str
    splits: dict[str, T] = field(default_factory=dict)
    source: str | None = None

    def __getitem__(self, split: str) -> T:
        if split not in self.splits:
            raise KeyError(f"dataset {self.name!r} has no split {split!r}; it has: {', '.join(self.splits)}")
        return self.splits[split]

    def __contains__(self, split: object) -> bool:
        return split in self.splits

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}: {v!r}" for k, v in self.splits.items())
        return f"SplitDataset({self.name!r}, {inner})"
