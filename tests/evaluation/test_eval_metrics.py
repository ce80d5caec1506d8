"""Metrics on hand-computed examples, the evaluation conventions, and run comparison."""

from __future__ import annotations

import json
import math

import ir_measures
import numpy as np
import pandas as pd
import pytest

from distillrank.data.collection import Qrels
from distillrank.data.run import Run
from distillrank.errors import DataWarning
from distillrank.evaluation import (
    Comparison,
    EvaluationResult,
    compare,
    evaluate,
    paired_t_test,
    parse_metrics,
    permutation_test,
    provider_of,
)

# q1: retrieved d2 (label 0), d1 (2), d5 (unjudged), d3 (1); d4 (1) is relevant but not retrieved.
# q2: the only relevant document d9 comes first.
QRELS = Qrels({"q1": {"d1": 2, "d2": 0, "d3": 1, "d4": 1}, "q2": {"d9": 1, "d8": 0}})
RUN = Run(
    {"q1": {"d2": 0.9, "d1": 0.8, "d5": 0.7, "d3": 0.6}, "q2": {"d9": 3.0, "d8": 1.0}, "q3": {"x": 1.0}},
    name="hand",
)


def dcg(gains: list[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


Q1_EXPECTED = {
    "RR@10": 1 / 2,
    "RR": 1 / 2,
    "P@1": 0.0,
    "P@5": 2 / 5,
    "R@2": 1 / 3,
    "R@100": 2 / 3,
    "AP": (1 / 2 + 2 / 4) / 3,
    "nDCG@3": dcg([0, 2, 0]) / dcg([2, 1, 1]),
    "nDCG@10": dcg([0, 2, 0, 1]) / dcg([2, 1, 1]),
    "Success@1": 0.0,
}
Q2_EXPECTED = {
    "RR@10": 1.0,
    "RR": 1.0,
    "P@1": 1.0,
    "P@5": 1 / 5,
    "R@2": 1.0,
    "R@100": 1.0,
    "AP": 1.0,
    "nDCG@3": 1.0,
    "nDCG@10": 1.0,
    "Success@1": 1.0,
}


@pytest.mark.parametrize("metric", list(Q1_EXPECTED))
def test_hand_computed_values(metric: str) -> None:
    result = evaluate(RUN, QRELS, metric, per_query=True)
    assert result.per_query[metric]["q1"] == pytest.approx(Q1_EXPECTED[metric], abs=1e-12)
    assert result.per_query[metric]["q2"] == pytest.approx(Q2_EXPECTED[metric], abs=1e-12)
    assert result.aggregate[metric] == pytest.approx((Q1_EXPECTED[metric] + Q2_EXPECTED[metric]) / 2)
    assert set(result.per_query[metric]) == {"q1", "q2"}  # q3 has no judgements: ignored


def test_ndcg_uses_linear_graded_gains() -> None:
    # Swapping a label-2 and a label-1 document changes nDCG but not binary measures.
    qrels = Qrels({"q": {"a": 2, "b": 1}})
    best = evaluate(Run({"q": {"a": 2.0, "b": 1.0}}), qrels, "nDCG@10,AP").aggregate
    swapped = evaluate(Run({"q": {"a": 1.0, "b": 2.0}}), qrels, "nDCG@10,AP").aggregate
    assert best["nDCG@10"] == pytest.approx(1.0)
    assert swapped["nDCG@10"] == pytest.approx(dcg([1, 2]) / dcg([2, 1]))  # gain = label, not 2^label - 1
    assert best["AP"] == swapped["AP"] == pytest.approx(1.0)


def test_negative_labels_are_non_relevant_like_zero() -> None:
    run = Run({"q": {"a": 3.0, "b": 2.0, "c": 1.0}})
    neg = evaluate(run, Qrels({"q": {"a": -1, "b": 0, "c": 1}}), "nDCG@10,RR@10,AP,P@5,R@100")
    zero = evaluate(run, Qrels({"q": {"a": 0, "b": 0, "c": 1}}), "nDCG@10,RR@10,AP,P@5,R@100")
    assert neg.aggregate == pytest.approx(zero.aggregate)
    assert neg.aggregate["RR@10"] == pytest.approx(1 / 3)


def test_ties_are_broken_by_descending_docno_for_every_provider() -> None:
    # a and b tie; trec_eval (and Run.ranked) put b first, so the relevant a is at rank 2.
    run = Run({"q": {"a": 1.0, "b": 1.0, "c": 0.5}})
    assert [d for d, _ in run.ranked("q")] == ["b", "a", "c"]
    result = evaluate(run, Qrels({"q": {"a": 1}}), "RR@10,RR,P@1,nDCG@1")
    assert provider_of("RR@10") != provider_of("RR")  # MS MARCO's script and pytrec_eval agree here
    assert result.aggregate == pytest.approx({"RR@10": 0.5, "RR": 0.5, "P@1": 0.0, "nDCG@1": 0.0})


@pytest.mark.parametrize("high", [0.10000000001, 0.1 + 1e-12, 1000.0 + 1e-6])
def test_scores_distinct_only_in_double_precision_keep_their_order(high: float) -> None:
    # pytrec_eval ties these in single precision and orders them by docno for nDCG/AP/P, not for RR
    low = 1000.0 if high > 1 else 0.1
    result = evaluate(Run({"q": {"a": high, "z": low}}), Qrels({"q": {"z": 1}}), "RR@10,nDCG@10,P@1,AP")
    assert result.aggregate == pytest.approx({"RR@10": 0.5, "nDCG@10": 1 / np.log2(3), "P@1": 0.0, "AP": 0.5})


def test_judged_queries_missing_from_the_run_count_as_zero_by_default() -> None:
    run = Run({"q1": RUN["q1"]})
    zero = evaluate(run, QRELS, "RR@10", per_query=True)
    assert zero.n_queries == 2 and zero.n_missing == 1
    assert zero.per_query["RR@10"] == {"q1": 0.5, "q2": 0.0}
    assert zero.aggregate["RR@10"] == pytest.approx(0.25)
    skip = evaluate(run, QRELS, "RR@10", missing="skip", per_query=True)
    assert skip.n_queries == 1 and skip.n_missing == 0
    assert skip.aggregate["RR@10"] == pytest.approx(0.5)
    # A query with an empty result list is missing too.
    empty = evaluate(Run({"q1": RUN["q1"], "q2": {}}), QRELS, "RR@10")
    assert empty.n_missing == 1 and empty.aggregate["RR@10"] == pytest.approx(0.25)


MANY_MEASURES = (
    "AP,Accuracy,Bpref,Compat(p=0.8),ERR@10,IPrec@0.1,Judged@10,NumQ,NumRel,NumRelRet,NumRet,P@5,R@10,"
    "Rprec,RR@10,SetAP,SetF,SetP,SetR,SetRelP,Success@10,infAP,nDCG@10,nDCG"
)


def test_queries_without_results_get_what_ir_measures_gives_them_without_being_sent_to_it() -> None:
    # Only queries with results go to ir_measures (cost in the run's size, not the qrels'); a judged
    # query without results must still get exactly ir_measures' own value for it, for every measure.
    qrels = Qrels(
        {"1": {"a": 1, "b": 2, "c": 0}, "2": {"a": 1, "d": 1, "e": 0}, "3": {"x": 1}, "4": {"a": 0}}
    )
    run = Run({"1": {"a": 3.0, "c": 2.0, "z": 1.0}, "4": {"a": 1.0, "b": 0.5}, "9": {"a": 1.0}})
    measures = parse_metrics(MANY_MEASURES)
    ours = evaluate(run, qrels, measures, per_query=True)
    theirs: dict[str, dict[str, float]] = {str(m): {} for m in measures}
    for metric in ir_measures.iter_calc(measures, dict(qrels), dict(run)):
        theirs[str(metric.measure)][metric.query_id] = float(metric.value)
    for m in theirs:
        assert ours.per_query[m] == {q: theirs[m].get(q, 0.0) for q in qrels}, m
    assert ours.per_query["NumRel"]["2"] == 0.0  # ir_measures' default for a query it has no run for


def test_numret_beside_a_judged_only_measure_counts_every_retrieved_document() -> None:
    # ir_measures may put NumRet into the judged-only trec_eval call, depending on the hash seed
    import os
    import subprocess
    import sys

    code = (
        "from distillrank.evaluation import evaluate\n"
        "from distillrank.data.run import Run\n"
        "r = evaluate(Run({'1': {'a': 3.0, 'x': 2.0, 'y': 1.0}}), {'1': {'a': 1, 'b': 0}, '2': {'c': 1}},"
        " 'NumRet,NumQ,nDCG(judged_only=True)@10', per_query=True)\n"
        "v = r.per_query\n"
        "print(v['NumRet']['1'], v['NumQ']['1'], v['nDCG(judged_only=True)@10']['1'])"
    )
    for seed in ("0", "1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.split() == ["3.0", "1.0", "1.0"], (seed, out.stdout)


def test_a_measure_defined_at_runtime_sees_every_judged_query() -> None:
    # ir_measures.define() measures are called once with the whole qrels: no shortcut for them
    qrels = Qrels({"1": {"a": 1}, "2": {"b": 1}, "3": {"c": 1}, "4": {"d": 1}})
    run = Run({"1": {"a": 1.0}, "2": {"x": 1.0}})

    def share(q, r):  # type: ignore[no-untyped-def]
        return [(x, 1.0 / q.query_id.nunique()) for x in r.query_id.unique()]

    def judged(q, r):  # type: ignore[no-untyped-def]
        return [(x, 1.0) for x in q.query_id.unique()]

    measures = [
        ir_measures.define(share, name="Share", support_cutoff=False),
        ir_measures.define(judged, name="JudgedQ", support_cutoff=False),
    ]
    ours = evaluate(run, qrels, measures)
    assert ours.aggregate == pytest.approx(
        {str(k): v for k, v in ir_measures.calc_aggregate(measures, dict(qrels), dict(run)).items()}
    )
    assert ours.aggregate == pytest.approx({"Share": 0.125, "JudgedQ": 1.0})


def test_judged_query_without_relevant_documents_scores_zero() -> None:
    result = evaluate(Run({"q": {"a": 1.0}}), Qrels({"q": {"a": 0}}), "nDCG@10,RR@10,AP,R@100")
    assert result.aggregate == {"nDCG@10": 0.0, "RR@10": 0.0, "AP": 0.0, "R@100": 0.0}


def test_queries_restricts_the_query_set() -> None:
    result = evaluate(RUN, QRELS, "RR@10", queries=["q2"])
    assert result.n_queries == 1 and result.aggregate["RR@10"] == 1.0
    with pytest.warns(DataWarning, match="1 of the 2 queries asked for have no judgements"):
        result = evaluate(RUN, QRELS, "RR@10", queries=["q1", "q3"])
    assert result.n_queries == 1 and result.aggregate["RR@10"] == 0.5


def test_run_sharing_no_query_with_qrels() -> None:
    run = Run({"other": {"d1": 1.0}})
    with pytest.warns(DataWarning, match="results for none of the 2 judged queries"):
        assert evaluate(run, QRELS, "AP").aggregate == {"AP": 0.0}
    with pytest.raises(ValueError, match="no judged query has results"):
        evaluate(run, QRELS, "AP", missing="skip")
    with pytest.raises(ValueError, match="missing must be 'zero' or 'skip'"):
        evaluate(RUN, QRELS, "AP", missing="drop")  # type: ignore[arg-type]


def test_plain_dicts_are_accepted() -> None:
    result = evaluate(RUN.to_dict(), QRELS.to_dict(), "AP")
    assert result.name == "run"
    assert result.aggregate["AP"] == pytest.approx((Q1_EXPECTED["AP"] + 1) / 2)


# -- metric names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("nDCG@10,RR@10,AP,R@100,P@5", ["nDCG@10", "RR@10", "AP", "R@100", "P@5"]),
        ("MAP, MRR@10", ["AP", "RR@10"]),
        ("ndcg@10, recall@100, mrr, map, p@5", ["nDCG@10", "R@100", "RR", "AP", "P@5"]),
        ("precision@5,Recall@10,NDCG", ["P@5", "R@10", "nDCG"]),
        ("AP,MAP,ap", ["AP"]),
        ("P(rel=2)@5,nDCG@10", ["P(rel=2)@5", "nDCG@10"]),
        (["nDCG@10", "mrr@10"], ["nDCG@10", "RR@10"]),
    ],
)
def test_parse_metrics(spec: str | list[str], expected: list[str]) -> None:
    assert [str(m) for m in parse_metrics(spec)] == expected


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("", "no metric given"),
        ([], "no metric given"),
        ("nDCG@10,foo@3", "unknown metric 'foo@3'.*nDCG@10, RR@10, AP"),
        ("@10", "unknown metric '@10'"),
        ("nDCG@ten", "invalid metric 'nDCG@ten'.*valid examples"),
        ("SDCG@10", "invalid metric 'SDCG@10'"),
    ],
)
def test_parse_metrics_errors(spec: str | list[str], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_metrics(spec)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("ndcg_cut_10, ndcg_cut.20", ["nDCG@10", "nDCG@20"]),
        ("P_5,recall_100,success_10,recip_rank,map_cut_10", ["P@5", "R@100", "Success@10", "RR", "AP@10"]),
        ("bpref, Rprec, iprec_at_recall_0.50", ["Bpref", "Rprec", "IPrec@0.5"]),
    ],
)
def test_trec_eval_names_are_accepted(spec: str, expected: list[str]) -> None:
    assert [str(m) for m in parse_metrics(spec)] == expected
    # and give trec_eval's values, as the ir_measures names do
    ir = evaluate(RUN, QRELS, ",".join(expected)).aggregate
    assert evaluate(RUN, QRELS, spec).aggregate == ir


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("ndgc@10", r"unknown metric 'ndgc@10' \(did you mean 'nDCG@10'\?\)"),
        ("Recal@100", r"did you mean 'R@100'\?"),
        ("P@0", r"invalid metric 'P@0': the cutoff after @ must be >= 1"),
        ("MRR@0", r"invalid metric 'MRR@0': the cutoff after @ must be >= 1"),
        ("ndcg_cut_0", r"invalid metric 'ndcg_cut_0': the cutoff after @ must be >= 1"),  # trec_eval name
        ("P_0", r"invalid metric 'P_0': the cutoff after @ must be >= 1"),
        ("nDCG@-1", r"the cutoff after @ must be a whole number >= 1 \(got '-1'\)"),
        ("P@1.5", r"the cutoff after @ must be a whole number >= 1 \(got '1.5'\)"),
        # a missing required parameter is named (it leaked "max_rel=<object object at 0x...>")
        (
            "SDCG@10",
            r"invalid metric 'SDCG@10': it needs max_rel \(maximum relevance score\), "
            r"e\.g\. SDCG\(max_rel=N\)@10",
        ),
        ("P(rel=2)", r"it needs cutoff .*e\.g\. P\(rel=2\)@10"),
        ("ERR", r"metric 'ERR' needs a cutoff here .*e\.g\. ERR@10"),  # gdeval computes ERR@k only
    ],
)
def test_misspelled_names_and_bad_cutoffs_are_one_clear_error(spec: str, error: str) -> None:
    # P@0 used to reach trec_eval, whose C assertion aborted the whole process
    with pytest.raises(ValueError, match=error):
        parse_metrics(spec)


