"""MS MARCO-style collections: a tab-separated corpus, ``qid<TAB>text`` queries and TREC qrels per split.

Layout of the MS MARCO passage release (and of the TREC Deep Learning tracks built on it)::

    collection.tsv          pid <TAB> text                      (.gz ok; also corpus.tsv, docs.tsv, ...)
    queries.train.tsv       qid <TAB> text                      (any number of query files)
    queries.dev.small.tsv
    qrels.train.tsv         qid <TAB> 0 <TAB> pid <TAB> 1       (TREC qrels, one file per split)
    qrels.dev.small.tsv

The corpus file is found by its name (:data:`CORPUS_NAME`); its rows are ``id<TAB>text``, ``id<TAB>title
<TAB>text`` or, as in ``msmarco-docs.tsv``, ``id<TAB>url<TAB>title<TAB>body``. Queries and qrels files are
found by their contents (:func:`~distillrank.data.formats.sniff.sniff_file`; of the files that look like
qrels, those with ``rel`` in their names when there are some). Each qrels file is the split its name
gives (:func:`~distillrank.data.formats.sniff.qrels_split`: ``qrels.dev.small.tsv`` is ``dev``,
``msmarco-doctrain-qrels.tsv`` ``train``, ``2019qrels-pass.txt`` ``test``).
"""

from __future__ import annotations

import re
from pathlib import Path

from distillrank.data.collection import Corpus, Qrels, Queries, TextCollection
from distillrank.data.formats._split_files import single_file_per_split
from distillrank.data.formats.sniff import data_files, group_files, qrels_layout, qrels_split
from distillrank.data.formats.trec import check_qrels, merge_queries, parse_qrels, read_trec_topics
from distillrank.errors import DataFormatError, DatasetNotFoundError
from distillrank.io import open_text

__all__ = ["CORPUS_NAME", "find_tsv_corpus", "read_msmarco", "read_tsv_corpus"]

CORPUS_NAME = re.compile(
    r"^(?!.*lookup)(msmarco[-_.])?(collection|corpus|docs|documents|passages?)([-_.][^/]*)?\.tsv(\.gz)?$",
    re.IGNORECASE,
)
"""File names of a tab-separated corpus: ``collection.tsv``, ``corpus.tsv.gz``, ``msmarco-docs.tsv``, ...
(not ``msmarco-docs-lookup.tsv``, the offsets into ``msmarco-docs.tsv``)."""

_COLUMNS = {2: (None, 1), 3: (1, 2), 4: (2, 3)}  # columns -> (title column or None, text column)


def find_tsv_corpus(folder: str | Path) -> Path | None:
    """The tab-separated corpus file under ``folder`` (by :data:`CORPUS_NAME`), or ``None``.

    Raises:
        DataFormatError: several files match (naming them).
    """
    found = [p for p in data_files(Path(folder)) if CORPUS_NAME.match(p.name)]
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(folder)) for p in found)
        raise DataFormatError(folder, None, f"more than one tab-separated corpus file: {names}")
    return found[0] if found else None


