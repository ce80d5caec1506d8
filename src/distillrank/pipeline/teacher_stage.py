"""Stages 2 and 3 of the main job: the teacher (fine-tuned here, loaded from ``--teacher``, or a zero-shot
fusion) and its labels — every candidate's signals (cross-encoder scores through the resumable
:class:`~distillrank.distillation.TeacherScoreCache`, BM25, dense cosine, the feature ranker) and the fusion
of them that is the teacher (:class:`TeacherStage`, the part of :class:`~.job._Job` that knows the teacher).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distillrank.data.run import Run
from distillrank.errors import DistillrankError
from distillrank.pipeline.families import StudentFamilies
from distillrank.pipeline.ranker import score_with
from distillrank.pipeline.records import (
    _digest,
    _read_json,
    _resumable_checkpoints,
    _with_query_field,
    _write_json,
    data_digest,
)
from distillrank.pipeline.students import TargetSpec, lgbm_kwargs
from distillrank.pipeline.teacher import Fusion, fit_fusion, train_cross_encoder

__all__ = ["CE_FREE", "TeacherStage"]


CE_FREE = {"fusion", "ranker", "ranker_folds", "ranker_labels"}
"""Teacher settings that do not change the cross-encoder (changing them does not retrain it)."""


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


class TeacherStage(StudentFamilies):
    """The teacher stage of the main job; :class:`~.job._Job` provides the state below (and loads it)."""

    teacher_dir: Path | None
    has_train: bool
    corpus_key: str  # records.corpus_digest of the corpus
    ce: Any
    ce_dir: Path
    teacher_info: dict[str, Any]
    ranker: Any
    fusion: Fusion
    _transfer_first: Run

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
            # the documents and the training queries' texts and judgements (not only the dataset's name)
            key = _digest(key, data_digest(self.corpus_key, self.queries, self.qrels, (*fold.fit, *fold.val)))
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
