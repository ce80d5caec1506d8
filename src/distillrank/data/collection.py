"""Text collections: a corpus, queries, and graded relevance judgements (qrels) per split.

Schema where stages meet (PyTerrier-style): documents ``docno, title, text``; queries ``qid, query``;
qrels ``qid, docno, label``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from distillrank.data.run import id_set, nested_rows
from distillrank.errors import DataFormatError


@dataclass(frozen=True)
class Document:
    """One document: its id, an optional title and its body text."""

    docno: str
    title: str
    text: str

    def full_text(self, sep: str = " ") -> str:
        """Title and text joined, the usual input of a ranker."""
        return f"{self.title}{sep}{self.text}" if self.title else self.text


class Corpus(Mapping[str, Document]):
    """An ordered collection of documents, indexed by ``docno``.

    Stored column-wise (three parallel lists) so that large corpora stay compact and can be handed to
    tokenizers and retrievers as lists without copying.
    """

    def __init__(
        self,
        docnos: list[str],
        titles: list[str],
        texts: list[str],
        *,
        source: str | Path | None = None,
    ) -> None:
        for what, value in (("docnos", docnos), ("titles", titles), ("texts", texts)):
            if isinstance(value, str | bytes):  # a string is a sequence of one-character ids or texts
                raise TypeError(f"Corpus: {what} must be a list of strings, not one {type(value).__name__}")
        if not (len(docnos) == len(titles) == len(texts)):
            raise DataFormatError(source, None, "docnos, titles and texts differ in length")
        if not all(isinstance(d, str) for d in docnos):  # ids as str, as every run and qrels file holds them
            docnos = [str(d) for d in docnos]
        self.docnos = docnos
        self.titles = titles
        self.texts = texts
        self.source = None if source is None else str(source)
        self._index: dict[str, int] = {}
        for i, d in enumerate(docnos):
            if d in self._index:
                raise DataFormatError(source, None, f"duplicate document id {d!r}")
            self._index[d] = i

    def __getitem__(self, docno: str) -> Document:
        i = self._index[docno]
        return Document(docno, self.titles[i], self.texts[i])

    def __iter__(self) -> Iterator[str]:
        return iter(self.docnos)

    def __len__(self) -> int:
        return len(self.docnos)

    def __contains__(self, docno: object) -> bool:
        return docno in self._index

    @property
    def positions(self) -> Mapping[str, int]:
        """``docno -> row`` of every document (read-only; shared, not copied)."""
        return MappingProxyType(self._index)

    def position(self, docno: str) -> int:
        """Row of ``docno`` in the column lists."""
        return self._index[docno]

    def full_texts(self, sep: str = " ") -> list[str]:
        """``title + sep + text`` for every document, in corpus order."""
        return list(self.iter_full_texts(sep))

    def iter_full_texts(self, sep: str = " ") -> Iterator[str]:
        """:meth:`full_texts` one at a time, without holding a second copy of the corpus's texts."""
        return (f"{t}{sep}{x}" if t else x for t, x in zip(self.titles, self.texts, strict=True))

    def to_dataframe(self) -> pd.DataFrame:
        return pd.DataFrame({"docno": self.docnos, "title": self.titles, "text": self.texts})

    @classmethod
    def from_dataframe(cls, df: pd.DataFrame, *, source: str | Path | None = None) -> Corpus:
        missing = {"docno", "text"} - set(df.columns)
        if missing:
            raise DataFormatError(source, None, f"corpus table lacks columns {sorted(missing)}")
        titles = df["title"].fillna("").astype(str).tolist() if "title" in df else [""] * len(df)
        return cls(
            df["docno"].astype(str).tolist(),
            titles,
            df["text"].fillna("").astype(str).tolist(),
            source=source,
        )


