"""``distillrank run``: the main job — teacher, teacher labels, students, evaluation, report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distillrank.cli._common import (
    DataDirOption,
    QueryFieldOption,
    console,
    friendly_errors,
    out,
    query_field_option,
    resumable,
    warn,
)


@friendly_errors
@resumable
def run(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for report.md, report.html, metrics.json, models.")
    ],
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset", "-d", help="Catalogue name or a BEIR/TREC/SMART folder (default: scifact)."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Settings file (.yaml, .json or .toml).")
    ] = None,
    test_split: Annotated[
        str | None,
        typer.Option(
            "--test-split",
            help="The split to evaluate on (default: test, or the only split there is), e.g. dev.",
        ),
    ] = None,
    teacher: Annotated[
        Path | None,
        typer.Option(
            "--teacher",
            help="Reuse a saved teacher: a cross-encoder folder, or the teacher/ folder of an earlier run.",
        ),
    ] = None,
    transfer_queries: Annotated[
        Path | None,
        typer.Option(
            "--transfer-queries",
            help="Unlabelled queries (queries.jsonl, qid<TAB>text or TREC topics, e.g. from a query log) "
            "that the distilled students also learn from, with the teacher's scores as targets.",
        ),
    ] = None,
    pseudo_queries: Annotated[
        int | None,
        typer.Option(
            "--pseudo-queries",
            min=0,
            help="Also draw this many pseudo-queries (corpus sentences) for the distilled students.",
        ),
    ] = None,
    families: Annotated[
        str | None,
        typer.Option(
            "--families",
            help="Student families, comma-separated: lgbm, lgbm_dense, lgbm_static, bi_encoder, "
            "bi_encoder_shallow, dssm (the default set), colbert, splade (optional); '+colbert' adds to the "
            "config's families, 'all' trains every one.",
        ),
    ] = None,
    targets: Annotated[
        str | None,
        typer.Option(
            "--targets",
            help="Training targets, comma-separated: qrels, hard, soft, joint, margin_mse, rd (default: all; "
            "'+name' adds to the config's).",
        ),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="A subset of queries, short texts, few steps: a few minutes.")
    ] = False,
    seed: Annotated[int | None, typer.Option(help="Random seed (overrides the config).")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads (default: the machine's cores).")] = None,
    query_field: QueryFieldOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Distil a cross-encoder teacher into fast students and report quality next to cost.

    BM25 candidates; a cross-encoder teacher fine-tuned with BM25 hard negatives (or --teacher); its labels cached on disk; students (the six default families: LightGBM over cheap features, + dense cosine, + static query vectors; bi-encoder full and shallow; DSSM) trained on the qrels and on hard, soft, joint, MarginMSE and Ranking-Distillation targets; nDCG@10, RR@10, R@100 and the latency of the full retrieve+rank path. Re-running with the same settings reuses every finished stage. Writes OUTPUT/report.md, OUTPUT/report.html and OUTPUT/metrics.json.
    """  # noqa: E501  (one paragraph: rich wraps --help itself)
    from distillrank.pipeline.config import FAMILIES, OPTIONAL_FAMILIES, TARGETS, JobConfig
    from distillrank.pipeline.job import run_job
    from distillrank.pipeline.summary import speedup_text

    cfg = JobConfig.from_file(config) if config is not None else JobConfig()
    updates: dict[str, object] = {}
    if dataset is not None:
        updates["dataset"] = dataset
    if data_dir is not None:
        updates["data_dir"] = str(data_dir)
    if test_split is not None:
        updates["test_split"] = test_split
    if query_field is not None:
        updates["query_field"] = query_field_option(query_field)
    if seed is not None:
        updates["seed"] = seed
    if threads is not None:
        updates["threads"] = threads
    if updates:
        cfg = cfg.model_copy(update=updates)
    if transfer_queries is not None or pseudo_queries is not None:
        transfer = cfg.transfer.model_copy()
        if transfer_queries is not None:
            transfer.queries = str(transfer_queries)
        if pseudo_queries is not None:
            transfer.pseudo_queries = pseudo_queries
        cfg = cfg.model_copy(update={"transfer": transfer})
    if families is not None or targets is not None:
        # only what was set (the file, the options): --quick then names only chosen settings it replaces
        students = cfg.students.model_dump(exclude_unset=True)
        if families is not None:
            given: list[str] = list(cfg.students.families)
            students["families"] = name_list(families, given, (*FAMILIES, *OPTIONAL_FAMILIES))
        if targets is not None:
            students["targets"] = name_list(targets, [str(t) for t in cfg.students.targets], TARGETS)
        settings = {**cfg.model_dump(exclude_unset=True), "students": students}
        cfg = JobConfig.from_dict(settings, source="the command line")
    if quick:
        for line in cfg.quick_overrides():
            warn(f"--quick replaces {line}")
        cfg = cfg.with_quick()
    result = run_job(cfg, output, teacher_dir=teacher, log=lambda m: console.print(m, highlight=False))
    h = result.metrics["headline"]
    out.print(f"teacher nDCG@10 {h['teacher_ndcg@10']:.4f}")
    if "best_student" in h:
        out.print(
            f"best student {h['best_student']}: nDCG@10 {h['best_student_ndcg@10']:.4f} "
            f"({h['best_student_quality_vs_teacher']:.3f}x the teacher, "
            f"{speedup_text(h['best_student_speedup_vs_teacher'])} its throughput)"
        )
    for f in result.files:
        out.print(f"wrote {f}")


def name_list(text: str, current: list[str], every: tuple[str, ...]) -> list[str]:
    """A comma-separated option as a list of names: ``a,b`` replaces ``current``, ``+a,+b`` adds to it
    (keeping its order), ``all`` is ``every``. The names themselves are checked by the config."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if items == ["all"]:
        return list(every)
    added = [t[1:].strip() for t in items if t.startswith("+")]
    if added and len(added) != len(items):
        raise typer.BadParameter(f"{text!r}: give either names (a new list) or +names (added), not both")
    if added:
        return [*current, *(a for a in added if a not in current)]
    return items
