"""``distillrank bandits``: exploration policies for ranking (regret), and off-policy evaluation on OBD.

``bandits simulate --env ENV --output DIR`` runs every policy (``--policy NAME[:key=value,...]``,
repeatable; default :data:`~distillrank.bandits.simulate.DEFAULT_POLICIES`) ``--seeds`` times for
``--rounds`` rounds in a click environment: ``obd`` (the Open Bandit Dataset's uniform-random log,
:func:`~distillrank.bandits.datasets.obd_environment`, ``--campaign``), a click log (a PBM fitted on it,
:func:`~distillrank.bandits.datasets.click_log_environment`, e.g. ``yandex-wscd-sample``), an LTR dataset
(:func:`~distillrank.bandits.datasets.ltr_environment`) or a text collection (BM25's top ``--depth``
documents of its judged queries with the qrels, :func:`~distillrank.bandits.datasets.run_environment`),
by catalogue name or path. It writes into ``--output``:

* ``report.md`` / ``report.html``: the environment and protocol, cumulative regret against rounds
  (linear and log-log, standard-error bands), regret at T/10, T/2 and T, clicks per round against the
  optimum and the reading of R(T)/R(T/2);
* ``metrics.json``::

    {"environment": {"name", "description", "feedback", "positions", "examination", ...},
     "rounds": T, "seeds": [...], "optimal_clicks_per_round": x,
     "policies": {LABEL: {"rounds": [checkpoints], "regret": [mean R(t)], "regret_se": [...],
                          "regret_at": {"T/10"|"T/2"|"T": {"round", "mean", "se"}},
                          "clicks_per_round": x, "clicks_fraction_of_optimal": x,
                          "regret_T_over_half_T": x, "growth": "linear"|"sqrt"|"logarithmic", ...}}}

  (:func:`distillrank.bandits.report.regret_metrics`).

``bandits ope --output DIR`` is the Open Bandit Dataset check
(:func:`~distillrank.bandits.ope.evaluate_logged_policy`): the ``--evaluation`` policy's click rate
estimated from the ``--behaviour`` log of each ``--campaign``, per estimator, against the evaluation
log's own mean click rate. ``metrics.json`` is ``{"campaigns": {CAMPAIGN: OPEResult.to_dict()},
"summary": {ESTIMATOR: {"mean_relative_error", "covers_truth", "campaigns"}}, "warnings": {...}}``
(:func:`distillrank.bandits.report.ope_metrics`).
"""

from __future__ import annotations

import difflib
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from distillrank.cli._common import (
    DataDirOption,
    choose,
    console,
    fields_as_options,
    friendly_errors,
    out,
    progress,
    report_output,
    status,
    warn,
)
from distillrank.errors import DistillrankError

app = typer.Typer(
    help="Bandits for ranking: the regret of exploration policies, and off-policy evaluation on OBD.",
    no_args_is_help=True,
)

OBD_NAMES = ("obd", "open-bandit-dataset")
QUICK_ROUNDS, QUICK_SEEDS = 2_000, 3
CHECKPOINTS = 50
"""Rounds at which the cumulative regret is reported (evenly spaced; T/10, T/2 and T always are)."""

_OPTION_OF = {
    "rounds": "--rounds",
    "seeds": "--seeds",
    "policies": "--policy",
    "slate_size": "--slate-size",
    "top_k": "--slate-size",
    "feedback": "--feedback",
    "eta": "--eta",
    "eps_minus": "--eps-minus",
    "eps_plus": "--eps-plus",
}


MIN_BOOTSTRAP = 50
"""Fewest bootstrap resamples of ``bandits ope``'s intervals (a percentile interval of 1 or 10 is noise)."""


def _as_options(message: str) -> str:
    """A config error with its field names written as the options that set them."""
    return fields_as_options(message, _OPTION_OF)


