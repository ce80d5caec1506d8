"""BEIR collections: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.

Layout (Thakur et al., 2021, "BEIR: A Heterogeneous Benchmark for Zero-shot Evaluation of Information
Retrieval Models")::

    corpus.jsonl         {"_id": "4983", "title": "...", "text": "..."}   (one JSON object a line; .gz ok)
    queries.jsonl        {"_id": "0", "text": "..."}                      (.gz ok)
    qrels/test.tsv       query-id <TAB> corpus-id <TAB> score             (header; one file per split; .gz ok)

JSON is parsed with ``orjson`` when it is installed (SciFact's 5,183 documents load in a fraction of a
second), else with the standard library.
"""

from __future__ import annotations

import codecs
import gzip
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from distillrank.data.collection import Corpus, Qrels, Queries, TextCollection
from distillrank.data.formats._split_files import single_file_per_split
from distillrank.data.formats.sniff import qrels_layout
from distillrank.data.formats.trec import add_query, check_qrels, parse_qrels, warn_empty_queries
from distillrank.errors import DataFormatError, DatasetNotFoundError
from distillrank.io import _BOMS, atomic_write, first_line

try:
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
    _dumps: Callable[[Any], bytes] = orjson.dumps
    _JSONError: type[Exception] = orjson.JSONDecodeError
except ImportError:  # pragma: no cover - exercised only without orjson
    import json

    _loads = json.loads
    _JSONError = ValueError

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, ensure_ascii=False).encode("utf-8")


__all__ = ["read_beir", "read_beir_corpus", "read_beir_qrels", "read_beir_queries", "write_beir"]


