"""Tiny models and synthetic training lists for the trainer tests (built in code, seeded)."""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator, Sequence

import pytest
import torch

from distillrank.training.examples import ListExample

VOCAB = [f"w{i}" for i in range(60)]


class TinyDual(torch.nn.Module):
    """A bag-of-hashed-words dual encoder: implements ListScorer and DualEncoder, nothing else.

    ``dropout`` > 0 makes training consume torch's RNG (to test that checkpoints restore it).
    """

    def __init__(self, dim: int = 16, buckets: int = 128, dropout: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.buckets = buckets
        self.q_emb = torch.nn.EmbeddingBag(buckets, dim, mode="mean")
        self.d_emb = torch.nn.EmbeddingBag(buckets, dim, mode="mean")
        self.proj = torch.nn.Linear(dim, dim)
        self.drop = torch.nn.Dropout(dropout)

    def _ids(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids: list[int] = []
        offsets: list[int] = []
        for t in texts:
            offsets.append(len(ids))
            ids.extend(zlib.crc32(w.encode()) % self.buckets for w in t.split())
        return torch.tensor(ids, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)

    def encode_queries(self, queries: Sequence[str]) -> torch.Tensor:
        return self.drop(self.proj(self.q_emb(*self._ids(queries))))

    def encode_docs(self, docs: Sequence[str]) -> torch.Tensor:
        return self.drop(self.d_emb(*self._ids(docs)))

    def similarity(self, q: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        return q @ d.T

    def list_scores(self, queries: Sequence[str], docs: Sequence[Sequence[str]]) -> torch.Tensor:
        b, width = len(docs), len(docs[0])
        q = self.encode_queries(queries)
        d = self.encode_docs([t for row in docs for t in row]).view(b, width, -1)
        return (q.unsqueeze(1) * d).sum(-1)


def make_examples(n: int = 32, n_neg: int = 3, seed: int = 0, ragged: bool = False) -> list[ListExample]:
    """Queries of 3 words; the positive repeats them, negatives are random words (lengths vary)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = rng.sample(VOCAB, 3)
        pos = " ".join(words + rng.sample(VOCAB, rng.randint(1, 12)))
        k = rng.randint(1, n_neg) if ragged else n_neg
        negs = [" ".join(rng.sample(VOCAB, rng.randint(2, 30))) for _ in range(k)]
        out.append(
            ListExample(
                query=" ".join(words),
                docs=[pos, *negs],
                labels=[1.0] + [0.0] * k,
                teacher_scores=[2.0] + [float(-j) for j in range(k)],
                qid=f"q{i}",
            )
        )
    return out


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny tensors gain nothing from intra-op threads, and on a busy machine a descheduled worker
    thread turns every parallel op into a multi-millisecond wait."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def examples() -> list[ListExample]:
    return make_examples()
