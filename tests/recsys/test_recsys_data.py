"""The sequential split, training windows and negative sampling."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from distillrank.data.interactions import Interactions
from distillrank.errors import DataFormatError
from distillrank.recsys.data import NegativeSampler, last_items, make_windows, split_sequential


def _frame(rows: list[tuple[str, str, float]]) -> Interactions:
    return Interactions(pd.DataFrame(rows, columns=["user", "item", "timestamp"]))


def _ids(data, part: str, user: str) -> list[str]:
    u = data.users.index(user)
    return [data.items[i] for i in getattr(data, part)[u]]


def test_split_orders_each_user_by_time_and_keeps_file_order_for_ties() -> None:
    rows = [
        ("a", "x5", 50.0),
        ("b", "y1", 1.0),
        ("a", "x1", 10.0),
        ("a", "x3", 30.0),
        ("a", "x2", 20.0),
        ("a", "x4b", 40.0),  # tie at 40: file order x4b before x4a
        ("a", "x4a", 40.0),
        ("a", "x6", 60.0),
        ("a", "x7", 70.0),
        ("a", "x8", 80.0),
        ("a", "x9", 90.0),
    ]
    data = split_sequential(_frame(rows), test_fraction=0.2, valid_fraction=0.1)
    seq = _ids(data, "train", "a") + _ids(data, "valid", "a") + _ids(data, "test", "a")
    assert seq == ["x1", "x2", "x3", "x4b", "x4a", "x5", "x6", "x7", "x8", "x9"]
    assert _ids(data, "test", "a") == ["x8", "x9"]  # round(0.2 * 10) = 2, the last ones
    assert _ids(data, "valid", "a") == ["x7"]  # round(0.1 * 10) = 1, just before
    # user b has one interaction: training only
    assert _ids(data, "train", "b") == ["y1"] and _ids(data, "test", "b") == []


def test_stats_count_training_only_users_and_cold_test_items() -> None:
    """Users with one or two items hold nothing out (training only, never evaluated); a test item that
    no training sequence has is a cold item: the split's stats say how many of each."""
    rows = [("a", f"x{t}", float(t)) for t in range(9)] + [("a", "new", 9.0)]  # a's last item: only in test
    rows += [("b", "x1", 1.0), ("c", "x2", 1.0), ("c", "x3", 2.0)]  # one and two items
    rows += [("d", f"x{t}", float(t)) for t in range(5)]
    stats = split_sequential(_frame(rows), n_test=1, n_valid=1).stats()
    assert stats["users"] == 4 and stats["test_users"] == 2 and stats["train_only_users"] == 2
    assert stats["test"] == 2 and stats["cold_test"] == 1  # 'new'; d's test item x4 is in a's training


def test_leave_one_out_and_repeated_items_keep_the_first_occurrence() -> None:
    rows = [("a", "p", 1.0), ("a", "q", 2.0), ("a", "p", 3.0), ("a", "r", 4.0), ("a", "s", 5.0)]
    data = split_sequential(_frame(rows), n_test=1, n_valid=1)
    assert _ids(data, "train", "a") == ["p", "q"]
    assert _ids(data, "valid", "a") == ["r"] and _ids(data, "test", "a") == ["s"]
    assert [data.items[i] for i in data.history("test")[0]] == ["p", "q", "r"]


def test_unknown_timestamps_keep_file_order() -> None:
    rows = [("a", "1", np.nan), ("a", "2", np.nan), ("a", "3", np.nan), ("a", "4", np.nan)]
    data = split_sequential(_frame(rows), n_test=1, n_valid=1)
    assert _ids(data, "train", "a") + _ids(data, "valid", "a") + _ids(data, "test", "a") == [
        "1",
        "2",
        "3",
        "4",
    ]


def test_every_user_keeps_training_items_and_parts_do_not_overlap(synthetic: Interactions) -> None:
    data = split_sequential(synthetic)
    for tr, va, te in zip(data.train, data.valid, data.test, strict=True):
        assert len(tr) >= 1 and len(va) >= 1 and len(te) >= 1
        assert not (set(tr) & set(va) or set(tr) & set(te) or set(va) & set(te))
    assert sum(data.stats()[p] for p in ("train", "valid", "test")) == len(synthetic.df)


def test_missing_timestamp_column_is_a_clear_error() -> None:
    with pytest.raises(DataFormatError, match="timestamp"):
        split_sequential(pd.DataFrame({"user": ["a"], "item": ["b"]}))


