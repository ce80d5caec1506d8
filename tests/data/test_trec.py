"""TREC documents, topics, qrels, runs and folders; and format sniffing."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from distillrank.data.catalogue import load_dataset
from distillrank.data.collection import Qrels
from distillrank.data.formats.sniff import (
    detect_text_format,
    qrels_layout,
    read_qrels_file,
    read_text_collection,
    sniff_file,
)
from distillrank.data.formats.trec import (
    check_query_field,
    read_trec_collection,
    read_trec_docs,
    read_trec_qrels,
    read_trec_run,
    read_trec_topics,
    write_trec_qrels,
    write_trec_run,
)
from distillrank.data.run import Run
from distillrank.errors import DataFormatError, DatasetNotFoundError, DataWarning, DistillrankError

DOCS = """<DOC>
<DOCNO> FT911-1 </DOCNO>
<PROFILE>_AN-BEOA7AAIFT</PROFILE>
<HEADLINE>FT  14 MAY 91 / Airbus
subsidies</HEADLINE>
<TEXT>
Airbus <B>Industrie</B> said
on Monday...
</TEXT>
</DOC>
<DOC>
<DOCNO>2</DOCNO>
an electronic analogue computer for solving
systems of linear equations
</DOC>
<DOC><DOCNO>3</DOCNO><TITLE>Short</TITLE>one line</DOC>
"""

CLOSED_TOPICS = """<top>
<num>1</num><title>
MEASUREMENT OF DIELECTRIC CONSTANT
</title>
</top>
<top>
<num>2</num><title>
WAVEGUIDE FED MICROWAVE
</title>
</top>
"""

CLASSIC_TOPICS = """<top>
<head> Tipster Topic Description
<num> Number: 051
<dom> Domain: International Economics
<title> Topic:  Airbus Subsidies

<desc> Description:
Document will discuss government
assistance to Airbus Industrie.

<narr> Narrative:
To be relevant, a document must cite assistance.
</top>

<top>
<num> Number: 301
<title> International Organized Crime

<desc> Description:
Identify organizations that participate in international criminal activity.

<narr> Narrative:
A relevant document must as a minimum identify the organization.