class Queries(Mapping[str, str]):
    """Query texts by ``qid``, in file order."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        if items is not None and not isinstance(items, Mapping):
            raise TypeError(
                f"Queries(items): items must be a mapping qid -> text, not {type(items).__name__} "
                "(for a list of texts: Queries(dict(enumerate(texts))))"
            )
        self._q: dict[str, str] = {str(q): t for q, t in (items or {}).items()}

    def __getitem__(self, qid: str) -> str:
        return self._q[qid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._q)

    def __len__(self) -> int:
        return len(self._q)

    def subset(self, qids: str | Iterable[str]) -> Queries:
        """The queries ``qids`` only (one id may be given as a str)."""
        keep = id_set(qids)
        return Queries({q: t for q, t in self._q.items() if q in keep})

    def to_dataframe(self) -> pd.DataFrame:
        return pd.DataFrame({"qid": list(self._q), "query": list(self._q.values())})


def _label(qid: object, docno: object, label: object) -> int:
    """A relevance label as an int, or a TypeError/ValueError naming the judgement."""
    if isinstance(label, bool | int | np.integer):
        return int(label)
    if isinstance(label, float | np.floating) and float(label).is_integer():
        return int(label)
    what = f"label {label!r}" + (
        "" if isinstance(label, float | np.floating) else f" ({type(label).__name__})"
    )
    raise ValueError(
        f"Qrels: query {qid!r}, document {docno!r}: {what} is not a whole number (grades are integers)"
    )


class Qrels(Mapping[str, dict[str, int]]):
    """Graded relevance judgements: ``qid -> {docno: label}``.

    Labels are integers; 0 and negative labels mean judged non-relevant (as in trec_eval).
    """

    def __init__(self, data: Mapping[str, Mapping[str, int]] | None = None) -> None:
        self._d: dict[str, dict[str, int]] = {}
        for q, docs in nested_rows(data, "Qrels", "label", "the judgements", "a qrels file"):
            # ids as str and labels as int (as trec_eval needs them): ints, numpy ints and whole floats pass
            self._d[str(q)] = {str(d): _label(q, d, r) for d, r in docs.items()}

    def __getitem__(self, qid: str) -> dict[str, int]:
        return self._d[qid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    @property
    def n_judgements(self) -> int:
        return sum(len(v) for v in self._d.values())

    def relevant(self, qid: str, min_label: int = 1) -> set[str]:
        """Documents of ``qid`` with label >= ``min_label``."""
        return {d for d, r in self._d.get(qid, {}).items() if r >= min_label}

    def subset(self, qids: str | Iterable[str]) -> Qrels:
        """The judgements of the queries ``qids`` only (one id may be given as a str)."""
        keep = id_set(qids)
        out = Qrels()
        out._d = {q: dict(v) for q, v in self._d.items() if q in keep}
        return out

    def to_dict(self) -> dict[str, dict[str, int]]:
        """A plain ``{qid: {docno: label}}`` copy."""
        return {q: dict(v) for q, v in self._d.items()}

    def to_dataframe(self) -> pd.DataFrame:
        rows = [(q, d, r) for q, v in self._d.items() for d, r in v.items()]
        return pd.DataFrame(rows, columns=["qid", "docno", "label"])

    @classmethod
    def from_dataframe(cls, df: pd.DataFrame) -> Qrels:
        out: dict[str, dict[str, int]] = {}
        for q, d, r in zip(df["qid"].astype(str), df["docno"].astype(str), df["label"], strict=True):
            out.setdefault(q, {})[d] = int(r)
        return cls(out)

    @classmethod
    def from_file(cls, path: str | Path) -> Qrels:
        """Read TREC qrels (``qid iter docno rel``) or a BEIR qrels TSV, by sniffing the format."""
        from distillrank.data.formats.sniff import read_qrels_file

        return read_qrels_file(path)

    def save(self, path: str | Path) -> None:
        """Write TREC qrels (``qid 0 docno rel``), atomically."""
        from distillrank.data.formats.trec import write_trec_qrels

        write_trec_qrels(self, path)


@dataclass
class TextCollection:
    """A corpus with its queries and qrels per split (``train``, ``dev``, ``test``, ...).

    Collections without an official split (TREC and SMART classics) hold all their qrels under ``test``.
    """

    name: str
    corpus: Corpus
    queries: Queries
    qrels: dict[str, Qrels] = field(default_factory=dict)
    source: str | None = None

    @property
    def splits(self) -> list[str]:
        return list(self.qrels)

    def get_qrels(self, split: str) -> Qrels:
        if split not in self.qrels:
            raise KeyError(
                f"collection {self.name!r} has no split {split!r}; it has: {', '.join(self.splits)}"
            )
        return self.qrels[split]

    def queries_for(self, split: str) -> Queries:
        """Queries that have judgements in ``split`` (the usual way BEIR defines a split)."""
        qrels = self.get_qrels(split)
        return Queries({q: self.queries[q] for q in self.queries if q in qrels})

    def __repr__(self) -> str:
        splits = ", ".join(f"{s}: {len(q)} queries" for s, q in self.qrels.items())
        return f"TextCollection({self.name!r}, {len(self.corpus)} docs, {splits})"
