"""Data layer: validated in-memory types, readers and writers for the formats of the field."""

from distillrank.data.clicklog import ClickLog, Session
from distillrank.data.collection import Corpus, Document, Qrels, Queries, TextCollection
from distillrank.data.dataset import SplitDataset
from distillrank.data.interactions import Interactions
from distillrank.data.ltr import LTRDataset
from distillrank.data.run import Run

__all__ = [
    "ClickLog",
    "Corpus",
    "Document",
    "Interactions",
    "LTRDataset",
    "Qrels",
    "Queries",
    "Run",
    "Session",
    "SplitDataset",
    "TextCollection",
]
