"""BEIR folders: corpus.jsonl(.gz), queries.jsonl, qrels/<split>.tsv."""

from __future__ import annotations

import codecs
import time
import warnings
from pathlib import Path

import pytest

from distillrank.data.formats.beir import read_beir, read_beir_corpus, read_beir_qrels, write_beir
from distillrank.data.formats.sniff import (
    detect_text_format,
    read_qrels_file,
    read_text_collection,
    sniff_file,
)
from distillrank.errors import DataFormatError, DatasetNotFoundError, DataWarning

CORPUS = (
    '{"_id": "d1", "title": "First", "text": "alpha beta"}\n'
    '{"_id": "d2", "text": "gamma"}\n'
    "\n"
    '{"_id": 3, "title": null, "text": "delta", "metadata": {}}\n'
)
QUERIES = (
    '{"_id": "q1", "text": "alpha?"}\n{"_id": "q2", "text": "gamma"}\n{"_id": "q3", "text": "unjudged"}\n'
)
HEADER = "query-id\tcorpus-id\tscore\n"


def _beir(write, corpus_name: str = "corpus.jsonl", test: str = "q1\td1\t1\n") -> Path:
    write(f"scifoo/{corpus_name}", CORPUS)
    write("scifoo/queries.jsonl", QUERIES)
    write("scifoo/qrels/train.tsv", HEADER + "q2\td2\t1\nq2\t3\t2\n")
    return write("scifoo/qrels/test.tsv", HEADER + test).parent.parent


def test_read_beir(write) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coll = read_beir(_beir(write))
    assert coll.name == "scifoo"
    assert coll.corpus.docnos == ["d1", "d2", "3"]
    assert (coll.corpus["d1"].title, coll.corpus["d2"].title, coll.corpus["3"].title) == ("First", "", "")
    assert coll.corpus["3"].text == "delta"
    assert list(coll.queries) == ["q1", "q2", "q3"]  # every query of the file
    assert coll.splits == ["test", "train"]
    assert dict(coll.queries_for("test")) == {"q1": "alpha?"}
    assert coll.get_qrels("train").to_dict() == {"q2": {"d2": 1, "3": 2}}


def test_gzip_corpus_and_dispatch(write) -> None:
    folder = _beir(write, corpus_name="corpus.jsonl.gz")
    assert detect_text_format(folder) == "beir"
    coll = read_text_collection(folder, name="foo")
    assert coll.name == "foo"
    assert len(coll.corpus) == 3


def test_unknown_documents_warn_once_and_are_kept(write) -> None:
    folder = _beir(write, test="q1\td1\t1\nq1\tnope\t1\nq2\tnope\t1\nq2\tgone\t1\n")
    with pytest.warns(DataWarning) as rec:
        coll = read_beir(folder)
    assert [str(w.message) for w in rec] == [
        f"{folder / 'qrels' / 'test.tsv'}: 3 judgements name 2 documents not in the corpus; "
        "they count as unretrieved"
    ]
    assert coll.get_qrels("test").n_judgements == 4


def test_judged_queries_missing_from_queries_file_are_dropped(write) -> None:
    folder = _beir(write, test="q1\td1\t1\nq9\td1\t1\nq8\td2\t0\n")
    with pytest.warns(DataWarning) as rec:
        coll = read_beir(folder)
    assert [str(w.message) for w in rec] == [
        f"{folder / 'qrels' / 'test.tsv'}: 2 judged queries not in the queries ('q9', 'q8'); "
        "their judgements are dropped"
    ]
    assert list(coll.get_qrels("test")) == ["q1"]


def test_missing_parts(write, tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="no such folder"):
        read_beir(tmp_path / "nowhere")
    write("nocorpus/queries.jsonl", QUERIES)
    with pytest.raises(DatasetNotFoundError, match=r"no corpus\.jsonl \(or corpus\.jsonl\.gz\)"):
        read_beir(tmp_path / "nocorpus")
    write("noqrels/corpus.jsonl", CORPUS)
    write("noqrels/queries.jsonl", QUERIES)
    with pytest.raises(DatasetNotFoundError, match=r"no qrels/\*\.tsv"):
        read_beir(tmp_path / "noqrels")


def test_write_beir_round_trip(write, tmp_path: Path) -> None:
    coll = read_beir(_beir(write))
    write_beir(coll, tmp_path / "copy")
    back = read_beir(tmp_path / "copy")
    assert back.corpus.to_dataframe().equals(coll.corpus.to_dataframe())
    assert dict(back.queries) == dict(coll.queries)
    assert {s: q.to_dict() for s, q in back.qrels.items()} == {s: q.to_dict() for s, q in coll.qrels.items()}


