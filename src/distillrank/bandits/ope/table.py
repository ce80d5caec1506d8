"""Bandit feedback from any logged table: a CSV, TSV or Parquet file, or a DataFrame, one row per round.

:func:`feedback_from_table` names the columns (``action``, ``position``, ``reward``, ``pscore`` by
default, and the context columns) and checks them, with errors that name the file, the line and the
value. Two such logs — one of the behaviour policy, one of the evaluation policy with its own propensities
— give :func:`~distillrank.bandits.ope.obd.prepare_logged_ope` what it needs to run the check the Open
Bandit Dataset check runs, on a log of one's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from distillrank.bandits.ope.feedback import BanditFeedback, _one_hot
from distillrank.errors import DataFormatError, row_place

__all__ = ["feedback_from_table"]


def _read(table: pd.DataFrame | str | Path) -> tuple[pd.DataFrame, str | None, int | None]:
    """The table, its source for messages, and the line number of its first row (CSV/TSV: 2, after
    the header; Parquet and DataFrames: ``None``, rows are counted from 1 as records)."""
    if isinstance(table, pd.DataFrame):
        return table.reset_index(drop=True), None, None
    path = Path(table)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such bandit log")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path).reset_index(drop=True), str(path), None
    sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    return pd.read_csv(path, sep=sep), str(path), 2


def _value(df: pd.DataFrame, col: str, row: int) -> object:
    """A cell as the file has it (a numpy scalar as a plain number, for messages)."""
    v = df[col].iloc[row]
    return v.item() if isinstance(v, np.generic) else v


def _where(row: int, first_line: int | None) -> str:
    """``line N`` of a text file whose first row is line ``first_line``, ``record N`` otherwise."""
    return row_place(row, None if first_line is None else row + first_line)


def _numbers(df: pd.DataFrame, col: str, source: str | None, first_line: int | None) -> np.ndarray:
    num = pd.to_numeric(df[col], errors="coerce")
    bad = num.isna().to_numpy()
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise DataFormatError(
            source, None, f"{_where(r, first_line)}: {col} {_value(df, col, r)!r} is not a number"
        )
    return num.to_numpy(dtype=np.float64)


def feedback_from_table(
    table: pd.DataFrame | str | Path,
    *,
    action: str = "action",
    position: str = "position",
    reward: str = "reward",
    pscore: str = "pscore",
    context: Sequence[str] | str | None = None,
    first_position: int = 1,
    n_actions: int | None = None,
    len_list: int | None = None,
) -> BanditFeedback:
    """:class:`BanditFeedback` from a logged table, one row per round.

    Args:
        table: a DataFrame, or a ``.csv`` / ``.tsv`` / ``.parquet`` file with a header.
        action, position, reward, pscore: the columns of the shown action (integer ids from 0), its
            slot, the reward (a click) and the logging policy's probability of that action at that slot.
        context: the context columns (numbers as they are; other columns one-hot, the first level
            dropped), or a prefix that names them all (``"user_feature_"``); ``None``: no context.
        first_position: how the table numbers the top slot (1, as most logs do, or 0).
        n_actions, len_list: the numbers of actions and slots (default: the largest logged + 1).

    Raises:
        FileNotFoundError: no such file.
        DataFormatError: a missing column; a value that is not a number (``file: line N: column value
            is not a number``); or what :class:`BanditFeedback` refuses (a pscore outside (0, 1], ...).
    """
    df, source, first_line = _read(table)
    if isinstance(context, str):
        prefix = context
        context = [c for c in df.columns if str(c).startswith(prefix)]
        if not context:
            raise DataFormatError(source, 1, f"no column starts with the context prefix {prefix!r}")
    cols = [action, position, reward, pscore, *(context or [])]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        have = ", ".join(map(str, df.columns))
        raise DataFormatError(source, 1, f"missing column(s) {', '.join(missing)} (the table has {have})")
    values = {c: _numbers(df, c, source, first_line) for c in (action, position, reward, pscore)}
    ctx = None
    if context:
        parts = []
        numeric = [c for c in context if pd.api.types.is_numeric_dtype(df[c])]
        if numeric:
            parts.append(df[numeric].to_numpy(dtype=np.float64))
        other = [c for c in context if c not in numeric]
        if other:
            parts.append(_one_hot(df[other], drop_first=True))
        ctx = np.hstack(parts)
    acts = values[action]
    pos = values[position] - first_position
    if (pos < 0).any():
        r = int(np.flatnonzero(pos < 0)[0])
        value = _value(df, position, r)
        raise DataFormatError(
            source,
            None,
            f"{_where(r, first_line)}: {position} {value!r} is below first_position {first_position}",
        )
    return BanditFeedback(
        n_actions=n_actions if n_actions is not None else int(max(acts.max(), 0)) + 1,
        len_list=len_list if len_list is not None else int(max(pos.max(), 0)) + 1,
        action=acts,
        position=pos,
        reward=values[reward],
        pscore=values[pscore],
        context=ctx,
        source=source,
    )
