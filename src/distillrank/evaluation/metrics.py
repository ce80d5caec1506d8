"""Retrieval metrics on :class:`~distillrank.data.run.Run` and :class:`~distillrank.data.collection.Qrels`.

Metric values come from `ir_measures <https://ir-measur.es>`_, which hands each measure to a provider:
``pytrec_eval`` (trec_eval itself) for nDCG, AP, P, R, Success, Bpref, ...; MS MARCO's script for RR with
a cutoff (``RR@10``). Names follow ir_measures: ``nDCG@10``, ``RR@10``, ``AP``, ``R@100``, ``P@5``.

Conventions (those of trec_eval and of the BEIR and MS MARCO leaderboards):

* **Query set.** Every query of the qrels is evaluated (or of ``queries``, when given). A judged query
  the run has no results for scores 0 on every measure (``missing="zero"``, like ``trec_eval -c``); pass
  ``missing="skip"`` to leave such queries out of the means instead. Queries of the run that have no
  judgements are ignored. A judged query without any relevant document scores 0.
* **Labels.** A label ``>= 1`` is relevant for binary measures (RR, AP, P, R); labels ``<= 0`` are
  non-relevant. nDCG uses the graded labels as linear gains (trec_eval's ``ndcg``, Järvelin & Kekäläinen
  2002): ``DCG@k = sum_{i<=k} label_i / log2(i + 1)``, divided by the DCG of the ideal ordering of the
  query's judged documents; negative labels add no gain.
* **Ties.** Documents with equal scores are ranked by descending ``docno``, as trec_eval does (and as
  :meth:`Run.ranked` does). Providers that would order ties otherwise (MS MARCO's RR) are given
  tie-free scores in that order, so every measure sees the same ranking.
"""

from __future__ import annotations

import difflib
import json
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import TYPE_CHECKING, Literal

import ir_measures
import numpy as np
import pandas as pd
from ir_measures import Measure

from distillrank.data.run import distinct_in_float32
from distillrank.errors import DataFormatError, DataWarning
from distillrank.evaluation.significance import paired_t_test, permutation_test

if TYPE_CHECKING:
    from distillrank.data.collection import Qrels
    from distillrank.data.run import Run

Missing = Literal["zero", "skip"]
TestName = Literal["t-test", "permutation"]
_TEST_ALIASES = {
    "randomisation": "permutation",
    "randomization": "permutation",
    "ttest": "t-test",
    "t": "t-test",
}
"""Other names of the paired tests (the randomisation test is the permutation test)."""


def paired_test(name: str) -> TestName:
    """The paired test ``name`` names: ``"t-test"`` or ``"permutation"`` (``"randomisation"`` too).

    Raises:
        ValueError: any other name.
    """
    test = _TEST_ALIASES.get(str(name).lower(), name)
    if test == "t-test":
        return "t-test"
    if test == "permutation":
        return "permutation"
    raise ValueError(f"test must be 't-test' or 'permutation', not {name!r}")


EXAMPLES = "nDCG@10, RR@10, AP, R@100, P@5, MAP, MRR@10, Success@10, Bpref, P(rel=2)@5"

# Lower-case name -> ir_measures name; MAP and MRR are already ir_measures aliases of AP and RR.
_ALIASES: dict[str, str] = {name.lower(): name for name in ir_measures.measures.registry}
_ALIASES.update({"mrr": "RR", "map": "AP", "recall": "R", "precision": "P", "ndcg": "nDCG"})
_NAME = re.compile(r"^\s*([A-Za-z_α]+)(.*?)\s*$")


_TREC_EVAL_CUTOFFS = re.compile(r"\b([A-Za-z][A-Za-z_]*)\.(\d+(?:,\d+)*)(?![\w.])")
"""trec_eval's ``-m`` cutoffs (``ndcg_cut.5,10``, ``P.5``): expanded to ``ndcg_cut_5,ndcg_cut_10``."""


def parse_metrics_names(spec: str) -> list[str]:
    """The metric names of a comma-separated ``spec`` (commas inside parentheses kept), trec_eval's
    ``name.5,10`` expanded to ``name_5``, ``name_10``."""
    spec = _TREC_EVAL_CUTOFFS.sub(lambda m: ",".join(f"{m[1]}_{c}" for c in m[2].split(",")), spec)
    return [s for s in (part.strip() for part in _split_top_level(spec)) if s]


