"""Benchmark: BM25 indexing time and peak memory, ours (block-wise build) vs raw bm25s, same scores.

Run:  python bench/bm25_index.py [--synthetic N_DOCS] [--repeats 1] [--data-dir ../shared/data]

Indexes one corpus with ``BM25Retriever().index(corpus)`` and with the bm25s README path
(``bm25s.tokenize(texts, stopwords="en", stemmer=...)`` + ``bm25s.BM25(...).index(tokens)``, numba
backend), each in a fresh process (so each has its own peak resident memory), alternating, ``--repeats``
times each. Both processes load the corpus the same way first; the figure that matters is the growth of
the peak over that, up to the end of indexing: ``index_peak_mib = peak RSS - RSS after loading``
(searching, which compiles numba code, comes after). Each process then retrieves the
top 100 of the same queries; the scores must be equal bit for bit (checked, recorded).

Corpus: SciFact (5,183 abstracts) by default; ``--synthetic N`` builds (once, seeded, under
``--work-dir``) a BEIR folder of N passages of three sentences resampled from SciFact's sentences (~75
words, about MS MARCO passage length; 30% with a SciFact title) and 1,000 queries made of words of a
passage. One thread (OMP/NUMBA/BLAS pinned to 1). Writes bench/results/bm25_index.json, or
bench/results/bm25_index_synthetic_<N>.json.
"""

# ruff: noqa: E402  (the thread variables must be set before numpy and numba are imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from _common import RESULTS, data_dir, machine_info, provenance, write_json

K = 100
N_QUERIES = 1000
SYSTEMS = ("ours", "bm25s")