def test_a_measure_object_with_a_zero_cutoff_is_refused_too() -> None:
    with pytest.raises(ValueError, match=r"invalid metric 'nDCG@0': the cutoff after @ must be >= 1"):
        parse_metrics([ir_measures.nDCG @ 0])


@pytest.mark.parametrize("metric", ["nDCG@10", "AP", "R@100", "P@5"])
def test_standard_measures_come_from_trec_eval(metric: str) -> None:
    assert provider_of(metric) == "pytrec_eval"


def test_rr_at_k_is_not_computed_by_ranx() -> None:
    # RR@k has no pytrec_eval implementation; it must not silently fall to ranx, the reference we test
    # against.
    assert provider_of("RR@10") == "msmarco"


# -- result objects --------------------------------------------------------------------------------


def test_evaluation_result_exports() -> None:
    result = evaluate(RUN, QRELS, "nDCG@10,RR@10", per_query=True)
    assert isinstance(result, EvaluationResult)
    assert result.metrics == ["nDCG@10", "RR@10"]
    agg = result.to_dataframe()
    assert list(agg.columns) == ["nDCG@10", "RR@10"] and list(agg.index) == ["hand"]
    per_q = result.to_dataframe(per_query=True)
    assert per_q.index.name == "qid" and sorted(per_q.index) == ["q1", "q2"]
    assert per_q.loc["q1", "RR@10"] == 0.5
    data = json.loads(result.to_json())
    assert data["aggregate"] == pytest.approx(result.aggregate)
    assert data["per_query"]["RR@10"] == {"q1": 0.5, "q2": 1.0}
    assert data["n_queries"] == 2
    assert "hand: nDCG@10=" in str(result)
    without = evaluate(RUN, QRELS, "AP")
    assert without.per_query == {} and "per_query" not in json.loads(without.to_json())
    with pytest.raises(ValueError, match="per_query=True"):
        without.to_dataframe(per_query=True)


