"""The original Yandex WSCD 2011 click-log layout (one Q/C action per line): sessions, clicks, errors,
detection, and the shared sample converted to that layout."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distillrank.data.clicklog import ClickLog
from distillrank.data.formats.clicktable import read_click_folder
from distillrank.data.formats.detect import detect_kind, load_path
from distillrank.data.formats.yandex import read_yandex_clicklog, read_yandex_folder
from distillrank.data.formats.yandex_original import is_yandex_original_line, read_yandex_original
from distillrank.errors import DataFormatError, DataWarning
from distillrank.feedback.click_models import PBM

WriteFile = Callable[[str, str], Path]  # the ``write`` fixture of tests/data/conftest.py


def _lines(*rows: str) -> str:
    """Rows written with spaces between fields, as tab-separated lines."""
    return "".join("\t".join(r.split()) + "\n" for r in rows)


# session 7: two queries; d1 clicked twice (counts once); d3 clicked after the second query, which does
# not show it (dropped); d9 never shown (dropped). Session 8: one query, no clicks.
# Session 7 comes back after session 8, with a third query.
LOG = _lines(
    "7 0 Q 101 213 d1 d2 d3",
    "7 5 C d1",
    "7 9 C d1",
    "7 12 C d2",
    "7 20 Q 102 213 d4 d1",
    "7 25 C d3",
    "7 26 C d4",
    "8 0 Q 101 1 d2 d1 d3",
    "7 40 C d9",
    "7 41 Q 101 213 d3 d2 d1",
    "7 44 C d3",
)

EXPECTED = pd.DataFrame(
    {
        "session_id": ["7_0"] * 3 + ["7_1"] * 2 + ["8_0"] * 3 + ["7_2"] * 3,
        "qid": ["101"] * 3 + ["102"] * 2 + ["101"] * 6,
        "position": [1, 2, 3, 1, 2, 1, 2, 3, 1, 2, 3],
        "docno": ["d1", "d2", "d3", "d4", "d1", "d2", "d1", "d3", "d3", "d2", "d1"],
        "click": [1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0],
    }
)


def _frame(log: ClickLog) -> pd.DataFrame:
    df = log.df
    return pd.DataFrame({c: df[c].tolist() for c in EXPECTED.columns})


def test_tiny_log_gives_the_expected_click_log(write: WriteFile) -> None:
    with pytest.warns(DataWarning, match=r"dropped 2 clicks .* \(first: line 6, session '7', URL 'd3'\)"):
        log = read_yandex_original(write("train.txt", LOG))
    pd.testing.assert_frame_equal(_frame(log), EXPECTED)
    assert log.df["propensity"].isna().all()
    assert log.n_sessions == 4 and len(log) == 11
    sessions = list(log.sessions())
    assert [s.session_id for s in sessions] == ["7_0", "7_1", "8_0", "7_2"]  # file order
    assert sessions[1].docnos == ["d4", "d1"] and sessions[1].clicks.tolist() == [1, 0]


def test_gzip_crlf_and_blank_lines_read_like_the_plain_file(write: WriteFile) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        plain = read_yandex_original(write("a.txt", LOG))
        gz = read_yandex_original(write("b.txt.gz", "\n" + LOG.replace("\n", "\r\n\n")))
    pd.testing.assert_frame_equal(gz.df, plain.df)


def test_unknown_clicks_ignore_and_error(write: WriteFile) -> None:
    path = write("log.txt", LOG)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log = read_yandex_original(path, unknown_clicks="ignore")
    assert log.df["click"].tolist() == EXPECTED["click"].tolist()
    with pytest.raises(DataFormatError, match=r"log\.txt:6: clicked URL 'd3' is not in the result list"):
        read_yandex_original(path, unknown_clicks="error")
    with pytest.raises(ValueError, match="unknown_clicks must be"):
        read_yandex_original(path, unknown_clicks="drop")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (_lines("1 0 Q 5 2 a b", "1 3 Q 5 2"), 2, "query action with no URLs"),
        (_lines("1 0 Q 5 2 a b", "1 3 Q 5"), 2, "query action with 4 fields"),
        (_lines("1 0 Q 5 2 a b a"), 1, "URL 'a' appears twice in the result list"),
        ("1\t0\tQ\t5\t2\ta\t\tb\n", 1, "empty URL id at field 7"),
        (_lines("1 0 Q 5 2 a b", "1 3 C a b"), 2, "click action with 5 fields"),
        (_lines("1 0 Q 5 2 a b", "1 3 C"), 2, "click action with 3 fields"),
        (_lines("1 0 Q 5 2 a b", "1 3 X a"), 2, "unknown action type 'X'"),
        (_lines("1 0 Q 5 2 a b", "2 3 C a"), 2, "click action of session '2' before any query action"),
        (_lines("1 0 Q 5 2 a b", "1 soon C a"), 2, "TimePassed 'soon' is not an integer"),
        (_lines("1 0 Q 5 2 a b", "1 0"), 2, "2 tab-separated fields"),
    ],
)
def test_bad_input_names_file_and_line(write: WriteFile, text: str, line: int, problem: str) -> None:
    path = write("bad.txt.gz", text)
    with pytest.raises(DataFormatError) as info:
        read_yandex_original(path)
    assert info.value.path == str(path) and info.value.line == line
    assert problem in info.value.problem
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_line_recognition() -> None:
    assert is_yandex_original_line("0\t0\tQ\t13\t213\td1\td2\n")
    assert is_yandex_original_line("0\t10\tC\td1")
    assert not is_yandex_original_line("0\t0\tQ\t13\t213\n")  # no URL
    assert not is_yandex_original_line("q1\td1,d2 : d1\n")  # the sample layout
    assert not is_yandex_original_line("196\t242\t3\t881250949\n")  # MovieLens u.data


@pytest.mark.parametrize("name", ["clicks.txt", "clicks.txt.gz"])
def test_detection_and_load_path_for_a_file(write: WriteFile, name: str) -> None:
    path = write(name, LOG)
    assert detect_kind(path) == "clicks"
    with pytest.warns(DataWarning):
        ds = load_path(path)
    assert list(ds.splits) == ["train"]  # one log, not named for a split: the log to learn from
    pd.testing.assert_frame_equal(_frame(ds["train"]), EXPECTED)


def test_detection_and_readers_for_a_folder(write: WriteFile, tmp_path: Path) -> None:
    write("wscd/train.txt.gz", LOG)
    write("wscd/test.txt", _lines("3 0 Q 9 1 x y", "3 1 C y"))
    folder = tmp_path / "wscd"
    assert detect_kind(folder) == "clicks"
    for read in (load_path, read_click_folder, read_yandex_folder):
        with pytest.warns(DataWarning, match="dropped 2 clicks"):
            ds = read(folder)
        assert list(ds.splits) == ["train", "test"]
        pd.testing.assert_frame_equal(_frame(ds["train"]), EXPECTED)
        test = ds["test"].df
        assert test["click"].tolist() == [0, 1] and test["session_id"].tolist() == ["3_0"] * 2


def test_click_models_fit_and_score_the_log(write: WriteFile) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for s in range(300):
        docs = rng.permutation(["a", "b", "c", "d"]).tolist()
        rows.append(f"{s // 2} {s} Q q{s % 3} 1 {' '.join(docs)}")
        rows += [f"{s // 2} {s} C {d}" for k, d in enumerate(docs) if rng.random() < 0.6 / (k + 1)]
    log = read_yandex_original(write("log.txt", _lines(*rows)))
    assert log.n_sessions == 300
    perplexity, by_rank = PBM().fit(log).perplexity(log)
    assert 1.0 < perplexity < 2.0 and len(by_rank) == 4


def write_original(log: ClickLog, path: Path, queries_per_session: int = 1) -> None:
    """Write ``log`` in the original layout: every ``queries_per_session`` consecutive sessions share a
    SessionID; each is a Q line then a C line per clicked document (TimePassed counts lines)."""
    out: list[str] = []
    for i, s in enumerate(log.sessions()):
        sid = i // queries_per_session
        out.append(f"{sid}\t{len(out)}\tQ\t{s.qid}\t0\t" + "\t".join(s.docnos))
        out += [f"{sid}\t{len(out) + j}\tC\t{d}" for j, d in enumerate(np.array(s.docnos)[s.clicks == 1])]
    path.write_text("".join(line + "\n" for line in out))


@pytest.mark.data
def test_the_wscd_sample_converted_to_the_original_layout(shared_data: Path, tmp_path: Path) -> None:
    """3,000 sessions of the shared sample, written as Q/C actions (three queries per SessionID), read back
    to the same queries, result lists and clicks."""
    sample = shared_data / "clicks" / "yandex-wscd-sample" / "trainSample"
    if not sample.exists():
        pytest.fail(f"{sample} is missing: set DISTILLRANK_DATA to the shared data folder", pytrace=False)
    full = read_yandex_clicklog(sample, unknown_clicks="ignore")
    # sessions spread over the file (every 10th), so that every query and many click patterns are in
    head = full.df[full.df["session_id"] % 10 == 0].head(30_000)
    assert head["session_id"].nunique() == 3_000 and head["click"].sum() > 1_000
    write_original(ClickLog(head.reset_index(drop=True)), tmp_path / "train.txt", queries_per_session=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every click is on a shown URL
        back = read_yandex_original(tmp_path / "train.txt", unknown_clicks="error")
    assert back.n_sessions == 3_000 and len(back) == len(head)
    for col in ("qid", "position", "docno", "click"):
        assert back.df[col].tolist() == head[col].tolist(), col
    ids = [f"{i // 3}_{i % 3}" for i in range(3_000)]
    assert back.df["session_id"].drop_duplicates().tolist() == ids
    assert detect_kind(tmp_path) == "clicks"