def _rss_mib() -> float:
    """Current resident set size, from /proc (MiB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(system: str, folder: str, out: str) -> None:
    """Load, index and search in this process; print one JSON line; save the top-k scores to ``out``."""
    import bm25s
    import Stemmer

    from distillrank.data.formats.beir import read_beir
    from distillrank.retrieval import BM25Retriever

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coll = read_beir(folder)
    corpus = coll.corpus
    queries = coll.queries_for("test") if "test" in coll.splits else coll.queries
    texts_q = list(queries.values())[:N_QUERIES]
    loaded = _rss_mib()
    t0 = time.perf_counter()
    if system == "ours":
        ours = BM25Retriever()
        ours.index(corpus)
        t_index = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        _, scores = ours.retrieve_arrays(ours.tokenize_queries(texts_q), K)
    else:
        stemmer = Stemmer.Stemmer("english")
        raw = bm25s.BM25(k1=1.2, b=0.75, method="lucene", backend="numba")
        raw.index(
            bm25s.tokenize(corpus.full_texts(), stopwords="en", stemmer=stemmer, show_progress=False),
            show_progress=False,
        )
        t_index = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        qtok = bm25s.tokenize(texts_q, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)
        qtok = [[t for t in q if t in raw.vocab_dict] for q in qtok]
        scores = np.stack(
            [np.sort(raw.get_scores(q))[::-1][:K] if q else np.zeros(K, np.float32) for q in qtok]
        )
    np.save(out, np.asarray(scores, dtype=np.float32))
    print(
        json.dumps(
            {
                "index_s": t_index,
                "rss_after_load_mib": loaded,
                "peak_rss_mib": peak,
                "index_peak_mib": peak - loaded,
                "n_docs": len(corpus),
            }
        )
    )


def synthetic(n_docs: int, src: Path, out: Path, seed: int = 12345) -> Path:
    """A seeded BEIR folder of ``n_docs`` passages resampled from ``src``'s (SciFact's) sentences."""
    if (out / "queries.jsonl").exists():
        return out
    rng = np.random.default_rng(seed)
    sents: list[str] = []
    titles: list[str] = []
    split = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
    with open(src / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            o = json.loads(line)
            titles.append(o["title"])
            sents.extend(s for s in split.split(o["text"]) if len(s.split()) >= 6)
    pick = rng.integers(0, len(sents), size=(n_docs, 3))
    has_title = rng.random(n_docs) < 0.3
    title_of = rng.integers(0, len(titles), size=n_docs)
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i in range(n_docs):
            a, b, c = pick[i]
            title = titles[title_of[i]] if has_title[i] else ""
            f.write(
                json.dumps({"_id": str(i), "title": title, "text": f"{sents[a]} {sents[b]} {sents[c]}"})
                + "\n"
            )
    sources = rng.choice(n_docs, size=N_QUERIES, replace=False)
    with open(out / "qrels" / "test.tsv", "w", encoding="utf-8") as fr:
        fr.write("query-id\tcorpus-id\tscore\n")
        queries = []
        for q, d in enumerate(sources.tolist()):
            words = sents[pick[d, 0]].split() + sents[pick[d, 1]].split()
            start = int(rng.integers(0, max(1, len(words) - 8)))
            queries.append(json.dumps({"_id": f"q{q}", "text": " ".join(words[start : start + 8])}))
            fr.write(f"q{q}\t{d}\t1\n")
    (out / "queries.jsonl").write_text("\n".join(queries) + "\n", encoding="utf-8")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--synthetic", type=int, default=0, help="index N synthetic passages instead of SciFact")
    ap.add_argument("--work-dir", default=str(Path(tempfile.gettempdir()) / "distillrank-bm25-index"))
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument(
        "--systems", default="ours,bm25s", help="ours,bm25s (default) or ours: no peer, no ratios"
    )
    ap.add_argument("--output", default=None)
    ap.add_argument("--child", choices=SYSTEMS, help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--scores-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.folder, args.scores_out)
        return

    scifact = data_dir(args.data_dir) / "beir" / "scifact"
    if args.synthetic:
        folder = synthetic(args.synthetic, scifact, Path(args.work_dir) / f"synthetic_{args.synthetic}")
        output = args.output or str(RESULTS / f"bm25_index_synthetic_{args.synthetic}.json")
    else:
        folder, output = scifact, args.output or str(RESULTS / "bm25_index.json")

    systems = [s for s in SYSTEMS if s in args.systems.split(",")]
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in systems}
    scores: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for system in systems:
                out = str(Path(tmp) / f"{system}.npy")
                cmd = [
                    sys.executable,
                    __file__,
                    "--child",
                    system,
                    "--folder",
                    str(folder),
                    "--scores-out",
                    out,
                ]
                done = subprocess.run(cmd, capture_output=True, text=True, check=True)
                result = json.loads(done.stdout.strip().splitlines()[-1])
                runs[system].append(result)
                scores[system] = np.load(out)
                print(f"[{r + 1}/{args.repeats}] {system}: {result}", flush=True)
    peer = "bm25s" in systems
    equal = bool(np.array_equal(scores["ours"], scores["bm25s"])) if peer else None

    def best(system: str, key: str) -> float:
        return min(x[key] for x in runs[system])

    summary = {
        s: {k: best(s, k) for k in ("index_s", "index_peak_mib", "peak_rss_mib", "rss_after_load_mib")}
        for s in systems
    }
    ratios = None
    if peer:
        ratios = {
            "index_memory_ours_over_bm25s": summary["ours"]["index_peak_mib"]
            / summary["bm25s"]["index_peak_mib"],
            "index_time_ours_over_bm25s": summary["ours"]["index_s"] / summary["bm25s"]["index_s"],
        }
    payload = {
        "benchmark": "bm25_index",
        "corpus": str(folder) if args.synthetic else "beir/scifact",
        "n_docs": runs["ours"][0]["n_docs"],
        "synthetic_docs": args.synthetic or None,
        "settings": {
            "method": "lucene",
            "k1": 1.2,
            "b": 0.75,
            "stopwords": "en",
            "stemmer": "english",
            "k": K,
        },
        "runs": runs,
        "best": summary,
        "ratios": ratios,
        "top_k_scores_equal": equal,
        "machine": machine_info(),
        "provenance": provenance("src", "bench/bm25_index.py"),
    }
    write_json(output, payload)
    print(json.dumps({"best": summary, "ratios": payload["ratios"], "equal": equal}, indent=1))
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
