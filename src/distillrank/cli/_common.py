"""Pieces shared by the CLI commands: the console, common options, progress bars and error display."""

from __future__ import annotations

import difflib
import functools
import inspect
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from distillrank.errors import DistillrankError

console = Console(stderr=True)
out = Console()

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder holding the datasets (default: $DISTILLRANK_DATA, else ~/.cache/distillrank).",
        show_default=False,
    ),
]
DatasetOption = Annotated[
    str, typer.Option("--dataset", "-d", help="A catalogue name (see `distillrank datasets list`) or a path.")
]

QueryFieldOption = Annotated[
    str | None,
    typer.Option(
        "--query-field",
        help="TREC topics only: the topic field(s) that are the query text: title (default), desc, narr, "
        "or several joined with '+' (title+desc).",
        show_default=False,
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def warn(message: str) -> None:
    """One yellow ``warning: ...`` line on stderr (the look of every warning the CLI shows)."""
    console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    warn(str(message))


def install_warning_display() -> None:
    """Print warnings (e.g. :class:`~distillrank.errors.DataWarning`) as one yellow line, no source echo."""
    warnings.showwarning = _show_warning


def choose(value: str, choices: Sequence[str], option: str, what: str, cutoff: float = 0.5) -> str:
    """``value`` if it is one of ``choices``, else an error naming ``option`` and the closest choice
    (``--feedback: unknown click model 'dbn'; choose from pbm, cascade``)."""
    if value in choices:
        return value
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=cutoff)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise DistillrankError(f"{option}: unknown {what} {value!r}{hint}; choose from {', '.join(choices)}")


def fields_as_options(message: str, option_of: Mapping[str, str]) -> str:
    """A config error with its field names written as the options that set them
    (``eps_minus must be <= eps_plus`` -> ``--eps-minus must be <= --eps-plus``)."""
    field = re.compile(r"\b(" + "|".join(map(re.escape, option_of)) + r")\b")
    return field.sub(lambda m: option_of[m.group(1)], message)


def columns_option(text: str | None) -> list[str] | dict[str, str] | None:
    """``--columns`` parsed (:func:`~distillrank.data.formats.interactions_io.parse_columns`); a bad value
    is a one-line error naming the option."""
    from distillrank.data.formats.interactions_io import parse_columns

    try:
        return parse_columns(text)
    except ValueError as e:
        raise DistillrankError(f"--{e}") from e


def query_field_option(text: str | None) -> str | None:
    """``--query-field`` checked (:func:`~distillrank.data.formats.trec.check_query_field`); a bad value is
    a one-line error naming the option."""
    from distillrank.data.formats.trec import check_query_field

    if text is None:
        return None
    try:
        return check_query_field(text)
    except ValueError as e:
        raise DistillrankError(f"--query-field: {e}") from e


def file_in_the_way(path: Path, *, itself: bool) -> Path | None:
    """The existing file that keeps ``path`` from being written into a folder: one of its parents, or
    ``path`` itself when ``itself`` (an output folder); ``None`` when there is none."""
    return next((p for p in ((path,) if itself else ()) + tuple(path.parents) if p.is_file()), None)


def folder_output(fn: F) -> F:
    """Mark a command whose ``--output`` is a folder: :func:`friendly_errors` refuses an existing file
    there before any work starts (rather than when the first result is written)."""
    fn.output_is_folder = True  # type: ignore[attr-defined]
    return fn


def report_output(fn: F) -> F:
    """Mark a command that writes a report (``metrics.json``, ``report.md``, ``report.html``) into its
    ``--output`` folder: :func:`friendly_errors` refuses, before any work, a folder whose ``metrics.json``
    is not one of ours (:func:`foreign_metrics`), rather than replace it at the end."""
    fn.writes_report = True  # type: ignore[attr-defined]
    return folder_output(fn)


def resumable(fn: F) -> F:
    """Mark a command whose finished work under ``--output`` (a folder, :func:`report_output`) is kept
    when it is stopped, so that the same command resumes (:func:`friendly_errors` then says so on
    Ctrl-C)."""
    fn.resumes_from_output = True  # type: ignore[attr-defined]
    return report_output(fn)


_REPORT_KEYS = frozenset({"models", "estimators", "policies", "campaigns"})
"""Top-level keys of which every job's ``metrics.json`` holds one (run/recsys: models; online: estimators;
bandits: policies, campaigns)."""


def foreign_metrics(folder: Path) -> str | None:
    """Why ``folder/metrics.json`` is not a report a distillrank job wrote (``None`` when it is one, or
    when there is none)."""
    import json

    path = folder / "metrics.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        return "is not JSON"
    if not isinstance(data, dict) or not _REPORT_KEYS & set(data):
        return "is not a distillrank report (it has none of " + ", ".join(sorted(_REPORT_KEYS)) + ")"
    return None


def friendly_errors(fn: F) -> F:
    """Show our own errors (bad input, missing data) as one red line and exit 2, without a traceback;
    Ctrl-C as one line (exit 130), which for a :func:`resumable` command says where its finished work is
    kept and that the same command resumes from it."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            output = kwargs.get("output")
            if getattr(fn, "output_is_folder", False) and output is not None:
                blocked = file_in_the_way(Path(output), itself=True)
                if blocked is not None:
                    where = "" if blocked == Path(output) else f" (in {blocked})"
                    raise DistillrankError(
                        f"--output {output}: is a file{where}; give a folder to write into"
                    )
                why = foreign_metrics(Path(output)) if getattr(fn, "writes_report", False) else None
                if why is not None:
                    raise DistillrankError(
                        f"--output {output}: its metrics.json {why}, and this command's report would "
                        "replace it; give another folder, or move the file"
                    )
            return fn(*args, **kwargs)
        except (DistillrankError, KeyError, FileNotFoundError) as e:
            msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
            if isinstance(e, KeyError) and not (isinstance(msg, str) and " " in msg):
                raise  # a bare key is a bug of ours, not a message: its traceback says where
            console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from e
        except OSError as e:  # the machine refusing (permissions, a full disk, a read-only folder)
            console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from e
        except Exception as e:
            if _interrupted_query(e):  # Ctrl-C inside a DuckDB query arrives as DuckDB's own error
                _say_interrupted(fn, kwargs)
                raise typer.Exit(130) from None
            if type(e).__name__ != "LightGBMError":
                raise
            # LightGBM refusing the data it was given (too few rows or features to split, labels it
            # cannot rank): one line, not a traceback through its C++ checks
            msg = str(e).split("\n", 1)[0]
            console.print(
                f"[bold red]error:[/] LightGBM could not train on these data ({escape(msg)}): too few "
                "sessions, rows or clicks?",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2) from e
        except KeyboardInterrupt:
            _say_interrupted(fn, kwargs)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _interrupted_query(e: Exception) -> bool:
    """Whether ``e`` is DuckDB reporting a query stopped by Ctrl-C (``RuntimeError: Query interrupted``,
    or its ``InterruptException``), which it raises instead of KeyboardInterrupt."""
    if type(e).__module__.split(".")[0] in ("duckdb", "_duckdb") and "Interrupt" in type(e).__name__:
        return True
    return isinstance(e, RuntimeError) and str(e).strip().lower() == "query interrupted"


def _say_interrupted(fn: Callable[..., Any], kwargs: Mapping[str, Any]) -> None:
    output = kwargs.get("output")
    msg = "interrupted"
    if getattr(fn, "resumes_from_output", False) and output is not None:
        msg += f": the finished work is kept in {output}; run the same command again to resume"
    console.print(f"[yellow]{escape(msg)}[/]", highlight=False, soft_wrap=True)


def progress() -> Progress:
    """A rich progress bar with count, elapsed and remaining time (hidden when not a terminal)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not sys.stderr.isatty(),
    )


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner for a step whose length is unknown; prints the step and its time when it ends."""
    import time

    t0 = time.perf_counter()
    with console.status(message):
        yield
    console.print(f"[green]✓[/] {message} [dim]({time.perf_counter() - t0:.1f} s)[/]")


_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s")


def _reflow(text: str) -> str:
    """``text`` with each paragraph's single line breaks joined into spaces, except before a list item
    (``- ``, ``* ``, ``1.``) and in paragraphs marked ``\\b`` (click's "keep as written"); what follows a
    ``\\f`` line (click's cut-off) is dropped."""
    text = inspect.cleandoc(text).partition("\f")[0]
    out = []
    for para in text.split("\n\n"):
        if para.startswith("\b"):
            out.append(para)
            continue
        lines: list[str] = []
        for line in para.split("\n"):
            if lines and not _LIST_ITEM.match(line):
                lines[-1] = f"{lines[-1].rstrip()} {line.strip()}"
            else:
                lines.append(line.rstrip())
        out.append("\n".join(lines))
    return "\n\n".join(out).strip()


def reflow_help(app: typer.Typer) -> None:
    """Give every command of ``app`` (and of its sub-apps) its docstring as help with the source's line
    breaks joined (:func:`_reflow`): rich re-wraps ``--help`` to the terminal but keeps single line breaks,
    so a docstring wrapped at 110 columns prints as ragged half-lines. An explicit ``help=`` is left alone."""
    for command in app.registered_commands:
        if command.help is None and command.callback is not None and command.callback.__doc__:
            command.help = _reflow(command.callback.__doc__)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)
