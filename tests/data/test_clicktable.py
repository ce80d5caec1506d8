"""Click logs as tables (CSV, TSV, Parquet) and folders of click-log files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distillrank.data.catalogue import load_dataset
from distillrank.data.clicklog import ClickLog
from distillrank.data.formats.clicktable import read_click_folder, read_click_table
from distillrank.data.formats.detect import detect_kind
from distillrank.data.formats.parquet import read_parquet
from distillrank.errors import DataFormatError

HEADER = "session_id,qid,position,docno,click\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_and_tsv_logs_read_like_parquet(tmp_path: Path) -> None:
    rows = "0,q1,1,d1,1\n0,q1,2,d2,0\n1,q2,1,d3,false\n1,q2,2,d1,TRUE\n"
    csv = _write(tmp_path / "log.csv", HEADER + rows)
    tsv = _write(tmp_path / "log.tsv", (HEADER + rows).replace(",", "\t").replace("\n", "\r\n"))
    for path in (csv, tsv):
        assert detect_kind(path) == "clicks"
        log = read_click_table(path)
        assert log.df["session_id"].tolist() == [0, 0, 1, 1]
        assert log.df["click"].tolist() == [1, 0, 0, 1]
        assert log.df["position"].tolist() == [1, 2, 1, 2]
        assert log.df["propensity"].isna().all()
        assert [s.docnos for s in log.sessions()] == [["d1", "d2"], ["d3", "d1"]]


def test_positions_counted_from_zero_are_read_as_zero_based(tmp_path: Path) -> None:
    log = read_click_table(_write(tmp_path / "log.csv", HEADER + "7,q,0,a,1\n7,q,1,b,0\n8,q,0,b,1\n"))
    assert log.df["position"].tolist() == [1, 2, 1]
    df = pd.DataFrame({"session_id": [0, 0], "qid": ["q", "q"], "position": [0, 1], "docno": ["a", "b"]})
    df.assign(click=[1, 0]).to_parquet(tmp_path / "log.parquet", index=False)
    parquet = read_parquet(tmp_path / "log.parquet", kind="clicklog")
    assert isinstance(parquet, ClickLog) and parquet.df["position"].tolist() == [1, 2]


def test_clicks_written_as_floats_read_as_clicks(tmp_path: Path) -> None:
    """``1.0``/``0.0``: a click column pandas wrote as floats (it had a missing value once), as positions
    written ``2.0`` are read as 2."""
    log = read_click_table(_write(tmp_path / "log.csv", HEADER + "0,q,1,a,1.0\n0,q,2.0,b,0.0\n0,q,3,c,1\n"))
    assert log.df["click"].tolist() == [1, 0, 1] and log.df["position"].tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("1,q,1,a,1\n1,q,1,b,0\n", r"log\.csv:3: session 1 shows position 1 twice \(also at line 2\)"),
        ("1,q,0,a,1\n\n1,q,0,b,0\n", r"log\.csv:4: session 1 shows position 0 twice \(also at line 2\)"),
        ("1,q,1,a,1\n1,r,2,b,0\n", r"log\.csv:3: session 1 has query 'r' here but 'q' before"),
        ("1,q,1,a,yes\n", r"log\.csv:2: click must be 0 or 1, not 'yes'"),
        ("1,q,1,a,0.5\n", r"log\.csv:2: click must be 0 or 1, not '0\.5'"),
        ("1,q,1,a,\n", r"log\.csv:2: click must be 0 or 1, not ''"),
        ("1,q,1.5,a,1\n", r"log\.csv:2: position '1\.5' is not an integer"),
        ("1,q,-1,a,1\n", r"log\.csv:2: position -1 is negative"),
        ("1,q,1,a\n", r"log\.csv:2: 4 fields but the header has 5"),
    ],
)
def test_bad_rows_name_the_line(tmp_path: Path, rows: str, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        read_click_table(_write(tmp_path / "log.csv", HEADER + rows))


def test_bad_parquet_records_are_named(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {"session_id": [3, 3, 3], "qid": "q", "position": [1, 2, 2], "docno": ["a", "b", "c"], "click": 0}
    )
    df.to_parquet(tmp_path / "dup.parquet", index=False)
    with pytest.raises(DataFormatError, match=r"dup\.parquet: record 3: session 3 shows position 2 twice"):
        read_parquet(tmp_path / "dup.parquet", kind="clicklog")
    df.assign(position=[1, 2, 3], click=[1.0, np.nan, 0.0]).to_parquet(tmp_path / "nan.parquet", index=False)
    with pytest.raises(DataFormatError, match=r"nan\.parquet: record 2: click must be 0 or 1, not empty"):
        read_parquet(tmp_path / "nan.parquet", kind="clicklog")


def test_a_folder_of_parquet_or_csv_logs_has_splits(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {"session_id": [0, 0, 1, 1], "qid": "q", "position": [1, 2, 1, 2], "docno": ["a", "b", "b", "a"]}
    )
    df.assign(click=[1, 0, 0, 1]).to_parquet(tmp_path / "train.parquet", index=False)
    _write(tmp_path / "clicks_test.csv", HEADER + "5,q,1,a,0\n5,q,2,b,1\n")
    _write(tmp_path / "README.md", "the log\n")
    for loaded in (read_click_folder(tmp_path), load_dataset(tmp_path)):
        assert list(loaded.splits) == ["train", "test"]
        assert loaded["train"].n_sessions == 2 and loaded["test"].df["click"].tolist() == [0, 1]


def test_other_names_of_the_columns_are_read(tmp_path: Path) -> None:
    from distillrank.data.formats.clicktable import read_click_file

    f = tmp_path / "log.csv"
    f.write_text("Session,query_id,rank,doc_id,clicked,doc\ns1,q1,1,a,1,x\ns1,q1,2,b,0,y\n")
    log = read_click_file(f)
    assert log.df[["session_id", "qid", "position", "docno", "click"]].values.tolist() == [
        ["s1", "q1", 1, "a", 1],
        ["s1", "q1", 2, "b", 0],
    ]
    assert log.df["doc"].tolist() == ["x", "y"]  # 'doc' is an alias only where no docno column is named


def test_a_stray_position_0_in_a_1_based_log_is_named_at_its_line(tmp_path: Path) -> None:
    from distillrank.errors import DataFormatError

    f = tmp_path / "log.csv"
    f.write_text("session_id,qid,position,docno,click\n1,q,1,a,0\n1,q,2,b,1\n2,q,0,a,1\n2,q,1,b,0\n")
    with pytest.raises(
        DataFormatError, match=r"log\.csv:4: position 0 here makes the log 0-based, but session 1"
    ):
        read_click_table(f)
