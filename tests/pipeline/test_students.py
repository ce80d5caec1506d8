"""The main job's training lists and targets (:mod:`distillrank.pipeline.students`)."""

from __future__ import annotations

from distillrank.data import Corpus, Qrels, Run
from distillrank.pipeline.config import JobConfig
from distillrank.pipeline.students import TargetSpec, lgbm_kwargs, make_lists, neural_loss

DOCS = ["a", "b", "c", "d"]
CORPUS = Corpus(DOCS, [""] * 4, [f"text {d}" for d in DOCS])
TEACHER = Run(
    {"q1": {"a": 0.1, "b": 0.9, "c": 0.5, "d": 0.3}, "q2": {"a": 0.2, "b": 0.1, "c": 0.8, "d": 0.7}}
)
QRELS = Qrels({"q1": {"c": 1, "a": 1}})  # q2 has no judged positive


def _firsts(anchor: str | None) -> list[str]:
    lists = make_lists(
        ["q1", "q2"], {"q1": DOCS, "q2": DOCS}, {"q1": "one", "q2": "two"}, QRELS, CORPUS, TEACHER,
        anchor_first=anchor,  # type: ignore[arg-type]
    )  # fmt: skip
    for example in lists:  # the teacher's scores and the labels move with their documents
        assert example.teacher_scores == [TEACHER[example.qid][d] for d in example.docnos]
        assert example.labels == [float(QRELS.get(example.qid, {}).get(d, 0)) for d in example.docnos]
    return [example.docnos[0] for example in lists]


def test_anchor_first_moves_the_teachers_best_or_the_judged_positive_to_the_front() -> None:
    assert _firsts(None) == ["a", "a"]  # the candidates' order
    assert _firsts("teacher") == ["b", "c"]
    # q1: the judged positives a and c tie on their label; c is the teacher's better one. q2: none judged
    assert _firsts("positive") == ["c", "c"]


def test_targets_take_their_settings() -> None:
    s = JobConfig.from_dict({"students": {"hard_mode": "pairwise", "margin_anchor": "positive"}}).students
    assert neural_loss(TargetSpec("hard", "hard"), s) == ("hard_label", {"top_k": 1, "mode": "pairwise"})
    assert lgbm_kwargs(TargetSpec("margin_mse", "margin_mse"), s)["margin_anchor"] == "positive"
    defaults = JobConfig().students
    assert (defaults.hard_mode, defaults.margin_anchor) == ("listwise", "teacher")


def test_alignment_texts_are_distinct_short_texts_and_sampled_on_large_corpora() -> None:
    from distillrank.data.collection import Corpus
    from distillrank.pipeline.families import alignment_texts

    small = Corpus(["a", "b", "c"], ["T1", "", "T1"], ["One. Two.", "Three", ""])
    assert alignment_texts(small, ["q", "T1"], 10, seed=0) == ["One", "T1", "Three", "q"]
    assert len(alignment_texts(small, ["q"], 2, seed=0)) == 2
    n = 500
    big = Corpus(
        [f"d{i}" for i in range(n)], [f"title {i}" for i in range(n)], [f"s{i}. x" for i in range(n)]
    )
    texts = alignment_texts(big, ["query"], 10, seed=1)  # 500 > 10 * 10: from 40 sampled documents
    assert len(texts) == 10 and texts == sorted(texts) and len(set(texts)) == 10
    assert texts == alignment_texts(big, ["query"], 10, seed=1)
    # below the threshold every document takes part, as before
    every = alignment_texts(big, ["query"], 60, seed=1)
    assert len(every) == 60 and set(every) <= {
        "query",
        *(f"title {i}" for i in range(n)),
        *(f"s{i}" for i in range(n)),
    }
