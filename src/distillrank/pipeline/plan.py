"""The main job's plan: which split it evaluates on, and the folds of queries its students train, stop
and are tested on — with the checks that refuse, before any work, a collection the plan cannot use (ids a
TREC file cannot hold, too few judged queries)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from distillrank.data.collection import Qrels, TextCollection
from distillrank.data.formats.trec import is_trec_id
from distillrank.errors import DistillrankError
from distillrank.pipeline.config import JobConfig
from distillrank.pipeline.families import Fold


def _sample(qids: Sequence[str], n: int | None, seed: int) -> list[str]:
    qids = sorted(qids)
    if n is None or n >= len(qids):
        return qids
    return sorted(random.Random(seed).sample(qids, n))


def _check_ids(coll: TextCollection) -> None:
    """Refuse, before any work, ids that the job's TREC run files (``runs/*.trec``) could not hold."""
    judged = {q for split in coll.splits for q in coll.get_qrels(split)}
    docs = ("document", list(coll.corpus.docnos), coll.corpus.source)
    for what, ids, source in (("query", [q for q in coll.queries if q in judged], None), docs):
        bad = [k for k, i in enumerate(ids) if not is_trec_id(i)]
        if bad:
            where = f"{source}: record {bad[0] + 1}" if source else (coll.source or coll.name)
            raise DistillrankError(
                f"{where}: {what} id {ids[bad[0]]!r} is empty or holds whitespace ({len(bad):,} of the "
                f"{len(ids):,} {what} ids do), which the job's TREC run files cannot hold; give the "
                "collection ids without whitespace"
            )


def _evaluation_split(coll: TextCollection, cfg: JobConfig) -> str:
    """The split the job evaluates on: ``cfg.test_split``, else ``test``, else the only split.

    Raises:
        DistillrankError: the split asked for is not there or is ``train``, or there is no ``test``
            split and several others to choose from (the message lists them).
    """
    splits = coll.splits
    listed = ", ".join(splits) or "none"
    if cfg.test_split is not None:
        if cfg.test_split == "train":
            raise DistillrankError(f"{coll.name}: the train split cannot be the test split; pick another")
        if cfg.test_split not in splits:
            raise DistillrankError(f"{coll.name}: no split {cfg.test_split!r} (splits: {listed})")
        return cfg.test_split
    if "test" in splits:
        return "test"
    if len(splits) == 1 and splits[0] != "train":
        return splits[0]
    others = [s for s in splits if s != "train"]
    hint = f"; choose one with --test-split (e.g. --test-split {others[0]})" if others else ""
    raise DistillrankError(f"{coll.name}: no test split to evaluate on (splits: {listed}){hint}")


def _fewest_fit(n: int, cfg: JobConfig, *, kfold: bool) -> int:
    """The fewest queries any fold of :func:`_plan` trains on, out of ``n`` judged queries: the train split
    (``kfold=False``) or, in k-fold, the other folds' queries, less the validation share of each."""
    if kfold:
        k = min(cfg.folds, n)
        n = n - -(-n // k) if k >= 2 else 0  # the smallest fold's training side
    return n - max(1, round(cfg.validation_fraction * n))


def _check_enough_queries(coll: TextCollection, n: int, cfg: JobConfig, *, kfold: bool, capped: bool) -> None:
    """Refuse, before any work, too few judged queries for every fold to keep one to train on.

    Raises:
        DistillrankError: one line saying how many there are, how many the plan needs and how many more.
    """
    fewest = _fewest_fit(n, cfg, kfold=kfold)
    if fewest >= 1:
        return
    need = next(m for m in range(max(n, 2), n + 10_000) if _fewest_fit(m, cfg, kfold=kfold) >= 1)
    share = f"validation_fraction {cfg.validation_fraction:g}"
    cap = f" (max_{'test' if kfold else 'train'}_queries)" if capped else ""
    judged = f"{n} judged {'query' if n == 1 else 'queries'} with a text{cap}"
    if kfold:
        what = (
            f"{judged} {'is' if n == 1 else 'are'} too few for k-fold cross-fitting (folds {cfg.folds}, "
            f"{share}): a fold trains on the other folds' queries less a validation share, which leaves "
            f"{max(fewest, 0)}"
        )
    else:
        what = (
            f"the train split has {judged}, too few to hold validation queries out ({share}) and train on "
            f"the rest, which leaves {max(fewest, 0)}"
        )
    raise DistillrankError(f"{coll.name}: {what}; the job needs at least {need} ({need - n} more)")


def _plan(coll: TextCollection, cfg: JobConfig) -> tuple[list[Fold], Qrels, bool, str]:
    """The folds, the qrels of every used query, whether the collection had a train split, and the split
    evaluated on (:func:`_evaluation_split`)."""
    splits = coll.splits
    has_train = "train" in splits and len(coll.get_qrels("train")) > 0
    test_split_ = _evaluation_split(coll, cfg)
    test_qrels = coll.get_qrels(test_split_)
    if not test_qrels:
        raise DistillrankError(f"{coll.name}: split {test_split_!r} has no judgements")
    test_queries = coll.queries_for(test_split_)
    judged_test = [q for q in test_qrels if q in test_queries]
    test = _sample(judged_test, cfg.max_test_queries, cfg.seed)
    if not test:
        raise DistillrankError(f"{coll.name}: no judged test query has a text")
    rng = random.Random(cfg.seed)
    if has_train:
        train_qrels = coll.get_qrels("train")
        train_queries = coll.queries_for("train")
        both = set(train_qrels) & set(test_qrels)
        if both:
            raise DistillrankError(
                f"{coll.name}: {len(both)} query ids are in both train and test, e.g. {sorted(both)[0]!r}"
            )
        judged_train = [q for q in train_qrels if q in train_queries]
        train = _sample(judged_train, cfg.max_train_queries, cfg.seed)
        _check_enough_queries(coll, len(train), cfg, kfold=False, capped=len(train) < len(judged_train))
        shuffled = train[:]
        rng.shuffle(shuffled)
        n_val = max(1, round(cfg.validation_fraction * len(train)))
        val, fit = sorted(shuffled[:n_val]), sorted(shuffled[n_val:])
        qrels = Qrels({**train_qrels.subset(train).to_dict(), **test_qrels.subset(test).to_dict()})
        return [Fold(0, fit, val, test)], qrels, True, test_split_
    from distillrank.distillation.folds import kfold_queries

    _check_enough_queries(coll, len(test), cfg, kfold=True, capped=len(test) < len(judged_test))
    k = min(cfg.folds, len(test))
    folds = []
    for i, (train, held_out) in enumerate(kfold_queries(test, k, seed=cfg.seed)):
        shuffled = sorted(train)
        rng.shuffle(shuffled)
        n_val = max(1, round(cfg.validation_fraction * len(shuffled)))
        folds.append(Fold(i, sorted(shuffled[n_val:]), sorted(shuffled[:n_val]), sorted(held_out)))
    return folds, test_qrels.subset(test), False, test_split_
