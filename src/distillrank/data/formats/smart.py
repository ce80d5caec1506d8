"""SMART-format collections (Cranfield, Medline, CISI, CACM, ADI, ...): ``.I`` records with field markers.

A record starts with ``.I <id>``; each field with a marker line: ``.T`` title, ``.A`` authors, ``.B``
source, ``.W`` text, and others (``.X``, ``.K``, ``.N``, ``.C``, ...) that are skipped. Only ``.T`` and
``.W`` are kept; whitespace is collapsed, and a field given twice in a record is concatenated. Cranfield
repeats the title at the start of ``.W``; that is kept as is.

Relevance judgements come in three layouts (see :func:`read_smart_qrels`): ``qid docno grade``
(Cranfield's ``cranqrel``), ``qid 0 docno rel`` (TREC) and ``qid docno 0 0.0`` (CISI, CACM).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

from distillrank.data.collection import Corpus, Qrels, Queries, TextCollection
from distillrank.data.formats.sniff import group_files, qrels_layout
from distillrank.data.formats.trec import assemble_collection, merge_queries, parse_qrels
from distillrank.errors import DataFormatError, DatasetNotFoundError, DataWarning
from distillrank.io import open_text, require_file

__all__ = [
    "CRANFIELD_GAINS",
    "read_smart_collection",
    "read_smart_docs",
    "read_smart_qrels",
    "read_smart_queries",
]

CRANFIELD_GAINS: dict[int, int] = {1: 4, 2: 3, 3: 2, 4: 1, -1: 0}
"""Cranfield grade -> gain. Cleverdon's grades run from 1 (complete answer) to 4 (minimum interest), and
``-1`` marks a judged but not relevant document; gains must grow with relevance, so ``g -> 5 - g`` and
``-1 -> 0``."""

KEPT_FIELDS = ("T", "W")

_ID = re.compile(r"\.I(?:\s+(\S*))?\s*$")
_MARK = re.compile(r"\.([A-Z])(?:\s+(.*))?$")
_QUERY_NAME = re.compile(r"qry|quer|topic", re.IGNORECASE)
_DOCS_NAME = re.compile(r"(^|\.)all($|\.)|doc", re.IGNORECASE)
_QRELS_NAME = re.compile(r"rel", re.IGNORECASE)


def _records(path: Path) -> Iterator[tuple[int, str, dict[str, str]]]:
    """``(line of .I, id, {field: text})`` for every record; only :data:`KEPT_FIELDS` are collected."""
    require_file(path)
    rec_id: str | None = None
    rec_line = 0
    fields: dict[str, list[str]] = {}
    current: str | None = None
    with open_text(path) as f:
        for n, raw in enumerate(f, start=1):
            line = raw.rstrip()
            m = _ID.match(line)
            if m:
                if rec_id is not None:
                    yield rec_line, rec_id, _join(fields)
                if not m.group(1):
                    raise DataFormatError(path, n, ".I has no id")
                rec_id, rec_line, fields, current = m.group(1), n, {}, None
                continue
            m = _MARK.match(line)
            if m:
                if rec_id is None:
                    raise DataFormatError(path, n, f"field .{m.group(1)} before the first '.I <id>'")
                current = m.group(1)
                if current in KEPT_FIELDS:
                    fields.setdefault(current, []).append(m.group(2) or "")
                continue
            if not line.strip():
                continue
            if rec_id is None:
                raise DataFormatError(path, n, "expected '.I <id>' to start a record")
            if current is None:
                raise DataFormatError(path, n, "text before any field marker (.T, .W, ...)")
            if current in KEPT_FIELDS:
                fields[current].append(line)
    if rec_id is not None:
        yield rec_line, rec_id, _join(fields)


def _join(fields: dict[str, list[str]]) -> dict[str, str]:
    return {k: " ".join(" ".join(v).split()) for k, v in fields.items()}


def read_smart_docs(path: str | Path) -> Corpus:
    """Read SMART documents: title from ``.T``, text from ``.W`` (either may be empty).

    Raises:
        DataFormatError: text outside a record or field, an ``.I`` without id, a duplicate id (both lines).
    """
    path = Path(path)
    docnos: list[str] = []
    titles: list[str] = []
    texts: list[str] = []
    first_line: dict[str, int] = {}
    for line, docno, fields in _records(path):
        if docno in first_line:
            raise DataFormatError(
                path, line, f"duplicate document id {docno!r} (first on line {first_line[docno]})"
            )
        first_line[docno] = line
        docnos.append(docno)
        titles.append(fields.get("T", ""))
        texts.append(fields.get("W", ""))
    return Corpus(docnos, titles, texts, source=path)


def read_smart_queries(path: str | Path) -> tuple[Queries, list[str]]:
    """Read SMART queries (text from ``.W``, else ``.T``); returns the queries and their ids in file order.

    Raises:
        DataFormatError: as :func:`read_smart_docs`, and for a query with empty text.
    """
    path = Path(path)
    queries: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line, qid, fields in _records(path):
        if qid in first_line:
            raise DataFormatError(path, line, f"duplicate query id {qid!r} (first on line {first_line[qid]})")
        text = fields.get("W") or fields.get("T", "")
        if not text:
            raise DataFormatError(path, line, f"query {qid!r} has empty text")
        first_line[qid] = line
        queries[qid] = text
    return Queries(queries), list(queries)


def looks_cranfield(qrels: Qrels) -> bool:
    """Whether every grade lies in Cranfield's ``{-1, 1, 2, 3, 4}`` (at least two distinct ones)."""
    grades = {g for docs in qrels.values() for g in docs.values()}
    return grades <= set(CRANFIELD_GAINS) and len(grades) > 1


