"""Students of the main job: one per (family, target), trained on the same lists with the same losses.

Every student of a fold learns from the same training lists: for each training query, BM25's top
``depth`` candidates plus its judged positives, with their qrels labels and the teacher's scores. The
target decides the loss (one function of :mod:`distillrank.losses` for the neural students, the same
function as a LightGBM custom objective for the trees — :mod:`distillrank.distillation.lgbm_objectives`):

==============  ======================================  =========================================
target          neural students                         LightGBM
==============  ======================================  =========================================
``qrels``       ``softmax`` on the labels               LambdaMART on the labels
``hard``        ``hard_label`` (teacher top-k, softmax)  LambdaMART on the teacher's top-k
``soft`` (T)    ``soft_label`` at temperature T          the same loss as a custom objective
``joint``       ``joint`` (alpha, the best T)           same
``margin_mse``  ``margin_mse`` (``margin_anchor`` first) same
``rd``          ``rank_distillation`` (top-K, hybrid;   same (BCE ground truth)
                the ``softmax`` ground truth)
==============  ======================================  =========================================

Each neural student is evaluated on the validation queries after every epoch (early stopping, best
weights kept); LightGBM stops early on validation nDCG@10. The temperature of ``joint`` is the soft
sweep's best on validation.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from distillrank.data.collection import Corpus, Qrels
from distillrank.data.run import Run

__all__ = ["TargetSpec", "make_lists", "neural_loss", "target_specs"]


@dataclass(frozen=True)
class TargetSpec:
    """One training target: ``name`` (e.g. ``soft-T2``), ``target`` (a :data:`~.config.TARGETS` name) and
    the temperature of ``soft``/``joint``."""

    name: str
    target: str
    temperature: float | None = None


def _t(value: float) -> str:
    return f"{value:g}"


def target_specs(settings: Any, joint_temperature: float | None = None) -> list[TargetSpec]:
    """The targets of ``settings`` in training order (soft sweep before ``joint``)."""
    specs: list[TargetSpec] = []
    for target in settings.targets:
        if target == "soft":
            specs += [TargetSpec(f"soft-T{_t(t)}", "soft", float(t)) for t in settings.temperatures]
        elif target == "joint":
            t = settings.joint_temperature or joint_temperature or 1.0
            specs.append(TargetSpec("joint", "joint", float(t)))
        else:
            specs.append(TargetSpec(target, target))
    order = {"qrels": 0, "hard": 1, "soft": 2, "margin_mse": 3, "rd": 4, "joint": 5}
    return sorted(specs, key=lambda s: order[s.target])


def neural_loss(spec: TargetSpec, settings: Any) -> tuple[str, dict[str, Any]]:
    """The registered loss and hyper-parameters of a target for the neural students."""
    if spec.target == "qrels":
        return "softmax", {}
    if spec.target == "hard":
        return "hard_label", {"top_k": settings.hard_top_k, "mode": settings.hard_mode}
    if spec.target == "soft":
        return "soft_label", {"temperature": spec.temperature}
    if spec.target == "joint":
        return "joint", {"alpha": settings.alpha, "temperature": spec.temperature}
    if spec.target == "margin_mse":
        return "margin_mse", {"pairs": "first"}
    if spec.target == "rd":
        return "rank_distillation", {
            "top_k": settings.rd_top_k,
            "alpha": settings.alpha,
            "ground_truth": "softmax",
        }
    raise ValueError(f"unknown target {spec.target!r}")


def lgbm_kwargs(spec: TargetSpec, settings: Any) -> dict[str, Any]:
    """:class:`~distillrank.distillation.LGBMStudent` arguments of a target."""
    params = {
        "n_estimators": settings.lgbm_rounds,
        "learning_rate": settings.lgbm_learning_rate,
        "num_leaves": settings.lgbm_leaves,
        "min_data_in_leaf": 20,
    }
    base: dict[str, Any] = {"params": params, "early_stopping_rounds": 50}
    if spec.target == "qrels":
        return {**base, "objective": "qrels"}
    if spec.target == "hard":
        return {**base, "objective": "hard", "top_k": settings.hard_top_k}
    if spec.target in ("soft", "joint"):
        extra = {"alpha": settings.alpha} if spec.target == "joint" else {}
        return {**base, "objective": spec.target, "temperature": spec.temperature, **extra}
    if spec.target == "margin_mse":
        return {**base, "objective": "margin_mse", "margin_anchor": settings.margin_anchor}
    if spec.target == "rd":
        return {**base, "objective": "rd", "top_k": settings.rd_top_k, "alpha": settings.alpha}
    raise ValueError(f"unknown target {spec.target!r}")


def make_lists(
    qids: Sequence[str],
    candidates: Mapping[str, Sequence[str]],
    queries: Mapping[str, str],
    qrels: Qrels,
    corpus: Corpus,
    teacher: Run,
    *,
    anchor_first: Literal["teacher", "positive"] | None = None,
) -> list[Any]:
    """Training lists (:class:`~distillrank.training.ListExample`) of ``qids``: the candidates with their
    labels and teacher scores. ``anchor_first`` moves one document to the front (the layout MarginMSE's
    ``pairs="first"`` expects): the teacher's best (``"teacher"``), or the judged document with the highest
    label (``"positive"``; ties and queries without one: the teacher's best)."""
    from distillrank.training import ListExample

    out = []
    for q in qids:
        docs = list(candidates.get(q, ()))
        if len(docs) < 2:
            continue
        t = [teacher[q][d] for d in docs]
        judged = qrels.get(q, {})
        if anchor_first is not None:
            y = [judged.get(d, 0) if anchor_first == "positive" else 0 for d in docs]
            best = max(range(len(docs)), key=lambda i: (y[i], t[i], -i))
            docs[0], docs[best] = docs[best], docs[0]
            t[0], t[best] = t[best], t[0]
        out.append(
            ListExample(
                query=queries[q],
                docs=[corpus[d].full_text() for d in docs],
                labels=[float(max(judged.get(d, 0), 0)) for d in docs],
                teacher_scores=t,
                qid=q,
                docnos=docs,
            )
        )
    return out


def train_neural(
    init: Any,
    spec: TargetSpec,
    settings: Any,
    *,
    lists: Sequence[Any],
    lr: float,
    epochs: int,
    validate: Callable[[Any], float],
    seed: int,
) -> tuple[Any, dict[str, Any]]:
    """A copy of ``init`` trained on ``lists`` with the target's loss; returns it and a summary."""
    from distillrank.training import Trainer, TrainerConfig

    model = copy.deepcopy(init)
    loss, kwargs = neural_loss(spec, settings)
    trainer = Trainer(
        TrainerConfig(
            loss=loss,
            loss_kwargs=kwargs,
            epochs=epochs,
            batch_size=settings.neural_batch_size,
            lr=lr,
            warmup_ratio=0.1,
            seed=seed,
            eval_every="epoch",
            patience=2,
            keep_best=True,
            eval_start=settings.keep_start,
        )
    )
    result = trainer.fit(model, list(lists), evaluate=validate)
    evals = result.evals
    info: dict[str, Any] = {
        "loss": loss,
        "loss_kwargs": kwargs,
        "steps": result.steps,
        "best_validation_ndcg@10": result.best_metric,
        "validation": [round(e["metric"], 4) for e in evals if e["step"] > 0],
        "train_seconds": round(sum(h["seconds"] for h in result.history), 1),
    }
    if evals and evals[0]["step"] == 0:  # keep_start: the starting weights were a candidate
        info["start_validation_ndcg@10"] = round(evals[0]["metric"], 4)
        info["kept_start"] = result.best_step == 0
    return model, info
