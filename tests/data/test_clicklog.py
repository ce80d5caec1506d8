"""ClickLog: sessions in log order, whatever the type of their ids."""

from __future__ import annotations

import numpy as np
import pandas as pd

from distillrank.data.clicklog import ClickLog


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
