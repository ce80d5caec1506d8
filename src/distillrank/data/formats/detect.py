"""Sniff what kind of dataset a path holds and load it with the matching reader.

The decision looks at file contents, not only names, so collections that are not laid out like the
ones in the catalogue still load: a BEIR folder has ``corpus.jsonl``; TREC and SMART files start with
``<DOC>``/``<top>`` or ``.I``; svmlight rows look like ``label [qid:q] i:v ...``; a Yandex click log has
``query<TAB>docs : clicks`` sessions (the PyClick sample, :mod:`~distillrank.data.formats.yandex`) or
``SessionID<TAB>TimePassed<TAB>Q|C<TAB>...`` actions (the original WSCD 2011 log,
:mod:`~distillrank.data.formats.yandex_original`), one as a table a header with ``session_id``,
``qid``, ``position``, ``docno`` and ``click`` (:mod:`~distillrank.data.formats.clicktable`); an Open
Bandit Dataset CSV has a ``propensity_score`` column; an interaction table has user and item columns (or
JSON keys), or no header and a first row ``user item [rating [timestamp]]`` separated by ``::``, tabs,
commas or semicolons. A Parquet file is an interaction table or a click log by its distillrank metadata
(:mod:`~distillrank.data.formats.parquet`) or, from elsewhere, by its column names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from distillrank.data.formats.clicktable import REQUIRED as CLICK_TABLE_COLUMNS
from distillrank.data.formats.clicktable import is_click_table_header
from distillrank.data.formats.msmarco import CORPUS_NAME
from distillrank.data.formats.trec import check_query_field
from distillrank.data.formats.yandex_original import is_yandex_original_line
from distillrank.errors import DatasetNotFoundError, DistillrankError
from distillrank.io import is_parquet, open_text

_SVMLIGHT = re.compile(
    r"^-?\d+(\.\d+)?\s+((qid:\S+\s+)?\d+:\S+|qid:\S+\s*(#.*)?$)"
)  # (a row may have no feature)
_YANDEX = re.compile(r"^[^\t\n]+\t[^\t\n]+ :")
_SMART = re.compile(r"^\.I\s+\d+")
_INTERACTION_HEADER = re.compile(r"(user|userid|user_id)\b.*(item|movie|itemid|movieid|item_id)\b", re.I)


def _head(path: Path, n: int = 4096) -> str:
    """The first ``n`` characters, read as the readers will read them (:func:`~distillrank.io.open_text`:
    ``.gz`` decompressed, a byte order mark dropped); ``""`` for a file that cannot be read."""
    try:
        with open_text(path, warn=False) as f:
            return f.read(n)
    except (OSError, UnicodeDecodeError, DistillrankError):
        return ""


def _parquet_kind(path: Path) -> str | None:
    """``interactions`` or ``clicks`` for a Parquet table, from its metadata or its columns."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        meta = json.loads((schema.metadata or {}).get(b"distillrank", b"{}"))
    except (OSError, ValueError):  # not Parquet after all, or metadata that is not JSON
        return None
    kind = {"interactions": "interactions", "clicklog": "clicks"}.get(meta.get("kind"))
    if kind is None and set(schema.names) >= set(CLICK_TABLE_COLUMNS):
        kind = "clicks"
    if kind is None and _INTERACTION_HEADER.search(" ".join(schema.names)):
        kind = "interactions"
    return kind


def _file_kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".parquet") or is_parquet(path):
        return _parquet_kind(path)
    if name.startswith("corpus.jsonl"):
        return "text"
    head = _head(path)
    first = head.lstrip().split("\n", 1)[0]
    if "propensity_score" in first:
        return "bandit"
    if "<DOC>" in head or "<top>" in head.lower() or _SMART.match(head.lstrip()):
        return "text"
    if _YANDEX.match(first) or is_yandex_original_line(first):
        return "clicks"
    if _SVMLIGHT.match(first):
        return "ltr"
    if is_click_table_header(first):
        return "clicks"
    from distillrank.data.formats.interactions_io import looks_like_interactions

    plain = name.removesuffix(".gz")
    if (
        _INTERACTION_HEADER.search(first)
        or looks_like_interactions(first)
        or plain.endswith((".inter", "u.data", "ratings.dat"))
    ):
        return "interactions"
    return None


_KIND_NAMES = {
    "ltr": "a learning-to-rank feature dataset",
    "interactions": "an interaction table",
    "clicks": "a click log",
    "bandit": "a bandit log",
}
"""How a query-field error names data that is not a text collection."""

_ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".7z", ".rar")


