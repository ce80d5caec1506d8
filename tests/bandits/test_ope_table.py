"""Bandit feedback from a logged table of one's own, and the OBD check run on two such tables."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distillrank.bandits.ope import (
    evaluate_logged_policy,
    evaluate_ope,
    feedback_from_table,
    prepare_logged_ope,
)
from distillrank.errors import DataFormatError, DataWarning

ROWS = pd.DataFrame(
    {
        "item": [0, 2, 1, 2],
        "slot": [1, 2, 1, 3],
        "click": [0, 1, 1, 0],
        "p": [0.5, 0.25, 0.5, 1.0],
        "user_age": [20.0, 30.0, 40.0, 50.0],
        "user_city": ["a", "b", "a", "c"],
    }
)
NAMES = {"action": "item", "position": "slot", "reward": "click", "pscore": "p"}


def test_columns_are_read_by_name_from_a_csv_a_parquet_file_or_a_frame(tmp_path: Path) -> None:
    ROWS.to_csv(tmp_path / "log.csv", index=False)
    ROWS.to_parquet(tmp_path / "log.parquet")
    for source in (tmp_path / "log.csv", tmp_path / "log.parquet", ROWS):
        fb = feedback_from_table(source, **NAMES, context="user_")
        assert (fb.n_actions, fb.len_list) == (3, 3)
        np.testing.assert_array_equal(fb.position, [0, 1, 0, 2])  # 1-based in the table
        np.testing.assert_array_equal(fb.pscore, ROWS["p"])
        assert fb.context is not None and fb.context.shape == (4, 3)  # age, and city b / c (a dropped)
        np.testing.assert_array_equal(fb.context[:, 0], ROWS["user_age"])
    fb = feedback_from_table(ROWS, **NAMES, n_actions=10, len_list=5)
    assert (fb.n_actions, fb.len_list, fb.context) == (10, 5, None)
    zero = ROWS.assign(slot=ROWS["slot"] - 1)
    np.testing.assert_array_equal(feedback_from_table(zero, **NAMES, first_position=0).position, [0, 1, 0, 2])


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (lambda d: d.drop(columns="p"), {}, r"log\.csv:1: missing column\(s\) p \(the table has item, slot"),
        (lambda d: d.assign(click=["0", "1", "x", "0"]), {}, r"log\.csv: line 4: click 'x' is not a number"),
        (lambda d: d.assign(slot=[1, 0, 1, 1]), {}, r"log\.csv: line 3: slot 0 is below first_position 1"),
        (
            lambda d: d.assign(p=[0.5, 0.0, 0.5, 1.0]),
            {},
            r"log\.csv: record 2 \(round 1\): pscore 0\.0 is not",
        ),
        (lambda d: d, {"context": "ctx_"}, r"log\.csv:1: no column starts with the context prefix 'ctx_'"),
        (lambda d: d.assign(item=[0, -1, 1, 2]), {}, r"record 2 \(round 1\): action -1 is outside 0\.\.2"),
    ],
)
def test_bad_tables_name_the_file_the_line_and_the_value(
    tmp_path: Path, change: object, kwargs: dict[str, str], message: str
) -> None:
    path = tmp_path / "log.csv"
    change(ROWS).to_csv(path, index=False)  # type: ignore[operator]
    with pytest.raises(DataFormatError, match=message):
        feedback_from_table(path, **NAMES, **kwargs)
    with pytest.raises(FileNotFoundError, match="no such bandit log"):
        feedback_from_table(tmp_path / "none.csv")


@pytest.mark.data
def test_the_obd_check_on_two_tables_of_ones_own(shared_data: Path, tmp_path: Path) -> None:
    """OBD's logs written as plain tables (0-based items, 1-based slots, renamed columns) give the same
    estimates through feedback_from_table + prepare_logged_ope as the OBD loader does."""
    root = shared_data / "clicks" / "open-bandit-dataset"
    tables = {}
    for policy in ("random", "bts"):
        raw = pd.read_csv(root / policy / "men" / "men.csv", index_col=0)
        out = raw.rename(columns={"item_id": "item", "position": "slot", "click": "click"})
        out = out.rename(columns={"propensity_score": "p"})
        tables[policy] = tmp_path / f"{policy}.csv"
        out.to_csv(tables[policy], index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        logs = {
            k: feedback_from_table(v, **NAMES, context="user_feature_", n_actions=34)
            for k, v in tables.items()
        }
        inputs = prepare_logged_ope(
            logs["random"], logs["bts"], evaluation_policy="bts", behaviour_policy="random"
        )
        ours = evaluate_ope(inputs, ["ips", "snips", "dm", "dr"], n_bootstrap=20)
        obd = evaluate_logged_policy(
            shared_data, "men", estimators=["ips", "snips", "dm", "dr"], n_bootstrap=20
        )
    assert ours.ground_truth == obd.ground_truth
    for name in ("ips", "snips", "dm", "dr"):
        assert ours.estimators[name].estimate == pytest.approx(obd.estimators[name].estimate, rel=1e-9), name
    with pytest.raises(ValueError, match="logs differ in actions x slots: 34x3 vs 35x3"):
        prepare_logged_ope(feedback_from_table(tables["random"], **NAMES, n_actions=35), logs["bts"])
