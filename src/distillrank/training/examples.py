"""Training examples: a query with a list of candidate documents, their labels and teacher scores."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ListExample:
    """One query and its candidates.

    Attributes:
        query: query text.
        docs: candidate document texts (the positive(s) usually first).
        labels: graded relevance per document (0 for sampled negatives).
        teacher_scores: the teacher's score per document, when distilling.
        qid / docnos: ids, kept for bookkeeping (caching, evaluation).
    """

    query: str
    docs: list[str]
    labels: list[float]
    teacher_scores: list[float] | None = None
    qid: str = ""
    docnos: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.docs, str):  # one string would be a list of one-character documents
            raise TypeError(f"query {self.qid or self.query!r}: docs must be a list of texts, not one str")
        if not self.docs:
            raise ValueError(f"query {self.qid or self.query!r}: a training list needs at least one document")
        if len(self.docs) != len(self.labels):
            raise ValueError(
                f"query {self.qid or self.query!r}: {len(self.docs)} docs but {len(self.labels)} labels"
            )
        bad = next((x for x in self.labels if isinstance(x, str | bytes)), None)
        if bad is not None:
            raise TypeError(f"query {self.qid or self.query!r}: labels must be numbers, got {bad!r}")
        if self.teacher_scores is not None and len(self.teacher_scores) != len(self.docs):
            raise ValueError(f"query {self.qid or self.query!r}: teacher scores and docs differ in length")


@dataclass
class ListBatch:
    """A padded batch: ``B`` queries x ``L`` documents, with a mask of the real entries.

    Attributes:
        queries: ``B`` query texts.
        docs: ``B`` lists of ``L`` texts ("" where padded).
        labels: ``[B, L]`` float tensor (0 where padded).
        mask: ``[B, L]`` bool tensor, True for real entries.
        teacher_scores: ``[B, L]`` float tensor or ``None``.
    """

    queries: list[str]
    docs: list[list[str]]
    labels: torch.Tensor
    mask: torch.Tensor
    teacher_scores: torch.Tensor | None = None
    qids: list[str] = field(default_factory=list)

    @property
    def n_pairs(self) -> int:
        return int(self.mask.sum())


def collate(examples: list[ListExample]) -> ListBatch:
    """Pad a list of examples to the longest candidate list."""
    width = max(len(e.docs) for e in examples)
    b = len(examples)
    labels = torch.zeros(b, width)
    mask = torch.zeros(b, width, dtype=torch.bool)
    has_teacher = all(e.teacher_scores is not None for e in examples)
    teacher = torch.zeros(b, width) if has_teacher else None
    docs: list[list[str]] = []
    for i, e in enumerate(examples):
        n = len(e.docs)
        docs.append(list(e.docs) + [""] * (width - n))
        labels[i, :n] = torch.tensor(e.labels, dtype=torch.float32)
        mask[i, :n] = True
        if teacher is not None:
            teacher[i, :n] = torch.tensor(e.teacher_scores, dtype=torch.float32)
    return ListBatch([e.query for e in examples], docs, labels, mask, teacher, [e.qid for e in examples])
