"""Parquet round trips for every data type, the kind metadata, foreign files and atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from distillrank.data.clicklog import ClickLog
from distillrank.data.collection import Corpus, Qrels, Queries
from distillrank.data.formats import parquet as pqio
from distillrank.data.formats.parquet import read_parquet, write_parquet
from distillrank.data.interactions import Interactions
from distillrank.data.ltr import LTRDataset
from distillrank.data.run import Run
from distillrank.errors import DataFormatError


def _kind(path: Path) -> str:
    return json.loads(pq.read_schema(path).metadata[b"distillrank"])["kind"]


def test_run(tmp_path: Path) -> None:
    run = Run({"q2": {"d1": 1.5, "d2": 0.1 + 0.2, "d3": -1e300}, "q1": {}, "q0": {"d9": 0.0}}, name="bm25")
    write_parquet(run, tmp_path / "r.parquet")
    back = read_parquet(tmp_path / "r.parquet")
    assert isinstance(back, Run) and back.name == "bm25"
    assert back.to_dict() == run.to_dict() and list(back) == ["q2", "q1", "q0"]
    assert _kind(tmp_path / "r.parquet") == "run"


def test_qrels(tmp_path: Path) -> None:
    qrels = Qrels({"1": {"a": 2, "b": 0, "c": -1}, "2": {}, "3": {"a": 1}})
    write_parquet(qrels, tmp_path / "q.parquet")
    back = read_parquet(tmp_path / "q.parquet")
    assert isinstance(back, Qrels) and back.to_dict() == qrels.to_dict() and list(back) == ["1", "2", "3"]


def test_corpus_and_queries(tmp_path: Path) -> None:
    corpus = Corpus(["d2", "d1"], ["", "Title"], ["text two", "ünïcode\ttext\nwith newline"])
    write_parquet(corpus, tmp_path / "c.parquet")
    back = read_parquet(tmp_path / "c.parquet")
    assert isinstance(back, Corpus)
    assert (back.docnos, back.titles, back.texts) == (corpus.docnos, corpus.titles, corpus.texts)
    queries = Queries({"7": "what is bm25", "1": ""})
    write_parquet(queries, tmp_path / "qs.parquet")
    back_q = read_parquet(tmp_path / "qs.parquet")
    assert isinstance(back_q, Queries) and dict(back_q) == dict(queries) and list(back_q) == ["7", "1"]


def _ltr(sparse: bool, dtype: type) -> LTRDataset:
    rng = np.random.default_rng(3)
    dense = rng.normal(size=(9, 6)).astype(dtype)
    dense[dense < 0.3] = 0
    X: sp.csr_matrix | np.ndarray = dense
    if sparse:
        X = sp.csr_matrix(dense)
        X.data[0] = 0.0  # an explicit zero is kept
    qids = np.array(["a"] * 3 + ["b"] * 4 + ["c"] * 2, dtype=object)
    return LTRDataset(
        X,
        rng.integers(0, 5, 9),
        qids,
        np.array([f"doc{i}" for i in range(9)], dtype=object),
        feature_names=[f"f{i}" for i in range(6)],
    )


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ltr_dataset(tmp_path: Path, sparse: bool, dtype: type) -> None:
    ds = _ltr(sparse, dtype)
    write_parquet(ds, tmp_path / "l.parquet")
    back = read_parquet(tmp_path / "l.parquet")
    assert isinstance(back, LTRDataset)
    assert sp.issparse(back.X) is sparse and back.X.dtype == dtype and back.X.shape == ds.X.shape
    if sparse:
        for attr in ("data", "indices", "indptr"):
            np.testing.assert_array_equal(getattr(back.X, attr), getattr(ds.X, attr))
        assert back.X.nnz == ds.X.nnz
    else:
        np.testing.assert_array_equal(back.X, ds.X)
    np.testing.assert_array_equal(back.y, ds.y)
    assert back.y.dtype == ds.y.dtype
    assert back.qids.tolist() == ds.qids.tolist()
    assert back.docnos is not None and back.docnos.tolist() == ds.docnos.tolist()
    assert back.feature_names == ds.feature_names


def test_ltr_without_docnos_and_empty(tmp_path: Path) -> None:
    ds = LTRDataset(sp.csr_matrix((2, 4)), np.array([0.0, 1.0]), np.array(["q", "q"], dtype=object))
    write_parquet(ds, tmp_path / "e.parquet")
    back = read_parquet(tmp_path / "e.parquet")
    assert isinstance(back, LTRDataset) and back.docnos is None and back.X.shape == (2, 4)
    empty = LTRDataset(np.zeros((0, 3)), np.zeros(0), np.zeros(0, dtype=object))
    write_parquet(empty, tmp_path / "z.parquet")
    back = read_parquet(tmp_path / "z.parquet")
    assert isinstance(back, LTRDataset) and back.X.shape == (0, 3)


def test_interactions(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "user": pd.array(["u1", "u2"], dtype=str),
            "item": pd.array(["i1", "i1"], dtype=str),
            "rating": [4.0, np.nan],
            "timestamp": [1.0, 2.5],
            "genre": ["x", "y"],
        }
    )
    write_parquet(Interactions(df.copy()), tmp_path / "i.parquet")
    back = read_parquet(tmp_path / "i.parquet")
    assert isinstance(back, Interactions)
    pd.testing.assert_frame_equal(back.df, df)


def test_click_log(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "session_id": np.array([0, 0, 1], dtype=np.int64),
            "qid": pd.array(["q", "q", "r"], dtype=str),
            "position": np.array([1, 2, 1], dtype=np.int64),
            "docno": pd.array(["a", "b", "c"], dtype=str),
            "click": np.array([1, 0, 0], dtype=np.int64),
            "propensity": [0.5, np.nan, 1.0],
            "timestamp": pd.to_datetime(["2019-11-24 00:00:34.762830"] * 3, utc=True),
        }
    )
    write_parquet(ClickLog(df.copy()), tmp_path / "k.parquet")
    back = read_parquet(tmp_path / "k.parquet")
    assert isinstance(back, ClickLog)
    pd.testing.assert_frame_equal(back.df, df)


def test_foreign_file_needs_a_kind(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({"qid": ["1"], "docno": ["d"], "score": [2.0]}), path)
    with pytest.raises(DataFormatError) as e:
        read_parquet(path)
    assert str(e.value) == (
        f"{path}: no distillrank kind in the Parquet metadata; pass kind= (one of run, qrels, corpus, "
        "queries, ltr, interactions, clicklog)"
    )
    run = read_parquet(path, kind="run")
    assert isinstance(run, Run) and run.to_dict() == {"1": {"d": 2.0}}
    with pytest.raises(DataFormatError, match="a qrels table needs column"):
        read_parquet(path, kind="qrels")
    with pytest.raises(DataFormatError, match="unknown kind 'table'"):
        read_parquet(path, kind="table")


def test_unsupported_object() -> None:
    with pytest.raises(TypeError, match="cannot write dict to Parquet"):
        write_parquet({"a": 1}, "x.parquet")  # type: ignore[arg-type]


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.parquet"
    write_parquet(Run({"q": {"d": 1.0}}), path)
    before = path.read_bytes()

    def boom(table: pa.Table, where: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pqio.pq, "write_table", boom)
    with pytest.raises(OSError, match="disk full"):
        write_parquet(Run({"q": {"d": 2.0}}), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.parquet"]


def test_foreign_click_log_without_propensities(tmp_path: Path) -> None:
    """A per-impression log from elsewhere: the propensity column is optional (NaN: unknown)."""
    path = tmp_path / "log.parquet"
    df = pd.DataFrame(
        {
            "session_id": [0, 0, 1],
            "qid": [7, 7, 8],
            "position": [1, 2, 1],
            "docno": [1, 2, 3],
            "click": [1, 0, 0],
        }
    )
    df.to_parquet(path, index=False)
    log = read_parquet(path, kind="clicklog")
    assert isinstance(log, ClickLog) and log.df["propensity"].isna().all()
    assert [s.docnos for s in log.sessions()] == [["1", "2"], ["3"]]
    df.drop(columns="click").to_parquet(path, index=False)
    with pytest.raises(DataFormatError, match=r"log\.parquet: click log lacks columns \['click'\]"):
        read_parquet(path, kind="clicklog")


def test_a_parquet_path_loads_wherever_a_name_does(tmp_path: Path) -> None:
    """``load_dataset(path)`` (behind ``datasets info`` and every ``--dataset``/``--data``) sniffs Parquet:
    the project's own files by their metadata, files from elsewhere by their columns."""
    from distillrank.data.catalogue import load_dataset
    from distillrank.data.dataset import SplitDataset
    from distillrank.data.formats.detect import detect_kind

    inter = Interactions(pd.DataFrame({"user": ["u1", "u2"], "item": ["i1", "i2"], "timestamp": [1.0, 2.0]}))
    write_parquet(inter, tmp_path / "ours.parquet")
    pd.DataFrame({"userId": [1, 2], "movieId": [3, 4], "ts": [5, 6]}).to_parquet(tmp_path / "theirs.parquet")
    for name in ("ours.parquet", "theirs.parquet"):
        assert detect_kind(tmp_path / name) == "interactions"
        loaded = load_dataset(str(tmp_path / name))
        assert isinstance(loaded, Interactions) and len(loaded) == 2
    clicks = pd.DataFrame(
        {"session_id": [0, 0], "qid": ["q", "q"], "position": [1, 2], "docno": ["a", "b"], "click": [1, 0]}
    )
    clicks.to_parquet(tmp_path / "log.parquet")
    assert detect_kind(tmp_path / "log.parquet") == "clicks"
    loaded = load_dataset(str(tmp_path / "log.parquet"))
    assert isinstance(loaded, SplitDataset) and isinstance(loaded.splits["train"], ClickLog)  # to learn from
    clicks.to_parquet(tmp_path / "clicks_test.parquet")  # unless its name says otherwise
    assert list(load_dataset(str(tmp_path / "clicks_test.parquet")).splits) == ["test"]
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "other.parquet")
    (tmp_path / "fake.parquet").write_text("not parquet")
    for name in ("other.parquet", "fake.parquet"):
        with pytest.raises(Exception, match="no supported dataset format"):
            detect_kind(tmp_path / name)
