"""Typed YAML configs: a frozen, extra-forbidding pydantic base and a loader with one-line errors.

    cfg = load_config("run.yaml", RunConfig)     # ConfigError("run.yaml: train.tokens: ...")

Each problem becomes one line ``FILE: field.path: what is wrong``; the CLI prints it and exits 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

T = TypeVar("T", bound=BaseModel)


class Spec(BaseModel):
    """Base of every config section: unknown keys and mutation are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def distinct(cls, v: list) -> list:
    """A list-field validator (``field_validator(NAME)(classmethod(distinct))``): no repeats."""
    if len(set(v)) != len(v):
        raise ValueError("each value at most once")
    return v


class ConfigError(ValueError):
    """Bad user input in a config file or option; ``str()`` is one line that names the field."""


def _where(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def format_validation_error(err: ValidationError, source: str) -> str:
    """The first error of a pydantic ValidationError as ``source: field.path: message``."""
    first = err.errors()[0]
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    more = len(err.errors()) - 1
    tail = f" (and {more} more problem{'s' * (more > 1)})" if more else ""
    return f"{source}: {_where(first['loc'])}: {msg}{tail}"


def parse_config(data: Any, model: type[T], source: str = "config") -> T:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of fields at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None


def read_yaml(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(err, "problem", None) or "not valid YAML"
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None


def apply_overrides(data: dict, overrides: list[str] | None) -> dict:
    """``["train.tokens=2e6", ...]`` -> nested updates, values parsed as YAML scalars."""
    data = dict(data)
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected FIELD.PATH=VALUE")
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            child = node.get(p)
            node[p] = dict(child) if isinstance(child, dict) else {}
            node = node[p]
        node[leaf] = yaml.safe_load(value)
    return data


def load_config(path: str | os.PathLike, model: type[T], overrides: list[str] | None = None) -> T:
    data = read_yaml(path)
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields at the top level")
    return parse_config(apply_overrides(data, overrides), model, source=str(path))


def dump_config(cfg: BaseModel) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
