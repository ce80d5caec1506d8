"""Benchmark: cross-encoder scoring speed, ours vs sentence-transformers on the same model (target >= 1.3x).

Run:  python bench/ce_scoring_speed.py [--data-dir ../shared/data] [--queries 30] [--depth 20] [--repeats 2]

One model, one input set, one thread setting for every contestant:

* model: all-MiniLM-L6-v2 with a fresh one-output head (seeded; no trained cross-encoder weights exist
  offline), saved by :meth:`CrossEncoder.save` and opened by ``sentence_transformers.CrossEncoder`` from
  that folder, so both run the very same weights (their scores are compared: they agree to ~1e-7);
* inputs: the first ``--queries`` SciFact test queries x their BM25 top ``--depth`` abstracts (title +
  text), the pairs a re-ranker sees; at ``max_length`` 256 and 128, batch size 32 for everyone;
* contestants: ``sentence_transformers.CrossEncoder.predict`` (``activation_fn`` = identity),
  our ``CrossEncoder.predict`` in float32, our ``CrossEncoder.quantize().predict`` (dynamic int8, query,
  key and value fused into one projection for batches of up to 128 tokens) and
  ``quantize(fuse_qkv=False)`` (the fusion's share);
* timing: one warm-up call each on 32 pairs; then the pairs are cut into calls of ``--chunk-queries``
  queries' candidates (100 pairs by default: one re-ranking call) and every call is made by all four
  contestants back to back (order rotated), ``--repeats`` times. The machine is shared and its load
  drifts over minutes, so the headline figure is the *paired* ratio: the median over calls of
  ``t_sentence_transformers / t_ours`` for runs made seconds apart (with its quartiles). Pairs/s are
  also given from the totals of each call's best and median time. The load average is recorded.

What sentence-transformers already does (6.x, ``CrossEncoder._inference``): it sorts pairs by
*character* length (longest first) before batching, and runs under ``torch.inference_mode()`` with the
same SDPA attention. So in float32 the only differences are ours ordering by exact *token* length (less
padding; reported below as padded tokens per real token for both orderings) and less per-batch overhead.
On SciFact at 256 tokens most pairs are truncated to the full length, so padding is small for both: the
speedup beyond ~1.0x comes from int8 (``quantize``). Quality of int8: rank correlations (Spearman,
Kendall, and the mean per-query Kendall of the candidate order) and max abs difference against float32;
the head is untrained, so the scores span a small range and these figures are a conservative check only.

Writes bench/results/ce_scoring_speed.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from _common import RESULTS, data_dir, machine_info, write_json
from distillrank.data.catalogue import load_dataset
from distillrank.models import _hf
from distillrank.models.cross_encoder import CrossEncoder
from distillrank.retrieval import BM25Retriever

TARGET = 1.3


def build_pairs(data: str | None, n_queries: int, depth: int) -> tuple[list[tuple[str, str]], list[int]]:
    """SciFact test queries x their BM25 top ``depth`` documents; also the query index of each pair."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coll = load_dataset("scifact", data_dir(data))
    queries = coll.queries_for("test")
    qids = list(queries)[:n_queries]
    bm25 = BM25Retriever()
    bm25.index(coll.corpus)
    run = bm25.search(queries.subset(qids), k=depth)
    pairs: list[tuple[str, str]] = []
    group: list[int] = []
    for i, qid in enumerate(qids):
        ranked = sorted(run[qid].items(), key=lambda kv: -kv[1])
        for docno, _ in ranked:
            pairs.append((queries[qid], coll.corpus[docno].full_text()))
            group.append(i)
    return pairs, group


def padding_overhead(tokenizer: Any, pairs: Sequence[tuple[str, str]], max_length: int, batch: int) -> dict:
    """Padded tokens per real token when batching in sentence-transformers' order (character length)
    and in ours (token length)."""
    enc = tokenizer([q for q, _ in pairs], [d for _, d in pairs], truncation=True, max_length=max_length)
    lengths = np.array([len(x) for x in enc["input_ids"]])
    chars = np.array([len(q) + len(d) for q, d in pairs])

    def overhead(order: np.ndarray) -> float:
        padded = sum(
            int(lengths[order[s : s + batch]].max()) * len(order[s : s + batch])
            for s in range(0, len(order), batch)
        )
        return round(padded / int(lengths.sum()), 4)

    return {
        "real_tokens": int(lengths.sum()),
        "mean_tokens_per_pair": round(float(lengths.mean()), 1),
        "share_truncated_to_max_length": round(float((lengths >= max_length).mean()), 3),
        "padded_per_real_token_char_order (sentence-transformers)": overhead(
            np.argsort(-chars, kind="stable")
        ),
        "padded_per_real_token_token_order (ours)": overhead(np.argsort(-lengths, kind="stable")),
        "padded_per_real_token_input_order (no sorting)": overhead(np.arange(len(pairs))),
    }


