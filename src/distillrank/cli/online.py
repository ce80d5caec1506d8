"""``distillrank online``: learning to rank from clicks — the simulated online loop, or a real click log."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from distillrank.cli._common import (
    DataDirOption,
    QueryFieldOption,
    choose,
    console,
    fields_as_options,
    friendly_errors,
    out,
    progress,
    query_field_option,
    report_output,
    resumable,
    status,
    warn,
)

app = typer.Typer(
    help="Unbiased learning to rank from clicks: simulate the online loop, or learn from a click log.",
    no_args_is_help=True,
)

ClicksOption = Annotated[
    str,
    typer.Option("--clicks", "-c", help="A click log: catalogue name (yandex-wscd-sample), folder or file."),
]
"""``--clicks`` of ``online learn`` and ``online clickmodels``."""

ESTIMATOR_NAMES = "naive,ips,snips,dr,full_info"
ALL_ESTIMATOR_NAMES = ESTIMATOR_NAMES + ",unbiased_lambdamart"


def _names(
    value: str, allowed: str, option: str = "--estimators", what: str = "estimator"
) -> tuple[str, ...]:
    """The names of ``--estimators`` (or ``option``), case-insensitive; an unknown one is an error naming
    the option, with the closest known name."""
    from distillrank.errors import DistillrankError

    names = tuple(v.strip().lower() for v in value.split(",") if v.strip())
    choices = allowed.split(",")
    if not names:
        raise DistillrankError(f"{option} names no {what} (got {value!r}); choose from {', '.join(choices)}")
    for n in names:
        choose(n, choices, option, what, cutoff=0.6)
    return names


_SIMULATE_OPTIONS = (
    "rounds",
    "sessions_per_round",
    "estimators",
    "exploration",
    "clip",
    "propensities",
    "noise",
    "eta",
    "eps_minus",
    "eps_plus",
    "trees_per_round",
    "candidates",
    "store",
    "seed",
)
"""The :class:`~distillrank.feedback.online.OnlineConfig` fields ``online simulate`` sets from its options."""
_SIMULATE_OPTION_OF = {f: "--" + f.replace("_", "-") for f in _SIMULATE_OPTIONS}


def _as_options(message: str) -> str:
    """An :class:`OnlineConfig` error with its field names written as the options that set them
    (``eps_minus must be <= eps_plus`` -> ``--eps-minus must be <= --eps-plus``)."""
    return fields_as_options(message, _SIMULATE_OPTION_OF)


@app.command("simulate")
@friendly_errors
@resumable
def simulate(
    dataset: Annotated[
        str,
        typer.Option("--dataset", "-d", help="A text collection or LTR dataset (catalogue name or path)."),
    ] = "scifact",
    rounds: Annotated[int, typer.Option(help="Rounds of serve -> log -> fine-tune.")] = 10,
    sessions_per_round: Annotated[int, typer.Option(help="Sessions simulated per round.")] = 10_000,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for report.md/html, metrics.json, click stores.")
    ] = Path("online-ltr"),
    estimators: Annotated[
        str,
        typer.Option(
            help="Estimators to compare, comma-separated (also: unbiased_lambdamart, per-session, "
            "Hu et al. 2019)."
        ),
    ] = ESTIMATOR_NAMES,
    exploration: Annotated[
        float, typer.Option(help="Plackett-Luce temperature on standardised scores (0: no exploration).")
    ] = 0.3,
    clip: Annotated[float, typer.Option(help="Propensity clipping (least exposure per session).")] = 0.1,
    propensities: Annotated[
        str, typer.Option(help="'em' (estimated from the log by EM regression) or 'true' (the simulator's).")
    ] = "em",
    noise: Annotated[
        str,
        typer.Option(
            help="Click-noise correction of IPS/SNIPS/DR: 'none', 'estimate' (from the log) or 'true'."
        ),
    ] = "estimate",
    eta: Annotated[float, typer.Option(help="Position-bias severity of the PBM user model.")] = 1.0,
    eps_minus: Annotated[
        float, typer.Option(help="Click probability of an examined irrelevant result.")
    ] = 0.1,
    eps_plus: Annotated[float, typer.Option(help="Click probability of an examined top-grade result.")] = 1.0,
    trees_per_round: Annotated[int, typer.Option(help="LightGBM trees added per round.")] = 30,
    candidates: Annotated[
        str,
        typer.Option(
            help="Candidates the click-based rankers train on: 'auto' (naive/IPS/SNIPS the shown ones, "
            "DR all), 'all' or 'shown'."
        ),
    ] = "auto",
    depth: Annotated[int, typer.Option(help="BM25 candidates per query (text collections).")] = 100,
    store: Annotated[
        str, typer.Option(help="Click store: 'duckdb' (file, Parquet export) or 'memory'.")
    ] = "duckdb",
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke run: 3 rounds of 2,000 sessions, 10 trees a round.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed (runs are repeatable and resumable).")] = 0,
    query_field: QueryFieldOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Serve -> log clicks (DuckDB) -> estimate propensities -> fine-tune -> evaluate, per estimator.

    Writes report.md, report.html (nDCG@10 against sessions for every estimator) and metrics.json
    ({"estimators": {NAME: {"nDCG@10": [...], "sessions": [...]}}}) into --output, with the click stores
    (clicks/*.duckdb, clicks/*.parquet), the final models and per-round checkpoints: rerunning the same
    command resumes an interrupted run.
    """
    from distillrank.errors import DistillrankError
    from distillrank.feedback.online import OnlineConfig, load_online_data, run_online, write_report

    if quick:
        rounds, sessions_per_round, trees_per_round = min(rounds, 3), min(sessions_per_round, 2_000), 10
    try:
        config = OnlineConfig(
            rounds=rounds,
            sessions_per_round=sessions_per_round,
            estimators=_names(estimators, ALL_ESTIMATOR_NAMES),
            exploration=exploration,
            clip=clip,
            propensities=propensities,  # type: ignore[arg-type]
            noise=noise,  # type: ignore[arg-type]
            eta=eta,
            eps_minus=eps_minus,
            eps_plus=eps_plus,
            trees_per_round=trees_per_round,
            candidates=candidates,  # type: ignore[arg-type]
            store=store,  # type: ignore[arg-type]
            seed=seed,
        )
    except ValueError as e:
        raise DistillrankError(_as_options(str(e))) from e
    if depth < 2:
        raise DistillrankError(
            f"--depth must be >= 2 (got {depth}): clicks teach an order of two results or more"
        )
    if eps_plus <= 0:
        raise DistillrankError(
            f"--eps-plus must be > 0 (got {eps_plus}): the simulated users would never click"
        )
    field = query_field_option(query_field)
    with status(f"loading {dataset} (candidates and features)"):
        data = load_online_data(dataset, data_dir, depth=depth, seed=seed, query_field=field)
    console.print(f"{data!r}", highlight=False)

    bar = progress()
    tasks: dict[str, Any] = {}

    def callback(event: str, name: str, round_: int, value: float | None) -> None:
        if event == "restart":
            warn(f"{name}: the checkpoint in {output} is of other settings or data: starting over")
        elif event == "start":
            tasks[name] = bar.add_task(name, total=config.rounds)
        elif event == "round":
            bar.update(tasks[name], advance=1, description=f"{name} (nDCG@10 {value:.4f})")
            if bar.disable:
                console.print(
                    f"{name}: round {round_ + 1}/{config.rounds}, nDCG@10 {value:.4f}", highlight=False
                )
        elif event == "done":
            bar.update(tasks[name], completed=config.rounds)

    with bar:
        result = run_online(data, config, output=output, callback=callback)
    paths = write_report(result, output)
    _print_summary(result)
    out.print(f"wrote {', '.join(str(p) for p in paths)}", highlight=False)
    _note_other_estimators(output, config.estimators)


