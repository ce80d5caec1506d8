"""Interaction tables: RecBole typed headers, common CSV headers, headerless MovieLens files."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distillrank.data.formats.interactions_io import parse_columns, read_interactions
from distillrank.errors import DataFormatError, DatasetNotFoundError


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_recbole_typed_header(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "x.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949\n7\t0042\t4.5\t1\n",
    )
    it = read_interactions(f)
    df = it.df
    assert list(df.columns) == ["user", "item", "rating", "timestamp"]
    assert df["user"].tolist() == ["196", "7"]
    assert df["item"].tolist() == ["242", "0042"]  # ids stay strings, leading zeros kept
    assert df["rating"].tolist() == [3.0, 4.5] and df["timestamp"].tolist() == [881250949.0, 1.0]
    assert df["timestamp"].dtype == np.float64
    assert (it.n_users, it.n_items) == (2, 2)


def test_common_csv_header_with_extra_columns(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "r.csv",
        "userId,movieId,rating,timestamp,tag\n1,31,2.5,1260759144,x\n1,1029,3,1260759179,y\n",
    )
    df = read_interactions(f).df
    assert list(df.columns) == ["user", "item", "rating", "timestamp", "tag"]
    assert df["item"].tolist() == ["31", "1029"] and df["tag"].tolist() == ["x", "y"]


def test_ts_and_missing_rating(tmp_path: Path) -> None:
    f = _write(tmp_path / "r.tsv", "user\titem\tts\nu1\ti1\t5\nu2\ti2\t\n")
    df = read_interactions(f).df
    assert df["timestamp"].iloc[0] == 5.0 and np.isnan(df["timestamp"].iloc[1])
    assert df["rating"].isna().all()


def test_time_header_without_timestamp(tmp_path: Path) -> None:
    df = read_interactions(_write(tmp_path / "r.csv", "item,user,time\na,b,3\n")).df
    assert df[["user", "item", "timestamp"]].iloc[0].tolist() == ["b", "a", 3.0]
    df = read_interactions(_write(tmp_path / "s.csv", "user,item\nb,a\n")).df
    assert np.isnan(df["timestamp"].iloc[0]) and np.isnan(df["rating"].iloc[0])


def test_headerless_u_data(tmp_path: Path) -> None:
    df = read_interactions(_write(tmp_path / "u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n")).df
    assert df["user"].tolist() == ["196", "186"] and df["rating"].tolist() == [3.0, 3.0]
    assert df["timestamp"].tolist() == [881250949.0, 891717742.0]


def test_headerless_ratings_dat(tmp_path: Path) -> None:
    df = read_interactions(
        _write(tmp_path / "ratings.dat", "1::1193::5::978300760\n\n2::661::3::978302109\n")
    ).df
    assert df["item"].tolist() == ["1193", "661"] and df["timestamp"].iloc[1] == 978302109.0


def test_explicit_separator_and_whitespace(tmp_path: Path) -> None:
    df = read_interactions(_write(tmp_path / "r.txt", "user;item;rating\na;b;1\n"), sep=";").df
    assert df["rating"].tolist() == [1.0]
    df = read_interactions(_write(tmp_path / "w.txt", "1 2 3\n4  5 6\n")).df
    assert df["item"].tolist() == ["2", "5"]


def test_gzip(tmp_path: Path) -> None:
    path = tmp_path / "r.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("user,item,rating\n1,2,3\n")
    assert len(read_interactions(path)) == 1


@pytest.mark.data
def test_ml_100k(shared_data: Path) -> None:
    path = shared_data / "recsys" / "ml-100k" / "ml-100k.inter"
    if not path.exists():
        pytest.fail(f"{path} is missing: set DISTILLRANK_DATA to the shared data folder", pytrace=False)
    read_interactions(path)  # warm caches so the timing measures the reader
    start = time.perf_counter()
    it = read_interactions(path)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5, f"ml-100k took {elapsed:.2f} s"
    assert (len(it), it.n_users, it.n_items) == (100_000, 943, 1_682)
    df = it.df
    assert sorted(df["rating"].unique().tolist()) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert df["timestamp"].notna().all()
    assert df.iloc[0][["user", "item", "rating", "timestamp"]].tolist() == ["196", "242", 3.0, 881250949.0]


def test_iso_8601_timestamps_become_seconds(tmp_path: Path) -> None:
    text = (
        "user,item,timestamp\n"
        "a,x,2020-01-02T03:04:05\n"
        "a,y,2020-01-02 03:04:06\n"
        "a,z,2020-01-03\n"
        "b,x,2020-01-02T03:04:05+01:00\n"
        "b,y,\n"
    )
    ts = read_interactions(_write(tmp_path / "r.csv", text)).df["timestamp"]
    assert ts.dtype == np.float64
    assert ts.iloc[:4].tolist() == [1577934245.0, 1577934246.0, 1578009600.0, 1577930645.0]
    assert np.isnan(ts.iloc[4])


def test_parquet_from_elsewhere(tmp_path: Path) -> None:
    """A Parquet file written by pandas (MovieLens-latest column names, integer ids, datetimes)."""
    df = pd.DataFrame(
        {
            "userId": [1, 1, 2],
            "movieId": [10, 20, 10],
            "rating": [4, 3, 5],
            "timestamp": pd.to_datetime(
                ["2020-01-02 03:04:05", "2020-01-02 03:04:06", "1970-01-01 00:00:00"]
            ),
            "tag": ["x", "y", "z"],
        }
    )
    df.to_parquet(tmp_path / "r.parquet", index=False)
    got = read_interactions(tmp_path / "r.parquet").df
    assert list(got.columns) == ["user", "item", "rating", "timestamp", "tag"]
    assert got["user"].tolist() == ["1", "1", "2"] and got["item"].tolist() == ["10", "20", "10"]
    assert got["rating"].tolist() == [4.0, 3.0, 5.0]
    assert got["timestamp"].tolist() == [1577934245.0, 1577934246.0, 0.0]
    df[["userId", "movieId"]].to_parquet(tmp_path / "implicit.parquet", index=False)
    got = read_interactions(tmp_path / "implicit.parquet").df
    assert got["rating"].isna().all() and got["timestamp"].isna().all()
    df[["movieId", "rating"]].to_parquet(tmp_path / "bad.parquet", index=False)
    with pytest.raises(DataFormatError, match=r"bad\.parquet: no user column \(columns: movieId, rating"):
        read_interactions(tmp_path / "bad.parquet")


def test_byte_order_mark_and_quoted_header(tmp_path: Path) -> None:
    """Excel writes a UTF-8 byte-order mark; R's write.csv quotes the header and string fields."""
    bom = tmp_path / "excel.csv"
    bom.write_bytes(b"\xef\xbb\xbfuserId,movieId,rating,timestamp\r\n1,2,3,100\r\n")
    df = read_interactions(bom).df
    assert df[["user", "item", "rating", "timestamp"]].iloc[0].tolist() == ["1", "2", 3.0, 100.0]
    quoted = _write(tmp_path / "r.csv", '"user","item","timestamp"\n"a b","x,y",100\n')
    df = read_interactions(quoted).df
    assert df[["user", "item", "timestamp"]].iloc[0].tolist() == ["a b", "x,y", 100.0]


