"""Backbones with torchvision-compatible state-dict keys."""

from trainer.models.backbones.base import Backbone
from trainer.models.backbones.mobilenetv2 import MobileNetV2
from trainer.models.backbones.resnet import ResNet50

__all__ = ["Backbone", "MobileNetV2", "ResNet50"]