def _note_other_estimators(output: Path, names: tuple[str, ...]) -> None:
    """Say so when ``output`` also holds what an earlier ``online simulate`` wrote for estimators this run
    did not run: their click logs, models and checkpoints are kept (a re-run naming them resumes from
    their checkpoints instead of starting over), but this report does not cover them."""
    state = output / "state"
    others = (
        sorted(p.name for p in state.iterdir() if p.is_dir() and p.name not in names)
        if state.is_dir()
        else []
    )
    if others:
        listed = ", ".join(others)
        warn(
            f"{output} also holds the click logs, models and checkpoints of {listed} from an earlier run; "
            f"this report covers {', '.join(names)} only (--estimators {','.join([*names, *others])} reports "
            "them together, reusing their finished rounds)"
        )


def _check_trec_ids(log: Any) -> None:
    """Refuse, before any work, query or document ids with whitespace (a log keyed by query text): the
    runs are written as TREC files, which cannot hold them."""
    from distillrank.data.formats.trec import is_trec_id
    from distillrank.errors import DistillrankError

    if log is None:
        return
    for col, what in (("qid", "query"), ("docno", "document")):
        ids = log.df[col].astype(str)
        spaced = ~ids.map(is_trec_id).to_numpy(dtype=bool)
        if spaced.any():
            first = ids.iloc[int(spaced.argmax())]
            raise DistillrankError(
                f"{log.source or 'the click log'}: {what} id {first!r} holds whitespace "
                f"({int(spaced.sum()):,} rows), which the TREC run files cannot hold; give ids without it"
            )