def parse_metrics(spec: str | Measure | Iterable[str | Measure]) -> list[Measure]:
    """Parse metric names into ir_measures :class:`Measure` objects, in order, without duplicates.

    Names are ir_measures names, matched case-insensitively, with the usual aliases: ``MAP`` is ``AP``,
    ``MRR@10`` is ``RR@10``, ``recall@100`` is ``R@100``, ``precision@5`` and ``p@5`` are ``P@5``.
    Parameters go in parentheses as in ir_measures (``P(rel=2)@5``). trec_eval names work too
    (``ndcg_cut_10`` is ``nDCG@10``, ``recip_rank`` is ``RR``). A cutoff must be at least 1.

    Args:
        spec: a comma-separated string (``"nDCG@10,RR@10,AP"``), or a sequence of names or measures.

    Raises:
        ValueError: for an empty spec, an unknown name (suggesting a close one) or invalid parameters,
            listing valid examples.

    >>> [str(m) for m in parse_metrics("ndcg@10, MRR@10, map, recall@100, p@5")]
    ['nDCG@10', 'RR@10', 'AP', 'R@100', 'P@5']
    >>> [str(m) for m in parse_metrics("ndcg_cut_10, recip_rank, P_5")]
    ['nDCG@10', 'RR', 'P@5']
    >>> [str(m) for m in parse_metrics("ndcg_cut.5,10, P.5")]  # trec_eval's -m syntax
    ['nDCG@5', 'nDCG@10', 'P@5']
    """
    items: list[str | Measure]
    if isinstance(spec, str):
        items = list(parse_metrics_names(spec))
    elif isinstance(spec, Measure):
        items = [spec]
    else:
        items = []
        for item in spec:  # a string item may hold several names too (a repeated -m ndcg_cut.5,10)
            items += [item] if isinstance(item, Measure) else parse_metrics_names(str(item))
    if not items:
        raise ValueError(f"no metric given; {_NAMES_HINT}")
    out: list[Measure] = []
    for item in items:
        for measure in [item] if isinstance(item, Measure) else _parse_one(str(item)):
            if isinstance(measure.params.get("cutoff"), int) and measure.params["cutoff"] < 1:
                # trec_eval aborts the whole process on a cutoff of 0 (an assertion in pytrec_eval's C
                # code): checked here, whatever spelling (ir_measures, trec_eval, a Measure) gave it
                raise ValueError(
                    f"invalid metric {str(item)!r}: the cutoff after @ must be >= 1; "
                    f"valid examples: {EXAMPLES}"
                )
            if measure not in out:
                out.append(measure)
    return out


