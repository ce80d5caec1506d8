"""Open Bandit Dataset logs: one impression per session, policy splits, item context, real files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distillrank.data.formats.obd import (
    _check_values,
    locate_obd,
    read_obd,
    read_obd_csv,
    read_obd_item_context,
)
from distillrank.errors import DataFormatError, DatasetNotFoundError

HEADER = (
    ",timestamp,item_id,position,click,propensity_score,user_feature_0,user_feature_1,"
    "user_feature_2,user_feature_3,user-item_affinity_0,user-item_affinity_1\n"
)
ROWS = (
    "0,2019-11-24 00:00:34.762830+00:00,14,3,0,0.0125,aa,bb,cc,dd,0.0,1.0\n"
    "1,2019-11-24 00:00:53.965051+00:00,1,1,1,0.5,aa,bb,cc,dd,0.0,0.0\n"
    "2,2019-11-24 00:01:00.000000+00:00,0,2,0,1.0,aa,bb,cc,ee,2.0,0.0\n"
)


def _log(folder: Path, campaign: str = "all", rows: str = ROWS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{campaign}.csv"
    path.write_text(HEADER + rows)
    (folder / "item_context.csv").write_text(
        ",item_id,item_feature_0,item_feature_1\n0,0,-0.5,h0\n1,1,0.25,h1\n"
    )
    return path


def test_read_csv_one_session_per_impression(tmp_path: Path) -> None:
    log = read_obd_csv(_log(tmp_path / "random" / "all"))
    df = log.df
    assert log.n_sessions == 3 and len(log) == 3
    assert df["session_id"].tolist() == [0, 1, 2]
    assert df["docno"].tolist() == ["14", "1", "0"]
    assert df["position"].tolist() == [3, 1, 2] and df["click"].tolist() == [0, 1, 0]
    assert df["propensity"].tolist() == [0.0125, 0.5, 1.0]
    expected = hashlib.blake2b(b"aa|bb|cc|dd", digest_size=8).hexdigest()
    assert df["qid"].tolist() == [expected, expected, df["qid"].iloc[2]] and df["qid"].iloc[2] != expected
    assert str(df["timestamp"].dt.tz) == "UTC"
    assert df["timestamp"].iloc[0] == pd.Timestamp("2019-11-24 00:00:34.762830", tz="UTC")
    assert df["user_feature_3"].tolist() == ["dd", "dd", "ee"]
    assert df["user-item_affinity_0"].tolist() == [0.0, 0.0, 2.0]
    assert "Unnamed: 0" not in df.columns


def test_read_obd_root_policy_and_campaign_folders(tmp_path: Path) -> None:
    _log(tmp_path / "random" / "men", "men")
    _log(tmp_path / "bts" / "men", "men")
    ds = read_obd(tmp_path, campaign="men")
    assert list(ds.splits) == ["random", "bts"] and ds.name == "obd-men"
    single = read_obd(tmp_path / "bts", campaign="men")
    assert list(single.splits) == ["bts"]
    leaf = read_obd(tmp_path / "random" / "men", campaign="men")
    assert list(leaf.splits) == ["random"]
    with pytest.raises(DatasetNotFoundError, match="no Open Bandit Dataset logs for campaign 'all'"):
        read_obd(tmp_path)
    with pytest.raises(ValueError, match="campaign must be one of all, men, women"):
        read_obd(tmp_path, campaign="kids")


def test_read_obd_from_a_data_folder_or_the_default_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data" / "clicks" / "open-bandit-dataset"
    _log(root / "random" / "men", "men")
    assert locate_obd(tmp_path / "data") == root and locate_obd(root) == root
    assert list(read_obd(tmp_path / "data", campaign="men").splits) == ["random"]
    monkeypatch.setenv("DISTILLRANK_DATA", str(tmp_path / "data"))
    assert locate_obd() == root
    assert read_obd(campaign="men")["random"].n_sessions == 3


def test_item_context(tmp_path: Path) -> None:
    _log(tmp_path)
    ic = read_obd_item_context(tmp_path)
    assert ic.columns.tolist() == ["item_id", "item_feature_0", "item_feature_1"]
    assert ic["item_id"].tolist() == ["0", "1"]
    pd.testing.assert_frame_equal(read_obd_item_context(tmp_path / "item_context.csv"), ic)
    with pytest.raises(DatasetNotFoundError):
        read_obd_item_context(tmp_path / "nowhere")


@pytest.mark.data
def test_open_bandit_dataset(shared_data: Path) -> None:
    root = shared_data / "clicks" / "open-bandit-dataset"
    if not (root / "random" / "all" / "all.csv").exists():
        pytest.fail(f"{root} is missing: set DISTILLRANK_DATA to the shared data folder", pytrace=False)
    for campaign in ("all", "men", "women"):
        ds = read_obd(root, campaign)
        assert list(ds.splits) == ["random", "bts"]
        n_items = len(read_obd_item_context(root / "random" / campaign))
        for policy, log in ds.splits.items():
            df = log.df
            assert len(log) == log.n_sessions == 10_000, (policy, campaign)
            assert set(df["position"]) == {1, 2, 3}
            assert set(df["click"]) == {0, 1}
            assert df["docno"].nunique() == n_items
            assert ((df["propensity"] > 0) & (df["propensity"] <= 1)).all()
        random_p = ds["random"].df["propensity"].to_numpy()
        assert np.all(random_p == random_p[0])  # uniform logging: all equal ...
        assert random_p[0] == pytest.approx(1 / n_items)  # ... to 1 / n_items
        assert ds["bts"].df["propensity"].nunique() > 100


def test_check_values_names_the_line_and_value_of_the_first_bad_row() -> None:
    df = pd.DataFrame({"click": [0, 1, 2, 3]})
    _check_values(df, "click", np.array([False, False, False, False]), "is not 0 or 1", Path("o.csv"))
    with pytest.raises(DataFormatError) as e:
        _check_values(df, "click", np.array([False, False, True, True]), "is not 0 or 1", Path("o.csv"))
    assert str(e.value) == "o.csv:4: click 2 is not 0 or 1"
