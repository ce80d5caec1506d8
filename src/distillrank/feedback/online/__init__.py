"""Online learning to rank from clicks: the serve -> log -> estimate -> fine-tune -> evaluate loop over
simulated users, learning from an existing click log, and the report.

* :mod:`.data` — :class:`OnlineData` (candidates, features, relevance, the first ranker) from any
  text collection or LTR dataset.
* :mod:`.serving` — Plackett-Luce serving with exploration, expected exposure, clicks on served pages.
* :mod:`.loop` — :func:`run_online` with :class:`OnlineConfig`: naive, IPS, SNIPS, DR, full information.
* :mod:`.offline` — :func:`learn_from_log` for a real click log, :func:`utility` to evaluate on one.
* :mod:`.report` — ``report.md``, ``report.html`` and ``metrics.json``.
"""

from distillrank.feedback.online.data import OnlineData, load_online_data
from distillrank.feedback.online.loop import EstimatorCurve, OnlineConfig, OnlineResult, run_online
from distillrank.feedback.online.offline import (
    LoggedRanker,
    check_feature_coverage,
    estimate_propensities,
    learn_from_log,
    logged_propensities,
    pair_statistics,
    propensities_of,
    utility,
)
from distillrank.feedback.online.report import build_report, write_report

__all__ = [
    "EstimatorCurve",
    "LoggedRanker",
    "OnlineConfig",
    "OnlineData",
    "OnlineResult",
    "build_report",
    "check_feature_coverage",
    "estimate_propensities",
    "learn_from_log",
    "load_online_data",
    "logged_propensities",
    "pair_statistics",
    "propensities_of",
    "run_online",
    "utility",
    "write_report",
]