def _split_top_level(spec: str) -> list[str]:
    """Split on commas outside parentheses (``P(rel=2)@5`` keeps its own commas)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(spec):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(spec[start:i])
            start = i + 1
    parts.append(spec[start:])
    return parts


def _parse_one(text: str) -> list[Measure]:
    """One name: an ir_measures name (any case, with the aliases), else a trec_eval name
    (``ndcg_cut_10``, ``P_5``, ``recip_rank``, ``ndcg_cut.10,20`` gives two)."""
    m = _NAME.match(text)
    canonical = _ALIASES.get(m.group(1).lower()) if m else None
    if m is None or canonical is None:
        trec = _trec_eval_measures(text)
        if trec:
            return trec
        raise ValueError(f"unknown metric {text!r}{_suggestion(text)}; {_NAMES_HINT}")
    suffix = m.group(2)
    cutoff = suffix.rpartition("@")[2].strip() if "@" in suffix else None
    try:
        measure = ir_measures.parse_measure(canonical + suffix)
        measure.validate_params()
    except (ValueError, AssertionError, NameError, SyntaxError, TypeError) as e:
        why = str(e) if isinstance(e, AssertionError) else "parameters go in parentheses, the cutoff after @"
        if (lacking := _required_missing(canonical + suffix)) is not None:
            why = lacking
        if cutoff is not None and not cutoff.isdigit():
            why = f"the cutoff after @ must be a whole number >= 1 (got {cutoff!r})"
        raise ValueError(f"invalid metric {text!r}: {why}; valid examples: {EXAMPLES}") from e
    if not ir_measures.DefaultPipeline.supports(measure):
        if "cutoff" in measure.SUPPORTED_PARAMS and "cutoff" not in measure.params:
            with_cutoff = measure(cutoff=10)
            if ir_measures.DefaultPipeline.supports(with_cutoff):
                raise ValueError(
                    f"metric {text!r} needs a cutoff here (the installed ir_measures providers compute it "
                    f"only at a depth): e.g. {with_cutoff}"
                )
        raise ValueError(
            f"metric {text!r} needs an ir_measures provider that is not installed; "
            f"supported examples: {EXAMPLES}"
        )
    return [measure]


def _required_missing(name: str) -> str | None:
    """What a parsed but invalid ``name`` lacks, when that is a required parameter (``SDCG@10`` needs
    ``max_rel``), else None."""
    try:
        measure = ir_measures.parse_measure(name)
    except Exception:  # not parseable at all: the caller's message stands
        return None
    for param, info in measure.SUPPORTED_PARAMS.items():
        if info.required and param not in measure.params:
            stem, _, at = name.partition("@")
            example = f"{stem}({param}=N)" + (f"@{at}" if at else "") if param != "cutoff" else f"{stem}@10"
            return f"it needs {param} ({info.desc}), e.g. {example}"
    return None


_NAMES_HINT = f"use ir_measures names (case-insensitive) such as {EXAMPLES}, or trec_eval names (ndcg_cut_10)"


def _trec_eval_measures(text: str) -> list[Measure]:
    """The measures of a trec_eval name (``ndcg_cut_10``, ``ndcg_cut.10``, ``map``, ``P_5``), or ``[]``."""
    try:
        measures = list(ir_measures.parse_trec_measure(text.strip()))
    except Exception:  # ir_measures raises a bare ValueError or KeyError for an unknown name
        return []
    return [m for m in measures if ir_measures.DefaultPipeline.supports(m)]


def _suggestion(text: str) -> str:
    """`` (did you mean 'nDCG@10'?)`` for a name close to a known one (``ndgc@10``), else ``""``."""
    m = _NAME.match(text)
    if m is None:
        return ""
    close = difflib.get_close_matches(m.group(1).lower(), list(_ALIASES), n=1, cutoff=0.6)
    return f" (did you mean {_ALIASES[close[0]] + m.group(2)!r}?)" if close else ""


def provider_of(measure: str | Measure) -> str:
    """Name of the ir_measures provider that computes ``measure`` here (``pytrec_eval``, ``msmarco``...)."""
    (m,) = parse_metrics([measure])
    for provider in ir_measures.DefaultPipeline.providers:
        if provider.is_available() and provider.supports(m):
            return str(provider.NAME)
    raise ValueError(f"no provider for {m}")  # unreachable: parse_metrics checked support


@dataclass
class EvaluationResult:
    """Metric values of one run.

    Attributes:
        name: the run's name.
        aggregate: metric name -> mean over the evaluated queries.
        per_query: metric name -> qid -> value; empty unless ``evaluate(per_query=True)``.
        n_queries: number of queries the means are over.
        n_missing: of those, how many the run had no results for (each scored 0 under ``missing="zero"``).
    """

    name: str
    aggregate: dict[str, float]
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)
    n_queries: int = 0
    n_missing: int = 0

    @property
    def metrics(self) -> list[str]:
        return list(self.aggregate)

    def __getitem__(self, metric: str) -> float:
        """The mean of ``metric`` under any spelling :func:`parse_metrics` reads: ``aggregate`` is keyed
        by the ir_measures name (``AP``, ``RR@10``), and ``result["MAP"]`` or ``result["ndcg_cut_10"]``
        find ``AP`` and ``nDCG@10``.

        Raises:
            KeyError: the metric was not evaluated (the message lists those that were).
        """
        if metric in self.aggregate:
            return self.aggregate[metric]
        try:
            names = [str(m) for m in parse_metrics(metric)]
        except ValueError:
            names = []
        if len(names) == 1 and names[0] in self.aggregate:
            return self.aggregate[names[0]]
        raise KeyError(f"{metric!r} was not evaluated; this result has {', '.join(self.aggregate)}")

    def to_dataframe(self, per_query: bool = False) -> pd.DataFrame:
        """One row (index: run name, columns: metrics), or with ``per_query`` one row per query."""
        if not per_query:
            return pd.DataFrame([self.aggregate], index=pd.Index([self.name], name="run"))
        if not self.per_query:
            raise ValueError("per-query values were not kept; call evaluate(..., per_query=True)")
        df = pd.DataFrame(self.per_query)
        df.index.name = "qid"
        return df[self.metrics]

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name,
            "n_queries": self.n_queries,
            "n_missing": self.n_missing,
            "aggregate": dict(self.aggregate),
        }
        if self.per_query:
            out["per_query"] = {m: dict(v) for m, v in self.per_query.items()}
        return out

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        values = "  ".join(f"{m}={v:.4f}" for m, v in self.aggregate.items())
        return f"{self.name}: {values}  ({self.n_queries} queries)"


def evaluate(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    metrics: str | Measure | Iterable[str | Measure],
    *,
    per_query: bool = False,
    queries: Iterable[str] | None = None,
    missing: Missing = "zero",
) -> EvaluationResult:
    """Evaluate ``run`` against ``qrels`` with ir_measures (see the module docstring for conventions).

    Args:
        run: ``qid -> {docno: score}`` (a :class:`Run`, whose ``name`` labels the result, or a dict).
        qrels: ``qid -> {docno: label}``.
        metrics: names as accepted by :func:`parse_metrics`.
        per_query: keep the value of every query in the result.
        queries: evaluate only these judged queries; ids without judgements are dropped with a
            :class:`DataWarning`.
        missing: ``"zero"`` (default) scores judged queries the run has no results for as 0;
            ``"skip"`` leaves them out.

    Raises:
        ValueError: unknown metric or ``missing`` value, or no query left to evaluate.
        TypeError: ``run`` or ``qrels`` is not a mapping of mappings (a file name, a list), or ``qrels``
            is a :class:`Run` (the arguments swapped).

    >>> from distillrank.data.run import Run
    >>> r = evaluate(Run({"q1": {"d1": 2.0, "d2": 1.0}}), {"q1": {"d2": 1}, "q2": {"d3": 1}}, "RR@10,P@1")
    >>> r.aggregate
    {'RR@10': 0.25, 'P@1': 0.0}
    """
    run = _check_run(run, "evaluate: run")
    qrels = _check_qrels(qrels, "evaluate")
    measures = parse_metrics(metrics)
    name = str(getattr(run, "name", "run"))
    qids, n_missing = _query_set([run], qrels, queries, missing, name)
    values = _per_query_values(run, qrels, measures, qids)
    aggregate = {str(m): _aggregate(m, values[str(m)].values()) for m in measures}
    return EvaluationResult(
        name=name,
        aggregate=aggregate,
        per_query=values if per_query else {},
        n_queries=len(qids),
        n_missing=n_missing,
    )


def _type_name(value: object) -> str:
    return f"a {type(value).__name__}" + (f" ({value!r})" if isinstance(value, str | bytes) else "")


def _is_nested_mapping(value: object) -> bool:
    """Whether ``value`` is shaped like a run or qrels: ``qid -> {docno: number}``."""
    return isinstance(value, Mapping) and all(isinstance(docs, Mapping) for docs in value.values())


def _check_run(run: object, label: str) -> Run:
    """A run is ``qid -> {docno: score}``: refuse file names, lists and the like before they are read
    as one (a string is a sequence of one-letter query ids that match no judgement). A plain mapping
    becomes a :class:`Run` (ids as str, scores checked), as trec_eval needs them."""
    from distillrank.data.run import Run

    if not _is_nested_mapping(run):
        raise TypeError(
            f"{label} must be a mapping qid -> {{docno: score}} (a Run), got {_type_name(run)}"
            + ("; read a run file with Run.from_file(path)" if isinstance(run, str | PathLike) else "")
        )
    if isinstance(run, Run):
        return run
    try:
        return Run(run, name=str(getattr(run, "name", "run")))  # type: ignore[arg-type]
    except DataFormatError as e:
        raise ValueError(f"{label}: {e.problem}") from None


def _check_qrels(qrels: object, label: str) -> Qrels:
    """Judgements are ``qid -> {docno: label}``, and not a :class:`Run` (``evaluate(qrels, run)``); a
    plain mapping becomes :class:`Qrels` (ids as str, whole-number labels as int)."""
    from distillrank.data.collection import Qrels
    from distillrank.data.run import Run

    if isinstance(qrels, Run):
        raise TypeError(f"{label}: qrels is a Run; the arguments go (run, qrels, metrics)")
    if not _is_nested_mapping(qrels):
        raise TypeError(f"{label}: qrels must be a mapping qid -> {{docno: label}}, got {_type_name(qrels)}")
    if isinstance(qrels, Qrels):
        return qrels
    try:
        return Qrels(qrels)  # type: ignore[arg-type]
    except ValueError as e:
        raise ValueError(f"{label}: {str(e).removeprefix('Qrels: ')}") from None


def _aggregate(measure: Measure, values: Iterable[float]) -> float:
    """The measure's own aggregate (the mean for all but counts such as ``NumRet``)."""
    agg = measure.aggregator()
    for v in values:
        agg.add(v)
    return float(agg.result())


