"""Negative sampling: windows, exclusions, determinism, and the lists build_examples makes."""

from __future__ import annotations

import pytest

from distillrank.data.collection import Corpus, Qrels
from distillrank.data.run import Run
from distillrank.training.negatives import (
    build_examples,
    hard_negatives,
    mixed_negatives,
    random_negatives,
)

N_DOCS = 300


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    ids = [f"d{i:03d}" for i in range(N_DOCS)]
    return Corpus(ids, [""] * N_DOCS, [f"text of {d}" for d in ids])


@pytest.fixture(scope="module")
def qrels() -> Qrels:
    # q0 has positives ranked 0, 15 and 40 in the run below; q1 one at rank 3; q2 nothing relevant.
    return Qrels(
        {
            "q0": {"d000": 2, "d015": 1, "d040": 1, "d050": 0},
            "q1": {"d103": 1},
            "q2": {"d200": 0},
        }
    )


@pytest.fixture(scope="module")
def run() -> Run:
    # q0 ranks d000..d199 in order; q1 ranks d100..d299 in order.
    return Run(
        {
            "q0": {f"d{i:03d}": 1000.0 - i for i in range(200)},
            "q1": {f"d{100 + i:03d}": 1000.0 - i for i in range(200)},
        }
    )


def rank_of(run: Run, qid: str) -> dict[str, int]:
    return {d: r for r, (d, _) in enumerate(run.ranked(qid))}


def test_hard_negatives_respect_the_window_and_exclude_positives(run: Run, qrels: Qrels) -> None:
    neg = hard_negatives(run, qrels, 20, skip=(10, 100), seed=1)
    for qid in ("q0", "q1"):
        ranks = rank_of(run, qid)
        assert len(neg[qid]) == 20
        assert len(set(neg[qid])) == 20
        assert all(10 <= ranks[d] < 100 for d in neg[qid])
        assert not set(neg[qid]) & qrels.relevant(qid)
    assert neg["q2"] == []  # not in the run


def test_hard_negatives_take_the_whole_window_when_it_is_small(run: Run, qrels: Qrels) -> None:
    neg = hard_negatives(run, qrels, 50, skip=(10, 20), seed=0)
    # q0's window d010..d019 holds the positive d015: 9 negatives remain, in rank order.
    assert neg["q0"] == [f"d{i:03d}" for i in range(10, 20) if i != 15]


def test_judged_non_relevant_documents_may_be_negatives(run: Run, qrels: Qrels) -> None:
    neg = hard_negatives(run, qrels, 200, skip=(0, 200), seed=0)
    assert "d050" in neg["q0"]  # label 0: a true negative
    assert not {"d000", "d015", "d040"} & set(neg["q0"])


def test_hard_negatives_are_seeded_and_independent_of_other_queries(run: Run, qrels: Qrels) -> None:
    a = hard_negatives(run, qrels, 5, seed=3)
    assert a == hard_negatives(run, qrels, 5, seed=3)
    assert a != hard_negatives(run, qrels, 5, seed=4)
    alone = hard_negatives(run, Qrels({"q1": qrels["q1"]}), 5, seed=3)
    assert alone["q1"] == a["q1"]


@pytest.mark.parametrize("skip", [(5, 5), (-1, 10), (20, 10)])
def test_bad_skip_windows_are_rejected(run: Run, qrels: Qrels, skip: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match=r"skip must be \(start, stop\) with 0 <= start < stop"):
        hard_negatives(run, qrels, 5, skip=skip)


def test_random_negatives_exclude_positives_and_are_seeded(corpus: Corpus, qrels: Qrels) -> None:
    for n in (5, 290):  # sparse (rejection) and dense (permutation) draws
        neg = random_negatives(qrels, corpus, n, seed=7)
        for qid in qrels:
            assert len(neg[qid]) == len(set(neg[qid])) == n
            assert not set(neg[qid]) & qrels.relevant(qid)
        assert neg == random_negatives(qrels, corpus, n, seed=7)
        assert neg != random_negatives(qrels, corpus, n, seed=8)


def test_random_negatives_stop_at_the_corpus_size(corpus: Corpus, qrels: Qrels) -> None:
    neg = random_negatives(qrels, corpus, 10_000, seed=0)
    assert len(neg["q0"]) == N_DOCS - 3 and len(neg["q1"]) == N_DOCS - 1


def test_mixed_negatives_put_hard_first_then_random(run: Run, qrels: Qrels, corpus: Corpus) -> None:
    neg = mixed_negatives(run, qrels, corpus, 8, hard_fraction=0.25, skip=(10, 100), seed=0)
    ranks = rank_of(run, "q0")
    hard, rand = neg["q0"][:2], neg["q0"][2:]
    assert len(neg["q0"]) == 8 and len(set(neg["q0"])) == 8
    assert all(10 <= ranks[d] < 100 for d in hard)
    assert not set(neg["q0"]) & qrels.relevant("q0")
    assert set(hard) == set(hard_negatives(run, qrels, 2, skip=(10, 100), seed=0)["q0"])
    assert len(rand) == 6
    assert len(neg["q2"]) == 8  # no run for q2: all random