def _listed(values: list[str], choices: tuple[str, ...] | list[str], option: str, what: str) -> list[str]:
    """Names given as a repeatable and/or comma-separated option, checked and de-duplicated in order."""
    names = [v.strip() for text in values for v in text.split(",") if v.strip()]
    if not names:
        raise DistillrankError(f"{option} names no {what}; choose from {', '.join(choices)}")
    return list(dict.fromkeys(choose(n, choices, option, what) for n in names))


def parse_policies(texts: list[str] | None) -> tuple[Any, ...]:
    """The :class:`~distillrank.bandits.simulate.PolicySpec` of each ``--policy NAME[:key=value,...]``
    (default: ``DEFAULT_POLICIES``); an unknown name or parameter is an error naming the option."""
    from distillrank.bandits.policies import POLICIES, policy_parameters
    from distillrank.bandits.simulate import DEFAULT_POLICIES, PolicySpec

    if not texts:
        return DEFAULT_POLICIES
    specs: list[PolicySpec] = []
    for text in texts:
        name = text.partition(":")[0].strip()
        choose(name, list(POLICIES), f"--policy {text}", "policy")
        try:
            spec = PolicySpec.parse(text)
        except ValueError as e:
            raise DistillrankError(f"--policy {text}: {e}") from e
        known = policy_parameters(name)
        for key in spec.params:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise DistillrankError(
                    f"--policy {text}: {name} has no parameter {key!r}{hint}; "
                    f"its parameters: {', '.join(known) or 'none'}"
                )
        if any(spec.key == other.key for other in specs):
            raise DistillrankError(
                f"--policy {text}: given twice (each policy's label, {spec.key!r}, must differ)"
            )
        specs.append(spec)
    return tuple(specs)


def _obd_root(data: Path | None, data_dir: Path | None) -> Path:
    """The Open Bandit Dataset folder: ``data`` itself, else the catalogue's place under the data folder."""
    from distillrank.data.catalogue import resolve

    if data is not None:
        if not data.exists():
            raise DistillrankError(f"--data {data}: no such folder")
        return data
    return resolve("open-bandit-dataset", data_dir)[0]


