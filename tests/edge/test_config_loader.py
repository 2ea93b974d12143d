"""TOML configs become dataclasses; every bad key or value is named."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edge.config_loader import ConfigError, apply_overrides, from_mapping, read_toml


@dataclass(frozen=True)
class Inner:
    rate: float
    name: str = "x"


@dataclass(frozen=True)
class Outer:
    inner: Inner
    items: list[Inner] = field(default_factory=list)
    size: tuple[int, int] = (1, 2)
    path: Path | None = None
    flag: bool = False

    def __post_init__(self) -> None:
        if self.size[0] < 0:
            raise ValueError(f"size must be positive, got {self.size}")


def test_builds_nested_dataclasses() -> None:
    value = from_mapping(
        Outer, {"inner": {"rate": 1}, "items": [{"rate": 2.5, "name": "b"}], "size": [3, 4], "path": "a/b"}
    )
    assert value == Outer(Inner(1.0), [Inner(2.5, "b")], (3, 4), Path("a/b"))
    assert isinstance(value.inner.rate, float)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"inner": {"rate": 1, "rat": 2}}, r"unknown key inner\.rat; accepted keys in inner: rate, name"),
        ({"inner": {}}, "missing key inner.rate"),
        ({"inner": {"rate": "fast"}}, "inner.rate: expected a number, got 'fast'"),
        ({"inner": {"rate": 1}, "items": [{"rate": True}]}, r"items\[0\].rate: expected a number, got True"),
        ({"inner": {"rate": 1}, "size": [1, 2, 3]}, "size: expected 2 values, got 3"),
        ({"inner": {"rate": 1}, "flag": "yes"}, "flag: expected true or false"),
        ({"inner": {"rate": 1}, "size": [-1, 2]}, "size must be positive"),
        ({"inner": 3}, "inner: expected a table of keys"),
        ({"innr": {}}, "unknown key innr; accepted keys: inner, items, size, path, flag"),
    ],
)
def test_errors_name_the_key(mapping: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_mapping(Outer, mapping)


def test_overrides_use_toml_values() -> None:
    raw = apply_overrides({"a": {"b": 1}}, ["a.b=2", "a.c=[1, 2]", "d.e=word", "f=true"])
    assert raw == {"a": {"b": 2, "c": [1, 2]}, "d": {"e": "word"}, "f": True}
    with pytest.raises(ConfigError, match=r"must look like section\.key=value"):
        apply_overrides({}, ["novalue"])


def test_read_toml_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\narch = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml is not valid TOML"):
        read_toml(bad)
    with pytest.raises(ConfigError, match=r"missing\.toml not found"):
        read_toml(tmp_path / "missing.toml")
