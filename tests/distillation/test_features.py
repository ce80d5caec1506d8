"""FeatureExtractor: hand-computed values, agreement with BM25, labels, dense feature, save/load, speed."""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path

import numpy as np
import pytest

from distillrank.data import Corpus, Qrels, Run
from distillrank.distillation.features import BASE_FEATURES, FeatureExtractor
from distillrank.retrieval.bm25 import BM25Retriever


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus(
        ["d1", "d2", "d3", "d4"],
        ["Neural ranking", "", "Cats", "Ranking cats"],
        [
            "neural networks rank documents for search",
            "dogs bark at neural cats",
            "cats purr softly while dogs sleep",
            "a survey of ranking models and neural search engines",
        ],
    )


@pytest.fixture(scope="module")
def fitted(corpus: Corpus) -> FeatureExtractor:
    return FeatureExtractor().fit(corpus)


RUN = Run({"q1": {"d1": 3.0, "d4": 2.5, "d2": 1.0}, "q2": {"d3": 2.0, "d2": 1.5}, "q3": {}})
QUERIES = {"q1": "neural ranking search", "q2": "sleeping cats", "q3": "nothing"}


def _col(ds, name: str) -> np.ndarray:
    assert ds.feature_names is not None
    return ds.dense()[:, ds.feature_names.index(name)]


def test_rows_names_and_order(fitted: FeatureExtractor) -> None:
    ds = fitted.transform(RUN, QUERIES)
    assert ds.feature_names == list(BASE_FEATURES)
    assert ds.X.shape == (5, len(BASE_FEATURES))
    assert ds.qids.tolist() == ["q1", "q1", "q1", "q2", "q2"]  # q3 has no candidates: no rows
    assert ds.docnos is not None and ds.docnos.tolist() == ["d1", "d4", "d2", "d3", "d2"]
    assert ds.group.tolist() == [3, 2]
    assert _col(ds, "run_rank").tolist() == [1, 2, 3, 1, 2]
    assert _col(ds, "run_score_gap").tolist() == [0.0, 0.5, 2.0, 0.0, 0.5]
    assert np.isfinite(ds.dense()).all()


def test_hand_computed_term_features(fitted: FeatureExtractor) -> None:
    ds = fitted.transform(RUN, QUERIES)
    n = 4
    idf = {
        t: math.log(1 + (n - df + 0.5) / (df + 0.5))
        for t, df in {"neural": 3, "rank": 2, "search": 2}.items()
    }
    # q1 = {neural, rank, search}; d1 = "Neural ranking" + "neural networks rank documents for search"
    d1 = 0
    assert _col(ds, "query_len")[d1] == 3
    assert _col(ds, "match_count")[d1] == 3 and _col(ds, "match_frac")[d1] == 1.0
    assert _col(ds, "tf_sum")[d1] == 5  # neural x2, rank x2, search x1
    assert _col(ds, "title_len")[d1] == 2
    assert _col(ds, "doc_len")[d1] == 2 + 5  # "for" is a stop word
    assert _col(ds, "idf_sum")[d1] == pytest.approx(sum(idf.values()))
    assert _col(ds, "idf_max")[d1] == pytest.approx(max(idf.values()))
    assert _col(ds, "idf_coverage")[d1] == pytest.approx(1.0)
    # bigrams of q1: (neural, rank), (rank, search); d1 contains "neural ranking" (title) only
    assert _col(ds, "bigram_match")[d1] == 1 and _col(ds, "bigram_frac")[d1] == 0.5
    # d2 for q1: only "neural"
    d2 = 2
    assert _col(ds, "match_count")[d2] == 1
    assert _col(ds, "idf_mean")[d2] == pytest.approx(idf["neural"])
    assert _col(ds, "bigram_match")[d2] == 0
    # q2 = "sleeping cats" -> {sleep, cat}: d3 ("Cats" + "cats purr softly while dogs sleep") has both
    d3 = 3
    assert _col(ds, "match_count")[d3] == 2
    assert _col(ds, "bm25_title")[d3] > 0 and _col(ds, "bm25_body")[d3] > 0


