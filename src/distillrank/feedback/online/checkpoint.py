"""One estimator's state in the online loop, checkpointed atomically after every round so a stopped run
resumes from its last finished round."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import lightgbm as lgb
import numpy as np

from distillrank.feedback.online.result import EstimatorCurve
from distillrank.io import atomic_write

__all__ = ["EstimatorState"]


class EstimatorState:
    """One estimator's accumulated statistics, model and curve; saved after every round."""

    def __init__(self, name: str, n_queries: int, width: int, k: int) -> None:
        self.name = name
        self.round = -1
        self.n = np.zeros(n_queries)
        self.clicks = np.zeros((n_queries, width))
        self.counts = np.zeros((n_queries, width, k))
        self.expected = np.zeros((n_queries, width, k))
        self.booster: lgb.Booster | None = None
        self.curve = EstimatorCurve(name)

    def save(self, folder: Path, fingerprint: str) -> None:
        """Checkpoint the round: its statistics and model go to files named for the round, then
        ``state.json`` (atomically) names them, then the previous round's files go. A crash anywhere
        leaves ``state.json`` naming one complete round's files, never a mix of two rounds'."""
        folder.mkdir(parents=True, exist_ok=True)
        stats, model = f"stats-{self.round}.npz", f"model-{self.round}.txt"
        with atomic_write(folder / stats, "wb") as f:
            np.savez(f, n=self.n, clicks=self.clicks, counts=self.counts, expected=self.expected)
        if self.booster is not None:
            with atomic_write(folder / model) as f:
                f.write(self.booster.model_to_string())
        with atomic_write(folder / "state.json") as f:  # written last: it marks the round complete
            json.dump(
                {
                    "fingerprint": fingerprint,
                    "round": self.round,
                    "curve": asdict(self.curve),
                    "has_model": self.booster is not None,
                    "stats": stats,
                    "model": model,
                },
                f,
            )
        for old in [*folder.glob("stats*.npz"), *folder.glob("model*.txt")]:
            if old.name not in (stats, model):
                old.unlink(missing_ok=True)

    @classmethod
    def load(
        cls, folder: Path, fingerprint: str, name: str, shape: tuple[int, int, int]
    ) -> EstimatorState | None:
        """The checkpoint in ``folder``, or None when there is none, it is of other settings, or its
        files cannot be read (the estimator then starts over)."""
        try:
            meta = json.loads((folder / "state.json").read_text())
        except (OSError, ValueError):
            return None
        if meta.get("fingerprint") != fingerprint:
            return None
        st = cls(name, *shape)
        try:  # checkpoints written before the files were named for their round: stats.npz, model.txt
            with np.load(folder / meta.get("stats", "stats.npz")) as z:
                st.n, st.clicks, st.counts, st.expected = z["n"], z["clicks"], z["counts"], z["expected"]
            if meta["has_model"]:
                st.booster = lgb.Booster(model_str=(folder / meta.get("model", "model.txt")).read_text())
        except (OSError, ValueError, KeyError, lgb.basic.LightGBMError):
            return None
        st.round = int(meta["round"])
        st.curve = EstimatorCurve(**meta["curve"])
        return st
