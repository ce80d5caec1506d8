"""``distillrank evaluate``: metric table of one or more runs, with paired significance tests."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from distillrank.cli._common import DataDirOption, friendly_errors, out, status, warn
from distillrank.data.catalogue import load_qrels
from distillrank.data.collection import Qrels
from distillrank.data.run import Run
from distillrank.errors import DistillrankError
from distillrank.io import json_safe


@friendly_errors
def evaluate(
    run: Annotated[
        list[Path],
        typer.Option(
            "--run",
            "-r",
            help="TREC (or MS MARCO qid docno rank) run file; repeat to compare (the first is the baseline).",
        ),
    ],
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            "-d",
            help=(
                "Catalogue name or path (gives the qrels; of a BEIR or MS MARCO folder they are read "
                "without the corpus, which is then not checked)."
            ),
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="Split whose qrels to use.")] = "test",
    qrels: Annotated[
        Path | None, typer.Option(help="A qrels file (TREC or BEIR TSV) instead of --dataset.")
    ] = None,
    metrics: Annotated[str, typer.Option("--metrics", "-m", help="ir_measures names, comma-separated.")] = (
        "nDCG@10,RR@10,AP,R@100"
    ),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print aggregate and per-query values as JSON.")
    ] = False,
    test: Annotated[
        str | None,
        typer.Option(help="Paired test with 2+ runs: t-test or permutation.", show_default="t-test"),
    ] = None,
    missing: Annotated[str, typer.Option(help="Judged queries absent from a run: zero or skip.")] = "zero",
    data_dir: DataDirOption = None,
) -> None:
    """Evaluate runs against a dataset's qrels (ir_measures); with 2+ runs, p-values against the first."""
    from distillrank.evaluation import compare, parse_metrics
    from distillrank.evaluation import evaluate as evaluate_run
    from distillrank.evaluation.metrics import paired_test

    try:
        measures = parse_metrics(metrics)
    except ValueError as e:
        raise DistillrankError(str(e)) from e
    if test is not None:
        try:
            test = paired_test(test)
        except ValueError as e:
            raise DistillrankError(f"--{e}") from e
    if missing not in ("zero", "skip"):
        raise DistillrankError(f"--missing must be 'zero' or 'skip', not {missing!r}")
    if (dataset is None) == (qrels is None):
        raise DistillrankError("give exactly one of --dataset (with --split) or --qrels")
    if test is not None and len(run) < 2:
        warn(f"--test {test} is ignored: a paired test needs two or more runs (repeat --run)")
    test = test or "t-test"
    others: dict[str, Qrels] = {}  # the dataset's other splits, to name the one a stray run belongs to
    if qrels is not None:
        judgements = _read_qrels(qrels)
        source = where = str(qrels)
    else:
        assert dataset is not None
        with status(f"reading the qrels of {dataset}"):
            splits = load_qrels(dataset, data_dir)
        if split not in splits:
            raise DistillrankError(f"{dataset} has no split {split!r}; it has: {', '.join(splits)}")
        judgements = splits[split]
        others = {s: q for s, q in splits.items() if s != split}
        source, where = f"{dataset} [{split}]", f"split {split!r} of {dataset}"
    runs = [Run.from_file(p, name=p.stem) for p in run]
    if len(judgements):  # no qrels at all: evaluate_run's own error says so
        for path, r in zip(run, runs, strict=True):
            _check_judged(path, r, judgements, where, others)
    try:
        # per-query values of every run, computed once: the comparison reuses them
        keep = as_json or len(runs) > 1
        results = [
            evaluate_run(r, judgements, measures, per_query=keep, missing=missing)  # type: ignore[arg-type]
            for r in runs
        ]
        comparison = (
            compare(runs, judgements, measures, test=test, missing=missing, results=results)  # type: ignore[arg-type]
            if len(runs) > 1
            else None
        )
    except ValueError as e:  # nothing to evaluate: no judged query, or none with results in every run
        raise DistillrankError(str(e)) from e
    if as_json:
        payload: dict[str, object] = {"qrels": source, "runs": [r.to_dict() for r in results]}
        if comparison is not None:
            payload["comparison"] = comparison.to_dict()
        out.print_json(json.dumps(json_safe(payload)))  # a p-value of identical runs is NaN
        return
    names = comparison.names if comparison else [results[0].name]
    # several runs: the means of the comparison, over the queries every run is evaluated on (with --missing
    # skip a run's own mean would be over its own queries, not comparable with the others')
    n_queries = len(comparison.qids) if comparison else results[0].n_queries
    table = Table(title=escape(f"{source} — {n_queries} queries"), title_justify="left")
    table.add_column("run")
    for m in results[0].metrics:
        table.add_column(m, justify="right")
        if comparison:
            table.add_column("p", justify="right", style="dim")
    for i, (name, res) in enumerate(zip(names, results, strict=True)):
        cells = [name]
        for m in res.metrics:
            cells.append(f"{(comparison.means[m][name] if comparison else res.aggregate[m]):.4f}")
            if comparison:
                p = comparison.p_values[m].get(name)
                cells.append(
                    "—" if i == 0 or p is None else (f"[bold]{p:.3g}[/]" if p < 0.05 else f"{p:.3g}")
                )
        table.add_row(escape(cells[0]), *cells[1:])
    out.print(table)
    counts = zip(names, results, strict=True)
    missing_counts = [f"{escape(n)}: {r.n_missing}" for n, r in counts if r.n_missing]
    if missing_counts:
        out.print(f"[yellow]queries without results (scored {missing}):[/] " + ", ".join(missing_counts))
    if comparison:
        out.print(f"[dim]p: two-sided paired {test} against {names[0]} over the same queries[/]")
        fewer = [
            f"{escape(n)}: {r.n_queries}"
            for n, r in zip(names, results, strict=True)
            if r.n_queries > n_queries
        ]
        if fewer:
            out.print(
                f"[yellow]means over the {n_queries} queries every run has results for (--missing skip); "
                "each run alone:[/] " + ", ".join(fewer)
            )


