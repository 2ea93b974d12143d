"""The shared contract, run for every registered network."""

from __future__ import annotations

import pytest

from tests.trainer.models.model_contract import ModelContract
from trainer.models import REGISTRY


def test_every_registered_network_has_a_contract_test() -> None:
    tested = {cls.arch for cls in ModelContract.__subclasses__()}
    assert tested == set(REGISTRY)


class TestSlagNetwork(ModelContract):
    arch = "slag_mnv2_dlv3p_ema"
    num_classes = 3


class TestMobileNetV2Baseline(ModelContract):
    arch = "dlv3p_mnv2"
    num_classes = 3


class TestShdmMobileNetV2(ModelContract):
    arch = "shdm_mnv2"
    num_classes = 2


@pytest.mark.slow
class TestShdmResNet50(ModelContract):
    arch = "shdm_r50"
    num_classes = 2


@pytest.mark.slow
class TestResNet50Baseline(ModelContract):
    arch = "dlv3p_r50"
    num_classes = 2