def detect_kind(path: str | Path) -> str:
    """``"text" | "ltr" | "interactions" | "clicks" | "bandit"`` for a folder or file.

    Raises:
        DatasetNotFoundError: when no supported format is recognised, listing what was looked at.
    """
    path = Path(path)
    if path.is_file() and path.name.lower().endswith(_ARCHIVES):
        raise DatasetNotFoundError(
            f"{path}: an archive, which is not read in place; unpack it (unzip, tar -xf) and pass the folder"
        )
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    files = [f for f in files if not f.name.startswith(".")]
    if path.is_dir() and any(f.name.startswith("corpus.jsonl") or CORPUS_NAME.match(f.name) for f in files):
        return "text"
    votes: dict[str, int] = {}
    for f in files[:200]:
        k = _file_kind(f)
        if k:
            votes[k] = votes.get(k, 0) + 1
    if not votes:
        shown = ", ".join(f.name for f in files[:8]) or "no files"
        raise DatasetNotFoundError(
            f"{path}: no supported dataset format recognised ({shown}). Supported: BEIR folders, "
            "TREC (<DOC>/<top>/qrels), SMART (.I/.W), svmlight/LETOR, interaction tables (text or Parquet), "
            "click logs (Yandex sample or original WSCD layout, Parquet or CSV/TSV), Open Bandit Dataset "
            "CSVs. An interaction table whose columns cannot be told apart (check-ins, listening logs) "
            "loads with --columns (datasets info, recsys distill), e.g. --columns user,timestamp,,,item."
        )
    return max(votes, key=lambda k: votes[k])


# the file of a folder that holds the interactions, where a download has several tables (MovieLens
# ml-20m: ratings.csv beside tags.csv; ml-100k: u.data beside its u1.base .. ua.test splits)
_MAIN_TABLES = ("ratings", "u.data", "interactions", "events", "checkins", "reviews")


_PART = re.compile(r"^part[-_.].*\.parquet$", re.IGNORECASE)


def _interaction_file(folder: Path, *, named: bool) -> Path:
    """The interaction table of ``folder``: its only one, else the one with a main table's name
    (``ratings.*``, ``u.data``, ``*.inter``, ...), or the folder itself where every candidate is a part of
    one Parquet dataset (``part-00000-....parquet``, as Spark and pyarrow write them); ``named``: the
    columns are given, so any data file is a candidate (check-ins, listening logs are not detected by
    their contents).

    Raises:
        DatasetNotFoundError: no candidate, or several and none with a main table's name.
    """
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")]
    if named:
        cands = [
            p for p in files if not p.name.lower().startswith(("readme", "license")) and p.suffix != ".md"
        ]
    else:
        cands = [p for p in files if _file_kind(p) == "interactions"]
    if not cands:
        raise DatasetNotFoundError(f"{folder}: no interaction file found")
    if len(cands) == 1:
        return cands[0]

    def main(p: Path) -> bool:
        stem = p.name.lower().removesuffix(".gz")
        return stem.endswith(".inter") or any(stem == m or stem.startswith(m + ".") for m in _MAIN_TABLES)

    if all(_PART.match(p.name) for p in cands):
        return folder  # one table written in parts (Spark, pandas, pyarrow): read them together
    mains = [p for p in cands if main(p)]
    if len(mains) == 1:
        return mains[0]
    shown = ", ".join(p.name for p in (mains or cands)[:8])
    raise DatasetNotFoundError(
        f"{folder}: several interaction tables ({shown}): pass the file to use instead of the folder"
    )


def load_path(
    path: str | Path,
    kind: str | None = None,
    *,
    name: str | None = None,
    query_field: str | None = None,
    **options: Any,
) -> Any:
    """Load ``path`` (a folder or file) with the reader for ``kind`` (sniffed when ``None``).

    ``query_field`` (``None``: ``title``) is the TREC topic field(s) that are a text collection's query
    text (:func:`~distillrank.data.formats.sniff.read_text_collection`); any but ``title`` is an error for
    data of another kind.
    """
    path = Path(path)
    if kind is None and options.get("columns") is not None:
        kind = "interactions"  # only interaction tables take columns; theirs may be beyond detection
    kind = kind or detect_kind(path)
    if kind == "text":
        from distillrank.data.formats.sniff import read_text_collection

        return read_text_collection(path, name=name, query_field=query_field or "title", **options)
    if query_field is not None and (field := check_query_field(query_field)) != "title":
        raise DistillrankError(
            f"{path}: query field {field!r} applies to TREC topics files only; this is "
            f"{_KIND_NAMES.get(kind, kind)}, not a text collection"
        )
    if kind == "ltr":
        from distillrank.data.formats.svmlight import read_ltr_folder, read_svmlight

        if path.is_file():
            from distillrank.data.dataset import SplitDataset

            return SplitDataset(name or path.stem, {"test": read_svmlight(path, **options)}, str(path))
        return read_ltr_folder(path, name=name, **options)
    if kind == "interactions":
        from distillrank.data.formats.interactions_io import read_interactions

        if path.is_dir():
            path = _interaction_file(path, named=options.get("columns") is not None)
        return read_interactions(path, **options)
    if kind == "clicks":
        from distillrank.data.formats.clicktable import click_split_of, read_click_file, read_click_folder

        if path.is_file():  # one log: the split its name says (clicks_test.csv), else the log to learn from
            from distillrank.data.dataset import SplitDataset

            split = click_split_of(path.name) or "train"
            return SplitDataset(name or path.stem, {split: read_click_file(path)}, str(path))
        return read_click_folder(path, name=name)
    if kind == "bandit":
        from distillrank.data.formats.obd import read_obd, read_obd_csv

        if path.is_file():
            from distillrank.data.dataset import SplitDataset

            return SplitDataset(name or path.stem, {"test": read_obd_csv(path)}, str(path))
        return read_obd(path, **options)
    raise ValueError(f"unknown dataset kind {kind!r}")
