"""K-fold cross-validation over queries, for collections without a training split.

Folds are made of *queries*, never of rows: every row of a query lands in the same fold, so a model
trained for fold ``i`` has seen no row — features or labels — of any query it is tested on. The
guarantee, checked by :func:`split_by_queries` and tested: for each ``(train_qids, test_qids)``, the two
sets are disjoint, the test sets of the ``k`` folds partition the queries, and the training rows handed
out for a fold carry only training queries' labels (changing a test query's labels cannot change the
fold's model).

Example:
    >>> folds = kfold_queries(["q1", "q2", "q3", "q4", "q5"], k=2, seed=0)
    >>> [len(test) for _, test in folds]
    [3, 2]
    >>> sorted(q for _, test in folds for q in test)
    ['q1', 'q2', 'q3', 'q4', 'q5']
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from distillrank.data.ltr import LTRDataset

__all__ = ["kfold_queries", "split_by_queries"]


def kfold_queries(qids: Iterable[str], k: int, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """Split distinct query ids into ``k`` folds: ``[(train_qids, test_qids), ...]``.

    The queries are shuffled with ``numpy.random.default_rng(seed)`` and cut into ``k`` folds whose sizes
    differ by at most one (the first ``n % k`` folds get the extra query). Duplicates in ``qids`` (e.g.
    one per row) count once; the result depends only on the set of queries, their first-seen order, and
    ``seed``. Within a fold, queries keep their first-seen order.

    Raises:
        ValueError: ``k < 2`` or fewer distinct queries than folds.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k must be an integer >= 2; got {k!r}")
    unique = list(dict.fromkeys(str(q) for q in qids))
    if len(unique) < k:
        raise ValueError(f"{len(unique)} distinct queries cannot make {k} folds")
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = np.empty(len(unique), dtype=np.int64)
    for f, part in enumerate(np.array_split(order, k)):
        fold_of[part] = f
    folds = []
    for f in range(k):
        test = [q for q, g in zip(unique, fold_of, strict=True) if g == f]
        train = [q for q, g in zip(unique, fold_of, strict=True) if g != f]
        folds.append((train, test))
    return folds


def split_by_queries(
    dataset: LTRDataset, train_qids: Iterable[str], test_qids: Iterable[str]
) -> tuple[LTRDataset, LTRDataset]:
    """The rows of ``train_qids`` and of ``test_qids``, as two datasets (row order kept).

    Raises:
        ValueError: the two query sets overlap (a test query's labels would reach training).
    """
    train_set, test_set = set(train_qids), set(test_qids)
    overlap = train_set & test_set
    if overlap:
        raise ValueError(f"{len(overlap)} queries are both train and test, e.g. {sorted(overlap)[0]!r}")
    qids = np.asarray([str(q) for q in dataset.qids.tolist()], dtype=object)
    return _rows(dataset, np.isin(qids, list(train_set))), _rows(dataset, np.isin(qids, list(test_set)))


def _rows(ds: LTRDataset, keep: np.ndarray) -> LTRDataset:
    idx = np.flatnonzero(keep)
    return LTRDataset(
        ds.X[idx],
        ds.y[idx],
        ds.qids[idx],
        None if ds.docnos is None else ds.docnos[idx],
        feature_names=ds.feature_names,
        source=ds.source,
    )
