"""Fixtures for the retrieval tests: a tiny corpus built in code, indexed once per session."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from distillrank.data.collection import Corpus, TextCollection
from distillrank.data.formats.beir import read_beir
from distillrank.errors import DataWarning
from distillrank.retrieval import BM25Retriever

# After bm25s tokenisation (English stop words, Snowball stemmer) the texts read:
#   d1: cat sat mat               d2: dog chase cat garden     d3: quantum physic black hole
#   d4: cat cat cat video         d5: (nothing)                d6: (title only) bird song
TINY_DOCS = [
    ("d1", "", "The cat sat on the mat"),
    ("d2", "", "Dogs chase cats in the garden"),
    ("d3", "", "Quantum physics of black holes"),
    ("d4", "", "cat cat cat videos"),
    ("d5", "", ""),
    ("d6", "Bird song", ""),
]


def make_tiny_corpus() -> Corpus:
    return Corpus([d for d, _, _ in TINY_DOCS], [t for _, t, _ in TINY_DOCS], [x for _, _, x in TINY_DOCS])


@pytest.fixture(scope="session")
def tiny_corpus() -> Corpus:
    return make_tiny_corpus()


@pytest.fixture(scope="session")
def tiny_bm25(tiny_corpus: Corpus) -> BM25Retriever:
    bm25 = BM25Retriever()
    bm25.index(tiny_corpus)
    return bm25


@pytest.fixture(scope="session")
def scifact(shared_data: Path) -> TextCollection:
    """BEIR SciFact from the shared data folder (the test fails, never skips, when it is missing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return read_beir(shared_data / "beir" / "scifact")


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from more threads, and one thread stays fast on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
