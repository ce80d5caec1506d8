"""Helpers shared by the benchmark scripts: data folder, machine description, timing, evaluation, output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from distillrank.io import atomic_write

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def data_dir(arg: str | None) -> Path:
    """``--data-dir``, else ``$DISTILLRANK_DATA``, else ``<repo>/../shared/data``."""
    return Path(arg or os.environ.get("DISTILLRANK_DATA") or ROOT.parent / "shared" / "data")


def provenance(*paths: str) -> dict[str, Any]:
    """The command, commit, date and whether ``paths`` (default: every tracked file) had uncommitted
    changes, for a result's ``provenance`` key."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return out.stdout.strip()

    status = ["status", "--porcelain", "--untracked-files=no", *(["--", *paths] if paths else [])]
    return {
        "command": " ".join(["python", *sys.argv]),
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git(*status)),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def machine_info() -> dict[str, Any]:
    import bm25s
    import numpy

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "bm25s": bm25s.__version__,
        "threads_env": {v: os.environ.get(v) for v in THREAD_VARS},
    }
    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError:
        info["numba"] = None
    return info


def time_interleaved(fns: Mapping[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Wall times of each function over ``repeats`` rounds, the functions interleaved within a round.

    Interleaving spreads background noise over all contestants instead of penalising whichever ran
    while the machine was busy. Each function runs once untimed first (JIT compilation, caches); the
    time to free a result is not counted.
    """
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            out = fn()
            times[name].append(time.perf_counter() - t0)
            del out  # freeing the result is not part of producing it
    return times


def summarise(times: list[float], n_items: int) -> dict[str, float]:
    best, median = min(times), statistics.median(times)
    return {
        "best_s": round(best, 5),
        "median_s": round(median, 5),
        "qps_best": round(n_items / best, 1),
        "qps_median": round(n_items / median, 1),
    }


def evaluate(
    qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]], measures: list[str]
) -> dict[str, float]:
    """Mean of each ir_measures measure over every judged query; a query missing from the run scores 0."""
    import ir_measures

    parsed = [ir_measures.parse_measure(m) for m in measures]
    qrels_d = {q: dict(v) for q, v in qrels.items()}
    run_d = {q: dict(v) for q, v in run.items() if q in qrels_d and v}
    sums = {str(m): 0.0 for m in parsed}
    for metric in ir_measures.iter_calc(parsed, qrels_d, run_d):
        sums[str(metric.measure)] += metric.value
    return {name: sums[str(m)] / len(qrels_d) for name, m in zip(measures, parsed, strict=True)}


def write_json(path: str | Path, payload: Mapping[str, Any]) -> None:
    with atomic_write(path) as f:
        json.dump(payload, f, indent=2)
        f.write("\n")
