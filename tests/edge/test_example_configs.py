"""The example camera configs shipped in examples/ load and say what they document."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import load_runtime_config

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.toml"))


def test_both_examples_exist() -> None:
    assert {p.stem for p in EXAMPLES} >= {"slagcam01", "weldcell01"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_loads(path: Path) -> None:
    config = load_runtime_config(path)
    assert config.camera.id == path.stem
    assert config.measure.task in config.model.bundle.name
    assert config.mqtt.topic_prefix.endswith(config.camera.id)
    assert config.outbox.path.is_absolute()


def test_every_slag_example_key_is_commented() -> None:
    lines = [
        line
        for line in (EXAMPLES[0].parent / "slagcam01.toml").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    ]
    undocumented = [line for line in lines if "#" not in line]
    assert not undocumented, undocumented
