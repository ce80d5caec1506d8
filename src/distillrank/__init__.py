"""distillrank: distil heavy rankers into fast students and measure quality next to cost."""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # what the lazy loader below hands out, for type checkers and IDEs
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
    from distillrank.data.catalogue import load_dataset
    from distillrank.errors import DataFormatError, DatasetNotFoundError, DataWarning
    from distillrank.evaluation.cost import CostMeter, count_parameters
    from distillrank.evaluation.metrics import compare, evaluate, parse_metrics
    from distillrank.losses import LOSSES, get_loss
    from distillrank.retrieval.bm25 import BM25Config, BM25Retriever
    from distillrank.training import Trainer, TrainerConfig, build_examples

# Everything loads on first use, so that `import distillrank` (and the CLI's start-up) stays fast.
_LAZY = {
    **dict.fromkeys(
        [
            "ClickLog",
            "Corpus",
            "Interactions",
            "LTRDataset",
            "Qrels",
            "Queries",
            "Run",
            "SplitDataset",
            "TextCollection",
        ],
        "distillrank.data",
    ),
    **dict.fromkeys(["DataFormatError", "DataWarning", "DatasetNotFoundError"], "distillrank.errors"),
    "load_dataset": "distillrank.data.catalogue",
    "BM25Config": "distillrank.retrieval.bm25",
    "BM25Retriever": "distillrank.retrieval.bm25",
    "evaluate": "distillrank.evaluation.metrics",
    "compare": "distillrank.evaluation.metrics",
    "parse_metrics": "distillrank.evaluation.metrics",
    "CostMeter": "distillrank.evaluation.cost",
    "Trainer": "distillrank.training",
    "TrainerConfig": "distillrank.training",
    "build_examples": "distillrank.training",
    "get_loss": "distillrank.losses",
    "LOSSES": "distillrank.losses",
    "count_parameters": "distillrank.evaluation.cost",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'distillrank' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The lazy exports too, so that tab completion and ``dir(distillrank)`` show them."""
    return sorted({*globals(), *_LAZY})


__all__ = [
    "LOSSES",
    "BM25Config",
    "BM25Retriever",
    "ClickLog",
    "Corpus",
    "CostMeter",
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
    "Trainer",
    "TrainerConfig",
    "__version__",
    "build_examples",
    "compare",
    "count_parameters",
    "evaluate",
    "get_loss",
    "load_dataset",
    "parse_metrics",
]
