"""TREC formats: ``<DOC>`` documents, ``<top>`` topics, qrels, runs, and whole TREC-style collections.

* documents: ``<DOC><DOCNO>id</DOCNO> ... </DOC>``; the title comes from the :data:`TITLE_TAGS`
  (``<TITLE>``, ``<HEADLINE>``, FBIS's ``<TI>``, ...), the text from ``<TEXT>`` (or, without one, from
  everything else in the ``<DOC>``); tags and ``<!-- comments -->`` are stripped, entities (``&amp;``,
  ``&hyph;``) decoded and whitespace collapsed.
* topics: ``<top><num>..</num><title>..</title><desc>..</desc><narr>..</narr></top>``, with closed tags
  (Vaswani) or unclosed ones (``<num> Number: 301``, classic TREC), XML ``<topic number="1"><query>..``
  (TREC-COVID, Web track), or a plain ``qid<TAB>text`` file.
* qrels: ``qid iter docno rel`` (also read: ``qid docno rel`` and BEIR's TSV, see :func:`parse_qrels`).
* runs: ``qid Q0 docno rank score tag`` (also read: MS MARCO's ``qid docno rank``, and ``qid docno score``).

Every error names the file and the 1-based line (:class:`~distillrank.errors.DataFormatError`).
"""

from __future__ import annotations

import html
import math
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from distillrank.data.collection import Corpus, Qrels, Queries, TextCollection
from distillrank.data.formats.sniff import group_files, qrels_layout, qrels_split
from distillrank.data.run import Run
from distillrank.errors import DataFormatError, DatasetNotFoundError, DataWarning
from distillrank.io import atomic_write, open_text, require_file

__all__ = [
    "QRELS_LAYOUTS",
    "TOPIC_FIELDS",
    "align_query_ids",
    "assemble_collection",
    "check_qrels",
    "check_query_field",
    "check_trec_ids",
    "is_trec_id",
    "merge_queries",
    "parse_qrels",
    "read_trec_collection",
    "read_trec_docs",
    "read_trec_qrels",
    "read_trec_run",
    "read_trec_topics",
    "write_trec_qrels",
    "write_trec_run",
]

# layout -> (number of columns, qid column, docno column, relevance column or None = always 1, description)
QRELS_LAYOUTS: dict[str, tuple[int, int, int, int | None, str]] = {
    "trec": (4, 0, 2, 3, "qid iter docno rel"),
    "triple": (3, 0, 1, 2, "qid docno rel"),
    "beir": (3, 0, 1, 2, "tab-separated query-id corpus-id score"),
    "cisi": (4, 0, 1, None, "qid docno 0 0.0"),
}

TITLE_TAGS = ("TITLE", "HEADLINE", "HEAD", "TI", "HL")
"""Tags that hold a document's title: ``<HEADLINE>`` (FT, LA Times), ``<TI>`` (FBIS), ``<HL>`` (WSJ), ..."""
TOPIC_LABELS = {"num": "number:", "title": "topic:", "desc": "description:", "narr": "narrative:"}
TOPIC_FIELDS = ("title", "desc", "narr")
"""The topic fields a query can be made of (:func:`check_query_field`): title, description, narrative."""