</top>
"""


def test_docs_title_text_and_remainder(write) -> None:
    corpus = read_trec_docs(write("docs.trec", DOCS))
    assert corpus.docnos == ["FT911-1", "2", "3"]
    assert corpus["FT911-1"].title == "FT 14 MAY 91 / Airbus subsidies"
    assert corpus["FT911-1"].text == "Airbus Industrie said on Monday..."
    assert corpus["2"].title == ""
    assert corpus["2"].text == "an electronic analogue computer for solving systems of linear equations"
    assert (corpus["3"].title, corpus["3"].text) == ("Short", "one line")


def test_docs_from_several_files_and_gzip(write) -> None:
    a = write("a.trec.gz", "<DOC>\n<DOCNO>a1</DOCNO>\n<TEXT>alpha</TEXT>\n</DOC>\n")
    b = write("b.trec", "<DOC>\n<DOCNO>b1</DOCNO>\nbeta\n</DOC>\n")
    corpus = read_trec_docs([a, b])
    assert corpus.docnos == ["a1", "b1"]
    assert corpus["a1"].text == "alpha"
    assert read_trec_docs(str(a)).docnos == ["a1"]


def test_duplicate_docno_across_files_names_both(write) -> None:
    a = write("a.trec", "<DOC><DOCNO>x</DOCNO>1</DOC>\n")
    b = write("b.trec", "\n<DOC><DOCNO>x</DOCNO>2</DOC>\n")
    with pytest.raises(DataFormatError) as e:
        read_trec_docs([a, b])
    assert str(e.value) == f"{b}:2: duplicate document id 'x' (first on {a}:1)"


def test_closed_topics(write) -> None:
    queries = read_trec_topics(write("query-text.trec", CLOSED_TOPICS))
    assert dict(queries) == {"1": "MEASUREMENT OF DIELECTRIC CONSTANT", "2": "WAVEGUIDE FED MICROWAVE"}


def test_classic_unclosed_topics(write) -> None:
    path = write("topics.301.gz", CLASSIC_TOPICS)
    assert dict(read_trec_topics(path)) == {"051": "Airbus Subsidies", "301": "International Organized Crime"}
    desc = read_trec_topics(path, field="desc")
    assert desc["051"] == "Document will discuss government assistance to Airbus Industrie."
    both = read_trec_topics(path, field="title+desc")
    assert both["301"].startswith("International Organized Crime Identify organizations")
    assert read_trec_topics(path, field="narr")["301"].startswith("A relevant document must")


def test_missing_topic_field_is_an_error(write) -> None:
    path = write("t.trec", CLOSED_TOPICS)
    with pytest.raises(DataFormatError, match=r"t.trec:1: topic '1' has no <desc>"):
        read_trec_topics(path, field="desc")


def test_tsv_topics(write) -> None:
    queries = read_trec_topics(write("topics.tsv", "q1\tfirst query\n\nq2\tsecond\tquery\n"))
    assert dict(queries) == {"q1": "first query", "q2": "second query"}


def test_qrels_read_write_round_trip(write, tmp_path: Path) -> None:
    qrels = read_trec_qrels(write("qrels", "1 0 d1 1\n1 0 d2 0\n\n2 Q0 d1 2\n"))
    assert qrels.to_dict() == {"1": {"d1": 1, "d2": 0}, "2": {"d1": 2}}
    out = tmp_path / "out" / "qrels.txt"
    write_trec_qrels(qrels, out)
    assert out.read_text() == "1 0 d1 1\n1 0 d2 0\n2 0 d1 2\n"
    assert read_trec_qrels(out).to_dict() == qrels.to_dict()
    qrels.save(tmp_path / "saved")
    assert Qrels.from_file(tmp_path / "saved").to_dict() == qrels.to_dict()


def test_qrels_repeated_judgement_warns_once(write) -> None:
    with pytest.warns(DataWarning, match="2 judgements repeated with the same label; kept once"):
        qrels = read_trec_qrels(write("qrels", "1 0 d1 1\n1 0 d1 1\n1 0 d1 1\n"))
    assert qrels.to_dict() == {"1": {"d1": 1}}


def test_run_round_trip(tmp_path: Path) -> None:
    run = Run({"q1": {"a": 0.5, "b": 2.25, "c": 1 / 3}, "q2": {"z": -1.0}}, name="bm25")
    path = tmp_path / "run.txt"
    write_trec_run(run, path, tag="bm25")
    lines = path.read_text().splitlines()
    assert lines[0] == "q1 Q0 b 1 2.25 bm25"
    assert [line.split()[3] for line in lines[:3]] == ["1", "2", "3"]
    back = read_trec_run(path)
    assert back.name == "bm25"
    assert back.to_dict() == run.to_dict()  # full precision, including 1/3
    run.save(tmp_path / "saved.run", tag="other")
    assert Run.from_file(tmp_path / "saved.run", name="mine").name == "mine"
    assert Run.from_file(tmp_path / "saved.run").name == "other"


def test_run_tied_scores_are_ranked_by_descending_docno(tmp_path: Path) -> None:
    path = tmp_path / "run"
    write_trec_run(Run({"q": {"d1": 1.0, "d3": 1.0, "d2": 1.0}}), path, tag="t")
    assert [line.split()[2] for line in path.read_text().splitlines()] == ["d3", "d2", "d1"]


def test_run_tied_scores_with_distinct_ranks_are_legal(write) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = read_trec_run(write("run", "1 Q0 a 1 3.0 t\n1 Q0 b 2 3.0 t\n1 Q0 c 3 1 t\n"))
    assert run["1"] == {"a": 3.0, "b": 3.0, "c": 1.0}


def test_run_tag_with_space_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no whitespace"):
        write_trec_run(Run({"q": {"d": 1.0}}), tmp_path / "r", tag="my run")
    assert not (tmp_path / "r").exists()


def _vaswani_like(write) -> Path:
    write(
        "coll/doc-text.trec",
        "<DOC>\n<DOCNO>1</DOCNO>\nfirst doc\n</DOC>\n<DOC>\n<DOCNO>2</DOCNO>\nsecond\n</DOC>\n",
    )
    write("coll/query-text.trec", CLOSED_TOPICS)
    write("coll/README.md", "<DOC> not a document")
    write("coll/runs/bm25.run", "1 Q0 1 1 2.0 bm25\n")
    return write("coll/qrels", "1 0 1 1\n2 0 2 1\n2 0 9 1\n").parent


def test_trec_collection_found_by_content(write) -> None:
    folder = _vaswani_like(write)
    with pytest.warns(DataWarning) as rec:
        coll = read_trec_collection(folder)
    assert [str(w.message) for w in rec] == [
        f"{folder / 'qrels'}: 1 judgement names 1 document not in the corpus; they count as unretrieved"
    ]
    assert coll.name == "coll"
    assert coll.splits == ["test"]
    assert len(coll.corpus) == 2 and len(coll.queries) == 2
    assert coll.get_qrels("test").n_judgements == 3
    assert detect_text_format(folder) == "trec"
    with pytest.warns(DataWarning):
        assert read_text_collection(folder, name="v").name == "v"


def test_trec_collection_aligns_zero_padded_topic_numbers(write) -> None:
    write("c/docs.gz", "<DOC><DOCNO>D1</DOCNO>x</DOC>\n")
    write("c/topics.txt", CLASSIC_TOPICS)
    qrels = write("c/qrels.txt", "51 0 D1 1\n301 0 D1 0\n")
    coll = read_trec_collection(qrels.parent, field="desc")
    assert list(coll.queries) == ["51", "301"]
    assert coll.queries_for("test")["51"].startswith("Document will discuss")


def test_trec_collection_missing_parts(write, tmp_path: Path) -> None:
    write("only/doc.trec", "<DOC><DOCNO>1</DOCNO>x</DOC>\n")
    with pytest.raises(DatasetNotFoundError, match=r"no topics"):
        read_trec_collection(tmp_path / "only")
    with pytest.raises(DatasetNotFoundError, match="no such folder"):
        read_trec_collection(tmp_path / "nowhere")


def test_sniff_file_kinds(write) -> None:
    assert sniff_file(write("a", DOCS)) == "trec-docs"
    assert sniff_file(write("b", CLASSIC_TOPICS)) == "trec-topics"
    assert sniff_file(write("c", ".I 1\n.W\ntext\n")) == "smart"
    assert sniff_file(write("d.gz", '{"_id": "1"}\n')) == "jsonl"
    assert sniff_file(write("e", "1 0 d 1\n")) == "qrels"
    assert sniff_file(write("f", "query-id\tcorpus-id\tscore\n1\td\t1\n")) == "qrels"
    assert sniff_file(write("g", "1 Q0 d 1 0.5 tag\n")) == "run"
    assert sniff_file(write("h", "1\tsome words 2\n")) == "tsv-topics"
    assert sniff_file(write("i", "hello world\n")) is None
    assert sniff_file(write("j", "")) is None


@pytest.mark.parametrize(
    ("content", "layout", "expected"),
    [
        ("query-id\tcorpus-id\tscore\nq1\td1\t2\n", "beir", {"q1": {"d1": 2}}),
        ("1 0 d1 1\n1 0 d2 0\n", "trec", {"1": {"d1": 1, "d2": 0}}),
        ("1 d1 2\n1 d2 -1\n", "triple", {"1": {"d1": 2, "d2": -1}}),
        ("1 28 0 0.000000\n1 35 0 0.000000\n", "cisi", {"1": {"28": 1, "35": 1}}),
        ("01 1410  0 0\n01 1572  0 0\n", "cisi", {"01": {"1410": 1, "1572": 1}}),
    ],
)
def test_read_qrels_file_sniffs_the_layout(write, content: str, layout: str, expected: dict) -> None:
    path = write("qrels", content)
    assert qrels_layout(path) == layout
    assert read_qrels_file(path).to_dict() == expected


def test_detect_text_format_errors(write, tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="no such file or folder"):
        detect_text_format(tmp_path / "missing")
    write("empty/notes.txt", "nothing here\n")
    with pytest.raises(DataFormatError, match=r"no text collection found: expected corpus\.jsonl"):
        detect_text_format(tmp_path / "empty")
    write("both/a.trec", DOCS)
    write("both/b.all", ".I 1\n.W\nx\n")
    with pytest.raises(DataFormatError, match="holds both TREC"):
        detect_text_format(tmp_path / "both")
    assert detect_text_format(tmp_path / "both" / "a.trec") == "trec"
    with pytest.raises(DataFormatError, match="a TREC file alone is not a collection"):
        read_text_collection(tmp_path / "both" / "a.trec")
    with pytest.raises(DataFormatError, match="not a BEIR"):
        detect_text_format(tmp_path / "empty" / "notes.txt")


@pytest.mark.data
def test_vaswani(shared_data: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coll = read_text_collection(shared_data / "classic" / "vaswani")
    assert (len(coll.corpus), len(coll.queries), coll.get_qrels("test").n_judgements) == (11429, 93, 2083)
    assert len(coll.queries_for("test")) == 93
    assert (
        coll.queries["1"]
        == "MEASUREMENT OF DIELECTRIC CONSTANT OF LIQUIDS BY THE USE OF MICROWAVE TECHNIQUES"
    )
    assert coll.corpus["1"].text.startswith("compact memories have flexible capacities a digital data")


def test_trec_collection_with_byte_order_marks(write) -> None:
    bom = "\ufeff"
    write("bom/doc-text.trec", bom + "<DOC>\n<DOCNO>1</DOCNO>\nfirst\n</DOC>\n")
    write("bom/query-text.trec", bom + CLOSED_TOPICS)
    folder = write("bom/qrels", bom + "1 0 1 1\n").parent
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coll = read_text_collection(folder)
    assert coll.get_qrels("test").to_dict() == {"1": {"1": 1}}
    assert coll.corpus.docnos == ["1"] and "1" in coll.queries


@pytest.mark.parametrize(
    ("qid", "docno", "problem"),
    [
        ("q 1", "d1", "query id 'q 1'"),
        ("q1", "doc\t1", "document id 'doc\\t1'"),
        ("q1", "", "document id ''"),
    ],
)
def test_ids_a_trec_line_cannot_hold_are_refused(tmp_path: Path, qid: str, docno: str, problem: str) -> None:
    """An id with whitespace would shift the columns: the file would not read back, so it is not written."""
    expected = f"{tmp_path / 'r'}: {problem} is empty or holds whitespace, which a TREC file cannot hold"
    with pytest.raises(DataFormatError) as err:
        write_trec_run(Run({qid: {docno: 1.0}}), tmp_path / "r", tag="t")
    assert str(err.value) == expected
    with pytest.raises(DataFormatError) as err:
        write_trec_qrels(Qrels({qid: {docno: 1}}), tmp_path / "r")
    assert str(err.value) == expected
    assert not (tmp_path / "r").exists()


def test_docs_drop_sgml_comments_and_decode_entities(write) -> None:
    fr94 = (
        "<DOC>\n<DOCNO> FR940104-0-00001 </DOCNO>\n<PARENT> FR940104-0-00001 </PARENT>\n<TEXT>\n"
        "<!-- PJG FTAG 4700 -->\n\n<!-- PJG ITAG l=90 g=1 f=1 -->\n"
        "<USDEPT>Department of Agriculture</USDEPT>\n"
        "<!-- PJG /ITAG -->\nAT&amp;T's co&hyph;op under &sect; 1.2&blank;(a)\n</TEXT>\n</DOC>\n"
    )
    corpus = read_trec_docs(write("fr940104.0", fr94))
    assert corpus["FR940104-0-00001"].text == "Department of Agriculture AT&T's co-op under § 1.2 (a)"


XML_TOPICS = """<topics task="COVIDSearch" batch="5">
  <topic number="1">
    <query>coronavirus origin</query>
    <question>what is the origin of COVID-19</question>
    <narrative>seeking range of information about the SARS-CoV-2 virus's origin</narrative>
  </topic>
  <topic number="2" type="faceted">
    <query>obama family tree</query>
    <description>Find information on President
    Barack Obama's family history.</description>
    <subtopic number="1" type="nav">Find the TIME magazine photo essay.</subtopic>
  </topic>
