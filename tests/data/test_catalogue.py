"""The dataset catalogue: data-folder resolution, names, paths, and the ir_datasets fallback."""

from __future__ import annotations

import sys
import types
from collections import namedtuple
from pathlib import Path

import pytest

from distillrank.data.catalogue import CATALOGUE, default_data_dir, load_dataset, load_qrels, resolve
from distillrank.data.collection import TextCollection
from distillrank.data.dataset import SplitDataset
from distillrank.data.formats.detect import detect_kind
from distillrank.data.interactions import Interactions
from distillrank.errors import DatasetNotFoundError, DistillrankError


def test_data_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DISTILLRANK_DATA", str(tmp_path / "env"))
    assert default_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert default_data_dir() == tmp_path / "env"
    monkeypatch.delenv("DISTILLRANK_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_data_dir() == tmp_path / "cache" / "distillrank"


def test_unknown_name_lists_the_catalogue(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"'nosuch' is neither a catalogued dataset \(scifact"):
        resolve("nosuch", tmp_path)
    with pytest.raises(DatasetNotFoundError, match=r"nor an existing path \(did you mean 'scifact'\?\)$"):
        resolve("scifcat", tmp_path)


def test_missing_dataset_says_where_it_looked_and_how_to_supply_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as e:
        resolve("ml-100k", tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "recsys/ml-100k") in msg
    assert "GroupLens" in msg and "--data-dir" in msg


def _fake_ir_datasets(monkeypatch: pytest.MonkeyPatch, grades: list[int]) -> list[str]:
    Doc = namedtuple("Doc", "doc_id title text")
    Query = namedtuple("Query", "query_id text")
    Qrel = namedtuple("Qrel", "query_id doc_id relevance iteration")
    loaded: list[str] = []

    class DS:
        def __init__(self, ident: str) -> None:
            self.ident = ident

        def docs_iter(self):
            return iter([Doc("d1", "T1", "alpha beta"), Doc("d2", "", "gamma delta")])

        def has_queries(self) -> bool:
            return True

        def has_qrels(self) -> bool:
            return True

        def queries_iter(self):
            return iter([Query("1", "alpha"), Query("2", "gamma")])

        def qrels_iter(self):
            return iter([Qrel("1", "d1", grades[0], "0"), Qrel("2", "d2", grades[1], "0")])

    def load(ident: str) -> DS:
        loaded.append(ident)
        return DS(ident)

    monkeypatch.setitem(sys.modules, "ir_datasets", types.SimpleNamespace(load=load))
    return loaded


def test_absent_collection_is_fetched_through_ir_datasets_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    loaded = _fake_ir_datasets(monkeypatch, [1, 1])
    coll = load_dataset("scifact", tmp_path)
    assert isinstance(coll, TextCollection)
    assert (tmp_path / "beir/scifact/corpus.jsonl").exists()
    assert set(coll.qrels) == {"train", "test"}
    assert coll.corpus["d1"].title == "T1"
    assert loaded == ["beir/scifact", "beir/scifact/train", "beir/scifact/test"]
    loaded.clear()
    load_dataset("scifact", tmp_path)  # now on disk: no second download
    assert loaded == []


def test_cranfield_grades_become_gains_when_fetched(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_ir_datasets(monkeypatch, [1, -1])
    coll = load_dataset("cranfield", tmp_path)
    assert coll.qrels["test"]["1"] == {"d1": 4}
    assert coll.qrels["test"]["2"] == {"d2": 0}


def test_irds_prefix_fetches_any_id(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    loaded = _fake_ir_datasets(monkeypatch, [2, 0])
    coll = load_dataset("irds:beir/nfcorpus/test", tmp_path)
    assert loaded[0] == "beir/nfcorpus/test"
    assert coll.qrels["test"]["1"] == {"d1": 2}


def test_fetch_without_ir_datasets_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "ir_datasets", None)
    with pytest.raises(DatasetNotFoundError, match=r"pip install 'distillrank\[datasets\]'"):
        load_dataset("vaswani", tmp_path)


def test_failed_fetch_says_where_to_point_for_data_on_disk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def load(_: str) -> None:
        raise ConnectionError("Max retries exceeded")

    monkeypatch.setitem(sys.modules, "ir_datasets", types.SimpleNamespace(load=load))
    with pytest.raises(DatasetNotFoundError, match=r"failed: Max retries exceeded\. If you have it on disk, "
                       r"point --data-dir / \$DISTILLRANK_DATA at the folder"):  # fmt: skip
        load_dataset("scifact", tmp_path)


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("docs.trec", "<DOC>\n<DOCNO>1</DOCNO>\ntext\n</DOC>\n", "text"),
        ("topics.txt", "<top>\n<num>1</num><title>q</title>\n</top>\n", "text"),
        ("cran.all", ".I 1\n.T\ntitle\n.W\ntext\n", "text"),
        ("train.txt", "2 qid:1 1:0.5 3:0.1\n0 qid:1 1:0.2 2:0.3\n", "ltr"),
        ("rank.train", "1 1:0.5 3:0.1\n0 2:0.3\n", "ltr"),
        ("log.tsv", "q1\td1,d2,d3 : d2\n", "clicks"),
        ("ratings.csv", "userId,movieId,rating,timestamp\n1,2,3.5,100\n", "interactions"),
        ("obd.csv", ",timestamp,item_id,position,click,propensity_score\n0,t,1,1,0,0.1\n", "bandit"),
    ],
)
def test_detect_kind_from_contents(tmp_path: Path, name: str, content: str, kind: str) -> None:
    (tmp_path / name).write_text(content)
    assert detect_kind(tmp_path / name) == kind
    assert detect_kind(tmp_path) == kind


