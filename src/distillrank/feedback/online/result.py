"""What the online loop measured: each estimator's curve and the run's result, with its ``metrics.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from distillrank.feedback.online.config import DEFAULT_LGBM_PARAMS, METRIC, OnlineConfig

__all__ = ["EstimatorCurve", "OnlineResult"]


@dataclass
class EstimatorCurve:
    """One estimator's run: test nDCG@10 after each round against the sessions logged so far.

    ``propensities`` are the relative propensities ``p_k / p_1`` used in each round, ``propensity_mae``
    their mean absolute error against the simulator's (None for estimators that use none);
    ``served`` the mean nDCG@10 (training grades) of the pages served in the round.
    """

    name: str
    ndcg: list[float] = field(default_factory=list)
    sessions: list[int] = field(default_factory=list)
    propensities: list[list[float] | None] = field(default_factory=list)
    propensity_mae: list[float | None] = field(default_factory=list)
    served: list[float | None] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class OnlineResult:
    """Everything :func:`run_online` measured."""

    dataset: str
    config: OnlineConfig
    initial_ndcg: float
    initial_name: str
    true_propensities: list[float]
    curves: dict[str, EstimatorCurve]
    seconds: float = 0.0
    held_out: str | None = None

    def final(self, name: str) -> float:
        """Test nDCG@10 of estimator ``name`` after the last round.

        Raises:
            KeyError: ``name`` is not one of the run's estimators (the message lists them).
        """
        if name not in self.curves:
            raise KeyError(f"no estimator {name!r} in this run; it ran: {', '.join(self.curves)}")
        return self.curves[name].ndcg[-1]

    def sessions_to(self, name: str, fraction: float = 0.98, reference: str = "full_info") -> int | None:
        """The first session count at which ``name`` reaches ``fraction`` of ``reference``'s final
        nDCG@10 (None: never within the run)."""
        target = fraction * self.final(reference)
        curve = self.curves[name]
        return next((s for s, v in zip(curve.sessions, curve.ndcg, strict=True) if v >= target), None)

    def metrics(self) -> dict[str, Any]:
        """``{"estimators": {NAME: {"nDCG@10": [...], "sessions": [...], ...}}, ...}`` for metrics.json."""
        est: dict[str, Any] = {}
        full = self.curves.get("full_info")
        for name, c in self.curves.items():
            entry: dict[str, Any] = {
                METRIC: [round(v, 5) for v in c.ndcg],
                "sessions": list(c.sessions),
                "final": round(c.ndcg[-1], 5),
                "propensity_mae": c.propensity_mae,
                "served_nDCG@10": c.served,
                "seconds": round(c.seconds, 1),
            }
            if full is not None and name != "full_info":
                entry["ratio_to_full_info"] = round(c.ndcg[-1] / full.ndcg[-1], 4)
                entry["sessions_to_0.98_full_info"] = self.sessions_to(name)
            est[name] = entry
        return {
            "dataset": self.dataset,
            "metric": METRIC,
            "initial": {"ranker": self.initial_name, METRIC: round(self.initial_ndcg, 5)},
            **({"held_out_test_queries": self.held_out} if self.held_out else {}),
            "true_propensities": self.true_propensities,
            "config": {k: v for k, v in asdict(self.config).items() if k != "lgbm_params"}
            | {"lgbm_params": {**DEFAULT_LGBM_PARAMS, "seed": self.config.seed, **self.config.lgbm_params}},
            "estimators": est,
            "seconds": round(self.seconds, 1),
        }
