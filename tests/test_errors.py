"""Errors name the file and the line, or the record where a row has no line."""

from __future__ import annotations

from pathlib import Path

from distillrank.errors import DataFormatError, row_error, row_place


def test_row_place_says_line_or_record() -> None:
    assert row_place(4, 12) == "line 12"
    assert row_place(4, None) == "record 5"


def test_row_error_names_the_line_of_a_text_row() -> None:
    e = row_error(Path("clicks.csv"), 4, 12, "empty qid")
    assert isinstance(e, DataFormatError)
    assert (e.path, e.line, e.problem) == ("clicks.csv", 12, "empty qid")
    assert str(e) == "clicks.csv:12: empty qid"


def test_row_error_names_the_record_of_a_row_without_a_line() -> None:
    e = row_error("clicks.parquet", 4, None, "empty qid")
    assert (e.path, e.line, e.problem) == ("clicks.parquet", None, "record 5: empty qid")
    assert str(e) == "clicks.parquet: record 5: empty qid"