def _has_results(run: Mapping[str, Mapping[str, float]], qid: str) -> bool:
    return qid in run and len(run[qid]) > 0


def _query_set(
    runs: Sequence[Mapping[str, Mapping[str, float]]],
    qrels: Mapping[str, Mapping[str, int]],
    queries: Iterable[str] | None,
    missing: str,
    label: str,
) -> tuple[list[str], int]:
    """Queries to evaluate (in qrels order, or that of ``queries``) and how many lack results in a run."""
    if missing not in ("zero", "skip"):
        raise ValueError(f"missing must be 'zero' or 'skip', not {missing!r}")
    if queries is None:
        qids = list(qrels)
    else:
        wanted = list(dict.fromkeys([queries] if isinstance(queries, str) else map(str, queries)))
        unjudged = [q for q in wanted if q not in qrels]
        if unjudged:
            warnings.warn(
                f"{len(unjudged)} of the {len(wanted)} queries asked for have no judgements and are "
                f"not evaluated (e.g. {unjudged[:3]})",
                DataWarning,
                stacklevel=3,
            )
        qids = [q for q in wanted if q in qrels]
    complete = [q for q in qids if all(_has_results(r, q) for r in runs)]
    if missing == "skip":
        qids = complete
    if not qids:
        why = "no judged query selected" if missing == "zero" else "no judged query has results in every run"
        raise ValueError(f"{label}: nothing to evaluate: {why} (the qrels have {len(qrels)} queries)")
    for r in runs:
        if not any(_has_results(r, q) for q in qids):
            warnings.warn(
                f"run {getattr(r, 'name', 'run')!r} has results for none of the {len(qids)} judged "
                f"queries; every measure is 0 (do the query ids match?)",
                DataWarning,
                stacklevel=3,
            )
    return qids, len(qids) - len(complete)


