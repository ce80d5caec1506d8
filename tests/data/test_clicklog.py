"""ClickLog: sessions in log order, whatever the type of their ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from distillrank.data.clicklog import ClickLog, click_log_from_sessions


def _log(session_ids: list) -> ClickLog:
    return ClickLog(
        pd.DataFrame(
            {
                "session_id": session_ids,
                "qid": ["q1", "q1", "q2", "q2", "q3"],
                "position": [2, 1, 1, 2, 1],
                "docno": ["b", "a", "c", "d", "e"],
                "click": [0, 1, 0, 1, 0],
                "propensity": [0.5, 1.0, 1.0, 0.5, 1.0],
            }
        )
    )


def test_integer_session_ids_come_sorted_with_results_by_position() -> None:
    sessions = list(_log([7, 7, 3, 3, 9]).sessions())
    assert [s.session_id for s in sessions] == [3, 7, 9]
    assert all(isinstance(s.session_id, int) for s in sessions)
    assert [s.docnos for s in sessions] == [["c", "d"], ["a", "b"], ["e"]]
    np.testing.assert_array_equal(sessions[1].clicks, [1, 0])


def test_string_session_ids_keep_the_order_of_the_log() -> None:
    """Named sessions (``"s-10"`` sorts before ``"s-9"``) are iterated in the order they appear."""
    sessions = list(_log(["s-9", "s-9", "s-10", "s-10", "a"]).sessions())
    assert [s.session_id for s in sessions] == ["s-9", "s-10", "a"]
    assert [s.qid for s in sessions] == ["q1", "q2", "q3"]
    assert [s.docnos for s in sessions] == [["a", "b"], ["c", "d"], ["e"]]
    np.testing.assert_array_equal(sessions[0].propensities, [1.0, 0.5])


def test_click_log_from_sessions_lays_out_one_row_per_shown_result() -> None:
    """Integer session ids stay int64; positions count 1..n within each session; propensity is NaN."""
    log = click_log_from_sessions(
        np.array([0, 1], dtype=np.int64), ["q1", "q2"], [2, 3], ["a", "b", "c", "d", "e"], [0, 1, 1, 0, 0]
    )
    df = log.df
    assert list(df.columns) == ["session_id", "qid", "position", "docno", "click", "propensity"]
    assert df["session_id"].tolist() == [0, 0, 1, 1, 1]
    assert df["session_id"].dtype == np.int64
    assert df["qid"].tolist() == ["q1", "q1", "q2", "q2", "q2"]
    assert df["position"].tolist() == [1, 2, 1, 2, 3]
    assert df["docno"].tolist() == ["a", "b", "c", "d", "e"]
    assert df["click"].tolist() == [0, 1, 1, 0, 0]
    assert df["click"].dtype == np.int64
    assert df["propensity"].isna().all()
    assert log.source is None


def test_click_log_from_sessions_with_named_sessions_and_array_inputs() -> None:
    """String session ids, uint8 clicks and an object array of documents, as the WSCD original reader
    gives them; the source is kept as a string."""
    log = click_log_from_sessions(
        ["s_0", "s_1"],
        ["q", "q"],
        np.array([1, 2]),
        np.array(["x", "y", "z"], dtype=object),
        np.array([1, 0, 1], dtype=np.uint8),
        source=Path("log.txt"),
    )
    assert [s.session_id for s in log.sessions()] == ["s_0", "s_1"]
    assert pd.api.types.is_string_dtype(log.df["session_id"])
    assert pd.api.types.is_string_dtype(log.df["docno"])
    assert log.df["click"].tolist() == [1, 0, 1]
    assert log.df["position"].tolist() == [1, 1, 2]
    assert log.source == "log.txt"


def test_click_log_from_sessions_of_no_sessions_is_empty() -> None:
    log = click_log_from_sessions(np.array([], dtype=np.int64), [], [], [], [])
    assert len(log) == 0 and log.n_sessions == 0
    assert list(log.df.columns) == ["session_id", "qid", "position", "docno", "click", "propensity"]


def test_a_log_of_other_rows_keeps_the_source_and_its_numbering() -> None:
    df = pd.DataFrame(
        {
            "session_id": [0, 0, 1, 1],
            "qid": ["q", "q", "q", "q"],
            "position": [1, 2, 1, 2],
            "docno": ["a", "b", "a", "b"],
            "click": [1, 0, 0, 1],
            "propensity": [float("nan")] * 4,
        }
    )
    log = ClickLog(df, source="log.csv", first_position=0)
    part = log.with_rows(df[df["session_id"] == 1].reset_index(drop=True))
    assert (part.source, part.first_position, len(part)) == ("log.csv", 0, 2)
