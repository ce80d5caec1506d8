"""Click logs: for every session, a query, the list shown with positions, clicks and propensities."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from distillrank.errors import DataFormatError

COLUMNS = ("session_id", "qid", "position", "docno", "click", "propensity")


@dataclass(frozen=True)
class Session:
    """One result page: the query, documents in shown order, clicks and logging propensities."""

    session_id: int | str
    qid: str
    docnos: list[str]
    clicks: np.ndarray
    propensities: np.ndarray


@dataclass
class ClickLog:
    """A long table, one row per shown result.

    Columns: ``session_id`` (int, or str for logs whose sessions are named), ``qid`` (str),
    ``position`` (1-based int), ``docno`` (str), ``click`` (0/1 int), ``propensity`` (float: the
    logging policy's probability of this result at this position, NaN when unknown), plus any extra
    columns of the source (timestamps, context features).
    """

    df: pd.DataFrame
    source: str | None = None

    def __post_init__(self) -> None:
        missing = [c for c in COLUMNS if c not in self.df.columns]
        if missing:
            raise DataFormatError(self.source, None, f"click log lacks columns {missing}")
        clicks = self.df["click"].to_numpy()
        bad = ~np.isin(clicks, (0, 1))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataFormatError(self.source, None, f"record {i + 1}: click must be 0 or 1")
        pos = self.df["position"].to_numpy()
        if (pos < 1).any():
            i = int(np.flatnonzero(pos < 1)[0])
            raise DataFormatError(self.source, None, f"record {i + 1}: position must be >= 1")

    @property
    def n_sessions(self) -> int:
        return int(self.df["session_id"].nunique())

    def __len__(self) -> int:
        return len(self.df)

    def sessions(self) -> Iterator[Session]:
        """Iterate sessions, each with its results sorted by position: in the order of their ids when
        these are integers, in the order they first appear in the log otherwise (string ids, e.g.
        ``"s-17"``, whose sorted order says nothing about time)."""
        ids = self.df["session_id"]
        integer_ids = pd.api.types.is_integer_dtype(ids)
        if integer_ids:
            df = self.df.sort_values(["session_id", "position"], kind="stable")
        else:
            first_seen = pd.Series(pd.factorize(ids)[0], index=self.df.index, name="_order")
            df = self.df.assign(_order=first_seen).sort_values(["_order", "position"], kind="stable")
        for sid, g in df.groupby("session_id", sort=False):
            yield Session(
                int(sid) if integer_ids else str(sid),
                str(g["qid"].iloc[0]),
                g["docno"].astype(str).tolist(),
                g["click"].to_numpy(dtype=np.int8),
                g["propensity"].to_numpy(dtype=np.float64),
            )

    def ctr_by_position(self) -> pd.Series:
        """Click-through rate at each position."""
        return self.df.groupby("position")["click"].mean()

    def __repr__(self) -> str:
        return (
            f"ClickLog({self.n_sessions} sessions, {len(self)} shown results, "
            f"{int(self.df['click'].sum())} clicks)"
        )
