"""What the online loop learns from: candidates with features and graded relevance, and a first ranker.

:class:`OnlineData` holds the training queries' candidates (features, docnos, true grades — the grades
only drive the click simulator and the full-information baseline), the test queries' candidates and
qrels, and the initial ranker that serves the first round. :func:`load_online_data` builds it from any
catalogued dataset or path:

* a **text collection** (SciFact, ...): BM25 (Lucene defaults) retrieves ``depth`` candidates per query,
  :class:`~distillrank.distillation.features.FeatureExtractor` computes its 18 cheap features; the first
  round is served by BM25 itself; a collection with a single judged split (Vaswani, Cranfield) has a
  seeded 30% of its queries held out for test;
* an **LTR dataset** (the LightGBM lambdarank example, LETOR files, ...): its own features and query
  groups; the first round is served by a "production ranker", LambdaMART trained on the true labels of
  a small share (``initial_queries``) of the training queries — the protocol of Joachims et al. (2017)
  and Ai et al. (2018); a dataset without a test split (one svmlight file, or a folder of train and
  valid files) has a seeded 30% of its (training) queries held out for test. Rows without document ids
  get ``<qid>:<row within the query>``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from distillrank.data.collection import Qrels, TextCollection
from distillrank.data.dataset import SplitDataset
from distillrank.data.formats.trec import check_query_field
from distillrank.data.ltr import LTRDataset
from distillrank.data.run import Run
from distillrank.distillation.folds import split_by_queries
from distillrank.errors import DataFormatError, DataWarning, DistillrankError

__all__ = [
    "OnlineData",
    "hold_out_queries",
    "load_online_data",
    "online_data_from_ltr",
    "online_data_from_text",
]


@dataclass
class OnlineData:
    """Candidates of the training and test queries, and the ranker that serves the first round.

    Attributes:
        name: the dataset's name.
        train: features of every training candidate, rows of a query contiguous, with ``docnos`` and the
            true grades in ``y``.
        test: the same for the test queries.
        test_qrels: graded judgements of the test queries.
        max_grade: the top of the grade scale (``y_max`` of the click simulator).
        initial_train, initial_test: the first ranker's scores of the rows (higher is better), when it
            is not a model (BM25's scores for a text collection).
        initial_model: the first ranker as a LightGBM booster (the production ranker), when it is one.
        initial_name: how reports call the first ranker.
        held_out: how the test queries were drawn, when the source had no train/test split of its own
            (e.g. "28 of the 93 judged queries of 'test', seed 0").
    """

    name: str
    train: LTRDataset
    test: LTRDataset
    test_qrels: Qrels
    max_grade: float
    initial_train: np.ndarray | None = None
    initial_test: np.ndarray | None = None
    initial_model: lgb.Booster | None = None
    initial_name: str = "initial ranker"
    held_out: str | None = None

    def __post_init__(self) -> None:
        for split, ds in (("train", self.train), ("test", self.test)):
            if ds.docnos is None:
                raise ValueError(f"the {split} candidates need docnos")
            if ds.n_rows == 0:
                raise ValueError(f"the {split} split has no candidates")
        if (self.initial_train is None) == (self.initial_model is None):
            raise ValueError("give the initial ranker either as scores or as a model, not both or neither")
        if not self.max_grade > 0:
            raise ValueError(f"max_grade must be > 0, got {self.max_grade}")

    def initial_scores(self, split: str) -> np.ndarray:
        """The first ranker's scores of the ``train`` or ``test`` rows."""
        ds = self.train if split == "train" else self.test
        if self.initial_model is not None:
            return np.asarray(self.initial_model.predict(ds.X), dtype=np.float64)
        scores = self.initial_train if split == "train" else self.initial_test
        assert scores is not None
        return scores

    def __repr__(self) -> str:
        return (
            f"OnlineData({self.name!r}, train {self.train.n_rows} candidates of "
            f"{len(self.train.query_ids)} queries, test {self.test.n_rows} of {len(self.test.query_ids)}, "
            f"first ranker: {self.initial_name}"
            + (f"; test queries held out: {self.held_out})" if self.held_out else ")")
        )


def _with_docnos(ds: LTRDataset) -> LTRDataset:
    if ds.docnos is not None:
        return ds
    group = ds.group
    within = np.arange(ds.n_rows) - np.repeat(np.concatenate([[0], np.cumsum(group)[:-1]]), group)
    docnos = np.asarray([f"{q}:{i}" for q, i in zip(ds.qids.tolist(), within.tolist(), strict=True)])
    return LTRDataset(ds.X, ds.y, ds.qids, docnos.astype(object), ds.feature_names, ds.source)


def _qrels_of(ds: LTRDataset) -> Qrels:
    assert ds.docnos is not None
    out: dict[str, dict[str, int]] = {}
    for q, d, y in zip(ds.qids.tolist(), ds.docnos.tolist(), ds.y.tolist(), strict=True):
        out.setdefault(str(q), {})[str(d)] = round(y)
    return Qrels(out)


def online_data_from_ltr(
    data: SplitDataset[LTRDataset],
    *,
    initial_queries: float = 0.05,
    initial_rounds: int = 50,
    seed: int = 0,
    name: str | None = None,
    test_fraction: float = 0.3,
) -> OnlineData:
    """From an LTR dataset with ``train`` and ``test`` splits (see the module docstring).

    A dataset without a test split — a single split (one svmlight file, say), or ``train`` with or
    without ``valid`` (a folder without a test file) — has a seeded random ``test_fraction`` of its
    training queries (of its only split's) held out for test, as :func:`online_data_from_text` does
    (:attr:`OnlineData.held_out`); a ``valid`` split stays out of both.

    Raises:
        DistillrankError: no ``train`` split (of two or more), or ``initial_queries`` is not in ``(0, 1]``.
        DataFormatError: the training or the test queries have no document with a positive label (the
            simulated users would click noise only, or there would be nothing to evaluate).
    """
    held_out: str | None = None
    if "train" in data and "test" in data:
        train, test = data["train"], data["test"]
    elif "train" in data or len(data.splits) == 1:
        split = "train" if "train" in data else next(iter(data.splits))
        whole = data[split]
        train_ids, test_ids = hold_out_queries([str(q) for q in whole.query_ids], test_fraction, seed)
        train, test = split_by_queries(whole, train_ids, test_ids)
        where = next((Path(s).name for s in (whole.source, data.source) if s), repr(split))
        held_out = f"{len(test_ids)} of the {len(train_ids) + len(test_ids)} queries of {where}, seed {seed}"
    else:
        raise DistillrankError(f"dataset {data.name!r} has no 'train' split (it has {list(data.splits)})")
    if not 0 < initial_queries <= 1:
        raise DistillrankError(f"initial_queries must be in (0, 1], got {initial_queries}")
    for part, role in ((train, "training"), (test, "held-out test" if held_out else "test")):
        _require_positive_labels(part, role, data.source)
        _require_whole_grades(part, role, data.source)
    train, test = _with_docnos(train), _with_docnos(test)
    qids = train.query_ids
    rng = np.random.default_rng(seed)
    n_init = max(2, round(initial_queries * len(qids)))
    chosen = set(rng.choice(len(qids), size=min(n_init, len(qids)), replace=False).tolist())
    keep_q = {q for i, q in enumerate(qids) if i in chosen}
    labelled, _ = split_by_queries(train, keep_q, [])
    params = {
        "objective": "lambdarank",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_data_in_leaf": 5,
        "seed": seed,
        "num_threads": 1,
        "verbose": -1,
    }
    booster = lgb.train(
        params,
        lgb.Dataset(labelled.X, label=np.clip(labelled.y, 0, None), group=labelled.group),
        num_boost_round=initial_rounds,
    )
    max_grade = float(max(train.y.max(), test.y.max()))
    return OnlineData(
        name or data.name,
        train,
        test,
        _qrels_of(test),
        max_grade,
        initial_model=booster,
        initial_name=f"LambdaMART on the labels of {len(keep_q)} training queries",
        held_out=held_out,
    )


def _require_positive_labels(part: LTRDataset, role: str, source: str | None) -> None:
    """Refuse ``part`` (the ``role`` queries of an LTR dataset) when no row has a label above 0: the
    simulator's grade scale would be empty (training) or every query's nDCG undefined (test).

    Raises:
        DataFormatError: naming the file, the labels found and what they are needed for.
    """
    if part.n_rows and (part.y > 0).any():
        return
    found = "no rows" if not part.n_rows else f"labels {float(part.y.min()):g}..{float(part.y.max()):g}"
    need = (
        "simulated users would click noise only"
        if role == "training"
        else "nDCG@10 has no relevant document to find"
    )
    raise DataFormatError(
        part.source or source,
        None,
        f"no document of the {role} queries has a relevance label above 0 ({found}): {need}; "
        "online simulate needs graded or binary labels (0 = not relevant)",
    )


MAX_GRADE = 30
"""LightGBM's lambdarank gains (``2^y - 1``) are tabulated for whole labels 0..30."""


def _require_whole_grades(part: LTRDataset, role: str, source: str | None) -> None:
    """Refuse labels that are not whole grades 0..:data:`MAX_GRADE` (LambdaMART's gain table, and the
    simulator's ``2^y - 1``), naming the file and the first such label.

    Raises:
        DataFormatError: a fractional, negative or too large label.
    """
    y = np.asarray(part.y, dtype=np.float64)
    bad = (y != np.round(y)) | (y < 0) | (y > MAX_GRADE)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise DataFormatError(
            part.source or source,
            None,
            f"row {r + 1} of the {role} queries has label {y[r]:g}: online simulate needs whole relevance "
            f"grades 0..{MAX_GRADE} ({int(bad.sum()):,} rows have other labels)",
        )


def hold_out_queries(qids: list[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """``(train, test)``: a seeded random ``fraction`` of ``qids`` (at least one, and at least one left
    for training) as test queries, both lists sorted.

    >>> hold_out_queries(["a", "b", "c", "d"], 0.25, seed=0)[1]
    ['c']

    Raises:
        DistillrankError: fewer than 2 queries, or ``fraction`` not in ``(0, 1)``.
    """
    if not 0 < fraction < 1:
        raise DistillrankError(f"the held-out fraction must be in (0, 1), got {fraction}")
    if len(qids) < 2:
        raise DistillrankError(f"holding out test queries needs at least 2 judged queries, found {len(qids)}")
    order = np.random.default_rng(seed).permutation(len(qids))
    n_test = min(max(1, round(fraction * len(qids))), len(qids) - 1)
    test = {qids[i] for i in order[:n_test]}
    return sorted(q for q in qids if q not in test), sorted(test)


def online_data_from_text(
    collection: TextCollection,
    *,
    depth: int = 100,
    train_split: str = "train",
    test_split: str = "test",
    test_fraction: float = 0.3,
    seed: int = 0,
) -> OnlineData:
    """From a text collection: BM25 top-``depth`` candidates with cheap features (module docstring).

    A collection without a ``train_split`` but with one judged split (Vaswani, Cranfield, most TREC
    test collections) has a seeded random ``test_fraction`` of that split's judged queries held out for
    test; the clicks come from the others (:attr:`OnlineData.held_out` says so).

    Raises:
        DistillrankError: neither both splits nor a single one to hold queries out of.
    """
    from distillrank.distillation.features import FeatureExtractor
    from distillrank.retrieval.bm25 import BM25Retriever

    held_out: str | None = None
    if train_split in collection.qrels and test_split in collection.qrels:
        train_q, test_q = collection.queries_for(train_split), collection.queries_for(test_split)
        train_qrels, test_qrels = collection.get_qrels(train_split), collection.get_qrels(test_split)
    elif train_split not in collection.qrels and len(collection.splits) == 1:
        (only,) = collection.splits
        queries, qrels = collection.queries_for(only), collection.get_qrels(only)
        judged = sorted(q for q in qrels if q in queries)
        train_ids, test_ids = hold_out_queries(judged, test_fraction, seed)
        train_q, test_q = queries.subset(train_ids), queries.subset(test_ids)
        train_qrels, test_qrels = qrels.subset(train_ids), qrels.subset(test_ids)
        held_out = f"{len(test_ids)} of the {len(judged)} judged queries of {only!r}, seed {seed}"
    else:
        raise DistillrankError(
            f"collection {collection.name!r} needs {train_split!r} and {test_split!r} qrels, or a single "
            f"judged split to hold test queries out of (it has {collection.splits})"
        )
    for qrels, role in ((train_qrels, "training"), (test_qrels, "test")):
        if not any(g > 0 for v in qrels.values() for g in v.values()):
            raise DataFormatError(
                collection.name,
                None,
                f"no judgement of the {role} queries is above 0: "
                + (
                    "simulated users would click noise only"
                    if role == "training"
                    else "nDCG@10 has no relevant document to find"
                )
                + "; online simulate needs graded or binary judgements (0 = not relevant)",
            )
    bm25 = BM25Retriever()
    bm25.index(collection.corpus)
    runs: dict[str, Run] = {"train": bm25.search(train_q, k=depth), "test": bm25.search(test_q, k=depth)}
    fx = FeatureExtractor().fit(collection.corpus)
    train = fx.transform(runs["train"], train_q, train_qrels)
    test = fx.transform(runs["test"], test_q, test_qrels)
    score = train.feature_names.index("run_score") if train.feature_names else 0
    grades = [g for qrels in (train_qrels, test_qrels) for v in qrels.values() for g in v.values()]
    return OnlineData(
        collection.name,
        train,
        test,
        test_qrels,
        float(max(max(grades, default=1), 1)),
        initial_train=np.asarray(train.dense()[:, score], dtype=np.float64),
        initial_test=np.asarray(test.dense()[:, score], dtype=np.float64),
        initial_name=f"BM25 (top {depth})",
        held_out=held_out,
    )


def _warn_unjudged_test_queries(data: OnlineData) -> OnlineData:
    """One DataWarning for test queries without a relevant document (every judgement 0): their nDCG@10
    is 0 for every ranker, which lowers every curve alike."""
    y = np.asarray(data.test.y, dtype=np.float64)
    best = pd.Series(y).groupby(np.asarray(data.test.qids).astype(str)).max()
    none = best.index[best.to_numpy() <= 0]
    if len(none):
        warnings.warn(
            f"{data.name}: {len(none):,} of the {len(best):,} test queries have no relevant candidate "
            f"(first: {none[0]!r}): their nDCG@10 is 0 for every ranker",
            DataWarning,
            stacklevel=3,
        )
    return data


def load_online_data(
    dataset: str | Path,
    data_dir: str | Path | None = None,
    *,
    depth: int = 100,
    initial_queries: float = 0.05,
    seed: int = 0,
    query_field: str | None = None,
) -> OnlineData:
    """:func:`online_data_from_text` or :func:`online_data_from_ltr` for a catalogue name or a path.

    ``query_field``: the TREC topic field(s) that are a text collection's query text (``None``: title;
    :func:`~distillrank.data.catalogue.load_dataset`); any other than title is named with the data
    (``"robust04 (desc queries)"``), which keys the loop's checkpoints
    (:meth:`~distillrank.feedback.online.config.OnlineConfig.fingerprint`): a run with other queries never
    resumes one with title queries.

    Raises:
        DistillrankError: the dataset is neither a text collection nor an LTR dataset, or lacks splits.
    """
    from distillrank.data.catalogue import load_dataset

    loaded = load_dataset(dataset, data_dir, query_field=query_field)  # its DataWarnings reach the user
    if isinstance(loaded, TextCollection):
        data = online_data_from_text(loaded, depth=depth, seed=seed)
        field = check_query_field(query_field or "title")
        if field != "title":
            data.name = f"{data.name} ({field} queries)"
        return _warn_unjudged_test_queries(data)
    if (
        isinstance(loaded, SplitDataset)
        and loaded.splits
        and all(isinstance(v, LTRDataset) for v in loaded.splits.values())
    ):
        return _warn_unjudged_test_queries(
            online_data_from_ltr(loaded, initial_queries=initial_queries, seed=seed)
        )
    raise DistillrankError(
        f"{dataset!r} is neither a text collection with qrels nor an LTR dataset: clicks can only be "
        "simulated over graded relevance (use `distillrank online learn` for a real click log)"
    )
