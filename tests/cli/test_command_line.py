"""The command line as a whole: Ctrl-C is one line (exit 130), a resumable job says where its finished work
is kept, and `python -m distillrank` is the same command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from distillrank.cli import online, recsys
from distillrank.cli import run as run_cli
from distillrank.cli._common import friendly_errors, resumable

runner = CliRunner()


def _app(mark: bool) -> typer.Typer:
    app = typer.Typer()

    def job(output: Annotated[Path, typer.Option("--output")]) -> None:
        raise KeyboardInterrupt

    app.command("job")(friendly_errors(resumable(job) if mark else job))
    app.command("other")(lambda: None)  # two commands: typer keeps the sub-command name
    return app


@pytest.mark.parametrize("mark", [True, False])
def test_ctrl_c_is_one_line_and_exit_130(tmp_path: Path, mark: bool) -> None:
    result = runner.invoke(_app(mark), ["job", "--output", str(tmp_path / "out")])
    assert result.exit_code == 130
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert text.startswith("interrupted")
    resumes = f"the finished work is kept in {tmp_path / 'out'}; run the same command again to resume"
    assert (resumes in text) is mark


def test_the_resumable_jobs_are_marked() -> None:
    for command in (run_cli.run, recsys.distill, online.simulate):
        assert getattr(command, "resumes_from_output", False), command.__name__
    assert not getattr(online.learn, "resumes_from_output", False)


def test_python_m_distillrank_is_the_command_line() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "distillrank", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("distillrank ")
