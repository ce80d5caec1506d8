"""Benchmark: `distillrank evaluate` on MS MARCO-sized inputs, against ir_measures itself on the same files.

Run:  python bench/evaluate_scale.py [--queries 5000] [--depth 1000] [--qrels-queries 500000] [--docs 1000000]

Builds (once, seeded, under ``--work-dir``) two TREC runs of ``--queries`` x ``--depth`` lines (run B is
run A's scores plus noise, re-ranked), their qrels (one relevant document a query), a qrels file judging
``--qrels-queries`` queries (MS MARCO's train qrels judge 532k) of which the run's are the first, and a BEIR
folder of ``--docs`` short passages whose ``qrels/test.tsv`` are the run's. Then times, each command in a
fresh process with its peak resident memory (one thread):

* ``one_run``: ``distillrank evaluate -r A --qrels small`` (nDCG@10, RR@10, AP, R@100: the defaults);
* ``big_qrels``: the same against the 500k-query qrels (the 495k queries without results count 0);
* ``two_runs``: ``-r A -r B`` with a paired t-test;
* ``dataset_folder``: ``-r A -d FOLDER`` (the qrels of a 1M-document BEIR folder);
* peers: ``ir_measures.read_trec_run`` + the qrels as ``ir_measures.Qrel`` tuples + ``calc_aggregate``
  for ``one_run`` and ``big_qrels``, and ``load_dataset(FOLDER)`` (what reading a folder's qrels cost
  before ``load_qrels``).

Every command's table (4 decimals) is checked against ir_measures' aggregates (RR@10 may differ in the 6th
decimal: trec_eval's tie rule). Writes bench/results/evaluate_scale.json.
"""

# ruff: noqa: E402  (the thread variables must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, machine_info, provenance, write_json

METRICS = ["nDCG@10", "RR@10", "AP", "R@100"]

_MEASURE = r"""
import json, resource, sys, time
t0 = time.perf_counter()
exec(sys.argv[1])
print(json.dumps({"wall_s": time.perf_counter() - t0,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "result": result}))
"""


def make_inputs(
    work: Path, n_queries: int, depth: int, n_qrels: int, n_docs: int, seed: int = 7
) -> dict[str, Path]:
    """The runs, qrels and folder (written once; reused when present)."""
    paths = {
        "run_a": work / "run_a.trec",
        "run_b": work / "run_b.trec",
        "qrels": work / "qrels_small.tsv",
        "qrels_big": work / "qrels_big.tsv",
        "folder": work / "folder",
    }
    if (work / "done").exists():
        return paths
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    relevant = rng.integers(0, n_docs, size=n_qrels)
    with open(paths["run_a"], "w") as fa, open(paths["run_b"], "w") as fb:
        for q in range(n_queries):
            docs = rng.choice(n_docs, size=depth + 1, replace=False)
            docs = docs[docs != relevant[q]][:depth]  # no document twice
            if rng.random() < 0.7:
                docs[min(int(rng.geometric(0.3)) - 1, depth - 1)] = relevant[q]
            scores = 25.0 - np.cumsum(rng.exponential(0.02, size=depth))
            fa.write(
                "".join(
                    f"q{q} Q0 d{d} {r + 1} {s:.4f} A\n"
                    for r, (d, s) in enumerate(zip(docs, scores, strict=True))
                )
            )
            noisy = scores + rng.normal(0, 0.3, size=depth)
            order = np.argsort(-noisy, kind="stable")
            fb.write(
                "".join(
                    f"q{q} Q0 d{d} {r + 1} {s:.4f} B\n"
                    for r, (d, s) in enumerate(zip(docs[order], noisy[order], strict=True))
                )
            )
    header = "query-id\tcorpus-id\tscore\n"
    paths["qrels"].write_text(header + "".join(f"q{q}\td{relevant[q]}\t1\n" for q in range(n_queries)))
    paths["qrels_big"].write_text(
        header + "".join(f"q{q}\td{d}\t1\n" for q, d in enumerate(relevant.tolist()))
    )
    folder = paths["folder"]
    (folder / "qrels").mkdir(parents=True)
    shutil.copy(paths["qrels"], folder / "qrels" / "test.tsv")
    words = np.array(
        [
            "the",
            "of",
            "cell",
            "protein",
            "gene",
            "study",
            "patients",
            "risk",
            "model",
            "human",
            "data",
            "effect",
        ]
    )
    with open(folder / "corpus.jsonl", "w") as f:
        for start in range(0, n_docs, 100_000):
            stop = min(start + 100_000, n_docs)
            picks = words[rng.integers(0, len(words), size=(stop - start, 60))]
            f.write("".join(json.dumps({"_id": f"d{i}", "title": "", "text": " ".join(p)}) + "\n"
                            for i, p in zip(range(start, stop), picks, strict=True)))  # fmt: skip
    with open(folder / "queries.jsonl", "w") as f:
        f.write(
            "".join(json.dumps({"_id": f"q{q}", "text": "cell protein"}) + "\n" for q in range(n_queries))
        )
    (work / "done").write_text("")
    return paths


