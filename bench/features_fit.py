"""Benchmark: fitting the cheap-feature extractor, block-wise (ours) vs whole-corpus token lists, same stats.

Run:  python bench/features_fit.py [--synthetic N_DOCS] [--repeats 1] [--data-dir ../shared/data]

``ours`` is what ``FeatureExtractor().fit(corpus)`` does (``corpus_stats``; the fit adds the IDF):
titles and bodies tokenised a block of 8,192 documents at a time into numpy arrays
(:mod:`distillrank.distillation._feature_stats`). ``lists`` is how it was fitted
before (kept here as the reference): every title and body tokenised into one Python list of term ids,
then the count matrices and the bigram codes built from the lists. Each runs in a fresh process after
loading the corpus the same way; the figure that matters is the growth of the peak resident memory over
the loaded corpus (``fit_peak_mib``), and the time. Both write a SHA-256 digest of the statistics they
produce (vocabulary, document frequencies, lengths, per-field term counts, bigram codes); they must be
equal (checked, recorded).

Corpus: SciFact by default; ``--synthetic N`` uses (and builds once, seeded) the synthetic BEIR folder of
``bench/bm25_index.py`` (N passages of ~75 words resampled from SciFact's sentences). One thread. Writes
bench/results/features_fit.json or bench/results/features_fit_synthetic_<N>.json.
"""

# ruff: noqa: E402  (the thread variables must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from _common import RESULTS, data_dir, machine_info, provenance, write_json
from bm25_index import _rss_mib, synthetic
from features_transform import _tf_matrix  # the reference code's count matrix

SYSTEMS = ("ours", "lists")


def _lists_fit(corpus: Any) -> dict[str, Any]:
    """The statistics as the extractor computed them before block-wise fitting (reference)."""
    from distillrank.distillation.features import _Analyzer
    from distillrank.retrieval.bm25 import BM25Config

    analyzer = _Analyzer(BM25Config())
    title_ids = [analyzer.ids(t, grow=True) for t in corpus.titles]
    body_ids = [analyzer.ids(t, grow=True) for t in corpus.texts]
    n_terms = max(len(analyzer.vocab), 1)

    def bigram_codes(ids: list[int]) -> np.ndarray:
        if len(ids) < 2:
            return np.zeros(0, dtype=np.int64)
        arr = np.asarray(ids, dtype=np.int64)
        return np.unique(arr[:-1] * n_terms + arr[1:])

    tf_title, tf_body = _tf_matrix(title_ids, n_terms), _tf_matrix(body_ids, n_terms)
    codes = [bigram_codes(t + b) for t, b in zip(title_ids, body_ids, strict=True)]
    ptr = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum([len(c) for c in codes], out=ptr[1:])
    return {
        "vocab": analyzer.vocab,
        "df": np.diff((tf_title + tf_body).tocsc().indptr).astype(np.float64),
        "title_len": np.asarray(tf_title.sum(axis=1)).ravel(),
        "doc_len": np.asarray((tf_title + tf_body).sum(axis=1)).ravel(),
        "tf_title": tf_title,
        "tf_body": tf_body,
        "bigram_ptr": ptr,
        "bigrams": np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64),
    }


def _digest(stats: dict[str, Any]) -> str:
    """SHA-256 of the statistics, independent of their storage types."""
    h = hashlib.sha256()
    h.update(json.dumps(sorted(stats["vocab"].items(), key=lambda kv: kv[1])).encode())
    for name in ("df", "title_len", "doc_len"):
        h.update(np.asarray(stats[name], dtype=np.float64).tobytes())
    for name in ("tf_title", "tf_body"):
        m = sp.csr_matrix(stats[name])
        h.update(np.asarray(m.indptr, dtype=np.int64).tobytes())
        h.update(np.asarray(m.indices, dtype=np.int64).tobytes())
        h.update(np.asarray(m.data, dtype=np.float64).tobytes())
    for name in ("bigram_ptr", "bigrams"):
        h.update(np.asarray(stats[name], dtype=np.int64).tobytes())
    return h.hexdigest()


def child(system: str, folder: str) -> None:
    """Load and fit in this process; print one JSON line."""
    from distillrank.data.formats.beir import read_beir
    from distillrank.distillation._feature_stats import corpus_stats
    from distillrank.retrieval.bm25 import BM25Config

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        corpus = read_beir(folder).corpus
    loaded = _rss_mib()
    t0 = time.perf_counter()
    if system == "ours":  # what FeatureExtractor.fit does, bar computing the IDF from df
        result = corpus_stats(corpus.titles, corpus.texts, BM25Config())
        t_fit = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert result.documents is not None
        stats = {**vars(result), **vars(result.documents)}
    else:
        stats = _lists_fit(corpus)
        t_fit = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "fit_s": t_fit,
                "rss_after_load_mib": loaded,
                "peak_rss_mib": peak,
                "fit_peak_mib": peak - loaded,
                "n_docs": len(corpus),
                "digest": _digest(stats),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--synthetic", type=int, default=0, help="fit on N synthetic passages instead of SciFact")
    ap.add_argument("--work-dir", default=str(Path(tempfile.gettempdir()) / "distillrank-bm25-index"))
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--output", default=None)
    ap.add_argument("--child", choices=SYSTEMS, help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.folder)
        return

    scifact = data_dir(args.data_dir) / "beir" / "scifact"
    if args.synthetic:
        folder = synthetic(args.synthetic, scifact, Path(args.work_dir) / f"synthetic_{args.synthetic}")
        output = args.output or str(RESULTS / f"features_fit_synthetic_{args.synthetic}.json")
    else:
        folder, output = scifact, args.output or str(RESULTS / "features_fit.json")

    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in SYSTEMS}
    for r in range(args.repeats):
        for system in SYSTEMS:
            cmd = [sys.executable, __file__, "--child", system, "--folder", str(folder)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            runs[system].append(result)
            print(f"[{r + 1}/{args.repeats}] {system}: {result}", flush=True)
    keys = ("fit_s", "fit_peak_mib", "peak_rss_mib", "rss_after_load_mib")
    best = {s: {k: min(x[k] for x in runs[s]) for k in keys} for s in SYSTEMS}
    equal = len({x["digest"] for s in SYSTEMS for x in runs[s]}) == 1
    payload = {
        "benchmark": "features_fit",
        "corpus": str(folder) if args.synthetic else "beir/scifact",
        "n_docs": runs["ours"][0]["n_docs"],
        "synthetic_docs": args.synthetic or None,
        "runs": runs,
        "best": best,
        "ratios": {
            "fit_memory_ours_over_lists": best["ours"]["fit_peak_mib"] / best["lists"]["fit_peak_mib"],
            "fit_time_ours_over_lists": best["ours"]["fit_s"] / best["lists"]["fit_s"],
        },
        "statistics_equal": equal,
        "machine": machine_info(),
        "provenance": provenance("src", "bench/features_fit.py"),
    }
    write_json(output, payload)
    print(json.dumps({"best": best, "ratios": payload["ratios"], "equal": equal}, indent=1))
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
