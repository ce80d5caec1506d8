"""Evaluation: retrieval metrics (via ir_measures), paired significance tests and the cost meter."""

from distillrank.evaluation.cost import CostMeter, CostReport, count_parameters, current_rss_mib, measure
from distillrank.evaluation.metrics import (
    Comparison,
    EvaluationResult,
    compare,
    evaluate,
    parse_metrics,
    provider_of,
)
from distillrank.evaluation.significance import paired_t_test, permutation_test

__all__ = [
    "Comparison",
    "CostMeter",
    "CostReport",
    "EvaluationResult",
    "compare",
    "count_parameters",
    "current_rss_mib",
    "evaluate",
    "measure",
    "paired_t_test",
    "parse_metrics",
    "permutation_test",
    "provider_of",
]
