"""The student families of the main job: how one fold's student of each family is trained on its lists
and put on its serving path (:class:`StudentFamilies`, the part of :class:`~.job._Job` that knows the
families).

Every ``_fold_<family>(fold, spec)`` trains the family's student for target ``spec`` on ``fold.fit``
(early-stopped on ``fold.val``), ranks ``fold.test`` and returns ``(run, validation nDCG@10, training info,
serving path, parameters)``:

* ``lgbm``, ``lgbm_dense``, ``lgbm_static`` — LambdaMART over the cheap features (lexical only, or with the
  dense cosine from the MiniLM query tower or from the static query encoder distilled from it), re-ranking
  BM25's top ``depth``; distilled targets through the custom objectives of
  :mod:`~distillrank.distillation.lgbm_objectives`.
* ``dssm`` — letter-trigram DSSM re-ranking BM25's top ``depth``.
* ``bi_encoder``, ``bi_encoder_shallow`` — the MiniLM query tower (all layers, or the first
  ``shallow_layers`` aligned to it) against the fixed document index.
* ``colbert`` (optional) — the MiniLM query tower and a projection, MaxSim against the documents' frozen
  token states, re-ranking BM25's top ``depth``.
* ``splade`` (optional) — a SPLADE query tower against its fixed sparse document vectors, retrieving from
  the inverted index.

Every target of a family starts from the same seeded weights and learns from the same lists, so a
distilled student differs from its qrels-only twin by its target alone.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from distillrank.data.collection import Corpus, Qrels, TextCollection
from distillrank.data.run import Run
from distillrank.errors import DistillrankError
from distillrank.evaluation.cost import count_parameters
from distillrank.evaluation.metrics import evaluate
from distillrank.pipeline.config import JobConfig
from distillrank.pipeline.paths import DensePath, DenseRerankPath, RerankPath, SparsePath, rerank_head
from distillrank.pipeline.ranker import by_query, score_with
from distillrank.pipeline.students import TargetSpec, lgbm_kwargs, make_lists, train_neural
from distillrank.pipeline.teacher import rerank_scores

__all__ = ["Fold", "StudentFamilies", "alignment_texts", "rerank_run"]


def alignment_texts(corpus: Corpus, queries: list[str], max_texts: int, seed: int) -> list[str]:
    """Short, query-like texts to align a shallow query tower on: the corpus's titles and first
    sentences (up to 300 characters) and ``queries``, distinct and non-empty, sorted; at most
    ``max_texts`` of them, drawn with ``seed``.

    A corpus of more than ``10 * max_texts`` documents contributes a seeded sample of ``4 * max_texts``
    documents rather than every title and first sentence (a set of those costs ~0.4 GiB a million
    passages); smaller corpora give exactly the texts they always gave.
    """
    rows: Sequence[int] = range(len(corpus))
    if len(rows) > 10 * max_texts:
        rows = sorted(random.Random(seed).sample(rows, 4 * max_texts))
    titles, bodies = corpus.titles, corpus.texts
    first_sentences = (bodies[i].split(". ")[0][:300] for i in rows)
    texts = sorted({*(titles[i] for i in rows), *first_sentences, *queries} - {""})
    if len(texts) > max_texts:
        texts = sorted(random.Random(seed).sample(texts, max_texts))
    return texts


@dataclass
class Fold:
    """Query ids of one fold: ``fit`` (training), ``val`` (early stopping, model choice), ``test``."""

    index: int
    fit: list[str]
    val: list[str]
    test: list[str]


def rerank_run(first: Run, scores: Mapping[str, Mapping[str, float]], depth: int, name: str) -> Run:
    """``first`` with each query's top ``depth`` re-ordered by ``scores`` (the rest below, in order)."""
    out: dict[str, dict[str, float]] = {}
    for q in first:
        ranking = first.ranked(q)
        head = [d for d, _ in ranking[:depth]]
        values = np.array([scores[q][d] for d in head], dtype=np.float64)
        out[q] = dict(rerank_head(ranking, head, values))
    return Run.from_trusted(out, name=name)


