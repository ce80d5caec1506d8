"""Negative sampling: turn qrels, a corpus and (optionally) a first-stage run into training lists.

Every training list is one query with its judged positive(s) first, followed by sampled negatives
(:class:`~distillrank.training.examples.ListExample`). Three strategies:

* **random** (:func:`random_negatives`): documents drawn uniformly from the corpus, judged positives
  excluded. Cheap and easy, but most are trivially irrelevant, so the model learns little from them.
* **hard** (:func:`hard_negatives`): documents a retriever (BM25) or the teacher ranks highly for the
  query but that are not judged relevant. They teach the fine distinctions a reranker needs.
* **mixed** (:func:`mixed_negatives`): a fraction hard, the rest random.

Why hard negatives are drawn from a *window* of ranks (``skip=(10, 100)``) rather than from the very
top: sparse judgements (MS MARCO, SciFact: about one judged positive per query) leave many relevant but
unjudged documents near the top of a good ranking. Treating those as negatives -- *false negatives* --
pushes the model away from relevant text. RocketQA (Qu et al., "RocketQA: An Optimized Training Approach
to Dense Passage Retrieval for Open-Domain Question Answering", NAACL 2021) found that about 70% of the
top-ranked "negatives" from a strong retriever on MS MARCO were in fact relevant, and that denoising them
is one of the largest gains in their recipe (they filter with a cross-encoder). Skipping the top ranks is
the simple, teacher-free form of that denoising. With a teacher, a complementary remedy is to distil from
its scores (``build_examples(teacher=...)`` and a distillation loss) rather than trust 0/1 labels.

Randomness is seeded per query from ``(seed, qid)``, so the negatives of a query do not depend on which
other queries are sampled or in what order.

Example:
    >>> from distillrank.data.collection import Corpus, Qrels
    >>> corpus = Corpus(["d1", "d2", "d3"], ["", "", ""], ["cats purr", "dogs bark", "cows moo"])
    >>> qrels = Qrels({"q1": {"d1": 1}})
    >>> examples = build_examples({"q1": "do cats purr?"}, qrels, corpus, n_negatives=2, seed=0)
    >>> examples[0].docs[0], examples[0].labels
    ('cats purr', [1.0, 0.0, 0.0])
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from typing import Any, Literal

import numpy as np

from distillrank.data.collection import Corpus, Qrels
from distillrank.data.run import Run
from distillrank.training.examples import ListExample

__all__ = [
    "NegativeStrategy",
    "TeacherLike",
    "build_examples",
    "hard_negatives",
    "mixed_negatives",
    "random_negatives",
]

NegativeStrategy = Literal["random", "hard", "mixed"]
"""Names accepted by :func:`build_examples`'s ``negatives``."""

TeacherLike = Callable[[list[tuple[str, str]]], Any] | Mapping[str, Mapping[str, float]] | Any
"""A callable scoring ``(query, doc)`` pairs, an object with ``predict(pairs)`` (a
:class:`~distillrank.models.base.Scorer`), or precomputed scores ``qid -> {docno: score}``."""

QrelsLike = Mapping[str, Mapping[str, int]]


def _rng(seed: int, qid: str, salt: int = 0) -> np.random.Generator:
    """A generator that depends only on ``(seed, qid, salt)`` (crc32 is stable across processes)."""
    return np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(qid.encode("utf-8")), salt])


def _positives(qrels: QrelsLike, qid: str, min_label: int) -> list[str]:
    """Judged positives of ``qid``, highest label first (ties in qrels order)."""
    judged = qrels.get(qid, {})
    pos = [d for d, r in judged.items() if r >= min_label]
    return sorted(pos, key=lambda d: -judged[d])


def _check_n(n: int) -> None:
    if n < 0:
        raise ValueError(f"the number of negatives must be >= 0, got {n}")


