r"""Reports of the bandit experiments: the regret of exploration policies, and the off-policy check.

Each report is ``report.md``, a self-contained ``report.html`` (figures embedded) and ``metrics.json``,
written by :class:`~distillrank.pipeline.report.Report`; ``distillrank bandits simulate`` and
``distillrank bandits ope`` write them, and so can a library caller.

**Regret** (:func:`write_regret_report`, from a :class:`~distillrank.bandits.simulate.RegretResult`)::

    {"environment": {...},          # describe_environment: name, description, feedback, positions, ...
     "rounds": T, "seeds": [...], "optimal_clicks_per_round": x,
     "policies": {LABEL: {
        "name": ..., "params": {...},
        "rounds": [checkpoint rounds], "regret": [mean R(t) over seeds], "regret_se": [...] | null,
        "regret_at": {"T/10": {"round": t, "mean": x, "se": x | null}, "T/2": {...}, "T": {...}},
        "final_regret_per_seed": [...],
        "clicks_per_round": x, "clicks_per_round_se": x | null,
        "clicks_fraction_of_optimal": x,   # expected: 1 - R(T) / (T * optimal_clicks_per_round)
        "regret_T_over_half_T": x | null, "growth": "linear" | "sqrt" | "logarithmic" | null,
        "seconds_per_run": x}}}

``growth`` reads ``R(T) / R(T/2)`` (:func:`growth_reading`): 2 when the regret grows linearly,
``sqrt 2`` for ``sqrt T``, ``1 + ln 2 / ln(T/2)`` for logarithmic regret; the nearest of the three (in
log ratio).

**Off-policy evaluation** (:func:`write_ope_report`, one
:class:`~distillrank.bandits.ope.OPEResult` per Open Bandit Dataset campaign)::

    {"campaigns": {CAMPAIGN: OPEResult.to_dict()},
     "summary": {ESTIMATOR: {"mean_relative_error": x, "covers_truth": k, "campaigns": n}},
     "warnings": {CAMPAIGN: [the data layer's warnings]}}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from distillrank.bandits.environments import Environment, MultiQueryEnvironment
from distillrank.bandits.ope.obd import OPEResult
from distillrank.bandits.simulate import RegretResult
from distillrank.io import json_safe
from distillrank.pipeline import plots
from distillrank.pipeline.report import Report

__all__ = [
    "GROWTH_LABELS",
    "build_ope_report",
    "build_regret_report",
    "describe_environment",
    "growth_reading",
    "ope_metrics",
    "regret_metrics",
    "write_ope_report",
    "write_regret_report",
]

GROWTH_LABELS = {"linear": "≈ linear", "sqrt": "≈ √T", "logarithmic": "≈ logarithmic"}
"""How the report's table writes each :func:`growth_reading`."""

_FEEDBACK = {"pbm": "the position-based model (PBM)", "cascade": "the cascade model"}


def log_growth_reference(rounds: int) -> float:
    """``R(T) / R(T/2)`` of a regret ``c log t``: ``1 + ln 2 / ln(T/2)`` (``nan`` for ``T < 4``)."""
    return 1 + math.log(2) / math.log(rounds / 2) if rounds >= 4 else float("nan")


def growth_reading(ratio: float | None, rounds: int) -> str | None:
    """``"linear"``, ``"sqrt"`` or ``"logarithmic"``: the regret growth whose ``R(T) / R(T/2)`` (2,
    ``sqrt 2``, :func:`log_growth_reference`) is nearest to ``ratio`` in log ratio; ``None`` when
    ``ratio`` is not a number (no regret by ``T/2``) or ``T < 4``.

    >>> growth_reading(1.97, 10_000), growth_reading(1.45, 10_000), growth_reading(1.1, 10_000)
    ('linear', 'sqrt', 'logarithmic')
    """
    log_ref = log_growth_reference(rounds)
    if ratio is None or not math.isfinite(ratio) or ratio <= 0 or not math.isfinite(log_ref):
        return None
    refs = {"linear": 2.0, "sqrt": math.sqrt(2), "logarithmic": log_ref}
    return min(refs, key=lambda k: abs(math.log(ratio) - math.log(refs[k])))


