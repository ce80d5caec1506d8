r"""The teacher: a cross-encoder fine-tuned on the train qrels, optionally fused with other signals.

**Fine-tuning** (:func:`train_cross_encoder`): lists of one judged positive and ``n_negatives`` BM25 hard
negatives drawn from ranks ``skip[0]+1 .. skip[1]`` (skipping the very top, where unjudged relevant
documents sit), a listwise softmax cross-entropy (the localised contrastive loss of Gao et al. 2021,
*Rethink Training of BERT Rerankers in Multi-Stage Retrieval Pipeline*), AdamW with warm-up, evaluated
``evaluations`` times on the held-out validation queries (nDCG@10 of re-ranking BM25's top ``depth``),
early stopping and best-weights restore. A checkpoint every tenth of the steps (:data:`CHECKPOINTS`) makes
a stopped or crashed run resume where it was, not from the first step.

**Fusion** (:class:`Fusion`): a weighted sum of per-query standardised signals,

.. math:: f(q, d) = \sum_s w_s \, \frac{x_s(q, d) - \mu_s(q)}{\sigma_s(q)}, \qquad
          s \in \{\text{cross-encoder}, \text{BM25}, \text{dense cosine}, \text{ranker}\},\ \ w \in \Delta,

(z-score fusion; cf. Bruch et al. 2023, *An Analysis of Fusion Functions for Hybrid Retrieval*), with the
weights chosen on a grid over the simplex by validation nDCG@10 (``ranker`` is the LambdaMART
over the cheap features of :mod:`.ranker`). The fused teacher is kept only when it beats the cross-encoder
alone on the validation queries, and the cross-encoder always keeps a weight.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distillrank.data.collection import Corpus, Qrels
from distillrank.data.run import Run
from distillrank.errors import DistillrankError
from distillrank.evaluation.metrics import evaluate
from distillrank.io import atomic_write

__all__ = ["SIGNALS", "Fusion", "fit_fusion", "rerank_scores", "train_cross_encoder"]

SIGNALS = ("cross_encoder", "bm25", "dense", "ranker")
FUSION_FILE = "fusion.json"
CHECKPOINTS = 10
"""How many checkpoints the teacher's fine-tuning writes (one every ``ceil(steps / CHECKPOINTS)`` steps):
at most a tenth of it is redone after a crash."""


def _zscore(values: np.ndarray) -> np.ndarray:
    if values.size == 0:  # a query without candidates (no query word in any document)
        return values
    sd = float(values.std())
    return (values - values.mean()) / sd if sd > 1e-12 else np.zeros_like(values)


@dataclass
class Fusion:
    """Weights of the per-query z-scored signals (see the module docstring); ``{"cross_encoder": 1}`` is
    the cross-encoder alone."""

    weights: dict[str, float] = field(default_factory=lambda: {"cross_encoder": 1.0})
    validation: dict[str, float] = field(default_factory=dict)

    @property
    def signals(self) -> list[str]:
        return [s for s in SIGNALS if self.weights.get(s, 0.0) > 0]

    def combine(self, signals: Mapping[str, Mapping[str, Mapping[str, float]]]) -> Run:
        """Fuse ``signal -> qid -> {docno: score}`` over the documents of the first used signal."""
        used = self.signals
        base = signals[used[0]]
        out: dict[str, dict[str, float]] = {}
        for qid, docs in base.items():
            names = list(docs)
            total = np.zeros(len(names))
            for s in used:
                values = np.array([signals[s][qid][d] for d in names], dtype=np.float64)
                total += self.weights[s] * (_zscore(values) if len(used) > 1 else values)
            out[qid] = dict(zip(names, total.tolist(), strict=True))
        return Run.from_trusted(out, name="teacher")

    def save(self, folder: str | Path) -> None:
        with atomic_write(Path(folder) / FUSION_FILE) as f:
            json.dump(asdict(self), f, indent=2)

    @classmethod
    def load(cls, folder: str | Path) -> Fusion:
        """The fusion saved in ``folder``; the cross-encoder alone when there is none."""
        path = Path(folder) / FUSION_FILE
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            weights = {k: float(v) for k, v in data["weights"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise DistillrankError(f"{path}: not a fusion file this job wrote ({e!r})") from None
        return cls(weights=weights, validation=data.get("validation", {}))


def fit_fusion(
    signals: Mapping[str, Mapping[str, Mapping[str, float]]],
    qrels: Qrels,
    *,
    step: float = 0.1,
    measure: str = "nDCG@10",
) -> Fusion:
    """The simplex weights (grid ``step``) with the best ``measure`` on ``qrels``' queries.

    The cross-encoder always keeps a weight of at least ``step`` when it is among the signals (the
    teacher is the cross-encoder, possibly helped by the others, never the others alone). The
    cross-encoder alone is one of the candidates, and ties go to fewer signals, so fusion is only chosen
    when it helps.
    """
    names = [s for s in SIGNALS if s in signals]
    n = round(1 / step)
    best: tuple[float, int, dict[str, float]] | None = None
    scores: dict[str, float] = {}
    for combo in itertools.product(range(n + 1), repeat=len(names)):
        if sum(combo) != n or ("cross_encoder" in names and combo[names.index("cross_encoder")] == 0):
            continue
        weights = {s: c / n for s, c in zip(names, combo, strict=True) if c}
        run = Fusion(weights).combine(signals)
        value = float(evaluate(run, qrels, measure).aggregate[measure])
        key = "+".join(f"{s}:{w:.1f}" for s, w in weights.items())
        scores[key] = value
        rank = (value, -len(weights), weights)
        if best is None or rank[:2] > best[:2]:
            best = rank
    assert best is not None
    alone = scores.get("cross_encoder:1.0", float("nan"))
    return Fusion(best[2], {measure: best[0], f"{measure} (cross-encoder alone)": alone})


def rerank_scores(
    score_fn: Callable[[list[tuple[str, str]]], np.ndarray],
    candidates: Mapping[str, Sequence[str]],
    queries: Mapping[str, str],
    corpus: Corpus,
) -> dict[str, dict[str, float]]:
    """``qid -> {docno: score}`` of ``score_fn`` over each query's candidates (one call)."""
    keys = [(q, d) for q, docs in candidates.items() for d in docs]
    scores: Any = score_fn([(queries[q], corpus[d].full_text()) for q, d in keys]) if keys else []
    out: dict[str, dict[str, float]] = {}
    for (q, d), s in zip(keys, np.asarray(scores, dtype=np.float64).tolist(), strict=True):
        out.setdefault(q, {})[d] = s
    return out


