"""Turn nested mappings (parsed TOML) into frozen dataclasses, naming every bad key.

Shared by the runtime config (contract 4) and the trainer's config; torch-free, so it lives in edge.

A typo in a config file must stop the run before it starts, with the dotted
key (``optim.lerning_rate``) and the keys that are accepted, never be ignored.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 on JetPack 6
    import tomli as tomllib

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value or key is wrong; the message names the dotted key."""


def _is_dataclass_type(kind: Any) -> bool:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def _convert(value: Any, kind: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _convert(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {options}")
    if _is_dataclass_type(kind):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table of keys, got {value!r}")
        return from_mapping(kind, value, where)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_convert(item, inner, f"{where}[{i}]") for i, item in enumerate(value)]
        if origin is tuple and args and args[-1] is not Ellipsis and len(args) != len(items):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(items)}")
        return tuple(items) if origin is tuple else items
    if origin is dict or kind is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return dict(value)
    if kind is Path:
        if not isinstance(value, str | Path):
            raise ConfigError(f"{where}: expected a path string, got {value!r}")
        return Path(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_mapping(cls: type[T], mapping: Mapping[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from ``mapping``; unknown keys and bad values raise.

    Parameters
    ----------
    cls
        A dataclass; nested dataclass fields (and lists of them) are built
        recursively, ``Path``, ``int``, ``float``, ``bool`` and ``str`` checked.
    mapping
        The parsed values.
    where
        Dotted prefix used in error messages.

    Raises
    ------
    ConfigError
        Naming the dotted key for an unknown key, a missing required key, a
        value of the wrong type, or a ``ValueError`` raised by the dataclass's
        own validation.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    prefix = f"{where}." if where else ""
    unknown = [key for key in mapping if key not in fields]
    if unknown:
        raise ConfigError(
            f"unknown key {prefix}{unknown[0]}; accepted keys{' in ' + where if where else ''}: "
            f"{', '.join(fields)}"
        )
    values = {}
    for name, field in fields.items():
        if name in mapping:
            values[name] = _convert(mapping[name], hints[name], f"{prefix}{name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing key {prefix}{name}")
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file, with errors that name the file."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def apply_overrides(mapping: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides (values in TOML syntax; bare words are strings).

    >>> apply_overrides({"train": {"seed": 0}}, ["train.seed=3", "model.arch=shdm_mnv2"])
    {'train': {'seed': 3}, 'model': {'arch': 'shdm_mnv2'}}
    """
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must look like section.key=value")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        node = mapping
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part} is not a table")
            node = child
        node[parts[-1]] = value
    return mapping
