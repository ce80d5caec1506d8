"""Training: examples and negative sampling, the trainer's configuration, and one trainer for every model.

>>> from distillrank.training import Trainer, TrainerConfig, build_examples
"""

from distillrank.training.config import ConfigError, TrainerConfig
from distillrank.training.examples import ListBatch, ListExample, collate
from distillrank.training.negatives import build_examples, hard_negatives, mixed_negatives, random_negatives
from distillrank.training.trainer import (
    Callback,
    Trainer,
    TrainResult,
    TrainState,
    batch_order,
    checkpoint_step,
    in_batch_inputs,
    latest_checkpoint,
)

__all__ = [
    "Callback",
    "ConfigError",
    "ListBatch",
    "ListExample",
    "TrainResult",
    "TrainState",
    "Trainer",
    "TrainerConfig",
    "batch_order",
    "build_examples",
    "checkpoint_step",
    "collate",
    "hard_negatives",
    "in_batch_inputs",
    "latest_checkpoint",
    "mixed_negatives",
    "random_negatives",
]
