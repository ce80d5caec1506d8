"""Benchmark: dynamic int8 quantisation of the *trained* cross-encoder teacher — quality change and speed.

Run:  python bench/int8_teacher.py [--teacher bench/results/main_job/teacher/cross-encoder] [--depth 20]

The teacher is the cross-encoder fine-tuned by ``distillrank run`` (its folder under the job's output).
Both variants re-rank the same SciFact test candidates (BM25 top ``--depth``) at the teacher's
``max_length``: float32 ``CrossEncoder.predict`` and ``CrossEncoder.quantize().predict`` (dynamic int8 of
the Linear layers). Reported: nDCG@10 / RR@10 of each re-ranking (the rest of BM25's top 100 below),
rank agreement of the scores (Spearman, per-query Kendall tau), the largest score change, and the
throughput ratio int8 / fp32 measured in alternating chunks of one query's candidates (paired: the
machine's load drifts). Writes ``bench/results/int8_teacher.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from scipy.stats import kendalltau, spearmanr

from _common import RESULTS, data_dir, machine_info, write_json
from distillrank.data import Run
from distillrank.data.catalogue import load_dataset
from distillrank.evaluation import evaluate
from distillrank.models import _hf
from distillrank.models.cross_encoder import CrossEncoder
from distillrank.pipeline.paths import rerank_head
from distillrank.retrieval import BM25Retriever


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--teacher", default=str(RESULTS / "main_job" / "teacher" / "cross-encoder"))
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--output", default=str(RESULTS / "int8_teacher.json"))
    args = ap.parse_args()
    _hf.torch_threads(args.threads)
    coll = load_dataset("scifact", data_dir(args.data_dir))
    queries, qrels = coll.queries_for("test"), coll.get_qrels("test")
    qids = sorted(q for q in qrels if q in queries)
    bm25 = BM25Retriever()
    bm25.index(coll.corpus)
    first = bm25.search(queries.subset(qids), k=100)
    fp32 = CrossEncoder.load(Path(args.teacher))
    int8 = CrossEncoder.load(Path(args.teacher)).quantize()
    heads = {q: [d for d, _ in first.ranked(q, args.depth)] for q in qids}
    scores: dict[str, dict[str, np.ndarray]] = {"fp32": {}, "int8": {}}
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    fp32.predict([(queries[qids[0]], coll.corpus[heads[qids[0]][0]].full_text())] * 8)  # warm-up
    int8.predict([(queries[qids[0]], coll.corpus[heads[qids[0]][0]].full_text())] * 8)
    for i, q in enumerate(qids):
        pairs = [(queries[q], coll.corpus[d].full_text()) for d in heads[q]]
        order = [("fp32", fp32), ("int8", int8)] if i % 2 == 0 else [("int8", int8), ("fp32", fp32)]
        for name, model in order:
            t0 = time.perf_counter()
            scores[name][q] = model.predict(pairs)
            times[name].append(time.perf_counter() - t0)
    result: dict[str, object] = {}
    for name in ("fp32", "int8"):
        run = Run.from_trusted(
            {q: dict(rerank_head(first.ranked(q), heads[q], scores[name][q].astype(float))) for q in qids}
        )
        res = evaluate(run, qrels.subset(qids), "nDCG@10,RR@10").aggregate
        n_pairs = sum(len(h) for h in heads.values())
        result[name] = {
            "nDCG@10": round(float(res["nDCG@10"]), 4),
            "RR@10": round(float(res["RR@10"]), 4),
            "pairs_per_s": round(n_pairs / sum(times[name]), 1),
        }
    a = np.concatenate([scores["fp32"][q] for q in qids])
    b = np.concatenate([scores["int8"][q] for q in qids])
    taus = [kendalltau(scores["fp32"][q], scores["int8"][q]).statistic for q in qids]
    ratios = [f / i for f, i in zip(times["fp32"], times["int8"], strict=True)]
    payload = {
        "benchmark": "int8 quantisation of the trained teacher",
        "teacher": args.teacher,
        "max_length": fp32.max_length,
        "queries": len(qids),
        "depth": args.depth,
        **result,
        "delta_nDCG@10": round(result["int8"]["nDCG@10"] - result["fp32"]["nDCG@10"], 4),  # type: ignore[index]
        "spearman": round(float(spearmanr(a, b).statistic), 4),
        "mean_query_kendall_tau": round(float(np.nanmean(taus)), 4),
        "max_abs_score_change": round(float(np.abs(a - b).max()), 4),
        "speedup_int8_over_fp32_paired_median": round(statistics.median(ratios), 3),
        "speedup_quartiles": [round(x, 3) for x in statistics.quantiles(ratios, n=4)],
        "load_average": os.getloadavg(),
        "machine": machine_info(),
    }
    write_json(args.output, payload)
    print({k: v for k, v in payload.items() if k != "machine"})


if __name__ == "__main__":
    main()
