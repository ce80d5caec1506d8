"""One trainer for every neural ranker: list losses, in-batch losses, distillation, checkpoints, resume.

A model implements :class:`~distillrank.models.base.ListScorer` (``list_scores(queries, docs) -> [B, L]``);
with ``in_batch`` it must also implement :class:`~distillrank.models.base.DualEncoder`. The loss is taken
from the registry, ``get_loss(config.loss, **config.loss_kwargs)``, and called as
``loss(scores, labels, teacher_scores=..., mask=...)``: the trainer owns no loss maths.

One optimizer **step** is ``grad_accumulation`` micro-batches of ``batch_size`` queries each. Per step:

1. each micro-batch is scored and its loss, divided by the step's number of micro-batches, is
   back-propagated (so gradients add up to those of the mean loss over the step);
2. the global gradient norm is clipped to ``max_grad_norm``; AdamW steps; the learning rate follows a
   linear warm-up over ``warmup_ratio`` of the steps, then a linear decay to 0;
3. the step's callbacks run (``Trainer(callbacks=[fn])``, ``fn(state)``, may raise to stop training);
   then, when due, evaluation (``evaluate(model) -> float``, higher is better; early stopping after
   ``patience`` evaluations without improvement) and a checkpoint.

**Batch order.** Each epoch's order is a pure function of ``(seed, epoch)``: a shuffle of the lists, or with
``bucket_by_length`` lists sorted by total text length inside shuffled pools of 50 batches, cut into
batches, the batches shuffled. So an epoch can be resumed at any batch by recomputing its order.

**Checkpoints** (``checkpoint-<step>.pt`` in ``checkpoint_dir``, written atomically) hold the model's
``state_dict``, the optimizer and scheduler states, the Python, NumPy and torch RNG states, the epoch and
position in the epoch's batch order, the history and the best weights so far. ``fit`` resumes from the
latest one: the continued run is bit-for-bit the one that was interrupted, without repeating finished
steps. Evaluation runs with the RNG states saved and restored, so it never perturbs training.

**Regularisation.** A model with a ``regularization()`` method (e.g. the FLOPS penalty of
:class:`~distillrank.models.sparse_query_encoder.SparseQueryEncoder`'s query vectors) has its value added to
the loss after each ``list_scores``.

**In-batch loss** (``in_batch=True``). For a batch of ``B`` queries with ``L`` candidates each, every query is
scored against all ``B * L`` documents of the batch: ``scores = similarity(encode_queries(queries),
encode_docs(docs))``, ``[B, B*L]``, column ``j * L + k`` being document ``k`` of query ``j``. Each distinct
text is encoded once (padding never). ``labels`` are 1 where the column is in the query's own list with a
label > 0; ``mask`` is False for padding and for any column holding the same text as one of the query's
positives that is not that positive itself (a duplicate would be a false negative). Teacher scores
are not used by the in-batch loss.

**Throughput.** :attr:`TrainResult.cost` is a :class:`~distillrank.evaluation.cost.CostReport` whose items are
real (unmasked) query-document pairs and whose ``seconds`` are the time spent in training steps (not in
evaluation or checkpointing): ``items_per_s`` is training pairs/s; one latency sample per step.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distillrank.evaluation.cost import CostMeter, CostReport
from distillrank.io import atomic_write
from distillrank.models.base import DualEncoder, ListScorer
from distillrank.training.config import TrainerConfig
from distillrank.training.examples import ListBatch, ListExample, collate

__all__ = [
    "Callback",
    "TrainResult",
    "TrainState",
    "Trainer",
    "batch_order",
    "checkpoint_step",
    "in_batch_inputs",
    "latest_checkpoint",
]

_POOL_BATCHES = 50  # length bucketing sorts within pools of this many batches
_CKPT_RE = re.compile(r"^checkpoint-(\d+)\.pt$")


# ---------------------------------------------------------------------------------------------------------
# Results and state
# ---------------------------------------------------------------------------------------------------------
@dataclass
class TrainState:
    """Where training is, as seen by callbacks (after an optimizer step).

    Attributes:
        step: optimizer steps done (1-based after the first).
        epoch: current epoch (0-based).
        batch: micro-batches of this epoch consumed so far.
        loss: mean loss of the last step.
        lr: learning rate used for the last step.
        pairs: real query-document pairs in the last step.
        total_steps: steps planned.
    """

    step: int
    epoch: int
    batch: int
    loss: float
    lr: float
    pairs: int
    total_steps: int


Callback = Callable[[TrainState], None]
"""Called after every optimizer step; raising stops ``fit`` (the exception propagates)."""


@dataclass
class TrainResult:
    """What ``fit`` did.

    Attributes:
        steps: optimizer steps completed (including those done before a resume).
        epochs: epochs started.
        losses: mean training loss of every step, in order.
        history: one record per step: ``step, epoch, loss, lr, grad_norm, pairs, seconds`` (wall clock)
            and ``cpu_seconds`` (CPU time of the whole process, all threads: a measure of the work done
            that a busy shared machine disturbs less than the wall clock).
        evals: ``{"step", "epoch", "metric"}`` per evaluation.
        best_step, best_metric: the best evaluation (``None`` without evaluation).
        stopped_early: whether ``patience`` ended training.
        restored_best: whether the best weights were restored at the end.
        resumed_from: the step of the checkpoint this run resumed from (``None``: started afresh).
        cost: training throughput of *this* call (pairs/s; see the module docstring).
    """

    steps: int
    epochs: int
    losses: list[float]
    history: list[dict[str, Any]]
    evals: list[dict[str, Any]]
    best_step: int | None
    best_metric: float | None
    stopped_early: bool
    restored_best: bool
    resumed_from: int | None
    cost: CostReport

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["cost"] = self.cost.to_dict()
        return d


@dataclass
class _Progress:
    """Mutable training state (what a checkpoint stores besides the tensors' owners)."""

    step: int = 0
    epoch: int = 0
    batch: int = 0  # micro-batches of `epoch` consumed
    history: list[dict[str, Any]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    stopped_early: bool = False
    best_state: dict[str, torch.Tensor] | None = None
    last_eval_step: int = -1


# ---------------------------------------------------------------------------------------------------------
# Batching
# ---------------------------------------------------------------------------------------------------------
def _length(e: ListExample) -> int:
    return len(e.query) + sum(len(d) for d in e.docs)


def batch_order(
    examples: Sequence[ListExample], batch_size: int, *, seed: int, epoch: int, bucket_by_length: bool
) -> list[list[int]]:
    """The batches of one epoch, as lists of example indices (a pure function of its arguments).

    Without bucketing: a random permutation cut into consecutive batches. With bucketing: the permuted
    examples are split into pools of ``50 * batch_size``, each pool is sorted by total text length (query
    plus documents, in characters), cut into batches, and all batches are shuffled -- lists of similar
    length share a batch (less padding) while batch composition and order still change every epoch.
    """
    rng = np.random.default_rng([seed & 0xFFFFFFFF, epoch, 0x5EED])
    perm = rng.permutation(len(examples))
    if not bucket_by_length:
        return [perm[i : i + batch_size].tolist() for i in range(0, len(perm), batch_size)]
    pool = batch_size * _POOL_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(perm), pool):
        chunk = sorted(perm[start : start + pool].tolist(), key=lambda i: _length(examples[i]))
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[int(i)] for i in rng.permutation(len(batches))]


