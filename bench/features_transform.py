"""Benchmark: cheap-feature transform latency, ours (array gathers) vs sparse-matrix products, same values.

Run:  python bench/features_transform.py [--repeats 5] [--data-dir ../shared/data]

The LightGBM students' serving path computes the cheap features of one query's candidates per request,
so the transform's per-call cost is part of their latency. ``ours`` is
``FeatureExtractor.transform``: the candidate documents' entries for the query's terms gathered from the
per-field count rows and matched against the query with array operations. ``sparse`` is how it was
computed before (kept here as the reference): about 36 scipy sparse-matrix constructions and products
per call (``SparseFeatureExtractor`` below, the earlier methods verbatim). Both use one fit of SciFact.

Measured on SciFact's 300 test queries with their BM25 candidates at depth 20 (the main job's re-rank
depth) and 100: the mean time of one query's transform (calls interleaved, best of ``--repeats``
rounds), and one transform of all 300 queries at once (a training set). Every feature value must be
equal bit for bit (checked, recorded). One thread. Writes bench/results/features_transform.json.
"""

# ruff: noqa: E402  (the thread variables must be set before numpy is imported)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import itertools
import warnings

import numpy as np
import scipy.sparse as sp

from _common import RESULTS, data_dir, machine_info, provenance, time_interleaved, write_json
from distillrank.data import Run
from distillrank.distillation.features import FeatureExtractor, _safe_div
from distillrank.retrieval.bm25 import BM25Config

DEPTHS = (20, 100)


