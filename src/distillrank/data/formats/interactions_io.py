"""Interaction tables (user, item, rating, timestamp) in the layouts recommendation datasets ship in.

* RecBole atomic files (``ml-100k.inter``): tab-separated, typed header
  ``user_id:token  item_id:token  rating:float  timestamp:float``; the ``:type`` suffixes are dropped.
* CSV/TSV (or ``;``-separated) with a header naming the columns (``userId,movieId,rating,timestamp``,
  ``user``, ``item``, ``ts``, ``time``, ...).
* Parquet (``.parquet``) with the same column names, any column types (datetime timestamps too).
* Headerless MovieLens: ``u.data`` (``user item rating timestamp``, tab) and ``ratings.dat``
  (``::``-separated); headerless files in general when the first line's rating and timestamp are numbers
  (the timestamp may be an ISO 8601 date).

Users and items are kept as strings; rating and timestamp become floats (NaN when absent); ISO 8601
timestamps (``2020-01-02``, ``2020-01-02T03:04:05``, with or without an offset) become seconds since
1970-01-01 UTC, times without an offset taken as UTC.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from distillrank.data.interactions import Interactions, timestamp_seconds
from distillrank.errors import DataFormatError
from distillrank.io import open_text

__all__ = ["read_interactions"]

_ALIASES: dict[str, tuple[str, ...]] = {
    "user": ("user", "user_id", "userId", "uid"),
    "item": ("item", "item_id", "itemId", "movieId", "movie_id", "movie", "iid"),
    "rating": ("rating", "ratings"),
    "timestamp": ("timestamp", "ts", "time"),
}
_CANON = {a.lower().replace("_", ""): c for c, names in _ALIASES.items() for a in names}
_HEADERLESS = {2: ["user", "item"], 3: ["user", "item", "rating"], 4: ["user", "item", "rating", "timestamp"]}
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}){0,2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def _headerless_value(x: str, column: int) -> bool:
    """Whether a first-line field reads as data: a number, or an ISO 8601 date in the timestamp column."""
    x = x.strip()
    return bool(_NUMBER.match(x) or (column == 3 and _ISO_DATE.match(x)))


def _strip_type(name: str) -> str:
    """``user_id:token`` -> ``user_id`` (RecBole typed headers); ``"user"`` -> ``user`` (quoted CSV)."""
    name = name.strip().strip('"').strip()
    return name.rsplit(":", 1)[0] if ":" in name else name


def _canonical(name: str) -> str | None:
    return _CANON.get(_strip_type(name).lower().replace("_", "").replace("-", ""))


def _canonical_columns(raw: list[str], path: Path, line: int | None) -> list[str | None]:
    """The canonical name of each column (``None``: not one of ``_ALIASES``), from a text header or a
    Parquet schema.

    Raises:
        DataFormatError: two columns name the same thing (``user_id`` and ``userId``).
    """
    canon = [_canonical(x) for x in raw]
    seen: dict[str, str] = {}
    for name, c in zip(raw, canon, strict=True):
        if c is None:
            continue
        if c in seen:
            raise DataFormatError(path, line, f"columns {seen[c]!r} and {name.strip()!r} both name the {c}")
        seen[c] = name.strip()
    return canon


def _split(line: str, sep: str | None) -> list[str]:
    return line.split() if sep is None else line.split(sep)


def read_interactions(path: str | Path, sep: str | None = None) -> Interactions:
    """Read an interaction table; the separator and the header are detected when not given.

    Args:
        path: the file (``.gz`` is decompressed; ``.parquet`` is read as a Parquet table).
        sep: column separator; default: ``::`` if the first line has it, else tab, else comma, else
            semicolon (European spreadsheets), else runs of whitespace.

    Raises:
        DataFormatError: ``path:line: problem`` for a header without a user or item column, a line
            with the wrong number of columns, a non-numeric rating, a timestamp that is neither a number
            nor an ISO 8601 date, or an empty user/item.
    """
    path = Path(path)
    if path.suffix == ".parquet":
        return _read_parquet(path)
    with open_text(path) as f:
        text = f.read()
    lines = text.split("\n")
    first_i = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first_i is None:
        raise DataFormatError(path, None, "empty interaction file")
    first = lines[first_i].rstrip("\r")
    if sep is None:
        sep = next((s for s in ("::", "\t", ",", ";") if s in first), None)
    if sep == "::":
        text = text.replace("::", "\t")
        lines = text.split("\n")
        first = lines[first_i].rstrip("\r")
        sep = "\t"
    if sep is not None and sep.isspace() and sep != "\t":
        sep = None  # runs of whitespace

    fields = _split(first, sep)
    header_line: int | None = first_i + 1
    canon = _canonical_columns(fields, path, header_line)
    if any(canon):
        names = [c or _strip_type(raw) for raw, c in zip(fields, canon, strict=True)]
        for need in ("user", "item"):
            if need not in canon:
                raise _missing(path, header_line, need, first)
        data_start = first_i + 1
    elif len(fields) in _HEADERLESS and all(
        _headerless_value(x, i) for i, x in enumerate(fields) if i >= 2 or len(fields) == 2
    ):
        names = list(_HEADERLESS[len(fields)])
        header_line = None
        data_start = first_i
    else:
        raise _missing(path, header_line, "user", first)

    # column counts, exactly, with the line number (pandas would pad short rows with NaN)
    width = len(names)
    quoted = sep in (",", ";") and '"' in text
    if not quoted:
        for i in range(data_start, len(lines)):
            ln = lines[i]
            if not ln or ln == "\r":
                continue
            n = len(ln.split()) if sep is None else ln.count(sep) + 1
            if n != width:
                raise DataFormatError(path, i + 1, f"expected {width} columns, found {n}")

    numeric = [c for c in ("rating", "timestamp") if c in names]
    body = "\n".join(lines[data_start:])

    def parse(numeric_dtype: type) -> pd.DataFrame:
        dtypes: dict[str, type] = {"user": str, "item": str, **{c: numeric_dtype for c in numeric}}
        try:
            return pd.read_csv(
                io.StringIO(body),
                sep=r"\s+" if sep is None else sep,
                header=None,
                names=names,
                dtype=dtypes,
                keep_default_na=False,
                na_values={c: ["", "nan", "NaN"] for c in numeric},
                quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE,
                engine="c",
            )
        except pd.errors.ParserError as e:
            raise DataFormatError(path, None, f"cannot parse the table: {e}") from None

    try:
        df = parse(np.float64)
        bad_numbers = False
    except ValueError:  # a non-numeric rating or timestamp: parse as text to find the line
        df = parse(str)
        bad_numbers = True

    def line_of(record: int) -> int:
        k = -1
        for i in range(data_start, len(lines)):
            if lines[i] and lines[i] != "\r":
                k += 1
                if k == record:
                    return i + 1
        return len(lines)

    for col in ("user", "item"):
        empty = (df[col].str.strip() == "").to_numpy()
        if empty.any():
            raise DataFormatError(path, line_of(int(np.flatnonzero(empty)[0])), f"empty {col}")
    for col in numeric if bad_numbers else []:
        num, bad, what = _to_float(df[col], col)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise DataFormatError(path, line_of(r), f"{col} {df[col].iloc[r]!r} is {what}")
        df[col] = num.astype(np.float64)
    for col in ("rating", "timestamp"):
        if col not in df.columns:
            df[col] = np.nan
    order = ["user", "item", "rating", "timestamp"]
    df = df[order + [c for c in df.columns if c not in order]]
    return Interactions(df, source=str(path))


def _to_float(values: pd.Series, col: str) -> tuple[pd.Series, np.ndarray, str]:
    """``values`` as floats (timestamps: :func:`timestamp_seconds`), the mask of values that could not
    be read, and what is wrong with them."""
    if col == "timestamp":
        return timestamp_seconds(values)
    num = pd.to_numeric(values, errors="coerce")
    return num, (num.isna() & values.notna()).to_numpy(), "not a number"


def _read_parquet(path: Path) -> Interactions:
    """A Parquet table whose column names are those of a text file's header (any types)."""
    df = pd.read_parquet(path)
    raw_names = [str(c) for c in df.columns]
    canon = _canonical_columns(raw_names, path, None)
    names = [c or raw for raw, c in zip(raw_names, canon, strict=True)]
    for need in ("user", "item"):
        if need not in canon:
            columns = ", ".join(map(str, df.columns))
            expected = ", ".join(_ALIASES[need])
            raise DataFormatError(
                path, None, f"no {need} column (columns: {columns}; expected one of: {expected})"
            )
    df.columns = pd.Index(names)
    for col in ("user", "item"):
        empty = (df[col].isna() | (df[col].astype(str).str.strip() == "")).to_numpy()
        if empty.any():
            raise DataFormatError(path, None, f"record {int(np.flatnonzero(empty)[0]) + 1}: empty {col}")
        df[col] = df[col].astype(str)
    for col in ("rating", "timestamp"):
        if col not in df.columns:
            df[col] = np.nan
            continue
        num, bad, what = _to_float(df[col], col)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise DataFormatError(path, None, f"record {r + 1}: {col} {df[col].iloc[r]!r} is {what}")
        df[col] = num.astype(np.float64)
    order = ["user", "item", "rating", "timestamp"]
    return Interactions(df[order + [c for c in df.columns if c not in order]], source=str(path))


def _missing(path: Path, line: int | None, what: str, header: str) -> DataFormatError:
    expected = ", ".join(_ALIASES[what])
    return DataFormatError(
        path, line, f"no {what} column in the header {header!r} (expected one of: {expected})"
    )