def _find(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.jsonl", f"{stem}.jsonl.gz"):
        if (folder / name).is_file():
            return folder / name
    raise DatasetNotFoundError(
        f"{folder}: no {stem}.jsonl (or {stem}.jsonl.gz): not a BEIR collection folder"
    )


def _wide_lines(path: Path, f: Any, encoding: str) -> Iterator[bytes]:
    """The lines of the UTF-16/32 file ``f`` (byte order mark first), re-encoded as UTF-8."""
    done = 0
    try:
        for line in io.TextIOWrapper(f, encoding=encoding, newline=None):
            done += 1
            yield line.encode("utf-8", "surrogatepass")
    except UnicodeDecodeError as e:
        problem = f"not {encoding.upper()} text after its byte order mark ({e.reason})"
        raise DataFormatError(path, done + 1, problem) from None


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line of a JSON-lines file."""
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        head = f.peek(4)[:4]
        wide = next((name for bom, name in _BOMS if head.startswith(bom)), None)
        # UTF-16/32 with a byte order mark (as the README allows for text files): lines re-encoded as UTF-8
        lines = _wide_lines(path, f, wide) if wide else f
        for n, line in enumerate(lines, start=1):
            if n == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8) :]
            if not line.strip():
                continue
            try:
                obj = _loads(line)
            except _JSONError:
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as e:
                    problem = f"not UTF-8 text (byte 0x{line[e.start]:02x} at column {e.start + 1})"
                    raise DataFormatError(
                        path, n, f"{problem}; JSON lines must be UTF-8 (or UTF-16/32 with a byte order mark)"
                    ) from None
                raise DataFormatError(path, n, "invalid JSON; each line must hold one JSON object") from None
            if not isinstance(obj, dict):
                raise DataFormatError(path, n, f"expected a JSON object, found {type(obj).__name__}")
            yield n, obj


# other spellings of BEIR's keys: Pyserini's JSON collections ({"id": ..., "contents": ...}), ir_datasets
# exports ("doc_id", "query_id")
_ALIASES = {"_id": ("id", "docid", "doc_id", "query_id"), "text": ("contents", "body")}


def _field(obj: dict[str, Any], key: str, path: Path, line: int) -> str:
    found = key if key in obj else next((a for a in _ALIASES.get(key, ()) if a in obj), None)
    if found is None:
        raise DataFormatError(path, line, f'missing "{key}"')
    value = obj[found]
    text = "" if value is None else str(value)
    if key == "_id" and not text.strip():  # the id, under whichever spelling it came
        raise DataFormatError(path, line, f'empty "{found}"')
    return text


def _first_duplicate(ids: list[str], lines: list[int]) -> tuple[str, int, int] | None:
    """``(id, first line, second line)`` of the first repeated id, or ``None``; runs only when needed."""
    if len(set(ids)) == len(ids):
        return None
    seen: dict[str, int] = {}
    for i, line in zip(ids, lines, strict=True):
        if i in seen:
            return i, seen[i], line
        seen[i] = line
    return None  # pragma: no cover


def read_beir_corpus(path: str | Path) -> Corpus:
    """Read a BEIR ``corpus.jsonl`` (``_id``, ``title``, ``text``; a missing title reads as empty; Pyserini's
    ``id`` and ``contents`` are read as ``_id`` and ``text``).

    Raises:
        DataFormatError: bad JSON, a missing or empty ``_id``, a missing ``text``, a duplicate ``_id`` (naming
            both lines).
    """
    path = Path(path)
    docnos: list[str] = []
    titles: list[str] = []
    texts: list[str] = []
    lines: list[int] = []
    for n, obj in _records(path):
        docnos.append(_field(obj, "_id", path, n))
        titles.append(str(obj.get("title") or ""))
        texts.append(_field(obj, "text", path, n))
        lines.append(n)
    dup = _first_duplicate(docnos, lines)
    if dup:
        raise DataFormatError(path, dup[2], f"duplicate document id {dup[0]!r} (first on line {dup[1]})")
    return Corpus(docnos, titles, texts, source=path)


def read_beir_queries(path: str | Path) -> Queries:
    """Read a BEIR ``queries.jsonl`` (``_id``, ``text``): every query in the file, in file order.

    Raises:
        DataFormatError: bad JSON, a missing or empty ``_id``, a missing text, a duplicate ``_id``. A query
            with empty text is left out with a DataWarning (:func:`~.trec.warn_empty_queries`).
    """
    path = Path(path)
    queries: dict[str, str] = {}
    first_line: dict[str, int] = {}
    empty: list[tuple[str, int]] = []
    for n, obj in _records(path):
        qid, text = _field(obj, "_id", path, n), _field(obj, "text", path, n).strip()
        add_query(queries, first_line, qid, text, path, n, empty)
    warn_empty_queries(path, empty)
    return Queries(queries)


def read_beir_qrels(path: str | Path) -> Qrels:
    """Read one BEIR qrels TSV (``query-id corpus-id score``, with or without its header line; a trailing
    tab or spaces at the end of a line are ignored).

    A file of another qrels layout (``qid 0 docno rel`` TREC lines, or three columns separated by spaces, as
    some tools write ``qrels/test.tsv``) is read in that layout
    (:func:`~distillrank.data.formats.sniff.qrels_layout`).
    """
    path = Path(path)
    if len(_first_line(path).rstrip().split("\t")) == 3:  # BEIR's own (its ids may hold spaces)
        return parse_qrels(path, "beir")
    return parse_qrels(path, qrels_layout(path))


def _first_line(path: Path) -> str:
    """The first non-blank line of a file (``""`` for none)."""
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: no such file")
    return first_line(path)


def read_beir(folder: str | Path, name: str | None = None) -> TextCollection:
    """Read a BEIR collection folder; every ``qrels/*.tsv`` (or ``.tsv.gz``) is a split named by its stem.

    Queries are all those in ``queries.jsonl``; :meth:`TextCollection.queries_for` selects a split's.
    Judged queries missing from ``queries.jsonl`` are dropped and judged documents missing from the corpus
    kept, each with one :class:`~distillrank.errors.DataWarning` per qrels file (see
    :func:`~distillrank.data.formats.trec.check_qrels`).

    Raises:
        DatasetNotFoundError: the folder, ``corpus.jsonl``, ``queries.jsonl`` or ``qrels/*.tsv`` is missing.
        DataFormatError: a malformed line, naming file and line.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetNotFoundError(f"{folder}: no such folder")
    corpus = read_beir_corpus(_find(folder, "corpus"))
    queries = read_beir_queries(_find(folder, "queries"))
    qrels = read_beir_splits(folder, queries=queries, corpus=corpus)
    return TextCollection(name or folder.name, corpus, queries, qrels, source=str(folder))


def read_beir_splits(
    folder: str | Path, *, queries: Queries | None = None, corpus: Corpus | None = None
) -> dict[str, Qrels]:
    """The qrels of every split of a BEIR folder (``qrels/<split>.tsv``), as :func:`read_beir` reads them.

    Judged queries missing from ``queries`` (read from ``queries.jsonl`` when not given) are dropped; the
    judged documents are checked against ``corpus`` only when it is given, so the qrels of a large
    collection can be read without its corpus.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetNotFoundError(f"{folder}: no such folder")
    if queries is None:
        queries = read_beir_queries(_find(folder, "queries"))
    found: dict[str, list[Path]] = {}
    for p in sorted([*(folder / "qrels").glob("*.tsv"), *(folder / "qrels").glob("*.tsv.gz")]):
        found.setdefault(p.name.removesuffix(".gz").removesuffix(".tsv"), []).append(p)
    if not found:
        raise DatasetNotFoundError(f"{folder}: no qrels/*.tsv files (one per split, e.g. qrels/test.tsv)")
    split_files = single_file_per_split(folder / "qrels", found)
    return {s: check_qrels(read_beir_qrels(p), corpus, queries, p) for s, p in sorted(split_files.items())}


def write_beir(collection: TextCollection, folder: str | Path) -> None:
    """Write a collection as a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``).

    Each file is written atomically; :func:`read_beir` reads the folder back to an equal collection.
    """
    folder = Path(folder)
    corpus = collection.corpus
    with atomic_write(folder / "corpus.jsonl", "wb") as f:
        for docno, title, text in zip(corpus.docnos, corpus.titles, corpus.texts, strict=True):
            f.write(_dumps({"_id": docno, "title": title, "text": text}) + b"\n")
    with atomic_write(folder / "queries.jsonl", "wb") as f:
        for qid, text in collection.queries.items():
            f.write(_dumps({"_id": qid, "text": text}) + b"\n")
    for split, qrels in collection.qrels.items():
        with atomic_write(folder / "qrels" / f"{split}.tsv") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            for qid, docs in qrels.items():
                f.writelines(f"{qid}\t{docno}\t{rel}\n" for docno, rel in docs.items())
