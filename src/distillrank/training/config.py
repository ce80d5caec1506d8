"""The trainer's configuration: one validated pydantic model, loadable from YAML, JSON or TOML.

Example (``train.yaml``)::

    loss: listnet
    epochs: 2
    batch_size: 16
    lr: 2.0e-5
    eval_every: 200        # optimizer steps, or "epoch"
    patience: 3
    checkpoint_dir: runs/minilm
    checkpoint_every: 500

>>> TrainerConfig.from_dict({"batch_size": 8, "grad_accumulation": 2}).effective_batch_size
16
>>> TrainerConfig.from_dict({"lr": 0})
Traceback (most recent call last):
...
distillrank.config.ConfigError: <dict>: lr: must be > 0 (got 0)

A file may hold the settings at its top level or under a ``trainer`` section. Errors name the file and
the field: ``train.yaml: batch_size: must be >= 1 (got 0)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from distillrank.config import ConfigError, ConfigModel

__all__ = ["DEFAULT_IN_BATCH_LOSS", "DEFAULT_LIST_LOSS", "ConfigError", "TrainerConfig"]

DEFAULT_LIST_LOSS = "listnet"
"""Loss used when ``loss`` is not given and ``in_batch`` is off."""
DEFAULT_IN_BATCH_LOSS = "in_batch_softmax"
"""Loss used when ``loss`` is not given and ``in_batch`` is on."""

# Settings that change the training trajectory: a checkpoint written under other values cannot be resumed.
TRAJECTORY_FIELDS = (
    "loss",
    "loss_kwargs",
    "epochs",
    "max_steps",
    "batch_size",
    "grad_accumulation",
    "lr",
    "weight_decay",
    "warmup_ratio",
    "max_grad_norm",
    "seed",
    "bucket_by_length",
    "in_batch",
)


def _registered_losses() -> dict[str, str]:
    """``name -> kind`` of every loss in :data:`distillrank.losses.LOSSES`."""
    from distillrank.losses import LOSSES

    return {name: info.kind for name, info in sorted(LOSSES.items())}


class TrainerConfig(ConfigModel):
    """Every setting of :class:`~distillrank.training.trainer.Trainer`, validated on creation.

    Build it directly (``TrainerConfig(lr=1e-5)``; invalid values raise pydantic's ``ValidationError``),
    or with :meth:`from_dict` / :meth:`from_file`, which raise :class:`ConfigError` naming the source
    and the field.

    Attributes:
        loss: a name in :data:`distillrank.losses.LOSSES`; defaults to ``"listnet"``, or
            ``"in_batch_softmax"`` when ``in_batch`` is on.
        loss_kwargs: the loss's hyper-parameters, passed to ``get_loss(loss, **loss_kwargs)``.
        epochs: passes over the training lists (ignored when ``max_steps`` is set).
        max_steps: optimizer steps to run, cycling over epochs as needed; overrides ``epochs``.
        batch_size: queries (lists) per micro-batch.
        grad_accumulation: micro-batches whose gradients add up to one optimizer step (each micro-batch
            loss is divided by the number of micro-batches of the step, so with a mean-reduced loss
            ``batch_size=4, grad_accumulation=2`` follows the same path as ``batch_size=8``).
        lr: peak learning rate of AdamW.
        weight_decay: AdamW's decoupled weight decay, not applied to biases and norm weights
            (parameters with fewer than 2 dimensions).
        warmup_ratio: fraction of the steps over which the learning rate rises linearly from 0 to
            ``lr``; it then decays linearly to 0 at the last step.
        max_grad_norm: clip the global gradient norm to this value (``None``: no clipping).
        seed: seeds Python, NumPy and torch at the start of ``fit``, and the batch order.
        bucket_by_length: batch lists of similar total text length together (less padding, so less
            compute), in a batch order that is still shuffled every epoch.
        eval_every: evaluate every this many optimizer steps, or ``"epoch"`` (at the end of each
            epoch); the last step is always evaluated. Used only when ``fit`` gets ``evaluate``.
        patience: stop after this many evaluations in a row without an improvement of more than
            ``min_delta`` (higher metric is better); ``None``: never stop early.
        min_delta: the smallest increase of the metric that counts as an improvement.
        keep_best: at the end, restore the weights of the best evaluation.
        eval_start: also evaluate the starting weights, before the first step (step 0). With
            ``keep_best`` the model ``fit`` returns is then never worse on the evaluation than the one it
            was given: a pretrained model that training only makes worse comes back unchanged. It counts
            as an evaluation for ``patience``.
        checkpoint_dir: folder of the checkpoints; ``fit`` resumes from the latest one there.
        checkpoint_every: write a checkpoint every this many optimizer steps (and at the end);
            ``None`` with a ``checkpoint_dir``: only at the end.
        keep_checkpoints: how many of the latest checkpoints to keep.
        resume: resume from the latest checkpoint in ``checkpoint_dir`` when there is one.
        in_batch: score every query against every document of the batch through the model's
            :class:`~distillrank.models.base.DualEncoder` encoders (a full-product in-batch loss).
        show_progress: show a progress bar with the loss and pairs/s.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    section: ClassVar[str | None] = "trainer"

    loss: str = DEFAULT_LIST_LOSS
    loss_kwargs: dict[str, Any] = Field(default_factory=dict)
    epochs: StrictInt = Field(default=1, ge=1)
    max_steps: StrictInt | None = Field(default=None, ge=1)
    batch_size: StrictInt = Field(default=16, ge=1)
    grad_accumulation: StrictInt = Field(default=1, ge=1)
    lr: float = Field(default=2e-5, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    max_grad_norm: float | None = Field(default=1.0, gt=0)
    seed: StrictInt = 42
    bucket_by_length: StrictBool = False
    eval_every: int | str = "epoch"
    patience: StrictInt | None = Field(default=None, ge=1)
    min_delta: float = Field(default=0.0, ge=0)
    keep_best: StrictBool = True
    eval_start: StrictBool = False
    checkpoint_dir: Path | None = None
    checkpoint_every: StrictInt | None = Field(default=None, ge=1)
    keep_checkpoints: StrictInt = Field(default=2, ge=1)
    resume: StrictBool = True
    in_batch: StrictBool = False
    show_progress: StrictBool = False

    @model_validator(mode="before")
    @classmethod
    def _default_loss(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("loss") is None:
            data = dict(data)
            data["loss"] = DEFAULT_IN_BATCH_LOSS if data.get("in_batch") is True else DEFAULT_LIST_LOSS
        return data

    @field_validator("eval_every", mode="before")
    @classmethod
    def _check_eval_every(cls, value: Any) -> Any:
        ok = value == "epoch" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
        if not ok:
            raise ValueError(f"must be a positive number of steps or 'epoch' (got {value!r})")
        return value

    @model_validator(mode="after")
    def _check(self) -> TrainerConfig:
        # Each message starts with the field it is about ("field: problem"); ConfigError splits it off.
        if self.checkpoint_every is not None and self.checkpoint_dir is None:
            raise ValueError("checkpoint_every: needs checkpoint_dir")
        kinds = _registered_losses()
        if self.loss not in kinds:
            raise ValueError(f"loss: unknown loss {self.loss!r} (registered: {', '.join(kinds)})")
        if self.in_batch and kinds[self.loss] != "inbatch":
            raise ValueError(
                f"loss: in_batch needs an in-batch loss such as 'in_batch_softmax' (got {self.loss!r})"
            )
        if not self.in_batch and kinds[self.loss] == "inbatch":
            raise ValueError(f"loss: {self.loss!r} takes a full-product matrix: set in_batch to true")
        from distillrank.losses import get_loss

        try:  # the hyper-parameters' names and values, checked now rather than when a Trainer is built
            get_loss(self.loss, **self.loss_kwargs)
        except ValueError as e:
            raise ValueError(f"loss_kwargs: {e}") from None
        return self

    # -- views ----------------------------------------------------------------------------------------
    @property
    def effective_batch_size(self) -> int:
        """Queries per optimizer step: ``batch_size * grad_accumulation``."""
        return self.batch_size * self.grad_accumulation

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible settings (``from_dict(to_dict())`` round-trips)."""
        return self.model_dump(mode="json")

    def trajectory(self) -> dict[str, Any]:
        """The settings that determine the training path (compared when resuming)."""
        d = self.to_dict()
        return {k: d[k] for k in TRAJECTORY_FIELDS}
