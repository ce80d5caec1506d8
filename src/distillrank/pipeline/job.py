"""The main job: distil a cross-encoder teacher into fast students and measure quality next to cost.

``distillrank run`` calls :func:`run_job`. Stages (each resumable; see "Caching" below):

1. **Candidates** — BM25 (Lucene defaults) top-``k`` for every query.
2. **Teacher** — a cross-encoder fine-tuned on the train qrels with BM25 hard negatives, early-stopped on
   validation queries held out of train (:mod:`.teacher`); optionally fused with BM25, the dense
   cosine and a LambdaMART over the cheap features (:mod:`.ranker`) when that is better on
   validation. ``teacher_dir`` reuses a saved teacher instead.
3. **Teacher labels** — the teacher's scores of every student-training candidate, cached on disk under a
   key of model + candidates + texts (:class:`~distillrank.distillation.TeacherScoreCache`).
4. **Students** — for each family (:data:`~.config.FAMILIES`; trained by :mod:`.families`) and target
   (:data:`~.config.TARGETS`).
5. **Evaluation** — test metrics of every model; cost of its full retrieve+rank path (:mod:`.paths`).
6. **Report** — ``report.md``, ``report.html``, ``metrics.json`` (:mod:`.summary`).

**Collections without a train split** (e.g. ``vaswani``, or any BEIR/TREC/SMART folder): the teacher
comes from ``teacher_dir`` (or, without one, a zero-shot BM25 + dense fusion), and the students learn
with k-fold cross-fitting over the judged queries: each fold's students are trained on the other folds'
queries (qrels and teacher labels) and rank only that fold's queries, so no query's labels are ever used
to rank it. The test metrics are over all queries, from the per-fold runs.

**Caching**: everything lives under ``output/``. Document embeddings and teacher scores are cached in
``output/cache/`` in chunks written atomically; the teacher trains with checkpoints; each student's result
is written to ``output/students/<family>/<name>.json`` with a key of the settings that made it. A re-run
with unchanged settings loads everything and only rewrites the report; a crashed run resumes where it
stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from distillrank.data.collection import Qrels, TextCollection
from distillrank.data.formats.trec import is_trec_id
from distillrank.data.run import Run
from distillrank.errors import DataWarning, DistillrankError
from distillrank.evaluation.metrics import evaluate
from distillrank.io import atomic_write
from distillrank.pipeline.config import JobConfig
from distillrank.pipeline.families import Fold, StudentFamilies, rerank_run
from distillrank.pipeline.paths import BM25Path, DensePath, RerankPath, measure_path
from distillrank.pipeline.ranker import score_with
from distillrank.pipeline.students import (
    TargetSpec,
    lgbm_kwargs,
    target_specs,
)
from distillrank.pipeline.teacher import Fusion, fit_fusion, train_cross_encoder

__all__ = ["Fold", "JobResult", "run_job"]

Log = Callable[[str], None]

CE_FREE = {"fusion", "ranker", "ranker_folds", "ranker_labels"}
"""Teacher settings that do not change the cross-encoder (changing them does not retrain it)."""

_STATIC_KEYS = ("static_sentences", "static_epochs")
"""Student settings of the static query encoder: in the cache key of ``lgbm_static`` students only."""
_NEURAL_HARD_KEYS = ("hard_mode",)
"""Student settings of the neural students' ``hard`` target only: in the cache key of those students."""
_MARGIN_KEYS = ("margin_anchor",)
"""Student settings of the ``margin_mse`` target only: in the cache key of those students."""
_FAMILY_KEYS: dict[str, tuple[str, ...]] = {
    "lgbm_static": _STATIC_KEYS,
    "colbert": ("colbert_dim", "colbert_doc_max_length", "colbert_lr"),
    "splade": ("splade_model", "splade_doc_max_length", "splade_lr", "splade_flops"),
}
"""Student settings of one family only (its side or its training): in the cache key of its students only."""
_NEURAL = ("bi_encoder", "bi_encoder_shallow", "dssm", "colbert", "splade")
_NEURAL_KEYS = ("keep_start",)
"""Student settings of every neural family: in the cache key of the neural students only."""


@dataclass
class JobResult:
    """What :func:`run_job` produced: ``metrics`` is the content of ``metrics.json``."""

    output: Path
    metrics: dict[str, Any]
    files: list[Path] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- helpers
def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


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


def _metrics(run: Run, qrels: Qrels, measures: Sequence[str]) -> dict[str, float]:
    res = evaluate(run, qrels, ",".join(measures))
    return {m: round(float(res.aggregate[m]), 4) for m in measures}


def _sample(qids: Sequence[str], n: int | None, seed: int) -> list[str]:
    qids = sorted(qids)
    if n is None or n >= len(qids):
        return qids
    return sorted(random.Random(seed).sample(qids, n))


def _teacher_model_dir(src: Path) -> Path:
    """The cross-encoder folder of a saved teacher: ``src/cross-encoder`` (a run's ``teacher/``) or ``src``.

    Raises:
        DistillrankError: neither holds a model (``config.json``); names ``src/teacher`` when that is one.
    """
    ce_dir = src / "cross-encoder" if (src / "cross-encoder").is_dir() else src
    if not (ce_dir / "config.json").is_file():
        hint = f"; did you mean {src / 'teacher'}?" if (src / "teacher" / "cross-encoder").is_dir() else ""
        raise DistillrankError(
            f"{src}: not a saved teacher (a run's teacher/ folder holding cross-encoder/, or a cross-encoder "
            f"model folder holding config.json){hint}"
        )
    return ce_dir


