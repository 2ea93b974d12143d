"""SHDM-Net: DeepLabV3+ with an upsample-first head and a detail-guidance branch."""

from trainer.models.decoders.shdm.model import DetailHead, SHDMNet, ShdmOutput

__all__ = ["DetailHead", "SHDMNet", "ShdmOutput"]
