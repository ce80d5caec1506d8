"""The ``distillrank`` command line: one typer app, one sub-app per stage."""

from __future__ import annotations

import os

import typer

from distillrank import __version__
from distillrank.cli import bandits, datasets, evaluate, online, recsys, retrieve
from distillrank.cli import run as run_cmd
from distillrank.cli._common import install_warning_display, reflow_help

app = typer.Typer(
    name="distillrank",
    help="Distil heavy rankers into fast students, and measure quality next to cost.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(datasets.app, name="datasets")
app.add_typer(retrieve.app, name="retrieve")
app.add_typer(recsys.app, name="recsys")
app.add_typer(online.app, name="online")
app.add_typer(bandits.app, name="bandits")
app.command("evaluate")(evaluate.evaluate)
app.command("run")(run_cmd.run)
reflow_help(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"distillrank {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """distillrank: distillation, ranking losses, unbiased learning from clicks, evaluation."""
    install_warning_display()
    # the jobs' own progress bars and lines say what is loading; transformers' per-model "Loading
    # weights" bar (read when transformers is first imported, after this) only interleaves with them
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


if __name__ == "__main__":
    app()