def _check_ids(coll: TextCollection) -> None:
    """Refuse, before any work, ids that the job's TREC run files (``runs/*.trec``) could not hold."""
    judged = {q for split in coll.splits for q in coll.get_qrels(split)}
    docs = ("document", list(coll.corpus.docnos), coll.corpus.source)
    for what, ids, source in (("query", [q for q in coll.queries if q in judged], None), docs):
        bad = [k for k, i in enumerate(ids) if not is_trec_id(i)]
        if bad:
            where = f"{source}: record {bad[0] + 1}" if source else (coll.source or coll.name)
            raise DistillrankError(
                f"{where}: {what} id {ids[bad[0]]!r} is empty or holds whitespace ({len(bad):,} of the "
                f"{len(ids):,} {what} ids do), which the job's TREC run files cannot hold; give the "
                "collection ids without whitespace"
            )


def _evaluation_split(coll: TextCollection, cfg: JobConfig) -> str:
    """The split the job evaluates on: ``cfg.test_split``, else ``test``, else the only split.

    Raises:
        DistillrankError: the split asked for is not there or is ``train``, or there is no ``test``
            split and several others to choose from (the message lists them).
    """
    splits = coll.splits
    listed = ", ".join(splits) or "none"
    if cfg.test_split is not None:
        if cfg.test_split == "train":
            raise DistillrankError(f"{coll.name}: the train split cannot be the test split; pick another")
        if cfg.test_split not in splits:
            raise DistillrankError(f"{coll.name}: no split {cfg.test_split!r} (splits: {listed})")
        return cfg.test_split
    if "test" in splits:
        return "test"
    if len(splits) == 1 and splits[0] != "train":
        return splits[0]
    others = [s for s in splits if s != "train"]
    hint = f"; choose one with --test-split (e.g. --test-split {others[0]})" if others else ""
    raise DistillrankError(f"{coll.name}: no test split to evaluate on (splits: {listed}){hint}")


