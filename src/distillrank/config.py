"""Typed configuration models: validated with pydantic, read from YAML, JSON or TOML, clear errors.

Every configurable component (the trainer, the main job) subclasses :class:`ConfigModel`. Errors name
the source and the field, one per line: ``train.yaml: batch_size: must be >= 1 (got 0)``.
"""

from __future__ import annotations

import difflib
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


_TYPE_NAMES = frozenset({"float", "int", "str", "bool", "list", "dict", "none"})
"""Union branch names pydantic adds to an error's location."""

_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _fields_at(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """The settings of the (nested) section at ``path`` of ``model``, sorted (``[]`` when unknown)."""
    for part in path:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)


def _unknown_setting(name: str, fields: list[str]) -> str:
    """``unknown setting``, with the closest valid name when one is close, and every valid name."""
    close = difflib.get_close_matches(name, fields, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown setting ({hint}valid settings: {', '.join(fields)})"


def _problem(error: Any, model: type[BaseModel]) -> tuple[str, str]:
    """A readable ``(field, message)`` for one pydantic error of ``model``."""
    path = tuple(error["loc"])
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind != "extra_forbidden":
        # A union's errors carry the branch in the location ("teacher_scale.float"): drop it, the
        # field's own validator or the message says what is allowed.
        path = tuple(p for p in path if not (isinstance(p, str) and ("[" in p or p in _TYPE_NAMES)))
    loc = ".".join(str(p) for p in path)
    if kind == "extra_forbidden":
        return loc, _unknown_setting(str(path[-1]), _fields_at(model, path[:-1]))
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()))
        return loc, f"must be {_BOUNDS[kind]} {bound:g} (got {value!r})"
    if kind == "value_error":
        msg = str(ctx.get("error", error["msg"]))
        field, _, rest = msg.partition(": ")
        if rest and field in _fields_at(model, path):  # model checks name their field: "field: message"
            loc, msg = ".".join([*(str(p) for p in path), field]), rest
        return loc, msg
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return loc, f"must be an integer (got {value!r})"
    if kind in ("float_type", "float_parsing"):
        return loc, f"must be a number (got {value!r})"
    if kind in ("bool_type", "bool_parsing"):
        return loc, f"must be true or false (got {value!r})"
    if kind == "literal_error":
        return loc, f"must be {ctx.get('expected')} (got {value!r})"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return loc, f"must be a mapping (got {value!r})"
    if kind in ("list_type", "tuple_type"):
        return loc, f"must be a list (got {value!r})"
    if kind in ("finite_number",):
        return loc, f"must be a finite number (got {value!r})"
    if kind in ("string_type", "path_type"):
        return loc, f"must be a string (got {value!r})"
    return loc, f"{error['msg']} (got {value!r})"


def _merged(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One problem per field for a union (``float | "auto"``): ``must be a number or 'auto' (got x)``
    instead of one line per branch."""
    out: list[tuple[str, str]] = []
    for field, msg in problems:
        if out and out[-1][0] == field:
            prev = out[-1][1]
            head, sep, got = msg.rpartition(" (got ")
            if (
                sep
                and prev.startswith("must be ")
                and head.startswith("must be ")
                and prev.endswith(sep + got)
            ):
                out[-1] = (field, f"{prev[: -len(sep + got)]} or {head[len('must be ') :]}{sep}{got}")
                continue
        if (field, msg) not in out:
            out.append((field, msg))
    return out


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

            data = yaml.load(text, Loader=_unique_key_loader())  # a SafeLoader
            return {} if data is None else data
        if suffix == ".json":
            return json.loads(text)
        if suffix == ".toml":
            return tomllib.loads(text)
    except Exception as e:  # the parsers' own errors carry the line and column
        raise ConfigError(
            str(path), [("", f"cannot parse {suffix[1:].upper()}: {_parse_error(e)}")]
        ) from None
    raise ConfigError(str(path), [("", f"unknown config format {suffix!r}: use .yaml, .yml, .json or .toml")])


def _mark(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _parse_error(error: Exception) -> str:
    """A parser's error on one line; YAML's as ``line L, column C: problem (context at line ...)``."""
    import yaml

    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        text = f"{_mark(error.problem_mark)}: {error.problem}"
        if error.context and error.context_mark is not None:
            text += f" ({error.context} started at {_mark(error.context_mark)})"
        elif error.context:
            text += f" ({error.context})"
        return text
    return " ".join(str(error).split())


def _unique_key_loader() -> type:
    """A YAML ``SafeLoader`` that refuses a key repeated in one mapping (YAML would keep the last one
    silently, so a second ``students:`` block would drop the first)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: SafeLoader's own error says so
                    break
                if first is not key_node.start_mark:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key {key!r} given twice (first at {_mark(first)})",
                        key_node.start_mark,
                    )
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


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
            raise ConfigError(source, _merged([_problem(err, cls) for err in e.errors()])) from None

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        """Read ``.yaml``/``.yml``, ``.json`` or ``.toml``; settings at the top level or under ``section``."""
        data = read_config_file(path)
        sec = cls.section
        if sec and isinstance(data, dict) and set(data) == {sec} and isinstance(data[sec], dict):
            data = data[sec]
        return cls.from_dict(data, source=str(path))