# -- comparison ------------------------------------------------------------------------------------


def test_compare_t_test_matches_per_query_values(make_synthetic) -> None:
    base, qrels = make_synthetic(seed=1, n_queries=80)
    other, _ = make_synthetic(seed=2, n_queries=80)
    better = Run({q: {d: s + (1.0 if qrels.get(q, {}).get(d, 0) > 0 else 0) for d, s in v.items()}
                  for q, v in base.items()}, name="better")  # fmt: skip
    cmp = compare([base, other, better], qrels, "nDCG@10,AP")
    assert isinstance(cmp, Comparison)
    assert cmp.names == ["synthetic1", "synthetic2", "better"] and cmp.baseline == "synthetic1"
    assert len(cmp.qids) == len(qrels)
    for metric in ["nDCG@10", "AP"]:
        for run in [base, other, better]:
            single = evaluate(run, qrels, metric, per_query=True)
            assert cmp.means[metric][run.name] == pytest.approx(single.aggregate[metric])
            values = np.array([single.per_query[metric][q] for q in cmp.qids])
            np.testing.assert_allclose(cmp.per_query[metric][run.name], values)
        assert set(cmp.p_values[metric]) == {"synthetic2", "better"}
        expected = paired_t_test(cmp.per_query[metric]["better"], cmp.per_query[metric]["synthetic1"])
        assert cmp.p_values[metric]["better"] == pytest.approx(expected)
        assert cmp.p_values[metric]["better"] < 1e-6
        assert cmp.significant()[metric]["better"]
    df = cmp.to_dataframe()
    assert list(df.columns) == ["nDCG@10", "nDCG@10 p", "AP", "AP p"]
    assert pd.isna(df.loc["synthetic1", "AP p"]) and df.loc["better", "AP"] > df.loc["synthetic1", "AP"]
    assert json.loads(cmp.to_json())["p_values"]["AP"]["better"] == pytest.approx(
        cmp.p_values["AP"]["better"]
    )
    assert "better" in str(cmp)


