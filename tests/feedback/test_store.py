"""ClickStore: appends keep session ids unique, round trips keep every row, Parquet export is atomic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distillrank.data.clicklog import ClickLog
from distillrank.feedback.store import ClickStore

KEYS = ["qid", "position", "docno", "click", "propensity"]


def make_log(n_sessions: int, seed: int, extra: bool = False) -> ClickLog:
    rng = np.random.default_rng(seed)
    rows = n_sessions * 3
    df = pd.DataFrame(
        {
            "session_id": np.repeat(np.arange(n_sessions) * 10 + 5, 3),  # ids that clash across logs
            "qid": np.repeat([f"q{i % 4}" for i in range(n_sessions)], 3),
            "position": np.tile([1, 2, 3], n_sessions),
            "docno": [f"d{i}" for i in rng.integers(0, 50, rows)],
            "click": rng.integers(0, 2, rows),
            "propensity": rng.uniform(0.1, 1, rows),
        }
    )
    if extra:
        df["logger"] = np.repeat(rng.integers(0, 2, n_sessions), 3)
    return ClickLog(df)


def test_round_trip_and_unique_session_ids() -> None:
    a, b = make_log(20, 0), make_log(30, 1, extra=True)
    with ClickStore() as store:
        assert store.append(a, round=0) == 20
        assert store.append(b, round=1) == 30
        assert store.n_sessions == 50 and store.rounds == [0, 1]
        log = store.to_clicklog()
        assert log.n_sessions == 50
        assert log.df["session_id"].nunique() == 50
        assert sorted(log.df["session_id"].unique().tolist()) == list(range(50))
        got = log.df[KEYS].reset_index(drop=True)
        want = pd.concat([a.df[KEYS], b.df[KEYS]], ignore_index=True)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
        # the extra column arrived with the second log; the first log's rows have NULL there
        assert log.df["logger"].iloc[:60].isna().all()
        assert (log.df["logger"].iloc[60:].to_numpy() == b.df["logger"].to_numpy()).all()
        assert log.df["source_session_id"].iloc[:3].tolist() == [5, 5, 5]
        second = store.to_clicklog("round = ?", [1])
        assert second.n_sessions == 30 and (second.df["round"] == 1).all()
        ctr = store.query(
            "SELECT position, avg(click) AS ctr FROM clicks GROUP BY position ORDER BY position"
        )
        assert ctr["position"].tolist() == [1, 2, 3]


def test_parquet_export_is_atomic_and_complete(tmp_path: Path) -> None:
    with ClickStore() as store:
        store.append(make_log(10, 2), round=0)
        store.append(make_log(10, 3), round=1)
        out = store.export_parquet(tmp_path / "exports" / "clicks.parquet")
        df = pd.read_parquet(out)
        assert len(df) == 60 and df["session_id"].nunique() == 20
        pd.testing.assert_frame_equal(df, store.query("SELECT * FROM clicks ORDER BY session_id, position"))
        only1 = pd.read_parquet(store.export_parquet(tmp_path / "r1.parquet", where="round = 1"))
        assert set(only1["round"]) == {1}
    assert [p.name for p in (tmp_path / "exports").iterdir()] == ["clicks.parquet"]  # no temporary left
    # a failed export leaves the previous file untouched
    with ClickStore() as store, pytest.raises(Exception):  # noqa: B017 - DuckDB raises its own error type
        store.export_parquet(tmp_path / "exports" / "clicks.parquet", where="no_such_column = 1")
    assert len(pd.read_parquet(tmp_path / "exports" / "clicks.parquet")) == 60
    assert [p.name for p in (tmp_path / "exports").iterdir()] == ["clicks.parquet"]


def test_file_store_persists(tmp_path: Path) -> None:
    path = tmp_path / "clicks.duckdb"
    with ClickStore(path) as store:
        store.append(make_log(5, 4), round=0)
    with ClickStore(path) as store:
        assert store.n_sessions == 5
        store.append(make_log(5, 5), round=1)
        assert store.to_clicklog().df["session_id"].max() == 9


def test_empty_log_and_bad_inputs() -> None:
    with ClickStore() as store:
        assert store.append(ClickLog(make_log(1, 0).df.iloc[:0]), round=0) == 0
        assert store.n_sessions == 0
        with pytest.raises(ValueError, match=r"^round must be an integer, got 1.5$"):
            store.append(make_log(1, 0), round=1.5)  # type: ignore[arg-type]
        with pytest.raises(
            ValueError,
            match=r"^the log has column\(s\) \['round'\] that the store reserves; rename or drop them$",
        ):
            store.append(ClickLog(make_log(1, 0).df.assign(round=3)))
