"""Every shipped config preset parses and validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config_loader import from_mapping
from trainer.config import load_config
from trainer.data.augment import AugmentConfig
from trainer.models import REGISTRY

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.toml"))


def test_presets_exist() -> None:
    assert {p.stem for p in CONFIGS} >= {"slag_paper", "shdm_paper"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_preset_is_valid(path: Path) -> None:
    config = load_config(path)
    assert config.model.arch in REGISTRY
    for stage in config.stages:
        from_mapping(AugmentConfig, {**config.data.augment, "crop_size": list(stage.crop_size)})


def test_shdm_paper_has_the_two_stage_recipe() -> None:
    config = load_config(CONFIGS[0].parent / "shdm_paper.toml")
    first, second = config.stages
    assert (first.scale, first.lr, first.batch_size) == (0.25, 0.02, 8)
    assert (second.scale, second.lr, second.batch_size) == (1.0, 0.001, 2)
    assert config.loss.name == "shdm" and config.optim.momentum == 0.9 and config.optim.weight_decay == 1e-4