def load_environment(
    env: str,
    data_dir: Path | None,
    *,
    campaign: str | None = None,
    feedback: str = "pbm",
    slate_size: int | None = None,
    eta: float | None = None,
    eps_minus: float | None = None,
    eps_plus: float | None = None,
    depth: int | None = None,
    split: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """``(environment, its description for the report)`` for ``--env`` and the options that shape it.

    ``obd`` (or ``open-bandit-dataset``, or a path to it): the uniform-random log's PBM (3 positions; the
    click-model options do not apply). A click log: the PBM fitted on its ``split`` (default ``train``,
    else its only split; ``--feedback``, ``--eta``, ``--eps-*`` and ``--depth`` do not apply). An LTR
    dataset: its ``split`` (default ``train``, else its only
    split). A text collection: BM25 (Lucene defaults) retrieves ``depth`` documents (default 15) for each
    judged query of ``split`` (default ``test``, else its only judged split), unjudged ones of grade 0.

    Raises:
        DistillrankError: an option that does not apply to the environment, or a bad setting, named.
    """
    from distillrank.bandits.datasets import ltr_environment, obd_environment, run_environment
    from distillrank.bandits.environments import Environment
    from distillrank.bandits.report import describe_environment
    from distillrank.data.catalogue import load_dataset, resolve
    from distillrank.data.formats.obd import CAMPAIGNS

    key = env.strip()
    environment: Environment
    try:
        path, kind, name = resolve("open-bandit-dataset" if key.lower() in OBD_NAMES else key, data_dir)
    except DistillrankError as e:
        raise DistillrankError(f"--env {key}: {e} (or --env obd)") from e
    if kind == "bandit":
        given = {
            "--feedback cascade": feedback != "pbm",
            "--slate-size": slate_size not in (None, 3),
            "--eta": eta is not None,
            "--eps-minus": eps_minus is not None,
            "--eps-plus": eps_plus is not None,
            "--depth": depth is not None,
            "--split": split is not None,
        }
        if bad := [opt for opt, set_ in given.items() if set_]:
            raise DistillrankError(
                f"{bad[0]} does not apply to --env {key}: the Open Bandit Dataset environment is a PBM of "
                "its 80 items on its 3 positions, estimated from the uniform-random log"
            )
        campaign = choose(campaign or "all", CAMPAIGNS, "--campaign", "campaign")
        environment = obd_environment(path, campaign)
        facts = describe_environment(environment, f"OBD ({campaign})", source=str(path), campaign=campaign)
        facts["description"] = (
            f"The Open Bandit Dataset's uniform-random log (ZOZOTOWN, campaign {campaign}): "
            f"{environment.n_items} items on {environment.slate_size} positions under the position-based "
            "model, with examination (by position, relative to the most examined: "
            + ", ".join(f"{k:.3f}" for k in environment.examination)
            + ") and attractiveness (empirical-Bayes shrinkage of each item's click rate, "
            f"{facts['attractiveness']['min']:.4f} to {facts['attractiveness']['max']:.4f}) estimated from "
            f"the log; the best slate gets {facts['optimal_clicks_per_round']:.4f} expected clicks per round."
        )
        return environment, facts
    if campaign is not None:
        raise DistillrankError(f"--campaign applies to --env obd only, not to {key!r} ({kind})")
    given_model = {"--eta": eta, "--eps-minus": eps_minus, "--eps-plus": eps_plus, "--depth": depth}
    if kind == "clicks":
        return _click_log_environment(key, data_dir, path, name, feedback, slate_size, split, given_model)
    if kind not in ("ltr", "text"):
        raise DistillrankError(
            f"--env {key}: a dataset of kind {kind!r}; an environment is obd, a click log, an LTR dataset "
            "or a text collection"
        )
    slate = 5 if slate_size is None else slate_size
    model = {
        "eta": 1.0 if eta is None else eta,
        "eps_minus": 0.1 if eps_minus is None else eps_minus,
        "eps_plus": 1.0 if eps_plus is None else eps_plus,
    }
    with status(f"loading {key}"):
        loaded = load_dataset(key, data_dir)
    try:
        if kind == "ltr":
            if depth is not None:
                raise DistillrankError(f"--depth applies to text collections, not to the LTR dataset {key!r}")
            splits = list(loaded.splits)
            use = split or ("train" if "train" in splits or len(splits) != 1 else splits[0])
            if use not in splits:
                raise DistillrankError(f"--split: {key} has no split {use!r} (it has {splits})")
            environment = ltr_environment(loaded[use], slate, feedback, **model)  # type: ignore[arg-type]
            what = f"the {use} queries of the LTR dataset {name}"
            items = "each query's documents are its items"
            extra: dict[str, Any] = {"split": use}
        else:
            from distillrank.retrieval.bm25 import BM25Retriever

            judged = [s for s in loaded.splits if loaded.get_qrels(s)]
            use = split or ("test" if "test" in judged or len(judged) != 1 else judged[0])
            if use not in loaded.splits:
                raise DistillrankError(f"--split: {key} has no judged split {use!r} (it has {judged})")
            k = 15 if depth is None else depth
            if k < 1:
                raise DistillrankError(f"--depth must be >= 1 (got {k})")
            qrels = loaded.get_qrels(use)
            queries = loaded.queries_for(use).subset([q for q in qrels if q in loaded.queries])
            with status(f"BM25 top {k} of {len(queries)} judged {use} queries"):
                bm25 = BM25Retriever()
                bm25.index(loaded.corpus)
                run = bm25.search(queries, k=k)
            environment = run_environment(run, qrels, k, slate, feedback, **model)  # type: ignore[arg-type]
            what = f"the judged {use} queries of {name}"
            items = f"each query's BM25 top {k} documents are its items (unjudged ones of grade 0)"
            extra = {"split": use, "depth": k, "candidates": f"BM25 top {k}"}
    except ValueError as e:
        hint = f" (--slate-size {slate})" if "candidates" in str(e) else ""
        raise DistillrankError(f"--env {key}: {_as_options(str(e))}{hint}") from e
    facts = describe_environment(environment, name, source=str(path), click_model=model, **extra)
    n_all = len(loaded[use].query_ids) if kind == "ltr" else len(queries)
    left_out = n_all - environment.n_contexts
    clicks = (
        "PBM with the examination of Joachims et al. (2005) to the power eta = "
        + f"{model['eta']:g} ("
        + ", ".join(f"{x:.3f}" for x in environment.examination)
        + ")"
        if feedback == "pbm"
        else "the cascade model (the user scans down and clicks the first attractive document)"
    )
    facts["description"] = (
        f"{what[0].upper()}{what[1:]}: a query drawn uniformly each round, {items}, "
        f"{environment.n_contexts} queries"
        + (f" ({left_out} with fewer than {slate} documents left out)" if left_out else "")
        + f", {slate} positions. Clicks by the unbiased-LTR protocol: a document of grade y attracts with "
        f"eps- + (eps+ - eps-)(2^y - 1)/(2^y_max - 1), eps- = {model['eps_minus']:g}, "
        f"eps+ = {model['eps_plus']:g}, under {clicks}; the best slates get "
        f"{facts['optimal_clicks_per_round']:.4f} expected clicks per round (mean over the queries)."
    )
    return environment, facts


def _click_log_environment(
    key: str,
    data_dir: Path | None,
    path: Path,
    name: str,
    feedback: str,
    slate_size: int | None,
    split: str | None,
    given: dict[str, Any],
) -> tuple[Any, dict[str, Any]]:
    """A click log's environment (:func:`~distillrank.bandits.datasets.click_log_environment`): a PBM
    fitted on ``split`` (default ``train``, else its only split), one context per query."""
    from distillrank.bandits.datasets import click_log_environment
    from distillrank.bandits.report import describe_environment
    from distillrank.data.catalogue import load_dataset

    set_ = [opt for opt, value in given.items() if value is not None]
    if feedback != "pbm":
        set_.insert(0, f"--feedback {feedback}")
    if set_:
        raise DistillrankError(
            f"{set_[0]} does not apply to the click log {key!r}: its environment is the PBM fitted on it"
        )
    with status(f"loading {key}"):
        loaded = load_dataset(key, data_dir)
    splits = list(loaded.splits)
    use = split or ("train" if "train" in splits or len(splits) != 1 else splits[0])
    if use not in splits:
        raise DistillrankError(f"--split: {key} has no split {use!r} (it has {splits})")
    slate = 5 if slate_size is None else slate_size
    log = loaded[use]
    try:
        with status(f"fitting a PBM on the {use} sessions"):
            environment = click_log_environment(log, slate)
    except ValueError as e:
        raise DistillrankError(f"--env {key}: {_as_options(str(e))} (--slate-size {slate})") from e
    facts = describe_environment(environment, name, source=str(path), split=use)
    facts["description"] = (
        f"A PBM fitted by EM on the {use} sessions of the click log {name} ({log.n_sessions:,} sessions): "
        f"each of its {environment.n_contexts} queries with {slate} or more documents shown in at least "
        "100 sessions is a context (one drawn uniformly per round), those documents (at most 20, the most "
        f"shown) its items with their fitted attractiveness, {slate} positions examined as fitted ("
        + ", ".join(f"{x:.3f}" for x in environment.examination)
        + f"); the best slates get {facts['optimal_clicks_per_round']:.4f} expected clicks per round "
        "(mean over the queries)."
    )
    return environment, facts


@app.command("simulate")
@friendly_errors
@report_output
def simulate(
    env: Annotated[
        str,
        typer.Option(
            "--env",
            "-e",
            help="'obd' (the Open Bandit Dataset's uniform-random log), or a click log, an LTR dataset or a "
            "text collection (catalogue name or path).",
        ),
    ] = "obd",
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for report.md, report.html and metrics.json.")
    ] = Path("bandit-regret"),
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy",
            "-p",
            help="A policy NAME[:key=value,...] (repeatable): uniform, epsilon_greedy, "
            "epsilon_greedy_decay, ucb1, kl_ucb, thompson, lin_ucb, lin_ts (the linear ones need item "
            "features: LTR datasets). Default: uniform, epsilon_greedy:epsilon=0.1, "
            "epsilon_greedy_decay, ucb1, kl_ucb, thompson.",
            show_default=False,
        ),
    ] = None,
    rounds: Annotated[int, typer.Option(help="Rounds T of each run.")] = 10_000,
    seeds: Annotated[int, typer.Option(help="Runs per policy, with seeds 0..n-1.")] = 10,
    feedback: Annotated[
        str, typer.Option(help="Click model: pbm or cascade (LTR datasets and text collections).")
    ] = "pbm",
    slate_size: Annotated[
        int | None,
        typer.Option(help="Positions shown per round (default 5; obd has its 3).", show_default=False),
    ] = None,
    eta: Annotated[
        float | None,
        typer.Option(
            help="Position-bias severity of PBM (LTR datasets, text collections; default 1).",
            show_default=False,
        ),
    ] = None,
    eps_minus: Annotated[
        float | None,
        typer.Option(
            help="Click probability of an examined irrelevant document (LTR/text; default 0.1).",
            show_default=False,
        ),
    ] = None,
    eps_plus: Annotated[
        float | None,
        typer.Option(
            help="Click probability of an examined top-grade document (LTR/text; default 1).",
            show_default=False,
        ),
    ] = None,
    campaign: Annotated[
        str | None,
        typer.Option(help="obd: the campaign, all, men or women (default all).", show_default=False),
    ] = None,
    depth: Annotated[
        int | None,
        typer.Option(
            help="Text collections: BM25 documents per query, the items (default 15).", show_default=False
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            help="The split whose queries are the contexts (default: an LTR dataset's train, a text "
            "collection's test; else the only one).",
            show_default=False,
        ),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help=f"A smoke run: at most {QUICK_ROUNDS:,} rounds and {QUICK_SEEDS} seeds."
        ),
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Cumulative regret of exploration policies in a click environment, over seeds.

    Writes report.md, report.html (cumulative regret against rounds with standard-error bands) and
    metrics.json ({"environment": {...}, "policies": {LABEL: {"regret": [...], "regret_se": [...],
    "rounds": [...], "clicks_per_round": x, "regret_T_over_half_T": x, ...}}}) into --output.
    """
    from distillrank.bandits.policies import make_policy
    from distillrank.bandits.report import write_regret_report
    from distillrank.bandits.simulate import BanditConfig
    from distillrank.bandits.simulate import simulate as run_simulation

    if quick:
        rounds, seeds = min(rounds, QUICK_ROUNDS), min(seeds, QUICK_SEEDS)
    if seeds < 1:
        raise DistillrankError(f"--seeds must be >= 1 (got {seeds})")
    specs = parse_policies(policy)
    feedback = choose(feedback, ("pbm", "cascade"), "--feedback", "click model")
    if slate_size is not None and slate_size < 1:
        raise DistillrankError(f"--slate-size must be >= 1 (got {slate_size})")
    try:
        config = BanditConfig(
            rounds=rounds, seeds=tuple(range(seeds)), policies=specs, checkpoints=CHECKPOINTS
        )
    except ValueError as e:
        raise DistillrankError(_as_options(str(e))) from e
    environment, facts = load_environment(
        env,
        data_dir,
        campaign=campaign,
        feedback=feedback,
        slate_size=slate_size,
        eta=eta,
        eps_minus=eps_minus,
        eps_plus=eps_plus,
        depth=depth,
        split=split,
    )
    console.print(facts["description"], highlight=False)
    for spec, text in zip(specs, policy or [s.key for s in specs], strict=True):
        try:
            make_policy(spec.name, environment, **spec.params)
        except (ValueError, TypeError) as e:
            words = [f"{k} must be a number, got {v!r}" for k, v in spec.params.items() if isinstance(v, str)]
            raise DistillrankError(f"--policy {text}: {words[0] if words else e}") from e

    bar = progress()
    total = len(config.policies) * len(config.seeds)
    task = bar.add_task("policies x seeds", total=total)

    def callback(label: str, seed: int) -> None:
        bar.update(task, advance=1, description=f"{label} (seed {seed})")
        if bar.disable and seed == config.seeds[-1]:
            console.print(f"{label}: {len(config.seeds)} runs of {config.rounds:,} rounds", highlight=False)

    with bar:
        result = run_simulation(environment, config, callback)
    paths = write_regret_report(result, output, facts)
    _print_regret_summary(result, facts["name"])
    out.print(f"wrote {', '.join(str(p) for p in paths)}", highlight=False)


def _short(x: float, digits: int = 3) -> str:
    """A regret for the terminal: whole numbers from ``10 ** (digits - 1)`` on (``11,164``), ``digits``
    significant digits below (``85.0``)."""
    return f"{x:,.0f}" if abs(x) >= 10 ** (digits - 1) else f"{x:.{digits}g}"


def _print_regret_summary(result: Any, name: str) -> None:
    from rich.table import Table

    from distillrank.bandits.report import GROWTH_LABELS, growth_reading

    t = result.rounds
    best = result.optimal_clicks_per_round
    table = Table(
        title=f"{name}: cumulative regret, T = {t:,}, {len(result.seeds)} seeds "
        f"(optimal {best:.4f} expected clicks/round over the queries drawn in these runs)"
    )
    marks = {"T/2": t // 2, "T": t}  # T/10 is in the report
    cols = ["policy", *(f"R({m})" for m, r in marks.items() if r >= 1), "R(T)/R(T/2)"]
    for col in [*cols, "of optimal"]:
        table.add_column(col, justify="left" if col == "policy" else "right", no_wrap=True)
    for label, p in result.policies.items():
        cells = [label]
        for r in marks.values():
            if r >= 1:
                mean, se = result.regret_at(label, r)
                cells.append(_short(mean) + ("" if se is None else f"±{_short(se, 2)}"))
        reading = growth_reading(p.growth, t)
        growth = f"{p.growth:.2f}" if p.growth == p.growth else "—"
        cells += [
            growth + ("" if reading is None else f" {GROWTH_LABELS[reading]}"),
            f"{p.clicks_per_round / best:.3f}" if best > 0 else "—",
        ]
        table.add_row(*cells)
    out.print(table)


@app.command("ope")
@friendly_errors
@report_output
def ope(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for report.md, report.html and metrics.json.")
    ] = Path("obd-ope"),
    campaign: Annotated[
        list[str] | None,
        typer.Option(
            help="Campaign(s): all, men, women (repeatable or comma-separated; default all three).",
            show_default=False,
        ),
    ] = None,
    evaluation: Annotated[str, typer.Option(help="The policy evaluated off-policy: bts or random.")] = "bts",
    behaviour: Annotated[str, typer.Option(help="The policy whose log is used: random or bts.")] = "random",
    estimators: Annotated[
        str,
        typer.Option(help="Estimators, comma-separated: replay, dm, ips, snips, dr, sndr, switch-dr."),
    ] = "replay,dm,ips,snips,dr,sndr,switch-dr",
    reward_model: Annotated[
        str,
        typer.Option(help="Reward model of DM/DR/SNDR/Switch-DR: logistic or lightgbm (3-fold cross-fit)."),
    ] = "logistic",
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples of the intervals.")] = 1000,
    refit_resamples: Annotated[
        int,
        typer.Option(
            help="Resamples with the reward model refitted on each, for the intervals of DM/DR/SNDR/"
            "Switch-DR (~1 s a resample on OBD). 0: the model held fixed, as obp (fast; those intervals "
            "then leave out its uncertainty: DM's was ~40x too narrow on OBD and covered the truth on no "
            "campaign)."
        ),
    ] = 100,
    alpha: Annotated[float, typer.Option(help="Intervals at level 1 - alpha.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and the reward model's folds.")] = 0,
    data: Annotated[
        Path | None,
        typer.Option(
            help="The Open Bandit Dataset folder itself (overrides --data-dir).", show_default=False
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Off-policy evaluation on the Open Bandit Dataset: the --evaluation policy's click rate estimated
    from the --behaviour log, per estimator and campaign, against the evaluation log's own click rate.

    Writes report.md, report.html (each estimator's estimate and interval against the truth and its
    interval) and metrics.json ({"campaigns": {CAMPAIGN: {"ground_truth": x, "estimators": {NAME:
    {"estimate", "relative_error", "ci_low", "ci_high", "covers_truth"}}, ...}}}) into --output.
    """
    from distillrank.bandits.ope import OPE_ESTIMATORS, REWARD_MODELS, RewardModel, evaluate_logged_policy
    from distillrank.bandits.report import write_ope_report
    from distillrank.data.formats.obd import CAMPAIGNS, POLICIES
    from distillrank.errors import DataWarning

    campaigns = _listed(campaign or list(CAMPAIGNS), CAMPAIGNS, "--campaign", "campaign")
    names = _listed([estimators], list(OPE_ESTIMATORS), "--estimators", "estimator")
    evaluation = choose(evaluation, POLICIES, "--evaluation", "policy")
    behaviour = choose(behaviour, POLICIES, "--behaviour", "policy")
    if evaluation == behaviour:
        raise DistillrankError(f"--evaluation and --behaviour must differ (both are {evaluation!r})")
    model = choose(reward_model, REWARD_MODELS, "--reward-model", "reward model")
    if bootstrap < MIN_BOOTSTRAP:
        raise DistillrankError(
            f"--bootstrap must be >= {MIN_BOOTSTRAP} (got {bootstrap}): a percentile interval needs resamples"
        )
    if seed < 0:
        raise DistillrankError(f"--seed must be >= 0 (got {seed})")
    if refit_resamples < 0:
        raise DistillrankError(f"--refit-resamples must be >= 0 (got {refit_resamples})")
    if not 0 < alpha < 1:
        raise DistillrankError(f"--alpha must be in (0, 1) (got {alpha})")
    root = _obd_root(data, data_dir)

    results: dict[str, Any] = {}
    caught_by: dict[str, list[str]] = {}
    for c in campaigns:
        with (
            status(f"campaign {c}: {len(names)} estimators, {bootstrap} bootstrap resamples"),
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always", DataWarning)
            results[c] = evaluate_logged_policy(
                root,
                c,
                evaluation,
                behaviour,
                names,
                n_bootstrap=bootstrap,
                alpha=alpha,
                seed=seed,
                reward_model=RewardModel(model=model, seed=seed),  # type: ignore[arg-type]
                refit_resamples=refit_resamples,
            )
        for w in caught:
            warn(str(w.message))
        caught_by[c] = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    paths = write_ope_report(results, output, caught_by)
    _print_ope_summary(results, alpha)
    out.print(f"wrote {', '.join(str(p) for p in paths)}", highlight=False)


def _print_ope_summary(results: dict[str, Any], alpha: float) -> None:
    from rich.table import Table

    for c, res in results.items():
        ci = res.ground_truth_interval
        table = Table(
            title=f"campaign {c}: {res.evaluation_policy} from the {res.behaviour_policy} log, truth "
            f"{res.ground_truth:.5f} [{ci.low:.5f}, {ci.high:.5f}]"
        )
        for col in ("estimator", "estimate", "rel. error", f"{1 - alpha:.0%} interval", "covers truth"):
            table.add_column(col, justify="left" if col == "estimator" else "right")
        for name, e in res.estimators.items():
            table.add_row(
                name,
                f"{e.estimate:.5f}",
                f"{e.relative_error:.3f}",
                f"[{e.interval.low:.5f}, {e.interval.high:.5f}]",
                "yes" if e.covers_truth else "no",
            )
        out.print(table)
