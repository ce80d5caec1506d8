"""The Yandex WSCD click-log sample format: sessions, clicks, round trips, and the real sample."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distillrank.data.clicklog import ClickLog
from distillrank.data.formats.yandex import read_yandex_clicklog, read_yandex_folder, write_yandex_clicklog
from distillrank.errors import DataFormatError, DatasetNotFoundError, DataWarning

SAMPLE = "q1\ta,b,c : b , a; q1\ta,c,b :; q1\tc,a,b : b , b;\n\nq2\tx,y : y\nq3\tz :   \n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_sessions_positions_and_clicks(tmp_path: Path) -> None:
    log = read_yandex_clicklog(_write(tmp_path / "trainSample", SAMPLE))
    df = log.df
    assert log.n_sessions == 5 and len(log) == 3 + 3 + 3 + 2 + 1
    assert df["session_id"].tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 2 + [4]
    assert df["qid"].tolist() == ["q1"] * 9 + ["q2"] * 2 + ["q3"]
    assert df["position"].tolist() == [1, 2, 3] * 3 + [1, 2, 1]
    assert df["docno"].tolist() == [*"abcacbcab", "x", "y", "z"]
    assert df["click"].tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0]
    assert df["propensity"].isna().all()
    sessions = list(log.sessions())
    assert sessions[2].docnos == ["c", "a", "b"] and sessions[2].clicks.tolist() == [0, 0, 1]


def test_windows_line_ends_byte_order_mark_and_trailing_separators(tmp_path: Path) -> None:
    """A log saved on Windows (CRLF, a UTF-8 byte-order mark) reads like the original."""
    path = tmp_path / "trainSample"
    path.write_bytes(b"\xef\xbb\xbf" + SAMPLE.replace("\n", " ;\r\n").encode())
    log = read_yandex_clicklog(path)
    pd.testing.assert_frame_equal(log.df, read_yandex_clicklog(_write(tmp_path / "plain", SAMPLE)).df)


def test_unknown_clicks_warn_ignore_error(tmp_path: Path) -> None:
    f = _write(tmp_path / "s", "q\ta,b : a , zz , yy\nq\ta,b : b\n")
    with pytest.warns(
        DataWarning, match=r"dropped 2 clicks in 1 sessions .* line 1, session 1, document 'zz'"
    ):
        log = read_yandex_clicklog(f)
    assert log.df["click"].tolist() == [1, 0, 0, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_yandex_clicklog(f, unknown_clicks="ignore").df["click"].sum() == 2
    with pytest.raises(DataFormatError, match="session 1: clicked document 'zz' is not in the result list"):
        read_yandex_clicklog(f, unknown_clicks="error")
    with pytest.raises(ValueError, match="unknown_clicks must be"):
        read_yandex_clicklog(f, unknown_clicks="drop")  # type: ignore[arg-type]


def test_round_trip_keeps_order_of_interleaved_queries(tmp_path: Path) -> None:
    src = _write(tmp_path / "a", "q1\ta,b : b\nq2\tc,d :\nq1\tb,a : a , b\nq1\ta,b :\n")
    log = read_yandex_clicklog(src)
    write_yandex_clicklog(log, tmp_path / "out" / "b")
    text = (tmp_path / "out" / "b").read_text()
    assert text == "q1\ta,b : b;\nq2\tc,d :;\nq1\tb,a : b , a; q1\ta,b :;\n"
    pd.testing.assert_frame_equal(read_yandex_clicklog(tmp_path / "out" / "b").df, log.df)


def test_write_from_a_built_click_log(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "session_id": [5, 5, 9],
            "qid": ["q", "q", "r"],
            "position": [2, 1, 1],
            "docno": ["d2", "d1", "d3"],
            "click": [1, 0, 0],
            "propensity": [0.5, 0.5, np.nan],
        }
    )
    write_yandex_clicklog(ClickLog(df), tmp_path / "c")
    assert (tmp_path / "c").read_text() == "q\td1,d2 : d2;\nr\td3 :;\n"
    bad = df.assign(position=[3, 1, 1])
    with pytest.raises(DataFormatError, match=r"session 5: positions must be 1\.\.n"):
        write_yandex_clicklog(ClickLog(bad), tmp_path / "d")
    with pytest.raises(DataFormatError, match=r"session 9: document 'd,3' cannot be written"):
        write_yandex_clicklog(ClickLog(df.assign(docno=["d2", "d1", "d,3"])), tmp_path / "d")
    assert not (tmp_path / "d").exists()


def test_read_folder(tmp_path: Path) -> None:
    _write(tmp_path / "trainSample", "q\ta : a\n")
    _write(tmp_path / "testSample", "q\ta :\nq\ta :\n")
    ds = read_yandex_folder(tmp_path)
    assert list(ds.splits) == ["train", "test"] and ds["test"].n_sessions == 2
    other = tmp_path / "named"
    other.mkdir()
    _write(other / "clicks-train.txt", "q\ta : a\n")
    assert list(read_yandex_folder(other).splits) == ["train"]
    with pytest.raises(DatasetNotFoundError):
        read_yandex_folder(tmp_path / "empty")


@pytest.mark.data
def test_wscd_sample(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "clicks" / "yandex-wscd-sample"
    if not (folder / "trainSample").exists():
        pytest.fail(f"{folder} is missing: set DISTILLRANK_DATA to the shared data folder", pytrace=False)
    with pytest.warns(DataWarning) as record:
        ds = read_yandex_folder(folder)
    messages = sorted(str(w.message) for w in record)
    # a quirk of the public sample: clicks on documents that are not in the top 10 shown
    assert "dropped 276 clicks in 133 sessions" in messages[0]  # testSample
    assert "dropped 417 clicks in 191 sessions" in messages[1]  # trainSample
    train, test = ds["train"], ds["test"]
    assert train.n_sessions == 35_064 and test.n_sessions == 21_413
    for log in (train, test):
        assert log.df["qid"].nunique() == 20
        assert len(log) == 10 * log.n_sessions
        assert log.df["position"].max() == 10
    assert set(train.df["qid"]) == set(test.df["qid"])
    ctr = train.ctr_by_position()
    assert ctr.iloc[0] > ctr.iloc[9]  # position bias
    write_yandex_clicklog(test, tmp_path / "testSample")
    back = read_yandex_clicklog(tmp_path / "testSample", unknown_clicks="error")
    pd.testing.assert_frame_equal(back.df, test.df)
