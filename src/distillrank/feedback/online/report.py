"""The report of an online run: ``report.md``, ``report.html`` (nDCG@10 against sessions per estimator)
and ``metrics.json`` (``{"estimators": {NAME: {"nDCG@10": [...], "sessions": [...]}}, ...}``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distillrank.feedback.online.loop import METRIC, SESSION_LEARNERS, OnlineResult
from distillrank.feedback.unbiased.lgbm import training_candidates
from distillrank.pipeline import plots
from distillrank.pipeline.report import Report

__all__ = ["LABELS", "build_report", "write_report"]

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


def build_report(result: OnlineResult) -> Report:
    cfg = result.config
    r = Report(f"Online learning to rank from clicks on {result.dataset}")
    total = cfg.rounds * cfg.sessions_per_round
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
    series = {LABELS.get(n, n): (c.sessions, c.ndcg) for n, c in result.curves.items()}
    r.figure(
        plots.curves(
            series,
            xlabel="sessions",
            ylabel=f"test {METRIC}",
            title=f"{result.dataset}: online learning from clicks",
            reference=result.initial_ndcg,
            reference_label=result.initial_name,
        ),
        "ndcg_vs_sessions",
        caption=f"test {METRIC} after each round; dashed: the first ranker",
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
                "seconds": round(c.seconds),
            }
        )
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


def write_report(result: OnlineResult, folder: str | Path) -> list[Path]:
    """Write ``report.md``, ``report.html``, the figure and ``metrics.json`` into ``folder``."""
    return build_report(result).write(folder, metrics=result.metrics())
