"""Compiled top-k retrieval over bm25s's precomputed score matrix (numba, optional).

bm25s scores a query by summing the precomputed term-document scores of its terms; its own top-k step is
a heap over every document. Here the summing is the same (same order, so scores are bit-identical to
``bm25s.BM25.retrieve``) and the top-k step looks only at the documents the query's terms touch, finds
the k-th largest score's bucket with a histogram and sorts only what lies above it, which is what keeps
our search at bm25s's speed once results are turned into a :class:`~distillrank.data.run.Run`.
Without numba, :data:`retrieve_serial` is ``None`` and callers use bm25s's own retrieval.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import bm25s
import numpy as np

try:
    from tqdm.auto import tqdm as _tqdm
except ImportError:  # pragma: no cover - tqdm comes with bm25s's usual installs
    _tqdm = None

try:
    from numba import njit as _njit

    HAS_NUMBA = True
except ImportError:
    HAS_NUMBA = False

_HIST_BINS = 1024
_TOUCHED_MIN_DOCS = 50_000
"""Corpora from this size on select the top k among the documents a query touches (below, among all:
on SciFact's 5,183 documents the bookkeeping cost 20% of the search speed)."""
_CHUNK = 2048  # queries per call of the compiled loop when threads or a progress bar split the batch


def retrieve_compiled(
    bm25: bm25s.BM25, flat: np.ndarray, pointers: np.ndarray, k: int, n_threads: int, show_progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Run :func:`retrieve_serial` over the batch, in chunks spread over ``n_threads`` threads.

    The compiled loop releases the GIL, so plain threads run it in parallel; results do not depend on
    the number of threads.
    """
    kernel = retrieve_serial
    if kernel is None:
        raise RuntimeError("the compiled retrieval loop needs numba")
    nonocc = bm25.nonoccurrence_array
    args = (
        k,
        bm25.scores["data"],
        bm25.scores["indptr"],
        bm25.scores["indices"],
        int(bm25.scores["num_docs"]),
        nonocc is not None,
        nonocc if nonocc is not None else bm25.scores["data"][:0],
    )
    flat = flat.astype(np.int32)
    nq = len(pointers) - 1
    if n_threads == 1 and not show_progress:
        return kernel(flat, pointers, *args)
    size = min(_CHUNK, -(-nq // n_threads))
    bounds = [(a, min(a + size, nq)) for a in range(0, nq, size)]

    def run(bound: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        a, z = bound
        return kernel(flat[pointers[a] : pointers[z]], pointers[a : z + 1] - pointers[a], *args)

    with ThreadPoolExecutor(max_workers=max(1, n_threads)) as pool:
        parts = pool.map(run, bounds)
        if show_progress and _tqdm is not None:
            parts = _tqdm(parts, total=len(bounds), desc="BM25 search", unit="chunk")
        done = list(parts)
    return np.concatenate([p[0] for p in done]), np.concatenate([p[1] for p in done])


def _topk_heap(values: np.ndarray, ids: np.ndarray, m: int, k: int, hv: np.ndarray, hi: np.ndarray) -> None:
    """The ``k`` largest of ``values[:m]`` (with their ``ids``) into the min-heap ``hv``/``hi``."""
    for r in range(k):
        hv[r] = values[r]
        hi[r] = ids[r]
    _heapify(hv, hi, k)
    for r in range(k, m):
        if values[r] > hv[0]:
            _sift(hv, hi, k, 0, values[r], ids[r])


def _touched_heap(
    acc: np.ndarray, touched: np.ndarray, m: int, k: int, hv: np.ndarray, hi: np.ndarray
) -> bool:
    """The ``k`` largest of ``acc[touched[:m]]`` (with their document ids) into the min-heap ``hv``/``hi``;
    False, and the heap unusable, when one of them is negative (an untouched document's 0 would beat it)."""
    for r in range(k):
        d = touched[r]
        if acc[d] < 0:
            return False
        hv[r] = acc[d]
        hi[r] = d
    _heapify(hv, hi, k)
    for r in range(k, m):
        d = touched[r]
        v = acc[d]
        if v > hv[0]:
            _sift(hv, hi, k, 0, v, d)
        elif v < 0:
            return False
    return True


def _heapify(hv: np.ndarray, hi: np.ndarray, k: int) -> None:
    """Turn the first ``k`` entries of ``hv``/``hi`` into a min-heap on ``hv``."""
    for start in range((k - 2) // 2, -1, -1):
        _sift(hv, hi, k, start, hv[start], hi[start])


def _sift(hv: np.ndarray, hi: np.ndarray, length: int, pos: int, v: float, d: int) -> None:
    while True:
        c = 2 * pos + 1
        if c >= length:
            break
        if c + 1 < length and hv[c + 1] < hv[c]:
            c += 1
        if hv[c] < v:
            hv[pos] = hv[c]
            hi[pos] = hi[c]
            pos = c
        else:
            break
    hv[pos] = v
    hi[pos] = d


def _bin(v: float, lo: float, scale: float, nb: int) -> int:
    """Histogram bin of ``v``: ``floor((v - lo) * scale)`` kept inside ``[0, nb)`` (NaN goes to 0)."""
    x = (np.float64(v) - lo) * scale
    if x >= nb - 1:
        return nb - 1
    if x >= 0:
        return int(x)
    return 0


def select_topk(
    scores: np.ndarray,
    k: int,
    out_v: np.ndarray,
    out_i: np.ndarray,
    cand_v: np.ndarray,
    cand_i: np.ndarray,
    hist: np.ndarray,
) -> None:
    """Top ``k`` of ``scores`` into ``out_v``/``out_i``, best first (ties in any order).

    A histogram of the scores finds the bin holding the k-th largest; only the scores in that bin and
    above (usually little more than ``k``) are sorted. About twice as fast as a heap over a few thousand
    scores; :func:`retrieve_serial_py` hands it only the documents a query touches.
    """
    n = scores.shape[0]
    lo = scores[0]
    top = scores[0]
    for i in range(1, n):
        v = scores[i]
        if v < lo:
            lo = v
        elif v > top:
            top = v
    if not top > lo:  # all equal: any k will do
        for r in range(k):
            out_v[r] = scores[r]
            out_i[r] = r
        return
    nb = hist.shape[0]
    lo64 = np.float64(lo)
    scale = (nb - 1) / (np.float64(top) - lo64)  # in float64: no overflow for float32 scores
    hist[:] = 0
    for i in range(n):
        hist[_bin(scores[i], lo64, scale, nb)] += 1
    b = nb - 1
    count = hist[b]
    while count < k:
        b -= 1
        count += hist[b]
    m = 0
    for i in range(n):  # binning is monotone, so every score >= the k-th largest lands in bins >= b
        if _bin(scores[i], lo64, scale, nb) >= b:
            cand_v[m] = scores[i]
            cand_i[m] = i
            m += 1
    if m > 8 * k:  # many ties near the cut (e.g. fewer than k matching documents): heap first
        _topk_heap(cand_v, cand_i, m, k, out_v, out_i)
        for r in range(k):
            cand_v[r] = out_v[r]
            cand_i[r] = out_i[r]
        m = k
    order = np.argsort(-cand_v[:m])
    for r in range(k):
        out_v[r] = cand_v[order[r]]
        out_i[r] = cand_i[order[r]]


def retrieve_serial_py(
    flat: np.ndarray,
    pointers: np.ndarray,
    k: int,
    data: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    num_docs: int,
    has_nonocc: bool,
    nonocc: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and row indices of the top ``k`` documents of each query, shapes ``[n_queries, k]``.

    Scoring is bm25s's eager scoring, in the same order (so scores are bit-identical to
    ``BM25.retrieve``): the precomputed term-document scores of the query's terms, summed per document
    from the CSC matrix ``(data, indices, indptr)``, plus for BM25L/BM25+ the non-occurrence scores.

    From :data:`_TOUCHED_MIN_DOCS` documents on, the top ``k`` are chosen among the documents the
    query's terms touch when there are at least ``k`` of them and none scores below 0 (every other
    document scores 0): on a large corpus that is a small share of it, and selecting over every document
    cost 3x bm25s's whole search at 1M documents. Else, and for BM25L/BM25+ (every document gets the
    non-occurrence scores), over every document.
    """
    nq = pointers.shape[0] - 1
    out_s = np.zeros((nq, k), dtype=data.dtype)
    out_i = np.zeros((nq, k), dtype=np.int32)
    acc = np.zeros(num_docs, dtype=data.dtype)
    cand_v = np.empty(num_docs, dtype=data.dtype)
    cand_i = np.empty(num_docs, dtype=np.int32)
    hist = np.empty(_HIST_BINS, dtype=np.int64)
    track = num_docs >= _TOUCHED_MIN_DOCS  # a small corpus: queries touch much of it, bookkeeping costs more
    stamp = np.zeros(num_docs if track else 0, dtype=np.int64)  # q + 1 where query q touched the document
    touched = np.empty(num_docs if track else 0, dtype=np.int32)
    for q in range(nq):
        n_t = 0
        for t in range(pointers[q], pointers[q + 1]):
            tok = flat[t]
            for j in range(indptr[tok], indptr[tok + 1]):
                d = indices[j]
                if track and stamp[d] != q + 1:
                    stamp[d] = q + 1
                    touched[n_t] = d
                    n_t += 1
                acc[d] += data[j]
        # one pass of a k-heap over the touched documents (none below 0), then the k sorted
        if track and not has_nonocc and n_t >= k and _touched_heap(acc, touched, n_t, k, cand_v, cand_i):
            order = np.argsort(-cand_v[:k])
            for r in range(k):
                out_s[q, r] = cand_v[order[r]]
                out_i[q, r] = cand_i[order[r]]
            for r in range(n_t):
                acc[touched[r]] = 0
        else:
            if has_nonocc:
                acc += nonocc[flat[pointers[q] : pointers[q + 1]]].sum()
            select_topk(acc, k, out_s[q], out_i[q], cand_v, cand_i, hist)
            acc[:] = 0
    return out_s, out_i


retrieve_serial: Callable[..., tuple[np.ndarray, np.ndarray]] | None = None
if HAS_NUMBA:  # compiled, cached on disk; nogil so that threads run it in parallel
    _sift = _njit(nogil=True, cache=True)(_sift)
    _heapify = _njit(nogil=True, cache=True)(_heapify)
    _bin = _njit(nogil=True, cache=True, inline="always")(_bin)
    _topk_heap = _njit(nogil=True, cache=True)(_topk_heap)
    _touched_heap = _njit(nogil=True, cache=True)(_touched_heap)
    select_topk = _njit(nogil=True, cache=True)(select_topk)
    retrieve_serial = _njit(nogil=True, cache=True)(retrieve_serial_py)
