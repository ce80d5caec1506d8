"""The report of an online run: ``report.md``, ``report.html`` (nDCG@10 against sessions per estimator)
and ``metrics.json`` (``{"estimators": {NAME: {"nDCG@10": [...], "sessions": [...]}}, ...}``)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from distillrank.feedback.online.config import METRIC, SESSION_LEARNERS
from distillrank.feedback.online.result import EstimatorCurve, OnlineResult
from distillrank.feedback.unbiased.lgbm import training_candidates
from distillrank.pipeline import plots
from distillrank.pipeline.report import Report

__all__ = ["LABELS", "build_report", "mean_result", "write_report"]

LABELS = {
    "naive": "naive (clicks as labels)",
    "ips": "IPS",
    "snips": "SNIPS",
    "dr": "doubly robust",
    "full_info": "full information",
    "unbiased_lambdamart": "Unbiased LambdaMART (sessions)",
}


def _reach(name: str, sessions: int | None) -> str:
    if name == "full_info":
        return ""
    return "not within the run" if sessions is None else f"{sessions:,}"


_SHORT = {"naive": "naive", "ips": "IPS", "snips": "SNIPS", "dr": "DR", "full_info": "full information"}


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _candidate_text(result: OnlineResult) -> str:
    """Which candidates each estimator of the run trained on (:func:`training_candidates`), e.g.
    ``"naive on the candidates the log showed, DR and full information on every candidate of the queries
    seen"``."""
    groups: dict[str, list[str]] = {"shown": [], "all": []}
    sessions = [n for n in result.curves if n in SESSION_LEARNERS]
    for name in result.curves:
        if name not in SESSION_LEARNERS:
            groups[training_candidates(name, result.config.candidates)].append(_SHORT.get(name, name))
    parts = []
    if groups["shown"]:
        parts.append(f"{_and(groups['shown'])} on the candidates the log showed")
    if groups["all"]:
        parts.append(f"{_and(groups['all'])} on every candidate of the queries seen")
    if sessions:
        parts.append(
            f"{_and([LABELS.get(n, n) for n in sessions])} on the clicked/unclicked pairs of the latest "
            f"{result.config.session_window:,} sessions"
        )
    return ", ".join(parts)


def _mean(values: Sequence[float | None]) -> float | None:
    known = [float(v) for v in values if v is not None]
    return round(sum(known) / len(known), 5) if known else None


def _mean_vector(vectors: Sequence[list[float] | None]) -> list[float] | None:
    """The element-wise mean of the vectors that are not None (None when none is)."""
    known = [v for v in vectors if v is not None]
    if not known:
        return None
    return [round(sum(v[k] for v in known) / len(known), 4) for k in range(len(known[0]))]


def mean_result(results: Sequence[OnlineResult]) -> tuple[OnlineResult, dict[str, list[float]]]:
    """The mean over independent replicates (seeds) of the same run: every curve averaged round by
    round, and the standard error of each mean curve (``sd / sqrt(n)``) for :func:`build_report`'s bands.

    Raises:
        ValueError: no result, or results of other estimators or round counts.
    """
    if not results:
        raise ValueError("mean_result needs at least one result")
    first = results[0]
    if any(list(r.curves) != list(first.curves) for r in results) or any(
        [c.sessions for c in r.curves.values()] != [c.sessions for c in first.curves.values()]
        for r in results
    ):
        raise ValueError("mean_result: the results differ in their estimators or rounds")
    n = len(results)
    curves, errors = {}, {}
    for name, c0 in first.curves.items():
        runs = [r.curves[name] for r in results]
        rounds = range(len(c0.ndcg))
        ndcg = [sum(c.ndcg[i] for c in runs) / n for i in rounds]
        sd = [
            math.sqrt(sum((c.ndcg[i] - ndcg[i]) ** 2 for c in runs) / (n - 1)) if n > 1 else 0.0
            for i in rounds
        ]
        errors[name] = [v / math.sqrt(n) for v in sd]
        props = [_mean_vector([c.propensities[i] for c in runs]) for i in rounds]
        curves[name] = EstimatorCurve(
            name,
            ndcg=[round(v, 5) for v in ndcg],
            sessions=list(c0.sessions),
            propensities=props,
            propensity_mae=[_mean([c.propensity_mae[i] for c in runs]) for i in rounds],
            served=[_mean([c.served[i] for c in runs]) for i in rounds],
            seconds=sum(c.seconds for c in runs) / n,
        )
    mean = dataclasses.replace(
        first,
        initial_ndcg=sum(r.initial_ndcg for r in results) / n,
        curves=curves,
        seconds=sum(r.seconds for r in results),
    )
    return mean, errors


