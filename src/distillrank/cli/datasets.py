"""``distillrank datasets``: list the catalogue and describe a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from distillrank.cli._common import (
    DataDirOption,
    QueryFieldOption,
    columns_option,
    folder_output,
    friendly_errors,
    out,
    query_field_option,
    status,
    warn,
)
from distillrank.data.catalogue import CATALOGUE, default_data_dir, find_local, load_dataset
from distillrank.data.collection import TextCollection
from distillrank.data.dataset import SplitDataset
from distillrank.data.interactions import Interactions
from distillrank.errors import DistillrankError

app = typer.Typer(help="List and inspect datasets.", no_args_is_help=True)


@app.command("list")
@friendly_errors
def list_(data_dir: DataDirOption = None) -> None:
    """The catalogue: every named dataset, its kind and whether it is in the data folder."""
    root = default_data_dir(data_dir)
    table = Table(title=f"datasets (data folder: {root})")
    for col in ("name", "kind", "present"):
        table.add_column(col, no_wrap=True)
    table.add_column("description")
    for name, e in CATALOGUE.items():
        local = find_local(name, data_dir)
        present = (
            f"[green]{local.relative_to(root)}[/]"
            if local
            else ("[yellow]via ir_datasets[/]" if e.ir_datasets else "[red]missing[/]")
        )
        table.add_row(name, e.kind, present, e.description)
    out.print(table)


@app.command()
@friendly_errors
def info(
    dataset: Annotated[str, typer.Argument(help="Catalogue name or path.")],
    columns: Annotated[
        str | None,
        typer.Option(
            help="Read DATASET as an interaction table whose columns are these (as recsys distill "
            "--columns): 'user,timestamp,,,item' for a file without a header, or NAME=COLUMN pairs."
        ),
    ] = None,
    query_field: QueryFieldOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Load a dataset and print its size per split (also a quick check that it parses)."""
    field = query_field_option(query_field)
    if columns is not None and field is not None:
        raise DistillrankError(
            "--query-field applies to text collections with TREC topics, --columns to interaction tables: "
            "give one of them"
        )
    with status(f"loading {dataset}"):
        if columns is None:
            ds = load_dataset(dataset, data_dir, query_field=field)
        else:
            from distillrank.data.formats.interactions_io import read_interactions

            named = columns_option(columns)
            path = Path(dataset)
            ds = (
                read_interactions(path, columns=named)
                if path.is_file()
                else load_dataset(dataset, data_dir, columns=named)
            )
    table = Table(title=str(dataset))
    table.add_column("part")
    table.add_column("size", justify="right")
    if isinstance(ds, TextCollection):
        table.add_row("documents", f"{len(ds.corpus):,}")
        table.add_row("queries", f"{len(ds.queries):,}")
        for split, q in ds.qrels.items():
            table.add_row(escape(f"qrels[{split}]"), f"{len(q):,} queries, {q.n_judgements:,} judgements")
    elif isinstance(ds, SplitDataset):
        for split, part in ds.splits.items():
            table.add_row(split, repr(part))
    elif isinstance(ds, Interactions):
        table.add_row("interactions", repr(ds))
    else:
        table.add_row("data", repr(ds))
    out.print(table)


@app.command()
@friendly_errors
@folder_output
def export(
    dataset: Annotated[str, typer.Argument(help="Catalogue name or path.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write into.")],
    query_field: QueryFieldOption = None,
    data_dir: DataDirOption = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace files of the same names already in --output.")
    ] = False,
) -> None:
    """Write a dataset as Parquet files (one per part and split); text collections also get TREC qrels.

    Files the folder already holds under the same names are refused before anything is written, unless
    ``--overwrite`` is given."""
    from distillrank.data.formats.parquet import write_parquet

    if output.exists() and not output.is_dir():
        raise DistillrankError(f"--output {output}: is a file; give a folder to write into")
    field = query_field_option(query_field)
    with status(f"loading {dataset}"):
        ds = load_dataset(dataset, data_dir, query_field=field)
    qrels_files: dict[Path, object] = {}
    if isinstance(ds, TextCollection):
        parts: dict[str, object] = {"corpus": ds.corpus, "queries": ds.queries}
        parts.update({f"qrels-{s}": q for s, q in ds.qrels.items()})
        qrels_files = {output / f"qrels-{s}.trec": q for s, q in ds.qrels.items()}
    elif isinstance(ds, SplitDataset):
        parts = dict(ds.splits)
    else:
        parts = {"interactions": ds}
    planned = [*qrels_files, *(output / f"{part}.parquet" for part in parts)]
    existing = [p.name for p in planned if p.exists()]
    if existing and not overwrite:
        raise DistillrankError(
            f"--output {output} already holds {', '.join(existing)}; give another folder, or --overwrite "
            "to replace them"
        )
    output.mkdir(parents=True, exist_ok=True)
    for path, q in qrels_files.items():
        q.save(path)  # type: ignore[attr-defined]
    for part, obj in parts.items():
        write_parquet(obj, output / f"{part}.parquet")  # type: ignore[arg-type]
    out.print(f"[green]✓[/] wrote {len(planned)} files to {output}: " + ", ".join(p.name for p in planned))
    if existing:
        warn(f"replaced {len(existing)} file(s) {output} already held: {', '.join(existing)}")
