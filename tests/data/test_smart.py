"""SMART collections (Cranfield style): records, grade mapping, query renumbering."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from distillrank.data.formats.smart import (
    CRANFIELD_GAINS,
    read_smart_collection,
    read_smart_docs,
    read_smart_qrels,
    read_smart_queries,
)
from distillrank.data.formats.sniff import detect_text_format, read_text_collection
from distillrank.errors import DataFormatError, DatasetNotFoundError, DataWarning

DOCS = """.I 1\r
.T\r
experimental investigation of the\r
aerodynamics of a wing .\r
.A\r
brenckman,m.\r
.B\r
j. ae. scs. 25, 1958, 324.\r
.W\r
experimental investigation of the\r
aerodynamics of a wing .\r
  an experimental study was made .\r
.I 2\r
.T\r
.A\r
.B\r
.I 3\r
.T\r
third\r
.W\r
first part\r
.X\r
1 5 3\r
.W\r
second part\r
"""

QUERIES = """.I 001
.W
what similarity laws must be
obeyed .
.I 002
.W
structural problems .
.I 004
.T
title only query
"""


def test_read_smart_docs(write) -> None:
    corpus = read_smart_docs(write("cran.all.1400", DOCS))
    assert corpus.docnos == ["1", "2", "3"]
    assert corpus["1"].title == "experimental investigation of the aerodynamics of a wing ."
    # Cranfield repeats the title at the start of .W: kept as is
    assert corpus["1"].text == (
        "experimental investigation of the aerodynamics of a wing . an experimental study was made ."
    )
    assert (corpus["2"].title, corpus["2"].text) == ("", "")  # empty records (Cranfield 471, 995)
    assert corpus["3"].text == "first part second part"  # a repeated field is concatenated, .X skipped


def test_read_smart_queries_keeps_file_order(write) -> None:
    queries, order = read_smart_queries(write("cran.qry.gz", QUERIES))
    assert order == ["001", "002", "004"]
    assert queries["001"] == "what similarity laws must be obeyed ."
    assert queries["004"] == "title only query"


def test_cranfield_grades_map_to_gains(write) -> None:
    path = write("cranqrel", "1 184 2 \r\n1 29 1 \r\n2 12 4\n3 486 -1\n3 5 3")
    with pytest.warns(DataWarning, match=r"grades look like Cranfield's .* mapped to gains 1->4"):
        qrels = read_smart_qrels(path)
    assert qrels.to_dict() == {"1": {"184": 3, "29": 4}, "2": {"12": 1}, "3": {"486": 0, "5": 2}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_smart_qrels(path, grade_map=None)["3"] == {"486": -1, "5": 3}
        assert read_smart_qrels(path, grade_map=CRANFIELD_GAINS)["1"] == {"184": 3, "29": 4}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("1 13 1\n1 14 1\n", {"1": {"13": 1, "14": 1}}),  # a single grade: not Cranfield-like
        ("1 13 0\n1 14 2\n", {"1": {"13": 0, "14": 2}}),  # 0 is not a Cranfield grade
        ("1 0 13 1\n1 0 14 2\n", {"1": {"13": 1, "14": 2}}),  # TREC layout
        ("    1     28 0 0.000000\n    1     35 0 0.000000\n", {"1": {"28": 1, "35": 1}}),  # CISI
    ],
)
def test_other_qrels_layouts_are_left_alone(write, content: str, expected: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_smart_qrels(write("MED.REL", content)).to_dict() == expected


def test_grade_outside_the_map_is_an_error(write) -> None:
    path = write("q.rel", "1 13 7\n")
    with pytest.raises(DataFormatError, match=r"q\.rel: grade 7 \(query '1'\) is not in grade_map"):
        read_smart_qrels(path, grade_map={1: 1})


def test_collection_renumbers_queries_like_cranqrel(write) -> None:
    write("cran/cran.all.1400", DOCS)
    write("cran/cran.qry", QUERIES)
    write("cran/cranqrel.readme", "1 2 3\n")
    qrels = write("cran/cranqrel", "1 1 2\n2 3 1\n3 2 -1\n")
    folder = qrels.parent
    with pytest.warns(DataWarning) as rec:
        coll = read_smart_collection(folder)
    messages = [str(w.message) for w in rec]
    assert len(messages) == 2
    assert messages[0].startswith(f"{qrels}: grades look like Cranfield's")
    assert messages[1] == (
        f"{qrels}: the qrels number the queries 1..3 while {folder / 'cran.qry'} has other ids "
        "(001, 002, 004, ...); queries renumbered 1..3 in file order"
    )
    assert list(coll.queries) == ["1", "2", "3"]
    assert coll.queries["3"] == "title only query"
    assert coll.get_qrels("test").to_dict() == {"1": {"1": 3}, "2": {"3": 4}, "3": {"2": 0}}
    assert detect_text_format(folder) == "smart"


def test_a_subset_whose_last_queries_are_unjudged_is_renumbered_too(write) -> None:
    """A subset of Cranfield: the qrels judge queries 1 and 3 of 4 (the last has no judgement among the
    documents kept), which is still cranqrel's numbering, not the file's ids 001, 002, 004, 005."""
    write("cran/cran.all.1400", DOCS)
    write("cran/cran.qry", QUERIES + ".I 005\n.W\nlast query .\n")
    write("cran/cranqrel", "1 1 2\n3 3 1\n")
    with pytest.warns(DataWarning, match=r".*queries renumbered 1\.\.4 in file order"):
        coll = read_smart_collection(write("cran/cranqrel.readme", "x\n").parent)
    assert list(coll.queries) == ["1", "2", "3", "4"] and sorted(coll.get_qrels("test")) == ["1", "3"]
    assert coll.queries["3"] == "title only query"


def test_collection_with_matching_ids_and_names_by_size(write) -> None:
    write("med/big", DOCS)
    write("med/small", ".I 1\n.W\nwing\n.I 2\n.W\nflow\n")
    qrels = write("med/judgements", "1 0 1 1\n2 0 3 1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coll = read_text_collection(qrels.parent)
    assert len(coll.corpus) == 3 and dict(coll.queries) == {"1": "wing", "2": "flow"}
    assert coll.get_qrels("test").to_dict() == {"1": {"1": 1}, "2": {"3": 1}}


def test_collection_missing_queries(write, tmp_path: Path) -> None:
    write("x/cran.all.1400", DOCS)
    with pytest.raises(DatasetNotFoundError, match="no SMART queries found"):
        read_smart_collection(tmp_path / "x")


@pytest.mark.data
def test_cranfield(shared_data: Path) -> None:
    folder = shared_data / "classic" / "cranfield"
    with pytest.warns(DataWarning) as rec:
        coll = read_text_collection(folder)
    assert len(rec) == 2  # grades mapped, queries renumbered
    assert (len(coll.corpus), len(coll.queries)) == (1400, 225)
    qrels = coll.get_qrels("test")
    assert (len(qrels), qrels.n_judgements) == (225, 1837)
    assert list(coll.queries)[:3] == ["1", "2", "3"]
    assert coll.queries["3"].startswith("what problems of heat conduction in composite slabs")
    assert qrels["1"]["184"] == 3 and qrels["1"]["486"] == 0
    assert coll.corpus["471"].text == "" and coll.corpus["1"].title.startswith("experimental investigation")


def test_collection_with_byte_order_marks(write) -> None:
    bom = "\ufeff"
    write("med/MED.ALL", bom + ".I 1\n.W\nwing lift\n.I 2\n.W\nflow\n")
    write("med/MED.QRY", bom + ".I 1\n.W\nwing\n")
    qrels = write("med/MED.REL", bom + "1 0 1 1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coll = read_text_collection(qrels.parent)
    assert coll.corpus.docnos == ["1", "2"]
    assert dict(coll.queries) == {"1": "wing"}
    assert coll.get_qrels("test").to_dict() == {"1": {"1": 1}}
