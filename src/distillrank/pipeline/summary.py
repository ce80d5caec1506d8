"""``metrics.json`` and the report of the main job.

``metrics.json``::

    {"models": {NAME: {"role": "teacher" | "teacher_component" | "student" | "baseline",
                       "family": "lgbm" | "bi_encoder" | ..., "targets": "qrels" | "hard" | "soft" | ...,
                       "temperature": T | null,
                       "metrics": {"nDCG@10": x, "RR@10": x, "R@100": x},
                       "cost": {"params": n, "docs_per_s": x, "queries_per_s": x,
                                "latency_p50_ms": x, "latency_p99_ms": x, ...},
                       "quality_vs_teacher": x, "speedup_vs_teacher": x}},
     "headline": {"teacher": ..., "best_student": NAME, ...},
     "checks": {...}, "teacher": {...}, "data": {...}, "timings": {...}, "config": {...}}

Students are named ``family/target`` (``lgbm/soft-T2``). ``quality_vs_teacher`` is the model's nDCG@10
over the teacher's; ``speedup_vs_teacher`` its queries/s over the teacher's on the full retrieve+rank
path, one query at a time.

``checks["distilled_vs_qrels_only"]`` compares every distilled student with its qrels-only twin on the
test queries: the difference of nDCG@10 and a two-sided paired randomisation test of it over the queries
(:func:`~distillrank.evaluation.significance.permutation_test`, 10,000 sign flips, seed 0; Smucker,
Allan and Carterette 2007), with ``significant`` at ``p < 0.05``. No correction for the number of
students is made: among 42 comparisons about 2 fall under 0.05 by chance alone.
``checks["distilled_vs_qrels_only_summary"]`` counts them. ``checks["distillation_headroom"]`` is, per
family, the teacher's test nDCG@10 minus its qrels-only twin's: what distillation could gain at most if the
student learnt the teacher exactly (it can be negative: a twin that already beats the teacher).
``checks["every distilled student beats its qrels-only twin"]`` is left out when no distilled student has
a twin (``students.targets`` without ``qrels``, or ``qrels`` alone): there is nothing to compare.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distillrank.data.run import Run
from distillrank.evaluation.metrics import evaluate
from distillrank.evaluation.significance import permutation_test
from distillrank.pipeline.report import Report

__all__ = ["build_metrics", "speedup_text", "write_report"]

TEACHER_TARGET = 0.70
QUALITY_TARGET = 0.97
SPEED_TARGET = 50.0
SIGNIFICANCE_LEVEL = 0.05
PERMUTATIONS = 10_000
BEATS_TWIN = "every distilled student beats its qrels-only twin"
"""The check (absent when no distilled student has a qrels-only twin: no ``qrels`` target, or no other)."""


def speed_target(models: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    """The issue's target read from the models: the best student (by test nDCG@10) among those at
    ``>= SPEED_TARGET`` x the teacher's throughput (``any``), and the best *distilled* one among them
    (``distilled``: any target but ``qrels``); None where no student is that fast."""
    fast = {
        n: m
        for n, m in models.items()
        if m["role"] == "student" and (m.get("speedup_vs_teacher") or 0) >= SPEED_TARGET
    }
    distilled = {n: m for n, m in fast.items() if m.get("targets") != "qrels"}

    def best(pool: dict[str, dict[str, Any]]) -> str | None:
        return max(pool, key=lambda n: pool[n]["metrics"]["nDCG@10"]) if pool else None

    return {"any": best(fast), "distilled": best(distilled)}


def _per_query_ndcg(out: Path, run_path: str, qrels: Any) -> dict[str, float]:
    """nDCG@10 of every query of the saved run ``out / run_path`` (the test queries it ranked)."""
    run = Run.from_file(out / run_path)
    res = evaluate(run, qrels.subset(list(run)), "nDCG@10", per_query=True)
    return dict(res.per_query["nDCG@10"])


def _against_twin(
    student: dict[str, Any], twin: dict[str, Any], out: Path | None, qrels: Any
) -> dict[str, Any]:
    """One entry of ``distilled_vs_qrels_only``: the test nDCG@10 difference and its paired test."""
    base = twin["metrics"]["nDCG@10"]
    entry: dict[str, Any] = {
        "nDCG@10": student["metrics"]["nDCG@10"],
        "delta_vs_qrels": round(student["metrics"]["nDCG@10"] - base, 4),
        "beats_qrels": student["metrics"]["nDCG@10"] > base,
    }
    if out is None or qrels is None or not student.get("run") or not twin.get("run"):
        return entry
    a = _per_query_ndcg(out, student["run"], qrels)
    b = _per_query_ndcg(out, twin["run"], qrels)
    queries = sorted(set(a) & set(b))
    if len(queries) < 2:
        return entry
    x, y = [a[q] for q in queries], [b[q] for q in queries]
    p = permutation_test(x, y, n_resamples=PERMUTATIONS, seed=0)
    entry.update(
        {
            "p_value": round(p, 4),
            "significant": p < SIGNIFICANCE_LEVEL,
            "queries_better": sum(u > v for u, v in zip(x, y, strict=True)),
            "queries_worse": sum(u < v for u, v in zip(x, y, strict=True)),
        }
    )
    return entry


def _twin_sentence(summary: dict[str, Any]) -> str:
    """The report's sentence for :func:`_twin_summary`."""
    n, won = summary.get("distilled_students", 0), summary.get("beat_their_twin", 0)
    text = f"{won} of {n} distilled students beat their qrels-only twin on test nDCG@10."
    if "significantly_better" in summary:
        text += (
            f" In a paired randomisation test over the test queries (p < {summary['significance_level']:g},"
            f" no correction for {n} comparisons), {summary['significantly_better']} are significantly"
            f" better, {summary['significantly_worse']} significantly worse, and"
            f" {summary['no_significant_difference']} do not differ significantly."
        )
    return text


