"""Bad inputs for the svmlight, interaction, Yandex and Open Bandit readers, with the exact error.

Each case writes small files into ``tmp_path`` and expects one ``DataFormatError`` whose message is
``path:line: problem`` with ``{d}`` standing for ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from distillrank.data.formats.interactions_io import read_interactions
from distillrank.data.formats.obd import read_obd_csv
from distillrank.data.formats.svmlight import read_svmlight
from distillrank.data.formats.yandex import read_yandex_clicklog
from distillrank.errors import DataFormatError

OBD_HEADER = ",timestamp,item_id,position,click,propensity_score,user_feature_0\n"
OBD_OK = "0,2019-11-24 00:00:34+00:00,1,1,0,0.5,u\n"
T = "2019-11-24 00:00:35+00:00"
strict_yandex = partial(read_yandex_clicklog, unknown_clicks="error")
COLUMNS_HINT = (
    "say which column is which with --columns (columns=): names in file order for a file without a "
    "header (user,timestamp,,,item; empty: not used) or NAME=COLUMN pairs for named columns "
    "(user=visitorid,item=itemid)"
)

# (id, reader, files {name: content}, file to read, expected message)
CASES: list[tuple[str, Callable[..., Any], dict[str, str], str, str]] = [
    # --- svmlight / LETOR / LightGBM ---
    ("svm-label", read_svmlight, {"f.txt": "1 qid:1 1:1\nabc qid:1 1:0.5\n"}, "f.txt",
     "{d}/f.txt:2: label 'abc' is not a number"),
    ("svm-no-colon", read_svmlight, {"f.txt": "1 qid:1 1:0.5 2=0.3\n"}, "f.txt",
     "{d}/f.txt:1: malformed feature '2=0.3' (expected index:value)"),
    ("svm-bad-value", read_svmlight, {"f.txt": "1 qid:1 1:0.5\n0 qid:1 1:abc\n"}, "f.txt",
     "{d}/f.txt:2: malformed feature '1:abc' (expected index:value)"),
    ("svm-float-index", read_svmlight, {"f.txt": "1 qid:1 1.5:3\n"}, "f.txt",
     "{d}/f.txt:1: malformed feature '1.5:3' (expected index:value)"),
    ("svm-empty-value", read_svmlight, {"f.txt": "1 qid:1 1: 2:3\n"}, "f.txt",
     "{d}/f.txt:1: malformed feature '1:' (expected index:value)"),
    ("svm-two-colons", read_svmlight, {"f.txt": "1 qid:1 1:2:3 4\n"}, "f.txt",
     "{d}/f.txt:1: malformed feature '1:2:3' (expected index:value)"),
    ("svm-negative-index", read_svmlight, {"f.txt": "1 qid:1 -1:3\n"}, "f.txt",
     "{d}/f.txt:1: negative feature index in '-1:3'"),
    ("svm-duplicate-feature", read_svmlight, {"f.txt": "0 qid:1 1:0.5\n1 qid:1 3:1 2:1 3:2\n"}, "f.txt",
     "{d}/f.txt:2: feature 3 appears twice"),
    ("svm-qid-then-none", read_svmlight, {"f.txt": "0 qid:1 1:1\n\n1 2:1\n"}, "f.txt",
     "{d}/f.txt:3: row has no qid: but the row on line 1 has one"),
    ("svm-none-then-qid", read_svmlight, {"f.txt": "# header\n0 1:1\n1 qid:1 2:1\n"}, "f.txt",
     "{d}/f.txt:3: row has qid: but the row on line 2 has none"),
    ("svm-empty-qid", read_svmlight, {"f.txt": "0 qid: 1:1\n"}, "f.txt",
     "{d}/f.txt:1: empty qid"),
    ("svm-not-contiguous", read_svmlight, {"f.txt": "0 qid:1 1:1\n0 qid:2 1:1\n0 qid:1 1:1\n"}, "f.txt",
     "{d}/f.txt:3: rows of query '1' are not contiguous (it appeared before)"),
    ("svm-group-sum", read_svmlight, {"f.txt": "0 1:1\n1 1:1\n2 1:1\n", "f.txt.query": "2\n2\n"}, "f.txt",
     "{d}/f.txt.query: group sizes sum to 4 but {d}/f.txt has 3 rows"),
    ("svm-group-not-int", read_svmlight, {"f.txt": "0 1:1\n", "f.txt.query": "2\nx\n"}, "f.txt",
     "{d}/f.txt.query:2: group size 'x' is not an integer"),
    ("svm-group-zero", read_svmlight, {"f.txt": "0 1:1\n", "f.txt.query": "1\n0\n"}, "f.txt",
     "{d}/f.txt.query:2: group size 0 must be positive"),
    ("svm-no-query-file", read_svmlight, {"f.txt": "0 1:1\n"}, "f.txt",
     "{d}/f.txt: rows have no qid: and there is no query file {d}/f.txt.query (pass query_file=)"),
    ("svm-query-file-disagrees", lambda p: read_svmlight(p, query_file=p.parent / "g.query"),
     {"f.txt": "0 qid:a 1:1\n0 qid:a 1:1\n0 qid:b 1:1\n", "g.query": "1\n2\n"}, "f.txt",
     "{d}/g.query: group sizes disagree with the qid: blocks of {d}/f.txt"),
    ("svm-too-wide", partial(read_svmlight, n_features=2), {"f.txt": "0 qid:1 1:1\n0 qid:1 3:1\n"}, "f.txt",
     "{d}/f.txt:2: feature 3 does not fit in n_features=2"),
    ("svm-zero-in-one-based", partial(read_svmlight, zero_based=False), {"f.txt": "0 qid:1 0:1\n"}, "f.txt",
     "{d}/f.txt:1: feature index 0 in a file read as 1-based"),
    # --- interaction tables ---
    ("inter-no-user", read_interactions, {"r.csv": "movieId,rating\n1,3\n"}, "r.csv",
     "{d}/r.csv:1: no user column in the header 'movieId,rating' "
     "(expected one of: user, user_id, userId, uid, username, reviewerID, visitorid, customer_id); "
     + COLUMNS_HINT),
    ("inter-no-item", read_interactions, {"r.tsv": "user_id:token\trating:float\n1\t3\n"}, "r.tsv",
     "{d}/r.tsv:1: no item column in the header 'user_id:token\\trating:float' "
     "(expected one of: item, item_id, itemId, movieId, movie_id, movie, iid, parent_asin, asin, "
     "business_id, product_id, book_id); " + COLUMNS_HINT),
    ("inter-unknown-header", read_interactions, {"r.csv": "a,b,c\n1,2,3\n"}, "r.csv",
     "{d}/r.csv:1: 'a,b,c' is neither a header naming the user and item columns nor a row user, "
     "item[, rating[, timestamp]] of a file without a header: " + COLUMNS_HINT),
    ("inter-two-user-columns", read_interactions, {"r.csv": "user,user_id,item\n1,1,2\n"}, "r.csv",
     "{d}/r.csv:1: columns 'user' and 'user_id' both name the user: pass --columns user=user_id "
     "(columns=) to choose"),
    ("inter-json-not-an-object", read_interactions, {"r.jsonl": '{"user": 1, "item": 2}\n{"user": 1\n'},
     "r.jsonl", "{d}/r.jsonl:2: not a JSON object"),
    ("inter-json-no-item", read_interactions, {"r.jsonl": '{"user": 1, "sku": 2}\n'}, "r.jsonl",
     "{d}/r.jsonl: no item key (keys: user, sku; expected one of: item, item_id, itemId, movieId, "
     "movie_id, movie, iid, parent_asin, asin, business_id, product_id, book_id); pass --columns "
     "item=KEY (columns=) to name it"),
    ("inter-json-bad-timestamp", read_interactions,
     {"r.jsonl": '{"user": 1, "item": 2, "date": "2020-01-01"}\n\n{"user": 1, "item": 3, "date": "May 5"}\n'},
     "r.jsonl", "{d}/r.jsonl:3: timestamp 'May 5' is neither a number nor an ISO 8601 date"),
    ("inter-columns-wrong-width", partial(read_interactions, columns="user,timestamp,item"),
     {"c.txt": "0\t2010-10-19T23:55:27Z\t30.2\t-97.7\t22847\n"}, "c.txt",
     "{d}/c.txt:1: columns names 3 columns, the file has 5"),
    ("inter-columns-no-such-column", partial(read_interactions, columns="user=visitor"),
     {"e.csv": "timestamp,visitorid,event,itemid\n1,2,view,3\n"}, "e.csv",
     "{d}/e.csv:1: no column 'visitor' for the user (columns: timestamp, visitorid, event, itemid)"),
    ("inter-timestamp", read_interactions, {"r.csv": "user,item,timestamp\n1,2,100\n\n1,3,abc\n"}, "r.csv",
     "{d}/r.csv:4: timestamp 'abc' is neither a number nor an ISO 8601 date"),
    ("inter-timestamp-mixed", read_interactions,
     {"r.csv": "user,item,timestamp\n1,2,2020-01-02\n1,3,01/02/2020\n"}, "r.csv",
     "{d}/r.csv:3: timestamp '01/02/2020' is neither a number nor an ISO 8601 date"),
    ("inter-rating", read_interactions, {"u.data": "1\t2\t3\t100\n1\t3\tgood\t101\n"}, "u.data",
     "{d}/u.data:2: rating 'good' is not a number"),
    ("inter-short-line", read_interactions, {"r.csv": "user,item,rating\n1,2,3\n1,2\n"}, "r.csv",
     "{d}/r.csv:3: expected 3 columns, found 2"),
    ("inter-long-line", read_interactions, {"ratings.dat": "1::2::3::4\n1::2::3::4::5\n"}, "ratings.dat",
     "{d}/ratings.dat:2: expected 4 columns, found 5"),
    ("inter-empty-user", read_interactions, {"r.csv": "user,item\n1,2\n,2\n"}, "r.csv",
     "{d}/r.csv:3: empty user"),
    ("inter-empty-file", read_interactions, {"r.csv": "\n\n"}, "r.csv",
     "{d}/r.csv: empty interaction file"),
    # --- Yandex WSCD click logs ---
    ("yandex-unknown-click", strict_yandex, {"s": "q\ta,b : a\nq\ta,b : a; q\ta,b : c , a;\n"}, "s",
     "{d}/s:2: session 2: clicked document 'c' is not in the result list"),
    ("yandex-duplicate-doc", strict_yandex, {"s": "q\ta,b,a : a\n"}, "s",
     "{d}/s:1: session 1: document 'a' appears twice in the result list"),
    ("yandex-no-colon", strict_yandex, {"s": "q\ta :; q\ta,b,c\n"}, "s",
     "{d}/s:1: session 2: no ':' between the result list and the clicks"),
    ("yandex-two-colons", strict_yandex, {"s": "q\ta : a : a\n"}, "s",
     "{d}/s:1: session 1: more than one ':'"),
    ("yandex-no-tab", strict_yandex, {"s": "q a,b : a\n"}, "s",
     "{d}/s:1: session 1: expected 'query<TAB>doc1,doc2,... : clicks'"),
    ("yandex-empty-doc", strict_yandex, {"s": "\n\nq\ta,,b :\n"}, "s",
     "{d}/s:3: session 1: empty document id in the result list"),
    # --- Open Bandit Dataset ---
    ("obd-propensity-zero", read_obd_csv, {"o.csv": OBD_HEADER + OBD_OK + f"1,{T},2,2,0,0,u\n"},
     "o.csv", "{d}/o.csv:3: propensity_score 0.0 is not in (0, 1]"),
    ("obd-propensity-above-one", read_obd_csv, {"o.csv": OBD_HEADER + f"0,{T},1,1,0,1.5,u\n"},
     "o.csv", "{d}/o.csv:2: propensity_score 1.5 is not in (0, 1]"),
    ("obd-propensity-text", read_obd_csv, {"o.csv": OBD_HEADER + OBD_OK + f"1,{T},2,2,0,high,u\n"},
     "o.csv", "{d}/o.csv:3: propensity_score 'high' is not a number"),
    ("obd-position", read_obd_csv, {"o.csv": OBD_HEADER + OBD_OK + f"1,{T},2,0,0,0.5,u\n"},
     "o.csv", "{d}/o.csv:3: position 0 is not an integer >= 1"),
    ("obd-click", read_obd_csv, {"o.csv": OBD_HEADER + OBD_OK + f"1,{T},2,1,2,0.5,u\n"},
     "o.csv", "{d}/o.csv:3: click 2 is not 0 or 1"),
    ("obd-timestamp", read_obd_csv, {"o.csv": OBD_HEADER + OBD_OK + "1,yesterday,2,1,0,0.5,u\n"},
     "o.csv", "{d}/o.csv:3: timestamp 'yesterday' is not an ISO 8601 date"),
    ("obd-empty-click", read_obd_csv, {"o.csv": OBD_HEADER + OBD_OK + f"1,{T},2,1,,0.5,u\n"},
     "o.csv", "{d}/o.csv:3: empty click"),
    ("obd-missing-column", read_obd_csv, {"o.csv": ",timestamp,item_id,position,click\n0,t,1,1,0\n"},
     "o.csv", "{d}/o.csv:1: missing column(s) propensity_score in the header"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("reader", "files", "target", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input(
    tmp_path: Path, reader: Callable[..., Any], files: dict[str, str], target: str, expected: str
) -> None:
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    with pytest.raises(DataFormatError) as e:
        reader(tmp_path / target)
    assert str(e.value) == expected.format(d=tmp_path)
