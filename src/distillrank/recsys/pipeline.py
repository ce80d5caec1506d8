"""The whole Ranking-Distillation job on an interaction dataset, with its report.

1. Split each user's interactions in time order (test: the last 20%, validation: the 10% before).
2. Train the Caser **teacher** (``d=100``) and the same student architecture (``d=10`` by default; any
   ``d <= teacher``) **without** distillation, with Caser's BCE over sampled negatives; early stopping on
   validation ``nDCG@10``; each with the L2 weight of ``weight_decays`` best on validation. With
   ``teacher_members > 1`` the teacher is the mean score of that many such Casers, seeds ``seed, seed+1,
   ...`` (:class:`~distillrank.recsys.ensemble.ScoreEnsemble`; the first member chooses the L2 weight,
   reported as ``teacher_member``): a stronger, costlier teacher.
3. Cache the teacher's top-``K`` unseen items of every training instance; choose ``alpha`` on validation
   with the paper's ``hybrid`` weighting; train one **RD student** per weighting scheme (``inverse``,
   ``uniform``, ``exp``, ``dynamic``, ``hybrid``) — the ablation. The headline RD student is the scheme
   with the best validation ``nDCG@10``. Every student (with or without RD) gets the same seed, sampled
   negatives, L2 weight (the student-only model's choice), epoch budget and early stopping, so the
   comparison isolates distillation.
3b. For each of ``student_sizes``: the student-only and the RD student (the headline's weighting and
   alpha) of that ``d`` — the student-size table (``JobResult.size_table``).
4. Two-tower models with the four losses (sampled softmax, PairCE, triplet, full-product softmax with
   in-batch negatives), and FPS pre-training followed by fine-tuning against training from scratch.
5. Full-catalogue test metrics (``P@3/5/10``, ``nDCG@3/5/10``, ``MAP``), parameters and milliseconds per
   user; ``report.md``, ``report.html`` and ``metrics.json``.

``metrics.json``::

    {"models": {NAME: {"role": "teacher" | "teacher_member" | "student" | "rd_student" | "rd_ablation"
                               | "two_tower" | "size_student" | "size_rd",
                       "metrics": {"nDCG@10": x, "P@10": x, "MAP": x, ...},
                       "cost": {"params": n, "ms_per_user": x, "latency_ms": x}, ...}},
     "headline": {"teacher": NAME, "student": NAME, "rd_student": NAME},
     "targets": {...}, "student_sizes": [{"d": d, "student_test": x, "rd_test": x, ...}],
     "rd_vs_student_test": {"delta_nDCG@10": x, "p_value": p, "users_better": n, ...},
     "config": {...}, "data": {...}}

``rd_vs_student_test`` and the size table's ``rd_vs_student_p`` are two-sided paired randomisation tests
of the RD student against the student alone over the test users' nDCG@10
(:func:`~distillrank.evaluation.significance.permutation_test`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from distillrank.data.interactions import Interactions
from distillrank.errors import DataFormatError, DistillrankError
from distillrank.evaluation.significance import permutation_test
from distillrank.models._hf import torch_threads
from distillrank.recsys.cache import ModelCache
from distillrank.recsys.caser import Caser
from distillrank.recsys.config import JobConfig
from distillrank.recsys.cost import measure_inference
from distillrank.recsys.data import NegativeSampler, SequentialData, make_windows
from distillrank.recsys.distill import teacher_topk
from distillrank.recsys.ensemble import ScoreEnsemble
from distillrank.recsys.metrics import DEFAULT_KS, SequenceScorer, evaluate_ranking
from distillrank.recsys.objectives import in_batch_step, sampled_list_step
from distillrank.recsys.protocol import (
    build_caser,
    job_split,
    rd_recipe,
    student_recipe,
    teacher_recipe,
    train_rd_student,
    train_student,
    train_teacher,
)
from distillrank.recsys.train import EpochLog, FitResult, TrainConfig, fit, set_seed
from distillrank.recsys.two_tower import TwoTower, TwoTowerConfig

__all__ = ["JobConfig", "JobResult", "load_interactions", "run_job", "write_report"]

REPORTED = (*(f"{m}@{k}" for m in ("P", "nDCG") for k in DEFAULT_KS), "MAP")
TARGETS = {
    "rd_over_student_min": 1.10,
    "rd_over_teacher_min": 0.95,
    "params_ratio_max": 0.5,
    "speedup_min": 1.5,
}

Callback = Callable[[str, EpochLog | None, int], None]
"""``callback(stage, epoch_log_or_None, max_epochs)``: ``None`` announces a stage, a log ends an epoch."""


@dataclass
class ModelRun:
    """One trained model and what is known about it."""

    name: str
    role: str
    model: Any
    fit: FitResult | None
    info: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)
    per_user: np.ndarray | None = field(default=None, repr=False)  # test nDCG@10 of every test user


@dataclass
class JobResult:
    data: SequentialData
    config: JobConfig
    runs: dict[str, ModelRun]
    headline: dict[str, str]
    alpha_search: list[dict[str, Any]]
    seconds: float
    weight_decay_search: list[dict[str, Any]] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)

    def metrics_json(self) -> dict[str, Any]:
        models = {}
        for name, run in self.runs.items():
            entry: dict[str, Any] = {
                "role": run.role,
                "metrics": {k: round(v, 6) for k, v in run.metrics.items()},
                "cost": run.cost,
                **run.info,
            }
            if run.fit is not None:
                entry["training"] = {
                    "best_epoch": run.fit.best_epoch,
                    "valid_nDCG@10": round(run.fit.best_valid, 6),
                    "epochs_run": len(run.fit.history),
                    "seconds": round(run.fit.seconds, 1),
                }
            models[name] = entry
        return {
            "models": models,
            "headline": self.headline,
            "targets": self.targets(),
            "alpha_search": self.alpha_search,
            "rd_vs_student_test": self.rd_vs_student_test(),
            "weight_decay_search": self.weight_decay_search,
            "student_sizes": self.size_table(),
            "data": {"source": self.data.source, **self.data.stats()},
            "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self.config).items()},
            "seconds": round(self.seconds, 1),
            "cache": self.cache,
        }

    def size_table(self) -> list[dict[str, Any]]:
        """Per student size ``d`` (the headline's and ``student_sizes``), smallest first: the student-only
        and the RD student's validation and test ``nDCG@10``, the RD gain and the ratios to the teacher."""
        t = self.runs[self.headline["teacher"]]
        pairs: dict[int, dict[str, ModelRun]] = {}
        for run in self.runs.values():
            kind = {"student": "plain", "size_student": "plain", "rd_student": "rd", "size_rd": "rd"}
            if run.role in kind:
                pairs.setdefault(int(run.info["d"]), {})[kind[run.role]] = run
        nd = "nDCG@10"
        rows = []
        for d in sorted(pairs):
            p, r = pairs[d].get("plain"), pairs[d].get("rd")
            if p is None or r is None or not p.metrics or not r.metrics:
                continue
            rows.append(
                {
                    "d": d,
                    "params_ratio": round(r.cost["params"] / t.cost["params"], 4) if r.cost else None,
                    "student_valid": round(_valid(p), 5),
                    "rd_valid": round(_valid(r), 5),
                    "student_test": round(p.metrics[nd], 5),
                    "rd_test": round(r.metrics[nd], 5),
                    "rd_over_student": round(r.metrics[nd] / max(p.metrics[nd], 1e-12), 4),
                    "rd_vs_student_p": _paired_p(r, p),
                    "student_over_teacher": round(p.metrics[nd] / max(t.metrics[nd], 1e-12), 4),
                    "rd_over_teacher": round(r.metrics[nd] / max(t.metrics[nd], 1e-12), 4),
                    "weighting": r.info.get("weighting"),
                    "alpha": r.info.get("alpha"),
                    "headline": r.role == "rd_student",
                }
            )
        return rows

    def rd_vs_student_test(self) -> dict[str, Any] | None:
        """The headline RD student against the student alone, user by user: a two-sided paired
        randomisation test of the mean test nDCG@10 difference (10,000 sign flips, seed 0; Smucker,
        Allan and Carterette 2007), with the users each ranks better; None without per-user values."""
        rd, s = self.runs[self.headline["rd_student"]], self.runs[self.headline["student"]]
        p = _paired_p(rd, s)
        if p is None or rd.per_user is None or s.per_user is None:
            return None
        diff = rd.per_user - s.per_user
        return {
            "rd_student": rd.name,
            "student": s.name,
            "users": len(diff),
            "delta_nDCG@10": round(float(diff.mean()), 6),
            "p_value": p,
            "significant": p < 0.05,
            "users_better": int((diff > 0).sum()),
            "users_worse": int((diff < 0).sum()),
        }

    def targets(self) -> dict[str, Any]:
        """The issue's figures, measured, with pass/fail."""
        t = self.runs[self.headline["teacher"]]
        s = self.runs[self.headline["student"]]
        rd = self.runs[self.headline["rd_student"]]
        nd = "nDCG@10"
        values = {
            "rd_over_student": rd.metrics[nd] / max(s.metrics[nd], 1e-12),
            "rd_over_teacher": rd.metrics[nd] / max(t.metrics[nd], 1e-12),
            "params_ratio": rd.cost["params"] / t.cost["params"],
            "speedup": t.cost["ms_per_user"] / max(rd.cost["ms_per_user"], 1e-12),
        }
        out: dict[str, Any] = {}
        for key, value in values.items():
            lo, hi = TARGETS.get(f"{key}_min"), TARGETS.get(f"{key}_max")
            ok = (lo is None or value >= lo) and (hi is None or value <= hi)
            out[key] = {
                "value": round(value, 4),
                "target": f">= {lo}" if lo is not None else f"<= {hi}",
                "pass": ok,
            }
        return out


def load_interactions(
    dataset: str | Path,
    data_dir: str | Path | None = None,
    columns: str | Sequence[str] | Mapping[str, str] | None = None,
    *,
    min_rating: float | None = None,
) -> Interactions:
    """A catalogue name (``ml-100k``) or a path to an interaction file; anything else is an error, and so
    is a table without timestamps (the job's split is temporal).

    ``columns`` says which column is which where the file does not (see
    :func:`~distillrank.data.formats.interactions_io.parse_columns`). ``min_rating`` keeps only the
    interactions rated at least that (explicit feedback as implicit positives, as ``rating >= 4`` on
    MovieLens); the source's name says so.
    """
    from distillrank.data.catalogue import load_dataset
    from distillrank.data.formats.interactions_io import read_interactions

    path = Path(dataset)
    if path.is_file():
        loaded = read_interactions(path, columns=columns)
    elif columns is not None:
        loaded = load_dataset(dataset, data_dir, columns=columns)
    else:
        loaded = load_dataset(dataset, data_dir)
    if not isinstance(loaded, Interactions):
        raise DistillrankError(f"{dataset}: not an interaction dataset (user, item, timestamp)")
    missing = loaded.df["timestamp"].isna().to_numpy()
    if missing.any() and not missing.all():
        first = loaded.df.iloc[int(np.flatnonzero(missing)[0])]
        raise DataFormatError(
            loaded.source,
            None,
            f"{int(missing.sum()):,} of {len(missing):,} interactions have no timestamp (the first: user "
            f"{first['user']!r}, item {first['item']!r}): the per-user temporal split cannot place them; "
            "give every interaction a timestamp or drop those without",
        )
    if len(loaded) and missing.all():
        df = loaded.df.drop(columns="timestamp")
        shown = ", ".join(str(c) for c in df.columns if c != "rating" or df[c].notna().any())
        raise DataFormatError(
            loaded.source,
            None,
            f"no timestamps (columns: {shown}): the per-user temporal split needs a timestamp column "
            "(one of: timestamp, ts, time, unixReviewTime, date; or name it with --columns)",
        )
    if min_rating is not None:
        return _rated_at_least(loaded, min_rating)
    return loaded


def _rated_at_least(loaded: Interactions, min_rating: float) -> Interactions:
    """The interactions rated at least ``min_rating``.

    Raises:
        DataFormatError: the table has no ratings, some rows lack one, or none is that high.
    """
    rating = loaded.df["rating"].to_numpy(dtype=np.float64)
    missing = np.isnan(rating)
    if missing.all():
        raise DataFormatError(loaded.source, None, f"--min-rating {min_rating:g}: the table has no ratings")
    if missing.any():
        first = loaded.df.iloc[int(np.flatnonzero(missing)[0])]
        raise DataFormatError(
            loaded.source,
            None,
            f"--min-rating {min_rating:g}: {int(missing.sum()):,} interactions have no rating (the first: "
            f"user {first['user']!r}, item {first['item']!r})",
        )
    keep = rating >= min_rating
    if not keep.any():
        raise DataFormatError(
            loaded.source,
            None,
            f"--min-rating {min_rating:g}: no interaction is rated that high (ratings "
            f"{rating.min():g}..{rating.max():g})",
        )
    source = (
        f"{loaded.source or 'interactions'} (rating >= {min_rating:g}: {int(keep.sum()):,} of {len(keep):,})"
    )
    return Interactions(loaded.df[keep].reset_index(drop=True), source=source)


def run_job(
    interactions: Interactions,
    config: JobConfig | None = None,
    *,
    callback: Callback | None = None,
    cache_dir: str | Path | None = None,
) -> JobResult:
    """Run the whole job (see the module docstring) and return every model with its figures.

    ``cache_dir``: a folder that keeps every trained model under a key of its recipe
    (:class:`~distillrank.recsys.cache.ModelCache`): a run that crashed resumes with the models it had
    finished, and a re-run with unchanged settings trains nothing (``None``: nothing is kept).
    """
    cfg = (config or JobConfig()).effective()
    torch_threads(cfg.threads)  # None: $DISTILLRANK_THREADS, else OMP_NUM_THREADS, else the cores available
    t_start = time.perf_counter()
    cb: Callback = callback or (lambda stage, log, total: None)
    data = job_split(interactions, cfg)
    if len(data.eval_users("valid")) == 0 or len(data.eval_users("test")) == 0:
        most = max(
            len(t) + len(v) + len(e) for t, v, e in zip(data.train, data.valid, data.test, strict=True)
        )
        raise DataFormatError(
            data.source,
            None,
            "no user has enough interactions for validation and test items (a user needs 3 different "
            f"items; the most any user has is {most})",
        )
    if cfg.sampled_metrics is not None and cfg.sampled_metrics >= data.n_items:
        raise DataFormatError(
            data.source,
            None,
            f"--sampled-metrics {cfg.sampled_metrics} is not below the catalogue's {data.n_items} items: "
            "every unseen item would be sampled (leave it out for full-catalogue metrics)",
        )
    if data.n_items < cfg.K:
        raise DataFormatError(
            data.source,
            None,
            f"the catalogue has {data.n_items} items, fewer than the teacher's top-K ranking "
            f"(--top-k {cfg.K})",
        )
    windows = make_windows(data, cfg.L, cfg.T)
    runs: dict[str, ModelRun] = {}
    cache = ModelCache(
        cache_dir, data, on_reuse=lambda name: cb(f"{name}: reused from {cache.folder}", None, 0)
    )

    def stage(name: str, total: int) -> Callable[[EpochLog], None]:
        cb(name, None, total)
        return lambda log: cb(name, log, total)

    def caser(
        label: str, recipe: dict[str, Any], d: int, train: Callable[[], tuple[Caser, FitResult]]
    ) -> tuple[Caser, FitResult]:
        model, result, _ = cache.get_or_train(label, recipe, lambda: build_caser(data, cfg, d), train)
        return model, result

    weight_decay_search: list[dict[str, Any]] = []

    def choose_weight_decay(
        role: str, d: int, train: Callable[[float], tuple[Caser, FitResult]]
    ) -> tuple[Caser, FitResult, float]:
        """Train with every L2 weight of the grid; keep the model with the best validation nDCG@10."""
        best: tuple[Caser, FitResult, float] | None = None
        for wd in cfg.weight_decays:
            model, result = train(wd)
            weight_decay_search.append(
                {"role": role, "d": d, "weight_decay": wd, "valid_nDCG@10": round(result.best_valid, 6)}
            )
            if best is None or result.best_valid > best[1].best_valid:
                best = (model, result, wd)
        assert best is not None
        return best

    # -- teacher and student without distillation
    name_t = f"caser-teacher-d{cfg.teacher_d}"

    def teacher_of(wd: float, member: int = 0) -> tuple[Caser, FitResult]:
        label = f"{name_t} L2={wd:g}" + (f" member {member + 1}" if member else "")
        return caser(
            label,
            teacher_recipe(cfg, wd, member),
            cfg.teacher_d,
            lambda: train_teacher(
                data, windows, cfg, wd, member=member, on_epoch=stage(label, cfg.teacher_epochs)
            ),
        )

    first, fit_t, wd_t = choose_weight_decay("teacher", cfg.teacher_d, teacher_of)
    runs[name_t] = ModelRun(name_t, "teacher", first, fit_t, {"d": cfg.teacher_d, "weight_decay": wd_t})
    teacher: Caser | ScoreEnsemble = first
    if cfg.teacher_members > 1:
        members, member_valid = [first], [fit_t.best_valid]
        for member in range(1, cfg.teacher_members):
            model, result = teacher_of(wd_t, member)
            members.append(model)
            member_valid.append(result.best_valid)
        runs[name_t].role = "teacher_member"
        name_t = f"caser-teacher-d{cfg.teacher_d}-x{cfg.teacher_members}"
        teacher = ScoreEnsemble(members).eval()
        info: dict[str, Any] = {"d": cfg.teacher_d, "weight_decay": wd_t, "members": cfg.teacher_members}
        info["members_valid_nDCG@10"] = [round(v, 6) for v in member_valid]
        runs[name_t] = ModelRun(name_t, "teacher", teacher, None, info)

    def plain(d: int, wd: float) -> tuple[Caser, FitResult]:
        label = f"caser-student-d{d} L2={wd:g}"
        return caser(
            label,
            student_recipe(cfg, d, wd),
            d,
            lambda: train_student(data, windows, cfg, d, wd, on_epoch=stage(label, cfg.student_epochs)),
        )

    student, fit_s, wd_s = choose_weight_decay("student", cfg.student_d, lambda wd: plain(cfg.student_d, wd))
    name_s = f"caser-student-d{cfg.student_d}"
    runs[name_s] = ModelRun(name_s, "student", student, fit_s, {"d": cfg.student_d, "weight_decay": wd_s})

    # -- ranking distillation
    cb("teacher top-K", None, 0)
    topk = teacher_topk(teacher, windows, data, K=cfg.K)

    teacher_keys = [cache.key(teacher_recipe(cfg, wd_t, m)) for m in range(cfg.teacher_members)]

    def rd(weighting: str, alpha: float, d: int) -> tuple[Caser, FitResult]:
        label = f"RD {weighting} alpha={alpha:g} d={d}"
        return caser(
            label,
            rd_recipe(cfg, d, wd_s, weighting=weighting, alpha=alpha, teacher=teacher_keys),
            d,
            lambda: train_rd_student(
                data,
                windows,
                topk,
                cfg,
                d,
                wd_s,
                weighting=weighting,
                alpha=alpha,
                on_epoch=stage(label, cfg.student_epochs),
            ),
        )

    alpha_search: list[dict[str, Any]] = []
    trained: dict[tuple[str, float], tuple[Caser, FitResult]] = {}
    for alpha in cfg.alphas:
        trained[("hybrid", alpha)] = rd("hybrid", alpha, cfg.student_d)
        alpha_search.append(
            {"weighting": "hybrid", "alpha": alpha, "valid_nDCG@10": trained[("hybrid", alpha)][1].best_valid}
        )
    alpha = max(cfg.alphas, key=lambda a: trained[("hybrid", a)][1].best_valid)
    for weighting in cfg.weightings:
        model, result = trained.get((weighting, alpha)) or rd(weighting, alpha, cfg.student_d)
        name = f"caser-rd-{weighting}-d{cfg.student_d}"
        runs[name] = ModelRun(
            name,
            "rd_ablation",
            model,
            result,
            {"d": cfg.student_d, "weighting": weighting, "alpha": alpha, "weight_decay": wd_s},
        )
    rd_names = [n for n, r in runs.items() if r.role == "rd_ablation"]
    best_rd = max(rd_names, key=lambda n: _valid(runs[n]))
    runs[best_rd].role = "rd_student"

    # -- other student sizes: the same student-only / RD pair (the headline's weighting and alpha)
    best_weighting = runs[best_rd].info["weighting"]
    for d in dict.fromkeys(cfg.student_sizes):
        if d == cfg.student_d:
            continue
        model, result = plain(d, wd_s)
        name = f"caser-student-d{d}"
        runs[name] = ModelRun(name, "size_student", model, result, {"d": d, "weight_decay": wd_s})
        model, result = rd(best_weighting, alpha, d)
        name = f"caser-rd-{best_weighting}-d{d}"
        runs[name] = ModelRun(
            name,
            "size_rd",
            model,
            result,
            {"d": d, "weighting": best_weighting, "alpha": alpha, "weight_decay": wd_s},
        )

    # -- two-tower models
    if cfg.two_tower:
        runs.update(_two_tower_runs(data, cfg, stage, cache))

    # -- test metrics and cost
    cb("evaluation", None, 0)
    for run in runs.values():
        test = evaluate_ranking(run.model, data, "test", sampled=cfg.sampled_metrics, seed=cfg.seed)
        run.metrics = {k: test.metrics[k] for k in (*REPORTED, "R@10") if k in test.metrics}
        run.per_user = np.asarray(test.per_user["nDCG@10"], dtype=np.float64)
    cb("timing", None, 0)
    scorers: dict[str, SequenceScorer] = {n: r.model for n, r in runs.items()}
    costs = measure_inference(scorers, data, batch_size=cfg.timing_batch, rounds=cfg.timing_rounds)
    for name, run in runs.items():
        c = costs[name]
        run.cost = {
            "params": c["params"],
            "ms_per_user": round(c["ms_per_user"], 5),
            "latency_ms": round(c["latency_ms"], 4),
            "timing_batch": cfg.timing_batch,
        }
    headline = {"teacher": name_t, "student": name_s, "rd_student": best_rd}
    seconds = time.perf_counter() - t_start
    reuse = {
        "folder": None if cache.folder is None else str(cache.folder),
        "models_reused": len(cache.reused),
        "models_trained": len(cache.trained),
    }
    return JobResult(data, cfg, runs, headline, alpha_search, seconds, weight_decay_search, reuse)


def _paired_p(a: ModelRun, b: ModelRun) -> float | None:
    """Two-sided paired randomisation test p-value of ``a``'s per-user test nDCG@10 against ``b``'s."""
    if a.per_user is None or b.per_user is None or len(a.per_user) != len(b.per_user) or len(a.per_user) < 2:
        return None
    return round(permutation_test(a.per_user, b.per_user, n_resamples=10_000, seed=0), 4)


def _valid(run: ModelRun) -> float:
    return run.fit.best_valid if run.fit is not None else float("-inf")


def _two_tower_runs(
    data: SequentialData,
    cfg: JobConfig,
    stage: Callable[[str, int], Callable[[EpochLog], None]],
    cache: ModelCache,
) -> dict[str, ModelRun]:
    windows = make_windows(data, cfg.tt_L, 1)
    runs: dict[str, ModelRun] = {}
    tt_config = TwoTowerConfig(data.n_users, data.n_items, d=cfg.tt_d, L=cfg.tt_L)

    def model() -> TwoTower:
        set_seed(cfg.seed + 2)
        return TwoTower(tt_config)

    def tconf(epochs: int, lr: float | None = None) -> TrainConfig:
        return TrainConfig(
            epochs=epochs,
            batch_size=cfg.tt_batch_size,
            lr=lr or cfg.tt_lr,
            patience=cfg.tt_patience,
            eval_every=1,
            seed=cfg.seed + 2,
        )

    def recipe(loss: str, train: TrainConfig, **extra: Any) -> dict[str, Any]:
        return {
            "recipe": "two-tower",
            "model": asdict(tt_config),
            "loss": loss,
            "train": asdict(train),
            **extra,
        }

    def from_scratch(
        loss: str, make_step: Callable[[TwoTower], Any]
    ) -> Callable[[], tuple[TwoTower, FitResult]]:
        def train() -> tuple[TwoTower, FitResult]:
            m = model()
            on_epoch = stage(f"two-tower-{loss}", cfg.tt_epochs)
            return m, fit(m, make_step(m), len(windows), data, tconf(cfg.tt_epochs), on_epoch=on_epoch)

        return train

    hyper: dict[str, dict[str, Any]] = {"sampled_softmax": {}, "pair_ce": {}, "triplet": {"margin": 1.0}}
    for loss, kw in hyper.items():
        name = f"two-tower-{loss}"

        def sampled(m: TwoTower, loss: str = loss, kw: dict[str, Any] = kw) -> Any:
            sampler = NegativeSampler(data, seed=cfg.seed + 2)
            return sampled_list_step(m, windows, sampler, loss, cfg.tt_neg, **kw)

        spec = recipe(loss, tconf(cfg.tt_epochs), kw=kw, n_neg=cfg.tt_neg, sampler_seed=cfg.seed + 2)
        m, result, _ = cache.get_or_train(name, spec, model, from_scratch(loss, sampled))
        runs[name] = ModelRun(name, "two_tower", m, result, {"loss": loss, "training": "from scratch"})
    name = "two-tower-in_batch_softmax"
    spec = recipe("in_batch_softmax", tconf(cfg.tt_epochs), sampler_seed=cfg.seed + 2)
    m, result, _ = cache.get_or_train(
        name,
        spec,
        model,
        from_scratch(
            "in_batch_softmax", lambda m: in_batch_step(m, windows, NegativeSampler(data, seed=cfg.seed + 2))
        ),
    )
    runs[name] = ModelRun(
        name, "two_tower", m, result, {"loss": "in_batch_softmax", "training": "from scratch"}
    )
    pretrained_key = cache.key(spec)
    pretrained = {k: v.detach().clone() for k, v in m.state_dict().items()}
    for loss in ("sampled_softmax", "pair_ce"):
        name = f"two-tower-fps+{loss}"

        def finetune(loss: str = loss, name: str = name) -> tuple[TwoTower, FitResult]:
            ft = model()
            ft.load_state_dict(pretrained)
            step = sampled_list_step(ft, windows, NegativeSampler(data, seed=cfg.seed + 3), loss, cfg.tt_neg)
            config = tconf(cfg.tt_finetune_epochs, cfg.tt_finetune_lr)
            on_epoch = stage(name, cfg.tt_finetune_epochs)
            return ft, fit(ft, step, len(windows), data, config, on_epoch=on_epoch)

        ft_conf = tconf(cfg.tt_finetune_epochs, cfg.tt_finetune_lr)
        spec_ft = recipe(
            loss, ft_conf, n_neg=cfg.tt_neg, sampler_seed=cfg.seed + 3, pretrained=pretrained_key
        )
        ft, result, _ = cache.get_or_train(name, spec_ft, model, finetune)
        runs[name] = ModelRun(
            name, "two_tower", ft, result, {"loss": loss, "training": "FPS pre-training + fine-tuning"}
        )
    return runs


def write_report(result: JobResult, folder: str | Path) -> list[Path]:
    """``report.md``, ``report.html`` and ``metrics.json`` into ``folder``."""
    from distillrank.recsys.report import build_report

    report = build_report(result)
    return report.write(folder, metrics=result.metrics_json())
