"""``distillrank recsys``: Ranking Distillation and two-tower training for sequential recommenders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from distillrank.cli._common import (
    DataDirOption,
    columns_option,
    console,
    friendly_errors,
    out,
    progress,
    resumable,
    status,
)

app = typer.Typer(
    help="Sequential recommenders: Caser teacher/student with Ranking Distillation, two-tower models.",
    no_args_is_help=True,
)


@app.command("distill")
@friendly_errors
@resumable
def distill(
    data: Annotated[
        str,
        typer.Option(
            "--data", "-d", help="ml-100k (catalogue name) or an interaction file (user, item, timestamp)."
        ),
    ] = "ml-100k",
    columns: Annotated[
        str | None,
        typer.Option(
            help="Which column is which, where the file does not say: names in file order for a file "
            "without a header ('user,timestamp,,,item' for Gowalla check-ins; empty: not used), or "
            "NAME=COLUMN pairs for named columns or JSON keys ('user=visitorid,item=itemid')."
        ),
    ] = None,
    min_rating: Annotated[
        float | None,
        typer.Option(
            help="Keep only interactions rated at least this (explicit ratings as implicit positives, e.g. 4 "
            "on MovieLens); default: every interaction counts.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for report.md, report.html, metrics.json.")
    ] = Path("recsys-rd"),
    quick: Annotated[
        bool, typer.Option("--quick", help="Fewer epochs and one alpha: a few-minute run.")
    ] = False,
    teacher_dim: Annotated[int, typer.Option(help="Caser teacher embedding size d.")] = 100,
    teacher_members: Annotated[
        int,
        typer.Option(
            help="Casers in the teacher: more than 1 makes it the mean score of that many, one seed each "
            "(stronger, and as many times costlier)."
        ),
    ] = 1,
    student_dim: Annotated[int, typer.Option(help="Caser student embedding size d (<= teacher).")] = 10,
    alphas: Annotated[
        str, typer.Option(help="Distillation weights tried on validation, comma-separated.")
    ] = "1.0,3.0,10.0",
    weightings: Annotated[
        str, typer.Option(help="RD weighting schemes to train, comma-separated.")
    ] = "inverse,uniform,exp,dynamic,hybrid",
    student_sizes: Annotated[
        str,
        typer.Option(
            help="Other student sizes d, comma-separated: each trained without and with RD (the chosen "
            "weighting and alpha) for the student-size table."
        ),
    ] = "",
    dynamic_start_epoch: Annotated[
        int, typer.Option(help="Epochs before this one use static weights for dynamic/hybrid RD.")
    ] = 10,
    top_k: Annotated[
        int, typer.Option("--top-k", help="K, the length of the teacher's exemplary ranking.")
    ] = 10,
    two_tower: Annotated[
        bool, typer.Option("--two-tower/--no-two-tower", help="Also train the two-tower models.")
    ] = True,
    test_fraction: Annotated[
        float, typer.Option(help="Share of each user's last interactions held out for test.")
    ] = 0.2,
    valid_fraction: Annotated[
        float, typer.Option(help="Share held out for validation (just before test).")
    ] = 0.1,
    leave_one_out: Annotated[
        bool,
        typer.Option(
            "--leave-one-out", help="Hold out exactly the last item for test, the one before for validation."
        ),
    ] = False,
    sampled_metrics: Annotated[
        int | None,
        typer.Option(
            help="Rank test items against N sampled unseen items instead of the full catalogue (misleading)."
        ),
    ] = None,
    weight_decays: Annotated[
        str,
        typer.Option(help="L2 weights to choose from on validation (teacher and student), comma-separated."),
    ] = "1e-4,3e-4,1e-3",
    epochs_scale: Annotated[
        float, typer.Option(help="Multiply every epoch budget (e.g. 0.1 for a smoke test).")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: Annotated[
        int | None,
        typer.Option(
            help="torch threads (default: $DISTILLRANK_THREADS, else what OMP_NUM_THREADS sets, else the "
            "cores available to this process)."
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Caser teacher vs student vs RD students, two-tower losses; writes report.md/html, metrics.json.

    On a per-user temporal split (the last interactions for test, those before for validation), trains a
    Caser teacher (d=100; with --teacher-members N the mean of N), the student (d=10) without distillation
    and with Ranking Distillation for every weighting scheme (alpha chosen on validation; the L2 weight
    chosen on validation for the teacher and the student-only model; the same L2 weight, epochs, early
    stopping and negatives for every student), optionally other student sizes (--student-sizes), and
    two-tower models with four losses and FPS pre-training; evaluates P@3/5/10, nDCG@3/5/10 and MAP over
    the full catalogue, parameters and milliseconds per user.

    Every trained model is kept in OUTPUT/cache under a key of its data and settings: a run that stopped
    resumes with the models it had finished, and a re-run with unchanged settings trains nothing.
    """
    from distillrank.errors import DistillrankError
    from distillrank.recsys.pipeline import JobConfig, load_interactions, run_job, write_report

    def parse_list(option: str, text: str, kind: type[float] | type[int]) -> tuple[Any, ...]:
        """``text`` split at commas into ``kind`` values; a bad item is a one-line error naming ``option``."""
        try:
            return tuple(kind(x) for x in text.split(",") if x.strip())
        except ValueError as e:
            what = "integers" if kind is int else "numbers"
            raise DistillrankError(f"{option} must be {what} separated by commas, got {text!r}") from e

    column_names = columns_option(columns)
    if not (0 < test_fraction < 1 and 0 < valid_fraction < 1 and test_fraction + valid_fraction < 1):
        raise DistillrankError(
            f"--test-fraction and --valid-fraction must be in (0, 1) and sum to less than 1 "
            f"(got {test_fraction:g} and {valid_fraction:g}): every evaluated user holds out at least one "
            "item for each"
        )
    for option, value in (("--top-k", top_k), ("--threads", threads), ("--sampled-metrics", sampled_metrics)):
        if value is not None and value < 1:
            raise DistillrankError(f"{option} must be >= 1 (got {value})")
    if not epochs_scale > 0:
        raise DistillrankError(f"--epochs-scale must be > 0 (got {epochs_scale:g})")
    alpha_values = parse_list("--alphas", alphas, float)
    size_values = parse_list("--student-sizes", student_sizes, int)
    wd_values = parse_list("--weight-decays", weight_decays, float)

    def scaled(n: int) -> int:
        return max(1, round(n * epochs_scale))

    defaults = JobConfig(student_d=1)
    try:
        config = JobConfig(
            teacher_d=teacher_dim,
            teacher_members=teacher_members,
            student_d=student_dim,
            K=top_k,
            alphas=alpha_values,
            weight_decays=wd_values,
            student_sizes=size_values,
            dynamic_start_epoch=dynamic_start_epoch,
            weightings=tuple(w.strip() for w in weightings.split(",") if w.strip()),
            two_tower=two_tower,
            test_fraction=test_fraction,
            valid_fraction=valid_fraction,
            n_test=1 if leave_one_out else None,
            n_valid=1 if leave_one_out else None,
            sampled_metrics=sampled_metrics,
            teacher_epochs=scaled(defaults.teacher_epochs),
            student_epochs=scaled(defaults.student_epochs),
            tt_epochs=scaled(defaults.tt_epochs),
            tt_finetune_epochs=scaled(defaults.tt_finetune_epochs),
            seed=seed,
            threads=threads,
            quick=quick,
        )
    except ValueError as e:
        raise DistillrankError(str(e)) from e

    with status(f"loading {data}"):
        interactions = load_interactions(data, data_dir, columns=column_names, min_rating=min_rating)
    console.print(f"{interactions!r}", highlight=False)

    bar = progress()
    tasks: dict[str, object] = {}

    def callback(stage: str, log: object, total: int) -> None:
        if log is None:
            if total:
                tasks[stage] = bar.add_task(stage, total=total)
            else:
                console.print(f"[dim]{stage}…[/]", highlight=False)
            return
        task = tasks.get(stage)
        if task is not None:
            valid = getattr(log, "valid", None)
            desc = stage if valid is None else f"{stage} (valid nDCG@10 {valid:.4f})"
            bar.update(task, advance=1, description=desc)  # type: ignore[arg-type]
        if not bar.disable:
            return
        valid = getattr(log, "valid", None)
        if valid is not None:
            console.print(
                f"{stage}: epoch {getattr(log, 'epoch', '?')}, valid nDCG@10 {valid:.4f}", highlight=False
            )

    earlier = _earlier_report(output, config, interactions.source)
    if earlier:
        console.print(
            f"[yellow]note:[/] {escape(str(output))} holds the report of an earlier run with {earlier}; "
            "it stays there until this run replaces it",
            highlight=False,
        )
    with bar:
        result = run_job(interactions, config, callback=callback, cache_dir=output / "cache")
    paths = write_report(result, output)

    from rich.table import Table

    sampled = result.config.sampled_metrics
    table = Table(
        title=f"test metrics ({f'sampled: {sampled} unseen items a user' if sampled else 'full catalogue'})"
    )
    for col in ("model", "role", "nDCG@10", "P@10", "MAP", "params", "ms/user"):
        table.add_column(col, justify="left" if col in ("model", "role") else "right")
    for name, run in result.runs.items():
        table.add_row(
            name,
            run.role,
            f"{run.metrics['nDCG@10']:.4f}",
            f"{run.metrics['P@10']:.4f}",
            f"{run.metrics['MAP']:.4f}",
            f"{run.cost['params']:,}",
            f"{run.cost['ms_per_user']:.4f}",
        )
    out.print(table)
    for key, target in result.targets().items():
        mark = "[green]pass[/]" if target["pass"] else "[red]miss[/]"
        out.print(f"{key}: {target['value']:.3f} (target {target['target']}) {mark}", highlight=False)
    if result.cache.get("models_reused"):
        out.print(
            f"{result.cache['models_reused']} trained models reused from {result.cache['folder']} "
            f"({result.cache['models_trained']} trained now); delete it to train everything again",
            highlight=False,
        )
    out.print(f"wrote {', '.join(str(p) for p in paths)}", highlight=False)


def _earlier_report(output: Path, config: Any, source: str | None) -> str | None:
    """How the report already in ``output`` (``metrics.json``) differs from the one this run will write:
    ``"other data (X)"``, ``"other settings (a, b)"`` or ``"another command"``; ``None`` when there is
    none, it is the same, or it cannot be read (the note is advice only)."""
    import json
    from dataclasses import asdict

    try:
        old = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(old, dict) or "models" not in old:
        return None
    new = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config.effective()).items()}
    old_config = old.get("config")
    if not isinstance(old_config, dict) or not set(new) <= set(old_config):
        return "another command (its report is not a recsys one)"
    data = old.get("data")
    old_source = data.get("source") if isinstance(data, dict) else None
    if source is not None and old_source is not None and not _same_source(str(old_source), str(source)):
        return f"other data ({old_source})"
    changed = [k for k in new if k != "threads" and old_config[k] != new[k]]
    return f"other settings ({', '.join(changed)})" if changed else None


def _same_source(a: str, b: str) -> bool:
    """Whether two data sources name the same thing (paths compared resolved)."""
    if a == b:
        return True
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, ValueError):
        return False
