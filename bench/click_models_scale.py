"""Benchmark: click models on a large log in the Yandex challenge's original layout (issue 5, scale).

Run:  python bench/click_models_scale.py [--pages 1000000] [--models pbm,ubm,cm] [--no-reference]

Writes a synthetic log of ``--pages`` result pages in the layout of the full WSCD 2011 log (query and click
actions, ``distillrank.data.formats.yandex_original``): Zipf-popular queries over 1M distinct ones, 10 of a
20-URL pool per page, 1 + Geometric(0.55) pages per SessionID, PBM clicks (about 0.4 a page). Then, each
step in its own process so that its peak resident memory is its own: reading the log, encoding it for the
click models (``encode_sessions``) and, with ``--reference``, the encoder this one replaced (kept below
verbatim: it made a Python string per row, sorted the session-id strings and grouped identical pages with a
20-column ``groupby``), and fitting each of ``--models`` with its log-likelihood and perplexity. Reports
seconds and the peak resident memory above the process's start (GiB) per step, the encoders' ratio, and per
million pages the figures to scale to a larger log. Writes ``bench/results/click_models_scale.json``.
"""

# ruff: noqa: E402  (the thread variables must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, provenance, write_json

K, POOL = 10, 20


def write_log(path: Path, pages: int, seed: int = 0, n_queries: int = 1_000_000) -> dict[str, int]:
    """The synthetic log (see the module docstring); its line and click counts."""
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(1.0 / np.arange(1, n_queries + 1))
    cdf /= cdf[-1]
    qids = rng.choice(31_000_000, size=n_queries, replace=False)
    region = rng.integers(0, 300, size=n_queries)
    pool = rng.choice(120_000_000, size=(n_queries, POOL))  # (rare repeats in a pool are fine)
    alpha = rng.beta(0.5, 5.0, size=(n_queries, POOL))
    gamma = 0.95 / np.arange(1, K + 1) ** 0.8
    lines = clicks = sid = done = 0
    with open(path, "w", buffering=1 << 24) as f:
        while done < pages:
            n = min(200_000, pages - done)
            q = np.searchsorted(cdf, rng.random(n))
            slots = np.argsort(np.arange(POOL) + rng.normal(0, 2.5, size=(n, POOL)), axis=1)[:, :K]
            urls = pool[q[:, None], slots].tolist()
            hit = (rng.random((n, K)) < alpha[q[:, None], slots] * gamma).tolist()
            sizes = rng.geometric(0.55, size=n)
            sess = (np.repeat(np.arange(n), sizes)[:n] + sid).tolist()
            sid = sess[-1] + 1
            out = []
            for i in range(n):
                u = urls[i]
                out.append(
                    f"{sess[i]}\t{i % 97}\tQ\t{qids[q[i]]}\t{region[q[i]]}\t" + "\t".join(map(str, u)) + "\n"
                )
                out.extend(f"{sess[i]}\t{i % 97 + r + 1}\tC\t{u[r]}\n" for r in range(K) if hit[i][r])
            lines += len(out)
            clicks += len(out) - n
            f.write("".join(out))
            done += n
    return {"pages": pages, "lines": lines, "clicks": clicks}