def _headroom_sentence(headroom: dict[str, float]) -> str:
    """The report's sentence for ``checks["distillation_headroom"]``: the teacher's test nDCG@10 minus
    each family's qrels-only twin's — what the teacher knows that the twin does not."""
    parts = ", ".join(f"{fam} {v:+.4f}" for fam, v in headroom.items())
    text = (
        "A distilled student can only gain on its twin what the teacher knows beyond the qrels. The "
        f"teacher's test nDCG@10 minus each family's qrels-only twin's: {parts}."
    )
    none = [fam for fam, v in headroom.items() if v <= 0]
    if none:
        text += (
            f" Where it is not positive ({', '.join(none)}), the twin already ranks as well as the teacher,"
            " and learning the teacher's ranking instead of the qrels can only cost."
        )
    return text


def _twin_summary(beats: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Counts over ``distilled_vs_qrels_only``: how many beat their twin, significantly or not."""
    entries = [v for fam in beats.values() for v in fam.values()]
    tested = [v for v in entries if "p_value" in v]
    summary: dict[str, Any] = {
        "distilled_students": len(entries),
        "beat_their_twin": sum(v["beats_qrels"] for v in entries),
    }
    if tested:
        summary.update(
            {
                "significance_level": SIGNIFICANCE_LEVEL,
                "significantly_better": sum(v["significant"] and v["delta_vs_qrels"] > 0 for v in tested),
                "significantly_worse": sum(v["significant"] and v["delta_vs_qrels"] < 0 for v in tested),
                "no_significant_difference": sum(not v["significant"] for v in tested),
                "test": f"two-sided paired randomisation test over the test queries, {PERMUTATIONS:,} "
                "sign flips, no correction for the number of students",
            }
        )
    return summary


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b:
        return None
    return round(a / b, 4)


def build_metrics(job: Any, reference: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The content of ``metrics.json`` from a finished job and its reference models."""
    models: dict[str, dict[str, Any]] = dict(reference)
    for name, r in job.results.items():
        models[name] = {
            "role": "student",
            "family": r["family"],
            "targets": r["target"],
            "temperature": r["temperature"],
            "metrics": r["metrics"],
            "cost": r["cost"],
            "validation_ndcg@10": r["validation_ndcg@10"],
            "train_seconds": r["train_seconds"],
            "training": r["training"],
            "run": r["run"],
        }
    teacher = models["teacher"]
    t_ndcg = teacher["metrics"]["nDCG@10"]
    t_qps = teacher["cost"]["queries_per_s"]
    for m in models.values():
        m["quality_vs_teacher"] = _ratio(m["metrics"]["nDCG@10"], t_ndcg)
        m["speedup_vs_teacher"] = _ratio(m["cost"]["queries_per_s"], t_qps)

    students = {n: m for n, m in models.items() if m["role"] == "student"}
    checks: dict[str, Any] = {
        "teacher_ndcg@10": t_ndcg,
        f"teacher >= {TEACHER_TARGET}": t_ndcg >= TEACHER_TARGET,
    }
    headline: dict[str, Any] = {"teacher": teacher["family"], "teacher_ndcg@10": t_ndcg}
    if students:
        best = max(students, key=lambda n: students[n]["metrics"]["nDCG@10"])
        picks = speed_target(models)
        headline.update(
            {
                "best_student": best,
                "best_student_ndcg@10": students[best]["metrics"]["nDCG@10"],
                "best_student_quality_vs_teacher": students[best]["quality_vs_teacher"],
                "best_student_speedup_vs_teacher": students[best]["speedup_vs_teacher"],
                "best_student_at_50x": picks["any"],
                "best_distilled_student_at_50x": picks["distilled"],
            }
        )
        # the target met at all, and met by distillation (not only by a qrels-only student)
        for pick, who in (("any", "best student"), ("distilled", "best distilled student")):
            if (name := picks[pick]) is not None:
                met = (students[name]["quality_vs_teacher"] or 0.0) >= QUALITY_TARGET
                checks[f"{who} >= {QUALITY_TARGET}x teacher at >= {SPEED_TARGET:g}x speed"] = met
        beats: dict[str, dict[str, Any]] = {}
        out, qrels = getattr(job, "out", None), getattr(job, "qrels", None)
        for fam in sorted({m["family"] for m in students.values()}):
            ref = students.get(f"{fam}/qrels")
            if ref is None:
                continue
            beats[fam] = {
                n.split("/", 1)[1]: _against_twin(m, ref, out, qrels)
                for n, m in students.items()
                if m["family"] == fam and m["targets"] != "qrels"
            }
        checks["distilled_vs_qrels_only"] = beats
        checks["distillation_headroom"] = {
            fam: round(t_ndcg - students[f"{fam}/qrels"]["metrics"]["nDCG@10"], 4) for fam in beats
        }
        checks["distilled_vs_qrels_only_summary"] = _twin_summary(beats)
        compared = [v for fam in beats.values() for v in fam.values()]
        if compared:  # not a vacuous True when no distilled student has a twin (targets without qrels)
            checks[BEATS_TWIN] = all(v["beats_qrels"] for v in compared)
    fold = job.folds[0]
    test_queries = {q for f in job.folds for q in f.test}
    return {
        "dataset": job.coll.name,
        "models": models,
        "headline": headline,
        "checks": checks,
        "teacher": {
            **job.teacher_info,
            "fusion_weights": job.fusion.weights,
            "fusion_validation": job.fusion.validation,
        },
        "data": {
            "documents": len(job.corpus),
            "train_split": job.has_train,
            "test_split": job.test_split,
            "folds": len(job.folds),
            "fit_queries": len(fold.fit),
            "validation_queries": len(fold.val),
            "test_queries": len(test_queries),
            # judged, but nothing relevant: every model scores 0 there (as trec_eval), lowering every mean
            "test_queries_without_relevant": (
                sum(not job.qrels.relevant(q) for q in test_queries) if job.qrels is not None else None
            ),
            "candidates_k": job.cfg.candidates.k,
            "rerank_depth": job.cfg.candidates.depth,
            "transfer_queries": len(job.transfer),
            # the documents the dense side embedded: every one, or BM25's candidates (dense.documents)
            "dense_documents": len(getattr(job, "dense_pool", None) or job.corpus),
        },
        "timings": job.timings,
        "config": job.cfg.model_dump(mode="json"),
    }


def _count(n: int, one: str, many: str) -> str:
    """``1 test query has`` / ``3 test queries have``."""
    return f"{n} {one if n == 1 else many}"


COST_FORMATS = {"docs/query": ",.0f", "docs/s": ",.0f", "p50 ms": ".2f", "p99 ms": ".2f", "speed-up": ".1f"}
"""How the report writes the cost columns of :func:`_row` (quality keeps four decimals)."""


def _row(name: str, m: dict[str, Any]) -> dict[str, Any]:
    c = m["cost"]
    return {
        "model": name,
        "role": m["role"],
        **{k: v for k, v in m["metrics"].items()},
        "x teacher": m.get("quality_vs_teacher"),
        "params": c.get("params"),
        "docs/query": c.get("docs_scored_per_query"),  # rerankers score the top k, retrievers the corpus
        "docs/s": c.get("docs_per_s"),
        "p50 ms": c.get("latency_p50_ms"),
        "p99 ms": c.get("latency_p99_ms"),
        "speed-up": m.get("speedup_vs_teacher"),
    }


def speedup_text(speedup: float) -> str:
    """``65x``, ``9.9x``, ``0.35x``: two significant digits below 10, so a slower student is not '0x'."""
    return f"{speedup:.0f}x" if speedup >= 10 else f"{speedup:.2g}x"


def _speed_line(models: dict[str, dict[str, Any]]) -> list[tuple[float, str]]:
    """Where ``SPEED_TARGET`` x the teacher's throughput lies on the latency axis (its latency over 50:
    one query at a time, throughput is about 1 / latency)."""
    teacher = next((m for m in models.values() if m["role"] == "teacher"), None)
    latency = (teacher or {}).get("cost", {}).get("latency_p50_ms")
    if not latency:
        return []
    return [
        (
            latency / SPEED_TARGET,
            f"{SPEED_TARGET:g}x the teacher's throughput (its latency / {SPEED_TARGET:g})",
        )
    ]


def _timing_conditions(models: dict[str, dict[str, Any]]) -> str | None:
    """A sentence on the machine's load while the models were timed (None when not recorded): speed-ups
    are ratios of timings, and a timing taken while other work shared the cores is slower than the model."""
    loads = {
        n: m["cost"]["load_avg_1m"] for n, m in models.items() if m["cost"].get("load_avg_1m") is not None
    }
    if not loads:
        return None
    cores = next((m["cost"].get("cores") for m in models.values() if m["cost"].get("cores")), None)
    text = (
        f"Timings one query at a time on {cores or '?'} cores; the 1-minute load average after each "
        f"model's timing ranged {min(loads.values()):.1f}-{max(loads.values()):.1f}."
    )
    busy = sorted(n for n, v in loads.items() if cores and v > cores + 0.5)
    if busy:
        shown = ", ".join(busy[:6]) + (", ..." if len(busy) > 6 else "")
        text += (
            f" **The machine was busy** (load above its {cores} cores) while {len(busy)} model(s) were timed "
            f"({shown}): their latencies are inflated and their speed-ups not comparable with the others'."
        )
    return text


def _paths_sentence(
    models: dict[str, dict[str, Any]], depth: int, dense_pool: tuple[int, int] | None = None
) -> str:
    """How the models of this run rank: which re-rank BM25's top ``depth`` and which retrieve from the
    whole corpus (only the families the run trained). ``dense_pool``: (documents embedded, documents)
    when the dense side embedded only BM25's candidates, and the bi-encoders re-rank too."""
    families = {m.get("family") for m in models.values() if m["role"] == "student"}
    rerankers = ["teacher"]
    rerankers += ["LightGBM"] if any(str(f).startswith("lgbm") for f in families) else []
    rerankers += [name for fam, name in (("dssm", "DSSM"), ("colbert", "ColBERT")) if fam in families]
    if dense_pool is not None:
        rerankers += ["bi-encoders"] if families & {"bi_encoder", "bi_encoder_shallow"} else []
        rerankers += ["the zero-shot bi-encoder"]
    text = f"rerankers ({', '.join(rerankers)}) re-order the top {depth}"
    if dense_pool is not None:
        text += (
            f" (the dense side embedded only the {dense_pool[0]:,} documents of BM25's candidate lists, of "
            f"{dense_pool[1]:,}: dense.documents)"
        )
    retrievers = [
        name for fam, name in (("bi_encoder", "bi-encoder"), ("splade", "SPLADE")) if fam in families
    ]
    if "bi_encoder_shallow" in families and "bi-encoder" not in retrievers:
        retrievers.insert(0, "bi-encoder")
    if dense_pool is not None:
        retrievers = [r for r in retrievers if r != "bi-encoder"]
    if retrievers:
        text += (
            f"; {' and '.join(retrievers)} students retrieve from the whole corpus with their query tower "
            "and the fixed document index"
        )
    return text + "."


def _check_value(value: Any, *, bold_no: bool = True) -> str:
    """A value for a table: yes/no (a failed check's no in bold), rounded numbers, ``key: x`` for a
    mapping."""
    if isinstance(value, bool):
        return "yes" if value else ("**no**" if bold_no else "no")
    if isinstance(value, float) and value.is_integer() and abs(value) >= 100:
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_check_value(v, bold_no=bold_no)}" for k, v in value.items())
    return str(value)


