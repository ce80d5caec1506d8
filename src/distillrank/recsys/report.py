"""The report of a Ranking-Distillation job: tables, figures and the targets of the issue."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from distillrank.pipeline import plots
from distillrank.pipeline.report import Report
from distillrank.recsys.data import MIN_DECOYS

if TYPE_CHECKING:
    from distillrank.recsys.pipeline import JobResult, ModelRun

__all__ = ["build_report"]

_COLUMNS = ("P@3", "P@5", "P@10", "nDCG@3", "nDCG@5", "nDCG@10", "MAP")


def _row(run: ModelRun, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"model": run.name, **extra}
    row.update({k: run.metrics.get(k) for k in _COLUMNS})
    row["params"] = run.cost.get("params")
    row["ms/user"] = run.cost.get("ms_per_user")
    return row


def _split_caveats(stats: dict[str, int | float]) -> str:
    """What the split left out of the evaluation, in a sentence or two ("" when nothing): users with too
    few interactions to hold any out, and test items no training sequence has."""
    out = ""
    short = int(stats.get("train_only_users", 0))
    if short:
        out += (
            f"{short:,} user(s) with fewer than 3 different items are kept for training only (nothing "
            f"held out, not evaluated): metrics are over {int(stats.get('test_users', 0)):,} test users. "
        )
    repeats = int(stats.get("repeats_dropped", 0))
    if repeats:
        out += (
            f"{repeats:,} rows repeating an earlier (user, item) pair are dropped (each pair counts once, at "
            "its first time). "
        )
    few = int(stats.get("few_decoy_test_users", 0))
    if few:
        out += (
            f"{few:,} test user(s) have fewer than {MIN_DECOYS} unseen items besides their test items: their "
            "top-10 metrics are near-perfect whatever the model. "
        )
    cold = int(stats.get("cold_test", 0))
    if cold:
        share = cold / max(1, int(stats.get("test", 0)))
        out += (
            f"{cold:,} test interactions ({share:.1%}) are of items that no training sequence has (cold "
            "items, which no model has learnt anything about). "
        )
    return out


def build_report(result: JobResult) -> Report:
    cfg, data, runs = result.config, result.data, result.runs
    h = result.headline
    teacher, student, rd = runs[h["teacher"]], runs[h["student"]], runs[h["rd_student"]]
    stats = data.stats()
    name = Path(data.source).name.split(".")[0] if data.source else "interactions"
    r = Report(f"Ranking Distillation on {name}")
    r.text(
        (f"Data: `{data.source}`. " if data.source else "")
        + f"{stats['users']:,} users, {stats['items']:,} items; per user in time order: "
        f"{stats['train']:,} training, {stats['valid']:,} validation and {stats['test']:,} test interactions "
        + (
            f"(the last {cfg.n_test} for test, the {cfg.n_valid} before for validation). "
            if cfg.n_test is not None
            else f"(the last {cfg.test_fraction:.0%} for test, the {cfg.valid_fraction:.0%} before for "
            "validation, at least one each). "
        )
        + _split_caveats(stats)
        + (
            f"**Sampled metrics** (not the full catalogue): each test user's held-out items are ranked "
            f"against {cfg.sampled_metrics} random items the user has not seen (they overstate quality and "
            "can reorder models: Krichene & Rendle 2020); the held-out items are relevant (binary). "
            if cfg.sampled_metrics
            else "Metrics rank the **full catalogue** for every test user, without the items the user had "
            "in training and validation; the held-out items are relevant (binary). "
        )
        + f"Inference cost: scoring the whole catalogue in batches of {cfg.timing_batch} users "
        "(`ms/user`, median of interleaved rounds) on "
        f"{cfg.threads or 'all'} thread(s)."
    )

    r.heading("Teacher, student and RD student")
    nd = "nDCG@10"
    rows = []
    member = [x for x in runs.values() if x.role == "teacher_member"]
    for run in (teacher, *member, student, rd):
        rows.append(
            _row(
                run,
                role=run.role,
                d=run.info.get("d"),
                **{
                    "nDCG@10 vs student": f"{run.metrics[nd] / student.metrics[nd] - 1:+.1%}",
                    "vs teacher": f"{run.metrics[nd] / teacher.metrics[nd]:.3f}x",
                    "speed-up": f"{teacher.cost['ms_per_user'] / run.cost['ms_per_user']:.2f}x",
                },
            )
        )
    r.table(
        rows,
        caption=f"Caser L={cfg.L}, T={cfg.T}; "
        + (
            f"the teacher is the mean score of {cfg.teacher_members} Casers (seeds {cfg.seed} to "
            f"{cfg.seed + cfg.teacher_members - 1}; the first is `teacher_member`); "
            if cfg.teacher_members > 1
            else ""
        )
        + f"{cfg.teacher_n_neg} sampled negatives per target for the "
        f"teacher, {cfg.n_neg} for every student; RD with K={cfg.K}, lambda={cfg.lam:g}, mu={cfg.mu:g} "
        f"(dynamic weights from epoch {cfg.dynamic_start_epoch}), "
        f"alpha={rd.info.get('alpha')} (chosen on validation), weighting `{rd.info.get('weighting')}` "
        "(best validation nDCG@10 among the schemes)",
    )

    r.heading("Targets")
    r.table(
        [
            {"figure": k, "value": v["value"], "target": v["target"], "pass": v["pass"]}
            for k, v in result.targets().items()
        ],
        caption="rd_over_student, rd_over_teacher: test nDCG@10 ratios; params_ratio: RD student / teacher",
    )
    test = result.rd_vs_student_test()
    if test is not None:
        r.text(
            f"RD student against the student alone, user by user: test nDCG@10 difference "
            f"{test['delta_nDCG@10']:+.4f} over {test['users']} users ({test['users_better']} ranked better, "
            f"{test['users_worse']} worse); two-sided paired randomisation test p = {test['p_value']:.4f}"
            f" ({'significant' if test['significant'] else 'not significant'} at 0.05)."
        )

    sizes = result.size_table()
    if len(sizes) > 1:
        r.heading("Student size")
        r.table(
            [
                {
                    "d": row["d"],
                    "params vs teacher": row["params_ratio"],
                    "student valid": row["student_valid"],
                    "RD valid": row["rd_valid"],
                    "student test": row["student_test"],
                    "RD test": row["rd_test"],
                    "RD vs student": f"{row['rd_over_student'] - 1:+.1%}",
                    "p (paired)": row.get("rd_vs_student_p"),
                    "student vs teacher": f"{row['student_over_teacher']:.3f}x",
                    "RD vs teacher": f"{row['rd_over_teacher']:.3f}x",
                }
                for row in sizes
            ],
            caption="Caser students of every size d, without and with RD "
            f"(weighting `{rd.info.get('weighting')}`, alpha={rd.info.get('alpha')}), with the same "
            f"L2 weight ({rd.info.get('weight_decay')}), epochs, early stopping on validation and negatives; "
            "nDCG@10; the teacher "
            f"(d={teacher.info.get('d')}) has test nDCG@10 {teacher.metrics[nd]:.4f}",
        )

    r.heading("Ablation: RD weighting schemes")
    ablation = [
        _row(
            run,
            weighting=run.info["weighting"],
            alpha=run.info["alpha"],
            valid_nDCG10=run.fit.best_valid if run.fit else None,
        )
        for run in runs.values()
        if run.role in ("rd_student", "rd_ablation")
    ]
    ablation.insert(
        0,
        _row(
            student,
            weighting="none (student only)",
            valid_nDCG10=student.fit.best_valid if student.fit else None,
        ),
    )
    r.table(
        ablation,
        caption="inverse: w_r ∝ 1/r; uniform: 1/K; exp: ∝ exp(-r/lambda); "
        "dynamic: tanh(max(0, mu (rhat_r - r))) with rhat the student's rank over the full catalogue; "
        "hybrid: exp x dynamic",
    )
    if result.alpha_search:
        r.table(
            [{k: v for k, v in row.items()} for row in result.alpha_search],
            caption="alpha on validation (hybrid weighting)",
        )
    if result.weight_decay_search:
        r.table(
            [dict(row) for row in result.weight_decay_search],
            caption="L2 weight on validation: the teacher's and the student-only model's (every RD student "
            "uses the student's)",
        )
    caser_runs = {n: x for n, x in runs.items() if n.startswith("caser") and not x.role.startswith("size_")}
    r.figure(
        plots.bars(
            {n: x.metrics[nd] for n, x in caser_runs.items()},
            ylabel="test nDCG@10",
            title="Caser teacher, student and RD students",
            reference=teacher.metrics[nd],
            reference_label="teacher",
            hlines=[
                (student.metrics[nd], "student alone"),
                (1.1 * student.metrics[nd], "+10% over the student alone (the issue's target)"),
            ],
        ),
        "caser_ndcg",
    )
    r.figure(
        plots.frontier(
            [
                {"name": n, "role": x.role, "ms_per_user": x.cost["ms_per_user"], nd: x.metrics[nd]}
                for n, x in runs.items()
            ],
            x="ms_per_user",
            y=nd,
            title="quality against inference cost"
            + (
                f" (sampled metrics, {cfg.sampled_metrics} items)"
                if cfg.sampled_metrics
                else " (full catalogue)"
            ),
        ),
        "frontier",
    )
    curves = {
        n: (
            [e.epoch for e in x.fit.history if e.valid is not None],
            [e.valid for e in x.fit.history if e.valid is not None],
        )
        for n, x in caser_runs.items()
        if x.fit is not None
    }
    r.figure(
        plots.curves(curves, xlabel="epoch", ylabel="validation nDCG@10", title="training curves"),
        "curves",
    )

    tt = {n: x for n, x in runs.items() if x.role == "two_tower"}
    if tt:
        r.heading("Two-tower models")
        r.text(
            f"User tower: mean of the last {cfg.tt_L} items' embeddings plus a user embedding, "
            "through an MLP; "
            f"item tower: item embedding through an MLP; cosine similarity / 0.1; d={cfg.tt_d}. "
            f"Sampled losses use 1 positive and {cfg.tt_neg} uniform unseen negatives; the full-product "
            "softmax (FPS) scores every user of a batch against every positive of the batch "
            "(`in_batch_softmax`, logits corrected by the log of each item's in-batch sampling probability), "
            "masking the items the user has already interacted with."
        )
        r.table(
            [_row(x, loss=x.info["loss"]) for x in tt.values() if x.info.get("training") == "from scratch"],
            caption="the four losses, trained from scratch",
        )
        scratch = {x.info["loss"]: x for x in tt.values() if x.info.get("training") == "from scratch"}
        fps_rows = []
        if "in_batch_softmax" in scratch:
            fps_rows.append(
                _row(scratch["in_batch_softmax"], training="FPS pre-training only", loss="in_batch_softmax")
            )
        for x in tt.values():
            if x.info.get("training") != "from scratch" and x.info["loss"] in scratch:
                fps_rows.append(_row(scratch[x.info["loss"]], training="from scratch", loss=x.info["loss"]))
                fps_rows.append(_row(x, training="FPS pre-training + fine-tuning", loss=x.info["loss"]))
        if fps_rows:
            r.table(
                fps_rows, caption="FPS pre-training (in-batch softmax) then fine-tuning, against from scratch"
            )
        r.text(
            "FPS pre-training + fine-tuning: the model is first trained with the full-product softmax over "
            "in-batch negatives (the `in_batch_softmax` row above, early-stopped on validation), then "
            f"training continues from those weights with the sampled softmax or PairCE over uniform "
            f"negatives at a tenth of the learning rate ({cfg.tt_finetune_lr:g}), again early-stopped on "
            "validation nDCG@10. In-batch negatives are drawn in proportion to popularity (the logits are "
            "logQ-corrected, Yi et al. 2019), uniform ones are not: the two stages see different negatives."
        )
    r.text(f"Total time: {result.seconds:.0f} s.")
    return r