def test_corpus_alone(write) -> None:
    corpus = read_beir_corpus(write("c.jsonl", CORPUS))
    assert corpus.full_texts() == ["First alpha beta", "gamma", "delta"]


@pytest.mark.data
def test_scifact(shared_data: Path) -> None:
    folder = shared_data / "beir" / "scifact"
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coll = read_beir(folder)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"loading SciFact took {elapsed:.2f} s"
    assert len(coll.corpus) == 5183
    assert len(coll.queries) == 1109
    assert coll.splits == ["test", "train"]
    assert (len(coll.get_qrels("train")), coll.get_qrels("train").n_judgements) == (809, 919)
    assert (len(coll.get_qrels("test")), coll.get_qrels("test").n_judgements) == (300, 339)
    assert len(coll.queries_for("test")) == 300
    assert coll.queries["0"] == "0-dimensional biomaterials lack inductive properties."
    assert coll.corpus["4983"].title.startswith("Microstructural development of human newborn")


def test_utf8_byte_order_marks_are_ignored(write) -> None:
    """Files saved by Windows editors start with a UTF-8 BOM; it is not part of the first id."""
    bom = "\ufeff"
    write("bom/corpus.jsonl", bom + CORPUS)
    write("bom/queries.jsonl", bom + QUERIES)
    write("bom/qrels/train.tsv", bom + HEADER + "q2\td2\t1\n")
    folder = write("bom/qrels/test.tsv", bom + "q1\td1\t1\n").parent.parent  # no header
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coll = read_text_collection(folder)
    assert coll.corpus.docnos == ["d1", "d2", "3"]
    assert list(coll.queries) == ["q1", "q2", "q3"]
    assert coll.get_qrels("test").to_dict() == {"q1": {"d1": 1}}
    assert coll.get_qrels("train").to_dict() == {"q2": {"d2": 1}}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_json_lines_with_a_byte_order_mark_are_read(write, encoding: str) -> None:
    """As the README says of every text file: UTF-16/32 with their byte order mark."""
    folder = write("wide/qrels/test.tsv", "q1\td1\t1\n").parent.parent
    for name, text in (("corpus.jsonl", CORPUS), ("queries.jsonl", QUERIES)):
        data = text.replace("\n", "\r\n").encode(encoding)
        (folder / name).write_bytes(data if encoding != "utf-16-be" else codecs.BOM_UTF16_BE + data)
    coll = read_text_collection(folder)
    assert coll.corpus.docnos == ["d1", "d2", "3"] and list(coll.queries) == ["q1", "q2", "q3"]
    (folder / "queries.jsonl").write_bytes(codecs.BOM_UTF16_LE + QUERIES.encode("utf-16-le")[:-1])  # cut
    with pytest.raises(
        DataFormatError, match=r"queries.jsonl:\d+: not UTF-16 text after its byte order mark"
    ):
        read_text_collection(folder)


def test_a_line_that_is_not_utf8_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(b'{"_id": "1", "text": "x"}\n{"_id": "2", "text": "caf\xe9"}\n')  # Latin-1 e-acute
    with pytest.raises(DataFormatError) as err:
        read_beir_corpus(path)
    assert str(err.value) == (
        f"{path}:2: not UTF-8 text (byte 0xe9 at column 26); JSON lines must be UTF-8 (or UTF-16/32 with a "
        "byte order mark)"
    )


def test_gzipped_qrels_are_a_split_too(write) -> None:
    """``gzip -r`` on a BEIR folder compresses the qrels as well; a split must not vanish silently."""
    write("gz/corpus.jsonl.gz", CORPUS)
    write("gz/queries.jsonl.gz", QUERIES)
    write("gz/qrels/train.tsv", HEADER + "q2\td2\t1\n")
    folder = write("gz/qrels/test.tsv.gz", HEADER + "q1\td1\t1\n").parent.parent
    coll = read_beir(folder)
    assert sorted(coll.splits) == ["test", "train"]
    assert coll.get_qrels("test").to_dict() == {"q1": {"d1": 1}}
    write("gz/qrels/test.tsv", HEADER + "q1\td1\t1\n")
    with pytest.raises(
        DataFormatError, match=r"more than one file for split 'test': test\.tsv, test\.tsv\.gz"
    ):
        read_beir(folder)


def test_a_folder_of_beir_folders_names_them(write, tmp_path: Path) -> None:
    for sub in ("android", "english"):  # CQADupStack's layout, or a folder of downloaded BEIR datasets
        write(f"cqadupstack/{sub}/corpus.jsonl", CORPUS)
    with pytest.raises(DataFormatError) as e:
        read_text_collection(tmp_path / "cqadupstack")
    assert "holds 2 BEIR collection folder(s) (android, english); pass one of them" in str(e.value)