def random_negatives(
    qrels: QrelsLike,
    corpus: Corpus,
    n: int,
    seed: int = 0,
    *,
    min_label: int = 1,
    exclude: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, list[str]]:
    """``n`` documents per query drawn uniformly from ``corpus`` without replacement.

    Args:
        qrels: judgements; documents with label ``>= min_label`` are never drawn for their query.
        corpus: the documents to draw from.
        n: negatives per query (fewer only when the corpus is too small).
        seed: with the qid, fixes the draw.
        exclude: more documents to avoid per query (for example the hard negatives already taken).

    Returns:
        ``qid -> [docno, ...]`` for every query of ``qrels``.
    """
    _check_n(n)
    docnos = corpus.docnos
    out: dict[str, list[str]] = {}
    for qid in qrels:
        banned = set(_positives(qrels, qid, min_label))
        if exclude is not None:
            banned.update(exclude.get(qid, ()))
        available = len(docnos) - sum(1 for d in banned if d in corpus)
        want = min(n, max(available, 0))
        rng = _rng(seed, qid, 1)
        picked: list[str] = []
        seen: set[str] = set()
        if want > len(docnos) // 2:  # dense draw: a permutation is cheaper than rejection
            for i in rng.permutation(len(docnos)):
                d = docnos[i]
                if d not in banned:
                    picked.append(d)
                    if len(picked) == want:
                        break
        else:  # sparse draw: rejection sampling in blocks
            while len(picked) < want:
                for i in rng.integers(0, len(docnos), size=2 * (want - len(picked)) + 8):
                    d = docnos[int(i)]
                    if d not in banned and d not in seen:
                        seen.add(d)
                        picked.append(d)
                        if len(picked) == want:
                            break
        out[qid] = picked
    return out


def hard_negatives(
    run: Mapping[str, Mapping[str, float]],
    qrels: QrelsLike,
    n: int,
    *,
    skip: tuple[int, int] = (10, 100),
    seed: int = 0,
    min_label: int = 1,
) -> dict[str, list[str]]:
    """``n`` negatives per query sampled from ranks ``skip[0] + 1 .. skip[1]`` of ``run``.

    The top ``skip[0]`` documents are skipped because that is where unjudged relevant documents (false
    negatives) concentrate (RocketQA; Qu et al. 2021 -- see the module docstring); ``skip=(0, k)``
    samples from the whole top ``k``. Judged positives are excluded wherever they rank. Ranks follow
    :meth:`Run.ranked` (descending score, ties by descending docno, as trec_eval).

    Args:
        run: a retriever's or the teacher's ranking, ``qid -> {docno: score}`` (a :class:`Run`).
        qrels: judgements; queries absent from ``run`` get no hard negatives (an empty list).
        n: negatives per query; fewer when the window holds fewer non-positive documents.
        skip: ``(start, stop)``, 0-based positions ``start <= i < stop`` in the ranking.
        seed: with the qid, fixes the sample.

    Returns:
        ``qid -> [docno, ...]`` for every query of ``qrels``, in the order they were ranked.
    """
    _check_n(n)
    start, stop = skip
    if not 0 <= start < stop:
        raise ValueError(f"skip must be (start, stop) with 0 <= start < stop, got {skip}")
    ranked_run = run if isinstance(run, Run) else Run(run)
    out: dict[str, list[str]] = {}
    for qid in qrels:
        banned = set(_positives(qrels, qid, min_label))
        window = [d for d, _ in ranked_run.ranked(qid, stop)[start:] if d not in banned]
        if len(window) <= n:
            out[qid] = window
            continue
        idx = np.sort(_rng(seed, qid, 2).choice(len(window), size=n, replace=False))
        out[qid] = [window[int(i)] for i in idx]
    return out


