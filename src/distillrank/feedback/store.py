"""A click-log store on DuckDB: append logs round after round, query them with SQL, export Parquet.

One table, ``clicks``, holds every appended row: the ClickLog columns (``session_id, qid, position,
docno, click, propensity``), ``round`` (the round it was appended in), ``source_session_id`` (the
session's id in the appended log) and any extra column of an appended log (added on first sight, NULL
in earlier rows). Session ids are re-numbered on append so that they stay unique across appends:
the sessions of a log get ``max(session_id) + 1, ...`` in their order of first appearance.

Example:
    >>> import pandas as pd, numpy as np
    >>> from distillrank.data.clicklog import ClickLog
    >>> log = ClickLog(pd.DataFrame({"session_id": [7, 7], "qid": ["q", "q"], "position": [1, 2],
    ...     "docno": ["a", "b"], "click": [1, 0], "propensity": [1.0, 0.5]}))
    >>> store = ClickStore()
    >>> store.append(log, round=0), store.append(log, round=1)
    (1, 1)
    >>> store.query("SELECT round, session_id, docno FROM clicks WHERE click = 1 ORDER BY 1").values.tolist()
    [[0, 0, 'a'], [1, 1, 'a']]
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import duckdb
import numpy as np
import pandas as pd

from distillrank.data.clicklog import COLUMNS, ClickLog

__all__ = ["ClickStore"]

_RESERVED = ("round", "source_session_id")
_SCHEMA = {
    "session_id": "BIGINT",
    "round": "BIGINT",
    "source_session_id": "BIGINT",
    "qid": "VARCHAR",
    "position": "BIGINT",
    "docno": "VARCHAR",
    "click": "TINYINT",
    "propensity": "DOUBLE",
}


def _sql_type(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(s):
        return "BIGINT"
    if pd.api.types.is_float_dtype(s):
        return "DOUBLE"
    return "VARCHAR"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ClickStore:
    """Click logs in a DuckDB database (``":memory:"`` or a ``.duckdb`` file, created if absent).

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(self.path)
        cols = ", ".join(f"{_ident(c)} {t}" for c, t in _SCHEMA.items())
        self._con.execute(f"CREATE TABLE IF NOT EXISTS clicks ({cols})")

    # ----- writing -------------------------------------------------------------------------------

    def append(self, log: ClickLog, round: int = 0) -> int:
        """Add ``log`` as round ``round``; returns the number of sessions added.

        Raises:
            ValueError: ``round`` is not an integer, or the log has a reserved column (``round``,
                ``source_session_id``).
        """
        if isinstance(round, bool) or int(round) != round:
            raise ValueError(f"round must be an integer, got {round!r}")
        clash = [c for c in _RESERVED if c in log.df.columns]
        if clash:
            raise ValueError(f"the log has column(s) {clash} that the store reserves; rename or drop them")
        df = log.df
        if len(df) == 0:
            return 0
        codes, uniq = pd.factorize(df["session_id"], sort=False)
        offset = self._next_session_id()
        out = pd.DataFrame(
            {
                "session_id": codes.astype(np.int64) + offset,
                "round": np.full(len(df), int(round), dtype=np.int64),
                "source_session_id": df["session_id"].to_numpy().astype(np.int64),
                "qid": df["qid"].astype(str).to_numpy(),
                "position": df["position"].to_numpy().astype(np.int64),
                "docno": df["docno"].astype(str).to_numpy(),
                "click": df["click"].to_numpy().astype(np.int8),
                "propensity": df["propensity"].to_numpy().astype(np.float64),
            }
        )
        known = set(self.columns)
        for c in df.columns:
            if c in COLUMNS:
                continue
            out[c] = df[c].to_numpy()
            if c not in known:
                self._con.execute(f"ALTER TABLE clicks ADD COLUMN {_ident(c)} {_sql_type(df[c])}")
        self._con.register("_incoming", out)
        try:
            self._con.execute("INSERT INTO clicks BY NAME SELECT * FROM _incoming")
        finally:
            self._con.unregister("_incoming")
        return len(uniq)

    def _next_session_id(self) -> int:
        row = self._con.execute("SELECT max(session_id) FROM clicks").fetchone()
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    # ----- reading -------------------------------------------------------------------------------

    @property
    def columns(self) -> list[str]:
        return [r[0] for r in self._con.execute("DESCRIBE clicks").fetchall()]

    @property
    def n_sessions(self) -> int:
        row = self._con.execute("SELECT count(DISTINCT session_id) FROM clicks").fetchone()
        return int(row[0]) if row else 0

    @property
    def rounds(self) -> list[int]:
        rows = self._con.execute("SELECT DISTINCT round FROM clicks ORDER BY 1").fetchall()
        return [int(r[0]) for r in rows]

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run SQL on the store (the table is ``clicks``) and return the result as a DataFrame."""
        return self._con.execute(sql, params or []).df()

    def to_clicklog(self, where: str | None = None, params: list[Any] | None = None) -> ClickLog:
        """The stored rows (those matching the SQL condition ``where``, e.g. ``"round >= 2"``) as a
        ClickLog ordered by session and position; ``round`` and ``source_session_id`` come as extras."""
        cond = f" WHERE {where}" if where else ""
        df = self.query(f"SELECT * FROM clicks{cond} ORDER BY session_id, position", params)
        df["click"] = df["click"].astype(np.int64)
        return ClickLog(df, source=f"ClickStore({self.path})")

    def export_parquet(self, path: str | Path, where: str | None = None) -> Path:
        """Write the rows (optionally filtered by ``where``) to a Parquet file atomically: a temporary
        file beside ``path`` is renamed over it once complete."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        os.unlink(tmp)  # DuckDB creates the file itself
        cond = f" WHERE {where}" if where else ""
        try:
            self._con.execute(
                f"COPY (SELECT * FROM clicks{cond} ORDER BY session_id, position) TO '{tmp}' (FORMAT PARQUET)"
            )
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path

    # ----- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ClickStore({self.path!r}, {self.n_sessions} sessions, rounds {self.rounds})"