@pytest.mark.parametrize(
    "qrels",
    [
        "q1\td1\t1\nq2\td2\t2\n",  # no header
        "q1\td 1\t1\nq2\td2\t2\n",  # no header, an id with a space
        "query-id corpus-id score\nq1 d1 1\nq2 d2 2\n",  # separated by spaces
        "q1 0 d1 1\nq2 0 d2 2\n",  # TREC lines
        "q1\t0\td1\t1\nq2\tQ0\td2\t2\n",  # TREC lines separated by tabs
    ],
)
def test_qrels_tsv_in_other_layouts(write, qrels: str) -> None:
    write("other/corpus.jsonl", CORPUS)
    write("other/queries.jsonl", QUERIES)
    coll = read_beir(write("other/qrels/test.tsv", qrels).parent.parent)
    d1 = "d 1" if "d 1" in qrels else "d1"
    assert coll.get_qrels("test").to_dict() == {"q1": {d1: 1}, "q2": {"d2": 2}}


def test_pyserini_json_keys_are_read_as_beir_ones(tmp_path: Path) -> None:
    from distillrank.data.formats.beir import read_beir_corpus, read_beir_queries

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"id": "d1", "contents": "text one"}\n{"_id": "d2", "title": "T", "text": "two"}\n')
    c = read_beir_corpus(corpus)
    assert list(c.docnos) == ["d1", "d2"] and list(c.texts) == ["text one", "two"]
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"query_id": "q1", "text": "a question"}\n')
    assert dict(read_beir_queries(queries)) == {"q1": "a question"}
    (tmp_path / "bad.jsonl").write_text('{"title": "t", "text": "x"}\n')
    with pytest.raises(DataFormatError, match=r'bad.jsonl:1: missing "_id"'):
        read_beir_corpus(tmp_path / "bad.jsonl")
    (tmp_path / "empty.jsonl").write_text('{"id": "d1", "contents": "x"}\n{"id": " ", "contents": "y"}\n')
    with pytest.raises(DataFormatError, match=r'empty.jsonl:2: empty "id"'):
        read_beir_corpus(tmp_path / "empty.jsonl")


@pytest.mark.parametrize(
    "qrels",
    [
        HEADER + "q1\td1\t1\t\nq2\td2\t2\n",  # a trailing tab on one line
        HEADER.replace("\n", "\t\n") + "q1\td1\t1\t\nq2\td2\t2\t\n",  # on every line, the header too
        HEADER + "q1\td1\t1  \nq2\td2\t2 \t \n",  # trailing spaces (and a tab between them)
        "q1\td 1\t1\t\r\nq2\td2\t2\t\r\n",  # no header, an id with a space, CRLF line ends
    ],
)
def test_qrels_lines_with_trailing_whitespace_are_read(write, qrels: str) -> None:
    write("trail/corpus.jsonl", CORPUS)
    write("trail/queries.jsonl", QUERIES)
    path = write("trail/qrels/test.tsv", qrels)
    d1 = "d 1" if "d 1" in qrels else "d1"
    expected = {"q1": {d1: 1}, "q2": {"d2": 2}}
    assert read_beir_qrels(path).to_dict() == expected
    assert sniff_file(path) == "qrels"  # (how TREC and MS MARCO folders find their qrels files)
    if d1 == "d1":  # (sniffed without a header, an id with a space reads as a TREC line, with or without)
        assert read_qrels_file(path).to_dict() == expected  # as in TREC and MS MARCO folders
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # ("d 1" is not in the corpus)
        assert read_beir(path.parent.parent).get_qrels("test").to_dict() == expected


@pytest.mark.parametrize(
    ("qrels", "line", "problem"),
    [
        (
            "q1\td1\t1\t\nq1\td2\t1\tx\n",
            2,
            "expected 3 columns (tab-separated query-id corpus-id score), found 4",
        ),
        ("q1\td1\t1\t\nq1\td2\n", 2, "expected 3 columns (tab-separated query-id corpus-id score), found 2"),
        (
            "q1\td1\t1\t\nq1\td2\t\t\n",
            2,
            "expected 3 columns (tab-separated query-id corpus-id score), found 2",
        ),
        ("q1\td1\t1\t\nq1\td2\thigh\t\n", 2, "relevance 'high' is not an integer"),
    ],
)
def test_qrels_lines_still_malformed_without_their_trailing_whitespace(
    write, qrels: str, line: int, problem: str
) -> None:
    path = write("qrels/test.tsv", HEADER + qrels)
    with pytest.raises(DataFormatError) as e:
        read_beir_qrels(path)
    assert str(e.value) == f"{path}:{line + 1}: {problem}"