def in_batch_inputs(batch: ListBatch) -> tuple[list[str], list[int], torch.Tensor, torch.Tensor]:
    """The in-batch layout of ``batch``: unique texts to encode, and per column its text index, labels, mask.

    Returns:
        ``texts`` (distinct non-padding document texts, first-seen order), ``column_text`` (for each of
        the ``B * L`` columns, its index in ``texts``, or -1 for padding), ``labels`` ``[B, B*L]`` and
        ``mask`` ``[B, B*L]`` as described in the module docstring.
    """
    b, width = batch.labels.shape
    index: dict[str, int] = {}
    column_text: list[int] = []
    real = batch.mask.tolist()
    for i in range(b):
        for k in range(width):
            if real[i][k]:
                column_text.append(index.setdefault(batch.docs[i][k], len(index)))
            else:
                column_text.append(-1)
    col = torch.tensor(column_text, dtype=torch.long)
    n = b * width
    own = torch.zeros(b, n, dtype=torch.bool)
    for i in range(b):
        own[i, i * width : (i + 1) * width] = True
    flat_labels = batch.labels.reshape(-1)
    positive_col = own & (flat_labels > 0).unsqueeze(0) & batch.mask.reshape(-1).unsqueeze(0)
    labels = positive_col.float()
    mask = (col >= 0).unsqueeze(0).expand(b, n).clone()
    # Texts that are one of query i's positives: any other column with that text is a duplicate.
    pos_text = torch.zeros(b, len(index) + 1, dtype=torch.bool)  # last slot: padding
    rows, cols = positive_col.nonzero(as_tuple=True)
    pos_text[rows, col[cols]] = True
    same_as_positive = pos_text[:, col]  # index -1 (padding) picks the last slot, always False
    mask &= ~(same_as_positive & ~positive_col)
    return list(index), column_text, labels, mask