def _warn_unlearnt_test_queries(train: Any, test: Any) -> None:
    """Without features, a ranker learnt from clicks ranks only the queries of its training log: say so
    when the test log's queries are not all among them (their utility is 0)."""
    from distillrank.errors import DataWarning

    learnt = set(train.df["qid"].astype(str))
    tested = set(test.df["qid"].astype(str))
    unseen = tested - learnt
    if unseen:
        warnings.warn(
            f"{test.source or 'the test log'}: {len(unseen):,} of its {len(tested):,} queries are not in the "
            f"training log (first: {sorted(unseen)[0]!r}): estimates from clicks rank nothing for them "
            "(give --features to rank any query)",
            DataWarning,
            stacklevel=2,
        )


def _print_summary(result: Any) -> None:
    from rich.table import Table

    metrics = result.metrics()["estimators"]
    table = Table(title=f"{result.dataset}: test nDCG@10 (first ranker {result.initial_ndcg:.4f})")
    for col in ("estimator", "nDCG@10", "x full info", "sessions to 0.98x"):
        table.add_column(col, justify="left" if col == "estimator" else "right")
    for name, m in metrics.items():
        ratio = m.get("ratio_to_full_info")
        reach = m.get("sessions_to_0.98_full_info")
        table.add_row(
            name,
            f"{m['final']:.4f}",
            "" if ratio is None else f"{ratio:.3f}",
            "" if name == "full_info" else ("never" if reach is None else f"{reach:,}"),
        )
    out.print(table)