class SparseFeatureExtractor(FeatureExtractor):
    """The transform as sparse-matrix products (the reference; fitted statistics shared)."""

    def _pair_features(
        self, q_idx: np.ndarray, d_idx: np.ndarray, texts: list[str], scores: np.ndarray, ranks: np.ndarray
    ) -> dict[str, np.ndarray]:
        n_terms, n_q = self._n_terms, len(texts)
        vocab_map = self._analyzer.vocab
        terms = [self._analyzer.terms(t) for t in texts]
        query_ids = [[vocab_map.get(t, -1) for t in ts] for ts in terms]
        known = [[i for i in ids if i >= 0] for ids in query_ids]
        q_len = np.array([len(ts) for ts in terms], dtype=np.float64)
        n_distinct = np.array([len(set(ts)) for ts in terms], dtype=np.float64)
        n_unknown = np.array([len({t for t in ts if t not in vocab_map}) for ts in terms], dtype=np.float64)
        q_counts = _tf_matrix(known, n_terms)
        q_bin = q_counts.copy()
        q_bin.data[:] = 1.0
        idf_total = np.asarray(q_bin @ self._idf).ravel() + self._idf_unknown * n_unknown
        # gather the distinct candidate documents' rows first (cheap on CSR), then keep only the queries'
        # terms: slicing columns of the whole corpus matrix would cost O(corpus) per call
        vocab = np.unique(q_counts.indices)
        docs, d_pos = np.unique(d_idx, return_inverse=True)
        qc = q_counts[:, vocab].tocsr()[q_idx]
        qb = q_bin[:, vocab].tocsr()[q_idx]
        rows = self._rows(docs)
        arrays = self._store.arrays
        tf_title = arrays.tf_title[rows][:, vocab]
        tf_body = arrays.tf_body[rows][:, vocab]
        pair_tf = (tf_title + tf_body).tocsr()[d_pos].multiply(qb).tocsr()
        pair_tf.eliminate_zeros()
        match_count = np.diff(pair_tf.indptr).astype(np.float64)
        tf_sum = np.asarray(pair_tf.sum(axis=1)).ravel()
        matched_idf = pair_tf.copy()
        matched_idf.data = self._idf[vocab][matched_idf.indices]
        idf_sum = np.asarray(matched_idf.sum(axis=1)).ravel()
        idf_max = _row_max(matched_idf)
        top = np.full(n_q, -np.inf)
        np.maximum.at(top, q_idx, scores)
        doc_len = self._doc_len[d_idx]
        cols: dict[str, np.ndarray] = {
            "run_score": scores,
            "run_rank": ranks,
            "run_score_gap": top[q_idx] - scores,
            "query_len": q_len[q_idx],
            "doc_len": doc_len,
            "title_len": self._title_len[d_idx],
            "match_count": match_count,
            "match_frac": _safe_div(match_count, n_distinct[q_idx]),
            "tf_sum": tf_sum,
            "tf_density": _safe_div(tf_sum, doc_len),
            "idf_sum": idf_sum,
            "idf_max": idf_max,
            "idf_mean": _safe_div(idf_sum, match_count),
            "idf_coverage": _safe_div(idf_sum, idf_total[q_idx]),
        }
        if self.field_bm25:
            w_title = _csr_bm25_weights(
                tf_title, self._title_len[docs], self._avg_title, self._idf[vocab], self.config
            )
            w_body = _csr_bm25_weights(
                tf_body, self._body_len[docs], self._avg_body, self._idf[vocab], self.config
            )
            cols["bm25_title"] = _row_dot(w_title[d_pos], qc)
            cols["bm25_body"] = _row_dot(w_body[d_pos], qc)
        cols["bigram_match"], cols["bigram_frac"] = self._bigram_features(terms, query_ids, q_idx, d_idx)
        return cols

    def _bigram_features(
        self, terms: list[list[str]], query_ids: list[list[int]], q_idx: np.ndarray, d_idx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distinct query bigrams found in each candidate, and their fraction of the query's bigrams."""
        n_q = len(terms)
        n_bigrams = np.array([len(set(itertools.pairwise(ts))) for ts in terms], dtype=np.float64)
        q_codes = [_bigram_codes(ids, self._n_terms) for ids in query_ids]
        all_codes = np.unique(np.concatenate(q_codes)) if n_q else np.zeros(0, dtype=np.int64)
        if all_codes.size == 0:
            zero = np.zeros(len(q_idx))
            return zero, zero
        # query x bigram and candidate-document x bigram incidence, over the queries' bigrams only
        q_rows = np.repeat(np.arange(n_q), [len(c) for c in q_codes])
        q_cols = np.searchsorted(all_codes, np.concatenate(q_codes))
        q_mat = sp.csr_matrix((np.ones(len(q_cols)), (q_rows, q_cols)), shape=(n_q, len(all_codes)))
        docs, d_pos = np.unique(d_idx, return_inverse=True)
        rows = self._rows(docs)
        ptr = self._store.arrays.bigram_ptr
        starts, ends = ptr[rows], ptr[rows + 1]
        lengths = ends - starts
        flat = np.repeat(starts - np.cumsum(np.concatenate([[0], lengths[:-1]])), lengths) + np.arange(
            int(lengths.sum())
        )
        codes = self._store.arrays.bigrams[flat]
        rows = np.repeat(np.arange(len(docs)), lengths)
        pos = np.searchsorted(all_codes, codes).clip(max=len(all_codes) - 1)
        hit = all_codes[pos] == codes
        d_mat = sp.csr_matrix(
            (np.ones(int(hit.sum())), (rows[hit], pos[hit])), shape=(len(docs), len(all_codes))
        )
        match = _row_dot(d_mat[d_pos], q_mat[q_idx])
        return match, _safe_div(match, n_bigrams[q_idx])


def _bigram_codes(ids: list[int], n_terms: int) -> np.ndarray:
    """Sorted distinct codes ``a * n_terms + b`` of adjacent known term pairs ``(a, b)``."""
    if len(ids) < 2:
        return np.zeros(0, dtype=np.int64)
    arr = np.asarray(ids, dtype=np.int64)
    a, b = arr[:-1], arr[1:]
    ok = (a >= 0) & (b >= 0)
    return np.unique(a[ok] * n_terms + b[ok])


def _tf_matrix(ids: list[list[int]], n_terms: int) -> sp.csr_matrix:
    """``[len(ids), n_terms]`` term counts (duplicates summed)."""
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    cols = np.fromiter((i for row in ids for i in row), dtype=np.int64, count=int(lengths.sum()))
    rows = np.repeat(np.arange(len(ids)), lengths)
    m = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(ids), n_terms))
    m.sum_duplicates()
    return m


