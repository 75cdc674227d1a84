"""Nested dataclass configs <-> JSON, checked against the type hints (no pickles, no YAML tags)."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or value does not fit the config's schema."""


def to_dict(obj: Any, every_field: bool = False) -> Any:
    """Plain JSON values. A dataclass may name fields it does not use (`unsaved_fields()`, e.g. the settings of
    methods a run does not use): they are left out unless `every_field`, and load back as their defaults."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        skip = set() if every_field or not hasattr(obj, "unsaved_fields") else obj.unsaved_fields()
        return {f.name: to_dict(getattr(obj, f.name), every_field) for f in dataclasses.fields(obj)
                if f.name not in skip}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v, every_field) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def check_finite(obj: Any, where: str = "config") -> None:
    """Refuse NaN and infinities anywhere in a config tree (tyro and JSON both accept them as floats): a NaN
    guidance scale would otherwise run to the end with a zero gradient at every step."""
    bad = [path for path, v in _floats(obj, where) if not math.isfinite(v)]
    if bad:
        raise ConfigError(f"{', '.join(bad)}: must be a finite number (got NaN or infinity)")


def _floats(obj: Any, where: str) -> Iterator[tuple[str, float]]:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _floats(getattr(obj, f.name), f"{where}.{f.name}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _floats(v, f"{where}[{i}]")
    elif isinstance(obj, float):
        yield where, obj


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    return _convert(cls, data, where)


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is typing.Annotated:
        return _convert(get_args(tp)[0], value, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected an object, got {type(value).__name__}")
        if hasattr(tp, "upgrade"):  # keys saved by an earlier version, renamed by the class itself
            value = tp.upgrade(value)
        hints = get_type_hints(tp, include_extras=True)
        names = {f.name for f in dataclasses.fields(tp) if f.init}
        unknown = set(value) - names
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        return tp(**{k: _convert(hints[k], v, f"{where}.{k}") for k, v in value.items()})
    if origin in (Union, types.UnionType):
        for arg in get_args(tp):
            try:
                return _convert(arg, value, where)
            except ConfigError:
                pass
        raise ConfigError(f"{where}: {value!r} fits none of {tp}")
    if origin is typing.Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not one of {list(get_args(tp))}")
        return value
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, where) for v in value)
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(_convert(a, v, where) for a, v in zip(args, value, strict=True))
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list")
        return [_convert(get_args(tp)[0], v, where) for v in value]
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{where}: expected null")
        return None
    if tp is Path:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a path string")
        return Path(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(tp, type) and not isinstance(value, tp) or (tp in (int, float) and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def save_json(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(to_dict(obj), indent=2))
    tmp.replace(path)


def load_json(cls: type[T], path: Path) -> T:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read config {path}: {e}") from e
    return from_dict(cls, data, where=str(path))
