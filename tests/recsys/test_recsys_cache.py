"""``recsys distill`` keeps its trained models: a re-run trains nothing, a crashed run resumes, and a
changed setting retrains exactly the models it reaches — always with the figures of a run from scratch."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from distillrank.data.interactions import Interactions
from distillrank.recsys import pipeline
from distillrank.recsys.cache import ModelCache, recipe_key
from distillrank.recsys.pipeline import JobConfig, JobResult, run_job
from distillrank.recsys.protocol import rd_recipe, student_recipe, teacher_recipe

SMALL = JobConfig(
    teacher_d=12,
    student_d=6,
    teacher_epochs=3,
    student_epochs=3,
    tt_epochs=2,
    tt_finetune_epochs=1,
    alphas=(1.0,),
    weight_decays=(1e-6,),
    weightings=("uniform", "hybrid"),
    two_tower=False,
    threads=1,
)


def _figures(result: JobResult) -> dict[str, dict[str, float]]:
    return {name: run.metrics for name, run in result.runs.items()}


def _no_training(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a model was trained although the cache has it")


def test_a_rerun_trains_nothing_and_gives_the_same_figures(
    synthetic: Interactions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = dataclasses.replace(SMALL, two_tower=True)
    fresh = run_job(synthetic, cfg)
    first = run_job(synthetic, cfg, cache_dir=tmp_path)
    assert first.cache["models_trained"] == len(fresh.runs) and first.cache["models_reused"] == 0
    monkeypatch.setattr(pipeline, "fit", _no_training)  # the two-tower models train through fit
    for name in ("train_teacher", "train_student", "train_rd_student"):
        monkeypatch.setattr(pipeline, name, _no_training)
    again = run_job(synthetic, cfg, cache_dir=tmp_path)
    assert again.cache["models_trained"] == 0 and again.cache["models_reused"] == len(fresh.runs)
    assert _figures(again) == _figures(first) == _figures(fresh)
    for name, run in again.runs.items():  # the training log comes back too
        assert run.fit is not None and first.runs[name].fit is not None
        assert run.fit.best_epoch == first.runs[name].fit.best_epoch
        assert run.fit.history == first.runs[name].fit.history
    assert json.loads(json.dumps(again.metrics_json()))["cache"]["models_reused"] == len(fresh.runs)


def test_a_crashed_run_resumes_with_the_models_it_finished(
    synthetic: Interactions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = run_job(synthetic, SMALL)
    trained: list[str] = []
    real = pipeline.train_rd_student

    def crash_on_the_second(*args: Any, **kwargs: Any) -> Any:
        trained.append(kwargs["weighting"])
        if len(trained) == 2:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "train_rd_student", crash_on_the_second)
    with pytest.raises(RuntimeError, match="killed"):
        run_job(synthetic, SMALL, cache_dir=tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no half-written folder left
    monkeypatch.setattr(pipeline, "train_rd_student", real)
    resumed = run_job(synthetic, SMALL, cache_dir=tmp_path)
    # teacher, student and the first RD student were finished; only the second RD student trains again
    assert resumed.cache == {"folder": str(tmp_path), "models_reused": 3, "models_trained": 1}
    assert _figures(resumed) == _figures(fresh)


def test_a_changed_setting_retrains_the_models_it_reaches(
    synthetic: Interactions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_job(synthetic, SMALL, cache_dir=tmp_path)
    # the students' negatives: the teacher is reused, every student trains again
    students = run_job(synthetic, dataclasses.replace(SMALL, n_neg=2), cache_dir=tmp_path)
    assert students.cache["models_reused"] == 1 and students.cache["models_trained"] == 3
    # the teacher's epochs: the teacher and the RD students (its top-K changed) train, the student alone not
    teacher = run_job(synthetic, dataclasses.replace(SMALL, teacher_epochs=2), cache_dir=tmp_path)
    assert teacher.cache["models_reused"] == 1 and teacher.cache["models_trained"] == 3
    # settings that train nothing: the evaluation's, the timing's, the threads
    other = dataclasses.replace(SMALL, timing_rounds=1, sampled_metrics=20)
    assert run_job(synthetic, other, cache_dir=tmp_path).cache["models_trained"] == 0


def test_a_damaged_model_is_trained_again(synthetic: Interactions, tmp_path: Path) -> None:
    first = run_job(synthetic, SMALL, cache_dir=tmp_path)
    (teacher,) = [p for p in tmp_path.iterdir() if p.name.startswith("caser-teacher")]
    (teacher / "model.safetensors").write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="cannot be read"):
        again = run_job(synthetic, SMALL, cache_dir=tmp_path)
    assert again.cache["models_trained"] == 1 and _figures(again) == _figures(first)


# Settings of JobConfig that reach no Caser's training (the data split's are in the data's fingerprint; the
# two-tower ones in the two-tower recipes, checked above by the re-run that reuses the two-tower models).
NOT_IN_CASER_RECIPES = {
    "alphas",  # grids: each point is its own recipe
    "weight_decays",
    "weightings",
    "student_sizes",
    "teacher_members",
    "student_d",  # the recipes take d itself
    "two_tower",
    "test_fraction",  # the split: in the data fingerprint
    "valid_fraction",
    "n_test",
    "n_valid",
    "sampled_metrics",  # test evaluation and timing only
    "timing_batch",
    "timing_rounds",
    "threads",
    "quick",  # applied by effective() to the epochs, which are in the recipes
}


def _caser_recipes(cfg: JobConfig) -> list[str]:
    teacher = [recipe_key(teacher_recipe(cfg, 1e-4, m)) for m in range(2)]
    return [
        *teacher,
        recipe_key(student_recipe(cfg, 6, 1e-4)),
        recipe_key(rd_recipe(cfg, 6, 1e-4, weighting="hybrid", alpha=1.0, teacher=teacher)),
    ]


def test_every_setting_that_trains_a_caser_is_in_its_recipe() -> None:
    base = JobConfig()
    reference = _caser_recipes(base)
    for f in dataclasses.fields(JobConfig):
        if f.name in NOT_IN_CASER_RECIPES or f.name.startswith("tt_"):
            continue
        value = getattr(base, f.name)
        changed = dataclasses.replace(base, **{f.name: value + 1 if isinstance(value, int) else value * 2})
        assert _caser_recipes(changed) != reference, f"JobConfig.{f.name} reaches no recipe"


def test_the_key_depends_on_the_data(synthetic: Interactions) -> None:
    from distillrank.recsys.protocol import job_split

    a = ModelCache(None, job_split(synthetic, SMALL))
    b = ModelCache(None, job_split(synthetic, dataclasses.replace(SMALL, test_fraction=0.3)))
    recipe = student_recipe(SMALL, 6, 1e-4)
    assert a.key(recipe) != b.key(recipe)
