"""PyTorch view of a dataset for training: scale, augment, normalize, heatmap targets.

Every sample's randomness comes from ``(seed, stage, epoch, index)``, so a run
gives the same batches whatever the number of loader workers, and a resumed
run sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from trainer.data.augment import AugmentConfig, Augmenter, normalize, resize_label_map
from trainer.data.heatmap import boundary_heatmap, stride4_size
from trainer.data.sample import SegmentationDataset


class TrainingSet(Dataset):
    """Augmented, normalized training samples as tensors.

    Parameters
    ----------
    dataset
        The source images and masks.
    augment
        Augmentation settings (``crop_size`` is the network input size).
    mean, std
        Normalization of 0..1 RGB (the bundle's manifest repeats them).
    scale
        Resize factor applied to image and mask before augmentation (< 1 for a
        low-resolution stage).
    heatmap_sigma
        When set, each item also holds the SHDM boundary heatmap at the detail
        head's (stride-4) resolution, with this sigma in heatmap pixels.
    seed, stage
        Fix the randomness together with the epoch (:meth:`set_epoch`).

    Notes
    -----
    Items are dicts: ``image`` float32 [3, H, W], ``mask`` int64 [H, W] (255 =
    ignore) and, with ``heatmap_sigma``, ``heatmap`` float32 [h, w].
    """

    def __init__(
        self,
        dataset: SegmentationDataset,
        augment: AugmentConfig,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        scale: float = 1.0,
        heatmap_sigma: float | None = None,
        seed: int = 0,
        stage: int = 0,
    ) -> None:
        self.dataset = dataset
        self.augmenter = Augmenter(augment)
        self.mean, self.std = mean, std
        self.scale = scale
        self.heatmap_sigma = heatmap_sigma
        self.seed, self.stage, self.epoch = seed, stage, 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose randomness the next items use."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.dataset[index]
        image, mask = sample.image, sample.mask
        if self.scale != 1.0:
            height, width = mask.shape
            size = (max(1, round(width * self.scale)), max(1, round(height * self.scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            # Half-pixel-centred nearest, the same sampling grid as INTER_AREA's image.
            mask = resize_label_map(mask, (size[1], size[0]))
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.stage, self.epoch, index]))
        image, mask = self.augmenter(image, mask, rng)
        item = {
            "image": torch.from_numpy(normalize(image, self.mean, self.std)),
            "mask": torch.from_numpy(mask.astype(np.int64)),
        }
        if self.heatmap_sigma is not None:
            heatmap = boundary_heatmap(mask, self.heatmap_sigma, out_size=stride4_size(*mask.shape))
            item["heatmap"] = torch.from_numpy(heatmap)
        return item