def test_compare_reuses_evaluate_results_and_recomputes_what_they_lack(
    make_synthetic, monkeypatch: pytest.MonkeyPatch
) -> None:
    import distillrank.evaluation.metrics as metrics_module

    base, qrels = make_synthetic(seed=5, n_queries=40)
    other, _ = make_synthetic(seed=6, n_queries=40)
    other = Run({q: docs for i, (q, docs) in enumerate(other.items()) if i % 4}, name="other")  # some missing
    calls: list[int] = []
    real = metrics_module._per_query_values

    def counted(*args: object) -> object:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    for missing in ("zero", "skip"):
        expected = compare([base, other], qrels, "nDCG@10,AP", missing=missing)
        results = [evaluate(r, qrels, "nDCG@10,AP", per_query=True, missing=missing) for r in (base, other)]
        calls.clear()
        monkeypatch.setattr(metrics_module, "_per_query_values", counted)
        reused = compare([base, other], qrels, "nDCG@10,AP", missing=missing, results=results)
        assert calls == []  # nothing computed twice
        assert reused.qids == expected.qids and reused.p_values == expected.p_values
        for m in expected.per_query:
            for name in expected.names:
                np.testing.assert_array_equal(reused.per_query[m][name], expected.per_query[m][name])
        # a result that does not cover the query set (other metrics) is recomputed, not trusted
        partial = [evaluate(r, qrels, "RR@10", per_query=True, missing=missing) for r in (base, other)]
        calls.clear()
        again = compare([base, other], qrels, "nDCG@10,AP", missing=missing, results=partial)
        assert len(calls) == 2 and again.p_values == expected.p_values
        monkeypatch.undo()
    with pytest.raises(ValueError, match="1 results for 2 runs"):
        compare([base, other], qrels, "AP", results=results[:1])
    with pytest.raises(ValueError, match=r"results\[0\] is of run 'other', but runs\[0\] is 'synthetic5'"):
        compare([base, other], qrels, "AP", results=results[::-1])