def _trec_order(docs: Mapping[str, float]) -> Mapping[str, float]:
    """The same scores, or tie-free scores giving trec_eval's order when ``docs`` has tied scores.

    pytrec_eval compares some measures' scores in single precision (nDCG, AP, P: scores 1e-11 apart near
    0.1 tie there and are then ordered by docno, while RR orders them by value), so scores that are
    distinct only in double precision count as tied too: they get tie-free scores in their true order.
    """
    if len(docs) < 2 or distinct_in_float32(np.fromiter(docs.values(), dtype=np.float64, count=len(docs))):
        return docs
    ranked = sorted(docs.items(), key=lambda x: (x[1], x[0]), reverse=True)
    n = len(ranked)
    return {d: float(n - i) for i, (d, _) in enumerate(ranked)}


_PER_QUERY_PROVIDERS = frozenset({"pytrec_eval", "msmarco", "judged", "compat", "accuracy", "gdeval"})
"""ir_measures providers whose value for a query depends on that query alone, and that report nothing (so
ir_measures' DEFAULT, 0) for a judged query without results: checked for 131 measure variants."""


def _per_query_values(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    measures: list[Measure],
    qids: list[str],
) -> dict[str, dict[str, float]]:
    """metric name -> qid -> value for every qid of ``qids`` (0 where the run has no results)."""
    providers = {provider_of(m) for m in measures}
    if not all(q.isdigit() for q in qids) and "gdeval" in providers:
        # gdeval reads numeric ids only: number them at once (its perl error line on stderr otherwise)
        return _per_query_values_by_number(run, qrels, measures, qids)
    # Only queries with results go to ir_measures where every measure's provider scores a query per query
    # and gives a judged query without results the measure's DEFAULT (0) anyway: the cost then follows the
    # run, not the qrels (MS MARCO's train qrels judge 500k queries). A measure of another provider (one
    # made with ir_measures.define() sees the whole qrels) gets every judged query, as before.
    every = not providers <= _PER_QUERY_PROVIDERS
    present = [q for q in qids if every or _has_results(run, q)]
    names = {m: str(m) for m in measures}
    out: dict[str, dict[str, float]] = {name: {} for name in names.values()}
    if present:
        sub_qrels = {q: dict(qrels[q]) for q in present}
        sub_run = {q: _trec_order(run[q]) for q in present if _has_results(run, q)}
        for group in _evaluator_groups(measures):
            evaluator = ir_measures.DefaultPipeline.evaluator(group, sub_qrels)
            for metric in evaluator.iter_calc(sub_run):
                name = names.get(metric.measure) or str(metric.measure)
                out[name][metric.query_id] = float(metric.value)
    # a provider that skips some query (Accuracy), and the queries without results: the measure's default
    defaults = {name: float(m.DEFAULT) for m, name in names.items()}
    return {m: {q: v.get(q, defaults[m]) for q in qids} for m, v in out.items()}


