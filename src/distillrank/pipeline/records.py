"""What the main job keeps in its output folder besides models: the keys that decide what a re-run reuses,
its JSON records (written atomically, read back leniently), and the ledger of a first run's stage timings
across the runs that were stopped before the folder's first report."""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distillrank.errors import DataWarning
from distillrank.io import atomic_write
from distillrank.pipeline.config import JobConfig

if TYPE_CHECKING:
    from distillrank.data.collection import Corpus


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def corpus_digest(corpus: Corpus) -> str:
    """A digest of every document's id, title and text, in corpus order."""
    h = hashlib.sha256()
    for parts in zip(corpus.docnos, corpus.titles, corpus.texts, strict=True):
        h.update("\0".join(parts).encode("utf-8", "surrogatepass"))
        h.update(b"\1")
    return h.hexdigest()[:16]


def data_digest(
    corpus_key: str, queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, int]], qids: Iterable[str]
) -> str:
    """A digest of the data of the queries ``qids``: the corpus (``corpus_key``, :func:`corpus_digest`),
    their texts and their judgements. A cached teacher or student is reused only when the data it
    learnt from and was judged on is the same, not merely the collection's name."""
    ids = sorted(set(qids))
    return _digest(
        corpus_key,
        [(q, queries.get(q)) for q in ids],
        [(q, sorted(qrels[q].items())) for q in ids if q in qrels],
    )


def _with_query_field(key: str, cfg: JobConfig) -> str:
    """``key`` made to depend on the query field: the same query ids then have other texts, so a teacher
    or a student trained on one field is not reused for another. Keyed only off its default (``title``),
    so the caches of runs made before the setting stay valid."""
    return key if cfg.query_field == "title" else _digest(key, cfg.query_field)


def _resumable_checkpoints(folder: Path, key: str, finished_key: str | None) -> None:
    """Keep the teacher's training checkpoints in ``folder`` only where a run of teacher ``key`` can resume
    from them, and mark them as this key's. Those of another teacher (other settings, or the same query
    ids with other texts: another ``query_field``) are removed, which the trainer would refuse to resume
    from; without a mark, they are the teacher's of ``teacher.json`` (``finished_key``) when there is one."""
    mark = folder / "teacher-key"
    if folder.is_dir():
        written_for = mark.read_text(encoding="utf-8").strip() if mark.is_file() else finished_key
        if written_for is not None and written_for != key:
            shutil.rmtree(folder)
    with atomic_write(mark) as f:
        f.write(key)


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        json.dump(payload, f, indent=2)


def _read_json(path: Path) -> Any:
    """The content of a JSON file the job wrote, or None when it is absent or cannot be read (damaged
    outside the job: what it records is then computed again, with a warning naming the file)."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:  # invalid JSON or bytes (UnicodeDecodeError is a ValueError)
        warnings.warn(f"{path}: cannot be read ({e}); computing it again", DataWarning, stacklevel=2)
        return None


UNFINISHED_FIRST_RUNS = "unfinished_first_runs.json"
"""Under ``OUTPUT/cache/``: the stage timings of the runs that stopped before the folder's first report."""


def _previous_first_run(previous: Path) -> dict[str, float] | None:
    """The first-run timings of the report a finished run left in the folder (its ``timings`` when it
    predates that key); None when there is none."""
    try:
        before = _read_json(previous)
    except (OSError, ValueError):  # an unreadable report from an earlier run is replaced, not fatal
        before = None
    if isinstance(before, dict):
        kept = before.get("first_run_timings") or before.get("timings")
        if isinstance(kept, dict) and kept:
            return kept
    return None


def _first_run_timings(
    previous: dict[str, float] | None, timings: dict[str, float], unfinished: Path
) -> dict[str, float]:
    """The stage timings of the first run into this output folder, i.e. of reaching its first report.

    A re-run's ``timings`` are those of the cached stages, so the first-run timings of the report a
    finished run left (``previous``, :func:`_previous_first_run`) are carried over. Without one, they are
    this run's ``timings`` plus those of the runs before it that were stopped (``unfinished``, written by
    :func:`_note_unfinished`): a first run interrupted and resumed took the time of both, stage by stage
    (``total_s`` summed, and ``unfinished_runs`` counting the stopped ones)."""
    if previous is not None:
        return previous
    earlier = _read_json(unfinished) if unfinished.is_file() else None
    if not isinstance(earlier, dict):
        return dict(timings)
    out = {k: v if k == "unfinished_runs" else round(float(v), 2) for k, v in earlier.items()}
    for k, v in timings.items():
        out[k] = round(out.get(k, 0.0) + float(v), 2)
    return out


def _note_unfinished(path: Path, timings: dict[str, float], elapsed: float) -> None:
    """Add a stopped run's stage timings and wall time to ``path`` (the ledger of :func:`_first_run_timings`);
    the time it spent in the stage it did not finish counts under ``total_s`` only."""
    before = _read_json(path) if path.is_file() else None
    ledger: dict[str, float] = dict(before) if isinstance(before, dict) else {}
    for k, v in timings.items():
        if k != "total_s":
            ledger[k] = round(ledger.get(k, 0.0) + float(v), 2)
    ledger["total_s"] = round(ledger.get("total_s", 0.0) + elapsed, 1)
    ledger["unfinished_runs"] = ledger.get("unfinished_runs", 0) + 1
    _write_json(path, ledger)
