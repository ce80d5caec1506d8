"""Parquet files for every distillrank data type, round-tripping exactly.

The kind of object is recorded in the Parquet schema metadata (key ``distillrank``, a JSON object with
``kind`` and ``format_version``), so :func:`read_parquet` returns what :func:`write_parquet` was given:

=============== ==================================================================================
kind            table
=============== ==================================================================================
``run``         ``qid, docno, score, rank`` (:meth:`Run.to_dataframe`); the run's name in metadata
``qrels``       ``qid, docno, label``
``corpus``      ``docno, title, text``
``queries``     ``qid, query``
``ltr``         one row per feature row: ``qid, label[, docno]`` and the features as list columns,
                ``feature_index``/``feature_value`` (the CSR row, explicit zeros and all) for a
                sparse ``X`` or ``features`` (the full row) for a dense one; width, feature names
                and the matrix kind in metadata
``interactions`` the interaction table as it is
``clicklog``    the click-log long table as it is (``propensity`` may be left out: NaN, unknown), checked
                as :mod:`~distillrank.data.formats.clicktable` checks a table (0-based positions too)
=============== ==================================================================================

Queries with no documents (possible in a run or qrels) are kept through the metadata too. Files from
elsewhere can be read by naming the kind: ``read_parquet(path, kind="run")``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from distillrank.data.clicklog import ClickLog
from distillrank.data.collection import Corpus, Qrels, Queries
from distillrank.data.interactions import Interactions
from distillrank.data.ltr import LTRDataset
from distillrank.data.run import Run
from distillrank.errors import DataFormatError
from distillrank.io import atomic_write

__all__ = ["KINDS", "read_parquet", "write_parquet"]

META_KEY = b"distillrank"
FORMAT_VERSION = 1
KINDS = ("run", "qrels", "corpus", "queries", "ltr", "interactions", "clicklog")

Storable = Run | Qrels | Corpus | Queries | LTRDataset | Interactions | ClickLog


def _from_pandas(df: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(df, preserve_index=False)


def _list_array(offsets: np.ndarray, values: pa.Array) -> pa.Array:
    if int(offsets[-1]) < 2**31 - 1:
        return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)
    return pa.LargeListArray.from_arrays(pa.array(offsets.astype(np.int64)), values)


def _ltr_table(ds: LTRDataset) -> tuple[pa.Table, dict[str, Any]]:
    cols: dict[str, pa.Array] = {
        "qid": pa.array([str(q) for q in ds.qids], type=pa.string()),
        "label": pa.array(np.asarray(ds.y)),
    }
    if ds.docnos is not None:
        cols["docno"] = pa.array([str(d) for d in ds.docnos], type=pa.string())
    meta: dict[str, Any] = {
        "n_features": ds.n_features,
        "feature_names": ds.feature_names,
        "has_docnos": ds.docnos is not None,
    }
    if sp.issparse(ds.X):
        X = sp.csr_matrix(ds.X)
        meta["x_format"] = "csr"
        meta["index_dtype"] = str(X.indices.dtype)
        cols["feature_index"] = _list_array(X.indptr, pa.array(X.indices))
        cols["feature_value"] = _list_array(X.indptr, pa.array(X.data))
    else:
        X = np.asarray(ds.X)
        meta["x_format"] = "dense"
        offsets = np.arange(X.shape[0] + 1, dtype=np.int64) * X.shape[1]
        cols["features"] = _list_array(offsets, pa.array(np.ascontiguousarray(X).reshape(-1)))
    return pa.table(cols), meta


def write_parquet(obj: Storable, path: str | Path) -> None:
    """Write a Run, Qrels, Corpus, Queries, LTRDataset, Interactions or ClickLog to Parquet, atomically."""
    meta: dict[str, Any]
    if isinstance(obj, Run):
        meta = {"kind": "run", "name": obj.name}
        table = _from_pandas(obj.to_dataframe())
        if any(len(obj[q]) == 0 for q in obj):
            meta["qid_order"] = list(obj)
    elif isinstance(obj, Qrels):
        meta = {"kind": "qrels"}
        table = _from_pandas(obj.to_dataframe().astype({"label": np.int64}))
        if any(len(obj[q]) == 0 for q in obj):
            meta["qid_order"] = list(obj)
    elif isinstance(obj, Corpus):
        meta = {"kind": "corpus"}
        table = _from_pandas(obj.to_dataframe())
    elif isinstance(obj, Queries):
        meta = {"kind": "queries"}
        table = _from_pandas(obj.to_dataframe())
    elif isinstance(obj, LTRDataset):
        table, meta = _ltr_table(obj)
        meta = {"kind": "ltr", **meta}
    elif isinstance(obj, Interactions):
        meta = {"kind": "interactions"}
        table = _from_pandas(obj.df)
    elif isinstance(obj, ClickLog):
        meta = {"kind": "clicklog"}
        table = _from_pandas(obj.df)
    else:
        raise TypeError(f"cannot write {type(obj).__name__} to Parquet; supported: {', '.join(KINDS)}")
    meta["format_version"] = FORMAT_VERSION
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[META_KEY] = json.dumps(meta).encode()
    table = table.replace_schema_metadata(schema_meta)
    with atomic_write(path, mode="wb") as f:
        pq.write_table(table, f)


def _need(df: pd.DataFrame, cols: list[str], path: Path, kind: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataFormatError(path, None, f"a {kind} table needs column(s) {', '.join(missing)}")


def _list_parts(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (from 0) and flat values of a list column."""
    arr = col.combine_chunks()
    offsets = np.asarray(arr.offsets, dtype=np.int64)
    values = arr.flatten().to_numpy(zero_copy_only=False)
    return offsets - offsets[0], values