def _optimal_per_round(env: Environment) -> float:
    best = env.optimal_rewards()
    weights = getattr(env, "weights", None)
    return float(np.average(best, weights=weights))


def describe_environment(
    env: Environment, name: str, *, description: str | None = None, **details: Any
) -> dict[str, Any]:
    """What a report says of ``env``: its ``name``, the click model, positions, items (per query),
    examination (PBM), attractiveness range and the best slates' expected clicks per round, with
    ``details`` (e.g. ``source=``, ``campaign=``) and a one-sentence ``description`` (a generic one
    when not given)."""
    facts: dict[str, Any] = {"name": name, "feedback": env.feedback, "positions": env.slate_size}
    if isinstance(env, MultiQueryEnvironment):
        sizes = np.asarray(env.n_items)
        facts["queries"] = env.n_contexts
        facts["items_per_query"] = {
            "min": int(sizes.min()),
            "mean": round(float(sizes.mean()), 2),
            "max": int(sizes.max()),
        }
        alpha = np.concatenate([q.attractiveness for q in env.queries])
    else:
        facts["items"] = env.n_items
        alpha = env.attractiveness
    if env.feedback == "pbm":
        facts["examination"] = [round(float(k), 4) for k in env.examination]
    facts["attractiveness"] = {
        "min": round(float(alpha.min()), 5),
        "mean": round(float(alpha.mean()), 5),
        "max": round(float(alpha.max()), 5),
    }
    facts["optimal_clicks_per_round"] = round(_optimal_per_round(env), 5)
    facts.update(details)
    if description is None:
        items = (
            f"{facts['queries']} queries (one drawn per round, {facts['items_per_query']['mean']:g} items "
            "each on average)"
            if "queries" in facts
            else f"{facts['items']} items"
        )
        description = (
            f"{name}: {items} on {env.slate_size} positions, clicks by {_FEEDBACK[env.feedback]}; the "
            f"best slates get {facts['optimal_clicks_per_round']:.4g} expected clicks per round."
        )
    facts["description"] = description
    return facts


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _marks(rounds: int) -> dict[str, int]:
    return {"T/10": rounds // 10, "T/2": rounds // 2, "T": rounds}


def expected_fraction(result: RegretResult, label: str) -> float | None:
    """The expected clicks of a policy's slates as a fraction of the best slates', ``1 - R(T) / (T *
    optimal clicks per round)``: at most 1 (the realised clicks over the optimum's expectation exceed 1
    by chance on short runs)."""
    best = result.optimal_clicks_per_round
    if best <= 0:
        return None
    return _num(1.0 - float(np.mean(result.policies[label].final_regret)) / (result.rounds * best))


def regret_metrics(result: RegretResult, environment: Mapping[str, Any]) -> dict[str, Any]:
    """The ``metrics.json`` of a regret report (module docstring)."""
    base = result.to_dict()
    best = result.optimal_clicks_per_round
    policies: dict[str, Any] = {}
    for label, p in result.policies.items():
        raw = base["policies"][label]
        at = {}
        for mark, t in _marks(result.rounds).items():
            if t >= 1:
                mean, se = result.regret_at(label, t)
                at[mark] = {"round": t, "mean": mean, "se": se}
        policies[label] = {
            "name": raw["name"],
            "params": raw["params"],
            "rounds": list(result.checkpoints),
            "regret": raw["regret_mean"],
            "regret_se": raw["regret_se"],
            "regret_at": at,
            "final_regret_per_seed": raw["final_regret_per_seed"],
            "clicks_per_round": raw["clicks_per_round"],
            "clicks_per_round_se": raw["clicks_per_round_se"],
            "clicks_fraction_of_optimal": expected_fraction(result, label),
            "regret_T_over_half_T": raw["regret_T_over_half_T"],
            "growth": growth_reading(p.growth, result.rounds),
            "seconds_per_run": raw["seconds_per_run"],
        }
    return {
        "environment": dict(environment),
        "rounds": result.rounds,
        "seeds": list(result.seeds),
        "optimal_clicks_per_round": best,
        "policies": policies,
    }


def _decimals(scale: float) -> int:
    """Decimals that show two significant digits of ``scale`` (0 to 4)."""
    if not scale > 0 or not math.isfinite(scale):
        return 2
    return int(min(4, max(0, 1 - math.floor(math.log10(scale)))))


def _pm(mean: float, se: float | None, decimals: int) -> str:
    return f"{mean:,.{decimals}f}" + ("" if se is None else f" ± {se:,.{decimals}f}")


def build_regret_report(result: RegretResult, environment: Mapping[str, Any]) -> Report:
    """The regret report (module docstring): the environment and protocol, cumulative regret against
    rounds (linear and log-log axes, standard-error bands), regret at ``T/10``, ``T/2`` and ``T``, clicks
    per round against the optimum and the growth reading of ``R(T) / R(T/2)``."""
    name = str(environment.get("name", "environment"))
    n_seeds, rounds = len(result.seeds), result.rounds
    r = Report(f"Exploration policies in {name}: cumulative regret")
    seeds = f"{n_seeds} seed" + ("s" if n_seeds != 1 else "")
    r.text(
        f"{environment.get('description', name)} Protocol: {len(result.policies)} policies, "
        f"{rounds:,} rounds per run, {seeds} (each seed's users — "
        + ("the query of every round and " if "queries" in environment else "")
        + "the uniforms its clicks are drawn from — are the same for every policy: common random numbers). "
        "The regret of a round is the "
        "best slate's expected clicks minus the shown slate's (pseudo-regret), cumulated over rounds; "
        "figures are means over seeds"
        + (" with their standard errors." if n_seeds > 1 else " (one seed: no standard error).")
    )
    r.heading("Cumulative regret")
    series = {
        label: (
            result.checkpoints,
            p.regret_mean.tolist(),
            None if p.regret_se is None else p.regret_se.tolist(),
        )
        for label, p in result.policies.items()
    }
    band = "; bands: ± one standard error" if n_seeds > 1 else ""
    r.figure(
        plots.band_curves(
            series, xlabel="round t", ylabel="cumulative regret R(t)", title=f"{name}: cumulative regret"
        ),
        "regret",
        caption=f"mean cumulative pseudo-regret over {seeds}{band}",
    )
    r.figure(
        plots.band_curves(
            series,
            xlabel="round t",
            ylabel="cumulative regret R(t)",
            title=f"{name}: cumulative regret (log-log)",
            log_x=True,
            log_y=True,
        ),
        "regret_loglog",
        caption="the same on log-log axes: a line of slope 1 is linear regret; a curve that flattens, "
        "logarithmic",
    )
    marks = {k: t for k, t in _marks(rounds).items() if t >= 1}
    # two significant digits of the smallest standard error at T (of the smallest R(T) with one seed)
    scales = [
        float(p.regret_se[-1] if p.regret_se is not None else p.regret_mean[-1] / 10)
        for p in result.policies.values()
    ]
    decimals = _decimals(min((s for s in scales if s > 0), default=1.0))
    rows = []
    for label in result.policies:
        row: dict[str, Any] = {"policy": label}
        for mark, t in marks.items():
            mean, se = result.regret_at(label, t)
            row[f"R({mark})"] = _pm(mean, se, decimals)
        rows.append(row)
    where = ", ".join(f"{m} = {t:,}" for m, t in marks.items())
    over = f"mean ± standard error over {seeds}" if n_seeds > 1 else "one seed"
    r.table(rows, caption=f"cumulative regret at {where} ({over})")

    r.heading("Clicks and regret growth")
    best = result.optimal_clicks_per_round
    log_ref = log_growth_reference(rounds)
    click_dec = _decimals(best / 10)
    growth_rows: list[dict[str, Any]] = [
        {"policy": "optimal slates", "clicks/round": f"{best:.{click_dec}f}", "of optimal": 1.0}
    ]
    for label, p in result.policies.items():
        reading = growth_reading(p.growth, rounds)
        growth_rows.append(
            {
                "policy": label,
                "clicks/round": _pm(p.clicks_per_round, p.clicks_per_round_se, click_dec),
                "of optimal": expected_fraction(result, label),
                "R(T)/R(T/2)": _num(p.growth),
                "reading": "no regret by T/2" if reading is None else GROWTH_LABELS[reading],
                "s/run": p.seconds,
            }
        )
    r.table(
        growth_rows,
        caption="mean clicks per round over the run (as drawn); of optimal: the expected clicks of the "
        "slates shown over the best slates' (1 - R(T) / (T x optimal)); R(T)/R(T/2)",
        formats={"of optimal": ".4f", "R(T)/R(T/2)": ".3f", "s/run": ".2f"},
    )
    r.text(
        "Reading R(T)/R(T/2): 2 when the regret grows linearly (a fixed share of rounds spent exploring, "
        "or none of the exploration paid off yet), √2 = 1.41 when it grows as √T, and "
        + (f"1 + ln 2 / ln(T/2) = {log_ref:.3f}" if math.isfinite(log_ref) else "close to 1")
        + " when it grows logarithmically (the policy has found the best slates and explores less and "
        "less); each policy is read as the nearest of the three."
    )
    return r


def write_regret_report(
    result: RegretResult, folder: str | Path, environment: Mapping[str, Any]
) -> list[Path]:
    """Write ``report.md`` (+ its PNGs), ``report.html`` and ``metrics.json`` (:func:`regret_metrics`)."""
    return build_regret_report(result, environment).write(folder, metrics=regret_metrics(result, environment))


def ope_metrics(
    results: Mapping[str, OPEResult], warnings: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Any]:
    """The ``metrics.json`` of an off-policy-evaluation report (module docstring)."""
    names = list(dict.fromkeys(n for res in results.values() for n in res.estimators))
    summary: dict[str, Any] = {}
    for n in names:
        got = [res.estimators[n] for res in results.values() if n in res.estimators]
        errors = [e.relative_error for e in got if math.isfinite(e.relative_error)]
        summary[n] = {
            "mean_relative_error": float(np.mean(errors)) if errors else None,
            "covers_truth": sum(e.covers_truth for e in got),
            "campaigns": len(got),
        }
    return json_safe(
        {
            "campaigns": {c: res.to_dict() for c, res in results.items()},
            "summary": summary,
            "warnings": {c: list((warnings or {}).get(c, [])) for c in results},
        }
    )


def _reward_model_text(settings: Mapping[str, Any]) -> str:
    rm = settings.get("reward_model") or {}
    name = str(rm.get("model", "a model"))
    model = {"logistic": "a logistic regression", "lightgbm": "a LightGBM classifier"}.get(name, name)
    folds = rm.get("n_folds")
    return model + (f", {folds}-fold cross-fitted" if folds and folds > 1 else "")


def build_ope_report(
    results: Mapping[str, OPEResult], warnings: Mapping[str, Sequence[str]] | None = None
) -> Report:
    """The off-policy-evaluation report (module docstring): per campaign, each estimator's estimate and
    bootstrap interval against the ground truth and its interval (a plot and a table), and the mean
    relative error over campaigns.

    Raises:
        ValueError: ``results`` is empty.
    """
    if not results:
        raise ValueError("no campaign to report")
    first = next(iter(results.values()))
    ev, beh, settings = first.evaluation_policy, first.behaviour_policy, first.settings
    level = 1 - float(settings.get("alpha", 0.05))
    r = Report(f"Off-policy evaluation on the Open Bandit Dataset: {ev} from the {beh} logs")
    r.text(
        f"For each campaign the click rate of the {ev} policy is estimated from the {beh} policy's log "
        f"and compared with the {ev} log's own mean click rate, the ground truth (Saito et al., "
        f'"Open Bandit Dataset and Pipeline", NeurIPS 2021 D&B); the figure of merit is the relative '
        f"error |V_hat - V| / V. {ev}'s action distribution is read from the propensities its own log "
        f"recorded; the reward model of DM, DR, SNDR and Switch-DR is {_reward_model_text(settings)}. "
        f"Intervals: {level:.0%} percentile bootstrap over the rounds ({settings.get('n_bootstrap')} "
        f"resamples, seed {settings.get('seed')}), "
        + (
            f"the reward model refitted on each of {settings['refit_resamples']} resamples for the "
            "estimators that read it (DM, DR, SNDR, Switch-DR), so that their intervals carry its "
            "uncertainty"
            if settings.get("refit_resamples")
            else "with the reward model held fixed (so DM's and Switch-DR's intervals leave out its own "
            "uncertainty and are narrow; --refit-resamples refits it on each resample)"
        )
        + "; the truth's interval is the bootstrap of its own log (with a few dozen clicks per log it "
        "is wide)."
    )
    metrics = ope_metrics(results, warnings)
    if len(results) > 1:
        r.heading("Summary")
        r.table(
            [
                {
                    "estimator": n,
                    "mean relative error": s["mean_relative_error"],
                    "interval covers truth": f"{s['covers_truth']} of {s['campaigns']}",
                }
                for n, s in metrics["summary"].items()
            ],
            caption=f"over the campaigns {', '.join(results)}",
            formats={"mean relative error": ".3f"},
        )
    for campaign, res in results.items():
        truth, ci = res.ground_truth, res.ground_truth_interval
        r.heading(f"Campaign: {campaign}")
        r.text(
            f"Ground truth (the {ev} log's mean click): {truth:.5f}, {level:.0%} interval "
            f"[{ci.low:.5f}, {ci.high:.5f}]; {res.n_rounds_behaviour:,} {beh} rounds, "
            f"{res.n_rounds_evaluation:,} {ev} rounds."
        )
        r.figure(
            plots.intervals(
                {n: (e.estimate, e.interval.low, e.interval.high) for n, e in res.estimators.items()},
                ylabel=f"estimated click rate of {ev}",
                title=f"campaign {campaign}: off-policy estimates of {ev}",
                reference=truth,
                reference_interval=(ci.low, ci.high),
                reference_label=f"ground truth ({ev} log) and its {level:.0%} interval",
            ),
            f"ope_{campaign}",
            caption=f"each estimator's estimate and {level:.0%} bootstrap interval (red: the interval "
            "misses the truth); dashed line and band: the ground truth and its interval",
        )
        r.table(
            [
                {
                    "estimator": n,
                    "estimate": e.estimate,
                    "relative error": e.relative_error,
                    "interval": f"[{e.interval.low:.5f}, {e.interval.high:.5f}]",
                    "covers truth": "yes" if e.covers_truth else "no",
                }
                for n, e in res.estimators.items()
            ],
            caption=f"campaign {campaign}: truth {truth:.5f}",
            formats={"estimate": ".5f", "relative error": ".3f"},
        )
        for w in (warnings or {}).get(campaign, []):
            r.text(f"**Warning**: {w}")
    return r


def write_ope_report(
    results: Mapping[str, OPEResult], folder: str | Path, warnings: Mapping[str, Sequence[str]] | None = None
) -> list[Path]:
    """Write ``report.md`` (+ one PNG per campaign), ``report.html`` and ``metrics.json``
    (:func:`ope_metrics`)."""
    return build_ope_report(results, warnings).write(folder, metrics=ope_metrics(results, warnings))
