"""DeepLabV3+: ASPP, decoder and the assembled network."""

from trainer.models.decoders.deeplabv3plus.model import DeepLabV3Plus

__all__ = ["DeepLabV3Plus"]