def test_compare_permutation_is_seeded(make_synthetic) -> None:
    base, qrels = make_synthetic(seed=3, n_queries=60)
    other, _ = make_synthetic(seed=4, n_queries=60)
    a = compare([base, other], qrels, "AP", test="permutation", n_resamples=2000, seed=5)
    b = compare([base, other], qrels, "AP", test="permutation", n_resamples=2000, seed=5)
    assert a.p_values == b.p_values
    expected = permutation_test(a.per_query["AP"]["synthetic4"], a.per_query["AP"]["synthetic3"], 2000, 5)
    assert a.p_values["AP"]["synthetic4"] == expected


def test_compare_uses_a_common_query_set_when_skipping() -> None:
    qrels = Qrels({"q1": {"a": 1}, "q2": {"a": 1}, "q3": {"a": 1}})
    r1 = Run({"q1": {"a": 1.0}, "q2": {"a": 1.0}}, name="r1")
    r2 = Run({"q2": {"a": 1.0}, "q3": {"a": 1.0, "b": 2.0}}, name="r2")
    with pytest.warns(DataWarning, match="p-values need at least 2"):
        skip = compare([r1, r2], qrels, "RR@10", missing="skip")
    assert skip.qids == ["q2"] and math.isnan(skip.p_values["RR@10"]["r2"])
    zero = compare([r1, r2], qrels, "RR@10")
    assert zero.qids == ["q1", "q2", "q3"]
    assert zero.means["RR@10"] == pytest.approx({"r1": 2 / 3, "r2": 0.5})


