"""Interaction tables (user, item, rating, timestamp) in the layouts recommendation datasets ship in.

* RecBole atomic files (``ml-100k.inter``): tab-separated, typed header
  ``user_id:token  item_id:token  rating:float  timestamp:float``; the ``:type`` suffixes are dropped.
* CSV/TSV (or ``;``-separated) with a header naming the columns (``userId,movieId,rating,timestamp``,
  ``user``, ``item``, ``ts``, ``time``, ...).
* Parquet (any name: told by its magic bytes; or a folder of ``part-*.parquet`` files, one table written
  in parts) and Feather/Arrow IPC files with the same column names, any column types (datetime
  timestamps too).
* A JSON array of objects (``df.to_json(orient="records")``), read as JSON lines are.
* JSON lines (any name, ``.gz`` too): one object per line with user and item keys, as Amazon Reviews
  2023 (``user_id``, ``parent_asin``, ``rating``, ``timestamp``), Amazon 2014/2018 (``reviewerID``,
  ``asin``, ``overall``, ``unixReviewTime``), Yelp (``user_id``, ``business_id``, ``stars``, ``date``);
  Python dict literals (``{'username': ...}``, as the UCSD Steam files) are read too. Keys whose values
  are lists or objects are dropped. Where both ``asin`` and ``parent_asin`` are present the item is the
  ``parent_asin`` (the product, not its colour or size variant).
* Headerless MovieLens: ``u.data`` (``user item rating timestamp``, tab) and ``ratings.dat``
  (``::``-separated); headerless files in general when the first line's rating and timestamp are numbers
  (the timestamp may be an ISO 8601 date). Three columns are ``user item rating``, or ``user item
  timestamp`` when the third is an ISO 8601 date or a number of 9 or more integer digits (Unix seconds
  after 1973, or milliseconds), which no rating scale reaches; four are ``user item rating timestamp``,
  or ``user item timestamp rating`` when the third is such a timestamp and the fourth a smaller number.
  A separator ending every line (exporters' trailing tab) adds no column.
* Anything else (Gowalla/Foursquare check-ins, Last.fm listening logs, headers with other names): say
  which column is which with ``columns`` (:func:`parse_columns`; on the command line ``--columns``).

Users and items are kept as strings; rating and timestamp become floats (NaN when absent); ISO 8601
timestamps (``2020-01-02``, ``2020-01-02T03:04:05``, with or without an offset) become seconds since
1970-01-01 UTC, times without an offset taken as UTC.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from distillrank.data.interactions import Interactions, timestamp_seconds
from distillrank.errors import DataFormatError, DataWarning, format_location, row_error
from distillrank.io import is_parquet, open_text

__all__ = ["looks_like_interactions", "parse_columns", "read_interactions"]

_ALIASES: dict[str, tuple[str, ...]] = {
    "user": ("user", "user_id", "userId", "uid", "username", "reviewerID", "visitorid", "customer_id"),
    "item": (
        "item",
        "item_id",
        "itemId",
        "movieId",
        "movie_id",
        "movie",
        "iid",
        "parent_asin",
        "asin",
        "business_id",
        "product_id",
        "book_id",
    ),
    "rating": ("rating", "ratings", "overall", "stars"),
    "timestamp": ("timestamp", "ts", "time", "unixReviewTime", "date"),
}
_CANON = {a.lower().replace("_", ""): c for c, names in _ALIASES.items() for a in names}
# an alias that yields to another present in the same file (Amazon 2023 has both: parent_asin is the item)
_YIELDS_TO = {"asin": "parentasin"}
_COLUMNS_HINT = (
    "say which column is which with --columns (columns=): names in file order for a file without a "
    "header (user,timestamp,,,item; empty: not used) or NAME=COLUMN pairs for named columns "
    "(user=visitorid,item=itemid)"
)
_HEADERLESS = {2: ["user", "item"], 3: ["user", "item", "rating"], 4: ["user", "item", "rating", "timestamp"]}
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}){0,2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def _epoch_like(x: str) -> bool:
    """An ISO 8601 date, or a number of 9 or more integer digits (Unix seconds after 1973, fractional or
    not, or milliseconds): a timestamp, beyond any rating scale."""
    x = x.strip()
    return bool(_ISO_DATE.match(x) or re.fullmatch(r"\d{9,}(\.\d*)?", x))


def _headerless_value(x: str, column: int) -> bool:
    """Whether a first-line field reads as data: a number, or an ISO 8601 date in the timestamp column."""
    x = x.strip()
    return bool(_NUMBER.match(x) or (column == 3 and _ISO_DATE.match(x)))


def _headerless_names(fields: list[str]) -> list[str] | None:
    """The column names of a file without a header whose first line is ``fields``, or ``None`` when the
    line does not read as ``user item [rating [timestamp]]``, nor as ``user item timestamp [rating]``: a
    third column holding a timestamp (:func:`_epoch_like`, beyond any rating scale), and in four columns a
    fourth holding a number that is not one."""
    if len(fields) == 3 and _epoch_like(fields[2]):
        return ["user", "item", "timestamp"]
    if (
        len(fields) == 4
        and _epoch_like(fields[2])
        and _NUMBER.match(fields[3])
        and not _epoch_like(fields[3])
    ):
        return ["user", "item", "timestamp", "rating"]  # (MovieLens has them the other way round)
    if len(fields) in _HEADERLESS and all(
        _headerless_value(x, i) for i, x in enumerate(fields) if i >= 2 or len(fields) == 2
    ):
        return list(_HEADERLESS[len(fields)])
    return None


def looks_like_interactions(first_line: str) -> bool:
    """Whether a file's first line reads as the start of an interaction table :func:`read_interactions`
    reads without ``columns``: a header (or JSON object) naming a user and an item, or a headerless row
    separated by ``::``, tabs, commas or semicolons (not spaces, as TREC qrels are)."""
    line = first_line.strip().lstrip("\ufeff")
    if line.startswith("{"):
        keys = re.findall(r"""["']([^"']+)["']\s*:""", line)
        return {"user", "item"} <= {_canonical(k) for k in keys}
    sep = next((s for s in ("::", "\t", ",", ";") if s in line), None)
    if sep is None:
        return False
    fields = line.split(sep)
    return _headerless_names(fields) is not None or {"user", "item"} <= {_canonical(x) for x in fields}


def parse_columns(text: str | Sequence[str] | Mapping[str, str] | None) -> list[str] | dict[str, str] | None:
    """The ``columns`` option of :func:`read_interactions` from its command-line spelling.

    ``"user,timestamp,,,item"`` (names in file order, for a file without a header; an empty name: a
    column not used) becomes a list; ``"user=visitorid,item=itemid"`` (which named column is the user,
    item, rating or timestamp) a dict. Lists and dicts are returned as they are.

    Raises:
        ValueError: a name other than user, item, rating, timestamp, a name given twice, or no user or
            no item in a list.
    """
    if text is None or isinstance(text, Mapping):
        return None if text is None else dict(text)
    if isinstance(text, str):
        parts = [p.strip() for p in text.split(",")]
        if any("=" in p for p in parts):
            pairs = [p.split("=", 1) for p in parts if p]
            if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
                raise ValueError(f"columns: expected NAME=COLUMN pairs separated by commas, got {text!r}")
            mapping = {k.strip(): v.strip() for k, v in pairs}
            names = list(mapping)
        else:
            names = parts
    else:
        names = [str(x).strip() for x in text]
    for n in names:
        if n and n not in _ALIASES:
            raise ValueError(f"columns: {n!r} is not one of user, item, rating, timestamp (in {text!r})")
    used = [n for n in names if n]
    if len(set(used)) != len(used):
        raise ValueError(f"columns: a name is given twice in {text!r}")
    if isinstance(text, str) and any("=" in p for p in parts):
        return mapping
    missing = [n for n in ("user", "item") if n not in used]
    if missing:
        raise ValueError(f"columns: no {' and no '.join(missing)} in {text!r}")
    return names


def _strip_type(name: str) -> str:
    """``user_id:token`` -> ``user_id`` (RecBole typed headers); ``"user"`` -> ``user`` (quoted CSV)."""
    name = name.strip().strip('"').strip()
    return name.rsplit(":", 1)[0] if ":" in name else name


def _key(name: str) -> str:
    return _strip_type(name).lower().replace("_", "").replace("-", "")


def _canonical(name: str) -> str | None:
    return _CANON.get(_key(name))


def _canonical_columns(
    raw: list[str], path: Path, line: int | None, mapping: Mapping[str, str] | None = None
) -> list[str | None]:
    """The canonical name of each column (``None``: not one of ``_ALIASES``), from a text header, the
    keys of JSON lines or a Parquet schema; ``mapping`` (canonical name -> column) comes first, and
    aliases of the names it maps are not used.

    Raises:
        DataFormatError: two columns name the same thing (``user_id`` and ``userId``), or ``mapping``
            names a column that is not there.
    """
    mapping = mapping or {}
    stripped = [_strip_type(x) for x in raw]
    for want, column in mapping.items():
        if column not in stripped:
            shown = ", ".join(stripped)
            raise DataFormatError(path, line, f"no column {column!r} for the {want} (columns: {shown})")
    keys = {_key(x) for x in raw}
    canon: list[str | None] = []
    for name, plain in zip(raw, stripped, strict=True):
        mapped = [want for want, column in mapping.items() if column == plain]
        c = mapped[0] if mapped else _canonical(name)
        if not mapped and (c in mapping or _YIELDS_TO.get(_key(name)) in keys):
            c = None
        canon.append(c)
    seen: dict[str, str] = {}
    for name, c in zip(raw, canon, strict=True):
        if c is None:
            continue
        if c in seen:
            raise DataFormatError(
                path,
                line,
                f"columns {seen[c]!r} and {name.strip()!r} both name the {c}: pass "
                f"--columns {c}={name.strip()} (columns=) to choose",
            )
        seen[c] = name.strip()
    return canon


def _split(line: str, sep: str | None) -> list[str]:
    return line.split() if sep is None else line.split(sep)


def read_interactions(
    path: str | Path,
    sep: str | None = None,
    columns: str | Sequence[str] | Mapping[str, str] | None = None,
) -> Interactions:
    """Read an interaction table; the separator and the header are detected when not given.

    Args:
        path: the file (``.gz`` is decompressed; ``.parquet`` is read as a Parquet table; a first line
            starting with ``{`` makes it JSON lines).
        sep: column separator; default: ``::`` if the first line has it, else tab, else comma, else
            semicolon (European spreadsheets), else runs of whitespace.
        columns: which column is which, where the header does not say (see :func:`parse_columns`): a
            list of names in file order for a text file without a header (``["user", "timestamp", "",
            "", "item"]`` for Gowalla check-ins; empty names are dropped), or a dict from ``user``,
            ``item``, ``rating``, ``timestamp`` to the column (or JSON key) that holds it.

    Raises:
        DataFormatError: ``path:line: problem`` for a first line that is neither a header with user and
            item columns nor a headerless row, a line with the wrong number of columns, a non-numeric
            rating, a timestamp that is neither a number nor an ISO 8601 date, or an empty user/item.
        ValueError: ``columns`` is not a valid column naming.
    """
    path = Path(path)
    named = parse_columns(columns)
    mapping = named if isinstance(named, dict) else None
    binary = _binary_format(path)
    if binary is not None:
        if isinstance(named, list):
            what = f"a {binary} table names its columns"
            raise DataFormatError(path, None, f"{what}: give columns as NAME=COLUMN")
        return _read_arrow(path, binary, mapping)
    with open_text(path) as f:
        text = f.read()
    lines = text.split("\n")
    first_i = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first_i is None:
        raise DataFormatError(path, None, "empty interaction file")
    if lines[first_i].lstrip().startswith(("{", "[")):
        if isinstance(named, list):
            raise DataFormatError(path, None, "JSON lines name their keys: give columns as NAME=KEY pairs")
        if lines[first_i].lstrip().startswith("["):
            return _read_json_array(path, text, mapping)
        return _read_json_lines(path, lines, mapping)
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
    if sep is not None and all(ln.rstrip("\r").endswith(sep) for ln in lines[first_i:] if ln.strip()):
        # a separator ending every line (an exporter's trailing tab) adds no column
        lines = [_drop_last(ln, sep) for ln in lines]
        text = "\n".join(lines)
        first = lines[first_i].rstrip("\r")

    fields = _split(first, sep)
    header_line: int | None = first_i + 1
    headerless = _headerless_names(fields) if mapping is None else None
    if isinstance(named, list):
        if len(named) != len(fields):
            raise DataFormatError(
                path, header_line, f"columns names {len(named)} columns, the file has {len(fields)}"
            )
        names = [n or f"_unused{i}" for i, n in enumerate(named)]
        header_line = None
        data_start = first_i
    elif headerless is not None and len(fields) > 2:  # a row that only looks like a header: user,item,3,9
        names = headerless
        header_line = None
        data_start = first_i
    elif any(canon := _canonical_columns(fields, path, header_line, mapping)):
        names = [c or _strip_type(raw) for raw, c in zip(fields, canon, strict=True)]
        for need in ("user", "item"):
            if need not in canon:
                raise _missing(path, header_line, need, first)
        data_start = first_i + 1
    elif headerless is not None:
        names = headerless
        header_line = None
        data_start = first_i
    else:
        raise DataFormatError(
            path,
            header_line,
            f"{_shorten(first)!r} is neither a header naming the user and item columns nor a row user, item"
            f"[, rating[, timestamp]] of a file without a header: {_COLUMNS_HINT}",
        )

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
            m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
            if m:  # pandas counts the lines of the body from 1
                want, at, saw = (int(g) for g in m.groups())
                problem = f"expected {want} columns, found {saw}"
                raise DataFormatError(path, data_start + at, problem) from None
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
    if "timestamp" in df.columns:
        _check_timestamps(df, lambda r, problem: format_location(path, line_of(r), problem))
    for col in ("rating", "timestamp"):
        if col not in df.columns:
            df[col] = np.nan
    order = ["user", "item", "rating", "timestamp"]
    df = df[order + [c for c in df.columns if c not in order and not c.startswith("_unused")]]
    return Interactions(df, source=str(path))


def _to_float(values: pd.Series, col: str) -> tuple[pd.Series, np.ndarray, str]:
    """``values`` as floats (timestamps: :func:`timestamp_seconds`), the mask of values that could not
    be read, and what is wrong with them."""
    if col == "timestamp":
        return timestamp_seconds(values)
    num = pd.to_numeric(values, errors="coerce")
    return num, (num.isna() & values.notna()).to_numpy(), "not a number"


def _id_strings(values: pd.Series) -> pd.Series:
    """Ids as strings; whole floats without their ``.0`` (a Parquet or JSON column of ids stored as
    floats, as pandas writes integer ids with a missing value: ``196.0`` is the user ``196``)."""
    if pd.api.types.is_float_dtype(values):
        v = values.to_numpy(dtype=np.float64)
        if np.all(np.isfinite(v) & (v == np.round(v))):
            return pd.Series(v.astype(np.int64).astype(str), index=values.index)
    return values.astype(str)


def _drop_last(line: str, sep: str) -> str:
    """``line`` without the separator that ends it (before a ``\\r``, too)."""
    cr = line.endswith("\r")
    body = line.removesuffix("\r")
    return body.removesuffix(sep) + ("\r" if cr else "")


def _shorten(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _check_timestamps(df: pd.DataFrame, message: Callable[[int, str], str]) -> None:
    """One :class:`~distillrank.errors.DataWarning` when a timestamp column leaves some rows empty,
    naming the first (``message(row, problem)``: the problem where that row is) and the count: a temporal
    split cannot place them (the recommender job refuses them). A column empty in every row is a table
    without timestamps."""
    missing = df["timestamp"].isna().to_numpy()
    if missing.any() and not missing.all():
        r = int(np.flatnonzero(missing)[0])
        warnings.warn(
            message(r, f"no timestamp ({int(missing.sum()):,} of the {len(df):,} rows have none)"),
            DataWarning,
            stacklevel=3,
        )


def _binary_format(path: Path) -> str | None:
    """``Parquet`` (a file by its magic bytes, or a folder of parts) or ``Feather`` (Arrow IPC), else
    ``None`` (text)."""
    if path.is_dir() or path.suffix == ".parquet" or is_parquet(path):
        return "Parquet"
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError:
        return None
    return "Feather" if head == b"ARROW1" else None


def _read_arrow(path: Path, kind: str, mapping: Mapping[str, str] | None = None) -> Interactions:
    """A Parquet table (or a folder of the parts of one) or a Feather file (``kind``), whose column names
    are those of a text file's header (any types)."""
    import pyarrow as pa

    try:
        df = pd.read_parquet(path) if kind == "Parquet" else pd.read_feather(path)
    except (pa.ArrowException, OSError) as e:
        reason = str(e).split("\n", 1)[0]
        raise DataFormatError(
            path, None, f"not a readable {kind} table (truncated or corrupt?): {reason}"
        ) from None
    return _from_frame(df, path, mapping)


def _scalars(obj: dict[object, object]) -> dict[str, object]:
    """A JSON record's keys whose values are not lists or objects (Amazon's nested ``style``, say)."""
    return {str(k): v for k, v in obj.items() if not isinstance(v, list | dict | tuple | set)}


def _read_json_array(path: Path, text: str, mapping: Mapping[str, str] | None) -> Interactions:
    """A JSON array of objects (``df.to_json(orient="records")``); errors name the record."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise DataFormatError(path, None, f"not valid JSON ({e})") from None
    if not isinstance(data, list):
        raise DataFormatError(path, None, "a JSON array of objects was expected")
    records: list[dict[str, object]] = []
    for i, obj in enumerate(data):
        if not isinstance(obj, dict):
            raise DataFormatError(path, None, f"record {i + 1}: not a JSON object but {type(obj).__name__}")
        records.append(_scalars(obj))
    return _from_frame(pd.DataFrame.from_records(records), path, mapping, what="key")


def _read_json_lines(path: Path, lines: list[str], mapping: Mapping[str, str] | None) -> Interactions:
    """One JSON object (or Python dict literal) per line; keys holding lists or objects are dropped."""
    records: list[dict[str, object]] = []
    numbers: list[int] = []
    for i, line in enumerate(lines):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            try:
                obj = ast.literal_eval(line)  # UCSD Steam / older Amazon files: Python dict literals
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                raise DataFormatError(path, i + 1, "not a JSON object") from None
        if not isinstance(obj, dict):
            raise DataFormatError(path, i + 1, f"not a JSON object but {type(obj).__name__}")
        records.append(_scalars(obj))
        numbers.append(i + 1)
    df = pd.DataFrame.from_records(records)
    return _from_frame(df, path, mapping, what="key", line_numbers=numbers)


def _from_frame(
    df: pd.DataFrame,
    path: Path,
    mapping: Mapping[str, str] | None,
    what: str = "column",
    line_numbers: list[int] | None = None,
) -> Interactions:
    """Interactions from a table whose columns are named as a header would name them (Parquet, JSON);
    errors name the record, or its line when ``line_numbers`` (one per row) are given."""

    def error(row: int, problem: str) -> DataFormatError:
        return row_error(path, row, None if line_numbers is None else line_numbers[row], problem)

    raw_names = [str(c) for c in df.columns]
    canon = _canonical_columns(raw_names, path, None, mapping)
    names = [c or raw for raw, c in zip(raw_names, canon, strict=True)]
    for need in ("user", "item"):
        if need not in canon:
            columns = ", ".join(map(str, df.columns))
            expected = ", ".join(_ALIASES[need])
            raise DataFormatError(
                path,
                None,
                f"no {need} {what} ({what}s: {columns}; expected one of: {expected}); pass --columns "
                f"{need}={what.upper()} (columns=) to name it",
            )
    df.columns = pd.Index(names)
    for col in ("user", "item"):
        empty = (df[col].isna() | (df[col].astype(str).str.strip() == "")).to_numpy()
        if empty.any():
            raise error(int(np.flatnonzero(empty)[0]), f"empty {col}")
        df[col] = _id_strings(df[col])
    for col in ("rating", "timestamp"):
        if col not in df.columns:
            df[col] = np.nan
            continue
        num, bad, problem = _to_float(df[col], col)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise error(r, f"{col} {df[col].iloc[r]!r} is {problem}")
        df[col] = num.astype(np.float64)
    _check_timestamps(df, lambda r, problem: str(error(r, problem)))
    order = ["user", "item", "rating", "timestamp"]
    return Interactions(df[order + [c for c in df.columns if c not in order]], source=str(path))


def _missing(path: Path, line: int | None, what: str, header: str) -> DataFormatError:
    expected = ", ".join(_ALIASES[what])
    return DataFormatError(
        path,
        line,
        f"no {what} column in the header {header!r} (expected one of: {expected}); {_COLUMNS_HINT}",
    )
