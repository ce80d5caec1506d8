"""Click logs as tables: one row per shown result, columns ``session_id, qid, position, docno, click``
(``propensity`` optional: NaN, unknown), as a CSV, TSV or ``;``-separated text file with that header, or
as Parquet (:mod:`~distillrank.data.formats.parquet`); and folders of click-log files.

The same checks apply whatever the file type, each naming the file and the line (text; the header is
line 1) or the record (Parquet, counted from 1):

* positions are integers; a log whose positions start at 0 is read as 0-based (every position + 1, as
  most logging systems count from 0), one that starts at 1 as 1-based;
* a session shows each position once and belongs to one query;
* clicks are 0/1 (``1.0``/``0.0`` and ``true``/``false`` too).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from distillrank.data.clicklog import COLUMNS, ClickLog
from distillrank.data.dataset import SplitDataset
from distillrank.data.formats._split_files import files_by_split
from distillrank.errors import DataFormatError, DatasetNotFoundError, row_error, row_place
from distillrank.io import first_line, is_parquet, open_text

__all__ = [
    "click_log_from_frame",
    "is_click_table_header",
    "read_click_file",
    "read_click_folder",
    "read_click_table",
]

REQUIRED = COLUMNS[:5]
_SEPARATORS = ("\t", ",", ";")
_SPLITS = ("train", "valid", "test")


def _header_fields(line: str) -> list[str] | None:
    """The column names of a header line, split on the first separator that gives several."""
    for sep in _SEPARATORS:
        fields = [f.strip().strip('"').strip() for f in line.rstrip("\r\n").split(sep)]
        if len(fields) > 1:
            return fields
    return None


def _show(value: object) -> str:
    """A value of the table as a message shows it: strings quoted, numbers plain, missing ``empty``."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "empty"
    return repr(value) if isinstance(value, str) else str(value)


ALIASES: dict[str, str] = {
    "session": "session_id",
    "sessionid": "session_id",
    "query_id": "qid",
    "queryid": "qid",
    "doc_id": "docno",
    "docid": "docno",
    "document_id": "docno",
    "doc": "docno",
    "rank": "position",
    "pos": "position",
    "clicked": "click",
}
"""Other names of the columns in click logs from elsewhere (``session,query_id,doc_id,rank,clicked``)."""


def canonical_columns(names: list[str]) -> list[str]:
    """``names`` with the log's own columns in lower case and their :data:`ALIASES` renamed (an alias
    whose column is named as such, or by an alias before it, is left alone); other names unchanged."""
    lower = [n.strip().lower() for n in names]
    taken = {low for low in lower if low in COLUMNS}
    out = []
    for name, low in zip(names, lower, strict=True):
        if low in COLUMNS:
            out.append(low)
        elif low in ALIASES and ALIASES[low] not in taken:
            taken.add(ALIASES[low])  # the first alias of a column wins
            out.append(ALIASES[low])
        else:
            out.append(name)
    return out


def is_click_table_header(line: str) -> bool:
    """Whether ``line`` is the header of a click-log table (it names every required column, by its own
    name or an alias)."""
    fields = _header_fields(line)
    return fields is not None and set(REQUIRED) <= set(canonical_columns(fields))


def click_log_from_frame(df: pd.DataFrame, path: str | Path, where: Callable[[int], int | None]) -> ClickLog:
    """A :class:`ClickLog` from a table of the log's columns, checked (see the module docstring).

    Args:
        df: the table, one row per shown result, in file order.
        path: the file, for the errors.
        where: row index -> the file's line of that row, or ``None`` where rows are records (the
            error then says ``record N``).

    Raises:
        DataFormatError: a missing column, an empty or non-integer position, a position below 0, a
            click other than 0/1, a position shown twice in a session, or a session with two queries.
    """
    path = Path(path)

    def bad(row: int, problem: str) -> DataFormatError:
        return row_error(path, row, where(row), problem)

    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DataFormatError(
            path,
            None,
            f"click log lacks columns {missing} (it has {', '.join(map(str, df.columns))})",
        )
    df = df.reset_index(drop=True)
    for col in ("session_id", "qid", "docno"):
        empty = (df[col].isna() | (df[col].astype(str).str.strip() == "")).to_numpy()
        if empty.any():
            raise bad(int(np.argmax(empty)), f"empty {col}")
    pos = pd.to_numeric(df["position"], errors="coerce")
    nonint = (pos.isna() | (pos != pos.round())).to_numpy()
    if nonint.any():
        i = int(np.argmax(nonint))
        raise bad(i, f"position {_show(df['position'].iloc[i])} is not an integer")
    position = pos.to_numpy().astype(np.int64)
    if len(position) and position.min() < 0:
        i = int(np.argmin(position))
        raise bad(i, f"position {position[i]} is negative")
    shift = int(len(position) > 0 and position.min() == 0)  # 0-based positions
    if shift:  # every session must then start at 0: a 1-based log with a stray 0 is named, not shifted
        starts = (
            pd.Series(position).groupby(df["session_id"].to_numpy(), sort=False).transform("min").to_numpy()
        )
        if (starts != 0).any():
            i, j = int(np.argmax(starts != 0)), int(np.argmax(position == 0))
            other = _show(df["session_id"].iloc[i])
            raise bad(
                j,
                f"position 0 here makes the log 0-based, but session {other} starts at {starts[i]} "
                f"({row_place(i, where(i))}): number every session's positions from 0, or every one from 1",
            )
    position = position + shift
    click = df["click"]
    if not pd.api.types.is_numeric_dtype(click) and not pd.api.types.is_bool_dtype(click):
        # text: 0/1 as integers or floats (1, 1.0: a column pandas wrote as floats) or true/false
        text = click.astype(str).str.strip().str.lower()
        click = pd.to_numeric(text.replace({"true": "1", "false": "0"}), errors="coerce")
    click = pd.to_numeric(click, errors="coerce")
    wrong = ~click.isin([0, 1]).to_numpy()
    if wrong.any():
        i = int(np.argmax(wrong))
        raise bad(i, f"click must be 0 or 1, not {_show(df['click'].iloc[i])}")
    out = df.assign(
        qid=df["qid"].astype(str),
        docno=df["docno"].astype(str),
        position=position,
        click=click.to_numpy().astype(np.int64),
    )
    if "propensity" not in out.columns:
        out["propensity"] = np.nan
    out["propensity"] = pd.to_numeric(out["propensity"], errors="coerce").astype(np.float64)
    dup = out.duplicated(["session_id", "position"], keep="first").to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        sid, p = out["session_id"].iloc[i], int(out["position"].iloc[i])
        j = int(np.argmax((out["session_id"] == sid).to_numpy() & (out["position"] == p).to_numpy()))
        before = row_place(j, where(j))
        raise bad(i, f"session {_show(sid)} shows position {p - shift} twice (also at {before})")
    n_qids = out.groupby("session_id", sort=False)["qid"].transform("nunique").to_numpy()
    if (n_qids > 1).any():
        sid = out["session_id"].iloc[int(np.argmax(n_qids > 1))]
        rows = np.flatnonzero((out["session_id"] == sid).to_numpy())
        other = rows[int(np.argmax(out["qid"].to_numpy()[rows] != out["qid"].iloc[rows[0]]))]
        here, before_q = out["qid"].iloc[other], out["qid"].iloc[rows[0]]
        raise bad(int(other), f"session {_show(sid)} has query {here!r} here but {before_q!r} before")
    return ClickLog(
        out[[*COLUMNS, *(c for c in out.columns if c not in COLUMNS)]],
        source=str(path),
        first_position=1 - shift,
    )