def _target_sentence(models: dict[str, dict[str, Any]]) -> str:
    """Which model meets (or comes closest to) ">= 0.97x the teacher at >= 50x its throughput", and
    whether a distilled student does: the headline's best student may be slower than 50x, and the model
    that meets the target may have learnt from the qrels only."""
    picks = speed_target(models)
    goal = f"{QUALITY_TARGET:g}x the teacher's nDCG@10 at >= {SPEED_TARGET:g}x its throughput"
    if picks["any"] is None:
        return f"No student reaches {SPEED_TARGET:g}x the teacher's throughput (target: {goal})."

    def describe(name: str) -> str:
        m = models[name]
        how = "trained on the qrels only" if m.get("targets") == "qrels" else "distilled from the teacher"
        return (
            f"**{name}** ({how}), {m['quality_vs_teacher']:.3f}x at {speedup_text(m['speedup_vs_teacher'])}"
        )

    best = picks["any"]
    met = (models[best]["quality_vs_teacher"] or 0) >= QUALITY_TARGET
    text = f"Target {goal}: {'met' if met else 'not met'}; best at that speed: {describe(best)}."
    distilled = picks["distilled"]
    if distilled is not None and distilled != best:
        ok = (models[distilled]["quality_vs_teacher"] or 0) >= QUALITY_TARGET
        verdict = "meets" if ok else "misses"
        text += f" Best distilled student at that speed: {describe(distilled)} ({verdict} it)."
    elif distilled is None:
        text += " No distilled student is that fast."
    return text


