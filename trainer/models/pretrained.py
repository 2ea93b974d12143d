"""Load a local torchvision ImageNet checkpoint into a backbone (no downloads)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch

from trainer.models.backbones.base import Backbone

log = logging.getLogger(__name__)

# Containers that training scripts commonly wrap a state dict in.
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")


class PretrainedMismatchError(ValueError):
    """The checkpoint does not fit the backbone; the message names the first bad key."""


def _unwrap(checkpoint: object, path: Path) -> Mapping[str, torch.Tensor]:
    if isinstance(checkpoint, Mapping):
        for key in _WRAPPER_KEYS:
            inner = checkpoint.get(key)
            if isinstance(inner, Mapping):
                checkpoint = inner
                break
    if not isinstance(checkpoint, Mapping) or not all(
        isinstance(value, torch.Tensor) for value in checkpoint.values()
    ):
        raise PretrainedMismatchError(
            f"{path} does not hold a state dict (a mapping of names to tensors); save the "
            "torchvision model with torch.save(model.state_dict(), PATH)"
        )
    # DataParallel / DistributedDataParallel prefix.
    if checkpoint and all(key.startswith("module.") for key in checkpoint):
        checkpoint = {key.removeprefix("module."): value for key, value in checkpoint.items()}
    return checkpoint


def load_torchvision_backbone(backbone: Backbone, path: str | Path) -> list[str]:
    """Copy the weights of a torchvision-layout checkpoint into ``backbone``.

    Keys the backbone does not build (torchvision's classifier or final conv,
    see ``torchvision_unused_prefixes``) are skipped; every other key must
    match by name and shape, and every backbone key must be present.

    Parameters
    ----------
    backbone
        The MobileNetV2 or ResNet-50 backbone to fill.
    path
        A file written by ``torch.save(state_dict)`` (optionally wrapped in
        ``{"state_dict": ...}``) on this machine.

    Returns
    -------
    list of str
        The checkpoint keys that were skipped as unused.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    PretrainedMismatchError
        If a key is missing, unexpected or of another shape; the message names
        the first such key and the shapes.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained checkpoint {path} not found; pass the path of a local torchvision "
            "ImageNet state dict (nothing is downloaded)"
        )
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for unreadable files
        raise PretrainedMismatchError(f"cannot read {path} as a PyTorch checkpoint: {exc}") from exc
    checkpoint = _unwrap(raw, path)
    expected = backbone.state_dict()
    kind = type(backbone).__name__
    skipped = [k for k in checkpoint if k.startswith(backbone.torchvision_unused_prefixes)]
    for key, value in checkpoint.items():
        if key in skipped:
            continue
        if key not in expected:
            raise PretrainedMismatchError(
                f"unexpected key {key!r} in {path}: not a torchvision {kind} checkpoint "
                f"(the backbone's first key is {next(iter(expected))!r})"
            )
        if tuple(value.shape) != tuple(expected[key].shape):
            raise PretrainedMismatchError(
                f"shape mismatch for key {key!r} in {path}: checkpoint has {tuple(value.shape)}, "
                f"the {kind} backbone expects {tuple(expected[key].shape)} "
                "(was it saved with another width multiplier or architecture?)"
            )
    missing = [key for key in expected if key not in checkpoint]
    if missing:
        raise PretrainedMismatchError(
            f"missing key {missing[0]!r} in {path} ({len(missing)} backbone keys missing in all); "
            f"is it a torchvision {kind} checkpoint?"
        )
    backbone.load_state_dict({k: v for k, v in checkpoint.items() if k not in skipped})
    log.info("loaded %d tensors from %s into %s (%d unused skipped)", len(expected), path, kind, len(skipped))
    return skipped
