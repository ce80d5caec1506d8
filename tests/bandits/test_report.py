"""The bandit reports: the growth reading, the metrics' shape, and what the reports say in edge cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from distillrank.bandits import MultiQueryEnvironment, PositionBasedEnvironment, compare_policies
from distillrank.bandits.ope import ConfidenceInterval, EstimatorResult, OPEResult
from distillrank.bandits.report import (
    build_ope_report,
    build_regret_report,
    describe_environment,
    growth_reading,
    ope_metrics,
    regret_metrics,
    write_ope_report,
    write_regret_report,
)


@pytest.mark.parametrize(
    ("ratio", "rounds", "reading"),
    [
        (2.0, 10_000, "linear"),
        (1.75, 10_000, "linear"),  # nearer 2 than sqrt 2 in log ratio
        (1.6, 10_000, "sqrt"),
        (1 + math.log(2) / math.log(50_000), 100_000, "logarithmic"),
        (1.0, 100_000, "logarithmic"),
        (float("nan"), 10_000, None),
        (None, 10_000, None),
        (1.9, 3, None),  # no logarithmic reference below T = 4
    ],
)
def test_growth_reading(ratio: float | None, rounds: int, reading: str | None) -> None:
    assert growth_reading(ratio, rounds) == reading


def test_regret_metrics_and_report(pbm_env: PositionBasedEnvironment, tmp_path: Path) -> None:
    res = compare_policies(pbm_env, ["uniform", "thompson"], rounds=400, seeds=[0, 1, 2], checkpoints=8)
    env = describe_environment(pbm_env, "toy", source="in code")
    assert env["items"] == 8 and env["examination"] == [1.0, 0.6, 0.3] and env["source"] == "in code"
    assert env["optimal_clicks_per_round"] == pytest.approx(pbm_env.optimal_reward(), abs=1e-5)
    assert env["description"].startswith("toy: 8 items on 3 positions")
    metrics = regret_metrics(res, env)
    assert metrics["environment"] == env and metrics["rounds"] == 400
    uniform = metrics["policies"]["uniform"]
    assert uniform["rounds"] == res.checkpoints and len(uniform["regret"]) == len(res.checkpoints)
    assert {k: v["round"] for k, v in uniform["regret_at"].items()} == {"T/10": 40, "T/2": 200, "T": 400}
    assert uniform["growth"] == "linear"
    # the expected clicks of the slates shown over the best slates' (the drawn clicks over the optimum's
    # expectation read 1.27 "of optimal" on a 100-round OBD run); close to the drawn share on 400 rounds
    expected = 1 - uniform["regret"][-1] / (400 * res.optimal_clicks_per_round)
    assert uniform["clicks_fraction_of_optimal"] == pytest.approx(expected, abs=1e-6)
    assert uniform["clicks_fraction_of_optimal"] <= 1
    assert uniform["clicks_fraction_of_optimal"] == pytest.approx(
        uniform["clicks_per_round"] / res.optimal_clicks_per_round, abs=0.05
    )
    assert metrics["policies"]["thompson"]["regret"][-1] < uniform["regret"][-1]
    paths = write_regret_report(res, tmp_path, env)
    assert json.loads((tmp_path / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    assert {p.name for p in paths} == {"report.md", "report.html", "metrics.json"}
    md = (tmp_path / "report.md").read_text()
    assert "T/10 = 40, T/2 = 200, T = 400" in md and "≈ linear" in md and "optimal slates" in md
    assert "the query of every round" not in md  # one context: no query is drawn


def test_regret_report_with_one_seed_has_no_bands_and_says_so() -> None:
    env = MultiQueryEnvironment(
        (PositionBasedEnvironment([0.9, 0.1, 0.5], [1.0]), PositionBasedEnvironment([0.2, 0.3], [1.0]))
    )
    res = compare_policies(env, ["ucb1"], rounds=50, seeds=[0], checkpoints=5)
    facts = describe_environment(env, "two queries")
    assert facts["queries"] == 2 and facts["items_per_query"] == {"min": 2, "mean": 2.5, "max": 3}
    metrics = regret_metrics(res, facts)
    assert metrics["policies"]["ucb1"]["regret_se"] is None
    assert metrics["policies"]["ucb1"]["regret_at"]["T"]["se"] is None
    md = build_regret_report(res, facts).to_markdown()
    assert "one seed: no standard error" in md and "±" not in md
    assert "the query of every round" in md


def _ope_result(campaign: str, estimate: float, truth: float = 0.005) -> OPEResult:
    ci = ConfidenceInterval(estimate, estimate - 0.001, estimate + 0.001, 0.05, 10)
    rel = abs(estimate - truth) / truth if truth > 0 else float("nan")
    est = {"ips": EstimatorResult("ips", estimate, rel, ci, ci.covers(truth))}
    return OPEResult(
        campaign,
        "bts",
        "random",
        100,
        100,
        truth,
        ConfidenceInterval(truth, truth / 2, truth * 2, 0.05, 10),
        est,
        settings={"n_bootstrap": 10, "alpha": 0.05, "seed": 0, "reward_model": {"model": "lightgbm"}},
    )


def test_ope_metrics_summarise_campaigns_and_replace_nan(tmp_path: Path) -> None:
    results = {
        "men": _ope_result("men", 0.0055),
        "women": _ope_result("women", 0.009),
        "x": _ope_result("x", 0.004, 0.0),
    }
    metrics = ope_metrics(results, {"men": ["thin log"]})
    assert metrics["summary"]["ips"] == {
        "mean_relative_error": pytest.approx(np.mean([0.1, 0.8])),
        "covers_truth": 1,
        "campaigns": 3,
    }
    assert metrics["campaigns"]["x"]["estimators"]["ips"]["relative_error"] is None  # NaN -> null
    assert metrics["warnings"] == {"men": ["thin log"], "women": [], "x": []}
    write_ope_report(results, tmp_path, {"men": ["thin log"]})
    md = (tmp_path / "report.md").read_text()
    assert "a LightGBM classifier" in md and "## Summary" in md and "1 of 3" in md
    assert "**Warning**: thin log" in md and (tmp_path / "ope_women.png").is_file()
    with pytest.raises(ValueError, match="no campaign"):
        build_ope_report({})
