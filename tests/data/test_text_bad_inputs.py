"""Bad inputs to the text-collection readers: each must name the file, the 1-based line and the problem.

Two tables: errors (``path:line: problem``, exactly) and warnings (one DataWarning, exactly worded).
Table rows stay on one line each, so long lines are allowed here.
"""

# ruff: noqa: E501

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

from distillrank.data.formats.beir import read_beir, read_beir_corpus, read_beir_qrels, read_beir_queries
from distillrank.data.formats.smart import read_smart_docs, read_smart_queries
from distillrank.data.formats.sniff import read_qrels_file
from distillrank.data.formats.trec import (
    read_trec_collection,
    read_trec_docs,
    read_trec_qrels,
    read_trec_run,
    read_trec_topics,
)
from distillrank.errors import DataFormatError, DataWarning

H = "query-id\tcorpus-id\tscore\n"
DOC = '{"_id": "%s", "title": "", "text": "x"}\n'
QUERY = '{"_id": "%s", "text": "q"}\n'
TOP = "<top>\n<num>%s</num><title>\n%s\n</title>\n</top>\n"

# (reader, file name, content, line, problem)
ERRORS: list[tuple[Callable[..., Any], str, str, int | None, str]] = [
    # BEIR JSON lines
    (read_beir_corpus, "corpus.jsonl", DOC % 1 + '{"_id": "2", "text": \n', 2, "invalid JSON; each line must hold one JSON object"),
    (read_beir_corpus, "corpus.jsonl.gz", DOC % 1 + "\n" + "{oops}\n", 3, "invalid JSON; each line must hold one JSON object"),
    (read_beir_corpus, "corpus.jsonl", '["d1", "x"]\n', 1, "expected a JSON object, found list"),
    (read_beir_corpus, "corpus.jsonl", DOC % 1 + '{"title": "t", "text": "x"}\n', 2, 'missing "_id"'),
    (read_beir_corpus, "corpus.jsonl", '{"_id": "1", "title": "t"}\n', 1, 'missing "text"'),
    (read_beir_corpus, "corpus.jsonl", DOC % 1 + '{"_id": "", "text": "x"}\n', 2, 'empty "_id"'),
    (read_beir_corpus, "corpus.jsonl", '{"_id": null, "text": "x"}\n', 1, 'empty "_id"'),
    (read_beir_queries, "queries.jsonl", '{"_id": " ", "text": "q"}\n', 1, 'empty "_id"'),
    (read_beir_corpus, "corpus.jsonl", DOC % 1 + DOC % 2 + DOC % 1, 3, "duplicate document id '1' (first on line 1)"),
    (read_beir_queries, "queries.jsonl", QUERY % 7 + QUERY % 8 + QUERY % 7, 3, "duplicate query id '7' (first on line 1)"),
    (read_beir_queries, "queries.jsonl", '{"text": "q"}\n', 1, 'missing "_id"'),
    # BEIR qrels TSV
    (read_beir_qrels, "test.tsv", H + "q1\td1\t1\nq1\td2\n", 3, "expected 3 columns (tab-separated query-id corpus-id score), found 2"),
    (read_beir_qrels, "test.tsv", H + "q1\td1\thigh\n", 2, "relevance 'high' is not an integer"),
    (read_beir_qrels, "test.tsv", H + "q1\td1\t0.5\n", 2, "relevance '0.5' is not an integer"),
    # TREC qrels
    (read_trec_qrels, "qrels", "1 0 d1 1\n1 0 d2\n", 2, "expected 4 columns (qid iter docno rel), found 3"),
    (read_trec_qrels, "qrels.gz", "1 0 d1 yes\n", 1, "relevance 'yes' is not an integer"),
    (read_trec_qrels, "qrels", "1 0 d1 1\n\n1 0 d1 0\n", 3, "query '1', document 'd1' judged twice (also on line 1)"),
    (read_qrels_file, "qrels", "1 0 d1 1 x\n", 1, "not a qrels line: found 5 columns; expected 'qid iter docno rel', 'qid docno rel' or a BEIR TSV with header 'query-id corpus-id score'"),
    (read_qrels_file, "qrels", "1 d1 2\n1 d2 -1 x\n", 2, "expected 3 columns (qid docno rel), found 4"),
    # TREC documents
    (read_trec_docs, "docs.trec", "<DOC>\n<DOCNO>1</DOCNO>\n</DOC>\n<DOC>\n<DOCNO> 1 </DOCNO>\n</DOC>\n", 4, "duplicate document id '1' (first on line 1)"),
    (read_trec_docs, "docs.trec", "<DOC>\n<DOCNO>1</DOCNO>\n</DOC>\n<DOC>\n<TEXT>x</TEXT>\n</DOC>\n", 4, "<DOC> has no <DOCNO>"),
    (read_trec_docs, "docs.trec", "<DOC>\n<DOCNO>1</DOCNO>\n</DOC>\n<DOC>\n<DOCNO>2</DOCNO>\n", 4, "<DOC> has no closing </DOC>"),
    (read_trec_docs, "docs.trec", "<DOC>\n<DOCNO>1</DOCNO>\n<DOC>\n<DOCNO>2</DOCNO>\n</DOC>\n", 3, "<DOC> inside the <DOC> opened on line 1"),
    (read_trec_docs, "docs.trec", "<DOC><DOCNO>1</DOCNO></DOC>\n</DOC>\n", 2, "</DOC> without a matching <DOC>"),
    (read_trec_docs, "docs.trec", "<DOC><DOCNO> </DOCNO>x</DOC>\n", 1, "empty <DOCNO>"),
    # TREC topics
    (read_trec_topics, "topics", TOP % (1, "a") + TOP % (1, "b"), 6, "duplicate query id '1' (first on line 1)"),
    (read_trec_topics, "topics", "<top>\n<title> no number\n</top>\n", 1, "topic has no <num>"),
    (read_trec_topics, "topics", "<top>\n<num> Number: 301\n<desc> Description: d\n</top>\n", 1, "topic '301' has no <title>"),
    (read_trec_topics, "topics.tsv", "1\tfirst\n2 second\n", 2, "expected <top> topics or 'qid<TAB>text' lines"),
    (read_trec_topics, "topics.tsv", "1\tfirst\n1\tagain\n", 2, "duplicate query id '1' (first on line 1)"),
    # SMART
    (read_smart_docs, "cran.all", ".I 1\n.W\na\n.I 2\n.W\nb\n.I 1\n.W\nc\n", 7, "duplicate document id '1' (first on line 1)"),
    (read_smart_docs, "cran.all", "stray text\n.I 1\n.W\na\n", 1, "expected '.I <id>' to start a record"),
    (read_smart_docs, "cran.all", "\n.W\na\n", 2, "field .W before the first '.I <id>'"),
    (read_smart_docs, "cran.all", ".I 1\n.W\na\n.I\n.W\nb\n", 4, ".I has no id"),
    (read_smart_docs, "cran.all", ".I 1\nno marker\n", 2, "text before any field marker (.T, .W, ...)"),
    (read_smart_queries, "cran.qry", ".I 001\n.W\na\n.I 002\n.W\n\n.I 003\n.W\nc\n", 4, "query '002' has empty text"),
    (read_smart_queries, "cran.qry", ".I 001\n.W\na\n.I 001\n.W\nb\n", 4, "duplicate query id '001' (first on line 1)"),
    # TREC runs
    (read_trec_run, "run", "1 Q0 d1 1 2.5 t\n1 Q0 d2 2 nan t\n", 2, "score 'nan' is not finite"),
    (read_trec_run, "run", "1 Q0 d1 1 -inf t\n", 1, "score '-inf' is not finite"),
    (read_trec_run, "run.gz", "1 Q0 d1 1 high t\n", 1, "score 'high' is not a number"),
    (read_trec_run, "run", "1 Q0 d1 1 3 t\n1 Q0 d2 2 2 t\n1 Q0 d1 3 1 t\n", 3, "query '1': document 'd1' appears twice (also on line 1)"),
    (read_trec_run, "run", "1 Q0 d1 1 3 t\n2 Q0 d1 1 3 t\n1 Q0 d2 1 2 t\n", 3, "query '1': rank 1 given twice (also on line 1)"),
    (read_trec_run, "run", "1 Q0 d1 1.5 3 t\n", 1, "rank '1.5' is not an integer"),
    (read_trec_run, "run", "1 Q0 d1 1 3\n", 1, "expected 6 columns (qid Q0 docno rank score tag), found 5"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("reader", "name", "content", "line", "problem"),
    ERRORS,
    ids=[f"{i:02d}-{case[0].__name__}" for i, case in enumerate(ERRORS)],
)
def test_error_names_file_line_and_problem(
    write, reader: Callable[..., Any], name: str, content: str, line: int | None, problem: str
) -> None:
    path = write(name, content)
    with pytest.raises(DataFormatError) as e:
        reader(path)
    assert str(e.value) == f"{path}:{line}: {problem}"
    assert (e.value.path, e.value.line, e.value.problem) == (str(path), line, problem)


BEIR_CORPUS = DOC % "d1" + DOC % "d2"
BEIR_QUERIES = QUERY % "q1" + QUERY % "q2"
TREC_DOCS = "<DOC><DOCNO>d1</DOCNO>x</DOC>\n<DOC><DOCNO>d2</DOCNO>y</DOC>\n"
TREC_TOPICS = TOP % ("q1", "a") + TOP % ("q2", "b")

# (reader, files, the qrels file the warning names, message after "path: ")
WARNINGS: list[tuple[Callable[..., Any], dict[str, str], str, str]] = [
    (
        read_beir,
        {"corpus.jsonl": BEIR_CORPUS, "queries.jsonl": BEIR_QUERIES, "qrels/test.tsv": H + "q1\td1\t1\nq1\tx\t1\nq2\tx\t1\nq2\ty\t0\n"},
        "qrels/test.tsv",
        "3 judgements name 2 documents not in the corpus; they count as unretrieved",
    ),
    (
        read_beir,
        {"corpus.jsonl": BEIR_CORPUS, "queries.jsonl": BEIR_QUERIES, "qrels/dev.tsv": H + "q1\td1\t1\nq3\td1\t1\n"},
        "qrels/dev.tsv",
        "1 judged query not in the queries ('q3'); their judgements are dropped",
    ),
    (
        read_trec_collection,
        {"docs.trec": TREC_DOCS, "topics.trec": TREC_TOPICS, "qrels": "q1 0 d1 1\nq2 0 d9 1\n"},
        "qrels",
        "1 judgement names 1 document not in the corpus; they count as unretrieved",
    ),
    (
        read_trec_collection,
        {"docs.trec": TREC_DOCS, "topics.trec": TREC_TOPICS, "qrels": "q1 0 d1 1\nq7 0 d1 1\nq8 0 d2 1\n"},
        "qrels",
        "2 judged queries not in the queries ('q7', 'q8'); their judgements are dropped",
    ),
    (
        read_trec_qrels,
        {"qrels": "1 0 d1 1\n1 0 d1 1\n"},
        "qrels",
        "1 judgement repeated with the same label; kept once",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("reader", "files", "source", "message"), WARNINGS)
def test_warning_is_single_and_exact(
    write, tmp_path, reader: Callable[..., Any], files: dict[str, str], source: str, message: str
) -> None:
    for name, content in files.items():
        write(f"coll/{name}", content)
    target = tmp_path / "coll" / (source if reader is read_trec_qrels else "")
    with pytest.warns(DataWarning) as rec:
        reader(target)
    assert [str(w.message) for w in rec] == [f"{tmp_path / 'coll' / source}: {message}"]


def test_tied_scores_with_distinct_ranks_are_not_an_error(write) -> None:
    path = write("run", "1 Q0 d1 1 0.5 t\n1 Q0 d2 2 0.5 t\n1 Q0 d3 3 0.5 t\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = read_trec_run(path)
    assert [d for d, _ in run.ranked("1")] == ["d3", "d2", "d1"]  # trec_eval's order: docno descending


@pytest.mark.parametrize(
    ("reader", "name", "content", "line"),
    [
        (read_beir_queries, "queries.jsonl", QUERY % 7 + '{"_id": "8", "text": "  "}\n' + QUERY % 9, 2),
        (read_trec_topics, "topics", TOP % (7, "a") + TOP % (8, " ") + TOP % (9, "c"), 6),
        (read_trec_topics, "topics.tsv", "7\tfirst\n8\t \n9\tthird\n", 2),
        (
            read_trec_topics,
            "topics.xml",
            '<topic number="7"><title>a</title></topic>\n<topic number="8"><title> </title></topic>\n<topic number="9"><title>c</title></topic>\n',
            2,
        ),
    ],
)
def test_a_query_with_empty_text_is_left_out_with_a_warning(
    write, reader: Callable[..., Any], name: str, content: str, line: int
) -> None:
    """One blank query (often of a split nobody runs) must not make a whole collection unreadable."""
    path = write(name, content)
    with pytest.warns(DataWarning) as caught:
        queries = reader(path)
    assert list(queries) == ["7", "9"]
    (warning,) = caught
    assert (
        str(warning.message)
        == f"{path}: 1 query with empty text left out: '8' (line {line}); judgements of them are dropped"
    )


def test_an_empty_query_still_counts_for_duplicate_ids(write) -> None:
    path = write("queries.jsonl", '{"_id": "8", "text": ""}\n' + QUERY % 8)
    with pytest.raises(DataFormatError, match=r":2: duplicate query id '8' \(first on line 1\)$"):
        read_beir_queries(path)
