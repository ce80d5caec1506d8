"""MS MARCO-style folders: a tab-separated corpus, ``qid<TAB>text`` queries, TREC qrels per split."""

from __future__ import annotations

from pathlib import Path

import pytest

from distillrank.data.catalogue import load_dataset
from distillrank.data.formats.detect import detect_kind
from distillrank.data.formats.msmarco import read_msmarco, read_msmarco_splits, read_tsv_corpus
from distillrank.data.formats.sniff import detect_text_format, qrels_split
from distillrank.errors import DataFormatError, DataWarning

COLLECTION = (
    "0\tThe presence of communication amid scientific minds.\n"
    "1\tThe Manhattan Project and its atomic bomb.\n"
    "2\tEssay on the Manhattan Project.\n"
    "3\tA different passage.\n"
)


def _passage_folder(write) -> Path:
    """The MS MARCO passage release's layout (tab-separated qrels ``qid 0 pid 1``)."""
    write("msmarco/collection.tsv", COLLECTION)
    write("msmarco/queries.train.tsv", "121352\tdefine extreme\n634306\twhat does chattel mean\n")
    write("msmarco/queries.dev.small.tsv", "1048585\twhat is paula deen's brother\n2\tAndorra\n")
    write("msmarco/queries.eval.small.tsv", "19335\tanthropological definition of environment\n")
    write("msmarco/qrels.train.tsv", "121352\t0\t2\t1\n634306\t0\t1\t1\n")
    return write("msmarco/qrels.dev.small.tsv", "1048585\t0\t0\t1\n2\t0\t3\t1\n").parent


def test_passage_release_layout_loads_with_its_splits(write) -> None:
    folder = _passage_folder(write)
    assert detect_kind(folder) == "text"
    assert detect_text_format(folder) == "msmarco"
    coll = load_dataset(folder)
    assert coll.splits == ["dev", "train"]
    assert coll.corpus.docnos == ["0", "1", "2", "3"]
    assert coll.corpus["1"].text == "The Manhattan Project and its atomic bomb."
    assert len(coll.queries) == 5
    assert dict(coll.get_qrels("dev")) == {"1048585": {"0": 1}, "2": {"3": 1}}
    assert list(coll.queries_for("train")) == ["121352", "634306"]


def test_qrels_alone_are_read_without_the_corpus(write) -> None:
    folder = _passage_folder(write)
    write("msmarco/qrels.dev.small.tsv", "1048585\t0\t0\t1\n2\t0\t3\t1\n404\t0\t1\t1\n")  # 404: no query
    with pytest.warns(DataWarning, match="not in the queries"):
        coll = read_msmarco(folder)
    (folder / "collection.tsv").write_text("not\ta\tcorpus\tat all\n")  # never read
    with pytest.warns(DataWarning, match="not in the queries"):
        splits = read_msmarco_splits(folder)
    assert {s: dict(q) for s, q in splits.items()} == {s: dict(coll.get_qrels(s)) for s in coll.splits}


def test_trec_dl_layout_is_one_test_split(write) -> None:
    write("dl19/collection.tsv.gz", COLLECTION)
    write("dl19/msmarco-test2019-queries.tsv", "19335\tanthropological definition of environment\n")
    coll = read_msmarco(write("dl19/2019qrels-pass.txt", "19335 Q0 0 0\n19335 Q0 1 3\n").parent)
    assert coll.splits == ["test"]
    assert coll.get_qrels("test")["19335"] == {"0": 0, "1": 3}


def test_query_files_may_repeat_a_query_with_the_same_text(write) -> None:
    folder = _passage_folder(write)
    write("msmarco/queries.dev.tsv", "1048585\twhat is paula deen's brother\n7\tmore\n")
    assert len(read_msmarco(folder).queries) == 6
    write("msmarco/queries.dev.tsv", "1048585\tanother text\n")
    with pytest.raises(DataFormatError, match="duplicate query id '1048585'"):
        read_msmarco(folder)


def test_tsv_corpus_widths_and_errors(write) -> None:
    docs = read_tsv_corpus(write("msmarco-docs.tsv", "D1\thttp://a\tTitle one\tBody  one\n"))
    assert (docs["D1"].title, docs["D1"].text) == ("Title one", "Body one")
    with pytest.raises(DataFormatError, match=r"c.tsv:2: expected 2 tab-separated columns .* found 3"):
        read_tsv_corpus(write("c.tsv", "1\ta\n2\tb\tc\n"))
    with pytest.raises(DataFormatError, match=r"d.tsv:3: duplicate document id '1' \(first on line 1\)"):
        read_tsv_corpus(write("d.tsv", "1\ta\n2\tb\n1\tc\n"))


def test_trailing_tabs_add_no_column(write) -> None:
    """A trailing tab (or spaces) on corpus, query and qrels lines, as some export scripts write."""
    write("trail/collection.tsv", "0\tfirst passage\n1\tsecond passage\t\n2\tthird \t \n")
    write("trail/queries.dev.tsv", "7\tpassage one\t\n8\tpassage two \n")
    folder = write("trail/qrels.dev.tsv", "7\t0\t0\t1\t\n8\t0\t1\t1 \n").parent
    coll = load_dataset(folder)
    assert [coll.corpus[d].text for d in ("0", "1", "2")] == ["first passage", "second passage", "third"]
    assert all(coll.corpus[d].title == "" for d in ("0", "1", "2"))
    assert dict(coll.queries) == {"7": "passage one", "8": "passage two"}
    assert coll.get_qrels("dev").to_dict() == {"7": {"0": 1}, "8": {"1": 1}}
    with pytest.raises(DataFormatError, match=r"c.tsv:2: expected 2 tab-separated columns .* found 3"):
        read_tsv_corpus(write("c.tsv", "1\ta\n2\tb\tc\t\n"))  # a third column, not a trailing tab


@pytest.mark.parametrize(
    ("name", "split"),
    [
        ("qrels.train.tsv", "train"),
        ("qrels.dev.small.tsv", "dev"),
        ("msmarco-doctrain-qrels.tsv.gz", "train"),
        ("2019qrels-pass.txt", "test"),
    ],
)
def test_qrels_split_from_file_name(name: str, split: str) -> None:
    assert qrels_split(Path(name)) == split


def test_document_release_layout(write) -> None:
    write("docs/msmarco-docs.tsv", "D1\thttp://a.org/\tTitle one\tBody one\nD2\thttp://b.org/\t\tBody two\n")
    write("docs/msmarco-docs-lookup.tsv", "D1\t0\t0\nD2\t40\t40\n")
    write("docs/msmarco-doctrain-queries.tsv", "1185869\t)what was the immediate impact of the success\n")
    write("docs/msmarco-doctrain-qrels.tsv", "1185869 0 D1 1\n")
    write("docs/msmarco-docdev-queries.tsv", "174249\tdoes xpress bet charge to deposit money\n")
    coll = read_msmarco(write("docs/msmarco-docdev-qrels.tsv", "174249 0 D2 1\n").parent)
    assert coll.splits == ["dev", "train"]
    assert (coll.corpus["D2"].title, coll.corpus["D2"].text) == ("", "Body two")