</topics>
"""


def test_xml_topics_of_trec_covid_and_the_web_track(write) -> None:
    path = write("topics-rnd5.xml", XML_TOPICS)
    assert sniff_file(path) == "trec-topics"
    assert dict(read_trec_topics(path)) == {"1": "coronavirus origin", "2": "obama family tree"}
    desc = read_trec_topics(path, field="desc")
    assert desc["1"] == "what is the origin of COVID-19"
    assert desc["2"] == "Find information on President Barack Obama's family history."
    with pytest.raises(DataFormatError, match=r"topics-rnd5.xml:7: topic '2' has no <narr> or <narrative>"):
        read_trec_topics(path, field="narr")
    ntcir = write("ntcir.xml", "<TOPIC>\n<NUM>0001</NUM>\n<TITLE>digital libraries</TITLE>\n</TOPIC>\n")
    assert dict(read_trec_topics(ntcir)) == {"0001": "digital libraries"}


def test_documents_compressed_by_any_name_are_read_and_unreadable_ones_named(write, tmp_path: Path) -> None:
    import bz2
    import gzip
    import lzma

    write("disks/topics.301", CLASSIC_TOPICS)
    write("disks/qrels.robust", "051 0 FT1 1\n301 0 FR2 1\n301 0 LA3 2\n")
    ft, fr, la = (
        f"<DOC>\n<DOCNO> {d} </DOCNO>\n<TEXT>\nairbus {d}\n</TEXT>\n</DOC>\n" for d in ("FT1", "FR2", "LA3")
    )
    (tmp_path / "disks/ft911_1.bz2").write_bytes(bz2.compress(ft.encode()))
    (tmp_path / "disks/fr940104.0z").write_bytes(gzip.compress(fr.encode()))  # gzip whatever the name
    (tmp_path / "disks/la010189.xz").write_bytes(lzma.compress(la.encode()))
    assert read_trec_collection(tmp_path / "disks").corpus.docnos == ["FR2", "FT1", "LA3"]
    (tmp_path / "disks/cr93e.0z").write_bytes(b"\x1f\x9d\x90<DOC>")  # Unix compress (LZW): not readable
    with pytest.warns(
        DataWarning, match=r"skipped 1 file\(s\) compressed .*: cr93e\.0z \(compress \(\.Z\)\)"
    ):
        read_trec_collection(tmp_path / "disks")


def test_msmarco_run_is_read_by_rank(write) -> None:
    path = write("run.dev.small.tsv", "1048585\t7187158\t1\n1048585\t7187157\t2\n2\t12\t1\n")
    run = read_trec_run(path)
    assert run.name == "run.dev.small"
    assert [d for d, _ in run.ranked("1048585")] == ["7187158", "7187157"]
    with pytest.raises(DataFormatError, match=r"run.tsv:2: expected 3 columns \(qid docno rank \(MS MARCO\)"):
        read_trec_run(write("run.tsv", "1\t7\t1\n1 Q0 8 2 0.5 tag\n"))
    # a third column that is no 1..n ranking is a score (qid docno score), not reversed as ranks
    scored = read_trec_run(write("scores.txt", "q1 d1 10\nq1 d3 7\nq1 d2 5\nq2 d4 3\nq2 d5 9.5\n"))
    assert [d for d, _ in scored.ranked("q1")] == ["d1", "d3", "d2"] and scored["q2"]["d5"] == 9.5


def test_fbis_and_wsj_titles(write) -> None:
    fbis = (
        '<DOC>\n<DOCNO> FBIS3-1 </DOCNO>\n<HT>  "cr00000011094001" </HT>\n<HEADER>\n'
        "<H2>   March Reports </H2>\n<DATE1>  1 March 1994 </DATE1>\nArticle Type:FBIS\n"
        "<H3> <TI>      FBIS Daily Report Highlights </TI></H3>\n"
        "</HEADER>\n<TEXT>\n<F P=102> BK0103102094 </F> Highlights of the report.\n</TEXT>\n</DOC>\n"
        "<DOC>\n<DOCNO> WSJ870324-0001 </DOCNO>\n<HL> John Blair Is Near Accord </HL>\n<TEXT>\nJohn Blair.\n"
        "</TEXT>\n</DOC>\n"
    )
    corpus = read_trec_docs(write("fbis3.1", fbis))
    assert corpus["FBIS3-1"].title == "FBIS Daily Report Highlights"
    assert corpus["FBIS3-1"].text == "BK0103102094 Highlights of the report."
    assert corpus["WSJ870324-0001"].title == "John Blair Is Near Accord"


def test_an_msmarco_run_in_the_folder_is_not_taken_for_qrels(write) -> None:
    folder = _vaswani_like(write)
    ranks = "".join(f"{q}\t{d}\t{r}\n" for q in (1, 2) for r, d in enumerate(range(20, 28), start=1))
    assert sniff_file(write("coll/runs/bm25.tsv", ranks)) == "run"
    assert sniff_file(write("grades", "1 d1 1\n1 d2 2\n1 d3 3\n1 d4 4\n1 d5 5\n2 d1 1\n2 d2 3\n")) == "qrels"
    with pytest.warns(DataWarning):
        assert read_trec_collection(folder).get_qrels("test").n_judgements == 3


def test_trec_qrels_files_named_by_split_make_splits(write) -> None:
    folder = _vaswani_like(write)
    (folder / "qrels").unlink()
    write("coll/qrels/qrels.train.txt", "1 0 1 1\n")
    write("coll/qrels/qrels.test.txt", "2 0 2 1\n")
    coll = read_trec_collection(folder)
    assert coll.splits == ["test", "train"]
    assert (list(coll.get_qrels("train")), list(coll.get_qrels("test"))) == (["1"], ["2"])
    (folder / "qrels" / "qrels.train.txt").rename(folder / "qrels" / "qrels.301-350.txt")
    assert read_trec_collection(folder).splits == ["test"]  # no split in a name: one test split, as before


# ------------------------------------------------------------------------------------------ query field
def _robust_like(write) -> Path:
    """A TREC collection whose topics have title, description and narrative (as Robust04's)."""
    write("robust/docs/ft.trec", "<DOC><DOCNO>FT1</DOCNO><TEXT>airbus aid</TEXT></DOC>\n")
    write("robust/topics.txt", CLASSIC_TOPICS)
    return write("robust/qrels.robust", "051 0 FT1 1\n301 0 FT1 0\n").parent


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("title", "title"),
        ("DESC", "desc"),
        (" Title + desc ", "title+desc"),
        ("narr+title+desc", "narr+title+desc"),
    ],
)
def test_check_query_field_normalises(field: str, expected: str) -> None:
    assert check_query_field(field) == expected


