"""Benchmark: time to load each catalogued dataset into its in-memory type (issue: SciFact <= 2 s).

Run:  python bench/load_speed.py [--data-dir ../shared/data] [--repeats 3]
Writes bench/results/load_speed.json: per dataset, the best and median wall time over the repeats (each
load in a fresh interpreter state for the reader, but the same process; OS file cache warm after the first).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

from distillrank.data.catalogue import CATALOGUE, load_dataset
from distillrank.errors import DataWarning
from distillrank.io import atomic_write

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--data-dir", default=os.environ.get("DISTILLRANK_DATA", str(ROOT.parent / "shared" / "data"))
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "load_speed.json"))
    args = ap.parse_args()
    warnings.simplefilter("once", DataWarning)  # the repeats would print each data warning again
    results: dict[str, dict[str, object]] = {}
    for name in CATALOGUE:
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            ds = load_dataset(name, args.data_dir)
            times.append(time.perf_counter() - t0)
        results[name] = {
            "best_s": round(min(times), 4),
            "median_s": round(statistics.median(times), 4),
            "repr": repr(ds),
        }
        print(f"{name:24s} best {min(times):7.3f} s  median {statistics.median(times):7.3f} s  {ds!r}")
    payload = {
        "benchmark": "load_speed",
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "targets": {"scifact_best_s_max": 2.0},
        "pass": {"scifact": results["scifact"]["best_s"] <= 2.0},  # type: ignore[operator]
        "results": results,
    }
    with atomic_write(args.output) as f:
        json.dump(payload, f, indent=2)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
