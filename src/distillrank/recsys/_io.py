"""Save and load recommender models as a folder: ``config.json`` (kind + hyper-parameters) and
``model.safetensors`` (weights)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model as st_load_model
from safetensors.torch import save_model as st_save_model

from distillrank.errors import DataFormatError
from distillrank.io import atomic_write


def save_model(model: torch.nn.Module, config: Any, kind: str, path: str | Path) -> None:
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_write(folder / "config.json") as f:
        json.dump({"kind": kind, **asdict(config)}, f, indent=2)
    st_save_model(model, str(folder / "model.safetensors"))  # handles tied (shared) weights


def read_config(path: str | Path, kind: str) -> dict[str, Any]:
    folder = Path(path)
    cfg_path = folder / "config.json"
    if not cfg_path.exists():
        raise FileNotFoundError(f"{folder}: no config.json (not a saved {kind} model)")
    cfg = json.loads(cfg_path.read_text())
    found = cfg.pop("kind", None)
    if found != kind:
        raise DataFormatError(cfg_path, None, f"a saved {found!r} model, not a {kind!r} model")
    return cfg


def load_weights(model: torch.nn.Module, path: str | Path) -> None:
    st_load_model(model, str(Path(path) / "model.safetensors"))