def test_detect_kind_unknown_names_the_files(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("# hello\n")
    with pytest.raises(DatasetNotFoundError, match=r"no supported dataset format recognised \(notes.md\)"):
        detect_kind(tmp_path)


@pytest.mark.data
@pytest.mark.parametrize("name", list(CATALOGUE))
def test_every_catalogued_dataset_loads_from_the_shared_folder(shared_data: Path, name: str) -> None:
    ds = load_dataset(name, shared_data)
    expected = {
        "text": TextCollection,
        "ltr": SplitDataset,
        "clicks": SplitDataset,
        "bandit": SplitDataset,
        "interactions": Interactions,
    }[CATALOGUE[name].kind]
    assert isinstance(ds, expected)


@pytest.mark.data
def test_a_path_works_wherever_a_name_does(shared_data: Path) -> None:
    by_name = load_dataset("vaswani", shared_data)
    by_path = load_dataset(shared_data / "classic" / "vaswani")
    assert len(by_name.corpus) == len(by_path.corpus) == 11429


@pytest.mark.data
@pytest.mark.parametrize("name", [n for n, e in CATALOGUE.items() if e.kind == "text"])
def test_load_qrels_gives_the_collections_judgements(
    shared_data: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    coll = load_dataset(name, shared_data)
    import distillrank.data.formats.beir as beir

    def no_corpus(path: object) -> None:
        raise AssertionError("the corpus was read")

    monkeypatch.setattr(beir, "read_beir_corpus", no_corpus)  # BEIR qrels are read without it
    qrels = load_qrels(name, shared_data)
    assert list(qrels) == coll.splits
    for split in coll.splits:
        assert dict(qrels[split]) == dict(coll.get_qrels(split))


def test_load_qrels_refuses_other_kinds(tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_text("1 qid:1 1:0.5\n0 qid:1 1:0.1\n")
    with pytest.raises(DistillrankError, match="not a text collection"):
        load_qrels(tmp_path)


def test_an_archive_is_asked_to_be_unpacked(tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "scifact.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("scifact/corpus.jsonl", '{"_id": "d1", "text": "x"}\n')
    with pytest.raises(DatasetNotFoundError, match=r"scifact.zip: an archive, .* unpack it"):
        load_dataset(archive)
