"""The segmentation networks: backbones, attention, decoders and the registry."""

from trainer.models.complexity import Complexity, complexity
from trainer.models.pretrained import PretrainedMismatchError, load_torchvision_backbone
from trainer.models.registry import REGISTRY, ModelConfig, build_from_config, build_model, model_config

__all__ = [
    "REGISTRY",
    "Complexity",
    "ModelConfig",
    "PretrainedMismatchError",
    "build_from_config",
    "build_model",
    "complexity",
    "load_torchvision_backbone",
    "model_config",
]