def train_cross_encoder(
    settings: Any,
    *,
    queries: Mapping[str, str],
    qrels: Qrels,
    corpus: Corpus,
    bm25_run: Run,
    fit_qids: Sequence[str],
    val_qids: Sequence[str],
    depth: int,
    folder: Path,
    seed: int,
    log: Callable[[str], None] = print,
) -> tuple[Any, dict[str, Any]]:
    """Fine-tune a :class:`~distillrank.models.CrossEncoder` (see the module docstring); save it to
    ``folder`` and return it with a summary (steps, validation history, seconds)."""
    from distillrank.models.cross_encoder import CrossEncoder
    from distillrank.training import (
        Trainer,
        TrainerConfig,
        build_examples,
        checkpoint_step,
        latest_checkpoint,
    )

    examples = build_examples(
        {q: queries[q] for q in fit_qids},
        qrels,
        corpus,
        negatives="hard",
        n_negatives=settings.n_negatives,
        run=bm25_run,
        skip=tuple(settings.skip),
        positives="first",
        seed=seed,
    )
    if not examples:
        raise ValueError("no training query has a judged positive document: cannot fine-tune a teacher")
    model = CrossEncoder(settings.model, max_length=settings.max_length, seed=seed)
    val_candidates = {q: [d for d, _ in bm25_run.ranked(q, depth)] for q in val_qids if q in bm25_run}
    val_qrels = qrels.subset(list(val_candidates))

    def validate(m: Any) -> float:
        scored = rerank_scores(
            lambda p: m.predict(p, batch_size=settings.scoring_batch_size), val_candidates, queries, corpus
        )
        value = float(evaluate(Run.from_trusted(scored), val_qrels, "nDCG@10").aggregate["nDCG@10"])
        log(f"  teacher validation nDCG@10 {value:.4f}")
        return value

    trainer = Trainer(
        TrainerConfig(
            loss=settings.loss,
            epochs=settings.epochs,
            max_steps=settings.max_steps,
            batch_size=settings.batch_size,
            lr=settings.lr,
            warmup_ratio=0.1,
            seed=seed,
            bucket_by_length=True,
            patience=settings.patience if val_candidates else None,
            checkpoint_dir=folder / "checkpoints",
            keep_checkpoints=1,
            show_progress=True,
        )
    )
    total = trainer.total_steps(len(examples))
    trainer.config.eval_every = max(1, -(-total // settings.evaluations))
    trainer.config.checkpoint_every = max(1, -(-total // CHECKPOINTS))
    if (latest := latest_checkpoint(folder / "checkpoints")) is not None:
        log(f"  teacher: resuming from the checkpoint of step {checkpoint_step(latest)} of {total}")
    result = trainer.fit(model, examples, evaluate=validate if val_candidates else None)
    model.save(folder / "cross-encoder")
    summary = {
        "lists": len(examples),
        "steps": result.steps,
        "evaluations": result.evals,
        "best_step": result.best_step,
        "best_validation_ndcg@10": result.best_metric,
        "stopped_early": result.stopped_early,
        "pairs_per_s": result.cost.items_per_s,
        "seconds": round(sum(h["seconds"] for h in result.history), 1),
    }
    return model, summary
