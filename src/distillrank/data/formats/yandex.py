"""The Yandex relevance-prediction (WSCD 2011) click-log sample, as shipped with PyClick.

This is PyClick's preprocessed layout; the challenge's original layout (one ``Q``/``C`` action per line)
is read by :mod:`~distillrank.data.formats.yandex_original`.

Each session is ``query<TAB>doc1,doc2,...,doc10 : clicked1 , clicked2`` (the click list may be empty:
``... :``). A physical line holds many sessions separated by ``;`` (in the sample, one line per query);
one session per line is read too. Clicks are binary: a document clicked twice counts once, and click
order is not kept.

Data quirk: in the public sample some sessions list clicked documents that are not on the shown page
(191 of 35,064 train sessions, 133 of 21,413 test sessions) — clicks on results the log did not keep.
They cannot be placed at a position, so by default they are dropped with one :class:`DataWarning`
per file; ``unknown_clicks="error"`` rejects such a file, ``"ignore"`` drops them silently.
"""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path
from typing import Literal

import numpy as np

from distillrank.data.clicklog import ClickLog, click_log_from_sessions
from distillrank.data.dataset import SplitDataset
from distillrank.data.formats._split_files import single_file_per_split
from distillrank.errors import DataFormatError, DatasetNotFoundError, DataWarning
from distillrank.io import atomic_write, first_line, open_text

__all__ = ["read_yandex_clicklog", "read_yandex_file", "read_yandex_folder", "write_yandex_clicklog"]

UnknownClicks = Literal["error", "warn", "ignore"]


def read_yandex_clicklog(path: str | Path, unknown_clicks: UnknownClicks = "warn") -> ClickLog:
    """Read a WSCD sample file into a :class:`ClickLog` (one row per shown result).

    Sessions are numbered 0, 1, ... in file order; ``qid`` is the query token, ``position`` 1..n in
    list order, ``click`` 1 when the document is in the session's click list, ``propensity`` NaN.

    Args:
        unknown_clicks: what to do with a clicked document that is not in the shown list (see the
            module docstring): ``"warn"`` (drop, one warning per file), ``"ignore"`` or ``"error"``.

    Raises:
        DataFormatError: ``path:line: session k: problem`` (k counts sessions within the line from 1)
            for a session without ``:``, without a tab between query and results, with an empty or
            repeated document in the shown list, or (with ``unknown_clicks="error"``) a click on a
            document not shown.
    """
    check_unknown_clicks(unknown_clicks)
    path = Path(path)
    with open_text(path) as f:
        text = f.read()
    qids: list[str] = []
    lengths: list[int] = []
    docnos: list[str] = []
    clicks: list[int] = []
    n_unknown = 0
    unknown_sessions = 0
    first_unknown: tuple[int, int, str] | None = None
    for lineno, line in enumerate(text.split("\n"), start=1):
        k = 0
        for seg in line.split(";"):
            if not seg.strip():
                continue
            k += 1

            def bad(problem: str, lineno: int = lineno, k: int = k) -> DataFormatError:
                return DataFormatError(path, lineno, f"session {k}: {problem}")

            left, colon, right = seg.partition(":")
            if not colon:
                raise bad("no ':' between the result list and the clicks")
            if ":" in right:
                raise bad("more than one ':'")
            query, tab, shown = left.strip().partition("\t")
            query, shown = query.strip(), shown.strip()
            if not tab or not query or "\t" in shown or not shown:
                raise bad("expected 'query<TAB>doc1,doc2,... : clicks'")
            docs = [d.strip() for d in shown.split(",")]
            if "" in docs:
                raise bad("empty document id in the result list")
            index = {d: i for i, d in enumerate(docs)}
            if len(index) != len(docs):
                dup = next(d for i, d in enumerate(docs) if index[d] != i)
                raise bad(f"document {dup!r} appears twice in the result list")
            row = [0] * len(docs)
            had_unknown = False
            if right.strip():
                for c in right.split(","):
                    c = c.strip()
                    if not c:
                        continue
                    i = index.get(c)
                    if i is None:
                        if unknown_clicks == "error":
                            raise bad(f"clicked document {c!r} is not in the result list")
                        n_unknown += 1
                        had_unknown = True
                        if first_unknown is None:
                            first_unknown = (lineno, k, c)
                    else:
                        row[i] = 1
            unknown_sessions += had_unknown
            qids.append(query)
            lengths.append(len(docs))
            docnos.extend(docs)
            clicks.extend(row)
    if n_unknown and unknown_clicks == "warn" and first_unknown is not None:
        ln, k, c = first_unknown
        warnings.warn(
            f"{path}: dropped {n_unknown} clicks in {unknown_sessions} sessions on documents not in the "
            "shown list "
            f"(first: line {ln}, session {k}, document {c!r})",
            DataWarning,
            stacklevel=2,
        )
    session_ids = np.arange(len(lengths), dtype=np.int64)
    return click_log_from_sessions(session_ids, qids, lengths, docnos, clicks, source=path)