def read_tsv_corpus(path: str | Path) -> Corpus:
    """Read a tab-separated corpus, streaming: ``id<TAB>text``, ``id<TAB>title<TAB>text`` or
    ``id<TAB>url<TAB>title<TAB>body`` (MS MARCO documents); every row has the first row's width (blank
    columns beyond it, a trailing tab, are ignored; the first row's own last column may be an empty text).

    Raises:
        DataFormatError: a row without a tab, a row of another width, an empty id or a duplicate id
            (naming both lines).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: no such file")
    docnos: list[str] = []
    titles: list[str] = []
    texts: list[str] = []
    first_line: dict[str, int] = {}
    width = 0
    with open_text(path) as f:
        for n, raw in enumerate(f, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.split("\t")
            while width and len(parts) > width and not parts[-1].strip():
                parts.pop()  # a trailing tab (or spaces) beyond the first row's width adds no column
            width = width or len(parts)
            if len(parts) != width or width not in _COLUMNS:
                raise DataFormatError(
                    path,
                    n,
                    f"expected {width if width in _COLUMNS else '2 to 4'} tab-separated columns "
                    "(id<TAB>text, id<TAB>title<TAB>text or id<TAB>url<TAB>title<TAB>body), "
                    f"found {len(parts)}",
                )
            docno = parts[0].strip()
            if not docno:
                raise DataFormatError(path, n, "empty document id")
            if docno in first_line:
                raise DataFormatError(
                    path, n, f"duplicate document id {docno!r} (first on line {first_line[docno]})"
                )
            first_line[docno] = n
            title_col, text_col = _COLUMNS[width]
            docnos.append(docno)
            titles.append(" ".join(parts[title_col].split()) if title_col is not None else "")
            texts.append(" ".join(parts[text_col].split()))
    return Corpus(docnos, titles, texts, source=path)


def read_msmarco(folder: str | Path, name: str | None = None) -> TextCollection:
    """Read an MS MARCO-style folder: a tab-separated corpus, query files and one qrels file per split.

    Queries are those of every query file (``qid<TAB>text`` or TREC topics), merged; a query id in two
    files is an error unless its text is the same (``queries.dev.tsv`` holds ``queries.dev.small.tsv``).
    Each split's qrels are checked against corpus and queries
    (:func:`~distillrank.data.formats.trec.check_qrels`).

    Raises:
        DatasetNotFoundError: no corpus, query or qrels file in the folder.
        DataFormatError: a malformed line (naming file and line), or two qrels files for one split.
    """
    folder = Path(folder)
    corpus_path = find_tsv_corpus(folder)
    if corpus_path is None:
        raise DatasetNotFoundError(f"{folder}: no tab-separated corpus (collection.tsv, corpus.tsv, ...)")
    topics, split_files = _query_and_qrels_files(folder, corpus_path)
    corpus = read_tsv_corpus(corpus_path)
    queries, qrels = _queries_and_qrels(topics, split_files, corpus)
    return TextCollection(name or folder.name, corpus, queries, qrels, source=str(folder))


def read_msmarco_splits(folder: str | Path) -> dict[str, Qrels]:
    """The qrels of every split of an MS MARCO-style folder, as :func:`read_msmarco` reads them but without
    reading the corpus (8.8M passages for MS MARCO): judged queries missing from the query files are
    dropped, judged documents are not checked."""
    folder = Path(folder)
    topics, split_files = _query_and_qrels_files(folder, find_tsv_corpus(folder))
    return _queries_and_qrels(topics, split_files, None)[1]


def _queries_and_qrels(
    topics: list[Path], split_files: dict[str, Path], corpus: Corpus | None
) -> tuple[Queries, dict[str, Qrels]]:
    """The merged queries, and each split's qrels checked against them and ``corpus`` (if given)."""
    queries = merge_queries([(p, read_trec_topics(p)) for p in topics], same_text_ok=True)
    qrels = {
        split: check_qrels(parse_qrels(path, qrels_layout(path)), corpus, queries, path)
        for split, path in split_files.items()
    }
    return queries, qrels


def _query_and_qrels_files(folder: Path, corpus_path: Path | None) -> tuple[list[Path], dict[str, Path]]:
    """The query files and the qrels file of each split (sorted by split) of an MS MARCO-style folder."""
    files = group_files(folder)
    topics = sorted(p for k in ("tsv-topics", "trec-topics") for p in files.get(k, []) if p != corpus_path)
    qrels_files = sorted(files.get("qrels", []))
    qrels_files = [p for p in qrels_files if "rel" in p.name.lower()] or qrels_files  # not a lookup table
    if not topics:
        raise DatasetNotFoundError(f"{folder}: no query files (qid<TAB>text) found in this folder")
    if not qrels_files:
        raise DatasetNotFoundError(f"{folder}: no qrels files (qid 0 docno rel) found in this folder")
    found: dict[str, list[Path]] = {}
    for p in qrels_files:
        found.setdefault(qrels_split(p), []).append(p)
    return topics, dict(sorted(single_file_per_split(folder, found).items()))
