"""The main job behind ``distillrank run``: teacher, cached teacher labels, students, evaluation, report.

>>> from distillrank.pipeline import JobConfig, run_job
>>> JobConfig(dataset="scifact").with_quick().max_test_queries
60
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distillrank.pipeline.config import JobConfig
    from distillrank.pipeline.job import JobResult, run_job

# loaded on first use: the job's module pulls in torch and transformers
_LAZY = {"JobConfig": "distillrank.pipeline.config", "JobResult": "distillrank.pipeline.job"}
_LAZY["run_job"] = "distillrank.pipeline.job"


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'distillrank.pipeline' has no attribute {name!r}")


__all__ = ["JobConfig", "JobResult", "run_job"]
