"""``distillrank retrieve``: first-stage retrieval into a TREC run file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distillrank.cli._common import (
    DataDirOption,
    DatasetOption,
    console,
    friendly_errors,
    progress,
    status,
)
from distillrank.data.catalogue import load_dataset
from distillrank.data.collection import TextCollection
from distillrank.data.run import Run
from distillrank.errors import DistillrankError

app = typer.Typer(help="Retrieve candidates for a collection's queries.", no_args_is_help=True)

BATCH = 256


@app.command()
@friendly_errors
def bm25(
    dataset: DatasetOption,
    output: Annotated[Path, typer.Option("--output", "-o", help="TREC run file to write.")],
    split: Annotated[str, typer.Option(help="Queries of this split (those with qrels in it).")] = "test",
    k: Annotated[int, typer.Option("--k", min=1, help="Documents per query.")] = 100,
    method: Annotated[str, typer.Option(help="lucene, robertson, atire, bm25l or bm25+.")] = "lucene",
    k1: Annotated[float, typer.Option(help="Term-frequency saturation.")] = 1.2,
    b: Annotated[float, typer.Option(help="Length normalisation.")] = 0.75,
    stemmer: Annotated[str, typer.Option(help="Snowball language, or 'none'.")] = "english",
    stopwords: Annotated[str, typer.Option(help="'en', 'none', or a comma-separated list.")] = "en",
    threads: Annotated[int, typer.Option(help="Threads for search.")] = 1,
    tag: Annotated[str, typer.Option(help="Run tag (last TREC column).")] = "bm25",
    data_dir: DataDirOption = None,
) -> None:
    """BM25 (bm25s, Lucene variant by default) over title + text; writes `qid Q0 docno rank score tag`."""
    from distillrank.retrieval.bm25 import BM25Config, BM25Retriever

    with status(f"loading {dataset}"):
        coll = load_dataset(dataset, data_dir)
    if not isinstance(coll, TextCollection):
        raise DistillrankError(f"{dataset}: BM25 needs a text collection, got {type(coll).__name__}")
    queries = coll.queries_for(split) if split != "all" else coll.queries
    sw: str | tuple[str, ...] | None = (
        None
        if stopwords.lower() == "none"
        else stopwords
        if "," not in stopwords
        else tuple(w.strip() for w in stopwords.split(","))
    )
    config = BM25Config(
        method=method, k1=k1, b=b, stemmer=None if stemmer.lower() == "none" else stemmer, stopwords=sw
    )
    retriever = BM25Retriever(config)
    with status(f"indexing {len(coll.corpus):,} documents"):
        retriever.index(coll.corpus)
    qids = list(queries)
    results: dict[str, dict[str, float]] = {}
    with progress() as bar:
        task = bar.add_task(f"searching {len(qids):,} queries", total=len(qids))
        for i in range(0, len(qids), BATCH):
            chunk = {q: queries[q] for q in qids[i : i + BATCH]}
            results.update(retriever.search(chunk, k=k, n_threads=threads).to_dict())
            bar.advance(task, len(chunk))
    run = Run(results, name=tag)
    run.save(output, tag=tag)
    console.print(f"[green]✓[/] wrote {output} ({len(run):,} queries, top {k})")
