"""Every config key, its type, default and meaning, written from the pydantic models themselves.

``docs/configuration.md`` is this module's output (``python -m mtmc.config_reference -o
docs/configuration.md``); a test regenerates it and fails when the file is stale or a key has no
description, so the reference cannot drift from the code.
"""

from __future__ import annotations

import argparse
import functools
import operator
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from mtmc.schema import PartConfig

INTRO = """\
# Configuration reference

Generated from the code's pydantic models by `python -m mtmc.config_reference -o
docs/configuration.md` (a test fails when this file is stale). A config is YAML; unknown keys are
errors, and a bad value fails in one line that names the file and the key. Relative paths are taken
relative to the config file. `null` is YAML's none.

Parts (`detector`, `tracker`, `embedder`, `attributes`) are picked by `name` from a registry; every
other key of such a section is an option of that part ([tracking.md](tracking.md) lists them).
"""

# (the section's title, the model as module:Class, what it configures)
DOCUMENTS: tuple[tuple[str, str, str], ...] = (
    ("Run config: `mtmc run`, `mtmc worker`, `mtmc matcher`, `mtmc track`", "mtmc.config:MtmcConfig",
     "the cameras, the parts each camera runs, the matcher service, outputs and the sightings store"),
    ("Offline matcher: `mtmc match`", "mtmc.match.config:MatchConfig",
     "cross-camera association of tracklet files already written"),
    ("Re-id training: `mtmc reid train`", "mtmc.reid.config:ReidExperimentConfig",
     "one re-id experiment: model, data, optimiser, schedule"),
    ("Re-id adaptation: `mtmc reid adapt`", "mtmc.reid.adapt.config:AdaptConfig",
     "adapting a re-id model to unlabelled footage"),
)  # fmt: skip


def _load(path: str) -> type[BaseModel]:
    import importlib

    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def _strip_none(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); other annotations unchanged."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return functools.reduce(operator.or_, rest), True
    return annotation, False


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models a field holds (itself, in a list or dict, or one arm of a union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        for model in _models_in(arg):
            if model not in found:
                found.append(model)
    return found


def type_name(annotation: Any) -> str:
    """A reader's name for a field's type: ``int``, ``path``, ``one of: a, b``, ``list of camera``."""
    inner, optional = _strip_none(annotation)
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    if origin is Literal:
        text = "one of " + ", ".join(f"`{a}`" for a in args)
    elif origin in (list, tuple):
        text = f"list of {type_name(args[0])}" if args else "list"
    elif origin is dict:
        text = f"mapping of {type_name(args[0])} to {type_name(args[1])}" if args else "mapping"
    elif origin in (typing.Union, types.UnionType):
        text = " or ".join(type_name(a) for a in args)
    elif isinstance(inner, type) and issubclass(inner, PartConfig):
        text = "part (`name` + options)"
    elif isinstance(inner, type) and issubclass(inner, BaseModel):
        text = "section"
    elif isinstance(inner, type) and issubclass(inner, Path):
        text = "path"
    elif isinstance(inner, type):
        text = {"str": "text", "bool": "true/false"}.get(inner.__name__, inner.__name__)
    else:
        text = str(inner).replace("typing.", "")
    return f"{text} or null" if optional else text


def default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return ""
    else:
        value = field.default
    if isinstance(value, PartConfig):
        options = value.options()
        extra = ", ".join(f"{k}: {v}" for k, v in options.items())
        return f"`{value.name}`" + (f" ({extra})" if extra else "")
    if isinstance(value, BaseModel):
        return "(section)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)) and not value:
        return "[]"
    if isinstance(value, (list, tuple)) and all(isinstance(v, BaseModel) for v in value):
        return ", ".join(f"`{getattr(v, 'name', '...')}`" for v in value)
    if isinstance(value, dict) and not value:
        return "{}"
    return f"`{value}`"


def _markdown(text: str) -> str:
    """A docstring's reST (double backticks, :mod: roles) as Markdown, on one line."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text).replace("``", "`")
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _markdown(text).replace("|", "\\|")


def missing_descriptions(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted keys of ``model`` (and its sections) with no description: each must say what it does."""
    missing = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        models = _models_in(field.annotation)
        if not field.description and not (models and len(models) == 1 and not issubclass(models[0], PartConfig)):
            missing.append(key)
        for sub in models:
            if not issubclass(sub, PartConfig):
                missing.extend(missing_descriptions(sub, f"{key}."))
    return missing


def _section(model: type[BaseModel], key: str, lines: list[str], seen: set[tuple[str, type]]) -> None:
    """One table of ``model``'s keys under ``key`` (dotted), then a table for each nested section."""
    doc = _markdown(model.__doc__ or "")
    lines += [f"### `{key}`" if key else "### top level", ""]
    if doc and model.__doc__ != BaseModel.__doc__:
        lines += [doc, ""]
    lines += ["| key | type | default | what it does |", "|---|---|---|---|"]
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        shown = field.alias or name
        lines.append(
            f"| `{shown}` | {_cell(type_name(field.annotation))} | {_cell(default_text(field))} | "
            f"{_cell(field.description or '')} |"
        )
        for sub in _models_in(field.annotation):
            if issubclass(sub, PartConfig):
                continue
            child = f"{key}.{shown}" if key else shown
            if typing.get_origin(_strip_none(field.annotation)[0]) in (list, tuple):
                child += "[]"
            nested.append((child, sub))
    lines.append("")
    for child, sub in nested:
        if (child, sub) not in seen:
            seen.add((child, sub))
            _section(sub, child, lines, seen)


def reference() -> str:
    """The whole ``docs/configuration.md``."""
    lines = [INTRO]
    for title, path, what in DOCUMENTS:
        lines += [f"## {title}", "", f"What it configures: {what}.", ""]
        _section(_load(path), "", lines, set())
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the configuration reference (docs/configuration.md).")
    parser.add_argument("-o", "--out", type=Path, help="write here (default: print)")
    args = parser.parse_args(argv)
    text = reference()
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