def _fewest_fit(n: int, cfg: JobConfig, *, kfold: bool) -> int:
    """The fewest queries any fold of :func:`_plan` trains on, out of ``n`` judged queries: the train split
    (``kfold=False``) or, in k-fold, the other folds' queries, less the validation share of each."""
    if kfold:
        k = min(cfg.folds, n)
        n = n - -(-n // k) if k >= 2 else 0  # the smallest fold's training side
    return n - max(1, round(cfg.validation_fraction * n))


def _check_enough_queries(coll: TextCollection, n: int, cfg: JobConfig, *, kfold: bool, capped: bool) -> None:
    """Refuse, before any work, too few judged queries for every fold to keep one to train on.

    Raises:
        DistillrankError: one line saying how many there are, how many the plan needs and how many more.
    """
    fewest = _fewest_fit(n, cfg, kfold=kfold)
    if fewest >= 1:
        return
    need = next(m for m in range(max(n, 2), n + 10_000) if _fewest_fit(m, cfg, kfold=kfold) >= 1)
    share = f"validation_fraction {cfg.validation_fraction:g}"
    cap = f" (max_{'test' if kfold else 'train'}_queries)" if capped else ""
    judged = f"{n} judged {'query' if n == 1 else 'queries'} with a text{cap}"
    if kfold:
        what = (
            f"{judged} {'is' if n == 1 else 'are'} too few for k-fold cross-fitting (folds {cfg.folds}, "
            f"{share}): a fold trains on the other folds' queries less a validation share, which leaves "
            f"{max(fewest, 0)}"
        )
    else:
        what = (
            f"the train split has {judged}, too few to hold validation queries out ({share}) and train on "
            f"the rest, which leaves {max(fewest, 0)}"
        )
    raise DistillrankError(f"{coll.name}: {what}; the job needs at least {need} ({need - n} more)")


def _plan(coll: TextCollection, cfg: JobConfig) -> tuple[list[Fold], Qrels, bool, str]:
    """The folds, the qrels of every used query, whether the collection had a train split, and the split
    evaluated on (:func:`_evaluation_split`)."""
    splits = coll.splits
    has_train = "train" in splits and len(coll.get_qrels("train")) > 0
    test_split_ = _evaluation_split(coll, cfg)
    test_qrels = coll.get_qrels(test_split_)
    if not test_qrels:
        raise DistillrankError(f"{coll.name}: split {test_split_!r} has no judgements")
    test_queries = coll.queries_for(test_split_)
    judged_test = [q for q in test_qrels if q in test_queries]
    test = _sample(judged_test, cfg.max_test_queries, cfg.seed)
    if not test:
        raise DistillrankError(f"{coll.name}: no judged test query has a text")
    rng = random.Random(cfg.seed)
    if has_train:
        train_qrels = coll.get_qrels("train")
        train_queries = coll.queries_for("train")
        both = set(train_qrels) & set(test_qrels)
        if both:
            raise DistillrankError(
                f"{coll.name}: {len(both)} query ids are in both train and test, e.g. {sorted(both)[0]!r}"
            )
        judged_train = [q for q in train_qrels if q in train_queries]
        train = _sample(judged_train, cfg.max_train_queries, cfg.seed)
        _check_enough_queries(coll, len(train), cfg, kfold=False, capped=len(train) < len(judged_train))
        shuffled = train[:]
        rng.shuffle(shuffled)
        n_val = max(1, round(cfg.validation_fraction * len(train)))
        val, fit = sorted(shuffled[:n_val]), sorted(shuffled[n_val:])
        qrels = Qrels({**train_qrels.subset(train).to_dict(), **test_qrels.subset(test).to_dict()})
        return [Fold(0, fit, val, test)], qrels, True, test_split_
    from distillrank.distillation.folds import kfold_queries

    _check_enough_queries(coll, len(test), cfg, kfold=True, capped=len(test) < len(judged_test))
    k = min(cfg.folds, len(test))
    folds = []
    for i, (train, held_out) in enumerate(kfold_queries(test, k, seed=cfg.seed)):
        shuffled = sorted(train)
        rng.shuffle(shuffled)
        n_val = max(1, round(cfg.validation_fraction * len(shuffled)))
        folds.append(Fold(i, sorted(shuffled[n_val:]), sorted(shuffled[:n_val]), sorted(held_out)))
    return folds, test_qrels.subset(test), False, test_split_


# ------------------------------------------------------------------------------------------------ job
class _Job(StudentFamilies):
    def __init__(self, cfg: JobConfig, output: Path, teacher_dir: Path | None, log: Log) -> None:
        self.cfg, self.out, self.teacher_dir, self.log = cfg, output, teacher_dir, log
        self.cache = output / "cache"
        self.timings: dict[str, float] = {}
        self._dssm_vocabs: dict[int, list[str]] = {}  # fold -> the DSSM's trigram vocabulary
        self._teacher_scales: dict[tuple[str, int], float] = {}  # (family, fold) -> teacher scale

    # -- stage 0/1: data and candidates ---------------------------------------------------------------
    def load(self) -> None:
        from distillrank.data.catalogue import load_dataset
        from distillrank.retrieval.bm25 import BM25Retriever

        t0 = time.perf_counter()
        coll = load_dataset(self.cfg.dataset, self.cfg.data_dir, query_field=self.cfg.query_field)
        if not isinstance(coll, TextCollection):
            raise DistillrankError(
                f"{self.cfg.dataset}: distillrank run needs a text collection (queries, documents, qrels), "
                f"not {type(coll).__name__}"
            )
        _check_ids(coll)
        self.coll = coll
        self.corpus = coll.corpus
        self.folds, self.qrels, self.has_train, self.test_split = _plan(coll, self.cfg)
        if self.has_train and self.teacher_dir is None:
            self._check_teacher_positives()
        self.queries: dict[str, str] = {}
        for split in coll.splits:
            self.queries.update(coll.queries_for(split))
        used = sorted({q for f in self.folds for q in (*f.fit, *f.val, *f.test)})
        self.used = used
        self.bm25 = BM25Retriever()
        self.bm25.index(self.corpus)
        self.first = self.bm25.search({q: self.queries[q] for q in used}, k=self.cfg.candidates.k)
        self.first = Run.from_trusted({q: self.first[q] for q in used if q in self.first}, name="bm25")
        self._warn_queries_without_candidates()
        depth = self.cfg.candidates.depth
        fit_any = {q for f in self.folds for q in f.fit}
        self.cands: dict[str, list[str]] = {}
        for q in used:
            head = [d for d, _ in self.first.ranked(q, depth)] if q in self.first else []
            if q in fit_any:  # training lists also hold the judged positives
                head += [d for d, y in sorted(self.qrels.get(q, {}).items()) if y > 0 and d not in head]
            self.cands[q] = [d for d in head if d in self.corpus]
        self.transfer = self._transfer_queries()
        self._check_lgbm_rows()
        self.timings["load_and_bm25_s"] = round(time.perf_counter() - t0, 2)
        n_fit = sum(len(f.fit) for f in self.folds) // len(self.folds)
        self.log(
            f"{coll.name}: {len(self.corpus):,} documents, {len(used)} queries "
            f"({'train/validation/test' if self.has_train else f'{len(self.folds)}-fold'}; "
            + (f"{n_fit} training queries" if len(self.folds) == 1 else f"~{n_fit} training queries per fold")
            + f"), BM25 top-{self.cfg.candidates.k}"
            + (" (every document)" if len(self.corpus) <= self.cfg.candidates.k else "")
        )

    def _warn_queries_without_candidates(self) -> None:
        """One DataWarning for the queries BM25 finds nothing for (no indexable term: stop words,
        punctuation, emoji): every model then ranks nothing for them, and their test metrics are 0."""
        empty = [q for q in self.used if not self.first.get(q)]
        if not empty:
            return
        test = {q for f in self.folds for q in f.test}
        shown = ", ".join(f"{q!r} ({self.queries[q][:40]!r})" for q in empty[:3]) + (
            ", ..." if len(empty) > 3 else ""
        )
        warnings.warn(
            f"{self.coll.name}: {len(empty)} of {len(self.used)} queries ({sum(q in test for q in empty)} of "
            f"them test queries) have no BM25 candidates (no indexable term): {shown}; every model ranks "
            "nothing for them and they score 0",
            DataWarning,
            stacklevel=2,
        )

    def _check_teacher_positives(self) -> None:
        """Refuse, before any work, a teacher to fine-tune on training queries none of which has a judged
        relevant document (score > 0) in the corpus: it would have no positive to learn from.

        Raises:
            DistillrankError: names the collection and the number of training queries.
        """
        fit = self.folds[0].fit
        if any(d in self.corpus for q in fit for d in self.qrels.relevant(q)):
            return
        raise DistillrankError(
            f"{self.coll.name}: none of the {len(fit)} training queries has a judged relevant document "
            "(score > 0) in the corpus, so the teacher has nothing to be fine-tuned on; give the train split "
            "relevant judgements, or a saved teacher with --teacher DIR"
        )

    def _check_lgbm_rows(self) -> None:
        """Refuse, before the dense side and the teacher, LightGBM students with fewer training candidates
        than LightGBM needs to make one split (``min_data_in_leaf`` on each side): below that it keeps no
        feature, and would train a constant qrels-only student and fail on the distilled ones.

        Raises:
            DistillrankError: names the fold, its candidates and queries, and how many more are needed.
        """
        s = self.cfg.students
        if not any(f.startswith("lgbm") for f in s.families):
            return
        leaf = int(lgbm_kwargs(TargetSpec("qrels", "qrels"), s)["params"]["min_data_in_leaf"])
        extra = self.transfer if "qrels" not in s.targets else []  # every student then has them too
        for fold in self.folds:
            lists = [self.cands[q] for q in (*fold.fit, *extra) if len(self.cands.get(q, ())) > 1]
            rows = sum(len(c) for c in lists)
            if rows >= 2 * leaf:
                continue
            which = f"fold {fold.index}'s" if len(self.folds) > 1 else "the"
            queries = f"{len(lists)} {'query' if len(lists) == 1 else 'queries'}"
            depth = self.cfg.candidates.depth
            if depth >= len(self.corpus):
                deeper = ""  # every document is a candidate already
            elif self.cfg.quick:
                deeper = f"run without --quick (which sets candidates.depth {depth}), "
            else:
                deeper = "raise candidates.depth, "
            raise DistillrankError(
                f"{self.coll.name}: {which} LightGBM students would train on {rows} candidates "
                f"({queries} with two or more), fewer than the {2 * leaf} LightGBM needs for one split "
                f"(min_data_in_leaf {leaf} on each side): {2 * leaf - rows} more; add judged queries, "
                f"{deeper}or leave the lgbm families out of students.families"
            )

    def _transfer_queries(self) -> list[str]:
        """The transfer queries (setting ``transfer``, :mod:`~distillrank.distillation.transfer`), added to
        ``queries`` and ``cands`` with their BM25 top ``depth``; their ids. A query whose text is one of
        the collection's own queries is dropped: test queries never enter training, labelled or not."""
        from distillrank.distillation.transfer import pseudo_queries, read_transfer_queries

        t = self.cfg.transfer
        own = {text.strip().lower() for text in self.queries.values()}
        found: dict[str, str] = {}
        if t.queries:
            given = read_transfer_queries(t.queries)
            clash = sorted(q for q in given if q in self.queries)
            if clash:
                more = f" (and {len(clash) - 1} more)" if len(clash) > 1 else ""
                raise DistillrankError(
                    f"{t.queries}: transfer query id {clash[0]!r}{more} is also a query id of "
                    f"{self.coll.name}; give the transfer queries ids of their own"
                )
            found = {q: text for q, text in given.items() if text.strip().lower() not in own}
            if len(found) < len(given):
                self.log(
                    f"transfer: dropped {len(given) - len(found)} of {len(given)} queries of {t.queries} "
                    f"whose text is one of {self.coll.name}'s own queries"
                )
        if t.pseudo_queries:
            pseudo = pseudo_queries(self.corpus, t.pseudo_queries, seed=self.cfg.seed, exclude=own)
            found.update({q: text for q, text in pseudo.items() if q not in self.queries})
        if not found:
            self._transfer_first = Run.from_trusted({}, name="bm25")
            return []
        depth = t.depth or self.cfg.candidates.depth
        self._transfer_first = self.bm25.search(found, k=depth)
        self.queries.update(found)
        ids = []
        for q in found:
            docs = [d for d, _ in self._transfer_first.ranked(q, depth)] if q in self._transfer_first else []
            if len(docs) > 1:
                self.cands[q] = docs
                ids.append(q)
        self.log(
            f"transfer set: {len(ids):,} unlabelled queries ({len(found) - len(ids)} with fewer than 2 "
            f"candidates dropped), BM25 top-{depth} each, for the distilled students"
        )
        return ids

    def dense(self) -> None:
        from distillrank.pipeline.dense import DenseSide

        t0 = time.perf_counter()
        d = self.cfg.dense
        self.log(f"dense side: embedding {len(self.corpus):,} documents (cached after the first run)")
        self.dense_side = DenseSide(
            self.corpus,
            self.cache,
            model=d.model,
            doc_max_length=d.doc_max_length,
            query_max_length=d.query_max_length,
            show_progress=True,
        )
        self.timings["dense_index_s"] = round(time.perf_counter() - t0, 2)

    # -- stage 2/3: teacher and its labels ------------------------------------------------------------
    def _bm25_scores(self, cands: Mapping[str, Sequence[str]]) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for q, docs in cands.items():
            have = self.first.get(q) or self._transfer_first.get(q, {})
            missing = [d for d in docs if d not in have]
            full = self.bm25.score(self.queries[q]) if missing else None
            out[q] = {
                d: float(have[d]) if d in have else float(full[self.corpus.position(d)])  # type: ignore[index]
                for d in docs
            }
        return out

    def teacher(self) -> None:
        from distillrank.distillation.teacher_cache import TeacherScoreCache
        from distillrank.models.cross_encoder import CrossEncoder

        t0 = time.perf_counter()
        ts = self.cfg.teacher
        folder = self.out / "teacher"
        self.ce: Any = None
        self.teacher_info: dict[str, Any] = {}
        fusion: Fusion | None = None
        if self.teacher_dir is not None:
            src = self.teacher_dir
            ce_dir = _teacher_model_dir(src)
            self.log(f"teacher: loading {ce_dir}")
            self.ce = CrossEncoder.load(ce_dir)
            fusion = Fusion.load(src)
            self.ce_dir = ce_dir
            self.teacher_info = {"source": str(src), "fine_tuned_here": False}
        elif self.has_train:
            fold = self.folds[0]
            key = _digest(ts.model_dump(exclude=CE_FREE), self.cfg.dataset, fold.fit, fold.val, self.cfg.seed)
            key = _with_query_field(key, self.cfg)
            meta = _read_json(folder / "teacher.json")
            self.ce_dir = folder / "cross-encoder"
            if meta and meta.get("key") == key and self.ce_dir.is_dir():
                self.log(f"teacher: reusing {self.ce_dir}")
                self.ce = CrossEncoder.load(self.ce_dir)
                self.teacher_info = meta["summary"]
            else:
                _resumable_checkpoints(folder / "checkpoints", key, meta.get("key") if meta else None)
                self.log(
                    f"teacher: fine-tuning a cross-encoder on {len(fold.fit)} training queries "
                    f"(BM25 hard negatives from ranks {ts.skip[0] + 1}-{ts.skip[1]}; "
                    f"{len(fold.val)} validation queries)"
                )
                self.ce, summary = train_cross_encoder(
                    ts,
                    queries=self.queries,
                    qrels=self.qrels,
                    corpus=self.corpus,
                    bm25_run=self.first,
                    fit_qids=fold.fit,
                    val_qids=fold.val,
                    depth=self.cfg.candidates.depth,
                    folder=folder,
                    seed=self.cfg.seed,
                    log=self.log,
                )
                self.teacher_info = {"fine_tuned_here": True, **summary}
                _write_json(folder / "teacher.json", {"key": key, "summary": self.teacher_info})
                # a finished teacher resumes nothing: its checkpoints (~360 MB each for MiniLM) go
                shutil.rmtree(folder / "checkpoints", ignore_errors=True)
        else:
            self.log(
                "teacher: this collection has no train split and no --teacher was given; using a zero-shot "
                "fusion of BM25 and the dense bi-encoder (pass --teacher DIR for a cross-encoder)"
            )
            fusion = Fusion({"bm25": 0.5, "dense": 0.5})
            self.teacher_info = {"zero_shot": True}
        self.timings["teacher_train_s"] = round(time.perf_counter() - t0, 2)

        # signals of every candidate: cross-encoder (cached), BM25, dense cosine
        t0 = time.perf_counter()
        self.signals: dict[str, dict[str, dict[str, float]]] = {"bm25": self._bm25_scores(self.cands)}
        self.signals["dense"] = self.dense_side.cosine(self.queries, self.cands)
        if self.ce is not None:
            n_pairs = sum(len(v) for v in self.cands.values())
            self.log(f"teacher labels: {n_pairs:,} candidate pairs (cached; resumable)")
            cache = TeacherScoreCache(self.cache / "teacher-scores")
            ce_run = cache.get_or_compute(
                self.cands,
                lambda pairs: self.ce.predict(pairs, batch_size=ts.scoring_batch_size),
                self.queries,
                self.corpus,
                fingerprint=self.ce_dir,
                max_length=self.ce.max_length,
                chunk_size=256,
                show_progress=True,
            )
            self.signals["cross_encoder"] = {q: dict(ce_run[q]) for q in self.cands if q in ce_run}
            self.teacher_info["scored_pairs_this_run"] = cache.last_scored
        self.timings["teacher_labels_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        self._ranker_signal(folder)
        self.timings["teacher_ranker_s"] = round(time.perf_counter() - t0, 2)

        if fusion is None:
            fusion = Fusion()
            if ts.fusion and self.has_train:
                val = self.folds[0].val
                val_signals = self._restricted(val, self.signals)
                fusion = fit_fusion(val_signals, self.qrels.subset(val))
                self.log(f"teacher fusion on validation: {fusion.weights} ({fusion.validation})")
            fusion.save(folder)
        missing = [s for s in fusion.signals if s not in self.signals]
        if missing:
            raise DistillrankError(
                f"{self.teacher_dir or folder}: the teacher's fusion uses {', '.join(missing)}, which this "
                "teacher folder does not provide"
            )
        self.fusion = fusion

    def _ranker_signal(self, folder: Path) -> None:
        """The ``ranker`` signal (:mod:`.ranker`): loaded from ``teacher_dir``, or trained here."""
        from distillrank.pipeline.ranker import (
            RANKER_DIR,
            cross_fit_ranker,
            load_ranker,
            ranker_signal_matches,
        )

        ts = self.cfg.teacher
        self.ranker: Any = None
        bm = self.signals["bm25"]
        if self.teacher_dir is not None:
            self.ranker = load_ranker(self.teacher_dir)
            if self.ranker is None:
                return
            if not ranker_signal_matches(self.ranker, self._features("dense")):
                raise DistillrankError(
                    f"{self.teacher_dir / RANKER_DIR}: the saved feature ranker was trained on other "
                    f"features than this job makes ({', '.join(self._features('dense').feature_names)})"
                )
            self.log(f"teacher: feature ranker from {self.teacher_dir / RANKER_DIR}")
            self.signals["ranker"] = score_with(self.ranker, self._features("dense"), bm, self.queries)
            return
        if not (self.has_train and ts.ranker and ts.fusion):
            return
        fold = self.folds[0]
        train = {q: bm[q] for q in fold.fit if len(self.cands.get(q, ())) > 1}
        if len(train) < ts.ranker_folds:
            return
        in_sample = ts.ranker_labels == "in_sample"
        how = (
            "trained on all training queries, and labels the training queries in sample"
            if in_sample
            else f"cross-fitted over {ts.ranker_folds} folds"
        )
        self.log(f"teacher: feature ranker (LambdaMART), {how}")
        others = {q: bm[q] for q in self.cands if q not in train}
        kwargs = lgbm_kwargs(TargetSpec("qrels", "qrels"), self.cfg.students)
        scores, self.ranker = cross_fit_ranker(
            self._features("dense"),
            train,
            self.queries,
            self.qrels,
            score_lists=others,
            eval_lists=self._restricted(fold.val, {"bm25": bm})["bm25"],
            student_kwargs=kwargs,
            folds=ts.ranker_folds,
            seed=self.cfg.seed,
            in_sample=in_sample,
        )
        self.ranker.save(folder / RANKER_DIR)
        self.signals["ranker"] = scores

    def _restricted(self, qids: Sequence[str], signals: Mapping[str, Any]) -> dict[str, Any]:
        """Signals of ``qids`` over BM25's top ``depth`` only (no appended positives)."""
        depth = self.cfg.candidates.depth
        out: dict[str, Any] = {}
        for s, by_q in signals.items():
            out[s] = {
                q: {d: by_q[q][d] for d, _ in self.first.ranked(q, depth)} for q in qids if q in self.first
            }
        return out

    def teacher_scores(self, qids: Sequence[str], *, lists: bool) -> Run:
        """Teacher scores of the training lists (``lists=True``) or of BM25's top ``depth``."""
        sig = {s: {q: v[q] for q in qids if q in v} for s, v in self.signals.items()}
        if not lists:
            sig = self._restricted(qids, self.signals)
        return self.fusion.combine(sig)

    # -- paths -------------------------------------------------------------------------------------------
    def teacher_scorer(self, fusion: Fusion) -> Callable[[str, list[tuple[str, float]]], np.ndarray]:
        def score(query: str, head: list[tuple[str, float]]) -> np.ndarray:
            docs = [d for d, _ in head]
            sig: dict[str, dict[str, dict[str, float]]] = {"bm25": {"q": dict(head)}}
            if "dense" in fusion.signals:
                sig["dense"] = self.dense_side.cosine({"q": query}, {"q": docs})
            if "cross_encoder" in fusion.signals:
                texts = [(query, self.corpus[d].full_text()) for d in docs]
                pred = self.ce.predict(texts, batch_size=self.cfg.teacher.scoring_batch_size)
                sig["cross_encoder"] = {"q": dict(zip(docs, pred.tolist(), strict=True))}
            if "ranker" in fusion.signals:
                sig["ranker"] = score_with(
                    self.ranker, self._features("dense"), {"q": dict(head)}, {"q": query}
                )
            fused = fusion.combine(sig)["q"]
            return np.array([fused[d] for d in docs])

        return score

    # -- stage 4: students ------------------------------------------------------------------------------
    def _base_key(self, *, teacher: bool, legacy: bool = False) -> str:
        """The key every student's own key starts from: the settings every student of a kind depends on.

        With ``teacher``, the teacher's settings, fusion weights, saved folder and best step (every
        distilled student); without, none of them (the qrels-only students, which read no teacher score,
        so a new teacher retrains none of them). The key leaves out the student settings that only choose
        *which* students to train (``families``, ``targets``, ``temperatures``: each student's key names
        its family, target and temperature), so a re-run that adds a target or a temperature trains only
        the new students. ``legacy``: the key of folders written before it left out ``targets`` and
        ``temperatures`` (always with the teacher's settings), still accepted for their students as long
        as those lists are unchanged."""
        s_exclude = {"families", *_NEURAL_HARD_KEYS, *_MARGIN_KEYS, *_NEURAL_KEYS}
        s_exclude.update(k for keys in _FAMILY_KEYS.values() for k in keys)
        if not legacy:
            s_exclude |= {"targets", "temperatures"}
        exclude: dict[str, Any] = {
            "evaluation": True,
            "threads": True,
            "test_split": True,
            "query_field": True,
            "transfer": True,
            "students": s_exclude,
        }
        if not teacher:
            exclude["teacher"] = True
        teacher_parts = (self.fusion.weights, str(self.teacher_dir), self.teacher_info.get("best_step"))
        key = _digest(self.cfg.model_dump(exclude=exclude), *(teacher_parts if teacher else ("qrels-only",)))
        # keys of runs on the default split are unchanged (and naming it with --test-split keeps them)
        named = self.cfg.test_split is not None
        if named and (legacy or self.test_split != self._default_split):
            key = _digest(key, self.test_split)
        return _with_query_field(key, self.cfg)

    @property
    def _default_split(self) -> str | None:
        """The split evaluated on without ``test_split`` (None when that would be an error)."""
        try:
            return _evaluation_split(self.coll, self.cfg.model_copy(update={"test_split": None}))
        except DistillrankError:
            return None

    def _student_key(self, base_key: str, family: str, spec: TargetSpec) -> str:
        """The cache key of student ``family/spec.name`` (see :meth:`_base_key`)."""
        s = self.cfg.students
        key = _digest(base_key, family, spec.name, spec.temperature)
        if extra := self._transfer_for(spec):
            key = _digest(key, self.cfg.transfer.depth, [(q, self.queries[q]) for q in extra])
        if family in _FAMILY_KEYS:
            key = _digest(key, *(getattr(s, k) for k in _FAMILY_KEYS[family]))
        if family in _NEURAL:
            key = _digest(key, *(getattr(s, k) for k in _NEURAL_KEYS))
        if family in _NEURAL and spec.target == "hard":
            key = _digest(key, *(getattr(s, k) for k in _NEURAL_HARD_KEYS))
        if spec.target == "margin_mse" and s.margin_anchor != "teacher":
            # keyed only off its default, so the students of folders made before it stay cached
            key = _digest(key, *(getattr(s, k) for k in _MARGIN_KEYS))
        return key

    def students(self) -> None:
        s = self.cfg.students
        self.results: dict[str, dict[str, Any]] = {}
        base_key, qrels_key = self._base_key(teacher=True), self._base_key(teacher=False)
        legacy_base_key = self._base_key(teacher=True, legacy=True)
        for family in s.families:
            t0 = time.perf_counter()
            joint_t: float | None = None
            for spec in target_specs(s, None):
                if spec.target == "joint":
                    spec = TargetSpec("joint", "joint", s.joint_temperature or joint_t or 1.0)
                name = f"{family}/{spec.name}"
                path = self.out / "students" / family / f"{spec.name}.json"
                # a qrels-only student depends on no teacher setting: a new teacher retrains none of them
                key = self._student_key(qrels_key if spec.target == "qrels" else base_key, family, spec)
                earlier = [legacy_base_key] + ([base_key] if spec.target == "qrels" else [])
                cached = _read_json(path)
                if cached and cached.get("key") in {self._student_key(k, family, spec) for k in earlier}:
                    cached["key"] = key  # a folder written before: re-keyed, so later changes keep it
                    _write_json(path, cached)
                if cached and cached.get("key") == key:
                    result = cached["result"]
                    self.log(f"  {name}: cached (test nDCG@10 {result['metrics']['nDCG@10']:.4f})")
                else:
                    result = self._train_student(family, spec)
                    _write_json(path, {"key": key, "result": result})
                    self.log(
                        f"  {name}: validation nDCG@10 {result['validation_ndcg@10']:.4f}, "
                        f"test nDCG@10 {result['metrics']['nDCG@10']:.4f} "
                        f"({result['train_seconds']:.0f} s)"
                    )
                self.results[name] = result
                if spec.target == "soft":
                    best = max(
                        (r for n, r in self.results.items() if n.startswith(f"{family}/soft-")),
                        key=lambda r: r["validation_ndcg@10"],
                    )
                    joint_t = best["temperature"]
            self.timings[f"students_{family}_s"] = round(time.perf_counter() - t0, 2)
            self._warn_untrained(family)

    def _warn_untrained(self, family: str) -> None:
        """One DataWarning when no neural student of ``family`` trained past its start in any fold (its
        untrained weights won on validation every time): then the family's students are one model, and
        their figures and twin comparisons say nothing (too few training or validation queries?)."""
        infos = [r.get("training", {}) for n, r in self.results.items() if n.startswith(f"{family}/")]
        if not infos or any("kept_start" not in i for i in infos):
            return  # LightGBM (no start to keep), or students cached before keep_start
        if all(i.get("kept_start_folds", int(i["kept_start"])) >= i.get("folds", 1) for i in infos):
            warnings.warn(
                f"{self.coll.name}: none of the {len(infos)} {family} students trained past its start "
                "(its untrained weights won on validation in every fold), so they are one model and their "
                "comparisons say nothing: too few training or validation queries?",
                DataWarning,
                stacklevel=2,
            )

    def _transfer_for(self, spec: TargetSpec) -> list[str]:
        """The transfer queries a student learns from besides its fold's: all of them for a distilled
        student, none for a qrels-only one."""
        return self.transfer if spec.target != "qrels" else []

    def _train_student(self, family: str, spec: TargetSpec) -> dict[str, Any]:
        runs: list[Run] = []
        vals: list[float] = []
        info: dict[str, Any] = {}
        cost: dict[str, Any] | None = None
        t0 = time.perf_counter()
        extra = self._transfer_for(spec)
        kept = 0
        for judged in self.folds:
            fold = replace(judged, fit=[*judged.fit, *extra]) if extra else judged
            run, val, info, path, params = getattr(self, f"_fold_{family}")(fold, spec)
            kept += info.get("kept_start") is True
            runs.append(run)
            vals.append(val)
            if cost is None:  # the serving cost of fold 0's model
                texts = [self.queries[q] for q in fold.test[: self.cfg.evaluation.latency_queries]]
                cost = self._measure(path, texts, params=params)
        train_seconds = time.perf_counter() - t0
        if "kept_start" in info:  # a neural student: in how many folds its untrained start won
            info = {**info, "kept_start_folds": kept, "folds": len(self.folds)}
        merged = Run.from_trusted({q: r[q] for r in runs for q in r}, name=f"{family}/{spec.name}")
        out_run = self.out / "runs" / family / f"{spec.name}.trec"
        out_run.parent.mkdir(parents=True, exist_ok=True)
        merged.save(out_run, tag=f"{family}-{spec.name}")
        return {
            "family": family,
            "target": spec.target,
            "temperature": spec.temperature,
            "validation_ndcg@10": round(float(np.mean(vals)), 4),
            "metrics": _metrics(merged, self.qrels.subset(list(merged)), self.cfg.evaluation.measures),
            "cost": cost,
            "train_seconds": round(train_seconds, 1),
            "training": info,
            "run": str(out_run.relative_to(self.out)),
        }

    def _measure(self, path: Any, texts: Sequence[str], *, params: int) -> dict[str, Any]:
        """:func:`~.paths.measure_path` with every query encoded afresh (no cached query vectors)."""
        with self.dense_side.uncached_queries():
            return measure_path(path, texts, params=params)

    # -- stage 5: baselines and teacher on test ----------------------------------------------------------
    def reference_models(self) -> dict[str, dict[str, Any]]:
        ev = self.cfg.evaluation
        test = sorted({q for f in self.folds for q in f.test})
        qrels = self.qrels.subset(test)
        depth, k = self.cfg.candidates.depth, self.cfg.candidates.k
        latency_q = [self.queries[q] for q in self.folds[0].test[: ev.latency_queries]]
        teacher_q = latency_q[: max(3, min(len(latency_q), 20))]
        models: dict[str, dict[str, Any]] = {}
        bm25_run = self.first.subset(test)
        models["bm25"] = {
            "role": "baseline",
            "family": "bm25",
            "targets": None,
            "metrics": _metrics(bm25_run, qrels, ev.measures),
            "cost": self._measure(BM25Path(self.bm25, k), latency_q, params=0),
        }
        # one index for the test run and the timing; queries encoded uncached, as a server would
        dense_path = DensePath(
            lambda t: self.dense_side.encoder.encode(list(t), is_query=True),
            self.dense_side.doc_vectors,
            self.dense_side.docnos,
            k,
        )
        dense_run = self._search_run(dense_path, test, "dense-zero-shot")
        models["dense-zero-shot"] = {
            "role": "baseline",
            "family": "bi_encoder",
            "targets": None,
            "metrics": _metrics(dense_run, qrels, ev.measures),
            "cost": self._measure(dense_path, latency_q, params=self.dense_side.encoder.num_parameters()),
        }
        for name, (family, run, path, params) in self.optional_references(test).items():
            models[name] = {
                "role": "baseline",
                "family": family,
                "targets": None,
                "metrics": _metrics(run, qrels, ev.measures),
                "cost": self._measure(path, latency_q, params=params),
            }
        ce_params = self.ce.num_parameters() if self.ce is not None else 0
        used = set(self.fusion.signals)
        dense_params = self.dense_side.encoder.num_parameters() if used & {"dense", "ranker"} else 0
        ranker_params = self.ranker.num_parameters if "ranker" in used else 0
        teacher_run = rerank_run(bm25_run, self.teacher_scores(test, lists=False), depth, "teacher")
        models["teacher"] = {
            "role": "teacher",
            "family": "fusion" if len(self.fusion.signals) > 1 else self.fusion.signals[0],
            "targets": "qrels",
            "fusion_weights": self.fusion.weights,
            "metrics": _metrics(teacher_run, qrels, ev.measures),
            "cost": self._measure(
                RerankPath(self.bm25, self.teacher_scorer(self.fusion), k=k, depth=depth),
                teacher_q,
                params=ce_params + dense_params + ranker_params,
            ),
        }
        teacher_run.save(self.out / "runs" / "teacher.trec", tag="teacher")
        if self.ce is not None and len(self.fusion.signals) > 1:
            alone = Fusion()
            sig = self._restricted(test, {"cross_encoder": self.signals["cross_encoder"]})
            ce_run = rerank_run(bm25_run, alone.combine(sig), depth, "cross-encoder")
            models["teacher-cross-encoder"] = {
                "role": "teacher_component",
                "family": "cross_encoder",
                "targets": "qrels",
                "metrics": _metrics(ce_run, qrels, ev.measures),
                "cost": self._measure(
                    RerankPath(self.bm25, self.teacher_scorer(alone), k=k, depth=depth),
                    teacher_q,
                    params=ce_params,
                ),
            }
        bm25_run.save(self.out / "runs" / "bm25.trec", tag="bm25")
        return models


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


def run_job(
    config: JobConfig,
    output: str | Path,
    *,
    teacher_dir: str | Path | None = None,
    log: Log = print,
) -> JobResult:
    """Run the whole job (see the module docstring) and write the report to ``output``."""
    from distillrank.models._hf import torch_threads
    from distillrank.pipeline.summary import build_metrics, write_report

    cfg = config
    if config.quick and not config.max_train_queries:
        for line in config.quick_overrides():
            log(f"warning: quick replaces {line}")
        cfg = config.with_quick()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch_threads(cfg.threads)
    out = Path(output)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    if teacher_dir:
        _teacher_model_dir(Path(teacher_dir))  # a wrong folder is told now, not after BM25 and embeddings
    job = _Job(cfg, out, Path(teacher_dir) if teacher_dir else None, log)
    unfinished = out / "cache" / UNFINISHED_FIRST_RUNS
    previous = _previous_first_run(out / "metrics.json")  # None: this run writes the folder's first report
    loaded = False
    try:
        job.load()
        loaded = True
        job.dense()
        job.teacher()
        log("students:")
        job.students()
        t0 = time.perf_counter()
        models = job.reference_models()
        job.timings["reference_models_s"] = round(time.perf_counter() - t0, 2)
    except BaseException:  # stopped or failed: its time still counts towards the folder's first run
        if previous is None and loaded:
            _note_unfinished(unfinished, job.timings, time.perf_counter() - t_start)
        elif not loaded and created and not any(out.iterdir()):
            out.rmdir()  # a start that failed on its data (a typo, a missing folder) leaves nothing behind
        raise
    job.timings["total_s"] = round(time.perf_counter() - t_start, 1)
    metrics = build_metrics(job, models)
    metrics["first_run_timings"] = _first_run_timings(previous, job.timings, unfinished)
    files = write_report(metrics, out)
    unfinished.unlink(missing_ok=True)
    return JobResult(out, metrics, files)