@app.command("learn")
@friendly_errors
@report_output
def learn(
    clicks: ClicksOption = "yandex-wscd-sample",
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for runs, report.md/html and metrics.json.")
    ] = Path("clicks-ltr"),
    estimators: Annotated[str, typer.Option(help="Estimators, comma-separated.")] = "naive,ips,snips",
    train_split: Annotated[str, typer.Option(help="Split to learn from.")] = "train",
    test_split: Annotated[
        str | None,
        typer.Option(
            help="Held-out split to evaluate on ('' for none; default: 'test' when the log has one)."
        ),
    ] = None,
    clip: Annotated[float, typer.Option(help="Propensity clipping.")] = 0.1,
    features: Annotated[
        str | None,
        typer.Option(
            help="Candidate features (svmlight/LETOR with '#docid = X' comments: a file, folder or "
            "catalogue name) whose (qid, docid) rows match the log: LightGBM rankers learn from the "
            "estimates, and 'dr' and 'unbiased_lambdamart' (per-session, Hu et al. 2019) become available."
        ),
    ] = None,
    features_split: Annotated[
        str | None, typer.Option(help="Split of --features to use (default: train, or its only split).")
    ] = None,
    rounds: Annotated[int, typer.Option(help="Boosting rounds of the rankers on --features.")] = 200,
    data_dir: DataDirOption = None,
) -> None:
    """Learn rankings from a real click log: PBM propensities by EM regression, relevance by each
    estimator; evaluated by the counterfactual PBM utility (expected clicks@10) on the held-out split.

    Without --features each ranking orders a query's logged documents by estimated relevance; with
    --features a LightGBM ranker learns from the estimates (or from the sessions, unbiased_lambdamart)
    and ranks every feature row.

    Writes runs/<estimator>.trec, relevance/<estimator>.parquet (the estimates), models/<estimator>.txt
    (with --features), report.md, report.html and metrics.json
    ({"estimators": {NAME: {"utility@10": x}}, "propensities": [...]}).
    """
    import numpy as np

    from distillrank.data.run import Run
    from distillrank.errors import DataWarning, DistillrankError
    from distillrank.feedback.online import (
        check_feature_coverage,
        learn_from_log,
        propensities_of,
        utility,
    )
    from distillrank.feedback.unbiased import fit_session_lambdamart
    from distillrank.io import atomic_write
    from distillrank.pipeline.ranker import by_query

    names = _names(estimators, "naive,ips,snips,dr,unbiased_lambdamart")
    if not 0 <= clip <= 1:
        raise DistillrankError(f"--clip must be in [0, 1] (got {clip})")
    if rounds < 1:
        raise DistillrankError(f"--rounds must be >= 1 (got {rounds})")
    needs = [n for n in names if n in ("dr", "unbiased_lambdamart")]
    if needs and features is None:
        raise DistillrankError(
            f"{' and '.join(needs)} need document features, which a bare click log does not have: --features"
        )
    feats = _features(features, features_split, data_dir) if features is not None else None
    with status(f"loading {clicks}"):
        splits = _click_splits(clicks, data_dir)
    if train_split not in splits:
        raise _no_split(train_split, splits)
    train = splits[train_split]
    if test_split is None:  # a single file has no test split: learn from it without evaluating
        test_split = "test" if "test" in splits and train_split != "test" else ""
    test = splits.get(test_split) if test_split else None
    if test_split and test is None:
        raise _no_split(test_split, splits)
    for log in (train, test):
        _check_trec_ids(log)
    if feats is None and test is not None:
        _warn_unlearnt_test_queries(train, test)
    # before the EM estimate: a log whose documents have no feature rows is an error, found at once
    if feats is not None and (gap := check_feature_coverage(train, feats)) is not None:
        warnings.warn(gap, DataWarning, stacklevel=1)
    with status("propensities (the log's own, else EM regression)"):
        alpha, from_log = propensities_of(train)
    how = "from the log's propensity column" if from_log else "estimated by EM regression"
    console.print(f"p_k/p_1 ({how}): " + " ".join(f"{a:.3f}" for a in alpha), highlight=False)
    results: dict[str, dict[str, Any]] = {}
    output.mkdir(parents=True, exist_ok=True)
    test_alpha = None if test is None else propensities_of(test)[0]
    # the feature rows, once: how many of each estimator's pairs its LightGBM ranker can learn from
    feature_rows = None
    if feats is not None:
        feature_rows = set(zip(feats.qids.astype(str), feats.docnos.astype(str), strict=True))
    logged = _logged_run(train)
    baseline = None if test is None else utility(logged, test, test_alpha, clip=clip)  # type: ignore[arg-type]
    for name in names:
        entry: dict[str, Any] = {}
        booster = None
        if name == "unbiased_lambdamart":
            assert feats is not None
            with status("Unbiased LambdaMART on the sessions"):
                booster, objective = fit_session_lambdamart(train, feats, num_boost_round=rounds)
            entry["sessions_with_pairs"] = objective.batch.n_sessions
            entry["bias_cost"] = objective.bias_cost
            if objective.selection is not None:  # chosen on held-out sessions
                entry["bias_cost_held_out_utility"] = {k: round(v, 5) for k, v in objective.selection.items()}
            entry["t_plus"] = [round(float(t), 5) for t in objective.t_plus]
            entry["t_minus"] = [round(float(t), 5) for t in objective.t_minus]
            scores = np.asarray(booster.predict(feats.X), dtype=np.float64)
            run = Run.from_trusted(by_query(feats, scores), name=f"clicks-{name}")
        else:
            with status(f"{name}: estimates" + (" and a LightGBM ranker" if feats is not None else "")):
                ranker = learn_from_log(
                    train, name, propensities=alpha, clip=clip, features=feats, num_boost_round=rounds
                )
            booster = ranker.booster
            run = ranker.run(feats, name=f"clicks-{name}")
            with atomic_write(output / "relevance" / f"{name}.parquet", "wb") as f:
                ranker.table.to_parquet(f, index=False)
            entry["pairs"] = len(ranker.table)
            if feature_rows is not None:
                keys = zip(ranker.table["qid"].astype(str), ranker.table["docno"].astype(str), strict=True)
                entry["pairs_with_features"] = sum(k in feature_rows for k in keys)
        run.save(output / "runs" / f"{name}.trec")
        if booster is not None:
            with atomic_write(output / "models" / f"{name}.txt") as f:
                f.write(booster.model_to_string())
        if test is not None:
            entry["utility@10"] = round(utility(run, test, test_alpha, clip=clip), 5)  # type: ignore[arg-type]
        results[name] = entry
    _write_learn_report(output, clicks, train, test, alpha, test_alpha, baseline, results, features, from_log)
    _drop_stale(output, names)
    for name, entry in results.items():
        out.print(f"{name}: {entry}", highlight=False)
    if baseline is not None:
        out.print(f"logged ranking: utility@10 {baseline:.5f}", highlight=False)
    else:
        out.print(f"not evaluated: {NO_HELD_OUT}", highlight=False)
    out.print(f"wrote {output}", highlight=False)