def test_compare_names_and_errors() -> None:
    cmp = compare([RUN, RUN], QRELS, "AP")
    assert cmp.names == ["hand#0", "hand#1"]
    assert cmp.p_values["AP"]["hand#1"] == 1.0
    with pytest.raises(ValueError, match="at least one other run"):
        compare([RUN], QRELS, "AP")
    with pytest.raises(ValueError, match="test must be"):
        compare([RUN, RUN], QRELS, "AP", test="wilcoxon")  # type: ignore[arg-type]


def test_compare_refuses_a_dict_of_runs_instead_of_scoring_its_keys() -> None:
    # iterating a dict gives its keys: the strings were read as runs and every mean was a silent 0
    with pytest.raises(TypeError, match=r"compare: runs must be a sequence.*list\(runs.values\(\)\)"):
        compare({"a": RUN, "b": RUN}, QRELS, "AP")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="runs must be a sequence"):
        compare(RUN, QRELS, "AP")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"runs\[1\] must be a mapping qid -> \{docno: score\}"):
        compare([RUN, "other.trec"], QRELS, "AP")  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("run", "qrels", "error"),
    [
        ("bm25.trec", QRELS, r"run must be a mapping qid -> .* \(a Run\), got a str.*Run.from_file"),
        ([RUN], QRELS, "run must be a mapping .* got a list"),
        (QRELS, RUN, r"qrels is a Run; the arguments go \(run, qrels, metrics\)"),
        (RUN, [("q1", "d1", 1)], "qrels must be a mapping qid -> .* got a list"),
    ],
)
def test_evaluate_names_a_misplaced_or_mistyped_argument(run: object, qrels: object, error: str) -> None:
    with pytest.raises(TypeError, match=error):
        evaluate(run, qrels, "AP")  # type: ignore[arg-type]


def test_gdeval_measures_on_non_numeric_ids_print_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    """gdeval (ERR, exp-log2 nDCG) reads numeric query ids only: ids like q1 are numbered before the call,
    not after its perl script has printed a "format error" line to stderr."""
    result = evaluate({"q1": {"d1": 2.0, "d2": 1.0}}, {"q1": {"d2": 1}}, "ERR@10")
    assert result.aggregate == {"ERR@10": 0.03125}
    assert "format error" not in capfd.readouterr().err


def test_randomisation_is_the_permutation_test(make_synthetic) -> None:
    base, qrels = make_synthetic(seed=3, n_queries=30)
    other, _ = make_synthetic(seed=4, n_queries=30)
    a = compare([base, other], qrels, "AP", test="permutation", n_resamples=500, seed=1)
    b = compare([base, other], qrels, "AP", test="randomisation", n_resamples=500, seed=1)  # type: ignore[arg-type]
    assert a.p_values == b.p_values


def test_a_result_is_read_under_any_spelling_of_a_metric() -> None:
    res = evaluate(RUN, QRELS, "MAP,MRR@10,ndcg_cut_10")
    assert list(res.aggregate) == ["AP", "RR@10", "nDCG@10"]
    assert res["MAP"] == res["AP"] == res.aggregate["AP"]
    assert res["mrr@10"] == res.aggregate["RR@10"] and res["nDCG@10"] == res["ndcg_cut_10"]
    with pytest.raises(KeyError, match=r"'P@5' was not evaluated; this result has AP, RR@10, nDCG@10"):
        res["P@5"]