def measure(code: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _MEASURE, code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def cli(args: list[str]) -> str:
    """The command as a user runs it (its table), the aggregates read back from the table's rows."""
    return (
        "import os, re\nos.environ['COLUMNS'] = '200'\n"
        "from typer.testing import CliRunner\nfrom distillrank.cli.main import app\n"
        f"r = CliRunner().invoke(app, {['evaluate', *args]!r})\n"
        "assert r.exit_code == 0, r.output\n"
        "rows = [line.split('│')[1:-1] for line in r.stdout.splitlines() if line.startswith('│ run_')]\n"
        "result = [[float(c) for c in row[1:] if re.fullmatch(r'\\s*\\d\\.\\d{4}\\s*', c)] for row in rows]"
    )


def peer(run: Path, qrels: Path) -> str:
    return (
        "import ir_measures\n"
        f"measures = [ir_measures.parse_measure(m) for m in {METRICS!r}]\n"
        f"run = list(ir_measures.read_trec_run({str(run)!r}))\n"
        f"lines = open({str(qrels)!r}).read().splitlines()[1:]  # BEIR TSV, after its header\n"
        "qrels = [ir_measures.Qrel(*x.split('\\t')[:2], int(x.split('\\t')[2])) for x in lines]\n"
        "agg = {str(k): v for k, v in ir_measures.calc_aggregate(measures, qrels, run).items()}\n"
        f"result = [[round(agg[m], 4) for m in {METRICS!r}]]"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=5000)
    ap.add_argument("--depth", type=int, default=1000)
    ap.add_argument("--qrels-queries", type=int, default=500_000)
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--work-dir", default=str(Path(tempfile.gettempdir()) / "distillrank-evaluate-scale"))
    ap.add_argument("--output", default=str(RESULTS / "evaluate_scale.json"))
    args = ap.parse_args()

    tag = f"{args.queries}x{args.depth}_{args.qrels_queries}_{args.docs}"
    t0 = time.perf_counter()
    p = make_inputs(Path(args.work_dir) / tag, args.queries, args.depth, args.qrels_queries, args.docs)
    print(f"inputs ready ({time.perf_counter() - t0:.0f} s)", flush=True)
    a, b = str(p["run_a"]), str(p["run_b"])
    steps = {
        "one_run": cli(["-r", a, "--qrels", str(p["qrels"])]),
        "big_qrels": cli(["-r", a, "--qrels", str(p["qrels_big"])]),
        "two_runs": cli(["-r", a, "-r", b, "--qrels", str(p["qrels"])]),
        "dataset_folder": cli(["-r", a, "-d", str(p["folder"])]),
        "peer_one_run": peer(p["run_a"], p["qrels"]),
        "peer_big_qrels": peer(p["run_a"], p["qrels_big"]),
        "peer_load_dataset": (
            "from distillrank.data.catalogue import load_dataset\n"
            f"coll = load_dataset({str(p['folder'])!r})\nresult = len(coll.get_qrels('test'))"
        ),
    }
    results = {}
    for name, code in steps.items():
        results[name] = measure(code)
        print(f"{name}: {results[name]['wall_s']:.1f} s, {results[name]['peak_rss_mib']:.0f} MiB", flush=True)

    def close(x: list[float], y: list[float]) -> bool:  # the table's 4 decimals
        return len(x) == len(y) == len(METRICS) and all(abs(u - v) <= 1e-4 for u, v in zip(x, y, strict=True))

    checks = {
        "one_run_equals_ir_measures": close(
            results["one_run"]["result"][0], results["peer_one_run"]["result"][0]
        ),
        "big_qrels_equals_ir_measures": close(
            results["big_qrels"]["result"][0], results["peer_big_qrels"]["result"][0]
        ),
        "dataset_folder_equals_qrels_file": results["dataset_folder"]["result"]
        == results["one_run"]["result"],
    }
    wall = {k: v["wall_s"] for k, v in results.items()}
    payload = {
        "benchmark": "evaluate_scale",
        "settings": vars(args) | {"metrics": METRICS},
        "steps": results,
        "ratios": {
            "one_run_over_ir_measures": wall["one_run"] / wall["peer_one_run"],
            "big_qrels_over_ir_measures": wall["big_qrels"] / wall["peer_big_qrels"],
            "big_qrels_over_one_run": wall["big_qrels"] / wall["one_run"],
            "two_runs_over_one_run": wall["two_runs"] / wall["one_run"],
        },
        "qrels_of_the_folder_s": wall["dataset_folder"] - wall["one_run"],  # evaluate -d's extra cost
        "load_dataset_s": wall["peer_load_dataset"],  # what reading the whole folder would cost
        "checks": checks,
        "machine": machine_info(),
        "provenance": provenance("src", "bench/evaluate_scale.py"),
    }
    write_json(args.output, payload)
    print(
        json.dumps(
            {k: payload[k] for k in ("ratios", "qrels_of_the_folder_s", "load_dataset_s", "checks")}, indent=1
        )
    )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
