"""Our metric values equal ranx's (an independent implementation) to 1e-6, aggregate and per query.

Conventions aligned for the comparison:

* ranx is given the same dicts; ``make_comparable=True`` adds empty results for judged queries missing
  from the run (scored 0, as our default ``missing="zero"``) and drops run queries without judgements.
* Metric names: ``nDCG@10``/``ndcg@10`` (both linear gains), ``RR@10``/``mrr@10``, ``AP``/``map``,
  ``R@100``/``recall@100``, ``P@5``/``precision@5``.
* Scores never tie: ranx and trec_eval order tied documents differently (trec_eval by descending docno),
  so ties would make the implementations disagree by design, not by error.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from distillrank.data.collection import Qrels
from distillrank.data.run import Run
from distillrank.evaluation import evaluate

ranx = pytest.importorskip("ranx")

TO_RANX = {
    "nDCG@10": "ndcg@10",
    "RR@10": "mrr@10",
    "AP": "map",
    "R@100": "recall@100",
    "P@5": "precision@5",
    # and a few more of the same families
    "nDCG": "ndcg",
    "nDCG@100": "ndcg@100",
    "RR": "mrr",
    "P@10": "precision@10",
    "R@10": "recall@10",
}


def ranx_values(run: Run, qrels: Qrels, metrics: list[str]) -> tuple[dict[str, float], dict[str, dict]]:
    """ranx's aggregate and per-query values, keyed by our metric names."""
    names = [TO_RANX[m] for m in metrics]
    r_run = ranx.Run(run.to_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba type-safety chatter
        means = ranx.evaluate(ranx.Qrels(qrels.to_dict()), r_run, names, make_comparable=True)
    per_query = {
        m: {q: float(v) for q, v in r_run.scores[n].items()} for m, n in zip(metrics, names, strict=True)
    }
    return {m: float(means[n]) for m, n in zip(metrics, names, strict=True)}, per_query


def assert_same_as_ranx(run: Run, qrels: Qrels, metrics: list[str]) -> None:
    ours = evaluate(run, qrels, metrics, per_query=True)
    means, per_query = ranx_values(run, qrels, metrics)
    for m in metrics:
        assert ours.aggregate[m] == pytest.approx(means[m], abs=1e-6), m
        assert set(ours.per_query[m]) == set(per_query[m]) == set(qrels), m
        qids = sorted(qrels)
        np.testing.assert_allclose(
            [ours.per_query[m][q] for q in qids],
            [per_query[m][q] for q in qids],
            rtol=0,
            atol=1e-6,
            err_msg=m,
        )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_synthetic_runs_match_ranx(make_synthetic, seed: int) -> None:
    run, qrels = make_synthetic(seed=seed)
    assert sum(q not in run for q in qrels) > 0  # judged queries missing from the run are exercised
    assert any(q not in qrels for q in run)  # and run queries without judgements
    assert_same_as_ranx(run, qrels, list(TO_RANX))


def test_short_runs_match_ranx(make_synthetic) -> None:
    # Fewer retrieved documents than the cutoffs (P@10 still divides by 10, R@100 by all relevant).
    run, qrels = make_synthetic(seed=11, n_docs=7, n_judged=10)
    assert_same_as_ranx(run, qrels, list(TO_RANX))


def read_beir_qrels(path: Path) -> Qrels:
    """BEIR qrels TSV: a header, then ``query-id  corpus-id  score``."""
    out: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            if line.strip():
                q, d, s = line.rstrip("\n").split("\t")
                out.setdefault(q, {})[d] = int(s)
    return Qrels(out)


@pytest.mark.data
def test_scifact_run_matches_ranx(shared_data: Path) -> None:
    path = shared_data / "beir" / "scifact" / "qrels" / "test.tsv"
    assert path.exists(), f"{path} is missing: set DISTILLRANK_DATA to the shared data folder"
    qrels = read_beir_qrels(path)
    assert len(qrels) == 300
    rng = np.random.default_rng(2024)
    judged = sorted({d for docs in qrels.values() for d in docs})
    run: dict[str, dict[str, float]] = {}
    for i, (qid, docs) in enumerate(qrels.items()):
        if i % 20 == 7:
            continue  # a judged query the run misses
        # The judged documents of this query (not always all of them) among random other documents.
        keep = [d for d in docs if rng.random() < 0.8]
        others = [judged[j] for j in rng.choice(len(judged), size=150, replace=False)]
        candidates = list(dict.fromkeys(keep + others))
        run[qid] = {d: float(s) for d, s in zip(candidates, rng.random(len(candidates)), strict=True)}
        assert len(set(run[qid].values())) == len(run[qid])
    run["not-a-test-query"] = {judged[0]: 1.0}
    assert_same_as_ranx(Run(run, name="random"), qrels, list(TO_RANX))
