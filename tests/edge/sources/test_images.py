"""Pixel conversion to BGR uint8 and output sizing."""

from __future__ import annotations

import numpy as np
import pytest

from edge.sources.images import OutputSize, UnusableImageError, to_bgr8


def test_grey_and_bgra_become_bgr() -> None:
    assert to_bgr8(np.full((4, 5), 9, np.uint8)).shape == (4, 5, 3)
    assert to_bgr8(np.full((4, 5, 1), 9, np.uint8)).shape == (4, 5, 3)
    bgra = np.zeros((4, 5, 4), np.uint8)
    bgra[..., :3] = (1, 2, 3)
    assert (to_bgr8(bgra) == (1, 2, 3)).all()


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_deep_images_are_refused_with_advice(dtype: type) -> None:
    with pytest.raises(UnusableImageError, match="frames must be 8-bit; convert the images"):
        to_bgr8(np.zeros((4, 5, 3), dtype))


def test_output_size() -> None:
    image = np.zeros((40, 80, 3), np.uint8)
    assert OutputSize().apply(image) is image
    assert OutputSize(height=20).apply(image).shape == (20, 40, 3)
    assert OutputSize(width=160).apply(image).shape == (80, 160, 3)
    assert OutputSize(30, 10).apply(image).shape == (10, 30, 3)