def build_report(
    result: OnlineResult, *, seeds: int = 1, errors: dict[str, list[float]] | None = None
) -> Report:
    """The report of ``result``; with ``seeds > 1`` it is a mean over that many replicates
    (:func:`mean_result`), said so, with ``errors`` (standard errors of the mean curves) as bands."""
    cfg = result.config
    r = Report(f"Online learning to rank from clicks on {result.dataset}")
    total = cfg.rounds * cfg.sessions_per_round
    if seeds > 1:
        r.text(
            f"**Means over {seeds} seeds**, each an independent replicate (its own sessions, clicks and "
            "LightGBM bagging draw); every figure below is the mean"
            + (", and the bands are one standard error of the mean over the seeds." if errors else ".")
        )
    r.text(
        f"{cfg.rounds} rounds of {cfg.sessions_per_round:,} sessions ({total:,} in all). Each round serves "
        f"the top {cfg.top_k} of a Plackett-Luce ranking of the current ranker's "
        f"standardised scores at temperature {cfg.exploration:g} (the first round: {result.initial_name}); "
        f"clicks follow PBM with eta={cfg.eta:g}, eps-={cfg.eps_minus:g}, eps+={cfg.eps_plus:g}; sessions "
        f"are logged to a click store, propensities are "
        + ("estimated by EM regression on the log" if cfg.propensities == "em" else "the simulator's own")
        + f", clipped at {cfg.clip:g}; click-noise correction: {cfg.noise}; "
        + (
            f"the LightGBM ranker is fine-tuned from the last model with {cfg.trees_per_round} more trees "
            "per round"
            if cfg.warm_start
            else "the LightGBM ranker is refitted every round on the whole log's estimates, with "
            f"{cfg.trees_per_round} trees per round logged so far"
        )
        + f" on the estimator's relevance targets ({cfg.objective} objective), "
        + _candidate_text(result)
        + ". "
        f"Test {METRIC} of the first ranker: {result.initial_ndcg:.4f}."
        + (
            f" The dataset has no train/test split of its own: the test queries are {result.held_out} "
            "(held out; no click on them is simulated)."
            if result.held_out
            else ""
        )
    )
    r.heading(f"{METRIC} against sessions")
    targets = (
        [(0.98 * result.final("full_info"), "0.98x full information (final)")]
        if "full_info" in result.curves
        else []
    )
    title = f"{result.dataset}: online learning from clicks" + (
        f" (mean of {seeds} seeds)" if seeds > 1 else ""
    )
    if errors:
        bands = {LABELS.get(n, n): (c.sessions, c.ndcg, errors.get(n)) for n, c in result.curves.items()}
        sessions = next(iter(result.curves.values())).sessions  # every curve has the same rounds
        bands[result.initial_name] = (list(sessions), [result.initial_ndcg] * len(sessions), None)
        figure = plots.band_curves(
            bands, xlabel="sessions", ylabel=f"test {METRIC}", title=title, hlines=targets
        )
    else:
        series = {LABELS.get(n, n): (c.sessions, c.ndcg) for n, c in result.curves.items()}
        figure = plots.curves(
            series,
            xlabel="sessions",
            ylabel=f"test {METRIC}",
            title=title,
            reference=result.initial_ndcg,
            reference_label=result.initial_name,
            hlines=targets,
        )
    r.figure(
        figure,
        "ndcg_vs_sessions",
        caption=f"test {METRIC} after each round; dashed: the first ranker"
        + (
            "; dotted: 0.98x the full-information ranker's final value"
            if "full_info" in result.curves
            else ""
        ),
    )
    metrics = result.metrics()["estimators"]
    rows: list[dict[str, Any]] = []
    for name, c in result.curves.items():
        m = metrics[name]
        rows.append(
            {
                "estimator": LABELS.get(name, name),
                f"final {METRIC}": c.ndcg[-1],
                "x full information": m.get("ratio_to_full_info"),
                "sessions to 0.98x full": _reach(name, m.get("sessions_to_0.98_full_info")),
                "propensity MAE": c.propensity_mae[-1],
                f"served {METRIC}": c.served[-1],
                "seconds": round(c.seconds) if c.seconds else None,
            }
        )
    empty = [k for k in rows[0] if all(row[k] is None for row in rows)]  # not recorded (a mean from JSON)
    rows = [{k: v for k, v in row.items() if k not in empty} for row in rows]
    r.table(
        rows,
        caption="served: mean nDCG@10 of the pages shown in the last round (training grades); propensity "
        "MAE: mean absolute error of the estimated p_k/p_1 over ranks 2..k",
    )
    r.heading("Per round")
    per_round = []
    for i in range(cfg.rounds):
        row: dict[str, Any] = {"round": i + 1}
        for name, c in result.curves.items():
            if i < len(c.ndcg):
                row["sessions"] = c.sessions[i]
                row[LABELS.get(name, name)] = c.ndcg[i]
        per_round.append(row)
    r.table(per_round, caption=f"test {METRIC}")
    est = [c for c in result.curves.values() if c.propensities and c.propensities[-1] is not None]
    if est:
        r.heading("Propensities")
        truth = result.true_propensities
        prop_rows = [{"rank": k + 1, "true p_k/p_1": truth[k]} for k in range(len(truth))]
        for c in est:
            last = c.propensities[-1]
            assert last is not None
            for k, row in enumerate(prop_rows):
                row[LABELS.get(c.name, c.name)] = last[k]
        r.table(prop_rows, caption="relative propensities used in the last round, against the simulator's")
    r.text(f"Total time: {result.seconds:.0f} s.")
    return r


def write_report(
    result: OnlineResult,
    folder: str | Path,
    *,
    seeds: int = 1,
    errors: dict[str, list[float]] | None = None,
    metrics: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``report.md``, ``report.html``, the figure and ``metrics.json`` (``metrics``, default
    ``result.metrics()``) into ``folder``; ``seeds``/``errors`` as in :func:`build_report`."""
    report = build_report(result, seeds=seeds, errors=errors)
    return report.write(folder, metrics=metrics if metrics is not None else result.metrics())