@pytest.mark.parametrize("field", ["description", "", "title+", "title+title", "head", "title desc"])
def test_check_query_field_refuses_what_topics_do_not_have(field: str) -> None:
    message = f"must be title, desc or narr, or several joined with '+' such as title+desc (got {field!r})"
    with pytest.raises(ValueError) as e:
        check_query_field(field)
    assert str(e.value) == message


def test_a_collection_reads_the_query_field_asked_for(write) -> None:
    folder = _robust_like(write)
    assert read_text_collection(folder).queries["051"] == "Airbus Subsidies"
    desc = read_text_collection(folder, query_field="desc").queries
    assert desc["051"] == "Document will discuss government assistance to Airbus Industrie."
    both = load_dataset(folder, query_field="Title+Desc").queries
    assert both["301"] == (
        "International Organized Crime Identify organizations that participate in international "
        "criminal activity."
    )
    assert load_dataset(folder, query_field="narr").queries["051"].startswith("To be relevant")


def test_a_topic_without_the_query_field_names_the_file_and_line(write) -> None:
    folder = _vaswani_like(write)
    with pytest.raises(DataFormatError) as e:
        read_text_collection(folder, query_field="desc")
    assert str(e.value) == f"{folder / 'query-text.trec'}:1: topic '1' has no <desc>"


