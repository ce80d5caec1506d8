"""Transfer queries: pseudo-queries drawn from a corpus and unlabelled query files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distillrank.data.collection import Corpus
from distillrank.distillation.transfer import PSEUDO_PREFIX, pseudo_queries, read_transfer_queries
from distillrank.errors import DataFormatError


def _corpus() -> Corpus:
    texts = [
        "Aspirin lowers the risk of a second heart attack in adults. Too short. "
        "Statins reduce cholesterol levels in most patients over five years.",
        "Vitamin D supplements do not prevent fractures in older women living at home.",
        "No. Yes. Maybe.",  # no sentence of 6-40 words
        "Exercise improves sleep quality in adults with insomnia according to this trial.",
    ]
    return Corpus([f"d{i}" for i in range(len(texts))], ["t"] * len(texts), texts)


def test_pseudo_queries_are_sentences_of_distinct_documents() -> None:
    corpus = _corpus()
    out = pseudo_queries(corpus, 10, seed=1)
    assert len(out) == 3  # d2 has no sentence of 6-40 words
    docs = [q.removeprefix(PSEUDO_PREFIX).rsplit("-", 1)[0] for q in out]
    assert sorted(docs) == ["d0", "d1", "d3"]
    for qid, text in out.items():
        doc = corpus[qid.removeprefix(PSEUDO_PREFIX).rsplit("-", 1)[0]]
        assert text in doc.text and 6 <= len(text.split()) <= 40
    assert "Too short." not in out.values()


def test_pseudo_queries_are_deterministic_and_respect_n_and_exclude() -> None:
    corpus = _corpus()
    assert pseudo_queries(corpus, 2, seed=5) == pseudo_queries(corpus, 2, seed=5)
    assert len(pseudo_queries(corpus, 2, seed=5)) == 2
    assert pseudo_queries(corpus, 0) == {}
    banned = "vitamin d supplements do not prevent fractures in older women living at home."
    out = pseudo_queries(corpus, 10, seed=1, exclude={banned})
    assert all("Vitamin D" not in t for t in out.values())
    with pytest.raises(ValueError, match="min_words"):
        pseudo_queries(corpus, 1, min_words=5, max_words=4)


def test_read_transfer_queries_reads_beir_and_tsv(tmp_path: Path) -> None:
    jsonl = tmp_path / "queries.jsonl"
    jsonl.write_text("\n".join(json.dumps({"_id": f"u{i}", "text": f"query {i}"}) for i in range(3)) + "\n")
    assert read_transfer_queries(jsonl) == {"u0": "query 0", "u1": "query 1", "u2": "query 2"}
    tsv = tmp_path / "log.tsv"
    tsv.write_text("a1\tcheap  flights\na2\tweather\n")
    assert read_transfer_queries(tsv) == {"a1": "cheap flights", "a2": "weather"}


def test_read_transfer_queries_names_the_bad_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="not found"):
        read_transfer_queries(tmp_path / "missing.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("a1\tfine\nno tab here\n")
    with pytest.raises(DataFormatError, match=r"bad\.tsv.*2"):
        read_transfer_queries(bad)
    empty = tmp_path / "empty.tsv"
    empty.write_text("\n")
    with pytest.raises(DataFormatError, match="no queries"):
        read_transfer_queries(empty)