def reference_encode(log: Any) -> Any:
    """``encode_sessions`` as it was before 2026-11-25, verbatim (the same encoding)."""
    import pandas as pd

    from distillrank.errors import DataFormatError
    from distillrank.feedback.click_models.base import Sessions, _position_problem

    df = log.df
    if len(df) == 0:
        raise ValueError("the click log is empty")
    sid = df["session_id"].to_numpy()
    pos = df["position"].to_numpy().astype(np.int64)
    order = np.lexsort((pos, sid))
    sid_s, pos_s = sid[order], pos[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = sid_s[1:] != sid_s[:-1]
    starts = np.flatnonzero(new)
    sess = np.cumsum(new) - 1
    expected = np.arange(len(order)) - starts[sess] + 1
    bad = pos_s != expected
    if bad.any():
        s = int(sess[np.argmax(bad)])
        end = starts[s + 1] if s + 1 < len(starts) else len(order)
        raise DataFormatError(
            log.source, None, _position_problem(sid_s[starts[s]], pos_s[starts[s] : end], log)
        )
    qcode, quniq = pd.factorize(df["qid"].astype(str).to_numpy())
    qcode = qcode[order]
    mixed = qcode != qcode[starts[sess]]
    if mixed.any():
        s = int(sess[np.argmax(mixed)])
        raise DataFormatError(log.source, None, f"session {sid_s[starts[s]]}: more than one qid")
    dcode, duniq = pd.factorize(df["docno"].astype(str).to_numpy())
    key = qcode.astype(np.int64) * len(duniq) + dcode[order]
    ukeys, pair_code = np.unique(key, return_inverse=True)
    pairs = pd.MultiIndex.from_arrays(
        [np.asarray(quniq)[ukeys // len(duniq)], np.asarray(duniq)[ukeys % len(duniq)]],
        names=["qid", "docno"],
    )
    n, k = len(starts), int(pos_s.max())
    pair = np.full((n, k), -1, dtype=np.int64)
    pair[sess, pos_s - 1] = pair_code.reshape(-1)
    click = np.zeros((n, k))
    click[sess, pos_s - 1] = df["click"].to_numpy()[order]
    rows = np.full((n, k), -1, dtype=np.int64)
    rows[sess, pos_s - 1] = order
    keys = pd.DataFrame(np.concatenate([pair, click.astype(np.int64)], axis=1))
    inverse = keys.groupby(list(keys.columns), sort=False).ngroup().to_numpy()
    first = np.unique(inverse, return_index=True)[1]
    weight = np.bincount(inverse).astype(np.float64)
    upair = pair[first]
    return Sessions(upair, click[first], upair >= 0, weight, inverse, rows, pairs)


def _memory() -> dict[str, float]:
    """Resident memory now and its peak since the last :func:`_reset_peak` (GiB; Linux's /proc)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 2**20
    return out


def _reset_peak() -> None:
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")


def _step(path: Path, step: str) -> dict[str, Any]:
    """One step in this process (the parent starts one process per step)."""
    from distillrank.data.formats.yandex_original import read_yandex_original
    from distillrank.feedback.click_models import CLICK_MODELS, encode_sessions

    _reset_peak()
    base = _memory()["VmRSS"]
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log = read_yandex_original(path)
    out: dict[str, Any] = {"read_s": round(time.perf_counter() - t, 2)}
    out["read_peak_gib"] = round(_memory()["VmHWM"] - base, 3)
    _reset_peak()
    out["log_gib"] = round(_memory()["VmRSS"] - base, 3)
    if step in ("encode", "reference_encode"):
        encode = encode_sessions if step == "encode" else reference_encode
        t = time.perf_counter()
        s = encode(log)
        out["seconds"] = round(time.perf_counter() - t, 2)
        out["distinct_pages"] = int(s.pair.shape[0])
        out["digest"] = int(np.bitwise_xor.reduce(s.inverse * 2654435761 + s.pair[s.inverse].sum(axis=1)))
    elif step != "read":
        model = CLICK_MODELS[step]()
        t = time.perf_counter()
        model.fit(log)
        out["seconds"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        out["log_likelihood"] = float(model.log_likelihood(log))
        out["perplexity"] = float(model.perplexity(log)[0])
        out["evaluate_s"] = round(time.perf_counter() - t, 2)
    if step != "read":
        out["peak_gib"] = round(_memory()["VmHWM"] - base, 3)  # the step's peak, the log included
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=1_000_000)
    ap.add_argument("--models", default="pbm,ubm,cm", help="comma-separated click models, or 'all'")
    ap.add_argument("--reference", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--output", type=Path, default=RESULTS / "click_models_scale.json")
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        print(json.dumps(_step(args.log, args.step)))
        return
    from distillrank.feedback.click_models import CLICK_MODELS

    models = list(CLICK_MODELS) if args.models == "all" else [m for m in args.models.split(",") if m]
    steps = ["read", "encode", *(["reference_encode"] if args.reference else []), *models]
    with tempfile.TemporaryDirectory(prefix="click_models_scale_") as tmp:
        path = Path(tmp) / "log.tsv"
        t = time.perf_counter()
        log_info = write_log(path, args.pages)
        log_info["write_s"] = round(time.perf_counter() - t, 1)
        log_info["bytes"] = path.stat().st_size
        print(json.dumps(log_info), flush=True)
        results: dict[str, Any] = {}
        for step in steps:
            cmd = [sys.executable, __file__, "--step", step, "--log", str(path)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results[step] = json.loads(done.stdout.strip().splitlines()[-1])
            print(step, json.dumps(results[step]), flush=True)
    per_million = 1e6 / args.pages
    summary: dict[str, Any] = {
        step: {
            "seconds_per_million_pages": round(r.get("seconds", r["read_s"]) * per_million, 1),
            "peak_gib_per_million_pages": round(r.get("peak_gib", r["read_peak_gib"]) * per_million, 2),
        }
        for step, r in results.items()
    }
    if args.reference:
        new, old = results["encode"], results["reference_encode"]
        same = new["digest"] == old["digest"] and new["distinct_pages"] == old["distinct_pages"]
        summary["encode_vs_reference"] = {
            "same_encoding": same,
            "speedup": round(old["seconds"] / new["seconds"], 2),
            "working_memory_ratio": round(
                (old["peak_gib"] - old["log_gib"]) / max(new["peak_gib"] - new["log_gib"], 1e-9), 2
            ),
        }
    write_json(
        args.output,
        {
            "benchmark": "click_models_scale",
            "machine": machine_info(),
            "log": log_info,
            "steps": results,
            "summary": summary,
            "provenance": provenance(),
        },
    )
    print(json.dumps(summary, indent=1), f"wrote {args.output}")


if __name__ == "__main__":
    main()
