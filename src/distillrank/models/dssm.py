"""DSSM: the Deep Structured Semantic Model of Huang, He, Gao, Deng, Acero and Heck (CIKM 2013).

Each word is wrapped in boundary marks and cut into letter trigrams (*word hashing*)::

    "cat" -> "#cat#" -> {"#ca", "cat", "at#"}

A text becomes a bag of trigrams, fed to a tower of dense layers (300-300-128, tanh, in the paper); the
score of a query ``q`` and a document ``d`` is the scaled cosine of their tower outputs::

    score(q, d) = gamma * cos(y_q, y_d)

and training maximises the softmax likelihood of the clicked document among sampled ones
(``cross_entropy(gamma * cos)``), with ``gamma`` the softmax smoothing factor.

Trigram vocabulary: by default trigrams are **hashed** into ``n_buckets`` (2^15) ids with CRC-32 (stable
across processes and platforms, unlike Python's salted ``hash()``), so no vocabulary has to be built or
stored and unseen words still get features; collisions are rare at 2^15 buckets for English (about 10^4
distinct trigrams). Alternatively :meth:`DSSM.build_vocab` keeps the most frequent trigrams of a corpus,
as in the paper (their ~30k-trigram vocabulary), and trigrams outside it are dropped.

The first layer is an ``EmbeddingBag(mode="sum")`` over the trigram ids with per-trigram weights (the
count, as in the paper, or ``log(1 + count)``, the default here, which keeps long documents from
saturating tanh, or 1), i.e. a sparse-times-dense product, so the model trains from scratch on a CPU.

Example:
    >>> model = DSSM(hidden_sizes=(32, 16), n_buckets=1024)
    >>> model.predict([("cheap flights", "cheap flights to paris")]).shape
    (1,)
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from distillrank._dataclass import dataclass_from_dict
from distillrank.io import atomic_write, read_versioned_json
from distillrank.models._common import (
    check_batch_size,
    check_pairs,
    check_texts,
    inference,
    progress,
    seeded_init,
)
from distillrank.models.base import rank_by_scores
from distillrank.models.device import resolve_device

__all__ = ["ACTIVATIONS", "DSSM", "WEIGHTINGS", "DSSMConfig", "LetterTrigrams", "letter_trigrams"]

ACTIVATIONS = ("tanh", "relu")
WEIGHTINGS = ("count", "log", "binary")
"""Input weight of a trigram occurring ``c`` times: ``c`` (the paper), ``log(1 + c)``, or 1."""

_WORD = re.compile(r"\w+")
_CACHE_LIMIT = 1_000_000
_BAG_CACHE_LIMIT = 50_000
_CONFIG_FILE = "distillrank_dssm.json"
_WEIGHTS_FILE = "model.safetensors"
_VOCAB_FILE = "vocab.json"
_FORMAT = "distillrank-dssm"
_FORMAT_VERSION = 1


def letter_trigrams(word: str) -> list[str]:
    """Letter trigrams of ``#word#`` (a word of one letter gives the single trigram ``#a#``).

    >>> letter_trigrams("cat")
    ['#ca', 'cat', 'at#']
    """
    w = f"#{word}#"
    return [w[i : i + 3] for i in range(len(w) - 2)]


class LetterTrigrams:
    """Word hashing: texts to bags of letter-trigram ids.

    Args:
        n_buckets: number of hashed ids (CRC-32 of the UTF-8 trigram, modulo ``n_buckets``); ignored
            when ``vocab`` is given.
        vocab: explicit trigrams (id = position); trigrams not in it are dropped.
        lowercase: lower-case texts before splitting them into words (``\\w+``).
        max_words: keep only the first ``max_words`` words of a text (``None``: all).
    """

    def __init__(
        self,
        n_buckets: int = 1 << 15,
        vocab: Sequence[str] | None = None,
        *,
        lowercase: bool = True,
        max_words: int | None = None,
    ) -> None:
        self.vocab = list(vocab) if vocab is not None else None
        self._lookup = {t: i for i, t in enumerate(self.vocab)} if self.vocab is not None else None
        if self._lookup is not None and len(self._lookup) != len(self.vocab or []):
            raise ValueError("vocab has duplicate trigrams")
        self.n_buckets = n_buckets
        self.lowercase = lowercase
        self.max_words = max_words
        self._cache: dict[str, tuple[int, ...]] = {}
        self._bag_cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> LetterTrigrams:
        """A copy sharing the per-text cache (its entries are never mutated, and copies of a model's
        hasher map texts to the same ids), so every copied student starts warm."""
        clone = copy.copy(self)
        memo[id(self)] = clone
        clone.vocab = copy.deepcopy(self.vocab, memo)
        clone._lookup = copy.deepcopy(self._lookup, memo)
        clone._cache = dict(self._cache)
        return clone

    @property
    def dim(self) -> int:
        """Number of distinct input ids."""
        return len(self.vocab) if self.vocab is not None else self.n_buckets

    def words(self, text: str) -> list[str]:
        words = _WORD.findall(text.lower() if self.lowercase else text)
        return words[: self.max_words] if self.max_words is not None else words

    def _word_ids(self, word: str) -> tuple[int, ...]:
        ids = self._cache.get(word)
        if ids is None:
            grams = letter_trigrams(word)
            if self._lookup is not None:
                lookup = self._lookup
                ids = tuple(lookup[g] for g in grams if g in lookup)
            else:
                n = self.n_buckets
                ids = tuple(zlib.crc32(g.encode("utf-8")) % n for g in grams)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[word] = ids
        return ids

    def bag(self, text: str) -> Counter[int]:
        """``{trigram id: count}`` of one text."""
        counts: Counter[int] = Counter()
        for w in self.words(text):
            counts.update(self._word_ids(w))
        return counts

    def featurize(
        self, texts: Sequence[str], weighting: str = "log"
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``EmbeddingBag`` inputs ``(ids, offsets, per_sample_weights)`` for a batch of texts."""
        if weighting not in ("count", "log", "binary"):
            raise ValueError(f"unknown weighting {weighting!r}")
        rows = [self._bag_arrays(text, weighting) for text in texts]
        lengths = [len(r[0]) for r in rows]
        offsets = np.zeros(len(rows), dtype=np.int64)
        if rows:
            np.cumsum(lengths[:-1], out=offsets[1:])
        ids = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, dtype=np.int64)
        weights = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, dtype=np.float32)
        return torch.from_numpy(ids), torch.from_numpy(offsets), torch.from_numpy(weights)

    def _bag_arrays(self, text: str, weighting: str) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, weights)`` of one text, cached per (text, weighting): a training run sees the same
        documents every epoch, and counting trigrams in Python is most of a DSSM step."""
        key = (text, weighting)
        hit = self._bag_cache.get(key)
        if hit is None:
            bag = self.bag(text)
            counts = np.fromiter(bag.values(), dtype=np.float32, count=len(bag))
            if weighting == "log":
                counts = np.log1p(counts)
            elif weighting == "binary":
                counts = np.ones_like(counts)
            hit = (np.fromiter(bag.keys(), dtype=np.int64, count=len(bag)), counts)
            if len(self._bag_cache) >= _BAG_CACHE_LIMIT:
                self._bag_cache.clear()
            self._bag_cache[key] = hit
        return hit


@dataclass(frozen=True)
class DSSMConfig:
    """Architecture of a DSSM (validated on creation; invalid values raise ``ValueError``).

    Attributes:
        n_buckets: hashed trigram ids (when no vocabulary is given); the paper's vocabulary had ~30k.
        hidden_sizes: widths of the tower's layers; the last is the embedding size.
        activation: one of :data:`ACTIVATIONS` (the paper: tanh), after every layer.
        gamma: scale of the cosine (the softmax smoothing factor).
        learn_gamma: train ``gamma`` with the towers.
        shared_towers: one tower for queries and documents (else two with the same shape).
        weighting: input weight of a trigram, one of :data:`WEIGHTINGS`.
        lowercase: lower-case texts before word hashing.
        max_words: words kept per text (``None``: all).
    """

    n_buckets: int = 1 << 15
    hidden_sizes: tuple[int, ...] = (300, 300, 128)
    activation: str = "tanh"
    gamma: float = 10.0
    learn_gamma: bool = False
    shared_towers: bool = True
    weighting: str = "log"
    lowercase: bool = True
    max_words: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.n_buckets, bool) or not isinstance(self.n_buckets, int) or self.n_buckets < 1:
            raise ValueError(f"DSSMConfig.n_buckets must be a positive integer; got {self.n_buckets!r}")
        sizes = self.hidden_sizes
        if (
            isinstance(sizes, str | bytes)
            or not isinstance(sizes, Iterable)
            or not (sizes := tuple(sizes))
            or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in sizes)
        ):
            raise ValueError(
                "DSSMConfig.hidden_sizes must be a non-empty list of positive integers; "
                f"got {self.hidden_sizes!r}"
            )
        object.__setattr__(self, "hidden_sizes", sizes)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"DSSMConfig.activation must be one of {ACTIVATIONS}; got {self.activation!r}")
        g = self.gamma
        if isinstance(g, bool) or not isinstance(g, int | float) or not math.isfinite(g) or g <= 0:
            raise ValueError(f"DSSMConfig.gamma must be a finite number > 0; got {g!r}")
        object.__setattr__(self, "gamma", float(g))
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"DSSMConfig.weighting must be one of {WEIGHTINGS}; got {self.weighting!r}")
        for name in ("learn_gamma", "shared_towers", "lowercase"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"DSSMConfig.{name} must be True or False; got {getattr(self, name)!r}")
        m = self.max_words
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise ValueError(f"DSSMConfig.max_words must be a positive integer or None; got {m!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DSSMConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        return dataclass_from_dict(cls, d)


class _Tower(nn.Module):
    """Bag of trigrams -> ``EmbeddingBag(sum)`` + bias -> activation -> dense layers."""

    def __init__(self, input_dim: int, sizes: tuple[int, ...], activation: str) -> None:
        super().__init__()
        self.first = nn.EmbeddingBag(input_dim, sizes[0], mode="sum")
        self.bias = nn.Parameter(torch.zeros(sizes[0]))
        linears = [nn.Linear(a, b) for a, b in pairwise(sizes)]
        self.act = torch.tanh if activation == "tanh" else torch.relu
        # Glorot-uniform, the initialisation of the paper
        bound = math.sqrt(6.0 / (input_dim + sizes[0]))
        nn.init.uniform_(self.first.weight, -bound, bound)
        for layer in linears:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.layers = nn.ModuleList(linears)

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        h = self.act(self.first(ids, offsets, per_sample_weights=weights) + self.bias)
        for layer in self.layers:
            h = self.act(layer(h))
        return h


class DSSM(nn.Module):
    """A DSSM with hashed (or learned-vocabulary) letter trigrams. Implements ``Scorer``,
    ``ListScorer`` and ``DualEncoder`` (:mod:`distillrank.models.base`), plus :meth:`encode` for
    :class:`~distillrank.retrieval.dense.DenseRetriever`.

    Args:
        config: architecture; defaults to :class:`DSSMConfig()`.
        vocab: trigrams to use instead of hashing (see :meth:`build_vocab`).
        device: torch device (default CPU: the model is small and sparse).
        seed: draw the initial weights from a generator seeded with it (the same model in every process,
            whatever ran before; torch's global generator is left as it was); ``None`` draws them from
            the global generator.
        **overrides: fields of ``config`` to replace, e.g. ``DSSM(hidden_sizes=(128, 64))``.
    """

    def __init__(
        self,
        config: DSSMConfig | None = None,
        *,
        vocab: Sequence[str] | None = None,
        device: str | torch.device = "cpu",
        seed: int | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__()
        config = config if config is not None else DSSMConfig()
        self.config = dataclasses.replace(config, **overrides) if overrides else config
        c = self.config
        if vocab is not None and (isinstance(vocab, str) or len(vocab) == 0):
            raise ValueError("vocab must be a non-empty list of trigrams, or None to hash trigrams")
        self.hasher = LetterTrigrams(c.n_buckets, vocab, lowercase=c.lowercase, max_words=c.max_words)
        with seeded_init(seed):
            self.query_tower = _Tower(self.hasher.dim, c.hidden_sizes, c.activation)
            self.doc_tower = (
                None if c.shared_towers else _Tower(self.hasher.dim, c.hidden_sizes, c.activation)
            )
        gamma = torch.tensor(c.gamma, dtype=torch.float32)
        if c.learn_gamma:
            self.gamma = nn.Parameter(gamma)
        else:
            self.register_buffer("gamma", gamma)
        self.to(resolve_device(device))

    @staticmethod
    def build_vocab(
        texts: Iterable[str], max_size: int = 30_000, min_count: int = 1, *, lowercase: bool = True
    ) -> list[str]:
        """The ``max_size`` most frequent letter trigrams of ``texts`` (seen ``>= min_count`` times),
        most frequent first (ties alphabetically), for ``DSSM(vocab=...)``."""
        return DSSM.vocab_from_counts(DSSM.trigram_counts(texts, lowercase=lowercase), max_size, min_count)

    @staticmethod
    def trigram_counts(texts: Iterable[str], *, lowercase: bool = True) -> Counter[str]:
        """Occurrences of every letter trigram in ``texts`` (counts add up over collections of texts, so a
        corpus is counted once and each set of queries added to a copy)."""
        word_counts: Counter[str] = Counter()
        for text in texts:
            word_counts.update(_WORD.findall(text.lower() if lowercase else text))
        grams: Counter[str] = Counter()
        for word, n in word_counts.items():
            for g in letter_trigrams(word):
                grams[g] += n
        return grams

    @staticmethod
    def vocab_from_counts(grams: Counter[str], max_size: int = 30_000, min_count: int = 1) -> list[str]:
        """:meth:`build_vocab` from :meth:`trigram_counts`."""
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
            raise ValueError(f"max_size must be a positive integer; got {max_size!r}")
        ranked = sorted((g for g, n in grams.items() if n >= min_count), key=lambda g: (-grams[g], g))
        return ranked[:max_size]

    @property
    def device(self) -> torch.device:
        """Where the weights are."""
        return self.query_tower.bias.device

    @property
    def dim(self) -> int:
        """Embedding size (the last hidden size)."""
        return self.config.hidden_sizes[-1]

    # ------------------------------------------------------------------ encoding (with gradients)
    def _embed(self, texts: Sequence[str], is_query: bool) -> torch.Tensor:
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string")
        tower = self.query_tower if is_query or self.doc_tower is None else self.doc_tower
        ids, offsets, weights = self.hasher.featurize(texts, self.config.weighting)
        y = tower(ids.to(self.device), offsets.to(self.device), weights.to(self.device))
        return F.normalize(y, dim=-1, eps=1e-8)

    def encode_queries(self, queries: Sequence[str]) -> torch.Tensor:
        """``[B, D]`` L2-normalised query embeddings."""
        return self._embed(queries, True)

    def encode_docs(self, docs: Sequence[str]) -> torch.Tensor:
        """``[N, D]`` L2-normalised document embeddings."""
        return self._embed(docs, False)

    def similarity(self, q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` = ``gamma * q @ d.T`` (cosines, as the embeddings are normalised)."""
        return self.gamma * (q @ d.T)

    def list_scores(self, queries: Sequence[str], docs: Sequence[Sequence[str]]) -> torch.Tensor:
        """``[B, L]`` scores ``gamma * cos`` of ``B`` queries against their ``L`` documents each."""
        if len(queries) != len(docs):
            raise ValueError(f"{len(queries)} queries but {len(docs)} document lists")
        widths = {len(row) for row in docs}
        if len(widths) > 1:
            raise ValueError(
                f"every query needs the same number of documents; got list lengths {sorted(widths)}"
            )
        width = widths.pop() if widths else 0
        q = self.encode_queries(queries)
        d = self.encode_docs([t for row in docs for t in row]).view(len(queries), width, -1)
        return self.gamma * (q.unsqueeze(1) * d).sum(-1)

    # ------------------------------------------------------------------ inference
    def encode(
        self, texts: Sequence[str], batch_size: int = 256, show_progress: bool = False, is_query: bool = False
    ) -> np.ndarray:
        """L2-normalised embeddings ``float32 [len(texts), D]`` (inner product = cosine), no gradients.

        ``is_query`` picks the query tower (it matters only with separate towers). The arguments are
        those of ``BiEncoder.encode``, so :class:`~distillrank.retrieval.dense.DenseRetriever` takes either.
        """
        check_batch_size(batch_size)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with inference(self):
            for a in progress(range(0, len(texts), batch_size), show_progress, "DSSM encoding"):
                batch = texts[a : a + batch_size]
                out[a : a + len(batch)] = self._embed(batch, is_query).float().cpu().numpy()
        return out

    def predict(
        self, pairs: Sequence[tuple[str, str]], batch_size: int = 256, show_progress: bool = False
    ) -> np.ndarray:
        """``gamma * cos`` of each (query, document) pair, ``float32 [n_pairs]``."""
        check_pairs(pairs)
        check_batch_size(batch_size)
        out = np.zeros(len(pairs), dtype=np.float32)
        with inference(self):
            for a in progress(range(0, len(pairs), batch_size), show_progress, "DSSM scoring"):
                chunk = pairs[a : a + batch_size]
                q = self.encode_queries([p[0] for p in chunk])
                d = self.encode_docs([p[1] for p in chunk])
                out[a : a + len(chunk)] = (self.gamma * (q * d).sum(-1)).float().cpu().numpy()
        return out

    def rank(self, query: str, docs: Sequence[str], top_k: int | None = None) -> list[dict[str, Any]]:
        """``docs`` best first, as ``[{"corpus_id": i, "score": s}, ...]``."""
        check_texts(docs, "docs")
        q = self.encode([query], is_query=True)
        d = self.encode(docs)
        scores = (float(self.gamma) * (d @ q[0])).astype(np.float32)
        return rank_by_scores(scores, top_k)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the configuration, the weights (safetensors) and the trigram vocabulary if any."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(path / _WEIGHTS_FILE))
        if self.hasher.vocab is not None:
            with atomic_write(path / _VOCAB_FILE) as f:
                json.dump(self.hasher.vocab, f, ensure_ascii=False)
        meta = {"format": _FORMAT, "format_version": _FORMAT_VERSION, "config": self.config.to_dict()}
        with atomic_write(path / _CONFIG_FILE) as f:
            json.dump(meta, f, indent=2)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> Self:
        """Read a model written by :meth:`save`."""
        path = Path(path)
        meta = read_versioned_json(path / _CONFIG_FILE, _FORMAT, _FORMAT_VERSION, what="DSSM", noun="model")
        vocab = None
        if (path / _VOCAB_FILE).exists():
            with open(path / _VOCAB_FILE, encoding="utf-8") as f:
                vocab = json.load(f)
        model = cls(DSSMConfig.from_dict(meta["config"]), vocab=vocab)
        model.load_state_dict(load_file(str(path / _WEIGHTS_FILE)))
        return model.to(resolve_device(device))

    def __repr__(self) -> str:
        c = self.config
        inputs = f"vocab={self.hasher.dim}" if self.hasher.vocab is not None else f"n_buckets={c.n_buckets}"
        return (
            f"DSSM({inputs}, hidden_sizes={c.hidden_sizes}, gamma={float(self.gamma):g}, "
            f"shared_towers={c.shared_towers}, weighting={c.weighting!r})"
        )