def test_semicolon_separated_with_quotes(tmp_path: Path) -> None:
    """European spreadsheets write ``;`` between columns (the comma is their decimal mark)."""
    f = _write(tmp_path / "x.csv", 'user;item;rating;timestamp\n"u 1";i1;4;10\nu2;"i;2";5;20\n')
    df = read_interactions(f).df
    assert df["user"].tolist() == ["u 1", "u2"]
    assert df["item"].tolist() == ["i1", "i;2"]
    assert df["timestamp"].tolist() == [10.0, 20.0]


def test_headerless_with_iso_8601_timestamps(tmp_path: Path) -> None:
    f = _write(tmp_path / "x.tsv", "u1\ti1\t5\t2020-01-01\nu1\ti2\t3\t2020-01-02T00:00:00Z\n")
    df = read_interactions(f).df
    assert df["user"].tolist() == ["u1", "u1"]
    assert df["timestamp"].tolist() == [1577836800.0, 1577923200.0]
    # a fourth column that is neither a number nor a date: neither a header nor a row, and --columns helps
    with pytest.raises(DataFormatError, match=r"y.tsv:1: .* is neither a header .* --columns"):
        read_interactions(_write(tmp_path / "y.tsv", "u1\ti1\t5\tyesterday\n"))


def test_parquet_columns_naming_the_same_thing(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pd.DataFrame({"userId": ["u"], "user_id": ["v"], "item": ["i"], "ts": [1]}).to_parquet(path)
    with pytest.raises(DataFormatError, match="columns 'userId' and 'user_id' both name the user"):
        read_interactions(path)


def test_amazon_2023_json_lines_use_the_parent_asin(tmp_path: Path) -> None:
    line = (
        '{{"rating": {r}, "title": "Great", "text": "Works, as \\"expected\\".\\nYes", "images": [], '
        '"asin": "{a}", "parent_asin": "{p}", "user_id": "{u}", "timestamp": {t}, "helpful_vote": 0, '
        '"verified_purchase": true}}\n'
    )
    text = line.format(r=5.0, a="B00V1", p="B00P1", u="AGKHLEW2SOWHNMFQIJGBECAF7INQ", t=1588687728923)
    text += "\n" + line.format(r=3.0, a="B00V2", p="B00P1", u="AE2", t=1588687728924)
    path = tmp_path / "Toys.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(text)
    df = read_interactions(path).df
    assert df["user"].tolist() == ["AGKHLEW2SOWHNMFQIJGBECAF7INQ", "AE2"]
    assert df["item"].tolist() == ["B00P1", "B00P1"] and df["asin"].tolist() == ["B00V1", "B00V2"]
    assert df["rating"].tolist() == [5.0, 3.0] and df["timestamp"].tolist() == [1588687728923, 1588687728924]
    assert "images" not in df.columns and df["text"].iloc[0] == 'Works, as "expected".\nYes'
    df = read_interactions(path, columns={"item": "asin"}).df  # the variant instead
    assert df["item"].tolist() == ["B00V1", "B00V2"]


def test_yelp_and_steam_json_lines(tmp_path: Path) -> None:
    yelp = _write(
        tmp_path / "yelp_academic_dataset_review.json",
        '{"review_id":"KU_O5udG6zpxOg","user_id":"mh_-eMZ6K5RLWhZyISBhwA","business_id":"XQfwVwDr-v0ZS3_C",'
        '"stars":3.0,"useful":0,"text":"ok","date":"2018-07-07 22:09:11"}\n',
    )
    df = read_interactions(yelp).df
    assert df[["user", "item", "rating"]].iloc[0].tolist() == [
        "mh_-eMZ6K5RLWhZyISBhwA",
        "XQfwVwDr-v0ZS3_C",
        3.0,
    ]
    assert df["timestamp"].iloc[0] == 1531001351.0
    steam = _write(  # UCSD Steam reviews: Python dict literals, not JSON
        tmp_path / "steam_reviews.json",
        "{'username': 'Chaos Syren', 'hours': 0.1, 'products': 41, 'product_id': '725280', "
        "'page_order': 0, 'date': '2017-12-17', 'text': \"It's fun\", 'early_access': False}\n",
    )
    df = read_interactions(steam).df
    assert df[["user", "item"]].iloc[0].tolist() == ["Chaos Syren", "725280"]
    assert df["timestamp"].iloc[0] == 1513468800.0 and np.isnan(df["rating"].iloc[0])


def test_columns_name_a_headerless_check_in_or_listening_log(tmp_path: Path) -> None:
    gowalla = _write(
        tmp_path / "loc-gowalla_totalCheckins.txt",
        "0\t2010-10-19T23:55:27Z\t30.2359091167\t-97.7951395833\t22847\n"
        "0\t2010-10-18T22:17:43Z\t30.2691029532\t-97.7493953705\t420315\n",
    )
    with pytest.raises(DataFormatError, match=r"totalCheckins.txt:1: .* --columns"):
        read_interactions(gowalla)
    df = read_interactions(gowalla, columns="user,timestamp,,,item").df
    assert list(df.columns) == ["user", "item", "rating", "timestamp"]
    assert df["item"].tolist() == ["22847", "420315"] and df["timestamp"].iloc[0] == 1287532527.0
    lastfm = _write(  # an empty artist MBID, quotes in a track name
        tmp_path / "userid-timestamp-artid-artname-traid-traname.tsv",
        "user_000001\t2009-05-04T23:08:57Z\tf1b1cf71-bd35-4e99-8624-24a6e15f133a\tDeep Dish\t\t"
        'Fuzzy Town (Dj "S" Remix)\n'
        "user_000001\t2009-05-04T13:54:10Z\t\tRyuichi Sakamoto\t\tComposition 0919 (Live_2009_4_15)\n",
    )
    df = read_interactions(lastfm, columns=["user", "timestamp", "", "item", "", ""]).df
    assert df["item"].tolist() == ["Deep Dish", "Ryuichi Sakamoto"]
    events = _write(
        tmp_path / "events.csv",
        "timestamp,visitorid,event,itemid,transactionid\n1433221332117,257597,view,355908,\n",
    )
    assert read_interactions(events).df["user"].tolist() == ["257597"]  # RetailRocket: visitorid
    shop = _write(tmp_path / "orders.csv", "ts,member,sku\n1433221332117,257597,355908\n")
    with pytest.raises(DataFormatError, match=r"orders.csv:1: no user column .* --columns"):
        read_interactions(shop)
    df = read_interactions(shop, columns="user=member,item=sku,timestamp=ts").df
    assert df[["user", "item", "timestamp"]].iloc[0].tolist() == ["257597", "355908", 1433221332117.0]


def test_headerless_user_item_timestamp_and_a_first_row_that_looks_like_a_header(tmp_path: Path) -> None:
    df = read_interactions(_write(tmp_path / "a.tsv", "196\t242\t881250949\n186\t302\t891717742\n")).df
    assert df["timestamp"].tolist() == [881250949.0, 891717742.0] and df["rating"].isna().all()
    df = read_interactions(_write(tmp_path / "b.tsv", "u1\ti1\t2020-01-01\n")).df
    assert df["timestamp"].tolist() == [1577836800.0]
    df = read_interactions(_write(tmp_path / "c.tsv", "u1\ti1\t5\n")).df  # a rating, as before
    assert df["rating"].tolist() == [5.0] and df["timestamp"].isna().all()
    df = read_interactions(_write(tmp_path / "d.csv", "user,item,3,881250949\nu2,i2,4,881250950\n")).df
    assert df["user"].tolist() == ["user", "u2"] and df["timestamp"].tolist() == [881250949.0, 881250950.0]


def test_parse_columns() -> None:
    assert parse_columns("user,timestamp,,,item") == ["user", "timestamp", "", "", "item"]
    assert parse_columns("user=visitorid, item=itemid") == {"user": "visitorid", "item": "itemid"}
    assert parse_columns(None) is None
    for bad, message in [
        ("user,when,item", "'when' is not one of user, item, rating, timestamp"),
        ("user,item,user", "a name is given twice"),
        ("user,timestamp", "no item"),
        ("user=", "expected NAME=COLUMN pairs"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_columns(bad)


def test_detected_without_a_header_or_in_json_lines(tmp_path: Path) -> None:
    from distillrank.data.formats.detect import detect_kind

    amazon = _write(tmp_path / "ratings_Books.csv", "AH2L9G3DQHHAJ,0000000116,4.0,1019865600\n")
    assert detect_kind(amazon) == "interactions"
    with gzip.open(tmp_path / "ratings.dat.gz", "wt") as f:
        f.write("1::1193::5::978300760\n")
    assert detect_kind(tmp_path / "ratings.dat.gz") == "interactions"
    review = _write(
        tmp_path / "r.jsonl", '{"rating": 5.0, "parent_asin": "B0", "user_id": "A1", "timestamp": 1}\n'
    )
    assert detect_kind(review) == "interactions"
    with pytest.raises(DatasetNotFoundError):  # TREC qrels are not taken for a headerless table
        detect_kind(_write(tmp_path / "qrels", "1 0 1239 1\n"))


def test_a_folder_with_several_tables_reads_its_main_one_or_says_which_to_pass(tmp_path: Path) -> None:
    from distillrank.data.catalogue import load_dataset
    from distillrank.errors import DatasetNotFoundError

    ml20m = tmp_path / "ml-20m"  # MovieLens 20M: tags.csv is an interaction table too
    ml20m.mkdir()
    (ml20m / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n")
    (ml20m / "tags.csv").write_text("userId,movieId,tag,timestamp\n18,4141,Mark Waters,1240597180\n")
    (ml20m / "movies.csv").write_text("movieId,title,genres\n1,Toy Story (1995),Animation\n")
    assert load_dataset(ml20m).df["rating"].tolist() == [3.5]
    other = tmp_path / "two"
    other.mkdir()
    (other / "clicks.csv").write_text("user,item,timestamp\n1,2,3\n")
    (other / "buys.csv").write_text("user,item,timestamp\n1,2,3\n")
    with pytest.raises(DatasetNotFoundError, match=r"several interaction tables \(buys.csv, clicks.csv\)"):
        load_dataset(other)


def test_columns_name_the_table_of_a_folder(tmp_path: Path) -> None:
    from distillrank.data.catalogue import load_dataset

    folder = tmp_path / "gowalla"
    folder.mkdir()
    (folder / "README.txt").write_text("Gowalla check-ins\n")
    (folder / "checkins.txt").write_text("0\t2010-10-19T23:55:27Z\t30.23\t-97.79\t22847\n")
    df = load_dataset(folder, columns="user,timestamp,,,item").df
    assert df[["user", "item"]].values.tolist() == [["0", "22847"]]


def test_ids_stored_as_whole_floats_lose_their_point_zero(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    pd.DataFrame({"user": [196.0, 22.0], "item": [1.0, 2.5], "timestamp": [1, 2]}).to_parquet(path)
    df = read_interactions(path).df
    assert df["user"].tolist() == ["196", "22"]  # whole floats: the integer ids they were
    assert df["item"].tolist() == ["1.0", "2.5"]  # not all whole: kept as written


def test_headerless_timestamp_before_rating_is_told_apart(tmp_path: Path) -> None:
    df = read_interactions(_write(tmp_path / "r.tsv", "22\t377\t878887116\t1\n5\t8\t878887117\t4\n")).df
    assert df["timestamp"].tolist() == [878887116.0, 878887117.0] and df["rating"].tolist() == [1.0, 4.0]


def test_headerless_fractional_epochs_are_timestamps(tmp_path: Path) -> None:
    df = read_interactions(_write(tmp_path / "r.tsv", "22\t377\t878887116.5\n5\t8\t878887117.25\n")).df
    assert df["timestamp"].tolist() == [878887116.5, 878887117.25] and df["rating"].isna().all()


def test_a_trailing_separator_on_every_line_adds_no_column(tmp_path: Path) -> None:
    df = read_interactions(
        _write(tmp_path / "r.tsv", "196\t242\t3\t881250949\t\r\n186\t302\t4\t891717742\t\r\n")
    ).df
    assert df["rating"].tolist() == [3.0, 4.0] and df["timestamp"].tolist() == [881250949.0, 891717742.0]


def test_rows_without_a_timestamp_are_a_warning_naming_the_first_line(tmp_path: Path) -> None:
    from distillrank.errors import DataWarning

    f = _write(tmp_path / "r.csv", "user,item,timestamp\na,x,1\nb,y,\nc,z,\n")
    with pytest.warns(DataWarning, match=r"r\.csv:3: no timestamp \(2 of the 3 rows have none\)"):
        read_interactions(f)
    quoted = _write(tmp_path / "q.csv", 'user,item,timestamp\n"a, b",x,1\n"c",y\n')
    with pytest.warns(DataWarning, match=r"q\.csv:3: no timestamp"):  # a short quoted row
        read_interactions(quoted)
    lines = _write(tmp_path / "r.jsonl", '{"user": 1, "item": 2, "ts": 5}\n{"user": 1, "item": 3}\n')
    with pytest.warns(DataWarning, match=r"r\.jsonl:2: no timestamp"):
        read_interactions(lines)


def test_a_quoted_row_with_a_field_too_many_names_its_line(tmp_path: Path) -> None:
    f = _write(tmp_path / "q.csv", 'user,item,rating,timestamp\n"a",x,1,2\n"b",y,1,2\n"c",z,1,2,9\n')
    with pytest.raises(DataFormatError, match=r"q\.csv:4: expected 4 columns, found 5"):
        read_interactions(f)


def test_binary_tables_by_their_magic_bytes_and_parts_and_json_arrays(tmp_path: Path) -> None:
    frame = pd.DataFrame({"user": ["a", "b"], "item": ["x", "y"], "timestamp": [1, 2]})
    frame.to_parquet(tmp_path / "t.parq")
    frame.to_feather(tmp_path / "t.feather")
    (tmp_path / "t.json").write_text(frame.to_json(orient="records"))
    for name in ("t.parq", "t.feather", "t.json"):
        df = read_interactions(tmp_path / name).df
        assert df["user"].tolist() == ["a", "b"] and df["timestamp"].tolist() == [1.0, 2.0], name
    parts = tmp_path / "spark"
    parts.mkdir()
    frame.iloc[:1].to_parquet(parts / "part-00000-abc.snappy.parquet")
    frame.iloc[1:].to_parquet(parts / "part-00001-abc.snappy.parquet")
    (parts / "_SUCCESS").write_text("")
    from distillrank.data.formats.detect import load_path

    assert sorted(load_path(parts).df["user"]) == ["a", "b"]  # the folder: both parts, not one


def test_a_file_named_parquet_that_is_not_is_named(tmp_path: Path) -> None:
    f = _write(tmp_path / "fake.parquet", "user,item,timestamp\na,b,1\n")
    with pytest.raises(DataFormatError, match=r"fake\.parquet: not a readable Parquet table"):
        read_interactions(f)


def test_a_long_first_line_is_shortened_in_the_error(tmp_path: Path) -> None:
    f = _write(tmp_path / "w.txt", "x" * 5000 + "\n")
    with pytest.raises(DataFormatError) as e:
        read_interactions(f)
    assert len(str(e.value)) < 800 and "..." in str(e.value)
