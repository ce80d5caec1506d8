"""Benchmark: BM25 effectiveness on SciFact, Vaswani and Cranfield (issue: SciFact nDCG@10 >= 0.66).

Run:  python bench/bm25_quality.py [--data-dir ../shared/data] [--k 100]
Indexes each collection with BM25Retriever, retrieves the top ``k`` for every judged test query and
evaluates nDCG@10, RR@10, AP and R@100 with ir_measures (judged queries missing from the run count as 0).
Two settings: the defaults (Lucene's k1=1.2, b=0.75) and Anserini's (k1=0.9, b=0.4), both Lucene BM25
with English stop words and Snowball stemming over title + text. Writes bench/results/bm25_quality.json.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from _common import RESULTS, data_dir, evaluate, machine_info, write_json
from distillrank.data.formats.sniff import read_text_collection
from distillrank.retrieval import BM25Config, BM25Retriever

MEASURES = ["nDCG@10", "RR@10", "AP", "R@100"]
COLLECTIONS = {"scifact": "beir/scifact", "vaswani": "classic/vaswani", "cranfield": "classic/cranfield"}
# nDCG@10 measured on these files by the project's reference setup (shared/data/README.md)
REFERENCE_NDCG10 = {"scifact": 0.664, "vaswani": 0.384, "cranfield": 0.370}
SETTINGS = {
    "default (lucene k1=1.2 b=0.75)": BM25Config(),
    "anserini (lucene k1=0.9 b=0.4)": BM25Config(k1=0.9, b=0.4),
}
TARGET_SCIFACT = 0.66


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--output", default=str(RESULTS / "bm25_quality.json"))
    args = ap.parse_args()
    root = data_dir(args.data_dir)

    results: dict[str, dict[str, object]] = {}
    notes: dict[str, list[str]] = {}
    print(f"{'collection':10s} {'setting':32s} " + " ".join(f"{m:>8s}" for m in MEASURES) + "  ref nDCG@10")
    for name, rel in COLLECTIONS.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            collection = read_text_collection(Path(root) / rel, name=name)
        notes[name] = [str(w.message) for w in caught]
        qrels = collection.get_qrels("test")
        queries = collection.queries_for("test")
        results[name] = {
            "documents": len(collection.corpus),
            "queries": len(queries),
            "judgements": qrels.n_judgements,
            "reference_ndcg@10": REFERENCE_NDCG10[name],
            "settings": {},
        }
        for label, config in SETTINGS.items():
            bm25 = BM25Retriever(config)
            t0 = time.perf_counter()
            bm25.index(collection.corpus)
            t_index = time.perf_counter() - t0
            t0 = time.perf_counter()
            run = bm25.search(queries, k=args.k)
            t_search = time.perf_counter() - t0
            scores = evaluate(qrels, run, MEASURES)
            results[name]["settings"][label] = {  # type: ignore[index]
                "config": config.to_dict(),
                "metrics": {m: round(v, 4) for m, v in scores.items()},
                "index_s": round(t_index, 3),
                "search_s": round(t_search, 3),
                "queries_without_results": sum(1 for q in queries if not run[q]),
            }
            row = " ".join(f"{scores[m]:8.4f}" for m in MEASURES)
            print(f"{name:10s} {label:32s} {row}  {REFERENCE_NDCG10[name]:.3f}")

    default = next(iter(SETTINGS))
    scifact_ndcg = results["scifact"]["settings"][default]["metrics"]["nDCG@10"]  # type: ignore[index]
    payload = {
        "benchmark": "bm25_quality",
        "machine": machine_info(),
        "k": args.k,
        "measures": MEASURES,
        "targets": {"scifact_ndcg@10_min": TARGET_SCIFACT},
        "pass": {"scifact_ndcg@10": scifact_ndcg >= TARGET_SCIFACT},
        "results": results,
        "loader_notes": notes,
    }
    write_json(args.output, payload)
    print(f"SciFact nDCG@10 (defaults) {scifact_ndcg:.4f} (target >= {TARGET_SCIFACT}); wrote {args.output}")


if __name__ == "__main__":
    main()