def interleaved(
    fns: dict[str, Callable[[list[tuple[str, str]]], Any]], chunks: list[list[tuple[str, str]]], repeats: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Times ``[n_chunks, repeats]`` of each contestant and its scores (in pair order).

    Every chunk (a few queries' candidates: one re-ranking call) is scored by all contestants back to
    back, the order rotated each time, so that all of them meet the same machine load; a shared
    machine's load drifts over minutes, much less within a few seconds.
    """
    names = list(fns)
    times = {name: np.zeros((len(chunks), repeats)) for name in names}
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in names}
    step = 0
    for r in range(repeats):
        for c, chunk in enumerate(chunks):
            shift = step % len(names)
            for name in names[shift:] + names[:shift]:
                t0 = time.perf_counter()
                out = fns[name](chunk)
                times[name][c, r] = time.perf_counter() - t0
                if r == 0:
                    outputs[name].append(np.asarray(out, dtype=np.float32))
            step += 1
    return times, {name: np.concatenate(parts) for name, parts in outputs.items()}


def quality(fp32: np.ndarray, other: np.ndarray, group: Sequence[int]) -> dict[str, float]:
    g = np.asarray(group)
    per_query = [kendalltau(fp32[g == i], other[g == i]).statistic for i in np.unique(g)]
    return {
        "spearman": round(float(spearmanr(fp32, other).statistic), 4),
        "kendall": round(float(kendalltau(fp32, other).statistic), 4),
        "mean_per_query_kendall": round(float(np.nanmean(per_query)), 4),
        "max_abs_diff": float(np.abs(fp32 - other).max()),
        "fp32_score_std": float(fp32.std()),
        "fp32_score_range": float(fp32.max() - fp32.min()),
    }


def summarise(times: np.ndarray, n: int) -> dict[str, Any]:
    """Totals over chunks of each chunk's best and median time."""
    best, median = float(times.min(axis=1).sum()), float(np.median(times, axis=1).sum())
    return {
        "best_s": round(best, 3),
        "median_s": round(median, 3),
        "pairs_per_s_best": round(n / best, 2),
        "pairs_per_s_median": round(n / median, 2),
        "rounds_total_s": [round(float(x), 3) for x in times.sum(axis=0)],
    }


def paired_ratio(reference: np.ndarray, contestant: np.ndarray) -> dict[str, float]:
    """Speed ratio ``t_reference / t_contestant`` over runs of the same chunk made back to back."""
    ratio = (reference / contestant).ravel()
    q25, q50, q75 = np.percentile(ratio, [25, 50, 75])
    return {"median": round(float(q50), 3), "q25": round(float(q25), 3), "q75": round(float(q75), 3)}


def measure_length(
    ours: CrossEncoder,
    folder: str,
    pairs: list[tuple[str, str]],
    group: list[int],
    max_length: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Every contestant at one ``max_length``."""
    from sentence_transformers import CrossEncoder as STCrossEncoder

    bs = args.batch_size
    ours.max_length = max_length
    int8 = ours.quantize()  # query/key/value fused into one projection before quantisation (the default)
    int8_unfused = ours.quantize(fuse_qkv=False)
    st = STCrossEncoder(folder, max_length=max_length, device="cpu", activation_fn=torch.nn.Identity())
    warm = pairs[:: max(1, len(pairs) // 32)][:32]
    st.predict(warm, batch_size=bs, show_progress_bar=False)
    ours.predict(warm, batch_size=bs)
    int8.predict(warm, batch_size=bs)
    int8_unfused.predict(warm, batch_size=bs)
    fns: dict[str, Callable[[list[tuple[str, str]]], Any]] = {
        "sentence_transformers": lambda x: st.predict(x, batch_size=bs, show_progress_bar=False),
        "ours_fp32": lambda x: ours.predict(x, batch_size=bs),
        "ours_int8": lambda x: int8.predict(x, batch_size=bs),
        "ours_int8_unfused": lambda x: int8_unfused.predict(x, batch_size=bs),
    }
    per_chunk = args.chunk_queries * args.depth
    chunks = [pairs[i : i + per_chunk] for i in range(0, len(pairs), per_chunk)]
    times, scores = interleaved(fns, chunks, args.repeats)
    summary = {name: summarise(t, len(pairs)) for name, t in times.items()}
    ref = summary["sentence_transformers"]
    ratios: dict[str, Any] = {
        f"{name}_over_st_{kind}": round(ref[f"{kind}_s"] / summary[name][f"{kind}_s"], 3)
        for name in ("ours_fp32", "ours_int8", "ours_int8_unfused")
        for kind in ("best", "median")
    }
    for name in ("ours_fp32", "ours_int8", "ours_int8_unfused"):
        ratios[f"{name}_over_st_paired"] = paired_ratio(times["sentence_transformers"], times[name])
    entry = {
        "systems": summary,
        "ratios": ratios,
        "same_model_check_max_abs_diff_ours_fp32_vs_st": float(
            np.abs(scores["ours_fp32"] - scores["sentence_transformers"]).max()
        ),
        "int8_vs_fp32 (untrained head)": quality(scores["ours_fp32"], scores["ours_int8"], group),
        "int8_fused_vs_unfused_max_abs_diff": float(
            np.abs(scores["ours_int8"] - scores["ours_int8_unfused"]).max()
        ),
        "padding": padding_overhead(ours.tokenizer, pairs, max_length, bs),
        "attention": {
            "ours": ours.model.config._attn_implementation,
            "sentence_transformers": st.model.config._attn_implementation,
        },
    }
    line = " | ".join(
        f"{name} {summary[name]['pairs_per_s_best']} ({summary[name]['pairs_per_s_median']})"
        for name in summary
    )
    print(f"max_length {max_length}: pairs/s best (median): {line}")
    print(f"  ratios {ratios}")
    print(f"  int8 vs fp32 {entry['int8_vs_fp32 (untrained head)']}")
    print(f"  padding {entry['padding']}")
    return entry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--depth", type=int, default=20, help="BM25 candidates per query")
    ap.add_argument("--max-lengths", default="256,128")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--chunk-queries", type=int, default=5, help="queries per timed call")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--output", default=str(RESULTS / "ce_scoring_speed.json"))
    args = ap.parse_args()

    import sentence_transformers
    import transformers

    _hf.torch_threads(args.threads)
    load_start = os.getloadavg()
    t_start = time.perf_counter()
    pairs, group = build_pairs(args.data_dir, args.queries, args.depth)
    print(f"{len(pairs)} pairs ({args.queries} SciFact test queries x BM25 top {args.depth})")
    print(f"{args.threads} threads, batch size {args.batch_size}, {args.repeats} interleaved rounds")

    torch.manual_seed(0)
    ours = CrossEncoder(max_length=256)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ours.save(tmp)
        for max_length in [int(x) for x in args.max_lengths.split(",")]:
            results[f"max_length_{max_length}"] = measure_length(ours, tmp, pairs, group, max_length, args)
    worst_int8 = min(e["ratios"]["ours_int8_over_st_paired"]["median"] for e in results.values())
    worst_fp32 = min(e["ratios"]["ours_fp32_over_st_paired"]["median"] for e in results.values())
    machine = machine_info()
    machine.update(
        {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "torch_threads": torch.get_num_threads(),
            "quantized_engine": torch.backends.quantized.engine,
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
        }
    )
    wall = round(time.perf_counter() - t_start, 1)
    payload = {
        "benchmark": "ce_scoring_speed",
        "machine": machine,
        "setup": {
            "model": "all-MiniLM-L6-v2 encoder + fresh 1-output head (torch seed 0), same weights for all",
            "collection": "BEIR SciFact test",
            "queries": args.queries,
            "bm25_depth": args.depth,
            "pairs": len(pairs),
            "batch_size": args.batch_size,
            "repeats": args.repeats,
            "pairs_per_timed_call": args.chunk_queries * args.depth,
            "threads": args.threads,
            "warm_up": "one call each on 32 pairs",
            "wall_s": wall,
        },
        "results": results,
        "target": {"ours_over_st_min": TARGET},
        "pass": {
            "int8_paired_median_ratio_every_length": worst_int8 >= TARGET,
            "fp32_paired_median_ratio_every_length": worst_fp32 >= TARGET,
        },
    }
    write_json(args.output, payload)
    print(f"wrote {args.output} in {wall} s")


if __name__ == "__main__":
    main()
