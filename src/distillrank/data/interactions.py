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


def timestamp_seconds(values: pd.Series) -> tuple[pd.Series, np.ndarray, str]:
    """Timestamps as float seconds since 1970-01-01 UTC: numbers as they are, datetimes and ISO 8601
    strings (``2020-01-02``, ``2020-01-02T03:04:05+01:00``) converted, naive ones taken as UTC; empty
    values are NaN.

    Returns:
        the seconds, the mask of values that are none of these, and what is wrong with them.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        return _seconds(values), np.zeros(len(values), dtype=bool), ""
    num = pd.to_numeric(values, errors="coerce")
    bad = (num.isna() & values.notna()).to_numpy()
    if not bad.any():
        return num, bad, ""
    strings = values.where(pd.Series(bad, index=values.index))  # the numbers stay numbers
    dates = _seconds(pd.to_datetime(strings, format="ISO8601", utc=True, errors="coerce"))
    not_date = (dates.isna() & values.notna()).to_numpy()
    if not not_date.any():
        return dates, not_date, ""
    if (bad & not_date).any():
        return num, bad & not_date, "neither a number nor an ISO 8601 date"
    return num, bad, "an ISO 8601 date where other timestamps are numbers"


def _seconds(times: pd.Series) -> pd.Series:
    """Datetimes as float seconds since 1970-01-01 UTC (naive ones taken as UTC; NaT becomes NaN)."""
    if times.dt.tz is None:
        times = times.dt.tz_localize("UTC")
    return (times - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