def _csr_bm25_weights(
    tf: sp.csr_matrix, lengths: np.ndarray, avg: float, idf: np.ndarray, config: BM25Config
) -> sp.csr_matrix:
    """``idf(t) * tf / (tf + k1 (1 - b + b |d| / avgdl))`` for every stored (document, term) entry of the
    rows ``tf`` (documents of lengths ``lengths``, columns of IDF ``idf``)."""
    w = tf.tocsr().astype(np.float64)
    row_len = np.repeat(lengths, np.diff(w.indptr))
    norm = config.k1 * (1.0 - config.b + config.b * row_len / avg)
    w.data = idf[w.indices] * w.data / (w.data + norm)
    return w


def _row_dot(a: sp.csr_matrix, b: sp.csr_matrix) -> np.ndarray:
    """Row-wise dot products of two sparse matrices of the same shape."""
    return np.asarray(a.multiply(b).sum(axis=1)).ravel()


def _row_max(m: sp.csr_matrix) -> np.ndarray:
    """Largest stored value of each row (0 for an empty row); values are non-negative."""
    out = np.zeros(m.shape[0])
    counts = np.diff(m.indptr)
    nonempty = counts > 0
    if nonempty.any():
        out[nonempty] = np.maximum.reduceat(m.data, m.indptr[:-1][nonempty])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--output", default=str(RESULTS / "features_transform.json"))
    args = ap.parse_args()

    from distillrank.data.catalogue import load_dataset
    from distillrank.retrieval import BM25Retriever

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coll = load_dataset("scifact", data_dir(args.data_dir))
    queries = coll.queries_for("test")
    bm25 = BM25Retriever()
    bm25.index(coll.corpus)
    ours = FeatureExtractor().fit(coll.corpus)
    sparse = SparseFeatureExtractor()
    sparse.__dict__.update(ours.__dict__)  # the same fit
    results: dict[str, dict] = {}
    equal = True
    for depth in DEPTHS:
        run = bm25.search(queries, k=depth)
        singles = [Run.from_trusted({q: run[q]}) for q in run]
        a, b = ours.transform(run, queries).dense(), sparse.transform(run, queries).dense()
        equal = equal and bool(np.array_equal(a, b))
        for one in singles:
            equal = equal and bool(
                np.array_equal(ours.transform(one, queries).dense(), sparse.transform(one, queries).dense())
            )

        def per_query(fx: FeatureExtractor, singles: list[Run] = singles) -> None:
            for one in singles:
                fx.transform(one, queries)

        def batch(fx: FeatureExtractor, run: Run = run) -> None:
            fx.transform(run, queries)

        times = time_interleaved(
            {
                "ours_per_query": lambda: per_query(ours),
                "sparse_per_query": lambda: per_query(sparse),
                "ours_batch": lambda: batch(ours),
                "sparse_batch": lambda: batch(sparse),
            },
            args.repeats,
        )
        best = {k: min(v) for k, v in times.items()}
        n = len(singles)
        results[f"depth_{depth}"] = {
            "queries": n,
            "pairs": int(sum(len(run[q]) for q in run)),
            "per_query_ms": {s: 1000 * best[f"{s}_per_query"] / n for s in ("ours", "sparse")},
            "batch_s": {s: best[f"{s}_batch"] for s in ("ours", "sparse")},
            "per_query_speedup_ours_over_sparse": best["sparse_per_query"] / best["ours_per_query"],
            "batch_speedup_ours_over_sparse": best["sparse_batch"] / best["ours_batch"],
            "times_s": times,
        }
        print(depth, {k: v for k, v in results[f"depth_{depth}"].items() if k != "times_s"}, flush=True)
    payload = {
        "benchmark": "features_transform",
        "corpus": "beir/scifact",
        "repeats": args.repeats,
        "results": results,
        "values_equal": equal,
        "machine": machine_info(),
        "provenance": provenance("src", "bench/features_transform.py"),
    }
    write_json(args.output, payload)
    print(f"values equal: {equal}; wrote {args.output}")


if __name__ == "__main__":
    main()
