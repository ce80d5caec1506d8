"""distillrank: distil heavy rankers into fast students and measure quality next to cost."""

from distillrank.data import (
    ClickLog,
    Corpus,
    Interactions,
    LTRDataset,
    Qrels,
    Queries,
    Run,
    SplitDataset,
    TextCollection,
)
from distillrank.errors import DataFormatError, DatasetNotFoundError, DataWarning

__version__ = "0.1.0"

__all__ = [
    "ClickLog",
    "Corpus",
    "DataFormatError",
    "DataWarning",
    "DatasetNotFoundError",
    "Interactions",
    "LTRDataset",
    "Qrels",
    "Queries",
    "Run",
    "SplitDataset",
    "TextCollection",
    "__version__",
]