def read_smart_qrels(
    path: str | Path,
    grade_map: Mapping[int, int] | Literal["auto"] | None = "auto",
    layout: str | None = None,
) -> Qrels:
    """Read SMART-collection qrels, mapping grades to gains where needed.

    Layouts (sniffed unless ``layout`` is given, see :func:`~distillrank.data.formats.sniff.qrels_layout`):
    ``"triple"`` ``qid docno grade`` (Cranfield), ``"trec"`` ``qid 0 docno rel``, ``"cisi"``
    ``qid docno 0 0.0`` (every listed pair relevant, label 1).

    Args:
        grade_map: grade -> gain. ``"auto"`` applies :data:`CRANFIELD_GAINS` (``g -> 5 - g``, ``-1 -> 0``)
            only to a 3-column file whose grades all lie in ``{-1, 1, 2, 3, 4}`` (at least two distinct),
            with a DataWarning saying so; ``None`` keeps the grades; a mapping is applied to every grade.

    Raises:
        DataFormatError: a malformed line, or a grade that ``grade_map`` does not cover.
    """
    path = Path(path)
    layout = layout or qrels_layout(path)
    qrels = parse_qrels(path, layout)
    if grade_map == "auto":
        if layout != "triple" or not looks_cranfield(qrels):
            return qrels
        grade_map = CRANFIELD_GAINS
        warnings.warn(
            f"{path}: grades look like Cranfield's (1 = most relevant .. 4, -1 = not relevant); mapped to "
            "gains 1->4, 2->3, 3->2, 4->1, -1->0 (in Python, read_smart_collection(..., grade_map=None) "
            "keeps them)",
            DataWarning,
            stacklevel=2,
        )
    return qrels if grade_map is None else map_grades(qrels, grade_map, path)


def map_grades(qrels: Qrels, grade_map: Mapping[int, int], path: str | Path) -> Qrels:
    """``qrels`` with every grade replaced by ``grade_map[grade]`` (e.g. :data:`CRANFIELD_GAINS`).

    Raises:
        DataFormatError: a grade that ``grade_map`` does not cover (``path`` names the file).
    """
    out: dict[str, dict[str, int]] = {}
    for qid, docs in qrels.items():
        for docno, grade in docs.items():
            if grade not in grade_map:
                raise DataFormatError(path, None, f"grade {grade} (query {qid!r}) is not in grade_map")
            out.setdefault(qid, {})[docno] = grade_map[grade]
    return Qrels(out)


def _pick(files: list[Path]) -> tuple[list[Path], list[Path]]:
    """Split SMART files into documents and queries, by name, else by size (documents are the larger)."""
    queries = [p for p in files if _QUERY_NAME.search(p.name)]
    rest = [p for p in files if p not in queries]
    docs = [p for p in rest if _DOCS_NAME.search(p.name)]
    others = sorted((p for p in rest if p not in docs), key=lambda p: p.stat().st_size)
    if not docs and others:
        docs = [others.pop()]
    if not queries and others:
        queries = [others.pop(0)]
    return docs, queries


def read_smart_collection(
    folder: str | Path,
    name: str | None = None,
    grade_map: Mapping[int, int] | Literal["auto"] | None = "auto",
) -> TextCollection:
    """Read a SMART collection folder: documents, queries and qrels found by name or content.

    Documents are ``.I`` files named like ``*.all*``/``*doc*`` (``cran.all.1400``, ``MED.ALL``), queries
    ``.I`` files named like ``*qry*``/``*quer*`` (``cran.qry``, ``query.text``), qrels the column files
    (preferring names with ``rel``: ``cranqrel``, ``MED.REL``, ``qrels.text``). All qrels form split
    ``"test"``. When the qrels number the queries ``1..n`` while the query ids differ (Cranfield), queries
    are renumbered in file order with a DataWarning; see
    :func:`~distillrank.data.formats.trec.align_query_ids`. Grades: see :func:`read_smart_qrels`.

    Raises:
        DatasetNotFoundError: no documents, queries or qrels found in ``folder``.
    """
    folder = Path(folder)
    files = group_files(folder)
    docs, query_files = _pick(files.get("smart", []))
    qrels_files = files.get("qrels", [])
    qrels_files = [p for p in qrels_files if _QRELS_NAME.search(p.name)] or qrels_files
    for found, what in ((docs, "documents"), (query_files, "queries"), (qrels_files, "qrels")):
        if not found:
            raise DatasetNotFoundError(f"{folder}: no SMART {what} found in this folder")
    corpus = _merge_docs(docs)
    parts = [(p, read_smart_queries(p)[0]) for p in query_files]
    queries = merge_queries(parts)
    label = query_files[0] if len(query_files) == 1 else folder

    def read(path: Path, layout: str) -> Qrels:
        return read_smart_qrels(path, grade_map=grade_map, layout=layout)

    layouts = [(p, qrels_layout(p)) for p in qrels_files]
    return assemble_collection(folder, name, corpus, queries, label, layouts, read=read)


def _merge_docs(paths: list[Path]) -> Corpus:
    if len(paths) == 1:
        return read_smart_docs(paths[0])
    parts = [read_smart_docs(p) for p in paths]
    docnos = [d for c in parts for d in c.docnos]
    if len(set(docnos)) != len(docnos):
        raise DataFormatError(None, None, f"the document files {', '.join(map(str, paths))} share ids")
    return Corpus(
        docnos, [t for c in parts for t in c.titles], [x for c in parts for x in c.texts], source=paths[0]
    )