def _read_ltr(table: pa.Table, meta: dict[str, Any], path: Path) -> LTRDataset:
    names = table.column_names
    for c in ("qid", "label"):
        if c not in names:
            raise DataFormatError(path, None, f"an ltr table needs column {c}")
    n = table.num_rows
    qids = np.asarray(table.column("qid").to_pylist(), dtype=object)
    y = table.column("label").to_numpy()
    docnos = np.asarray(table.column("docno").to_pylist(), dtype=object) if "docno" in names else None
    X: sp.csr_matrix | np.ndarray
    if "feature_index" in names and "feature_value" in names:
        indptr, indices = _list_parts(table.column("feature_index"))
        _, data = _list_parts(table.column("feature_value"))
        width = meta.get("n_features")
        if width is None:
            width = int(indices.max()) + 1 if len(indices) else 0
        index_dtype = np.dtype(meta.get("index_dtype", "int32"))
        X = sp.csr_matrix(
            (data, indices.astype(index_dtype), indptr.astype(index_dtype)), shape=(n, int(width))
        )
    elif "features" in names:
        offsets, values = _list_parts(table.column("features"))
        width = meta.get("n_features")
        if width is None:
            width = int(offsets[1]) if n else 0
        X = values.reshape(n, int(width))
    else:
        raise DataFormatError(path, None, "an ltr table needs feature_index/feature_value or features")
    return LTRDataset(X, y, qids, docnos, feature_names=meta.get("feature_names"), source=str(path))


def read_parquet(path: str | Path, kind: str | None = None) -> Storable:
    """Read a file written by :func:`write_parquet`, returning the type that was written.

    Args:
        kind: one of :data:`KINDS`; needed only for Parquet files without distillrank metadata.
    """
    path = Path(path)
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(META_KEY)
    meta: dict[str, Any] = json.loads(raw) if raw else {}
    kind = kind or meta.get("kind")
    if kind is None:
        raise DataFormatError(
            path, None, f"no distillrank kind in the Parquet metadata; pass kind= (one of {', '.join(KINDS)})"
        )
    if kind not in KINDS:
        raise DataFormatError(path, None, f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "ltr":
        return _read_ltr(table, meta, path)
    df = table.to_pandas()
    if kind == "run":
        _need(df, ["qid", "docno", "score"], path, kind)
        run = Run.from_dataframe(df, name=meta.get("name", "run"))
        if "qid_order" in meta:
            run = Run({q: run.get(q, {}) for q in meta["qid_order"]}, name=run.name)
        return run
    if kind == "qrels":
        _need(df, ["qid", "docno", "label"], path, kind)
        qrels = Qrels.from_dataframe(df)
        if "qid_order" in meta:
            qrels = Qrels({q: qrels.get(q, {}) for q in meta["qid_order"]})
        return qrels
    if kind == "corpus":
        return Corpus.from_dataframe(df, source=path)
    if kind == "queries":
        _need(df, ["qid", "query"], path, kind)
        return Queries(dict(zip(df["qid"].astype(str), df["query"].astype(str), strict=True)))
    if kind == "interactions":
        return Interactions(df, source=str(path))
    from distillrank.data.formats.clicktable import click_log_from_frame

    return click_log_from_frame(df, path, lambda row: None)  # propensities may be absent: unknown