def _check_field(value: str, what: str, sid: int, path: Path) -> None:
    if not value or any(ch in value for ch in "\t\n\r;,: "):
        raise DataFormatError(
            path, None, f"session {sid}: {what} {value!r} cannot be written in the Yandex format"
        )


def write_yandex_clicklog(log: ClickLog, path: str | Path) -> None:
    """Write ``log`` in the WSCD sample format, atomically.

    Consecutive sessions of one query share a line, ``; ``-separated (the sample's layout), so reading
    the file back gives the same sessions in the same order. Positions of a session must be 1..n;
    propensities and extra columns are not part of the format and are not written.
    """
    path = Path(path)
    df = log.df.sort_values(["session_id", "position"], kind="stable")
    if len(df):
        g = df.groupby("session_id", sort=False)["position"]
        ok = (g.transform("min") == 1) & (g.transform("max") == g.transform("size"))
        ok &= ~df.duplicated(["session_id", "position"])
        if not ok.all():
            sid = df.loc[~ok, "session_id"].iloc[0]
            raise DataFormatError(path, None, f"session {sid}: positions must be 1..n")
    sids = df["session_id"].to_numpy()
    qids = df["qid"].astype(str).tolist()
    docnos = df["docno"].astype(str).tolist()
    clicks = df["click"].to_numpy().tolist()
    bounds = np.concatenate([[0], np.flatnonzero(sids[1:] != sids[:-1]) + 1, [len(sids)]]).tolist()
    out: list[str] = []
    parts: list[str] = []
    current: str | None = None
    for a, b in itertools.pairwise(bounds):
        sid, qid, docs = sids[a], qids[a], docnos[a:b]
        _check_field(qid, "query", sid, path)
        for d in docs:
            _check_field(d, "document", sid, path)
        clicked = [d for d, c in zip(docs, clicks[a:b], strict=True) if c]
        sess = f"{qid}\t{','.join(docs)} :" + (f" {' , '.join(clicked)}" if clicked else "")
        if qid != current and parts:
            out.append("; ".join(parts) + ";")
            parts = []
        current = qid
        parts.append(sess)
    if parts:
        out.append("; ".join(parts) + ";")
    with atomic_write(path) as f:
        f.write("".join(line + "\n" for line in out))


def read_yandex_folder(
    folder: str | Path, unknown_clicks: UnknownClicks = "warn", name: str | None = None
) -> SplitDataset[ClickLog]:
    """Read ``trainSample``/``testSample`` (or files named ``*train*``/``*test*``) as splits ``train``
    and ``test``; a file in the original WSCD 2011 layout is read by
    :func:`~distillrank.data.formats.yandex_original.read_yandex_original`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetNotFoundError(f"{folder}: not a folder of Yandex click-log files")
    found: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        low = p.name.lower()
        if not p.is_file() or low.startswith(".") or low.endswith((".md", ".json", ".parquet", ".query")):
            continue
        for split in ("train", "test"):
            if split in low:
                found.setdefault(split, []).append(p)
    if not found:
        raise DatasetNotFoundError(
            f"{folder}: no Yandex click-log files found (expected trainSample/testSample or files "
            "with 'train'/'test' in their names)"
        )
    files = single_file_per_split(folder, found)
    splits: dict[str, ClickLog] = {
        s: read_yandex_file(files[s], unknown_clicks) for s in ("train", "test") if s in files
    }
    return SplitDataset(name or folder.name, splits, source=str(folder))


def check_unknown_clicks(unknown_clicks: str) -> None:
    """The readers' ``unknown_clicks`` must be ``"error"``, ``"warn"`` or ``"ignore"``."""
    if unknown_clicks not in ("error", "warn", "ignore"):
        raise ValueError(f"unknown_clicks must be 'error', 'warn' or 'ignore', not {unknown_clicks!r}")


def read_yandex_file(path: str | Path, unknown_clicks: UnknownClicks = "warn") -> ClickLog:
    """A Yandex click-log file in the sample layout (:func:`read_yandex_clicklog`) or the original one
    (:func:`~distillrank.data.formats.yandex_original.read_yandex_original`), by its first line."""
    from distillrank.data.formats.yandex_original import is_yandex_original_line, read_yandex_original

    first = first_line(path)
    if is_yandex_original_line(first):
        return read_yandex_original(path, unknown_clicks)
    return read_yandex_clicklog(path, unknown_clicks)