def test_windows_are_left_padded_and_masked() -> None:
    rows = [("a", f"i{t}", float(t)) for t in range(8)]
    data = split_sequential(_frame(rows), n_test=1, n_valid=1)  # train: i0..i5
    w = make_windows(data, L=3, T=2)
    pad = data.pad
    item = {name: i for i, name in enumerate(data.items)}
    first_inputs = [item["i0"] if x != pad else pad for x in w.inputs[0]]
    assert list(first_inputs) == [pad, pad, item["i0"]]
    assert [data.items[i] for i in w.targets[0]] == ["i1", "i2"]
    assert [data.items[i] for i in w.inputs[-1]] == ["i1", "i2", "i3"]
    assert [data.items[i] for i in w.targets[-1]] == ["i4", "i5"]
    assert w.target_mask.all() and len(w) == 4


def test_last_items_pads_on_the_left() -> None:
    out = last_items([np.array([1, 2, 3]), np.array([7])], L=2, pad=9)
    assert out.tolist() == [[2, 3], [9, 7]]


def test_negative_sampler_never_returns_a_training_item(synthetic: Interactions) -> None:
    data = split_sequential(synthetic)
    sampler = NegativeSampler(data, seed=1)
    users = np.repeat(np.arange(data.n_users), 5)
    negs = sampler.sample(users, 20)
    assert negs.shape == (len(users), 20)
    for u, row in zip(users, negs, strict=True):
        assert not set(row.tolist()) & set(data.train[u].tolist())
    assert sampler.seen(np.array([0]), data.train[0][None, :]).all()


def test_dates_and_datetimes_order_the_split_and_bad_timestamps_are_errors() -> None:
    days = ["2020-01-04", "2020-01-03T10:00:00", "2020-01-02", "2020-01-01 08:00"]
    for ts in (days, pd.to_datetime(["2020-01-04", "2020-01-03", "2020-01-02", "2020-01-01"], utc=True)):
        df = pd.DataFrame({"user": ["a"] * 4, "item": ["1", "2", "3", "4"], "timestamp": ts})
        data = split_sequential(Interactions(df, source="mem"), n_test=1, n_valid=1)
        assert _ids(data, "train", "a") == ["4", "3"] and _ids(data, "test", "a") == ["1"]
    df = pd.DataFrame({"user": ["a"] * 4, "item": ["1", "2", "3", "4"], "timestamp": [1, 2, "soon", None]})
    with pytest.raises(DataFormatError, match=r"^mem: record 3: timestamp 'soon' is neither a number nor"):
        split_sequential(Interactions(df, source="mem"))


def test_many_tied_timestamps_are_a_warning_and_a_few_are_not() -> None:
    from distillrank.errors import DataWarning

    days = [("a", f"i{k}", float(k // 3)) for k in range(9)]  # three items a day: every timestamp tied
    with pytest.warns(DataWarning, match="100% of the interactions share their timestamp"):
        assert split_sequential(_frame(days)).stats()["tied_timestamps_share"] == 1.0
    some = [("a", f"i{k}", float(k // 2)) for k in range(10)] + [("a", f"j{k}", 50.0 + k) for k in range(5)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 10 of 15 tied: below the threshold (MovieLens-100K has 0.76)
        warnings.filterwarnings("ignore", ".*fewer than 10 unseen items")  # (one user: a tiny catalogue)
        assert split_sequential(_frame(some)).stats()["tied_timestamps_share"] == round(10 / 15, 4)


def test_repr_is_a_summary_not_every_array(synthetic: Interactions) -> None:
    data = split_sequential(synthetic, n_test=1, n_valid=1)
    counts = {p: sum(len(s) for s in getattr(data, p)) for p in ("train", "valid", "test")}
    assert repr(data) == (
        f"SequentialData({data.n_users} users, {data.n_items} items; interactions train={counts['train']:,}, "
        f"valid={counts['valid']}, test={counts['test']}, source='synthetic')"
    )


def test_a_catalogue_hardly_larger_than_what_users_saw_is_a_warning() -> None:
    """One user: once seen items are left out, the only items to rank are the test items, so every
    model scores 1.0; the split warns and counts such users."""
    from distillrank.errors import DataWarning

    one = [("a", f"i{k}", float(k)) for k in range(12)]
    with pytest.warns(DataWarning, match="1 of 1 test users have fewer than 10 unseen items besides"):
        assert split_sequential(_frame(one)).stats()["few_decoy_test_users"] == 1
    many = [(f"u{u}", f"i{(u * 7 + k) % 60}", float(k)) for u in range(20) for k in range(6)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert split_sequential(_frame(many)).stats()["few_decoy_test_users"] == 0


def test_repeated_pairs_are_dropped_and_counted() -> None:
    rows = [("a", f"i{k}", float(k)) for k in range(5)] + [("a", "i1", 9.0), ("a", "i2", 10.0)]
    data = split_sequential(_frame(rows))
    assert data.repeats_dropped == 2 and data.stats()["repeats_dropped"] == 2
    assert sum(len(getattr(data, p)[0]) for p in ("train", "valid", "test")) == 5
