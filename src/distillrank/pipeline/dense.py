"""The dense side of the job: one bi-encoder's document embeddings, computed once and cached on disk.

The same vectors serve the fusion teacher (dense cosine), the bi-encoder students (their fixed document
index, see :class:`~distillrank.models.query_encoder.QueryEncoder`) and LightGBM's ``dense_cos`` feature.
Embedding 5,000 abstracts takes minutes on two cores, so documents are encoded in chunks, each written
atomically under a key of (model fingerprint, ``max_length``, the texts): a crash loses one chunk at most,
and an unchanged corpus is never encoded again.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from distillrank.data.collection import Corpus
from distillrank.distillation.teacher_cache import model_fingerprint
from distillrank.errors import DistillrankError
from distillrank.io import atomic_write
from distillrank.models._hf import default_encoder_path
from distillrank.models.bi_encoder import BiEncoder
from distillrank.progress import CountingProgress

if TYPE_CHECKING:
    from distillrank.models.static_encoder import StaticEncoder

__all__ = ["DenseSide", "QueryView", "cache_key"]

_CHUNK = 512


def cache_key(fingerprint: str, settings: str, texts: Sequence[str]) -> str:
    """A cache key of (a model's ``fingerprint``, ``settings``, ``texts``): 20 hex digits of SHA-256, the
    folder name of an encoded corpus (dense vectors here; ColBERT and SPLADE sides in ``doc_sides``)."""
    h = hashlib.sha256(f"{fingerprint}\0{settings}\0".encode())
    for t in texts:
        h.update(hashlib.sha256(t.encode()).digest())
    return h.hexdigest()[:20]


class DenseSide:
    """Document embeddings of ``corpus`` by a bi-encoder, plus query embeddings on demand.

    Args:
        corpus: the documents (embedded as ``title + " " + text``).
        cache_dir: where the chunks and the finished ``[N, D]`` matrix go.
        model: a bi-encoder folder or hub name (``None``: all-MiniLM-L6-v2).
        doc_max_length / query_max_length: truncation of documents and queries.
        show_progress: a progress bar while documents are embedded.
    """

    def __init__(
        self,
        corpus: Corpus,
        cache_dir: str | Path,
        *,
        model: str | None = None,
        doc_max_length: int = 256,
        query_max_length: int = 64,
        show_progress: bool = False,
    ) -> None:
        self.model_path = model or default_encoder_path()
        self.encoder = BiEncoder(self.model_path, max_length=doc_max_length)
        self.query_max_length = query_max_length
        self.docnos = list(corpus.docnos)
        self.texts = corpus.full_texts()
        self.row = {d: i for i, d in enumerate(self.docnos)}
        self._row_by_text = {t: i for i, t in enumerate(self.texts)}
        self.cache_dir = Path(cache_dir)
        self.doc_vectors = self._doc_vectors(self.cache_dir, doc_max_length, show_progress)
        self.encoder.max_length = query_max_length
        self._queries: dict[str, np.ndarray] = {}
        self._cache_queries = True

    @property
    def fingerprint(self) -> str:
        return model_fingerprint(self.model_path)

    def _doc_vectors(self, cache_dir: Path, max_length: int, show_progress: bool) -> np.ndarray:
        folder = cache_dir / f"dense-{self._key(str(max_length), self.texts)}"
        return self._encoded(folder, self.texts, is_query=False, show_progress=show_progress)

    def _key(self, settings: str, texts: Sequence[str]) -> str:
        """A cache key of (this side's model, ``settings``, ``texts``)."""
        return cache_key(self.fingerprint, settings, texts)

    def _encoded(
        self, folder: Path, texts: Sequence[str], *, is_query: bool, show_progress: bool
    ) -> np.ndarray:
        """``texts`` through the encoder in chunks written atomically to ``folder`` (resumable), then one
        ``docs.npy``; the chunks go once it is written."""
        done = folder / "docs.npy"
        if done.exists():
            return np.load(done)
        folder.mkdir(parents=True, exist_ok=True)
        n = len(texts)
        parts = []
        label = "embedding queries" if is_query else "embedding documents"
        with CountingProgress(n, show_progress, label=label, unit="texts") as bar:
            for c in range(math.ceil(n / _CHUNK)):
                path = folder / f"chunk-{c:05d}.npy"
                if path.exists():
                    part = np.load(path)
                else:
                    chunk = list(texts[c * _CHUNK : (c + 1) * _CHUNK])
                    part = self.encoder.encode(chunk, batch_size=128 if is_query else 32, is_query=is_query)
                    with atomic_write(path, "wb") as f:
                        np.save(f, part)
                parts.append(part)
                bar.advance(len(part))
        vectors = np.concatenate(parts) if parts else np.zeros((0, self.encoder.embedding_dim), np.float32)
        with atomic_write(done, "wb") as f:
            np.save(f, vectors)
        for c in range(len(parts)):
            (folder / f"chunk-{c:05d}.npy").unlink(missing_ok=True)
        return vectors

    # -- the static query encoder ----------------------------------------------------------------------
    def static_encoder(
        self,
        *,
        sentences: int = 20_000,
        epochs: int = 8,
        seed: int = 0,
        show_progress: bool = False,
    ) -> StaticEncoder:
        """A :class:`~distillrank.models.static_encoder.StaticEncoder` distilled from this side's query
        tower on up to ``sentences`` sentences of the corpus (no queries, no labels), cached on disk under a
        key of (model, corpus, settings): the tower's vectors of the sentences in resumable chunks, then
        the fitted encoder's folder.

        Raises:
            DistillrankError: the corpus gives no stand-in query (see ``sentences``).
        """
        from distillrank.models.static_encoder import StaticEncoder, distil_static_encoder
        from distillrank.models.static_encoder import sentences as split_sentences

        texts = split_sentences(self.texts, limit=sentences, seed=seed)
        if not texts:
            raise DistillrankError(
                "the static query encoder needs stand-in queries, but no document of the corpus has a "
                "sentence or word window of 20 to 300 characters"
            )
        settings = f"{self.query_max_length}\0{seed}"
        base = self.cache_dir / f"static-{self._key(settings, texts)}"
        folder = base / f"encoder-e{epochs}"
        if (folder / "static_encoder.json").exists():  # fitted before: the targets are not needed
            return StaticEncoder.load(folder)
        target = self._encoded(base / "targets", texts, is_query=True, show_progress=show_progress)
        encoder = StaticEncoder.from_encoder(self.encoder, max_length=self.query_max_length)
        distil_static_encoder(encoder, texts, target, epochs=epochs, seed=seed)
        encoder.save(folder)
        return encoder

    def with_query_encoder(self, query_encoder: Any) -> QueryView:
        """This side's document vectors with queries encoded by ``query_encoder`` (e.g. the static one):
        the FeatureExtractor's ``Encoder`` for a cheaper ``dense_cos``."""
        return QueryView(self, query_encoder)

    # -- queries ---------------------------------------------------------------------------------------
    def query_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """``[n, D]`` normalised query embeddings (each distinct text encoded once per process, except
        inside :meth:`uncached_queries`)."""
        if not self._cache_queries and texts:
            return np.asarray(self.encoder.encode(list(texts), is_query=True))
        new = sorted({t for t in texts if t not in self._queries})
        if new:
            self._queries.update(zip(new, self.encoder.encode(new, is_query=True), strict=True))
        if not texts:
            return np.zeros((0, self.doc_vectors.shape[1]), dtype=np.float32)
        return np.stack([self._queries[t] for t in texts])

    @contextmanager
    def uncached_queries(self) -> Iterator[None]:
        """Within this block every query is encoded afresh, as a server would: the cost meter's setting
        (a cached query vector would leave the query encoder out of a path's latency)."""
        self._cache_queries = False
        try:
            yield
        finally:
            self._cache_queries = True

    def cosine(self, queries: Mapping[str, str], candidates: Mapping[str, Sequence[str]]) -> dict:
        """``qid -> {docno: cosine}`` for each query's candidates."""
        qids = [q for q in candidates if candidates[q]]
        qv = self.query_vectors([queries[q] for q in qids])
        out: dict[str, dict[str, float]] = {}
        for i, q in enumerate(qids):
            docs = list(candidates[q])
            sims = self.doc_vectors[[self.row[d] for d in docs]] @ qv[i]
            out[q] = dict(zip(docs, sims.astype(float).tolist(), strict=True))
        return out

    # -- the FeatureExtractor's Encoder protocol --------------------------------------------------------
    def encode(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        """Queries through the encoder; documents looked up (texts of this corpus) or encoded."""
        if is_query:
            return self.query_vectors(list(texts))
        rows = [self._row_by_text.get(t) for t in texts]
        if all(r is not None for r in rows):
            return self.doc_vectors[np.asarray(rows, dtype=np.int64)]
        return self.encoder.encode(list(texts), is_query=False)


class QueryView:
    """A :class:`DenseSide`'s document vectors, queries encoded by another (cheaper) query encoder whose
    vectors live in the same space (e.g. a static encoder distilled from the side's tower)."""

    def __init__(self, side: DenseSide, query_encoder: Any) -> None:
        self.side, self.query_encoder = side, query_encoder

    def encode(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        if is_query:
            return np.asarray(self.query_encoder.encode(list(texts), is_query=True))
        return self.side.encode(texts, is_query=False)

    def num_parameters(self) -> int:
        return int(self.query_encoder.num_parameters())