# ---------------------------------------------------------------------------------------------------------
# RNG helpers
# ---------------------------------------------------------------------------------------------------------
def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed & 0xFFFFFFFF)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), pos, has_gauss, gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(gauss)))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextmanager
def _rng_preserved() -> Iterator[None]:
    state = _rng_state()
    try:
        yield
    finally:
        _set_rng_state(state)


# ---------------------------------------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------------------------------------
class Trainer:
    """Train any :class:`~distillrank.models.base.ListScorer` with a registered loss.

    Args:
        config: a :class:`TrainerConfig`, a dict of settings, or a path to a YAML/JSON/TOML file;
            ``None`` for the defaults.
        callbacks: functions called after every optimizer step with a :class:`TrainState`.
        **overrides: settings that replace those of ``config``.

    Example::

        trainer = Trainer(TrainerConfig(loss="listnet", epochs=2, batch_size=16))
        result = trainer.fit(model, examples, evaluate=lambda m: ndcg_at_10(m, dev))
        print(result.cost.items_per_s, "pairs/s")
    """

    def __init__(
        self,
        config: TrainerConfig | dict[str, Any] | str | Path | None = None,
        *,
        callbacks: Sequence[Callback] = (),
        **overrides: Any,
    ) -> None:
        if config is None:
            config = TrainerConfig.from_dict(dict(overrides))
        elif isinstance(config, TrainerConfig):
            if overrides:
                config = TrainerConfig.from_dict({**config.model_dump(), **overrides})
        elif isinstance(config, dict):
            config = TrainerConfig.from_dict({**config, **overrides})
        else:
            base = TrainerConfig.from_file(config)
            config = TrainerConfig.from_dict({**base.model_dump(), **overrides}) if overrides else base
        self.config: TrainerConfig = config
        self.callbacks = list(callbacks)
        from distillrank.losses import LOSSES, get_loss

        self.loss_info = LOSSES[config.loss]
        self.loss_fn = get_loss(config.loss, **config.loss_kwargs)

    # -- planning ----------------------------------------------------------------------------------------
    def steps_per_epoch(self, n_examples: int) -> int:
        """Optimizer steps in one epoch of ``n_examples`` lists (the last step may be short)."""
        batches = math.ceil(n_examples / self.config.batch_size)
        return math.ceil(batches / self.config.grad_accumulation)

    def total_steps(self, n_examples: int) -> int:
        """Steps ``fit`` plans: ``max_steps``, else ``epochs * steps_per_epoch``."""
        if self.config.max_steps is not None:
            return self.config.max_steps
        return self.config.epochs * self.steps_per_epoch(n_examples)

    # -- the loop ----------------------------------------------------------------------------------------
    def fit(
        self,
        model: ListScorer,
        train: Sequence[ListExample],
        *,
        evaluate: Callable[[Any], float] | None = None,
    ) -> TrainResult:
        """Train ``model`` in place on ``train`` and return what happened.

        Args:
            model: a ``torch.nn.Module`` implementing ``ListScorer`` (and ``DualEncoder`` with ``in_batch``).
            train: the training lists (see :func:`~distillrank.training.negatives.build_examples`).
            evaluate: ``evaluate(model) -> float``, higher is better, called in eval mode without
                gradients; drives early stopping and best-weights restore.

        Raises:
            ValueError: empty ``train``, a model without the needed interface, a checkpoint written under
                other settings or another training set, or ``patience`` set without ``evaluate``.
            FloatingPointError: the loss became NaN or infinite.
        """
        cfg = self.config
        if not train:
            raise ValueError("fit() got no training examples")
        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"the model must be a torch.nn.Module, got {type(model).__name__}")
        if cfg.in_batch and not isinstance(model, DualEncoder):
            raise ValueError(
                f"in_batch needs a model with encode_queries/encode_docs/similarity (a DualEncoder); "
                f"{type(model).__name__} has none"
            )
        if not cfg.in_batch and not callable(getattr(model, "list_scores", None)):
            raise ValueError(
                f"fit needs a model with list_scores(queries, docs) -> [B, L] scores (a ListScorer); "
                f"{type(model).__name__} has none"
            )
        if self.loss_info.needs_teacher and not cfg.in_batch:
            missing = sum(1 for e in train if e.teacher_scores is None)
            if missing:
                raise ValueError(
                    f"loss {cfg.loss!r} needs teacher scores, but {missing} of {len(train)} training lists "
                    "have none (build them with build_examples(..., teacher=...))"
                )
        if cfg.patience is not None and evaluate is None:
            raise ValueError("patience is set but fit() got no evaluate function")

        total = self.total_steps(len(train))
        fingerprint = _fingerprint(train)
        _seed_everything(cfg.seed)
        optimizer = self._optimizer(model)
        warmup = math.ceil(cfg.warmup_ratio * total)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_schedule(warmup, total))
        state = _Progress()
        resumed_from = None
        if cfg.checkpoint_dir is not None and cfg.resume:
            latest = latest_checkpoint(cfg.checkpoint_dir)
            if latest is not None:
                state = self._load(latest, model, optimizer, scheduler, fingerprint)
                resumed_from = state.step

        epoch_cache: dict[int, list[list[int]]] = {}

        def order(epoch: int) -> list[list[int]]:
            if epoch not in epoch_cache:
                epoch_cache.clear()
                epoch_cache[epoch] = batch_order(
                    train, cfg.batch_size, seed=cfg.seed, epoch=epoch, bucket_by_length=cfg.bucket_by_length
                )
            return epoch_cache[epoch]

        # Steps last long and VmHWM gives the exact peak, so sample rarely: on a busy machine every wake-up
        # of the sampler thread can stall the training thread on the GIL.
        meter = CostMeter(model, sample_interval_s=0.25)
        bar = _ProgressBar(total, state.step) if cfg.show_progress else None
        was_training = model.training
        model.train(True)
        saved_at = state.step if resumed_from is not None else -1
        train_seconds = 0.0
        pairs_done = 0
        try:
            meter.start()
            if evaluate is not None and cfg.eval_start and state.step == 0:
                self._evaluate(model, evaluate, state)  # the starting weights: a candidate for keep_best
            while state.step < total and not state.stopped_early:
                batches = order(state.epoch)
                if state.batch >= len(batches):
                    state.epoch, state.batch = state.epoch + 1, 0
                    continue
                t0, c0 = time.perf_counter(), time.process_time()
                window = batches[state.batch : state.batch + cfg.grad_accumulation]
                loss_sum, pairs, grad_norm, lr = self._step(
                    model, optimizer, scheduler, train, window, state.step + 1
                )
                seconds = time.perf_counter() - t0
                cpu_seconds = time.process_time() - c0
                train_seconds += seconds
                pairs_done += pairs
                meter.record(seconds, pairs)
                state.step += 1
                state.batch += len(window)
                loss = loss_sum / len(window)
                state.history.append(
                    {
                        "step": state.step,
                        "epoch": state.epoch,
                        "loss": loss,
                        "lr": lr,
                        "grad_norm": grad_norm,
                        "pairs": pairs,
                        "seconds": seconds,
                        "cpu_seconds": cpu_seconds,
                    }
                )
                if bar is not None:
                    bar.update(state.step, loss, pairs_done / train_seconds if train_seconds > 0 else 0.0)
                info = TrainState(state.step, state.epoch, state.batch, loss, lr, pairs, total_steps=total)
                for callback in self.callbacks:
                    callback(info)
                epoch_end = state.batch >= len(batches)
                if evaluate is not None and self._eval_due(state.step, epoch_end, total):
                    self._evaluate(model, evaluate, state)
                if epoch_end:
                    state.epoch, state.batch = state.epoch + 1, 0
                if cfg.checkpoint_every is not None and state.step % cfg.checkpoint_every == 0:
                    self._save(model, optimizer, scheduler, state, fingerprint)
                    saved_at = state.step
            if evaluate is not None and state.last_eval_step != state.step:
                self._evaluate(model, evaluate, state)  # the final weights are always evaluated
                saved_at = -1
            if cfg.checkpoint_dir is not None and saved_at != state.step:
                self._save(model, optimizer, scheduler, state, fingerprint)
        finally:
            if bar is not None:
                bar.close()
            report = meter.stop()
            model.train(was_training)

        restored = False
        if cfg.keep_best and state.best_state is not None and state.best_step != state.step:
            model.load_state_dict(state.best_state)
            restored = True
        cost = dataclasses.replace(
            report,
            seconds=train_seconds,
            items_per_s=pairs_done / train_seconds if train_seconds > 0 else 0.0,
        )
        return TrainResult(
            steps=state.step,
            epochs=state.epoch + (1 if state.batch > 0 else 0),
            losses=[h["loss"] for h in state.history],
            history=state.history,
            evals=state.evals,
            best_step=state.best_step,
            best_metric=state.best_metric,
            stopped_early=state.stopped_early,
            restored_best=restored,
            resumed_from=resumed_from,
            cost=cost,
        )

    # -- one optimizer step ------------------------------------------------------------------------------
    def _step(
        self,
        model: Any,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LambdaLR,
        train: Sequence[ListExample],
        window: list[list[int]],
        step: int,
    ) -> tuple[float, int, float, float]:
        cfg = self.config
        optimizer.zero_grad(set_to_none=True)
        loss_sum = 0.0
        pairs = 0
        for indices in window:
            batch = collate([train[i] for i in indices])
            loss = self.batch_loss(model, batch)
            value = float(loss.detach())
            if not math.isfinite(value):  # before any update: the weights stay as they were
                raise FloatingPointError(f"the training loss is {value} at step {step}")
            (loss / len(window)).backward()
            loss_sum += value
            pairs += batch.n_pairs
        params = [p for g in optimizer.param_groups for p in g["params"]]
        if cfg.max_grad_norm is not None:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm))
        else:
            grads = [p.grad.detach().norm() for p in params if p.grad is not None]
            grad_norm = float(torch.stack(grads).norm()) if grads else 0.0
        lr = float(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
        return loss_sum, pairs, grad_norm, lr

    def batch_loss(self, model: Any, batch: ListBatch) -> torch.Tensor:
        """The configured loss of ``model`` on one padded batch (list or in-batch, see the module docs)."""
        if self.config.in_batch:
            texts, column_text, labels, mask = in_batch_inputs(batch)
            q = model.encode_queries(batch.queries)
            d = model.encode_docs(texts)
            index = torch.tensor([max(c, 0) for c in column_text], device=d.device)
            columns = d.index_select(0, index)  # padding columns hold a copy of text 0, and are masked
            scores = model.similarity(q, columns)
            return self.loss_fn(scores, labels.to(scores.device), mask=mask.to(scores.device))
        scores = model.list_scores(batch.queries, batch.docs)
        dev = scores.device
        teacher = batch.teacher_scores.to(dev) if batch.teacher_scores is not None else None
        loss = self.loss_fn(scores, batch.labels.to(dev), teacher_scores=teacher, mask=batch.mask.to(dev))
        regularization = getattr(model, "regularization", None)
        if callable(regularization):  # e.g. the FLOPS of a sparse query tower's last batch
            loss = loss + regularization()
        return loss

    def _optimizer(self, model: torch.nn.Module) -> torch.optim.AdamW:
        decay: list[torch.nn.Parameter] = []
        no_decay: list[torch.nn.Parameter] = []
        for _, p in model.named_parameters():
            if p.requires_grad:
                (decay if p.ndim >= 2 else no_decay).append(p)
        groups = [
            {"params": decay, "weight_decay": self.config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW([g for g in groups if g["params"]], lr=self.config.lr)

    # -- evaluation --------------------------------------------------------------------------------------
    def _eval_due(self, step: int, epoch_end: bool, total: int) -> bool:
        every = self.config.eval_every
        return step == total or (epoch_end if every == "epoch" else step % int(every) == 0)

    def _evaluate(self, model: Any, evaluate: Callable[[Any], float], state: _Progress) -> None:
        cfg = self.config
        model.train(False)
        try:
            with _rng_preserved(), torch.no_grad():
                metric = float(evaluate(model))
        finally:
            model.train(True)
        state.last_eval_step = state.step
        state.evals.append({"step": state.step, "epoch": state.epoch, "metric": metric})
        if state.best_metric is None or metric > state.best_metric + cfg.min_delta:
            state.best_metric, state.best_step, state.bad_evals = metric, state.step, 0
            if cfg.keep_best:
                state.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            state.bad_evals += 1
            if cfg.patience is not None and state.bad_evals >= cfg.patience:
                state.stopped_early = True

    # -- checkpoints -------------------------------------------------------------------------------------
    def _save(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LambdaLR,
        state: _Progress,
        fingerprint: str,
    ) -> Path:
        cfg = self.config
        assert cfg.checkpoint_dir is not None
        folder = Path(cfg.checkpoint_dir)
        path = folder / f"checkpoint-{state.step:08d}.pt"
        progress = dataclasses.asdict(dataclasses.replace(state, best_state=None))
        payload = {
            "format": "distillrank-checkpoint",
            "version": 1,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": _rng_state(),
            "progress": progress,
            "best_state": state.best_state,
            "config": cfg.trajectory(),
            "train_fingerprint": fingerprint,
        }
        with atomic_write(path, "wb") as f:
            torch.save(payload, f)
        for old in _checkpoints(folder)[: -cfg.keep_checkpoints]:
            old.unlink(missing_ok=True)
        return path

    def _load(
        self,
        path: Path,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LambdaLR,
        fingerprint: str,
    ) -> _Progress:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload.get("format") != "distillrank-checkpoint":
            raise ValueError(f"{path}: not a distillrank checkpoint")
        saved, now = payload["config"], self.config.trajectory()
        changed = sorted(k for k in now if saved.get(k) != now[k])
        if changed:
            details = ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in changed)
            raise ValueError(
                f"{path}: the checkpoint was written with other settings ({details}); use another "
                "checkpoint_dir or resume=False"
            )
        if payload["train_fingerprint"] != fingerprint:
            raise ValueError(f"{path}: the checkpoint was written for other training lists")
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        _set_rng_state(payload["rng"])
        progress = _Progress(**payload["progress"])
        progress.best_state = payload["best_state"]
        return progress


def _fingerprint(train: Sequence[ListExample]) -> str:
    """A hash of the training lists (texts, labels, teacher scores, order), checked when resuming."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(len(train)).encode())
    for e in train:
        h.update(e.query.encode("utf-8", "replace"))
        for d in e.docs:
            h.update(b"\x00")
            h.update(d.encode("utf-8", "replace"))
        h.update(repr((e.labels, e.teacher_scores)).encode())
        h.update(b"\x01")
    return h.hexdigest()


def _linear_schedule(warmup: int, total: int) -> Callable[[int], float]:
    """Multiplier of the peak lr before step ``s`` (0-based): linear warm-up, then linear decay to 0."""

    def factor(s: int) -> float:
        if s < warmup:
            return (s + 1) / (warmup + 1)
        return max(0.0, (total - s) / max(1, total - warmup))

    return factor


def _checkpoints(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if _CKPT_RE.match(p.name)]
    return sorted(found, key=checkpoint_step)


def checkpoint_step(path: Path) -> int:
    """The optimizer step a checkpoint file (``checkpoint-<step>.pt``) was written at."""
    m = _CKPT_RE.match(path.name)
    assert m is not None
    return int(m.group(1))


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The checkpoint with the highest step in ``folder``, or ``None``."""
    found = _checkpoints(Path(folder))
    return found[-1] if found else None


class _ProgressBar:
    """A rich progress bar over optimizer steps showing the loss and pairs/s."""

    def __init__(self, total: int, done: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TextColumn("{task.fields[pps]:,.0f} pairs/s"),
            TimeRemainingColumn(),
        )
        self._task = self._progress.add_task("train", total=total, completed=done, loss=float("nan"), pps=0.0)
        self._progress.start()

    def update(self, step: int, loss: float, pairs_per_s: float) -> None:
        self._progress.update(self._task, completed=step, loss=loss, pps=pairs_per_s)

    def close(self) -> None:
        self._progress.stop()