def _evaluator_groups(measures: list[Measure]) -> list[list[Measure]]:
    """``measures`` in groups that one ir_measures evaluator each computes correctly.

    ir_measures' pytrec_eval provider puts ``NumRet`` and ``NumQ`` into whichever trec_eval invocation it
    meets first; beside a ``judged_only=True`` measure that can be the judged-only one, which drops the
    unjudged documents before counting (and which one it meets first depends on Python's hash seed). They
    get an evaluator of their own then.
    """
    if not any(m.params.get("judged_only") for m in measures):
        return [measures]
    alone = [m for m in measures if m.NAME in ("NumRet", "NumQ") and "rel" not in m.params]
    rest = [m for m in measures if m not in alone]
    return [g for g in (rest, alone) if g]


def _per_query_values_by_number(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    measures: list[Measure],
    qids: list[str],
) -> dict[str, dict[str, float]]:
    """:func:`_per_query_values` with the query ids replaced by their positions in ``qids`` (1, 2, ...)
    and back: for providers that read numeric query ids only (gdeval's perl script: ``q1`` fails)."""
    number = {q: str(i) for i, q in enumerate(qids, start=1)}
    back = {n: q for q, n in number.items()}
    values = _per_query_values(
        {number[q]: docs for q, docs in run.items() if q in number},
        {number[q]: qrels[q] for q in qids},
        measures,
        [number[q] for q in qids],
    )
    return {m: {back[n]: v for n, v in per.items()} for m, per in values.items()}