@app.command("clickmodels")
@friendly_errors
@report_output
def clickmodels(
    clicks: ClicksOption = "yandex-wscd-sample",
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for report.md/html and metrics.json.")
    ] = Path("click-models"),
    models: Annotated[str, typer.Option(help="Click models, comma-separated.")] = "pbm,cm,dcm,ubm,dbn,sdbn",
    train_split: Annotated[str, typer.Option(help="Split to fit on.")] = "train",
    test_split: Annotated[str, typer.Option(help="Held-out split to evaluate on.")] = "test",
    test_fraction: Annotated[
        float,
        typer.Option(help="Share of sessions held out at random when the log has no test split."),
    ] = 0.2,
    max_iter: Annotated[int, typer.Option(help="Most EM iterations.")] = 200,
    tol: Annotated[float, typer.Option(help="EM stops when the log-likelihood gains less.")] = 1e-6,
    seed: Annotated[int, typer.Option(help="Seed of the held-out sessions (single-log input).")] = 0,
    data_dir: DataDirOption = None,
) -> None:
    """Fit click models on a click log and compare them on held-out sessions: log-likelihood (higher is
    better) and perplexity overall and per rank (lower is better), as in Chuklin, Markov and de Rijke
    (2015).

    Writes report.md, report.html (perplexity by rank) and metrics.json ({"models": {NAME:
    {"log_likelihood": x, "perplexity": x, "perplexity_at_rank": [...], "fit_s": x, ...}}}).
    """
    import time

    import numpy as np

    from distillrank.errors import DistillrankError
    from distillrank.feedback.click_models import CLICK_MODELS, encode_sessions

    names = _names(models, ",".join(CLICK_MODELS), "--models", "click model")
    if not 0 < test_fraction < 1:
        raise typer.BadParameter(
            f"must be between 0 and 1, got {test_fraction}", param_hint="--test-fraction"
        )
    if max_iter < 1:
        raise typer.BadParameter(f"must be at least 1, got {max_iter}", param_hint="--max-iter")
    with status(f"reading {clicks}"):
        splits = _click_splits(clicks, data_dir)
    if train_split not in splits:
        raise _no_split(train_split, splits)
    train = splits[train_split]
    if test_split in splits and test_split != train_split:
        test, held_out = splits[test_split], f"its {test_split!r} split"
    elif len(splits) == 1:
        sessions = np.asarray(sorted(train.df["session_id"].unique()))
        if len(sessions) < 2:
            raise DistillrankError(f"{clicks}: one session; nothing to hold out")
        n_test = min(max(1, round(test_fraction * len(sessions))), len(sessions) - 1)
        held = set(np.random.default_rng(seed).choice(sessions, size=n_test, replace=False).tolist())
        is_test = train.df["session_id"].isin(held).to_numpy()
        test = train.with_rows(train.df[is_test].reset_index(drop=True))
        train = train.with_rows(train.df[~is_test].reset_index(drop=True))
        held_out = f"{test_fraction:.0%} of its sessions at random (seed {seed})"
    else:
        raise _no_split(test_split, splits)
    with status(f"encoding the {test.n_sessions:,} held-out sessions"):
        encoded = encode_sessions(test)  # once for every model's two measures
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        model = CLICK_MODELS[name]()
        with status(f"{name}: fitting on {train.n_sessions:,} sessions"):
            t0 = time.perf_counter()
            model.fit(train, max_iter=max_iter, tol=tol)
            fit_s = time.perf_counter() - t0
        with status(f"{name}: evaluating on {test.n_sessions:,} sessions"):
            ppl, per_rank = model.perplexity(encoded)
            results[name] = {
                "log_likelihood": round(float(model.log_likelihood(encoded)), 5),
                "perplexity": round(float(ppl), 5),
                "perplexity_at_rank": [round(float(x), 5) for x in per_rank],
                "fit_s": round(fit_s, 2),
                "n_iter": int(model.n_iter_),
                "converged": bool(model.converged_),
            }
        out.print(
            f"{name}: log-likelihood {results[name]['log_likelihood']:.4f}, perplexity "
            f"{results[name]['perplexity']:.4f} ({fit_s:.1f} s)",
            highlight=False,
        )
    _write_click_model_report(output, clicks, train, test, held_out, results)
    out.print(f"wrote {output}", highlight=False)


