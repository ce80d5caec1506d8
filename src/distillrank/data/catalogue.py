"""The dataset catalogue: names that resolve to data folders, and paths in any supported format.

Resolution order for the data folder: an explicit ``data_dir`` (``--data-dir``), else the environment
variable ``DISTILLRANK_DATA``, else ``$XDG_CACHE_HOME/distillrank`` (``~/.cache/distillrank``).

Inside it each catalogued dataset is looked for at a few conventional places (``beir/scifact`` or
``scifact``...). A text collection that is absent but known to `ir_datasets <https://ir-datasets.com>`_
is downloaded through it (``pip install 'distillrank[datasets]'``) and written as a BEIR folder into the
data folder, once. Any ir_datasets id works as ``irds:<id>`` (for example ``irds:beir/nfcorpus``).

Anywhere a dataset is named, a path to a folder or file works too: its format is sniffed from its contents.
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from distillrank.errors import DatasetNotFoundError, DistillrankError

if TYPE_CHECKING:
    from distillrank.data.collection import Qrels

Kind = Literal["text", "ltr", "interactions", "clicks", "bandit"]
ENV_VAR = "DISTILLRANK_DATA"


@dataclass(frozen=True)
class CatalogueEntry:
    """A named dataset: where it lives inside a data folder and how else to get it."""

    name: str
    kind: Kind
    paths: tuple[str, ...]
    description: str
    ir_datasets: dict[str, str] = field(default_factory=dict)  # split -> ir_datasets id; "" = docs
    source_hint: str = ""


CATALOGUE: dict[str, CatalogueEntry] = {
    e.name: e
    for e in [
        CatalogueEntry(
            "scifact",
            "text",
            ("beir/scifact", "scifact"),
            "BEIR SciFact: scientific claims vs abstracts (train/test)",
            {"": "beir/scifact", "train": "beir/scifact/train", "test": "beir/scifact/test"},
        ),
        CatalogueEntry(
            "vaswani",
            "text",
            ("classic/vaswani", "vaswani"),
            "Vaswani/NPL physics abstracts (TREC layout, all qrels under 'test')",
            {"": "vaswani", "test": "vaswani"},
        ),
        CatalogueEntry(
            "cranfield",
            "text",
            ("classic/cranfield", "cranfield"),
            "Cranfield 1400 aeronautics (SMART layout, all qrels under 'test')",
            {"": "cranfield", "test": "cranfield"},
        ),
        CatalogueEntry(
            "lightgbm-lambdarank",
            "ltr",
            ("ltr/lightgbm-lambdarank", "lightgbm-lambdarank"),
            "LightGBM's lambdarank example: svmlight rows with .query group files",
            source_hint="copy examples/lambdarank/rank.{train,test}[.query] from the LightGBM repository",
        ),
        CatalogueEntry(
            "ml-100k",
            "interactions",
            ("recsys/ml-100k", "ml-100k"),
            "MovieLens 100K ratings with timestamps",
            source_hint="download ml-100k from GroupLens (u.data) or RecBole (ml-100k.inter)",
        ),
        CatalogueEntry(
            "yandex-wscd-sample",
            "clicks",
            ("clicks/yandex-wscd-sample", "yandex-wscd-sample"),
            "Yandex relevance-prediction click log sample (train/test sessions)",
            source_hint="trainSample/testSample from the PyClick examples",
        ),
        CatalogueEntry(
            "open-bandit-dataset",
            "bandit",
            ("clicks/open-bandit-dataset", "open-bandit-dataset"),
            "Open Bandit Dataset sample (ZOZOTOWN): random and Bernoulli-TS logs",
            source_hint="the obd/ sample folder shipped with the zr-obp package",
        ),
    ]
}


def default_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data folder: ``data_dir`` if given, else ``$DISTILLRANK_DATA``, else the cache folder."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "distillrank"


def find_local(name: str, data_dir: str | Path | None = None) -> Path | None:
    """Where catalogued dataset ``name`` lies in the data folder, or ``None``."""
    entry = CATALOGUE[name]
    root = default_data_dir(data_dir)
    for rel in entry.paths:
        p = root / rel
        if p.exists():
            return p
    return None


def resolve(name_or_path: str | Path, data_dir: str | Path | None = None) -> tuple[Path, Kind, str]:
    """Resolve a dataset name or path to ``(path, kind, name)``, downloading through ir_datasets when
    a catalogued text collection is absent and ir_datasets knows it.

    Raises:
        DatasetNotFoundError: with the places looked at and how to supply the data.
    """
    s = str(name_or_path)
    if s.startswith("irds:"):
        irds_id = s[len("irds:") :]
        target = default_data_dir(data_dir) / "irds" / irds_id.replace("/", "__")
        if not target.exists():
            _download_ir_datasets(irds_id, {"": irds_id}, target)
        return target, "text", irds_id
    key = s.lower()
    if key in CATALOGUE:
        entry = CATALOGUE[key]
        local = find_local(key, data_dir)
        if local is not None:
            return local, entry.kind, key
        root = default_data_dir(data_dir)
        if entry.ir_datasets:
            target = root / entry.paths[0]
            _download_ir_datasets(key, entry.ir_datasets, target)
            return target, entry.kind, key
        looked = ", ".join(str(root / p) for p in entry.paths)
        raise DatasetNotFoundError(
            f"dataset {key!r} not found (looked in {looked}). Put it there — {entry.source_hint} — "
            f"or point --data-dir / ${ENV_VAR} at the folder that holds it, or pass a path."
        )
    path = Path(s).expanduser()
    if path.exists():
        from distillrank.data.formats.detect import detect_kind

        return path, detect_kind(path), path.name  # type: ignore[return-value]
    known = ", ".join(CATALOGUE)
    close = difflib.get_close_matches(s.lower(), list(CATALOGUE), n=1, cutoff=0.7)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise DatasetNotFoundError(
        f"{s!r} is neither a catalogued dataset ({known}), an 'irds:<ir_datasets id>', nor an existing "
        f"path{hint}"
    )


LOAD_OPTIONS = ("columns", "query_field")
"""The reader options :func:`load_dataset` passes on."""


def load_dataset(name_or_path: str | Path, data_dir: str | Path | None = None, **options: Any) -> Any:
    """Load a dataset by catalogue name or path into its in-memory type.

    Returns a :class:`~distillrank.data.TextCollection` (text), a
    :class:`~distillrank.data.SplitDataset` of :class:`~distillrank.data.LTRDataset` (ltr) or of
    :class:`~distillrank.data.ClickLog` (clicks, bandit), or :class:`~distillrank.data.Interactions`.

    ``options`` go to the reader (:func:`~distillrank.data.formats.detect.load_path`): ``columns`` for an
    interaction table; ``query_field`` for a text collection with TREC topics, the topic field(s) that are
    the query text (``"title"``, the default; ``"desc"``, ``"narr"``, ``"title+desc"``...), an error for
    any other data but ``"title"``.

    Example:
        >>> coll = load_dataset("scifact")  # doctest: +SKIP
        >>> coll.queries_for("test")  # doctest: +SKIP
        >>> robust = load_dataset("path/to/robust04", query_field="desc")  # doctest: +SKIP
    """
    from distillrank.data.formats.detect import load_path

    unknown = sorted(set(options) - set(LOAD_OPTIONS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], LOAD_OPTIONS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(
            f"load_dataset: unknown option {unknown[0]!r}{hint}; the options are {', '.join(LOAD_OPTIONS)}"
        )
    given = Path(str(name_or_path)).expanduser()
    if options.get("columns") is not None and str(name_or_path).lower() not in CATALOGUE and given.exists():
        # a path with columns is an interaction table (load_path), whatever detection would say of it
        return load_path(given, name=given.name, **options)
    path, kind, name = resolve(name_or_path, data_dir)

    return load_path(path, kind, name=name, **options)


def load_qrels(name_or_path: str | Path, data_dir: str | Path | None = None) -> dict[str, Qrels]:
    """The qrels of every split of a text collection (by catalogue name or path): ``split -> Qrels``.

    The same judgements :func:`load_dataset` gives (judged queries without a query text dropped), read
    without the corpus where the format allows (BEIR and MS MARCO folders): what evaluating a run needs.

    Raises:
        DistillrankError: the dataset is not a text collection.
    """
    from distillrank.data.formats.sniff import read_text_qrels

    path, kind, _ = resolve(name_or_path, data_dir)
    if kind != "text":
        raise DistillrankError(
            f"{name_or_path}: not a text collection with qrels (its files read as {kind} data; a BEIR folder "
            "holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv)"
        )
    return read_text_qrels(path)


def _download_ir_datasets(name: str, ids: dict[str, str], target: Path) -> None:
    """Fetch a text collection through ir_datasets and write it as a BEIR folder at ``target``.

    The folder is written under a temporary name and renamed when complete, so an interrupted download
    never leaves a half-written dataset behind.
    """
    try:
        import ir_datasets
    except ImportError as e:
        raise DatasetNotFoundError(
            f"dataset {name!r} is not in the data folder and ir_datasets is not installed to fetch it: "
            f"pip install 'distillrank[datasets]', or put the data at {target}"
        ) from e
    from distillrank.data.formats.beir import write_beir

    docs_id = ids.get("", next(iter(ids.values())))
    try:
        docs_ds = ir_datasets.load(docs_id)
        docnos, titles, texts = [], [], []
        for d in docs_ds.docs_iter():
            docnos.append(str(d.doc_id))
            titles.append(str(getattr(d, "title", "") or ""))
            texts.append(str(getattr(d, "text", "") or ""))
        queries: dict[str, str] = {}
        qrels: dict[str, dict[str, dict[str, int]]] = {}
        splits = {k: v for k, v in ids.items() if k} or {"test": docs_id}
        for split, irds_id in splits.items():
            ds = ir_datasets.load(irds_id)
            if not (ds.has_queries() and ds.has_qrels()):
                continue
            for q in ds.queries_iter():
                queries[str(q.query_id)] = str(getattr(q, "text", "") or getattr(q, "title", ""))
            for r in ds.qrels_iter():
                qrels.setdefault(split, {}).setdefault(str(r.query_id), {})[str(r.doc_id)] = int(r.relevance)
    except Exception as e:  # network, unknown id, ...
        raise DatasetNotFoundError(
            f"dataset {name!r} is not at {target} and fetching it through ir_datasets ({docs_id}) "
            f"failed: {e}. If you have it on disk, point --data-dir / ${ENV_VAR} at the folder that "
            "holds it, or pass its path."
        ) from e
    if name == "cranfield":  # Cleverdon's grades: 1 best .. 4 least, -1 none -> gains 4..1, 0
        qrels = {
            s: {q: {d: (5 - g if g > 0 else 0) for d, g in v.items()} for q, v in qs.items()}
            for s, qs in qrels.items()
        }
    from distillrank.data.collection import Corpus, Qrels, Queries, TextCollection

    coll = TextCollection(
        name,
        Corpus(docnos, titles, texts, source=docs_id),
        Queries(queries),
        {s: Qrels(v) for s, v in qrels.items()},
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        write_beir(coll, tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