def mixed_negatives(
    run: Mapping[str, Mapping[str, float]],
    qrels: QrelsLike,
    corpus: Corpus,
    n: int,
    *,
    hard_fraction: float = 0.5,
    skip: tuple[int, int] = (10, 100),
    seed: int = 0,
    min_label: int = 1,
) -> dict[str, list[str]]:
    """``round(n * hard_fraction)`` hard negatives, topped up with random ones to ``n`` per query.

    Random negatives also fill in when the run's window has too few hard ones. Hard negatives come first.
    """
    _check_n(n)
    if not 0.0 <= hard_fraction <= 1.0:
        raise ValueError(f"hard_fraction must be in [0, 1], got {hard_fraction}")
    hard = hard_negatives(run, qrels, round(n * hard_fraction), skip=skip, seed=seed, min_label=min_label)
    out: dict[str, list[str]] = {}
    for qid in qrels:
        h = hard.get(qid, [])
        rand = random_negatives(
            {qid: qrels[qid]}, corpus, n - len(h), seed, min_label=min_label, exclude={qid: h}
        )
        out[qid] = h + rand[qid]
    return out


def _teacher_scores(
    teacher: TeacherLike, pairs: list[tuple[str, str]], keys: list[tuple[str, str]]
) -> list[float]:
    """Scores of ``pairs`` (texts) whose ids are ``keys`` (qid, docno)."""
    if isinstance(teacher, Mapping):
        out: list[float] = []
        for qid, docno in keys:
            try:
                out.append(float(teacher[qid][docno]))
            except KeyError:
                raise KeyError(
                    f"the precomputed teacher scores have no score for query {qid!r}, document {docno!r}"
                ) from None
        return out
    predict = getattr(teacher, "predict", None)
    fn = predict if callable(predict) else teacher
    if not callable(fn):
        raise TypeError(
            "teacher must be a callable scoring (query, doc) pairs, an object with predict(pairs), or "
            f"a dict qid -> {{docno: score}}; got {type(teacher).__name__}"
        )
    scores = np.asarray(fn(pairs), dtype=np.float64).reshape(-1)
    if len(scores) != len(pairs):
        raise ValueError(f"the teacher returned {len(scores)} scores for {len(pairs)} pairs")
    return [float(s) for s in scores]