@dataclass
class Comparison:
    """Means of several runs and paired p-values of each run against the first (the baseline).

    Attributes:
        names: run names, baseline first (a repeated name gets a ``#i`` suffix, ``i`` its position).
        metrics: metric names.
        means: metric -> run name -> mean over ``qids``.
        p_values: metric -> run name -> two-sided paired p-value against the baseline (baseline absent).
        per_query: metric -> run name -> values over ``qids``, in that order.
        qids: the common query set every run was evaluated on.
        test: ``"t-test"`` or ``"permutation"``.
    """

    names: list[str]
    metrics: list[str]
    means: dict[str, dict[str, float]]
    p_values: dict[str, dict[str, float]]
    per_query: dict[str, dict[str, np.ndarray]]
    qids: list[str]
    test: str

    @property
    def baseline(self) -> str:
        return self.names[0]

    def significant(self, alpha: float = 0.05) -> dict[str, dict[str, bool]]:
        """metric -> run -> whether its p-value against the baseline is below ``alpha`` (no correction)."""
        return {m: {r: p < alpha for r, p in ps.items()} for m, ps in self.p_values.items()}

    def to_dataframe(self) -> pd.DataFrame:
        """Rows: runs; columns: each metric's mean followed by ``"<metric> p"`` (NaN for the baseline)."""
        cols: dict[str, list[float]] = {}
        for m in self.metrics:
            cols[m] = [self.means[m][r] for r in self.names]
            cols[f"{m} p"] = [self.p_values[m].get(r, float("nan")) for r in self.names]
        return pd.DataFrame(cols, index=pd.Index(self.names, name="run"))

    def to_dict(self) -> dict[str, object]:
        return {
            "baseline": self.baseline,
            "test": self.test,
            "n_queries": len(self.qids),
            "means": self.means,
            "p_values": self.p_values,
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def __str__(self) -> str:
        return self.to_dataframe().to_string(float_format=lambda x: f"{x:.4f}")


def compare(
    runs: Sequence[Mapping[str, Mapping[str, float]]],
    qrels: Mapping[str, Mapping[str, int]],
    metrics: str | Measure | Iterable[str | Measure],
    *,
    test: TestName = "t-test",
    queries: Iterable[str] | None = None,
    missing: Missing = "zero",
    n_resamples: int = 10_000,
    seed: int = 0,
    results: Sequence[EvaluationResult] | None = None,
) -> Comparison:
    """Compare runs with a paired significance test against the first run, per metric.

    All runs are evaluated on one query set: the judged queries (of ``queries`` if given); with
    ``missing="skip"``, only those every run has results for. Each p-value comes from the per-query
    values of a run and of the baseline on that set: :func:`paired_t_test` or, with
    ``test="permutation"``, :func:`permutation_test` (``n_resamples`` sign flips, ``seed``). No
    correction for multiple comparisons is applied. With fewer than 2 common queries the p-values are
    NaN (with a :class:`DataWarning`).

    ``results``, one per run and in the runs' order, are :func:`evaluate`'s results for these runs with
    ``per_query=True`` against the same qrels (not checked: only the run names are): their per-query
    values are used instead of being computed again, where they cover the query set.

    Raises:
        ValueError: fewer than two runs, or an unknown test.
        TypeError: ``runs`` is not a sequence of runs (a dict of named runs, a single run), or ``qrels``
            is not judgements.
    """
    if isinstance(runs, Mapping | str) or not isinstance(runs, Sequence):
        raise TypeError(
            f"compare: runs must be a sequence of runs, baseline first ([baseline, other, ...]), got "
            f"{_type_name(runs)}; for a dict of runs pass list(runs.values()) (a Run's name labels it)"
        )
    runs = [_check_run(run, f"compare: runs[{i}]") for i, run in enumerate(runs)]
    qrels = _check_qrels(qrels, "compare")
    if len(runs) < 2:
        raise ValueError(f"compare needs a baseline and at least one other run, got {len(runs)} run(s)")
    test = paired_test(test)
    measures = parse_metrics(metrics)
    names = _unique_names([str(getattr(r, "name", "run")) for r in runs])
    if results is not None:
        if len(results) != len(runs):
            raise ValueError(f"compare: {len(results)} results for {len(runs)} runs")
        for i, (res, run) in enumerate(zip(results, runs, strict=True)):
            if res.name != str(getattr(run, "name", "run")):
                raise ValueError(
                    f"compare: results[{i}] is of run {res.name!r}, but runs[{i}] is "
                    f"{getattr(run, 'name', 'run')!r}: give the results in the runs' order"
                )
    qids, _ = _query_set(runs, qrels, queries, missing, "compare")
    per_query: dict[str, dict[str, np.ndarray]] = {str(m): {} for m in measures}
    for i, (name, run) in enumerate(zip(names, runs, strict=True)):
        known = results[i].per_query if results is not None else {}
        covered = all(str(m) in known and all(q in known[str(m)] for q in qids) for m in measures)
        values = known if covered else _per_query_values(run, qrels, measures, qids)
        for m in measures:
            per_query[str(m)][name] = np.array([values[str(m)][q] for q in qids], dtype=np.float64)
    means = {str(m): {r: _aggregate(m, v.tolist()) for r, v in per_query[str(m)].items()} for m in measures}
    p_values: dict[str, dict[str, float]] = {}
    if len(qids) < 2:
        warnings.warn(
            f"compare: {len(qids)} query in common; p-values need at least 2 and are NaN",
            DataWarning,
            stacklevel=2,
        )
    for metric, by_run in per_query.items():
        base = by_run[names[0]]
        p_values[metric] = {}
        for r in names[1:]:
            if len(qids) < 2:
                p = float("nan")
            elif test == "t-test":
                p = paired_t_test(by_run[r], base)
            else:
                p = permutation_test(by_run[r], base, n_resamples=n_resamples, seed=seed)
            p_values[metric][r] = p
    return Comparison(
        names=names,
        metrics=[str(m) for m in measures],
        means=means,
        p_values=p_values,
        per_query=per_query,
        qids=qids,
        test=test,
    )


def _unique_names(names: list[str]) -> list[str]:
    """Names as given, with ``#i`` (``i`` the position) appended to those that repeat."""
    return [n if names.count(n) == 1 else f"{n}#{i}" for i, n in enumerate(names)]
