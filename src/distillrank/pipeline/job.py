"""The main job: distil a cross-encoder teacher into fast students and measure quality next to cost.

``distillrank run`` calls :func:`run_job`. Stages (each resumable; see "Caching" below):

0. **Plan** — the split evaluated on and the folds of queries (:mod:`.plan`).
1. **Candidates** — BM25 (Lucene defaults) top-``k`` for every query.
2. **Teacher** — a cross-encoder fine-tuned on the train qrels with BM25 hard negatives, early-stopped on
   validation queries held out of train (:mod:`.teacher`); optionally fused with BM25, the dense
   cosine and a LambdaMART over the cheap features (:mod:`.ranker`) when that is better on
   validation. ``teacher_dir`` reuses a saved teacher instead. Stages 2 and 3 run in :mod:`.teacher_stage`.
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
is written to ``output/students/<family>/<name>.json`` with a key of the settings that made it
(:mod:`.records`). A re-run
with unchanged settings loads everything and only rewrites the report; a crashed run resumes where it
stopped.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from distillrank.data.collection import Corpus, Qrels, TextCollection
from distillrank.data.run import Run
from distillrank.errors import DataWarning, DistillrankError
from distillrank.evaluation.metrics import evaluate
from distillrank.pipeline.config import JobConfig
from distillrank.pipeline.families import Fold, rerank_run
from distillrank.pipeline.paths import BM25Path, RerankPath, measure_path
from distillrank.pipeline.plan import _check_ids, _evaluation_split, _plan
from distillrank.pipeline.records import (
    UNFINISHED_FIRST_RUNS,
    _digest,
    _first_run_timings,
    _note_unfinished,
    _previous_first_run,
    _read_json,
    _with_query_field,
    _write_json,
    corpus_digest,
    data_digest,
)
from distillrank.pipeline.students import (
    TargetSpec,
    lgbm_kwargs,
    target_specs,
)
from distillrank.pipeline.teacher import Fusion
from distillrank.pipeline.teacher_stage import TeacherStage, _teacher_model_dir

__all__ = ["Fold", "JobResult", "run_job"]

Log = Callable[[str], None]


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


def _metrics(run: Run, qrels: Qrels, measures: Sequence[str]) -> dict[str, float]:
    res = evaluate(run, qrels, ",".join(measures))
    return {m: round(float(res.aggregate[m]), 4) for m in measures}


# ------------------------------------------------------------------------------------------------ job
class _Job(TeacherStage):
    def __init__(self, cfg: JobConfig, output: Path, teacher_dir: Path | None, log: Log) -> None:
        self.cfg, self.out, self.teacher_dir, self.log = cfg, output, teacher_dir, log
        self.cache = output / "cache"
        self.timings: dict[str, float] = {}
        self._dssm_vocabs: dict[int, list[str]] = {}  # fold -> the DSSM's trigram vocabulary
        self._teacher_scales: dict[tuple[str, int], float] = {}  # (family, fold) -> teacher scale
        self.dense_pool: list[str] | None = None  # set by dense(): the documents it embeds, if not all

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
        # what the cached teacher and students depend on besides the settings: the data itself
        self.corpus_key = corpus_digest(self.corpus)
        self.data_key = data_digest(self.corpus_key, self.queries, self.qrels, used)
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
        punctuation, emoji, text in a script without spaces): the teacher and every model that re-ranks
        BM25's candidates rank nothing for them, and their test metrics are 0; the models that retrieve on
        their own (bi-encoders and the dense baseline from an index of every document, SPLADE) may not."""
        empty = [q for q in self.used if not self.first.get(q)]
        if not empty:
            return
        test = {q for f in self.folds for q in f.test}
        shown = ", ".join(f"{q!r} ({self.queries[q][:40]!r})" for q in empty[:3]) + (
            ", ..." if len(empty) > 3 else ""
        )
        warnings.warn(
            f"{self.coll.name}: {len(empty)} of {len(self.used)} queries ({sum(q in test for q in empty)} of "
            f"them test queries) have no BM25 candidates (no indexable term): {shown}; the teacher and "
            "every model that re-ranks BM25's candidates rank nothing for them and score 0 there"
            + (
                ", while the bi-encoders and the zero-shot dense baseline, which retrieve from an index of "
                "every document, still rank documents for them (compare those models on the other queries)"
                if self._dense_everything()
                else ""
            )
            + (", as SPLADE may" if "splade" in self.cfg.students.families else ""),
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
        documents = self.corpus
        self.dense_pool = self._dense_pool()
        if self.dense_pool is not None:
            documents = Corpus(
                self.dense_pool,
                [self.corpus[x].title for x in self.dense_pool],
                [self.corpus[x].text for x in self.dense_pool],
                source=self.corpus.source,
            )
            self.log(
                f"dense side: only the {len(documents):,} documents of the BM25 candidate lists of "
                f"{len(self.corpus):,} (dense.documents: {d.documents}, max_documents {d.max_documents:,}); "
                f"the bi-encoders and the dense baseline re-rank BM25's top {self.cfg.candidates.depth}"
            )
        self.log(f"dense side: embedding {len(documents):,} documents (cached after the first run)")
        self.dense_side = DenseSide(
            documents,
            self.cache,
            model=d.model,
            doc_max_length=d.doc_max_length,
            query_max_length=d.query_max_length,
            show_progress=True,
        )
        self.timings["dense_index_s"] = round(time.perf_counter() - t0, 2)

    def _dense_everything(self) -> bool:
        """Whether the dense side embeds every document (``dense.documents``; before the candidates are
        known: a pool of every candidate that happens to cover the corpus is not counted)."""
        d = self.cfg.dense
        return d.documents == "all" or (d.documents == "auto" and len(self.corpus) <= d.max_documents)

    def _dense_pool(self) -> list[str] | None:
        """The documents the dense side embeds when not all of them (``dense.documents``): those of any
        candidate list, in corpus order; ``None`` for every document."""
        d = self.cfg.dense
        if self._dense_everything():
            return None
        if "splade" in self.cfg.students.families:
            n, limit = len(self.corpus), d.max_documents
            why = "dense.documents: candidates"
            if d.documents == "auto":
                why = f"dense.documents: auto, {n:,} documents > max_documents {limit:,}"
            raise DistillrankError(
                f"students.families: 'splade' retrieves from an index of every document, but the dense "
                f"side embeds only BM25's candidates here ({why}); drop splade or set dense.documents: all"
            )
        pooled = {x for docs in self.cands.values() for x in docs}
        if len(pooled) >= len(self.corpus):
            return None  # the candidates are every document: nothing to leave out
        return [x for x in self.corpus.docnos if x in pooled]

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
            "dense": {"documents", "max_documents"},  # what they change is keyed below
        }
        if not teacher:
            exclude["teacher"] = True
        teacher_parts = (self.fusion.weights, str(self.teacher_dir), self.teacher_info.get("best_step"))
        key = _digest(self.cfg.model_dump(exclude=exclude), *(teacher_parts if teacher else ("qrels-only",)))
        key = _digest(key, self.data_key)  # documents, queries and judgements: changed data, new students
        if self.dense_pool is not None:  # only the candidates embedded, bi-encoders re-rank: other models
            key = _digest(key, "dense-candidates")
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
        dense_path = self.dense_path(
            lambda t: self.dense_side.encoder.encode(list(t), is_query=True),
            self.dense_side.doc_vectors,
            self.dense_side.docnos,
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
