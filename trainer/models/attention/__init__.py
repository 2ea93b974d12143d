"""Attention modules for the segmentation networks."""

from trainer.models.attention.ema import EMA

__all__ = ["EMA"]