def build_examples(
    queries: Mapping[str, str],
    qrels: QrelsLike,
    corpus: Corpus,
    *,
    negatives: NegativeStrategy | Mapping[str, Sequence[str]] = "random",
    n_negatives: int = 7,
    run: Mapping[str, Mapping[str, float]] | None = None,
    skip: tuple[int, int] = (10, 100),
    hard_fraction: float = 0.5,
    positives: Literal["all", "first", "each"] = "all",
    teacher: TeacherLike | None = None,
    min_label: int = 1,
    seed: int = 0,
) -> list[ListExample]:
    """Training lists ``[positive(s)..., negatives...]`` for every judged query with a positive.

    In-batch negatives are not sampled here: the trainer's in-batch loss (``TrainerConfig.in_batch``)
    uses the other queries' documents of each batch.

    Args:
        queries: query texts by qid; queries without text or without a positive in ``qrels`` are skipped.
        qrels: judgements; labels ``>= min_label`` are positives (their label becomes the list label).
        corpus: document texts (``title + " " + text``).
        negatives: ``"random"``, ``"hard"`` or ``"mixed"`` (those two need ``run``), or precomputed
            negatives ``qid -> [docno, ...]`` (judged positives among them are dropped).
        n_negatives: negatives per list.
        run: the ranking hard negatives are drawn from (BM25's or the teacher's).
        skip, hard_fraction: see :func:`hard_negatives` and :func:`mixed_negatives`.
        positives: ``"all"`` puts every positive at the head of one list (highest label first);
            ``"first"`` keeps only the highest-labelled one; ``"each"`` makes one list per positive,
            sharing the query's negatives.
        teacher: fills ``teacher_scores`` for distillation: a callable scoring a list of ``(query, doc)``
            text pairs (called once with every pair), an object with ``predict(pairs)`` (a
            :class:`~distillrank.models.base.Scorer`), or precomputed ``qid -> {docno: score}``.
        seed: fixes the sampling (per query, see the module docstring).

    Returns:
        One :class:`ListExample` per query (per positive with ``positives="each"``), in ``queries`` order.
    """
    if positives not in ("all", "first", "each"):
        raise ValueError(f"positives must be 'all', 'first' or 'each', got {positives!r}")
    if not isinstance(queries, Mapping):
        raise TypeError(
            "queries must be a mapping qid -> text (e.g. coll.queries_for('train')); "
            f"got {type(queries).__name__}"
        )
    if not isinstance(qrels, Mapping):
        hint = "; read a qrels file with Qrels.from_file(path)" if isinstance(qrels, str | PathLike) else ""
        raise TypeError(
            "qrels must be a mapping qid -> {docno: label} (e.g. coll.get_qrels('train')); "
            f"got {type(qrels).__name__}{hint}"
        )
    if not isinstance(corpus, Corpus):
        raise TypeError(f"corpus must be a Corpus (e.g. coll.corpus), got {type(corpus).__name__}")
    if not isinstance(qrels, Qrels):  # a plain dict: ids as str, labels as int, as everywhere else
        qrels = Qrels(qrels)
    queries = {str(q): t for q, t in queries.items()}
    qids = [q for q in queries if q in qrels and _positives(qrels, q, min_label)]
    if queries and not qids and not any(q in qrels for q in queries):
        raise ValueError(
            f"none of the {len(queries)} queries has qrels (e.g. {next(iter(queries))!r}): are the "
            "queries and the qrels of the same split?"
        )
    used = {q: qrels[q] for q in qids}
    if isinstance(negatives, str):
        if negatives == "random":
            neg = random_negatives(used, corpus, n_negatives, seed, min_label=min_label)
        elif negatives in ("hard", "mixed"):
            if run is None:
                raise ValueError(f"negatives={negatives!r} needs a run to sample from (run=...)")
            if negatives == "hard":
                neg = hard_negatives(run, used, n_negatives, skip=skip, seed=seed, min_label=min_label)
            else:
                neg = mixed_negatives(
                    run,
                    used,
                    corpus,
                    n_negatives,
                    hard_fraction=hard_fraction,
                    skip=skip,
                    seed=seed,
                    min_label=min_label,
                )
        else:
            raise ValueError(f"negatives must be 'random', 'hard', 'mixed' or a dict, got {negatives!r}")
    else:
        neg = {q: [d for d in negatives.get(q, ()) if used[q].get(d, 0) < min_label] for q in qids}

    lists: list[tuple[str, list[str], list[float]]] = []
    for qid in qids:
        pos = _positives(qrels, qid, min_label)
        negs = [d for d in neg.get(qid, []) if d in corpus]
        groups = [pos] if positives == "all" else [pos[:1]] if positives == "first" else [[p] for p in pos]
        for group in groups:
            missing = [d for d in group if d not in corpus]
            if missing:
                raise KeyError(f"query {qid!r}: judged document {missing[0]!r} is not in the corpus")
            labels = [float(qrels[qid][d]) for d in group] + [0.0] * len(negs)
            lists.append((qid, group + negs, labels))

    texts = {d: corpus[d].full_text() for _, docnos, _ in lists for d in docnos}
    teacher_lists: list[list[float] | None] = [None] * len(lists)
    if teacher is not None:
        keys = [(qid, d) for qid, docnos, _ in lists for d in docnos]
        pairs = [(queries[qid], texts[d]) for qid, d in keys]
        flat = _teacher_scores(teacher, pairs, keys)
        pos_i = 0
        for i, (_, docnos, _) in enumerate(lists):
            teacher_lists[i] = flat[pos_i : pos_i + len(docnos)]
            pos_i += len(docnos)
    return [
        ListExample(
            query=queries[qid],
            docs=[texts[d] for d in docnos],
            labels=labels,
            teacher_scores=teacher_lists[i],
            qid=qid,
            docnos=list(docnos),
        )
        for i, (qid, docnos, labels) in enumerate(lists)
    ]