class StudentFamilies:
    """The per-family fold trainers of the main job; :class:`~.job._Job` provides the state below."""

    cfg: JobConfig
    out: Path
    log: Callable[[str], None]
    timings: dict[str, float]
    coll: TextCollection
    corpus: Corpus
    queries: dict[str, str]
    qrels: Qrels
    folds: list[Fold]
    cands: dict[str, list[str]]
    first: Run
    bm25: Any
    dense_side: Any
    dense_pool: list[str] | None  # the documents the dense side embeds, when not all of them
    signals: dict[str, dict[str, dict[str, float]]]
    cache: Path
    _dssm_vocabs: dict[int, list[str]]
    _teacher_scales: dict[tuple[str, int], float]
    _dssm_corpus_grams: Counter[str]  # letter trigrams of the corpus, for every fold's DSSM vocabulary
    _fx_lexical: Any  # the FeatureExtractor fitted on the corpus, shared by every kind of features

    def teacher_scores(self, qids: Sequence[str], *, lists: bool) -> Run:  # pragma: no cover - the job's
        raise NotImplementedError

    # LightGBM over cheap features ------------------------------------------------------------------------
    def _features(self, kind: str) -> Any:
        """The fitted FeatureExtractor of a LightGBM family: ``lexical`` features only, or with
        ``dense_cos`` from the bi-encoder's query tower (``dense``) or from the static query encoder
        distilled from it (``static``); documents are the dense side's vectors in both cases."""
        attr = f"_fx_{kind}"
        if not hasattr(self, attr):
            from distillrank.distillation.features import FeatureExtractor

            if not hasattr(self, "_fx_lexical"):  # the corpus is tokenised once for every kind
                # a collection too large to embed whole keeps its candidates' term counts only
                documents = "all" if self.dense_pool is None else "on_demand"
                self._fx_lexical = FeatureExtractor(documents=documents).fit(self.corpus)
            encoder: Any = None
            if kind == "dense":
                encoder = self.dense_side
            elif kind == "static":
                encoder = self.dense_side.with_query_encoder(self._static_encoder())
            setattr(self, attr, self._fx_lexical.with_encoder(encoder))
        return getattr(self, attr)

    def _once(self, attr: str, message: str, timing: str, build: Callable[[], Any]) -> Any:
        """``build()`` the first time (logging ``message`` and timing it as ``timings[timing]``), then the
        same object: the per-job sides every fold's students share (static encoder, ColBERT and SPLADE
        document sides)."""
        if not hasattr(self, attr):
            t0 = time.perf_counter()
            self.log(message)
            setattr(self, attr, build())
            self.timings[timing] = round(time.perf_counter() - t0, 2)
        return getattr(self, attr)

    def _static_encoder(self) -> Any:
        s = self.cfg.students
        return self._once(
            "_static",
            f"static query encoder: distilling the dense side's query tower on up to "
            f"{s.static_sentences:,} corpus sentences (cached after the first run)",
            "static_encoder_s",
            lambda: self.dense_side.static_encoder(
                sentences=s.static_sentences, epochs=s.static_epochs, seed=self.cfg.seed, show_progress=True
            ),
        )

    def _fold_lgbm_dense(self, fold: Fold, spec: TargetSpec) -> tuple[Run, float, dict, Any, int]:
        return self._fold_lgbm(fold, spec, features="dense")

    def _fold_lgbm_static(self, fold: Fold, spec: TargetSpec) -> tuple[Run, float, dict, Any, int]:
        return self._fold_lgbm(fold, spec, features="static")

    def _fold_lgbm(
        self, fold: Fold, spec: TargetSpec, features: str = "lexical"
    ) -> tuple[Run, float, dict, Any, int]:
        from distillrank.distillation.lgbm_student import LGBMStudent

        fx = self._features(features)
        bm = self.signals["bm25"]
        train_run = Run.from_trusted({q: bm[q] for q in fold.fit if len(self.cands.get(q, ())) > 1})
        if not train_run:
            raise DistillrankError(
                f"{self.coll.name}: none of the {len(fold.fit)} training queries"
                f"{f' of fold {fold.index}' if len(self.folds) > 1 else ''} has two or more BM25 candidates, "
                "so the LightGBM students have nothing to learn from (do the queries share words with the "
                "documents?)"
            )
        train_ds = fx.transform(train_run, self.queries, self.qrels)
        teacher = self.teacher_scores(fold.fit, lists=True)
        t_rows = np.array([teacher[q][d] for q, d in zip(train_ds.qids, train_ds.docnos, strict=True)])
        depth = self.cfg.candidates.depth
        val_run = self.first.subset(fold.val).top_k(depth)
        val_ds = fx.transform(val_run, self.queries, self.qrels)
        student = LGBMStudent(**lgbm_kwargs(spec, self.cfg.students))
        student.fit(train_ds.X, train_ds.y, train_ds.group, teacher_scores=t_rows, eval_set=val_ds)
        val = self._eval_rerank(student.predict(val_ds.X), val_ds, fold.val)
        test_ds = fx.transform(self.first.subset(fold.test).top_k(depth), self.queries)
        scores = by_query(test_ds, student.predict(test_ds.X))
        run = rerank_run(self.first.subset(fold.test), scores, depth, "lgbm")
        if fold.index == 0:
            family = {"lexical": "lgbm", "dense": "lgbm_dense", "static": "lgbm_static"}[features]
            student.save(self.out / "models" / family / spec.name)

        def scorer(query: str, head: list[tuple[str, float]]) -> np.ndarray:
            by_doc = score_with(student, fx, {"q": dict(head)}, {"q": query})["q"]
            return np.array([by_doc[d] for d, _ in head])

        path = RerankPath(self.bm25, scorer, k=self.cfg.candidates.k, depth=depth)
        info = {"trees": student.num_trees, "best_iteration": student.best_iteration_}
        params = student.num_parameters
        if features == "dense":
            params += self.dense_side.encoder.num_parameters()
        elif features == "static":
            params += self._static_encoder().num_parameters()
        return run, val, info, path, params

    def _eval_rerank(self, pred: np.ndarray, ds: Any, qids: Sequence[str]) -> float:
        scores = by_query(ds, pred)
        run = rerank_run(self.first.subset(list(qids)), scores, self.cfg.candidates.depth, "val")
        return self._ndcg10(run, qids)

    def _ndcg10(self, run: Run, qids: Sequence[str]) -> float:
        """nDCG@10 of ``run`` on ``qids`` (a student's validation score)."""
        return float(evaluate(run, self.qrels.subset(list(qids)), "nDCG@10").aggregate["nDCG@10"])

    def dense_path(self, encode: Any, doc_vectors: Any, docnos: Any) -> Any:
        """A bi-encoder's serving path: exact search of every document's vector, or, when only BM25's
        candidates are embedded, BM25 top ``k`` with its top ``depth`` re-ranked by the vectors."""
        k = self.cfg.candidates.k
        if self.dense_pool is None:
            return DensePath(encode, doc_vectors, docnos, k)
        return DenseRerankPath(self.bm25, encode, doc_vectors, docnos, k=k, depth=self.cfg.candidates.depth)

    def _search_run(self, path: Any, qids: Sequence[str], name: str) -> Run:
        """The run of a first-stage ``path`` (dense or sparse) over the queries ``qids``, batched."""
        ranked = path.search_many([self.queries[q] for q in qids])
        return Run.from_trusted({q: dict(r) for q, r in zip(qids, ranked, strict=True)}, name=name)

    def _rerank_with(self, model: Any, qids: Sequence[str], name: str) -> Run:
        """BM25's run of ``qids`` with each top ``depth`` re-ordered by ``model.predict`` (query, document
        text) pairs, all queries in one call."""
        depth = self.cfg.candidates.depth
        heads = {q: [d for d, _ in self.first.ranked(q, depth)] for q in qids if q in self.first}
        scored = rerank_scores(lambda p: model.predict(p), heads, self.queries, self.corpus)
        return rerank_run(self.first.subset(list(heads)), scored, depth, name)

    def _rerank_path(self, model: Any) -> RerankPath:
        """The serving path of a re-ranker scoring (query, document text) pairs with ``model.predict``."""
        corpus = self.corpus

        def scorer(query: str, head: list[tuple[str, float]]) -> np.ndarray:
            return model.predict([(query, corpus[d].full_text()) for d, _ in head])

        return RerankPath(self.bm25, scorer, k=self.cfg.candidates.k, depth=self.cfg.candidates.depth)

    # DSSM (re-ranks BM25's top depth) ------------------------------------------------------------------
    def _fold_dssm(self, fold: Fold, spec: TargetSpec) -> tuple[Run, float, dict, Any, int]:
        from distillrank.models.dssm import DSSM

        s = self.cfg.students
        vocabs = self._dssm_vocabs
        if fold.index not in vocabs:  # the corpus's trigrams are counted once, each fold's queries added
            if not hasattr(self, "_dssm_corpus_grams"):
                self._dssm_corpus_grams = DSSM.trigram_counts(self.corpus.iter_full_texts())
            grams = self._dssm_corpus_grams.copy()
            grams.update(DSSM.trigram_counts(self.queries[q] for q in self.folds[fold.index].fit))
            vocabs[fold.index] = DSSM.vocab_from_counts(grams, max_size=30_000)
        # every target of a fold starts from the same seeded weights, so each distilled student differs
        # from its qrels-only twin by its target alone (not by the state of torch's global generator)
        init = DSSM(vocab=vocabs[fold.index], hidden_sizes=(300, 300, 128), seed=self.cfg.seed)
        return self._fold_reranker(fold, spec, init, "dssm", lr=s.dssm_lr, epochs=s.dssm_epochs)

    def _fold_reranker(
        self, fold: Fold, spec: TargetSpec, init: Any, family: str, *, lr: float, epochs: int
    ) -> tuple[Run, float, dict, Any, int]:
        """A neural student that re-ranks BM25's top ``depth`` through ``model.predict`` (query, document
        text) pairs: the DSSM and ColBERT."""

        def validate(model: Any) -> float:
            return self._ndcg10(self._rerank_with(model, fold.val, family), fold.val)

        lists, scale = self._lists(fold, spec, init, family)
        s = self.cfg.students
        model, info = train_neural(
            init, spec, s, lists=lists, lr=lr, epochs=epochs, validate=validate, seed=self.cfg.seed
        )
        info["teacher_scale"] = None if scale is None else round(scale, 4)
        run = self._rerank_with(model, fold.test, family)
        path = self._rerank_path(model)
        return run, info["best_validation_ndcg@10"] or 0.0, info, path, count_parameters(model)

    def _lists(self, fold: Fold, spec: TargetSpec, init: Any, family: str) -> tuple[list[Any], float | None]:
        """The training lists of a neural student, the teacher's scores brought to the scale of the
        untrained student ``init`` (``students.teacher_scale``), and that scale (None for ``qrels``, which
        uses no teacher scores). ``"auto"`` measures the scale once per family and fold: every target of a
        family starts from the same ``init`` and learns from the same lists."""
        from distillrank.distillation.calibration import scale_teacher, teacher_scale

        teacher = self.teacher_scores(fold.fit, lists=True)
        lists = make_lists(
            fold.fit,
            self.cands,
            self.queries,
            self.qrels,
            self.corpus,
            teacher,
            anchor_first=self.cfg.students.margin_anchor if spec.target == "margin_mse" else None,
        )
        if spec.target == "qrels":
            return lists, None
        setting = self.cfg.students.teacher_scale
        if setting != "auto":
            return scale_teacher(lists, float(setting)), float(setting)
        scales = self._teacher_scales
        if (family, fold.index) not in scales:
            scales[family, fold.index] = teacher_scale(init, lists, seed=self.cfg.seed)
        scale = scales[family, fold.index]
        return scale_teacher(lists, scale), scale

    # bi-encoder students: query tower against the fixed document index --------------------------------
    def _query_init(self, shallow: bool) -> Any:
        from distillrank.models.bi_encoder import BiEncoder
        from distillrank.models.query_encoder import QueryEncoder, align_query_tower

        attr = "_shallow_init" if shallow else "_full_init"
        if hasattr(self, attr):
            return getattr(self, attr)
        s, d = self.cfg.students, self.dense_side
        tower = BiEncoder(
            d.model_path,
            max_length=self.cfg.dense.query_max_length,
            num_layers=s.shallow_layers if shallow else None,
            similarity="cosine",
            temperature=0.05,
        )
        if s.freeze_embeddings:  # the word-piece table is the teacher's; training it costs most of a step
            for p in tower.query_encoder.embeddings.word_embeddings.parameters():
                p.requires_grad_(False)
        if shallow and s.align_epochs:
            # short, query-like texts: titles, first sentences and the training queries (measured: one
            # epoch on these aligns better than on longer corpus sentences)
            fit_queries = [self.queries[q] for q in self.folds[0].fit]
            texts = alignment_texts(self.corpus, fit_queries, s.align_max_texts, self.cfg.seed)
            self.log(f"  aligning the {s.shallow_layers}-layer query tower on {len(texts):,} texts")
            losses = align_query_tower(tower, d.query_vectors(texts), texts, epochs=s.align_epochs, seed=0)
            self.log(f"  alignment loss by epoch: {', '.join(f'{x:.4f}' for x in losses)}")
        model = QueryEncoder(tower, d.doc_vectors, d.docnos, d.texts)
        setattr(self, attr, model)
        return model

    def _fold_bi_encoder(self, fold: Fold, spec: TargetSpec, shallow: bool = False) -> tuple:
        s = self.cfg.students
        init = self._query_init(shallow)

        def dense_path(model: Any) -> Any:
            vectors, docnos = model.doc_vectors(), model.docnos
            return self.dense_path(lambda t: model.encode(t, is_query=True), vectors, docnos)

        def validate(model: Any) -> float:
            return self._ndcg10(self._search_run(dense_path(model), fold.val, "dense"), fold.val)

        lists, scale = self._lists(fold, spec, init, "bi_encoder_shallow" if shallow else "bi_encoder")
        lr = s.shallow_lr if shallow else s.neural_lr
        model, info = train_neural(
            init, spec, s, lists=lists, lr=lr, epochs=s.neural_epochs, validate=validate, seed=self.cfg.seed
        )
        info["teacher_scale"] = None if scale is None else round(scale, 4)
        path = dense_path(model)
        run = self._search_run(path, fold.test, "dense")
        return run, info["best_validation_ndcg@10"] or 0.0, info, path, model.num_parameters()

    def _fold_bi_encoder_shallow(self, fold: Fold, spec: TargetSpec) -> tuple:
        return self._fold_bi_encoder(fold, spec, shallow=True)

    # optional families: ColBERT (re-ranks BM25's top depth) and SPLADE (inverted index) ---------------
    def _colbert_init(self) -> Any:
        from distillrank.pipeline.doc_sides import colbert_student_init

        s = self.cfg.students
        return self._once(
            "_colbert",
            "ColBERT student: the documents' token states (cached after the first run)",
            "colbert_doc_side_s",
            lambda: colbert_student_init(
                self.dense_side.model_path,
                self.dense_side.docnos,  # every document, or BM25's candidates (dense.documents)
                self.dense_side.texts,
                self.cache,
                dim=s.colbert_dim,
                doc_max_length=s.colbert_doc_max_length,
                query_max_length=min(self.cfg.dense.query_max_length, 32),
                seed=self.cfg.seed,
                show_progress=True,
            ),
        )

    def _fold_colbert(self, fold: Fold, spec: TargetSpec) -> tuple[Run, float, dict, Any, int]:
        s = self.cfg.students
        init = self._colbert_init()
        return self._fold_reranker(fold, spec, init, "colbert", lr=s.colbert_lr, epochs=s.neural_epochs)

    def _splade_init(self) -> Any:
        from distillrank.pipeline.doc_sides import splade_student_init

        s = self.cfg.students
        return self._once(
            "_splade",
            "SPLADE student: the documents' sparse vectors (cached after the first run)",
            "splade_doc_side_s",
            lambda: splade_student_init(
                s.splade_model,
                self.corpus.docnos,
                self.corpus.full_texts(),
                self.cache,
                doc_max_length=s.splade_doc_max_length,
                query_max_length=self.cfg.dense.query_max_length,
                flops_weight=s.splade_flops,
                show_progress=True,
            ),
        )

    def _fold_splade(self, fold: Fold, spec: TargetSpec) -> tuple[Run, float, dict, Any, int]:
        s = self.cfg.students
        init = self._splade_init()
        k = self.cfg.candidates.k

        def validate(model: Any) -> float:
            return self._ndcg10(self._search_run(SparsePath(model, k), fold.val, "splade"), fold.val)

        lists, scale = self._lists(fold, spec, init, "splade")
        model, info = train_neural(
            init,
            spec,
            s,
            lists=lists,
            lr=s.splade_lr,
            epochs=s.neural_epochs,
            validate=validate,
            seed=self.cfg.seed,
        )
        info["teacher_scale"] = None if scale is None else round(scale, 4)
        path = SparsePath(model, k)
        run = self._search_run(path, fold.test, "splade")
        queries = model.encode([self.queries[q] for q in fold.test[: self.cfg.evaluation.latency_queries]])
        info["query_terms_mean"] = (
            round(float(np.diff(queries.indptr).mean()), 1) if queries.shape[0] else None
        )
        return run, info["best_validation_ndcg@10"] or 0.0, info, path, model.num_parameters()

    def optional_references(self, test: Sequence[str]) -> dict[str, tuple[str, Run, Any, int]]:
        """The untrained ColBERT and SPLADE students (``colbert-zero-shot``, ``splade-zero-shot``) of the
        families being trained, as ``name -> (family, test run, serving path, parameters)``: what training
        added to their starting point."""
        out: dict[str, tuple[str, Run, Any, int]] = {}
        families = self.cfg.students.families
        if "colbert" in families:
            colbert = self._colbert_init()
            run = self._rerank_with(colbert, test, "colbert-zero-shot")
            out["colbert-zero-shot"] = ("colbert", run, self._rerank_path(colbert), count_parameters(colbert))
        if "splade" in families:
            splade = self._splade_init()
            path = SparsePath(splade, self.cfg.candidates.k)
            run = self._search_run(path, test, "splade")
            out["splade-zero-shot"] = ("splade", run, path, splade.num_parameters())
        return out
