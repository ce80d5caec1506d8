"""Teacher scores for candidate (query, document) pairs, computed once and cached on disk.

Scoring every candidate with a cross-encoder teacher is the expensive step of distillation. A
:class:`TeacherScoreCache` keeps the scores in a folder under a **key**, the SHA-256 of

* the teacher's fingerprint (:func:`model_fingerprint`: a hash of the model folder's files, or any string
  that names the model exactly),
* ``max_length`` (the teacher's truncation: it changes the scores),
* the candidate set: the sorted ``(qid, docno)`` pairs,
* the texts of those queries and documents (so an edited corpus is never served stale scores),

so that an unchanged teacher on unchanged candidates is never scored again. Scores are computed in chunks
of ``chunk_size`` pairs and each finished chunk is written atomically (a small Parquet file with its
``qid, docno, score`` and ``pair``, a hash of the pair's two texts): after a crash, the next call loads the
finished chunks and scores only the missing ones. When every chunk is done, the scores are merged into one
``scores.parquet`` and the chunks are deleted.

A changed candidate set is a new key, but its pairs are not all new: before scoring, the cache reads the
finished ``scores.parquet`` of every other key made with the same teacher and ``max_length`` and takes the
score of any pair whose two texts it already holds (matched by ``pair``, so an edited text is scored
again). Adding transfer queries, or a few documents per query, scores only what was added.

Pairs are sorted by text length (query + document, in characters; longest first, then by qid and docno)
before chunking, so each chunk holds texts of similar length and the scorer pads few tokens. The order,
and so the composition of every chunk, depends only on the pairs and their texts: a resumed run cuts the
same chunks. Chunks live in a sub-folder per ``chunk_size``; changing it starts the chunks afresh.

Layout of ``folder/<key>/``: ``meta.json`` (what the key was made of), ``chunks-<size>/chunk-00000.parquet``
while in progress, ``scores.parquet`` when complete.

Example:
    >>> import tempfile
    >>> import numpy as np
    >>> from distillrank.data import Corpus
    >>> corpus = Corpus(["d1", "d2"], ["", ""], ["cats purr", "dogs bark"])
    >>> cache = TeacherScoreCache(tempfile.mkdtemp())
    >>> score_fn = lambda pairs: np.array([float(len(d)) for _, d in pairs])
    >>> run = cache.get_or_compute({"q1": ["d1", "d2"]}, score_fn, {"q1": "cats"}, corpus,
    ...                            fingerprint="toy-teacher")
    >>> run["q1"]
    {'d1': 9.0, 'd2': 9.0}
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from distillrank.data.collection import Corpus
from distillrank.data.run import Run
from distillrank.io import atomic_write
from distillrank.progress import CountingProgress

__all__ = ["ScoreFn", "TeacherScoreCache", "cache_key", "model_fingerprint"]

ScoreFn = Callable[[list[tuple[str, str]]], np.ndarray]
"""Scores ``(query text, document text)`` pairs: ``float [n_pairs]``, one score per pair, in order."""

_SCORES = "scores.parquet"
_META = "meta.json"
_FORMAT = "distillrank-teacher-scores"
_FORMAT_VERSION = 2
_READ_BLOCK = 1 << 20


def model_fingerprint(model: str | Path) -> str:
    """A stable fingerprint of a teacher model.

    * a folder: SHA-256 over the relative path, size and contents of every file in it (recursively,
      hidden files excepted) — weights, configuration and tokenizer files all change the scores;
    * a file: SHA-256 of its contents;
    * any other string: taken as the fingerprint itself (e.g. ``"bm25-k1=0.9"`` or a model hub revision).
    """
    path = Path(model)
    if isinstance(model, Path) or path.exists():
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such model file or folder")
        h = hashlib.sha256()
        files = (
            [path]
            if path.is_file()
            else sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.parts[len(path.parts) :])
            )
        )
        for p in files:
            rel = p.name if p == path else p.relative_to(path).as_posix()
            h.update(f"{rel}\0{p.stat().st_size}\0".encode())
            with open(p, "rb") as f:
                while block := f.read(_READ_BLOCK):
                    h.update(block)
        return "sha256:" + h.hexdigest()
    if not isinstance(model, str) or not model:
        raise ValueError(f"a model fingerprint must be a non-empty string or a path; got {model!r}")
    return model


def _pairs_of(candidates: Run | Mapping[str, Any]) -> list[tuple[str, str]]:
    """Sorted distinct ``(qid, docno)`` pairs of a run or of ``qid -> [docno, ...]``."""
    pairs: set[tuple[str, str]] = set()
    for qid, docs in candidates.items():
        if isinstance(docs, str):
            raise TypeError(f"query {qid!r}: candidates must be a list of docnos, not a string")
        pairs.update((str(qid), str(d)) for d in docs)
    return sorted(pairs)


def cache_key(
    fingerprint: str,
    pairs: Iterable[tuple[str, str]],
    max_length: int | None = None,
    texts: Iterable[str] = (),
) -> str:
    """SHA-256 hex digest of the fingerprint, ``max_length``, the sorted pairs and the texts."""
    h = hashlib.sha256()
    h.update(f"{_FORMAT}/{_FORMAT_VERSION}\0{fingerprint}\0{max_length}\0".encode())
    for q, d in sorted(pairs):
        h.update(f"{q}\t{d}\n".encode())
    h.update(b"\0texts\0")
    for t in texts:
        h.update(hashlib.sha256(t.encode()).digest())
    return h.hexdigest()


class TeacherScoreCache:
    """Teacher scores of candidate pairs, cached under ``folder`` (see the module docstring).

    Attributes:
        folder: the cache root; one sub-folder per key.
        last_key: the key of the latest :meth:`get_or_compute`.
        last_scored: pairs the scorer was asked for by the latest call (0 when everything was cached).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.last_key: str | None = None
        self.last_scored = 0

    def get_or_compute(
        self,
        candidates: Run | Mapping[str, Sequence[str]],
        score_fn: ScoreFn,
        queries: Mapping[str, str],
        corpus: Corpus,
        *,
        fingerprint: str | Path,
        max_length: int | None = None,
        chunk_size: int = 512,
        show_progress: bool = False,
        name: str = "teacher",
    ) -> Run:
        """The teacher's score of every candidate pair, as a :class:`Run`, from cache where possible.

        Args:
            candidates: a run (its documents are the candidates) or ``qid -> [docno, ...]``.
            score_fn: scores a list of ``(query text, document text)`` pairs; documents are given as
                ``title + " " + text``.
            queries: ``qid -> query text``.
            corpus: the documents.
            fingerprint: the teacher's identity: a model folder or file (hashed by
                :func:`model_fingerprint`) or a string.
            max_length: the teacher's truncation length (part of the key).
            chunk_size: pairs per scorer call and per file written.
            show_progress: a rich progress bar with pairs/s.
            name: the returned run's name.

        Raises:
            KeyError: a query or document of the candidates is missing from ``queries``/``corpus``.
            ValueError: ``score_fn`` returned the wrong number of scores or a non-finite score.
        """
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer; got {chunk_size!r}")
        pairs = _pairs_of(candidates)
        qids = sorted({q for q, _ in pairs})
        docnos = sorted({d for _, d in pairs})
        for q in qids:
            if q not in queries:
                raise KeyError(f"candidate query {q!r} has no text in queries")
        for d in docnos:
            if d not in corpus:
                raise KeyError(f"candidate document {d!r} is not in the corpus")
        q_text = {q: queries[q] for q in qids}
        d_text = {d: corpus[d].full_text() for d in docnos}
        fp = model_fingerprint(fingerprint)
        key = cache_key(fp, pairs, max_length, [q_text[q] for q in qids] + [d_text[d] for d in docnos])
        self.last_key, self.last_scored = key, 0
        root = self.folder / key
        done = root / _SCORES
        if done.exists():
            return _read_run(done, name)

        root.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "fingerprint": fp,
            "max_length": max_length,
            "n_pairs": len(pairs),
            "n_queries": len(qids),
            "n_docs": len(docnos),
        }
        with atomic_write(root / _META) as f:
            json.dump(meta, f, indent=2)
        # deterministic order: longest texts first, ties by (qid, docno)
        order = sorted(pairs, key=lambda p: (-(len(q_text[p[0]]) + len(d_text[p[1]])), p[0], p[1]))
        hashes = {p: _pair_hash(q_text[p[0]], d_text[p[1]]) for p in order}
        known = self._known_scores(fp, max_length, exclude=key)
        chunk_dir = root / f"chunks-{chunk_size}"
        chunk_dir.mkdir(exist_ok=True)
        n_chunks = math.ceil(len(order) / chunk_size)
        results: list[pa.Table] = []
        todo: list[int] = []
        for c in range(n_chunks):
            table = _read_chunk(
                chunk_dir / f"chunk-{c:05d}.parquet", order[c * chunk_size : (c + 1) * chunk_size]
            )
            results.append(table if table is not None else pa.table({}))
            if table is None:
                todo.append(c)
        n_todo = sum(
            hashes[p] not in known for c in todo for p in order[c * chunk_size : (c + 1) * chunk_size]
        )
        with CountingProgress(n_todo, show_progress, label="teacher", unit="pairs") as bar:
            for c in todo:
                chunk = order[c * chunk_size : (c + 1) * chunk_size]
                new = [p for p in chunk if hashes[p] not in known]
                if new:
                    got = np.asarray(score_fn([(q_text[q], d_text[d]) for q, d in new]), dtype=np.float64)
                    got = got.reshape(-1)
                    if got.shape[0] != len(new):
                        raise ValueError(f"score_fn returned {got.shape[0]} scores for {len(new)} pairs")
                    if not np.isfinite(got).all():
                        raise ValueError(f"score_fn returned a NaN or infinite score in chunk {c}")
                    known.update(zip((hashes[p] for p in new), got.tolist(), strict=True))
                table = pa.table(
                    {
                        "qid": [q for q, _ in chunk],
                        "docno": [d for _, d in chunk],
                        "score": np.array([known[hashes[p]] for p in chunk], dtype=np.float64),
                        "pair": [hashes[p] for p in chunk],
                    }
                )
                _write_parquet(chunk_dir / f"chunk-{c:05d}.parquet", table)
                results[c] = table
                self.last_scored += len(new)
                bar.advance(len(new))
        merged = pa.concat_tables(results) if results else _empty_table()
        _write_parquet(done, merged)
        shutil.rmtree(chunk_dir, ignore_errors=True)
        return _table_to_run(merged, name)

    def _known_scores(self, fingerprint: str, max_length: int | None, *, exclude: str) -> dict[str, float]:
        """``pair hash -> score`` from every finished key of this teacher and ``max_length``."""
        known: dict[str, float] = {}
        if not self.folder.is_dir():
            return known
        for root in sorted(self.folder.iterdir()):
            if root.name == exclude or not (root / _SCORES).is_file():
                continue
            try:
                meta = json.loads((root / _META).read_text())
                if (
                    meta.get("format_version") != _FORMAT_VERSION
                    or meta.get("fingerprint") != fingerprint
                    or meta.get("max_length") != max_length
                ):
                    continue
                table = pq.read_table(root / _SCORES, columns=["pair", "score"])
            except (OSError, ValueError, KeyError, pa.ArrowException):
                continue  # another version's or a damaged folder: never a reason to fail
            known.update(zip(table["pair"].to_pylist(), table["score"].to_pylist(), strict=True))
        return known

    def clear(self, key: str | None = None) -> None:
        """Delete one key's folder, or the whole cache."""
        target = self.folder / key if key else self.folder
        shutil.rmtree(target, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- helpers
def _pair_hash(query: str, doc: str) -> str:
    """128 bits of SHA-256 over the two texts: the identity of a pair's score for one teacher."""
    return hashlib.sha256(f"{query}\0{doc}".encode()).hexdigest()[:32]


def _empty_table() -> pa.Table:
    return pa.table(
        {
            "qid": pa.array([], pa.string()),
            "docno": pa.array([], pa.string()),
            "score": pa.array([], pa.float64()),
            "pair": pa.array([], pa.string()),
        }
    )


def _write_parquet(path: Path, table: pa.Table) -> None:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    with atomic_write(path, "wb") as f:
        f.write(buf.getvalue())


def _read_chunk(path: Path, expected: list[tuple[str, str]]) -> pa.Table | None:
    """A finished chunk, or None when it is missing, unreadable or holds other pairs."""
    if not path.exists():
        return None
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException):
        os.unlink(path)
        return None
    if (
        table.column_names != ["qid", "docno", "score", "pair"]
        or list(zip(table["qid"].to_pylist(), table["docno"].to_pylist(), strict=True)) != expected
    ):
        os.unlink(path)
        return None
    return table


def _table_to_run(table: pa.Table, name: str) -> Run:
    data: dict[str, dict[str, float]] = {}
    for q, d, s in zip(
        table["qid"].to_pylist(), table["docno"].to_pylist(), table["score"].to_pylist(), strict=True
    ):
        data.setdefault(q, {})[d] = s
    return Run.from_trusted(dict(sorted(data.items())), name=name)


def _read_run(path: Path, name: str) -> Run:
    return _table_to_run(pq.read_table(path), name)
