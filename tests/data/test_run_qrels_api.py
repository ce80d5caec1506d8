"""Run and Qrels built in Python: ids as str, whole-number labels, clear errors for what trec_eval would
choke on deep inside (int ids, float labels), and a single id where a collection of ids is asked for."""

# ruff: noqa: E501

from __future__ import annotations

import numpy as np
import pytest

from distillrank.data import Qrels, Queries, Run
from distillrank.errors import DataFormatError
from distillrank.evaluation import compare, evaluate


def test_int_and_numpy_ids_and_scores_become_what_run_files_hold() -> None:
    run = Run({1: {10: np.float32(2.0), 11: 1}})
    qrels = Qrels({1: {11: 1.0, 10: np.int64(0)}})
    assert run.to_dict() == {"1": {"10": 2.0, "11": 1.0}}
    assert qrels.to_dict() == {"1": {"11": 1, "10": 0}} and isinstance(qrels["1"]["11"], int)
    # plain dicts with int ids evaluate too (pytrec_eval raised "Expected string as key" 10 frames deep)
    assert evaluate({1: {10: 2.0, 11: 1.0}}, {1: {11: 1.0}}, "RR@10").aggregate == {"RR@10": 0.5}
    both = compare(
        [{1: {10: 2.0, 11: 1.0}}, {1: {11: 2.0}}, {2: {11: 2.0}}], {1: {11: 1}, 2: {11: 1}}, "RR@10"
    )
    assert both.means["RR@10"] == {"run#0": 0.25, "run#1": 0.5, "run#2": 0.5}


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: Qrels({"q": {"d": 0.5}}), ValueError, "query 'q', document 'd': label 0.5 is not a whole number"),
        (lambda: Qrels({"q": {"d": "1"}}), ValueError, "label '1' (str) is not a whole number"),
        (lambda: Qrels({"q": ["d"]}), TypeError, "judgements of query 'q' must be a mapping docno -> label"),
        (lambda: Qrels("qrels.txt"), TypeError, "use Qrels.from_file(path)"),
        (lambda: Run("run.trec"), TypeError, "to read a run file use Run.from_file(path)"),
        (lambda: Run({"q": [1.0, 2.0]}), TypeError, "results of query 'q' must be a mapping docno -> score"),
        (lambda: Run({"q": {"d": None}}), DataFormatError, "query 'q', document 'd': score None is not a number"),
        (lambda: Run({"q": {"d": 1.0}}).top_k(-1), ValueError, "k must be >= 1, not -1"),
        (lambda: Run({"q": {"d": 1.0}}).ranked("q", k=-1), ValueError, "k must be >= 0"),
        (lambda: evaluate({"q": {"d": 1.0}}, {"q": {"d": 0.5}}, "P@1"), ValueError, "evaluate: query 'q', document 'd': label 0.5"),
    ],
)  # fmt: skip
def test_bad_values_are_named(make, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as e:
        make()
    assert message in str(e.value)


def test_a_single_id_is_one_id_not_its_characters() -> None:
    run = Run({"q1": {"a": 1.0}, "q2": {"b": 1.0}})
    qrels = Qrels({"q1": {"a": 1}, "q2": {"a": 1}})
    assert list(run.subset("q1")) == ["q1"] and list(qrels.subset("q1")) == ["q1"]
    assert list(Queries({"q1": "x", "q2": "y"}).subset("q2")) == ["q2"]
    result = evaluate(run, qrels, "P@1", queries="q2")  # was the ids 'q' and '2', both unjudged
    assert result.n_queries == 1 and result.aggregate == {"P@1": 0.0}


def test_corpus_and_queries_built_in_python() -> None:
    from distillrank.data import Corpus
    from distillrank.data.catalogue import load_dataset
    from distillrank.retrieval import BM25Retriever
    from distillrank.training import ListExample

    with pytest.raises(TypeError, match="Corpus: docnos must be a list of strings, not one str"):
        Corpus("ab", ["", ""], ["x", "y"])  # type: ignore[arg-type]
    corpus = Corpus([1, 2], ["", ""], ["cats purr", "dogs bark"])  # type: ignore[list-item]
    assert corpus.docnos == ["1", "2"] and corpus["2"].text == "dogs bark"
    with pytest.raises(TypeError, match=r"Queries\(items\): items must be a mapping qid -> text, not list"):
        Queries(["a", "b"])  # type: ignore[arg-type]
    assert list(Queries({7: "cats"})) == ["7"]  # type: ignore[dict-item]
    bm25 = BM25Retriever()
    bm25.index(corpus)
    assert list(bm25.search({7: "cats"}, k=1)) == ["7"]  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="docs must be a list of texts, not one str"):
        ListExample("q", "dd", [1.0, 0.0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="labels must be numbers, got '1'"):
        ListExample("q", ["a"], ["1"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"unknown option 'query_feild' \(did you mean 'query_field'\?\)"):
        load_dataset("scifact", query_feild="desc")


def test_break_ties_orders_ties_by_position_and_survives_single_precision() -> None:
    import numpy as np

    from distillrank.data.run import break_ties

    distinct = np.array([3.0, 1.0, 2.0])
    assert break_ties(distinct) is distinct  # nothing to break: unchanged
    out = break_ties(np.array([3.0, 1.0, 1.0, 2.0]))
    assert np.argsort(-out, kind="stable").tolist() == [0, 3, 1, 2]  # ties by first-stage position
    assert len(np.unique(out.astype(np.float32))) == 4
    # a learnt model's scores one double-precision step apart, and an exact tie among them
    close = np.array([-0.1, -0.09999999999999998, -0.0999999999999999, -0.1])
    ranked = break_ties(close)
    assert ranked.tolist() == [2.0, 3.0, 4.0, 1.0]  # by value, the tied first before the tied last
    assert len(np.unique(ranked.astype(np.float32))) == 4