def test_unknown_query_terms_lower_coverage(fitted: FeatureExtractor) -> None:
    ds = fitted.transform(Run({"q": {"d1": 1.0}}), {"q": "neural zebra"})
    assert _col(ds, "query_len")[0] == 2
    assert _col(ds, "match_frac")[0] == 0.5
    assert 0 < _col(ds, "idf_coverage")[0] < 0.5  # the unseen term has the highest idf


def test_body_bm25_equals_bm25_retriever_without_titles() -> None:
    rng = np.random.default_rng(1)
    words = ["apple", "banana", "cherry", "date", "elder", "fig", "grape", "kiwi", "lemon", "mango"]
    texts = [" ".join(rng.choice(words, size=rng.integers(3, 25))) for _ in range(60)]
    corpus = Corpus([f"d{i}" for i in range(60)], [""] * 60, texts)
    queries = {f"q{i}": " ".join(rng.choice(words, size=3)) for i in range(10)}
    bm25 = BM25Retriever()
    bm25.index(corpus)
    run = bm25.search(queries, k=20)
    ds = FeatureExtractor().fit(corpus).transform(run, queries)
    np.testing.assert_allclose(_col(ds, "bm25_body"), _col(ds, "run_score"), rtol=1e-5)
    assert (_col(ds, "bm25_title") == 0).all()


def test_labels_from_qrels(fitted: FeatureExtractor) -> None:
    qrels = Qrels({"q1": {"d4": 2, "d2": -1}, "q2": {"d3": 1}})
    ds = fitted.transform(RUN, QUERIES, qrels)
    assert ds.y.tolist() == [0, 2, 0, 1, 0]  # unjudged 0, negative clipped to 0


def test_depth_cuts_candidates(fitted: FeatureExtractor) -> None:
    ds = fitted.transform(RUN, QUERIES, depth=1)
    assert ds.docnos is not None and ds.docnos.tolist() == ["d1", "d3"]