def _write_click_model_report(
    output: Path, source: str, train: Any, test: Any, held_out: str, results: dict[str, dict[str, Any]]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from distillrank.pipeline.report import Report

    r = Report(f"Click models on {source}")
    r.text(
        f"Fitted on {train.n_sessions:,} sessions ({len(train):,} shown results) and evaluated on "
        f"{test.n_sessions:,} held-out sessions ({held_out}). Log-likelihood: the mean over sessions of the "
        "mean over ranks of ln P(c_r | the clicks above), higher is better; perplexity: 2^-(mean log2 of "
        "the unconditional click probabilities), per rank and averaged over ranks, lower is better. On "
        "the full Yandex log UBM and DBN lead and the cascade model trails (Chuklin et al. 2015)."
    )
    order = sorted(results, key=lambda n: -results[n]["log_likelihood"])
    r.table(
        [{"model": n, **{k: v for k, v in results[n].items() if k != "perplexity_at_rank"}} for n in order],
        caption="held-out log-likelihood and perplexity, best log-likelihood first",
    )
    fig, ax = plt.subplots(figsize=(7, 4))
    for n in order:
        per_rank = results[n]["perplexity_at_rank"]
        ax.plot(range(1, len(per_rank) + 1), per_rank, marker="o", label=n)
    ax.set_xlabel("rank")
    ax.set_ylabel("perplexity (lower is better)")
    ax.set_title("held-out perplexity by rank")
    ax.grid(alpha=0.3)
    ax.legend()
    r.figure(fig, "perplexity_by_rank", "perplexity of each model at each rank of the held-out sessions")
    plt.close(fig)
    metrics = {
        "source": source,
        "train_sessions": train.n_sessions,
        "test_sessions": test.n_sessions,
        "held_out": held_out,
        "models": results,
    }
    r.write(output, metrics=json.loads(json.dumps(metrics)))


def _no_split(name: str, splits: dict[str, Any]) -> Exception:
    """The error for a ``--train-split``/``--test-split`` the click log does not have."""
    from distillrank.errors import DistillrankError

    return DistillrankError(f"the click log has no split {name!r} (it has {list(splits)})")


NO_HELD_OUT = (
    "the rankings were learnt from every session and no held-out split was given to measure them on "
    "(a single log file is all training: a folder of train and test files gives one)"
)
"""What ``online learn`` says, in its report and on the console, when it has nothing to evaluate on."""


_LEARN_ARTEFACTS = {"relevance": ".parquet", "runs": ".trec", "models": ".txt"}


def _drop_stale(output: Path, names: tuple[str, ...]) -> None:
    """Remove the artefacts an earlier ``online learn`` into ``output`` wrote for estimators this run did
    not learn (``runs/ips.trec`` beside a ``metrics.json`` of naive only), saying so; only files this
    command writes, named after an estimator, are touched."""
    stale = [
        output / folder / f"{name}{suffix}"
        for folder, suffix in _LEARN_ARTEFACTS.items()
        for name in ALL_ESTIMATOR_NAMES.split(",")
        if name not in names and (output / folder / f"{name}{suffix}").is_file()
    ]
    for path in stale:
        path.unlink()
    if stale:
        shown = ", ".join(str(p.relative_to(output)) for p in stale)
        warn(f"removed what an earlier run into {output} wrote for estimators not learnt now: {shown}")


def _features(features: str, split: str | None, data_dir: Path | None) -> Any:
    """The LTR feature table of ``--features`` (its ``split``), with document ids."""
    from distillrank.data.catalogue import load_dataset
    from distillrank.data.dataset import SplitDataset
    from distillrank.data.ltr import LTRDataset
    from distillrank.errors import DistillrankError

    with status(f"loading {features}"):
        loaded = load_dataset(features, data_dir)
    if isinstance(loaded, SplitDataset):
        if split is None:
            split = (
                "train" if "train" in loaded.splits or len(loaded.splits) != 1 else next(iter(loaded.splits))
            )
        if split not in loaded.splits:
            raise DistillrankError(f"{features}: no split {split!r} (it has {list(loaded.splits)})")
        loaded = loaded.splits[split]
    if not isinstance(loaded, LTRDataset):
        raise DistillrankError(f"{features!r} is not a feature table (svmlight/LETOR)")
    if loaded.docnos is None:
        raise DistillrankError(
            f"{features}: the rows have no document ids ('#docid = X' comments) to match the click log with"
        )
    return loaded


def _click_splits(clicks: str, data_dir: Path | None) -> dict[str, Any]:
    from distillrank.data.catalogue import load_dataset
    from distillrank.data.clicklog import ClickLog
    from distillrank.data.dataset import SplitDataset
    from distillrank.errors import DistillrankError

    path = Path(clicks)
    if path.suffix == ".parquet" and path.is_file():
        from distillrank.data.formats.parquet import read_parquet

        log = read_parquet(path, kind="clicklog")
        assert isinstance(log, ClickLog)
        return {"train": log}
    loaded = load_dataset(clicks, data_dir)
    if isinstance(loaded, ClickLog):
        return {"train": loaded}
    if isinstance(loaded, SplitDataset) and all(isinstance(v, ClickLog) for v in loaded.splits.values()):
        if path.is_file() and len(loaded.splits) == 1:  # one log file: the log to learn from
            return {"train": next(iter(loaded.splits.values()))}
        return dict(loaded.splits)
    raise DistillrankError(f"{clicks!r} is not a click log")


def _logged_run(log: Any) -> Any:
    """The ranking the log shows most often per query (by mean position): the production ranker."""
    from distillrank.data.run import Run

    df = log.df
    mean_pos = df.groupby([df["qid"].astype(str), df["docno"].astype(str)])["position"].mean()
    out: dict[str, dict[str, float]] = {}
    for (q, d), p in mean_pos.items():
        out.setdefault(str(q), {})[str(d)] = -float(p)
    return Run(out, name="logged")


def _write_learn_report(
    output: Path,
    source: str,
    train: Any,
    test: Any,
    alpha: Any,
    test_alpha: Any,
    baseline: float | None,
    results: dict[str, dict[str, Any]],
    features: str | None = None,
    logged_alpha: bool = False,
) -> None:
    from distillrank.pipeline.report import Report

    ranking = (
        "each estimator's ranking orders every query's logged documents by estimated relevance"
        if features is None
        else f"a LightGBM ranker on the features of {features} learns from each estimator's relevance "
        "estimates (unbiased_lambdamart: from the sessions' clicked/unclicked pairs, position biases "
        "learned jointly) and ranks every feature row"
    )
    evaluation = (
        "Evaluation: the counterfactual PBM utility on the held-out sessions, sum over the top 10 of "
        "p_k/p_1 times the held-out IPS relevance (expected clicks relative to rank 1)."
        if test is not None
        else f"**Not evaluated**: {NO_HELD_OUT}."
    )
    r = Report(f"Learning to rank from the click log {source}")
    r.text(
        f"Learned from {train.n_sessions:,} sessions ({len(train):,} shown results); propensities "
        + (
            "from the log's own propensity column (one per rank)"
            if logged_alpha
            else "by EM regression (Wang et al. 2018) under PBM"
        )
        + f"; {ranking}. {evaluation}"
    )
    r.table(
        [{"rank": k + 1, "p_k/p_1 (train)": float(a)} for k, a in enumerate(alpha)],
        caption="estimated relative propensities",
    )
    rows = [{"ranking": "logged (mean position)", "utility@10": baseline}] if baseline is not None else []
    rows += [{"ranking": n, **e} for n, e in results.items()]
    caption = (
        "held-out utility@10 (higher is better)"
        if test is not None
        else "relevance estimates (not evaluated: no held-out split)"
    )
    r.table(rows, caption=caption)
    metrics = {
        "source": source,
        "features": features,
        "propensities": [round(float(a), 5) for a in alpha],
        "propensities_from": "log" if logged_alpha else "em_regression",
        "test_propensities": None if test_alpha is None else [round(float(a), 5) for a in test_alpha],
        "logged": {"utility@10": baseline},
        "estimators": results,
    }
    r.write(output, metrics=json.loads(json.dumps(metrics)))
