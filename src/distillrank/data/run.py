"""Runs: ranked lists of documents with scores, per query (schema ``qid, docno, score, rank``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from distillrank.errors import DataFormatError


def id_set(ids: str | Iterable[str]) -> set[str]:
    """``ids`` as a set of str ids; a single str is one id (not its characters)."""
    return {ids} if isinstance(ids, str) else {str(i) for i in ids}


def nested_rows(
    data: object, owner: str, value: str, rows: str, file: str
) -> Iterator[tuple[Any, Mapping[Any, Any]]]:
    """The ``(qid, {docno: value})`` pairs of ``data`` (none for None), or a TypeError that names
    ``owner`` (``Run``, ``Qrels``) and what is not a mapping: ``data`` itself (with the ``from_file``
    hint for a path) or the ``rows`` (``the results``) of one query."""
    if data is None:
        return
    if not isinstance(data, Mapping):
        hint = f"; to read {file} use {owner}.from_file(path)" if isinstance(data, str | Path) else ""
        raise TypeError(
            f"{owner}(data): data must be a mapping qid -> {{docno: {value}}}, "
            f"not {type(data).__name__}{hint}"
        )
    for q, docs in data.items():
        if not isinstance(docs, Mapping):
            raise TypeError(
                f"{owner}: {rows} of query {q!r} must be a mapping docno -> {value}, "
                f"not {type(docs).__name__}"
            )
        yield q, docs


class Run(Mapping[str, dict[str, float]]):
    """Scores of retrieved documents: ``qid -> {docno: score}``.

    Order within a query is by descending score; equal scores are broken by descending ``docno``, which
    is what trec_eval does, so ranks computed here agree with every trec_eval-based measure.

    Args:
        data: scores per query. NaN or infinite scores are rejected.
        name: a label for reports and the TREC ``tag`` column.
    """

    def __init__(
        self,
        data: Mapping[str, Mapping[str, float]] | None = None,
        name: str = "run",
        *,
        source: str | Path | None = None,
    ) -> None:
        self.name = name
        self._d: dict[str, dict[str, float]] = {}
        for q, docs in nested_rows(data, "Run", "score", "the results", "a run file"):
            row: dict[str, float] = {}
            for d, s in docs.items():  # ids as str (ints and numpy scalars too), as every run file holds them
                try:
                    s = float(s)
                except (TypeError, ValueError):
                    raise DataFormatError(
                        source, None, f"query {q!r}, document {d!r}: score {s!r} is not a number"
                    ) from None
                if not math.isfinite(s):
                    raise DataFormatError(source, None, f"query {q!r}, document {d!r}: score is {s}")
                row[str(d)] = s
            self._d[str(q)] = row

    @classmethod
    def from_trusted(cls, data: dict[str, dict[str, float]], name: str = "run") -> Run:
        """A run over ``data`` as is, without copying or checking every score.

        For producers whose scores are finite by construction (retrievers, models): checking the
        ``n_queries * k`` entries one by one in Python costs as much as BM25 retrieval itself. ``data`` is
        not copied, so the caller must not change it afterwards.
        """
        run = cls.__new__(cls)
        run.name = name
        run._d = data
        return run

    def __getitem__(self, qid: str) -> dict[str, float]:
        return self._d[qid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def ranked(self, qid: str, k: int | None = None) -> list[tuple[str, float]]:
        """``[(docno, score), ...]`` of ``qid`` best first (ties by descending docno), cut at ``k`` (>= 0)."""
        if k is not None and k < 0:
            raise ValueError(f"k must be >= 0 (or None for all), not {k}")
        items = sorted(self._d.get(qid, {}).items(), key=lambda x: (x[1], x[0]), reverse=True)
        return items[:k] if k is not None else items

    def top_k(self, k: int) -> Run:
        """A new run that keeps the best ``k`` (>= 1) documents of every query."""
        if k < 1:
            raise ValueError(f"k must be >= 1, not {k}")
        return Run.from_trusted({q: dict(self.ranked(q, k)) for q in self._d}, name=self.name)

    def subset(self, qids: str | Iterable[str]) -> Run:
        """The run of the queries ``qids`` only (one id may be given as a str)."""
        keep = id_set(qids)
        return Run.from_trusted({q: dict(v) for q, v in self._d.items() if q in keep}, name=self.name)

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {q: dict(v) for q, v in self._d.items()}

    def to_dataframe(self) -> pd.DataFrame:
        """Long table ``qid, docno, score, rank`` (rank from 1), best first within each query."""
        qids, docnos, scores, ranks = [], [], [], []
        for q in self._d:
            for r, (d, s) in enumerate(self.ranked(q), start=1):
                qids.append(q)
                docnos.append(d)
                scores.append(s)
                ranks.append(r)
        return pd.DataFrame(
            {
                "qid": qids,
                "docno": docnos,
                "score": np.asarray(scores, dtype=np.float64),
                "rank": np.asarray(ranks, dtype=np.int64),
            }
        )

    @classmethod
    def from_dataframe(cls, df: pd.DataFrame, name: str = "run") -> Run:
        missing = {"qid", "docno", "score"} - set(df.columns)
        if missing:
            raise DataFormatError(None, None, f"run table lacks columns {sorted(missing)}")
        out: dict[str, dict[str, float]] = {}
        for i, (q, d, s) in enumerate(
            zip(df["qid"].astype(str), df["docno"].astype(str), df["score"], strict=True)
        ):
            row = out.setdefault(q, {})
            if d in row:
                raise DataFormatError(None, i + 1, f"query {q!r}: document {d!r} appears twice")
            row[d] = float(s)
        return cls(out, name=name)

    @classmethod
    def from_file(cls, path: str | Path, name: str | None = None) -> Run:
        """Read a TREC run (``qid Q0 docno rank score tag``); see :func:`read_trec_run`."""
        from distillrank.data.formats.trec import read_trec_run

        return read_trec_run(path, name=name)

    def save(self, path: str | Path, tag: str | None = None) -> None:
        """Write a TREC run file atomically."""
        from distillrank.data.formats.trec import write_trec_run

        write_trec_run(self, path, tag=tag or self.name)

    def __repr__(self) -> str:
        n = sum(len(v) for v in self._d.values())
        return f"Run({self.name!r}, {len(self)} queries, {n} results)"


def break_ties(values: np.ndarray) -> np.ndarray:
    """``values`` (in first-stage order, best first) plus a bonus that orders ties by position.

    The bonus is less than half the smallest gap between distinct values, so distinct values keep their
    order, and tied ones become strictly decreasing in first-stage order (which survives tools that break
    ties otherwise, e.g. trec_eval by docno). When values are closer than single precision resolves (a
    learnt model's scores one double-precision step apart; pytrec_eval compares some measures' scores as
    float32), the bonus cannot separate them there: the values are then replaced by ``n, n-1, ..., 1`` in
    the order of (value, first-stage position), the one kind of score every tool orders the same way.
    """
    n = len(values)
    if n < 2 or distinct_in_float32(values):
        return values
    distinct = np.unique(values)
    out = values
    if len(distinct) < n:
        gap = float(np.diff(distinct).min()) if len(distinct) > 1 else 1.0
        out = values + (gap / (2.0 * n)) * np.arange(n - 1, -1, -1, dtype=np.float64)
    if distinct_in_float32(out):
        return out
    order = np.lexsort((np.arange(n), -np.asarray(values, dtype=np.float64)))
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.arange(n, 0, -1, dtype=np.float64)
    return ranks


def distinct_in_float32(values: np.ndarray) -> bool:
    """Whether ``values`` stay distinct in single precision, as pytrec_eval compares some measures'
    scores (nDCG, AP, P)."""
    single = np.sort(np.asarray(values, dtype=np.float32))
    return bool((single[1:] != single[:-1]).all())
