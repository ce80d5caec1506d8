"""Small argument checks and progress bars shared by the model modules."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from distillrank.errors import DistillrankError


def check_batch_size(batch_size: int) -> None:
    """Reject anything but a positive ``int`` (``True`` included) with a clear message."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")


def check_texts(texts: Sequence[str], what: str = "texts") -> None:
    """Refuse a single string where a list of texts belongs: it would be read as one text per character.

    Raises:
        TypeError: ``texts`` is a ``str``.
    """
    if isinstance(texts, str):
        raise TypeError(f"{what} must be a sequence of strings, not one string; for one text pass [text]")


def check_pairs(pairs: Sequence[tuple[str, str]]) -> None:
    """Refuse anything but a list of ``(query, document)`` pairs, a single pair included (whose two
    strings would be read as pairs of characters).

    Raises:
        TypeError: ``pairs`` is a string, or an element is not a pair of two items.
    """
    if isinstance(pairs, str):
        raise TypeError("pairs must be a list of (query, document) pairs, got a str")
    for i, pair in enumerate(pairs):
        if isinstance(pair, str) or not hasattr(pair, "__len__") or len(pair) != 2:
            single = " (for one pair pass [(query, document)])" if isinstance(pair, str) else ""
            raise TypeError(
                f"pairs must be a list of (query, document) pairs; pairs[{i}] is {_describe(pair)}{single}"
            )
        for side, text in zip(("query", "document"), pair, strict=True):
            if not isinstance(text, str):
                raise TypeError(f"pairs[{i}]: the {side} must be a str, not {_describe(text)}")


def _describe(value: object) -> str:
    if isinstance(value, str):
        return f"a str ({value[:40]!r})"
    if hasattr(value, "__len__"):
        return f"a {type(value).__name__} of {len(value)} item(s)"
    return f"a {type(value).__name__}"


def progress(items: range, show: bool, desc: str) -> Any:
    """``items`` wrapped in a tqdm bar when ``show``, else unchanged."""
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, total=len(items))


def list_width(queries: Sequence[str], docs: Sequence[Sequence[str]]) -> int | None:
    """Check ``B`` queries against ``B`` document lists of one length ``L`` (``list_scores``' input);
    return ``L``, or ``None`` when there are no queries."""
    if len(queries) != len(docs):
        raise ValueError(f"{len(queries)} queries but {len(docs)} document lists")
    if not queries:
        return None
    width = len(docs[0])
    if any(len(d) != width for d in docs):
        raise ValueError("every query needs the same number of documents (pad with '')")
    return width


@contextmanager
def inference(module: nn.Module) -> Iterator[None]:
    """Evaluation mode without gradients, restoring the previous mode afterwards."""
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        module.train(was_training)


@contextmanager
def seeded_init(seed: int | None) -> Iterator[None]:
    """Run the block (building a model) with torch's CPU generator seeded by ``seed``, restoring the
    generator's state afterwards; ``None`` leaves the generator as it is.

    New weights — a classification head missing from a checkpoint, a projection layer — are drawn from
    torch's global generator, whose state differs between processes, so without this two runs of the
    same seeded job start from different heads and end with different models.
    """
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class Shared:
    """A value that a deep copy of the model holding it shares instead of copying: a student copied from
    its untrained initial model keeps the one fixed document table (hundreds of MB) rather than a copy."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __deepcopy__(self, memo: dict[int, Any]) -> Shared:
        return self


def text_rows(row_by_text: Mapping[str, int], docs: Sequence[str], owner: str, padding: int) -> np.ndarray:
    """The rows of a fixed document table holding ``docs`` (texts, as the trainer passes them); the empty
    padding text gets row ``padding``. ``owner`` names the model in the errors."""
    if not row_by_text:
        raise DistillrankError(f"this {owner} has no document texts: pass doc_texts to train it")
    rows = np.empty(len(docs), dtype=np.int64)
    for k, t in enumerate(docs):
        i = padding if t == "" else row_by_text.get(t)
        if i is None:
            raise KeyError(f"document text not in the index: {t[:60]!r}...")
        rows[k] = i
    return rows


def read_folder_meta(path: str | Path, name: str, owner: str) -> dict[str, Any]:
    """The JSON file ``name`` of a model folder written by ``owner.save``, or a clear error naming it."""
    file = Path(path) / name
    if not file.exists():
        raise DistillrankError(f"{path}: no {name} (not a saved {owner})")
    return dict(json.loads(file.read_text(encoding="utf-8")))
