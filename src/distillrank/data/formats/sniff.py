"""Tell text-collection files apart by their first few kilobytes, and dispatch to the right reader.

:func:`sniff_file` names what one file holds; :func:`detect_text_format` names the format of a folder
(``"beir"``, ``"trec"``, ``"smart"`` or ``"msmarco"``); :func:`read_text_collection` reads it;
:func:`read_qrels_file` reads any qrels file. The format modules import this one; it imports them only
inside functions.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from distillrank.data.collection import Qrels, TextCollection
from distillrank.errors import DataFormatError, DatasetNotFoundError, DataWarning, DistillrankError
from distillrank.io import compression, open_text, require_file

__all__ = [
    "SPLIT_WORDS",
    "detect_text_format",
    "group_files",
    "qrels_layout",
    "qrels_split",
    "read_qrels_file",
    "read_text_collection",
    "sniff_file",
]

HEAD_CHARS = 16384
SKIP_SUFFIXES = {".md", ".readme", ".pdf", ".html", ".htm", ".py", ".json", ".yaml", ".yml", ".zip", ".tar"}
BEIR_NAMES = ("corpus.jsonl", "corpus.jsonl.gz")

SPLIT_WORDS = ("train", "dev", "valid", "test", "eval")
"""What a qrels file name says its split is: the first of these in the name (``msmarco-doctrain-qrels.tsv``
is ``train``); a file with none of them is split ``test``."""
_SPLIT = re.compile("|".join(SPLIT_WORDS))

_DOC = re.compile(r"<DOC>", re.IGNORECASE)
_DOCNO = re.compile(r"<DOCNO>", re.IGNORECASE)
_TOP = re.compile(r"<top>|<topic\b", re.IGNORECASE)
_SMART = re.compile(r"\.I(\s|$)")


def _head_lines(path: Path, max_lines: int = 200) -> list[str]:
    """The first non-blank complete lines of a file (``.gz`` ok); ``[]`` if unreadable or binary."""
    try:
        with open_text(path, warn=False) as f:
            head = f.read(HEAD_CHARS)
    except (OSError, EOFError, UnicodeError, DistillrankError):
        return []
    if "\x00" in head:
        return []
    lines = head.splitlines()
    if len(head) == HEAD_CHARS and len(lines) > 1:
        lines = lines[:-1]
    return [line for line in lines if line.strip()][:max_lines]


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _tab_fields(line: str) -> list[str]:
    """The tab-separated fields of a line, less blank ones at its end beyond the second (a trailing tab
    or spaces add no column; ``qid<TAB>`` still reads as a query with an empty text)."""
    fields = line.rstrip("\r\n").split("\t")
    while len(fields) > 2 and not fields[-1].strip():
        fields.pop()
    return fields


def _table_kind(lines: list[str]) -> str | None:
    """``"qrels"``, ``"run"`` or ``"tsv-topics"`` for column files, else ``None``."""
    if all("\t" in line for line in lines):
        fields = [_tab_fields(line) for line in lines]
        widths = {len(f) for f in fields}
        if widths == {2} and not all(_is_number(f[1]) for f in fields):
            return "tsv-topics"
        if widths == {3} and all(_is_number(f[2]) for f in fields[1:]):
            return "run" if _ranked(fields) else "qrels"
    rows = [line.split() for line in lines]
    widths = {len(r) for r in rows}
    if widths == {6} and all(_is_number(r[3]) and _is_number(r[4]) for r in rows):
        return "run"
    if len(widths) == 1 and widths <= {3, 4} and all(_is_number(r[-1]) for r in rows):
        return "run" if widths == {3} and _ranked(rows) else "qrels"
    return None


def _ranked(rows: list[list[str]]) -> bool:
    """Whether ``qid docno n`` rows are an MS MARCO run rather than qrels: each query's third column counts
    ``1, 2, 3, ...`` in file order, and some query reaches 5 (more than a relevance grade)."""
    seen: dict[str, int] = {}
    for r in rows:
        expected = seen.get(r[0], 0) + 1
        if r[2] != str(expected):
            return False
        seen[r[0]] = expected
    return max(seen.values(), default=0) >= 5


def sniff_file(path: str | Path) -> str | None:
    """What a file holds, from its first lines.

    Returns one of ``"trec-docs"`` (``<DOC>``), ``"trec-topics"`` (``<top>``), ``"smart"`` (starts with
    ``.I``), ``"jsonl"``, ``"qrels"`` (3 or 4 columns, numeric last; or BEIR's TSV with header), ``"run"``
    (6 columns, or MS MARCO's ``qid docno rank`` where each query's ranks count 1, 2, 3, ...),
    ``"tsv-topics"`` (``qid<TAB>text``), or ``None`` when it is none of these.
    """
    lines = _head_lines(Path(path))
    if not lines:
        return None
    head = "\n".join(lines)
    if _DOC.search(head) and _DOCNO.search(head):
        return "trec-docs"
    if _TOP.search(head):
        return "trec-topics"
    if _SMART.match(lines[0]):
        return "smart"
    if lines[0].lstrip().startswith("{"):
        return "jsonl"
    return _table_kind(lines)


def qrels_layout(path: str | Path) -> str:
    """The layout of a qrels file, one of :data:`~distillrank.data.formats.trec.QRELS_LAYOUTS`.

    ``"beir"`` (tab-separated with a header line), ``"triple"`` (3 columns), and for 4 columns ``"cisi"``
    (``qid docno 0 0.0``: third and fourth columns always zero) or else ``"trec"`` (``qid iter docno rel``).

    Raises:
        DatasetNotFoundError: no such file.
        DataFormatError: the file does not look like qrels.
    """
    path = Path(path)
    require_file(path)
    lines = _head_lines(path)
    if not lines:
        raise DataFormatError(path, None, "empty or unreadable qrels file")
    first = _tab_fields(lines[0])
    if len(first) == 3 and not _is_number(first[2]):
        return "beir"
    rows = [line.split() for line in lines]
    width = len(rows[0])
    if width == 3:
        return "triple"
    if width == 4:
        cisi = all(
            len(r) == 4 and r[2] == "0" and _is_number(r[3]) and float(r[3]) == 0 for r in rows
        ) and any(r[1] not in ("0", "Q0") for r in rows)
        return "cisi" if cisi else "trec"
    raise DataFormatError(
        path,
        1,
        f"not a qrels line: found {width} columns; expected 'qid iter docno rel', 'qid docno rel' "
        "or a BEIR TSV with header 'query-id corpus-id score'",
    )


def qrels_split(path: Path) -> str:
    """The split a qrels file holds: the first of :data:`SPLIT_WORDS` in its name, else ``test``."""
    m = _SPLIT.search(path.name.lower())
    return m.group(0) if m else "test"


def read_qrels_file(path: str | Path) -> Qrels:
    """Read qrels in any layout :func:`qrels_layout` recognises (labels as written in the file)."""
    from distillrank.data.formats.trec import parse_qrels

    return parse_qrels(path, qrels_layout(path))


def data_files(folder: Path) -> list[Path]:
    """Regular files under ``folder`` (recursively), sorted, minus hidden files and documentation."""
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        if p.suffix.lower() in SKIP_SUFFIXES or p.name.lower().startswith("readme"):
            continue
        out.append(p)
    return out


def group_files(folder: str | Path, *, warn: bool = True) -> dict[str, list[Path]]:
    """The data files under ``folder`` grouped by :func:`sniff_file` kind (unrecognised ones left out; one
    :class:`DataWarning`, unless ``warn`` is false, names those compressed in a way
    :func:`~distillrank.io.open_text` cannot read)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetNotFoundError(f"{folder}: no such folder")
    groups: dict[str, list[Path]] = {}
    unreadable: list[str] = []
    for p in data_files(folder):
        kind = sniff_file(p)
        if kind is not None:
            groups.setdefault(kind, []).append(p)
        elif (how := compression(p)) not in (None, "gzip", "bzip2", "xz", "zip"):
            unreadable.append(f"{p.relative_to(folder)} ({how})")
    if unreadable and warn:
        shown = ", ".join(unreadable[:5]) + (", ..." if len(unreadable) > 5 else "")
        warnings.warn(
            f"{folder}: skipped {len(unreadable)} file(s) compressed in a way that cannot be read here "
            f"(gzip, bzip2, xz and a one-file zip can): {shown}; decompress them to use them",
            DataWarning,
            stacklevel=2,
        )
    return groups


_FILE_FORMATS = {"jsonl": "beir", "trec-docs": "trec", "trec-topics": "trec", "smart": "smart"}


def detect_text_format(path: str | Path) -> str:
    """``"beir"``, ``"trec"``, ``"smart"`` or ``"msmarco"``: the format of a collection folder (or of a file).

    A folder is BEIR if it holds ``corpus.jsonl(.gz)``, TREC if it holds ``<DOC>`` files, SMART if it holds
    files of ``.I`` records, MS MARCO if it holds a tab-separated corpus named like ``collection.tsv``
    (:data:`~distillrank.data.formats.msmarco.CORPUS_NAME`).

    Raises:
        DatasetNotFoundError: ``path`` does not exist.
        DataFormatError: no collection (or two kinds of collection) found there.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetNotFoundError(
            f"{path}: no such file or folder; pass a BEIR, TREC or SMART collection folder"
        )
    if path.is_file():
        fmt = _FILE_FORMATS.get(sniff_file(path) or "")
        if fmt is None:
            raise DataFormatError(path, None, "not a BEIR (.jsonl), TREC (<DOC>, <top>) or SMART (.I) file")
        return fmt
    if any((path / n).is_file() for n in BEIR_NAMES):
        return "beir"
    kinds = group_files(path, warn=False)  # (the reader warns)
    found = [fmt for kind, fmt in (("trec-docs", "trec"), ("smart", "smart")) if kind in kinds]
    if len(found) == 2:
        raise DataFormatError(
            path, None, "holds both TREC <DOC> files and SMART .I files; pass the folder of one collection"
        )
    if not found:
        from distillrank.data.formats.msmarco import find_tsv_corpus

        if find_tsv_corpus(path) is not None:
            return "msmarco"
        _refuse_parent_of_beir_folders(path)
        raise DataFormatError(
            path,
            None,
            "no text collection found: expected corpus.jsonl (BEIR), files with <DOC> (TREC), "
            "files of .I records (SMART) or a tab-separated collection.tsv (MS MARCO)",
        )
    return found[0]


def _refuse_parent_of_beir_folders(folder: Path) -> None:
    """Name the BEIR collections in the subfolders of ``folder`` (CQADupStack's ``android/``, ``english/``,
    or a folder of downloaded BEIR datasets), if there are any, in a :class:`DataFormatError`."""
    nested = sorted({p.parent.relative_to(folder) for n in BEIR_NAMES for p in folder.rglob(n)})
    if nested:
        shown = ", ".join(str(p) for p in nested[:6]) + (", ..." if len(nested) > 6 else "")
        raise DataFormatError(
            folder,
            None,
            f"not a collection itself, but holds {len(nested)} BEIR collection folder(s) ({shown}); "
            "pass one of them",
        )


_ONE_TEXT_QUERIES = {
    "beir": "a BEIR collection, whose queries (queries.jsonl)",
    "smart": "a SMART collection, whose queries (.I/.W records)",
    "msmarco": "an MS MARCO collection, whose queries (qid<TAB>text files)",
}
"""What a query-field error says of the collections whose queries have one text each."""


def read_text_collection(
    path: str | Path, name: str | None = None, query_field: str = "title"
) -> TextCollection:
    """Read a BEIR, TREC, SMART or MS MARCO collection folder, whichever :func:`detect_text_format` finds.

    ``query_field``: the TREC topic field(s) that are the query text (``title``, ``desc``, ``narr`` or
    several joined with ``+``: :func:`~distillrank.data.formats.trec.check_query_field`). Any but
    ``title`` is an error for a collection whose queries have one text each (BEIR, SMART, MS MARCO).

    Raises:
        ValueError: ``query_field`` is not a field (or fields) of TREC topics.
        DistillrankError: a ``query_field`` other than ``title`` for a collection without TREC topics.
    """
    from distillrank.data.formats.beir import read_beir
    from distillrank.data.formats.msmarco import read_msmarco
    from distillrank.data.formats.smart import read_smart_collection
    from distillrank.data.formats.trec import check_query_field, read_trec_collection

    path = Path(path)
    field = check_query_field(query_field)
    fmt = detect_text_format(path)
    if not path.is_dir():
        raise DataFormatError(
            path, None, f"a {fmt.upper()} file alone is not a collection: pass the folder that holds it"
        )
    if fmt == "trec":
        return read_trec_collection(path, name=name, field=field)
    if field != "title":
        raise DistillrankError(
            f"{path}: query field {field!r} applies to TREC topics files (<top> or <topic> blocks) only; "
            f"this is {_ONE_TEXT_QUERIES[fmt]} have one text each"
        )
    readers = {"beir": read_beir, "smart": read_smart_collection, "msmarco": read_msmarco}
    return readers[fmt](path, name=name)


def read_text_qrels(path: str | Path) -> dict[str, Qrels]:
    """The qrels of every split of a collection folder, as :func:`read_text_collection` reads them.

    BEIR and MS MARCO folders are read without their corpus (judged documents are then not checked
    against it): evaluating a run needs the qrels only, and a corpus of millions of passages costs
    gigabytes and seconds to read. TREC and SMART collections are read whole.
    """
    from distillrank.data.formats.beir import read_beir_splits
    from distillrank.data.formats.msmarco import read_msmarco_splits

    path = Path(path)
    fmt = detect_text_format(path)
    if path.is_dir() and fmt == "beir":
        return read_beir_splits(path)
    if path.is_dir() and fmt == "msmarco":
        return read_msmarco_splits(path)
    return dict(read_text_collection(path).qrels)
