from distillrank.cli._common import _reflow
from distillrank.cli.main import app


def test_reflow_joins_wrapped_lines_and_keeps_lists() -> None:
    doc = """First line.

    A paragraph wrapped
    at the source's width.

    Steps:
    - one
      continued
    - two
    \f
    hidden
    """
    expected = "First line.\n\nA paragraph wrapped at the source's width.\n\nSteps:\n- one continued\n- two"
    assert _reflow(doc) == expected


def _commands(typer_app):  # type: ignore[no-untyped-def]
    yield from typer_app.registered_commands
    for group in typer_app.registered_groups:
        yield from _commands(group.typer_instance)


def test_every_command_help_has_no_wrapped_lines() -> None:
    """rich keeps single line breaks of --help: a docstring wrapped at the source's width prints ragged."""
    helps = [c.help for c in _commands(app) if c.callback is not None and c.callback.__doc__]
    assert len(helps) >= 10
    for text in helps:
        for para in text.split("\n\n"):
            lines = para.split("\n")
            assert all(line.lstrip()[:1] in "-*•" or line.lstrip()[:1].isdigit() for line in lines[1:]), para