_DOC_TAG = re.compile(r"<(/?)DOC>", re.IGNORECASE)
_DOCNO = re.compile(r"<DOCNO>(.*?)</DOCNO>", re.IGNORECASE | re.DOTALL)
_TEXT = re.compile(r"<TEXT>(.*?)</TEXT>", re.IGNORECASE | re.DOTALL)
_TITLE = re.compile(r"<(" + "|".join(TITLE_TAGS) + r")>(.*?)</\1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][\w.:-]*(?:\s[^<>]*)?/?>")
_TOP = re.compile(r"<top>(.*?)</top>", re.IGNORECASE | re.DOTALL)
_XML_TOPIC = re.compile(r"<topic\b([^>]*)>(.*?)</topic>", re.IGNORECASE | re.DOTALL)
_XML_NUMBER = re.compile(r"""\bnumber\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
_XML_FIELD = re.compile(r"<([A-Za-z]+)\b[^>]*>(.*?)</\1>", re.DOTALL)

XML_TOPIC_FIELDS = {
    "title": ("title", "query"),
    "desc": ("desc", "description", "question"),
    "narr": ("narr", "narrative"),
}
"""Topic field -> the element names that hold it in XML topics (TREC-COVID, the Web and Deep Learning
tracks: ``<topic number="1"><query>..</query><question>..</question><narrative>..</narrative></topic>``)."""
_FIELD = re.compile(r"<([A-Za-z]+)>")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)

TREC_ENTITIES = {"hyph": "-", "blank": " "}
"""Entities of the TREC disks (the Federal Register's) that HTML does not define."""
_TREC_ENTITY = re.compile(r"&(" + "|".join(TREC_ENTITIES) + r");", re.IGNORECASE)


def _clean(s: str) -> str:
    """Strip SGML comments and tags, decode character entities (:func:`_unescape`), collapse whitespace."""
    return " ".join(_unescape(_TAG.sub(" ", _COMMENT.sub(" ", s))).split())


def _unescape(s: str) -> str:
    """Decode HTML entities (``&amp;``, ``&sect;``) and the TREC disks' own (``&hyph;``, ``&blank;``)."""
    if "&" not in s:
        return s
    return html.unescape(_TREC_ENTITY.sub(lambda m: TREC_ENTITIES[m.group(1).lower()], s))


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"


def _as_paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths, str | Path):
        return [Path(paths)]
    return [Path(p) for p in paths]


def _read_text(path: Path, warn: bool = True) -> str:
    require_file(path)
    with open_text(path, warn=warn) as f:
        return f.read()


def _data_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of the non-blank lines of a file (``.gz`` ok)."""
    require_file(path)
    with open_text(path) as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                yield n, line


# --------------------------------------------------------------------------------------------- documents


def _doc_blocks(text: str, path: Path) -> Iterator[tuple[int, str]]:
    """``(line of <DOC>, contents)`` for every ``<DOC>...</DOC>`` block, checking that tags pair up."""
    line, pos, start, start_line = 1, 0, -1, 0
    for m in _DOC_TAG.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        closing = bool(m.group(1))
        if not closing:
            if start >= 0:
                raise DataFormatError(path, line, f"<DOC> inside the <DOC> opened on line {start_line}")
            start, start_line = m.end(), line
        else:
            if start < 0:
                raise DataFormatError(path, line, "</DOC> without a matching <DOC>")
            yield start_line, text[start : m.start()]
            start = -1
    if start >= 0:
        raise DataFormatError(path, start_line, "<DOC> has no closing </DOC>")


def _parse_doc(block: str, path: Path, line: int) -> tuple[str, str, str]:
    m = _DOCNO.search(block)
    if m is None:
        raise DataFormatError(path, line, "<DOC> has no <DOCNO>")
    docno = m.group(1).strip()
    if not docno:
        raise DataFormatError(path, line, "empty <DOCNO>")
    rest = block[: m.start()] + " " + block[m.end() :]
    title = " ".join(_clean(t.group(2)) for t in _TITLE.finditer(rest)).strip()
    texts = [t.group(1) for t in _TEXT.finditer(rest)]
    body = " ".join(texts) if texts else _TITLE.sub(" ", rest)
    return docno, title, _clean(body)


def read_trec_docs(paths: str | Path | Iterable[str | Path]) -> Corpus:
    """Read one or several TREC ``<DOC>`` files (``.gz`` ok) into a :class:`Corpus`.

    Raises:
        DataFormatError: unpaired ``<DOC>`` tags, a ``<DOC>`` without ``<DOCNO>``, or a duplicate docno
            (naming both places).
    """
    docnos: list[str] = []
    titles: list[str] = []
    texts: list[str] = []
    seen: dict[str, tuple[Path, int]] = {}
    files = _as_paths(paths)
    for path in files:
        for line, block in _doc_blocks(_read_text(path, warn=False), path):  # text: cp1252 is harmless
            docno, title, text = _parse_doc(block, path, line)
            if docno in seen:
                first_path, first_line = seen[docno]
                where = f"line {first_line}" if first_path == path else f"{first_path}:{first_line}"
                raise DataFormatError(path, line, f"duplicate document id {docno!r} (first on {where})")
            seen[docno] = (path, line)
            docnos.append(docno)
            titles.append(title)
            texts.append(text)
    return Corpus(docnos, titles, texts, source=files[0] if len(files) == 1 else None)


# ----------------------------------------------------------------------------------------------- topics


def _topic_fields(block: str) -> dict[str, str]:
    """``field -> cleaned text`` for the open tags of one ``<top>`` block (labels like ``Number:`` cut)."""
    tags = list(_FIELD.finditer(block))
    out: dict[str, str] = {}
    for i, m in enumerate(tags):
        end = tags[i + 1].start() if i + 1 < len(tags) else len(block)
        name = m.group(1).lower()
        value = _clean(block[m.end() : end])
        label = TOPIC_LABELS.get(name)
        if label and value.lower().startswith(label):
            value = value[len(label) :].strip()
        out[name] = f"{out[name]} {value}".strip() if name in out else value
    return out


def add_query(
    queries: dict[str, str],
    lines: dict[str, int],
    qid: str,
    text: str,
    path: Path,
    line: int,
    empty: list[tuple[str, int]] | None = None,
) -> None:
    """Add one query, rejecting a duplicate id (naming both lines). A query with empty text is an error,
    or, given ``empty``, left out and recorded there (``(qid, line)``) for :func:`warn_empty_queries`."""
    if qid in lines:
        raise DataFormatError(path, line, f"duplicate query id {qid!r} (first on line {lines[qid]})")
    lines[qid] = line
    if not text:
        if empty is None:
            raise DataFormatError(path, line, f"query {qid!r} has empty text")
        empty.append((qid, line))
        return
    queries[qid] = text


def warn_empty_queries(path: Path, empty: list[tuple[str, int]]) -> None:
    """One DataWarning naming the queries :func:`add_query` left out for their empty text: a blank query
    (often of a split nobody runs) should not make a whole collection unreadable."""
    if not empty:
        return
    shown = ", ".join(f"{q!r} (line {n})" for q, n in empty[:5]) + (", ..." if len(empty) > 5 else "")
    warnings.warn(
        f"{path}: {_plural(len(empty), 'query', 'queries')} with empty text left out: {shown}; "
        "judgements of them are dropped",
        DataWarning,
        stacklevel=3,
    )


def check_query_field(field: str) -> str:
    """``field`` as the query field of TREC topics: one of :data:`TOPIC_FIELDS` or several joined with
    ``+``, in lower case without spaces (``"Title + Desc"`` gives ``"title+desc"``).

    >>> check_query_field("Title+desc")
    'title+desc'

    Raises:
        ValueError: ``must be title, desc or narr, or several joined with '+' such as title+desc (got ...)``.
    """
    parts = [p.strip().lower() for p in str(field).split("+")]
    if not all(p in TOPIC_FIELDS for p in parts) or len(set(parts)) < len(parts):
        raise ValueError(
            f"must be {', '.join(TOPIC_FIELDS[:-1])} or {TOPIC_FIELDS[-1]}, or several joined with '+' "
            f"such as title+desc (got {field!r})"
        )
    return "+".join(parts)


def read_trec_topics(path: str | Path, field: str = "title") -> Queries:
    """Read TREC topics (``<top>`` blocks, closed or classic unclosed tags; or XML ``<topic number="N">``
    elements) or a ``qid<TAB>text`` file.

    Args:
        path: the topics file (``.gz`` ok).
        field: which topic field is the query text: ``"title"``, ``"desc"``, ``"narr"``, or several
            joined with ``+`` (``"title+desc"``; :func:`check_query_field`). A ``qid<TAB>text`` file has
            one text per query: any field but ``"title"`` is an error there.

    Raises:
        DataFormatError: a topic without ``<num>`` or without the field, an empty query, a duplicate id;
            a field other than ``"title"`` for a ``qid<TAB>text`` file.
    """
    path = Path(path)
    text = _read_text(path)
    wanted = [f.strip().lower() for f in field.split("+")]
    queries: dict[str, str] = {}
    lines: dict[str, int] = {}
    empty: list[tuple[str, int]] = []
    if not _TOP.search(text):
        if _XML_TOPIC.search(text):
            return _read_xml_topics(path, text, wanted)
        tsv = _read_tsv_topics(path, text)
        if wanted != ["title"]:
            raise DataFormatError(
                path,
                None,
                f"query field {field!r} applies to TREC topics (<top> or <topic> blocks) only; this file "
                "has qid<TAB>text lines, one text per query",
            )
        return tsv
    line, pos = 1, 0
    for m in _TOP.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        fields = _topic_fields(m.group(1))
        qid = fields.get("num", "").split(" ")[0]
        if not qid:
            raise DataFormatError(path, line, "topic has no <num>")
        missing = [f for f in wanted if f not in fields]
        if missing:
            raise DataFormatError(path, line, f"topic {qid!r} has no <{missing[0]}>")
        add_query(queries, lines, qid, " ".join(fields[f] for f in wanted).strip(), path, line, empty)
    warn_empty_queries(path, empty)
    return Queries(queries)


def _read_xml_topics(path: Path, text: str, wanted: list[str]) -> Queries:
    """Queries of ``<topic number="N">`` elements (or ``<topic><num>N</num>``, as NTCIR's); each wanted
    field is read from the first of its :data:`XML_TOPIC_FIELDS` elements the topic has (``title`` from
    ``<title>`` or ``<query>``)."""
    queries: dict[str, str] = {}
    lines: dict[str, int] = {}
    empty: list[tuple[str, int]] = []
    line, pos = 1, 0
    for m in _XML_TOPIC.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        fields: dict[str, str] = {}
        for f in _XML_FIELD.finditer(m.group(2)):
            fields.setdefault(f.group(1).lower(), _clean(f.group(2)))
        number = _XML_NUMBER.search(m.group(1))
        qid = number.group(1) if number else fields.get("num", "").removeprefix("Number:").strip()
        if not qid:
            raise DataFormatError(path, line, '<topic> has neither a number="..." attribute nor a <num>')
        parts = []
        for want in wanted:
            names = XML_TOPIC_FIELDS.get(want, (want,))
            found = next((fields[n] for n in names if n in fields), None)
            if found is None:
                raise DataFormatError(path, line, f"topic {qid!r} has no <{'> or <'.join(names)}>")
            parts.append(found)
        add_query(queries, lines, qid, " ".join(parts).strip(), path, line, empty)
    warn_empty_queries(path, empty)
    return Queries(queries)


def _read_tsv_topics(path: Path, text: str) -> Queries:
    queries: dict[str, str] = {}
    lines: dict[str, int] = {}
    empty: list[tuple[str, int]] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        parts = raw.split("\t", 1)
        if len(parts) != 2:
            raise DataFormatError(path, n, "expected <top> topics or 'qid<TAB>text' lines")
        add_query(queries, lines, parts[0].strip(), " ".join(parts[1].split()), path, n, empty)
    warn_empty_queries(path, empty)
    return Queries(queries)


# ------------------------------------------------------------------------------------------------ qrels


def _relevance(token: str, path: Path, line: int) -> int:
    try:
        return int(token)
    except ValueError:
        pass
    try:
        value = float(token)
    except ValueError:
        value = math.nan
    if not value.is_integer():
        raise DataFormatError(path, line, f"relevance {token!r} is not an integer")
    return int(value)


def parse_qrels(path: str | Path, layout: str = "trec") -> Qrels:
    """Read a qrels file in one of :data:`QRELS_LAYOUTS`.

    Layouts: ``"trec"`` (``qid iter docno rel``), ``"triple"`` (``qid docno rel``), ``"beir"`` (tab-separated
    ``query-id corpus-id score`` with a header line), ``"cisi"`` (``qid docno 0 0.0``: every listed pair is
    relevant, label 1). Blank lines are skipped, and so is a header line (a first line whose last column is
    not a number) in the ``"beir"`` and ``"triple"`` layouts; whitespace at the end of a line (a trailing
    tab, as some tools write) is ignored. A pair judged twice with the same label is kept once (with a
    :class:`DataWarning`); with different labels it is an error.
    """
    path = Path(path)
    n_cols, qcol, dcol, rcol, desc = QRELS_LAYOUTS[layout]
    sep = "\t" if layout == "beir" else None
    data: dict[str, dict[str, int]] = {}
    where: dict[str, dict[str, int]] = {}
    repeats = 0
    for i, (n, raw) in enumerate(_data_lines(path)):
        parts = raw.rstrip().split(sep) if sep else raw.split()
        if i == 0 and layout in ("beir", "triple") and _is_header(parts):
            continue
        if len(parts) != n_cols:
            raise DataFormatError(path, n, f"expected {n_cols} columns ({desc}), found {len(parts)}")
        qid, docno = parts[qcol].strip(), parts[dcol].strip()
        rel = 1 if rcol is None else _relevance(parts[rcol].strip(), path, n)
        row = data.setdefault(qid, {})
        if docno in row:
            first = where[qid][docno]
            if row[docno] != rel:
                raise DataFormatError(
                    path, n, f"query {qid!r}, document {docno!r} judged twice (also on line {first})"
                )
            repeats += 1
            continue
        row[docno] = rel
        where.setdefault(qid, {})[docno] = n
    if repeats:
        warnings.warn(
            f"{path}: {_plural(repeats, 'judgement')} repeated with the same label; kept once",
            DataWarning,
            stacklevel=2,
        )
    return Qrels(data)


def _is_header(parts: list[str]) -> bool:
    try:
        float(parts[-1])
    except ValueError:
        return True
    return False


def read_trec_qrels(path: str | Path) -> Qrels:
    """Read TREC qrels: ``qid iter docno rel``, whitespace separated (``.gz`` ok)."""
    return parse_qrels(path, "trec")


def write_trec_qrels(qrels: Qrels, path: str | Path) -> None:
    """Write TREC qrels ``qid 0 docno rel``, atomically; ids hold no whitespace (:func:`check_trec_ids`)."""
    for qid, docs in qrels.items():
        check_trec_ids(qid, docs, path)
    with atomic_write(path) as f:
        for qid, docs in qrels.items():
            f.writelines(f"{qid} 0 {docno} {rel}\n" for docno, rel in docs.items())


# ------------------------------------------------------------------------------------------------- runs


def read_trec_run(path: str | Path, name: str | None = None) -> Run:
    """Read a TREC run ``qid Q0 docno rank score tag`` (``.gz`` ok), or an MS MARCO run ``qid docno rank``.

    The run's name is ``name``, else the tag of the first line. Ranks are checked (integers, no two
    documents with the same rank in a query) but the order comes from the scores, as in trec_eval;
    equal scores with distinct ranks are legal. A file whose first line has 3 columns is an MS MARCO run
    (what Pyserini writes with ``--output-format msmarco``: its score is minus the rank) when each query's
    third column counts ``1..n``, else ``qid docno score``.

    Raises:
        DataFormatError: wrong column count, a non-integer rank, a non-numeric or non-finite score, a
            document listed twice for a query, or a rank given twice for a query.
    """
    path = Path(path)
    data: dict[str, dict[str, float]] = {}
    rank_sets: dict[str, set[int]] = {}
    whole: dict[str, set[int]] = {}  # 3 columns: each query's third column while it is whole numbers
    counts_up = True  # ... and whether every query's counts 1..n (MS MARCO ranks), decided at the end
    tag = None
    width = 0
    for n, raw in _data_lines(path):
        parts = raw.split()
        width = width or (3 if len(parts) == 3 else 6)
        if len(parts) != width:
            what = (
                "qid Q0 docno rank score tag"
                if width == 6
                else "qid docno rank (MS MARCO) or qid docno score"
            )
            raise DataFormatError(path, n, f"expected {width} columns ({what}), found {len(parts)}")
        if width == 3:  # the third column is a rank or a score: told when every line is read
            qid, docno, score_s = parts
            if counts_up and score_s.isdigit():
                whole.setdefault(qid, set()).add(int(score_s))
            else:
                counts_up = False
        else:
            qid, _, docno, rank_s, score_s, line_tag = parts
            tag = tag or line_tag
            try:
                rank = int(rank_s)
            except ValueError:
                raise DataFormatError(path, n, f"rank {rank_s!r} is not an integer") from None
        try:
            score = float(score_s)
        except ValueError:
            raise DataFormatError(path, n, f"score {score_s!r} is not a number") from None
        if not math.isfinite(score):
            raise DataFormatError(path, n, f"score {score_s!r} is not finite")
        docs = data.get(qid)
        if docs is None:
            docs = data[qid] = {}
        if docno in docs:
            first = _first_line(path, qid, 1 if width == 3 else 2, docno)
            raise DataFormatError(
                path, n, f"query {qid!r}: document {docno!r} appears twice (also on line {first})"
            )
        if width == 6:
            ranks = rank_sets.get(qid)
            if ranks is None:
                ranks = rank_sets[qid] = set()
            if rank in ranks:
                first = _first_line(path, qid, 3, rank)
                raise DataFormatError(
                    path, n, f"query {qid!r}: rank {rank} given twice (also on line {first})"
                )
            ranks.add(rank)
        docs[docno] = score
    if width == 3 and counts_up and all(whole[q] == set(range(1, len(docs) + 1)) for q, docs in data.items()):
        data = {q: {d: -rank for d, rank in docs.items()} for q, docs in data.items()}  # MS MARCO: ranks
    # every id is a str and every score a finite float, checked above: no second pass over the entries
    return Run.from_trusted(data, name=name or tag or path.stem)


def _as_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _first_line(path: Path, qid: str, column: int, value: str | int) -> int | None:
    """The number of the first data line of ``path`` for query ``qid`` whose ``column`` holds ``value``
    (an int: compared as a number): an error's earlier line, found again only when there is an error, so
    reading keeps no line number per entry."""
    for n, raw in _data_lines(path):
        p = raw.split()
        if len(p) <= column or p[0] != qid:
            continue
        if (p[column] == value) if isinstance(value, str) else (_as_int(p[column]) == value):
            return n
    return None


def is_trec_id(i: str) -> bool:
    """Whether a TREC line can hold ``i`` as a query or document id: non-empty, no whitespace."""
    return i.split() == [i]


def check_trec_ids(qid: str, docnos: Iterable[str], path: str | Path) -> None:
    """Refuse a query or document id that is empty or holds whitespace: a TREC line could not hold it.

    Raises:
        DataFormatError: naming ``path`` (the file to be written) and the id.
    """
    for what, ids in (("query", [qid]), ("document", docnos)):
        for i in ids:
            if not is_trec_id(i):
                raise DataFormatError(
                    path, None, f"{what} id {i!r} is empty or holds whitespace, which a TREC file cannot hold"
                )


def write_trec_run(run: Run, path: str | Path, tag: str | None = None) -> None:
    """Write ``qid Q0 docno rank score tag`` lines, best first with ranks from 1, atomically.

    Scores are written in full precision (``repr``), so a written run reads back identical. Ids must hold no
    whitespace (:func:`check_trec_ids`).
    """
    tag = tag or run.name
    if not tag or any(c.isspace() for c in tag):
        raise ValueError(f"run tag {tag!r} must be non-empty and hold no whitespace")
    for qid in run:
        check_trec_ids(qid, run[qid], path)
    with atomic_write(path) as f:
        for qid in run:
            f.writelines(
                f"{qid} Q0 {docno} {rank} {score!r} {tag}\n"
                for rank, (docno, score) in enumerate(run.ranked(qid), start=1)
            )


# ------------------------------------------------------------------------------------------ collections


def align_query_ids(
    queries: Queries,
    qrels: Qrels,
    *,
    source: str | Path | None = None,
    qrels_source: str | Path | None = None,
) -> Queries:
    """Match query ids to the ids the qrels use, when they differ only in a known, checkable way.

    * ids equal up to leading zeros (``051`` vs ``51``): the queries take the qrels' spelling;
    * the qrels number the queries ``1..n`` in file order (Cranfield's ``cranqrel``: ``cran.qry`` skips
      numbers) while the query ids do not match: queries are renumbered ``1..n`` with a DataWarning. The
      last queries may be unjudged (a subset of Cranfield): every judged id is a number in ``1..n``, and
      they are at least half of ``n``.

    Otherwise the queries are returned unchanged (see :func:`check_qrels` for what is then reported).
    """
    qids = list(queries)
    judged = set(qrels)
    if judged <= set(qids):
        return queries
    stripped = {q.lstrip("0") or "0": q for q in qids}
    if len(stripped) == len(qids) and judged <= stripped.keys():
        return Queries({s: queries[q] for s, q in stripped.items()})
    n = len(qids)
    numbers = {int(q) for q in judged if q.isdigit()}
    if (
        len(numbers) == len(judged)
        and numbers
        and min(numbers) >= 1
        and max(numbers) <= n
        and len(numbers) >= n / 2
    ):
        warnings.warn(
            f"{qrels_source}: the qrels number the queries 1..{n} while {source} has other ids "
            f"({', '.join(qids[:4])}, ...); queries renumbered 1..{n} in file order",
            DataWarning,
            stacklevel=2,
        )
        return Queries({str(i): queries[q] for i, q in enumerate(qids, start=1)})
    return queries


def check_qrels(qrels: Qrels, corpus: Corpus | None, queries: Queries, source: str | Path) -> Qrels:
    """Check qrels against a corpus and queries, with one DataWarning per kind of problem.

    Judgements of queries missing from ``queries`` are dropped (they cannot be run). Judgements naming
    documents missing from ``corpus`` are kept: they count as relevant documents never retrieved
    (``corpus=None``: the documents are not checked, for reading the qrels alone).
    """
    unknown_q = [q for q in qrels if q not in queries]
    if unknown_q:
        shown = ", ".join(repr(q) for q in unknown_q[:5]) + (", ..." if len(unknown_q) > 5 else "")
        none_left = len(unknown_q) == len(qrels)
        ids = ", ".join(repr(q) for q in list(queries)[:5])
        warnings.warn(
            f"{source}: {_plural(len(unknown_q), 'judged query', 'judged queries')} not in the queries "
            f"({shown}); their judgements are dropped"
            + (f" — none is left: the queries' ids are spelt otherwise ({ids}, ...)" if none_left else ""),
            DataWarning,
            stacklevel=2,
        )
        qrels = qrels.subset([q for q in qrels if q in queries])
    missing = [] if corpus is None else [d for docs in qrels.values() for d in docs if d not in corpus]
    if missing:
        n_j, n_d = len(missing), len(set(missing))
        verb = "names" if n_j == 1 else "name"
        warnings.warn(
            f"{source}: {_plural(n_j, 'judgement')} {verb} {_plural(n_d, 'document')} not in the corpus; "
            "they count as unretrieved",
            DataWarning,
            stacklevel=2,
        )
    return qrels


def read_trec_collection(folder: str | Path, name: str | None = None, field: str = "title") -> TextCollection:
    """Read a TREC-style test collection from a folder, finding its files by content.

    Files (searched recursively; ``.gz`` ok) holding ``<DOC>`` are documents, ``<top>`` (or ``qid<TAB>text``)
    topics, 3-4 columns with a numeric last one qrels; others are ignored. Every qrels file goes to split
    ``"test"`` (merged), unless their names give different splits (:func:`assemble_collection`). Query ids
    are aligned with the qrels (:func:`align_query_ids`) and the qrels checked against corpus and queries
    (:func:`check_qrels`). Vaswani's layout: ``doc-text.trec``, ``query-text.trec``, ``qrels``. ``field``:
    the topic field(s) that are the query text (:func:`read_trec_topics`).

    Raises:
        DatasetNotFoundError: the folder, or its documents, topics or qrels, cannot be found.
    """
    folder = Path(folder)
    files = group_files(folder)
    docs = _need(files, ["trec-docs"], folder, "TREC documents (files with <DOC>)")
    topics = _need(files, ["trec-topics", "tsv-topics"], folder, "topics (<top> or qid<TAB>text)")
    qrels = _need(files, ["qrels"], folder, "qrels (qid iter docno rel)")
    qrels = [p for p in qrels if "rel" in p.name.lower()] or qrels
    corpus = read_trec_docs(docs)
    queries = merge_queries([(p, read_trec_topics(p, field)) for p in topics])
    label = topics[0] if len(topics) == 1 else folder
    return assemble_collection(folder, name, corpus, queries, label, [(p, qrels_layout(p)) for p in qrels])


def _need(files: dict[str, list[Path]], kinds: list[str], folder: Path, what: str) -> list[Path]:
    found = [p for k in kinds for p in files.get(k, [])]
    if not found:
        raise DatasetNotFoundError(f"{folder}: no {what} found in this folder")
    return sorted(found)


def merge_queries(parts: list[tuple[Path, Queries]], *, same_text_ok: bool = False) -> Queries:
    """Queries of several files in one, refusing an id found in two files (with ``same_text_ok``, only
    an id found in two files with different texts)."""
    if len(parts) == 1:
        return parts[0][1]
    merged: dict[str, str] = {}
    origin: dict[str, Path] = {}
    for path, queries in parts:
        for qid, text in queries.items():
            if same_text_ok and merged.get(qid) == text:
                continue
            if qid in merged:
                raise DataFormatError(path, None, f"duplicate query id {qid!r} (also in {origin[qid]})")
            merged[qid] = text
            origin[qid] = path
    return Queries(merged)


def assemble_collection(
    folder: Path,
    name: str | None,
    corpus: Corpus,
    queries: Queries,
    queries_source: str | Path,
    qrels_files: list[tuple[Path, str]],
    read: Callable[[Path, str], Qrels] = parse_qrels,
) -> TextCollection:
    """Read qrels files (``(path, layout)``), align query ids, check them, merge them into split ``test``.

    Files whose names give different splits (``qrels.train.txt``, ``qrels.test.txt``:
    :func:`~distillrank.data.formats.sniff.qrels_split`) make those splits instead.
    """
    splits = {path: qrels_split(path) for path, _ in qrels_files}
    if len(set(splits.values())) < 2:
        splits = dict.fromkeys(splits, "test")
    merged: dict[str, dict[str, dict[str, int]]] = {s: {} for s in sorted(set(splits.values()))}
    for path, layout in qrels_files:
        qrels = read(path, layout)
        queries = align_query_ids(queries, qrels, source=queries_source, qrels_source=path)
        for qid, docs in check_qrels(qrels, corpus, queries, path).items():
            merged[splits[path]].setdefault(qid, {}).update(docs)
    qrels_by_split = {s: Qrels(q) for s, q in merged.items()}
    return TextCollection(name or folder.name, corpus, queries, qrels_by_split, source=str(folder))
