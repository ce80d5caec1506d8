"""User-item interactions (recommendation data): ``user, item, timestamp, rating``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from distillrank.errors import DataFormatError

REQUIRED = ("user", "item", "timestamp")


@dataclass
class Interactions:
    """A validated interaction table.

    ``df`` has columns ``user`` and ``item`` (strings), ``timestamp`` (float seconds, NaN when unknown),
    ``rating`` (float, NaN for implicit feedback) and any extra columns the file had.
    """

    df: pd.DataFrame
    source: str | None = None

    def __post_init__(self) -> None:
        missing = [c for c in REQUIRED if c not in self.df.columns]
        if missing:
            raise DataFormatError(self.source, None, f"interactions lack columns {missing}")
        if "rating" not in self.df.columns:
            self.df["rating"] = np.nan
        for col in ("user", "item"):
            if self.df[col].isna().any():
                row = int(np.flatnonzero(self.df[col].isna().to_numpy())[0])
                raise DataFormatError(self.source, None, f"record {row + 1}: empty {col}")

    @property
    def n_users(self) -> int:
        return int(self.df["user"].nunique())

    @property
    def n_items(self) -> int:
        return int(self.df["item"].nunique())

    def __len__(self) -> int:
        return len(self.df)

    def sorted_by_time(self) -> Interactions:
        """Rows ordered by user then timestamp (stable, so ties keep file order)."""
        df = self.df.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)
        return Interactions(df, source=self.source)

    def __repr__(self) -> str:
        return f"Interactions({len(self)} rows, {self.n_users} users, {self.n_items} items)"
