"""Click logs: for every session, a query, the list shown with positions, clicks and propensities."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

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

    ``first_position`` is how the source numbered the top position (``0`` for a log counted from 0,
    whose positions were shifted by one when read): messages about positions use the source's numbers.
    """

    df: pd.DataFrame
    source: str | None = None
    first_position: int = 1

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

    @staticmethod
    def check(log: object, user: str) -> None:
        """Refuse anything but a :class:`ClickLog` given to ``user`` (a function or method name), with
        what to pass instead: one split of a loaded dataset, or a table wrapped in a ``ClickLog``.

        Raises:
            TypeError: ``log`` is not a :class:`ClickLog`.
        """
        if isinstance(log, ClickLog):
            return
        from distillrank.data.dataset import SplitDataset

        hint = ""
        if isinstance(log, SplitDataset) and log.splits:
            first = next(iter(log.splits))
            hint = f"; pick one of its splits ({', '.join(log.splits)}), e.g. .splits[{first!r}]"
        elif isinstance(log, pd.DataFrame):
            hint = f"; wrap the table: ClickLog(df) (columns {', '.join(COLUMNS)})"
        raise TypeError(f"{user} takes a ClickLog, got a {type(log).__name__}{hint}")

    def with_rows(self, df: pd.DataFrame) -> ClickLog:
        """A log of other rows (a subset, or new clicks) from the same source: its ``source`` and
        ``first_position`` carry over, so that its errors still name the file and the file's positions."""
        return ClickLog(df, source=self.source, first_position=self.first_position)

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


def click_log_from_sessions(
    session_ids: np.ndarray | Sequence[str],
    qids: Sequence[str],
    n_shown: np.ndarray | Sequence[int],
    docnos: np.ndarray | Sequence[str],
    clicks: np.ndarray | Sequence[int],
    source: str | Path | None = None,
) -> ClickLog:
    """A :class:`ClickLog` from its sessions in log order, for readers of session-per-page formats.

    Args:
        session_ids: one id a session: an integer array (kept as ``int64``), or strings.
        qids: the query of each session.
        n_shown: how many results each session shows.
        docnos: the shown documents of every session, one session after the other, each in list order
            (their positions are 1..n within the session).
        clicks: 0/1, one a shown document, in the order of ``docnos``.
        source: the file, for the log's errors.

    The columns ``qid``, ``docno`` (and string ``session_id``) are strings; ``propensity`` is NaN.
    """
    n_per = np.asarray(n_shown, dtype=np.int64)
    starts = np.cumsum(n_per) - n_per
    n_rows = int(n_per.sum())
    if isinstance(session_ids, np.ndarray) and np.issubdtype(session_ids.dtype, np.integer):
        sid_col: np.ndarray | pd.api.extensions.ExtensionArray = np.repeat(
            session_ids.astype(np.int64, copy=False), n_per
        )
    else:
        sid_col = _per_row(session_ids, n_per)
    df = pd.DataFrame(
        {
            "session_id": sid_col,
            "qid": _per_row(qids, n_per),
            "position": np.arange(n_rows, dtype=np.int64) - np.repeat(starts, n_per) + 1,
            "docno": pd.array(np.asarray(docnos, dtype=object), dtype=str),
            "click": np.asarray(clicks, dtype=np.int64),
            "propensity": np.full(n_rows, np.nan),
        }
    )
    return ClickLog(df, source=None if source is None else str(source))


def _per_row(values: np.ndarray | Sequence[str], n_per: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """A string column with each session's value repeated on its ``n_per`` rows."""
    return pd.array(np.repeat(np.asarray(values, dtype=object), n_per), dtype=str)