class HashEncoder:
    """A toy encoder: bag of characters, enough to check the cosine plumbing."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, bool]] = []

    def encode(self, texts, *, is_query: bool) -> np.ndarray:
        self.calls.append((len(texts), is_query))
        out = np.zeros((len(texts), 26))
        for i, t in enumerate(texts):
            for ch in t.lower():
                if "a" <= ch <= "z":
                    out[i, ord(ch) - 97] += 1
        return out


def test_dense_cosine_only_with_an_encoder(corpus: Corpus, fitted: FeatureExtractor) -> None:
    assert "dense_cos" not in fitted.feature_names
    enc = HashEncoder()
    fx = FeatureExtractor(encoder=enc).fit(corpus)
    ds = fx.transform(RUN, QUERIES)
    assert ds.feature_names is not None and ds.feature_names[-1] == "dense_cos"
    assert enc.calls == [(2, True), (4, False)]  # queries with candidates; distinct candidate documents
    q = enc.encode([QUERIES["q1"]], is_query=True)[0]
    d = enc.encode([corpus["d4"].full_text()], is_query=False)[0]
    assert _col(ds, "dense_cos")[1] == pytest.approx(q @ d / np.linalg.norm(q) / np.linalg.norm(d))


def test_save_load_round_trip(tmp_path: Path, corpus: Corpus, fitted: FeatureExtractor) -> None:
    fitted.save(tmp_path / "fx")
    loaded = FeatureExtractor.load(tmp_path / "fx")
    a, b = fitted.transform(RUN, QUERIES), loaded.transform(RUN, QUERIES)
    np.testing.assert_array_equal(a.dense(), b.dense())
    assert a.feature_names == b.feature_names
    dense = FeatureExtractor(encoder=HashEncoder()).fit(corpus)
    dense.save(tmp_path / "dense")
    with pytest.raises(ValueError, match="pass encoder= and corpus="):
        FeatureExtractor.load(tmp_path / "dense")
    again = FeatureExtractor.load(tmp_path / "dense", encoder=HashEncoder(), corpus=corpus)
    np.testing.assert_array_equal(
        again.transform(RUN, QUERIES).dense(), dense.transform(RUN, QUERIES).dense()
    )


def test_load_sorts_each_documents_term_entries(
    tmp_path: Path, corpus: Corpus, fitted: FeatureExtractor
) -> None:
    """The transform looks terms up in each document's sorted entries: a saved folder whose entries are
    in another order (written by other code) is sorted on load, not silently miscounted."""
    fitted.save(tmp_path / "fx")
    with np.load(tmp_path / "fx" / "features.npz") as z:
        arrays = {k: z[k] for k in z.files}
    for name in ("tf_title", "tf_body"):
        ptr, idx, data = arrays[f"{name}_indptr"], arrays[f"{name}_indices"], arrays[f"{name}_data"]
        for a, b in itertools.pairwise(ptr):  # each row's entries reversed
            idx[a:b], data[a:b] = idx[a:b][::-1].copy(), data[a:b][::-1].copy()
    assert (np.diff(arrays["tf_body_indptr"]) >= 2).any()  # so some row is out of order now
    np.savez(tmp_path / "fx" / "features.npz", **arrays)
    loaded = FeatureExtractor.load(tmp_path / "fx")
    np.testing.assert_array_equal(
        loaded.transform(RUN, QUERIES).dense(), fitted.transform(RUN, QUERIES).dense()
    )


def test_with_encoder_shares_the_fit(corpus: Corpus, fitted: FeatureExtractor) -> None:
    dense = fitted.with_encoder(HashEncoder())
    assert dense.feature_names == [*fitted.feature_names, "dense_cos"] and fitted.encoder is None
    assert dense._store is fitted._store  # statistics shared, not copied
    want = FeatureExtractor(encoder=HashEncoder()).fit(corpus).transform(RUN, QUERIES).dense()
    np.testing.assert_array_equal(dense.transform(RUN, QUERIES).dense(), want)
    np.testing.assert_array_equal(dense.with_encoder(None).transform(RUN, QUERIES).dense(), want[:, :-1])
    with pytest.raises(RuntimeError, match="not fitted"):
        FeatureExtractor().with_encoder(None)


def test_load_refuses_another_format_version(tmp_path: Path, fitted: FeatureExtractor) -> None:
    import json

    fitted.save(tmp_path / "fx")
    meta = json.loads((tmp_path / "fx" / "features.json").read_text())
    (tmp_path / "fx" / "features.json").write_text(json.dumps({**meta, "format_version": 1}))
    with pytest.raises(ValueError, match=r"format v1, this version reads v2 only .* fit the extractor"):
        FeatureExtractor.load(tmp_path / "fx")
    (tmp_path / "fx" / "features.json").write_text(json.dumps({**meta, "format": "other"}))
    with pytest.raises(ValueError, match="not a distillrank-features folder"):
        FeatureExtractor.load(tmp_path / "fx")


def test_documents_on_demand_give_the_same_features(
    tmp_path: Path, corpus: Corpus, fitted: FeatureExtractor
) -> None:
    lazy = FeatureExtractor(documents="on_demand").fit(corpus)
    assert "0 tokenised on demand" in repr(lazy)
    dense = lazy.with_encoder(HashEncoder())
    q1 = Run({"q1": RUN["q1"]})
    np.testing.assert_array_equal(lazy.transform(q1, QUERIES).dense(), fitted.transform(q1, QUERIES).dense())
    assert "3 tokenised on demand" in repr(dense)  # d1, d4, d2; the store is shared
    lazy.save(tmp_path / "lazy")
    loaded = FeatureExtractor.load(tmp_path / "lazy")
    assert loaded.documents == "on_demand"
    np.testing.assert_array_equal(
        loaded.transform(q1, QUERIES).dense(), fitted.transform(q1, QUERIES).dense()
    )
    with pytest.raises(KeyError, match=r"'d3' has no stored terms.*load it with corpus="):
        loaded.transform(RUN, QUERIES)
    shuffled = Corpus(corpus.docnos[::-1], corpus.titles[::-1], corpus.texts[::-1])
    with pytest.raises(ValueError, match="corpus= has other documents than the extractor was fitted on"):
        FeatureExtractor.load(tmp_path / "lazy", corpus=shuffled)
    again = FeatureExtractor.load(tmp_path / "lazy", corpus=corpus)
    np.testing.assert_array_equal(
        again.transform(RUN, QUERIES).dense(), fitted.transform(RUN, QUERIES).dense()
    )
    np.testing.assert_array_equal(
        dense.transform(RUN, QUERIES).dense()[:, :-1], fitted.transform(RUN, QUERIES).dense()
    )
    assert "4 tokenised on demand" in repr(lazy)
    with pytest.raises(ValueError, match="'all' or 'on_demand'"):
        FeatureExtractor(documents="some")


def test_large_batches_look_pairs_up_by_search(
    monkeypatch: pytest.MonkeyPatch, fitted: FeatureExtractor
) -> None:
    from distillrank.distillation import features

    want = fitted.transform(RUN, QUERIES).dense()
    monkeypatch.setattr(features._PairTable, "_DENSE_CELLS", 0)  # as when queries x terms is too large
    np.testing.assert_array_equal(fitted.transform(RUN, QUERIES).dense(), want)
    monkeypatch.setattr(features, "_SLOT_CELLS", 0)  # and documents x terms too large for a position table
    np.testing.assert_array_equal(fitted.transform(RUN, QUERIES).dense(), want)


@pytest.mark.parametrize("slot_cells", [1 << 23, 0])
@pytest.mark.parametrize(
    ("n_sorted", "n_keys", "universe"),
    [(0, 5, 10), (5, 0, 10), (50, 2000, 10_000), (3000, 500, 10_000), (40, 5000, 1 << 40)],
)
def test_find_agrees_with_a_set(
    monkeypatch: pytest.MonkeyPatch, slot_cells: int, n_sorted: int, n_keys: int, universe: int
) -> None:
    from distillrank.distillation import features

    monkeypatch.setattr(features, "_SLOT_CELLS", slot_cells)
    rng = np.random.default_rng(n_sorted + n_keys)
    sorted_keys = np.unique(rng.integers(0, universe, n_sorted))
    keys = np.concatenate(
        [
            rng.choice(sorted_keys, n_keys // 2) if n_sorted else [],
            rng.integers(0, universe, n_keys - n_keys // 2),
        ]
    )
    keys = rng.permutation(keys.astype(np.int64))
    found, pos = features._find(sorted_keys, keys, universe)
    want = np.flatnonzero(np.isin(keys, sorted_keys))
    np.testing.assert_array_equal(found, want)
    np.testing.assert_array_equal(sorted_keys[pos], keys[want])


def test_errors(fitted: FeatureExtractor) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        FeatureExtractor().transform(RUN, QUERIES)
    with pytest.raises(KeyError, match="'dx' is not in the fitted corpus"):
        fitted.transform(Run({"q1": {"dx": 1.0}}), QUERIES)
    with pytest.raises(KeyError, match="query 'q9' of the run has no text"):
        fitted.transform(Run({"q9": {"d1": 1.0}}), QUERIES)
    with pytest.raises(ValueError, match="empty corpus"):
        FeatureExtractor().fit(Corpus([], [], []))


@pytest.mark.data
def test_scifact_test_candidates_are_fast(shared_data: Path) -> None:
    from distillrank.data.catalogue import load_dataset

    coll = load_dataset("scifact", shared_data)
    queries = coll.queries_for("test")
    bm25 = BM25Retriever()
    bm25.index(coll.corpus)
    run = bm25.search(queries, k=100)
    fx = FeatureExtractor().fit(coll.corpus)
    start = time.perf_counter()
    ds = fx.transform(run, queries, coll.get_qrels("test"))
    elapsed = time.perf_counter() - start
    lazy = FeatureExtractor(documents="on_demand").fit(coll.corpus)
    np.testing.assert_array_equal(lazy.transform(run, queries).dense(), ds.dense())
    assert ds.n_rows == sum(len(v) for v in run.values()) and len(ds.query_ids) == 300
    assert elapsed < 10.0
    assert ds.y.sum() > 250  # most test judgements are in BM25's top 100


def _sparse_reference(fx: FeatureExtractor, run: Run, queries: dict[str, str]) -> dict[str, np.ndarray]:
    """The term features as sparse-matrix products over whole matrices (how they were first computed)."""
    import scipy.sparse as sp

    arrays, n_terms = fx._store.arrays, fx._n_terms
    pairs = [(q, d) for q in run for d, _ in run.ranked(q)]
    q_ids = sorted({q for q, _ in pairs})
    q_idx = np.array([q_ids.index(q) for q, _ in pairs])
    d_idx = np.array([fx._doc_index[d] for _, d in pairs])
    known = [
        [fx._analyzer.vocab[t] for t in fx._analyzer.terms(queries[q]) if t in fx._analyzer.vocab]
        for q in q_ids
    ]
    rows = np.repeat(np.arange(len(known)), [len(k) for k in known])
    qc = sp.csr_matrix((np.ones(len(rows)), (rows, np.concatenate(known))), shape=(len(known), n_terms))
    qc.sum_duplicates()
    qb = qc.copy()
    qb.data[:] = 1.0
    tf = (arrays.tf_title + arrays.tf_body).tocsr()[d_idx].multiply(qb[q_idx]).tocsr()
    tf.eliminate_zeros()
    idf = tf.copy()
    idf.data = fx._idf[idf.indices]

    def weights(m: sp.csr_matrix, lengths: np.ndarray, avg: float) -> sp.csr_matrix:
        w = m.astype(np.float64).tocsr()
        norm = fx.config.k1 * (1.0 - fx.config.b + fx.config.b * np.repeat(lengths, np.diff(w.indptr)) / avg)
        w.data = fx._idf[w.indices] * w.data / (w.data + norm)
        return w

    w_t = weights(arrays.tf_title, fx._title_len, fx._avg_title)[d_idx]
    w_b = weights(arrays.tf_body, fx._body_len, fx._avg_body)[d_idx]
    return {
        "match_count": np.diff(tf.indptr).astype(float),
        "tf_sum": np.asarray(tf.sum(axis=1)).ravel(),
        "idf_sum": np.asarray(idf.sum(axis=1)).ravel(),
        "bm25_title": np.asarray(w_t.multiply(qc[q_idx]).sum(axis=1)).ravel(),
        "bm25_body": np.asarray(w_b.multiply(qc[q_idx]).sum(axis=1)).ravel(),
    }


@pytest.mark.parametrize("search", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_term_features_equal_sparse_matrix_products_bit_for_bit(
    monkeypatch: pytest.MonkeyPatch, seed: int, search: bool
) -> None:
    from distillrank.distillation import features

    if search:  # the lookups of batches too large for tables
        monkeypatch.setattr(features, "_SLOT_CELLS", 0)
        monkeypatch.setattr(features._PairTable, "_DENSE_CELLS", 0)
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(40)]

    def text(n: int) -> str:
        return " ".join(rng.choice(words, size=n).tolist())

    n = 120
    corpus = Corpus(
        [f"d{i}" for i in range(n)],
        [text(int(rng.integers(0, 4))) for _ in range(n)],
        [text(int(rng.integers(0, 60))) for _ in range(n)],
    )
    queries = {f"q{i}": text(int(rng.integers(1, 12))) for i in range(25)}
    run = Run(
        {q: {f"d{j}": float(-r) for r, j in enumerate(rng.choice(n, 30, replace=False))} for q in queries}
    )
    filler = Corpus(
        [f"f{i}" for i in range(30)],
        [""] * 30,
        [" ".join(f"u{i}x{k}" for k in range(100)) for i in range(30)],
    )
    corpus = Corpus(corpus.docnos + filler.docnos, corpus.titles + filler.titles, corpus.texts + filler.texts)
    fx = FeatureExtractor().fit(corpus)  # 3,000 filler terms: few candidates are looked up by search
    ds = fx.transform(run, queries)
    for name, want in _sparse_reference(fx, run, queries).items():
        np.testing.assert_array_equal(_col(ds, name), want, err_msg=name)
    for q in list(queries)[:5]:
        one = Run({q: dict(list(run[q].items())[:5])})
        for name, want in _sparse_reference(fx, one, queries).items():
            np.testing.assert_array_equal(_col(fx.transform(one, queries), name), want, err_msg=name)