def _read_qrels(path: Path) -> Qrels:
    """The qrels of ``--qrels``; a 3-column file of Cranfield's inverted grades (``cranqrel``: 1 = most
    relevant .. 4, -1 = not relevant) gets the gains ``--dataset`` gives it, with a warning, so the same
    judgements score the same either way."""
    from distillrank.data.formats.smart import CRANFIELD_GAINS, looks_cranfield, map_grades
    from distillrank.data.formats.sniff import qrels_layout

    judgements = Qrels.from_file(path)
    if qrels_layout(path) == "triple" and looks_cranfield(judgements):
        warn(
            f"{path}: the grades look like Cranfield's (1 = most relevant .. 4, -1 = not relevant): scored "
            "as gains 1->4, 2->3, 3->2, 4->1, -1->0, as --dataset does (a file of gains as written: "
            "4 columns, 'qid 0 docno rel')"
        )
        judgements = map_grades(judgements, CRANFIELD_GAINS, path)
    return judgements


def _check_judged(path: Path, run: Run, judgements: Qrels, where: str, others: dict[str, Qrels]) -> None:
    """Refuse a run none of whose queries is judged in ``where``: every measure would be 0 (a run of
    another split, or ids of another namespace). The error names the split of ``others`` that judges
    most of them when one does, else shows a few ids of each side. A run with some of its queries judged
    passes (judged queries without results count 0)."""
    if any(q in judgements for q in run):
        return
    if not len(run):
        raise DistillrankError(f"{path}: the run file holds no result line")
    problem = f"{path}: no query of the run is judged in {where}"
    overlap = {s: sum(q in qrels for q in run) for s, qrels in others.items()}
    best = max(overlap, key=lambda s: overlap[s], default=None)
    if best is not None and overlap[best]:
        raise DistillrankError(
            f"{problem}; {overlap[best]} of its {len(run)} queries are judged in split {best!r}: "
            f"use --split {best}"
        )
    raise DistillrankError(
        f"{problem} (run query ids: {_some(run)}; qrels query ids: {_some(judgements)}): do the ids match?"
    )


def _some(ids: Iterable[str], n: int = 3) -> str:
    """The first ``n`` of ``ids``, quoted, with ``...`` when there are more."""
    head = list(itertools.islice(ids, n + 1))
    return ", ".join(repr(q) for q in head[:n]) + (", ..." if len(head) > n else "")
