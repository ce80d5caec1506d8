"""Trained recommenders kept on disk, so that ``recsys distill`` resumes after a crash and a re-run with
unchanged settings trains nothing.

Every model the job trains is a *recipe*: the data split, the architecture, the objective and every
setting that reaches its training. :func:`recipe_key` hashes them into a key; :class:`ModelCache` keeps one
folder per key, ``OUTPUT/cache/<name>-<key>/`` with ``model.safetensors`` (the weights of the best
validation epoch, what :func:`~distillrank.recsys.train.fit` leaves in the model), ``fit.json`` (its
:class:`~distillrank.recsys.train.FitResult`) and ``recipe.json`` (what the key hashes, for a reader). The
folder is written under a temporary name and renamed when complete, so a crash never leaves a half-written
model that a later run would take for a finished one.

A cached model is the model the same recipe would train again: every recipe of the job seeds its own
generators before it builds its model (:mod:`~distillrank.recsys.protocol`), so training one model never
depends on which models were trained before it in the same process.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from safetensors.torch import load_model, save_model

from distillrank.io import atomic_write
from distillrank.recsys.data import SequentialData
from distillrank.recsys.train import EpochLog, FitResult

__all__ = ["CACHE_VERSION", "ModelCache", "data_fingerprint", "recipe_key"]

CACHE_VERSION = 1
"""Part of every key: raised when a change to the training code makes earlier models stale."""

M = TypeVar("M", bound=torch.nn.Module)


def data_fingerprint(data: SequentialData) -> str:
    """A digest of the split: the user and item ids and every user's train, validation and test items."""
    h = hashlib.sha256()
    for ids in (data.users, data.items):
        h.update(json.dumps(ids).encode())
    for part in (data.train, data.valid, data.test):
        for seq in part:
            arr = np.ascontiguousarray(seq, dtype=np.int64)
            h.update(len(arr).to_bytes(8, "little"))
            h.update(arr.tobytes())
    return h.hexdigest()[:16]


def recipe_key(recipe: Mapping[str, Any]) -> str:
    """A 16-hex-digit digest of ``recipe`` (JSON-serialisable; key order does not matter)."""
    text = json.dumps({"version": CACHE_VERSION, **recipe}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ModelCache:
    """Trained models by recipe, in ``folder`` (``None``: nothing is kept, every model is trained).

    ``on_reuse(name)`` is called for every model taken from the folder (a progress message). ``reused``
    and ``trained`` list the names of the models taken from the folder and trained by this instance, in
    order.
    """

    def __init__(
        self,
        folder: str | Path | None,
        data: SequentialData,
        on_reuse: Callable[[str], None] | None = None,
    ) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.data_key = data_fingerprint(data)
        self.on_reuse = on_reuse
        self.reused: list[str] = []
        self.trained: list[str] = []

    def key(self, recipe: Mapping[str, Any]) -> str:
        """The key of ``recipe`` on this data."""
        return recipe_key({"data": self.data_key, **recipe})

    def _path(self, name: str, key: str) -> Path:
        assert self.folder is not None
        safe = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in name)
        return self.folder / f"{safe}-{key}"

    def get_or_train(
        self,
        name: str,
        recipe: Mapping[str, Any],
        build: Callable[[], M],
        train: Callable[[], tuple[M, FitResult]],
    ) -> tuple[M, FitResult, bool]:
        """The model of ``recipe``: loaded into ``build()`` when the folder has it, else ``train()``-ed and
        saved. Returns ``(model, fit, reused)``; a loaded model is in eval mode, as ``fit`` leaves one."""
        if self.folder is None:
            model, result = train()
            self.trained.append(name)
            return model, result, False
        key = self.key(recipe)
        path = self._path(name, key)
        if (path / "fit.json").is_file() and (path / "model.safetensors").is_file():
            try:
                model = build()
                load_model(model, str(path / "model.safetensors"))
                result = _read_fit(path / "fit.json")
            except Exception as e:  # a damaged folder is trained again, not an error
                warnings.warn(f"{path}: cannot be read ({e}); training {name} again", stacklevel=2)
            else:
                model.eval()
                self.reused.append(name)
                if self.on_reuse is not None:
                    self.on_reuse(name)
                return model, result, True
        model, result = train()
        self._save(path, model, result, {"name": name, "key": key, "data": self.data_key, **recipe})
        self.trained.append(name)
        return model, result, False

    def _save(self, path: Path, model: torch.nn.Module, result: FitResult, recipe: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        save_model(model, str(tmp / "model.safetensors"))
        with atomic_write(tmp / "recipe.json") as f:
            json.dump(recipe, f, indent=2, sort_keys=True, default=str)
        with atomic_write(tmp / "fit.json") as f:  # written last: its presence marks a complete folder
            json.dump(result.to_dict(), f, indent=2)
        shutil.rmtree(path, ignore_errors=True)  # an incomplete folder of an older layout
        os.replace(tmp, path)


def _read_fit(path: Path) -> FitResult:
    raw = json.loads(path.read_text())
    history = [EpochLog(**h) for h in raw["history"]]
    return FitResult(int(raw["best_epoch"]), float(raw["best_valid"]), history, float(raw["seconds"]))