def test_build_examples_puts_positives_first(corpus: Corpus, qrels: Qrels, run: Run) -> None:
    queries = {"q0": "query zero", "q1": "query one", "q2": "query two"}
    ex = build_examples(queries, qrels, corpus, negatives="hard", run=run, n_negatives=4, seed=0)
    assert [e.qid for e in ex] == ["q0", "q1"]  # q2 has no positive
    e0 = ex[0]
    assert e0.docnos[:3] == ["d000", "d015", "d040"]  # highest label first, then qrels order
    assert e0.labels == [2.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert e0.docs[0] == "text of d000" and e0.query == "query zero"
    assert e0.teacher_scores is None
    each = build_examples(queries, qrels, corpus, positives="each", n_negatives=2, seed=0)
    assert [(e.qid, e.docnos[0]) for e in each] == [
        ("q0", "d000"),
        ("q0", "d015"),
        ("q0", "d040"),
        ("q1", "d103"),
    ]
    assert each[0].docnos[1:] == each[1].docnos[1:]  # negatives shared within a query
    first = build_examples(queries, qrels, corpus, positives="first", n_negatives=2, seed=0)
    assert [len(e.docs) for e in first] == [3, 3]


def test_build_examples_with_precomputed_negatives_drops_positives(corpus: Corpus, qrels: Qrels) -> None:
    ex = build_examples({"q1": "q"}, qrels, corpus, negatives={"q1": ["d103", "d001", "d002"]})
    assert ex[0].docnos == ["d103", "d001", "d002"]


def test_build_examples_teacher_callable_and_dict(corpus: Corpus, qrels: Qrels) -> None:
    queries = {"q0": "a", "q1": "bb"}
    calls: list[int] = []

    def teacher(pairs: list[tuple[str, str]]) -> list[float]:
        calls.append(len(pairs))
        return [len(q) * 100 + int(d[-3:]) for q, d in pairs]

    ex = build_examples(queries, qrels, corpus, n_negatives=2, teacher=teacher, seed=0)
    assert calls == [sum(len(e.docs) for e in ex)]  # one call with every pair
    for e in ex:
        assert e.teacher_scores == [len(e.query) * 100 + int(d[1:]) for d in e.docnos]
    scores = {e.qid: {d: float(i) for i, d in enumerate(e.docnos)} for e in ex}
    again = build_examples(queries, qrels, corpus, n_negatives=2, teacher=scores, seed=0)
    assert [e.teacher_scores for e in again] == [[float(i) for i in range(len(e.docs))] for e in ex]
    del scores["q1"][ex[1].docnos[-1]]
    with pytest.raises(KeyError, match=f"no score for query 'q1', document '{ex[1].docnos[-1]}'"):
        build_examples(queries, qrels, corpus, n_negatives=2, teacher=scores, seed=0)


def test_build_examples_errors(corpus: Corpus, qrels: Qrels) -> None:
    with pytest.raises(ValueError, match="negatives='hard' needs a run"):
        build_examples({"q0": "a"}, qrels, corpus, negatives="hard")
    with pytest.raises(ValueError, match="negatives must be 'random', 'hard', 'mixed' or a dict"):
        build_examples({"q0": "a"}, qrels, corpus, negatives="easy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="the teacher returned 1 scores for 3 pairs"):
        build_examples({"q1": "a"}, qrels, corpus, n_negatives=2, teacher=lambda pairs: [0.0])


def test_module_doctest() -> None:
    import doctest

    from distillrank.training import negatives

    result = doctest.testmod(negatives)
    assert result.failed == 0 and result.attempted > 0


def test_queries_as_a_list_or_of_another_split_are_errors_not_an_empty_result(
    corpus: Corpus, qrels: Qrels
) -> None:
    with pytest.raises(TypeError, match="queries must be a mapping qid -> text"):
        build_examples(["text of d000"], qrels, corpus)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"none of the 2 queries has qrels .*'t7'.* same split"):
        build_examples({"t7": "a", "t8": "b"}, qrels, corpus)
    assert build_examples({"q2": "nothing relevant"}, qrels, corpus) == []  # judged, without a positive


def test_qrels_as_a_path_or_with_int_ids_and_a_corpus_as_texts(corpus: Corpus, qrels: Qrels) -> None:
    """Each is named for what it is, not "none of the queries has qrels (same split?)"."""
    with pytest.raises(
        TypeError, match=r"qrels must be a mapping .*got str; read a qrels file with Qrels.from_file"
    ):
        build_examples({"q0": "a"}, "qrels/train.tsv", corpus)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="corpus must be a Corpus"):
        build_examples({"q0": "a"}, qrels, list(corpus.texts))  # type: ignore[arg-type]
    by_int = {int(q[1:]): docs for q, docs in qrels.items()}  # ids read as numbers: 0, 1, ...
    as_text = {str(q): docs for q, docs in by_int.items()}
    expected = build_examples({"0": "a"}, as_text, corpus, seed=1)
    assert build_examples({0: "a"}, by_int, corpus, seed=1)[0].docs == expected[0].docs  # type: ignore[dict-item]


def test_a_list_without_documents_is_an_error_where_it_is_made() -> None:
    from distillrank.training import ListExample

    with pytest.raises(ValueError, match="query 'q9': a training list needs at least one document"):
        ListExample("cats", [], [], qid="q9")