def write_report(metrics: dict[str, Any], folder: str | Path) -> list[Path]:
    """``report.md``, ``report.html`` (with plots) and ``metrics.json`` in ``folder``."""
    from distillrank.pipeline import plots

    models = metrics["models"]
    h, checks = metrics["headline"], metrics["checks"]
    d = metrics["data"]
    r = Report(f"Distillation report — {metrics['dataset']}")
    split = (
        "train/validation/test split" if d["train_split"] else f"{d['folds']}-fold cross-fitting over queries"
    )
    r.text(
        f"{d['documents']:,} documents; {d['fit_queries']} training and {d['validation_queries']} validation "
        f"queries per fold, {d['test_queries']} test queries ({split}). "
        f"Candidates: BM25 top-{d['candidates_k']}"
        + (" (every document)" if d["documents"] <= d["candidates_k"] else "")
        + "; "
        + _paths_sentence(
            models,
            d["rerank_depth"],
            (d["dense_documents"], d["documents"])
            if d.get("dense_documents", d["documents"]) < d["documents"]
            else None,
        )
        + (
            f" The distilled students also learn from the teacher's scores on {d['transfer_queries']:,} "
            "unlabelled transfer queries; the qrels-only students do not see them."
            if d.get("transfer_queries")
            else ""
        )
        + (
            f" {_count(d['test_queries_without_relevant'], 'test query has', 'test queries have')} "
            "judgements but no relevant document: every model scores 0 there (as trec_eval does), which "
            "lowers every mean alike."
            if d.get("test_queries_without_relevant")
            else ""
        )
    )
    lines = [f"Teacher ({h['teacher']}): nDCG@10 **{h['teacher_ndcg@10']:.4f}**."]
    teacher = metrics.get("teacher") or {}
    ranker_weight = (teacher.get("fusion_weights") or {}).get("ranker")
    labels = (metrics.get("config") or {}).get("teacher", {}).get("ranker_labels")
    if teacher.get("fine_tuned_here") and ranker_weight and labels:
        how = (
            "from the model trained on all of them (in sample)"
            if labels == "in_sample"
            else "from models trained on the other folds (out of fold)"
        )
        lines.append(
            f"On the training queries, the scores of its feature ranker (fusion weight {ranker_weight:g}) "
            f"come {how}."
        )
    if "best_student" in h:
        lines.append(
            f"Best student: **{h['best_student']}**, nDCG@10 {h['best_student_ndcg@10']:.4f} = "
            f"{h['best_student_quality_vs_teacher']:.3f}x the teacher at "
            f"{speedup_text(h['best_student_speedup_vs_teacher'])} its throughput."
        )
        lines.append(_target_sentence(models))
        flag = checks.get(BEATS_TWIN)
        if flag is not None:
            lines.append(f"Every distilled student beats the same student trained on qrels only: **{flag}**.")
        else:
            lines.append("No distilled student has a twin trained on the qrels only to compare with.")
    r.text(" ".join(lines))
    r.heading("Targets of the issue")
    r.table(
        [
            {"check": k, "value": _check_value(v)}
            for k, v in checks.items()
            if k not in ("distilled_vs_qrels_only", "distilled_vs_qrels_only_summary")
        ]
    )

    r.heading("All models")
    order = {"teacher": 0, "teacher_component": 1, "baseline": 2, "student": 3}
    names = sorted(models, key=lambda n: (order.get(models[n]["role"], 9), n))
    r.table(
        [_row(n, models[n]) for n in names],
        caption="test metrics and the cost of the full retrieve+rank path",
        formats=COST_FORMATS,
    )
    if (conditions := _timing_conditions(models)) is not None:
        r.text(conditions)

    points = [
        {
            "name": n,
            "role": m["role"] if m["role"] != "student" else f"student: {m['family']}",
            "latency_p50_ms": m["cost"]["latency_p50_ms"],
            "nDCG@10": m["metrics"]["nDCG@10"],
        }
        for n, m in models.items()
    ]
    best_by_family: dict[str, str] = {}
    for n, m in models.items():
        if m["role"] == "student":
            f = m["family"]
            if (
                f not in best_by_family
                or m["metrics"]["nDCG@10"] > models[best_by_family[f]]["metrics"]["nDCG@10"]
            ):
                best_by_family[f] = n
    labelled = {n for n, m in models.items() if m["role"] != "student"} | set(best_by_family.values())
    r.figure(
        plots.frontier(
            points,
            labels=labelled,
            title="quality against latency (one query at a time)",
            hlines=[(QUALITY_TARGET * h["teacher_ndcg@10"], f"{QUALITY_TARGET:g}x the teacher's nDCG@10")],
            vlines=_speed_line(models),
        ),
        "frontier",
        "Each point is a model; the best student of each family and the reference models are labelled.",
    )

    students = {n: m for n, m in models.items() if m["role"] == "student"}
    if students:
        by_family: dict[str, dict[str, float]] = {}
        refs: dict[str, float] = {}
        for n, m in students.items():
            fam, tgt = n.split("/", 1)
            by_family.setdefault(fam, {})[tgt] = m["metrics"]["nDCG@10"]
            if tgt == "qrels":
                refs[fam] = m["metrics"]["nDCG@10"]
        r.heading("Quality by distillation target")
        r.figure(
            plots.grouped_bars(
                by_family,
                ylabel="test nDCG@10",
                title="nDCG@10 by target (dashed: qrels only)",
                references=refs,
            ),
            "targets",
        )
        rows = []
        for fam, targets in checks.get("distilled_vs_qrels_only", {}).items():
            for tgt, v in targets.items():
                rows.append({"family": fam, "target": tgt, **v})
        if rows:
            r.table(rows, caption="each distilled student against the same student trained on the qrels only")
            r.text(_twin_sentence(checks.get("distilled_vs_qrels_only_summary") or {}))
            if checks.get("distillation_headroom"):
                r.text(_headroom_sentence(checks["distillation_headroom"]))
        scales: dict[str, list[float]] = {}
        for m in students.values():
            c = (m.get("training") or {}).get("teacher_scale")
            if c is not None and m["targets"] != "qrels":
                scales.setdefault(m["family"], []).append(float(c))
        if scales:
            r.text(
                "The neural students learn from the teacher's scores times a factor that gives them the "
                "spread of the untrained student's scores (`students.teacher_scale`): "
                + ", ".join(
                    f"{fam} {min(v):.2f}" + (f"-{max(v):.2f}" if max(v) > min(v) else "")
                    for fam, v in sorted(scales.items())
                )
                + "."
            )
        series = {}
        for fam in by_family:
            soft = sorted(
                (m["temperature"], m["metrics"]["nDCG@10"])
                for m in students.values()
                if m["family"] == fam and m["targets"] == "soft"
            )
            if len(soft) > 1:
                series[fam] = ([t for t, _ in soft], [v for _, v in soft])
        if series:
            r.heading("Temperature")
            r.figure(
                plots.curves(
                    series,
                    xlabel="temperature T",
                    ylabel="test nDCG@10",
                    title="soft-label distillation: nDCG@10 against T",
                    log_x=True,
                ),
                "temperature",
            )

    r.heading("Teacher")
    t = metrics["teacher"]
    r.table(
        [{k: _check_value(v, bold_no=False) for k, v in t.items() if k != "evaluations"}],
        caption="how the teacher was made",
    )
    r.heading("Timings")
    first = dict(metrics.get("first_run_timings") or {})
    stopped = first.pop("unfinished_runs", 0)
    r.table(
        [
            {"stage": k, "seconds": metrics["timings"].get(k), "first run": first.get(k)}
            for k in {**first, **metrics["timings"]}  # the stages of either run, the first run's order
        ],
        caption="this run; the first run into this folder (a re-run reads its stages from the cache)"
        + (
            f"; the first run was stopped {int(stopped)} time(s) and resumed: its figures add up every part"
            if stopped
            else ""
        ),
    )
    return r.write(folder, metrics=metrics)
