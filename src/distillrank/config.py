"""Typed configuration models: validated with pydantic, read from YAML, JSON or TOML, clear errors.

Every configurable component (the trainer, the main job) subclasses :class:`ConfigModel`. Errors name
the source and the field, one per line: ``train.yaml: batch_size: must be >= 1 (got 0)``.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ValidationError

from distillrank.errors import DistillrankError

__all__ = ["ConfigError", "ConfigModel", "read_config_file"]


class ConfigError(DistillrankError, ValueError):
    """An invalid trainer configuration: ``source: field: problem`` for each problem, one per line.

    Attributes:
        source: the file (or ``<dict>``) the settings came from.
        problems: ``(field, problem)`` pairs; ``field`` is dotted for nested values, ``""`` when the
            problem concerns several fields.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: {field}: {msg}" if field else f"{source}: {msg}" for field, msg in problems]
        super().__init__("\n".join(lines))


_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _problem(error: Any, fields: list[str]) -> tuple[str, str]:
    """A readable ``(field, message)`` for one pydantic error."""
    loc = ".".join(str(p) for p in error["loc"])
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "extra_forbidden":
        return loc, f"unknown setting (valid settings: {', '.join(fields)})"
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()))
        return loc, f"must be {_BOUNDS[kind]} {bound:g} (got {value!r})"
    if kind == "value_error":
        msg = str(ctx.get("error", error["msg"]))
        if not loc and ": " in msg:  # whole-model checks name their field as "field: message"
            loc, msg = msg.split(": ", 1)
        return loc, msg
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return loc, f"must be an integer (got {value!r})"
    if kind in ("float_type", "float_parsing"):
        return loc, f"must be a number (got {value!r})"
    if kind in ("bool_type", "bool_parsing"):
        return loc, f"must be true or false (got {value!r})"
    if kind == "literal_error":
        return loc, f"must be {ctx.get('expected')} (got {value!r})"
    if kind == "dict_type":
        return loc, f"must be a mapping (got {value!r})"
    if kind in ("string_type", "path_type"):
        return loc, f"must be a string (got {value!r})"
    return loc, f"{error['msg']} (got {value!r})"


def read_config_file(path: str | Path) -> Any:
    """The parsed content of a ``.yaml``/``.yml``, ``.json`` or ``.toml`` file (``{}`` for an empty YAML)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(str(path), [("", f"cannot read the file ({e.strerror or e})")]) from None
    try:
        if suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
            return {} if data is None else data
        if suffix == ".json":
            return json.loads(text)
        if suffix == ".toml":
            return tomllib.loads(text)
    except Exception as e:  # the parsers' own errors carry the line and column
        raise ConfigError(str(path), [("", f"cannot parse {suffix[1:].upper()}: {e}")]) from None
    raise ConfigError(str(path), [("", f"unknown config format {suffix!r}: use .yaml, .yml, .json or .toml")])


class ConfigModel(BaseModel):
    """A pydantic model with :meth:`from_dict` / :meth:`from_file` that raise :class:`ConfigError`.

    ``section``: a file may hold the settings at its top level or under this one key.
    """

    section: ClassVar[str | None] = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<dict>") -> Self:
        """Validate ``data``; raise :class:`ConfigError` naming ``source`` and each bad field."""
        if not isinstance(data, dict):
            raise ConfigError(source, [("", f"expected a mapping of settings, got {type(data).__name__}")])
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            fields = sorted(cls.model_fields)
            problems = [_problem(err, fields) for err in e.errors()]
            raise ConfigError(source, problems) from None

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        """Read ``.yaml``/``.yml``, ``.json`` or ``.toml``; settings at the top level or under ``section``."""
        data = read_config_file(path)
        sec = cls.section
        if sec and isinstance(data, dict) and set(data) == {sec} and isinstance(data[sec], dict):
            data = data[sec]
        return cls.from_dict(data, source=str(path))