def read_click_table(path: str | Path) -> ClickLog:
    """Read a CSV, TSV or ``;``-separated click log with a header (see the module docstring).

    Raises:
        DataFormatError: ``path:line: problem`` for a row with too many or too few fields, or any
            problem of :func:`click_log_from_frame`.
    """
    path = Path(path)
    with open_text(path) as f:
        text = f.read()
    lines = text.splitlines()
    header_at = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_at is None or not is_click_table_header(lines[header_at]):
        raise DataFormatError(
            path, 1, f"expected a header naming the columns {', '.join(REQUIRED)} (propensity optional)"
        )
    first = lines[header_at]
    sep = next(s for s in _SEPARATORS if len(first.split(s)) > 1)
    rows: list[list[str]] = []
    line_of: list[int] = []
    reader = csv.reader(lines[header_at:], delimiter=sep)
    header = [h.strip() for h in next(reader)]
    names = canonical_columns(header)
    for offset, fields in enumerate(reader, start=header_at + 2):
        if not fields or not any(f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            raise DataFormatError(
                path, offset, f"{len(fields)} fields but the header has {len(header)} ({sep!r}-separated)"
            )
        rows.append([f.strip() for f in fields])
        line_of.append(offset)
    df = pd.DataFrame(rows, columns=names, dtype=object)
    if not len(df):
        df = pd.DataFrame({c: pd.Series(dtype=object) for c in names})
    ids = pd.to_numeric(df["session_id"], errors="coerce")
    if len(df) and not ids.isna().any() and (ids == ids.round()).all():
        df["session_id"] = ids.astype(np.int64)  # integer ids keep their numeric order
    return click_log_from_frame(df, path, lambda r: line_of[r])


def read_click_file(path: str | Path) -> ClickLog:
    """One click-log file, whatever its format: Parquet, a click table with a header, the original
    Yandex WSCD 2011 log (:mod:`~distillrank.data.formats.yandex_original`) or Yandex sample sessions
    (:mod:`~distillrank.data.formats.yandex`)."""
    from distillrank.data.formats.yandex import read_yandex_file

    path = Path(path)
    if path.name.lower().endswith(".parquet") or is_parquet(path):
        from distillrank.data.formats.parquet import read_parquet

        log = read_parquet(path, kind="clicklog")
        assert isinstance(log, ClickLog)
        return log
    first = first_line(path)
    if is_click_table_header(first):
        return read_click_table(path)
    return read_yandex_file(path)


def click_split_of(name: str) -> str | None:
    """The split a click-log file's name says (``trainSample``, ``clicks_test.csv``, ``vali.parquet``),
    else None."""
    low = name.lower()
    if low.startswith(".") or low.endswith((".md", ".json", ".query")):
        return None
    for split, marks in (("train", ("train",)), ("test", ("test",)), ("valid", ("vali",))):
        if any(m in low for m in marks):
            return split
    return None


def read_click_folder(folder: str | Path, name: str | None = None) -> SplitDataset[ClickLog]:
    """The click-log files of a folder as splits ``train``, ``valid`` and ``test``, by their names
    (``trainSample``/``testSample``, ``train.parquet``, ``clicks_test.csv``, ...), each read by
    :func:`read_click_file`.

    Raises:
        DatasetNotFoundError: no file named for a split.
        DataFormatError: two files for one split, or a problem in a file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetNotFoundError(f"{folder}: not a folder of click-log files")
    files = files_by_split(folder, click_split_of)
    if not files:
        raise DatasetNotFoundError(
            f"{folder}: no click-log files found (expected trainSample/testSample, or Yandex (sample or "
            "original WSCD layout), Parquet or CSV/TSV click logs with 'train'/'test' in their names)"
        )
    splits = {s: read_click_file(files[s]) for s in _SPLITS if s in files}
    return SplitDataset(name or folder.name, splits, source=str(folder))
