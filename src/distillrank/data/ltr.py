"""Feature-based learning-to-rank data: a feature matrix, graded labels and query groups."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from distillrank.errors import DataFormatError


@dataclass
class LTRDataset:
    """Rows of (query, document) features, grouped by query, rows of one query contiguous.

    Attributes:
        X: ``[n_rows, n_features]`` CSR matrix (svmlight data is sparse) or dense array.
        y: ``[n_rows]`` graded labels.
        qids: ``[n_rows]`` query id of each row (strings); rows of a query are contiguous.
        docnos: optional ``[n_rows]`` document ids (from ``#docid = ...`` comments, when present).
    """

    X: sp.csr_matrix | np.ndarray
    y: np.ndarray
    qids: np.ndarray
    docnos: np.ndarray | None = None
    feature_names: list[str] | None = None
    source: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n = self.X.shape[0]
        if len(self.y) != n or len(self.qids) != n:
            raise DataFormatError(
                self.source, None, f"{n} feature rows but {len(self.y)} labels, {len(self.qids)} qids"
            )
        if self.docnos is not None and len(self.docnos) != n:
            raise DataFormatError(self.source, None, "docnos and feature rows differ in length")
        # contiguity: each qid appears in exactly one block
        if n:
            change = np.flatnonzero(self.qids[1:] != self.qids[:-1]) + 1
            starts = np.concatenate([[0], change])
            block_ids = self.qids[starts]
            if len(set(block_ids.tolist())) != len(block_ids):
                seen: set[str] = set()
                for s, q in zip(starts, block_ids, strict=True):
                    if q in seen:
                        raise DataFormatError(
                            self.source,
                            int(s) + 1,
                            f"rows of query {q!r} are not contiguous (it appears again at row {s + 1})",
                        )
                    seen.add(q)

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def group(self) -> np.ndarray:
        """Rows per query in order (LightGBM's ``group`` / the ``.query`` file)."""
        if self.n_rows == 0:
            return np.zeros(0, dtype=np.int64)
        change = np.flatnonzero(self.qids[1:] != self.qids[:-1]) + 1
        bounds = np.concatenate([[0], change, [self.n_rows]])
        return np.diff(bounds).astype(np.int64)

    @property
    def query_ids(self) -> list[str]:
        """Distinct query ids in row order."""
        if self.n_rows == 0:
            return []
        change = np.flatnonzero(self.qids[1:] != self.qids[:-1]) + 1
        return self.qids[np.concatenate([[0], change])].tolist()

    def dense(self) -> np.ndarray:
        return self.X.toarray() if isinstance(self.X, sp.spmatrix | sp.sparray) else np.asarray(self.X)

    def __repr__(self) -> str:
        return f"LTRDataset({self.n_rows} rows, {len(self.query_ids)} queries, {self.n_features} features)"