def test_qid_tab_text_topics_have_no_other_field(write) -> None:
    path = write("topics.tsv", "q1\tfirst query\n")
    assert dict(read_trec_topics(path, field="title")) == {"q1": "first query"}
    with pytest.raises(DataFormatError) as e:
        read_trec_topics(path, field="desc")
    assert str(e.value) == (
        f"{path}: query field 'desc' applies to TREC topics (<top> or <topic> blocks) only; this file "
        "has qid<TAB>text lines, one text per query"
    )


def test_a_query_field_other_than_title_is_refused_where_queries_have_one_text(write, tmp_path: Path) -> None:
    """BEIR, SMART and MS MARCO queries are not TREC topics: a field is an error, not silently ignored."""
    from distillrank.data.collection import Corpus, Queries, TextCollection
    from distillrank.data.formats.beir import write_beir
    from distillrank.data.formats.svmlight import write_svmlight
    from distillrank.data.ltr import LTRDataset

    beir = tmp_path / "beir"
    write_beir(
        TextCollection(
            "b", Corpus(["d1"], [""], ["x"]), Queries({"q1": "y"}), {"test": Qrels({"q1": {"d1": 1}})}
        ),
        beir,
    )
    write("smart/cran.all", ".I 1\n.W\nwing\n")
    write("smart/cran.qry", ".I 1\n.W\nwing\n")
    write("smart/cranqrel", "1 1 1\n")
    write("marco/collection.tsv", "0\tpassage\n")
    write("marco/queries.dev.tsv", "1\tquery\n")
    write("marco/qrels.dev.tsv", "1\t0\t0\t1\n")
    ltr = tmp_path / "ltr" / "train.txt"
    ltr.parent.mkdir()
    write_svmlight(LTRDataset(np.eye(2), np.array([1.0, 0.0]), np.array(["q", "q"], dtype=object)), ltr)
    cases = {
        beir: "this is a BEIR collection, whose queries (queries.jsonl) have one text each",
        tmp_path / "smart": "this is a SMART collection, whose queries (.I/.W records) have one text each",
        tmp_path
        / "marco": "this is an MS MARCO collection, whose queries (qid<TAB>text files) have one text each",
    }
    for folder, what in cases.items():
        assert len(load_dataset(folder, query_field="title").queries) == 1  # the default is fine
        with pytest.raises(DistillrankError) as e:
            load_dataset(folder, query_field="title+desc")
        assert str(e.value) == (
            f"{folder}: query field 'title+desc' applies to TREC topics files (<top> or <topic> blocks) "
            f"only; {what}"
        )
    load_dataset(ltr.parent, query_field="title")
    with pytest.raises(DistillrankError) as e:
        load_dataset(ltr.parent, query_field="desc")
    assert str(e.value) == (
        f"{ltr.parent}: query field 'desc' applies to TREC topics files only; this is a learning-to-rank "
        "feature dataset, not a text collection"
    )
