"""SHDM-Net boundary heatmap targets: formula, cut-off, ignore handling, stride-4 resolution."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from trainer.data.heatmap import boundary_heatmap, boundary_mask, stride4_size

IGNORE = 255


def vertical_edge(height: int = 12, width: int = 48, edge: int = 20) -> np.ndarray:
    """Class 0 in columns < edge, class 1 from column ``edge`` on."""
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[:, edge:] = 1
    return mask


def edge_distance(width: int, edge: int) -> np.ndarray:
    """D per column for a vertical edge: 0 on both columns next to the class change (edge - 1, edge)."""
    columns = np.arange(width)
    return np.where(columns >= edge, columns - edge, edge - 1 - columns).astype(np.float64)


@pytest.mark.parametrize("sigma", [1.0, 2.5, 4.0])
def test_straight_edge_follows_the_gaussian(sigma: float) -> None:
    heat = boundary_heatmap(vertical_edge(), sigma)
    assert heat.dtype == np.float32
    assert heat.shape == (12, 48)
    distance = edge_distance(48, 20)
    expected = np.where(distance < 3 * sigma, np.exp(-(distance**2) / (2 * sigma**2)), 0.0)
    for row in (0, 5, 11):  # the frame border does not disturb the rows at the top and bottom
        np.testing.assert_allclose(heat[row], expected, atol=1e-6)
    # "Distance 0": the boundary is the pixel on each side of the class change, both at full heat.
    assert heat[5, 19] == pytest.approx(1.0)
    assert heat[5, 20] == pytest.approx(1.0)
    assert heat[5, 18] == pytest.approx(math.exp(-1 / (2 * sigma**2)), abs=1e-6)


def test_heat_is_exactly_zero_from_three_sigma() -> None:
    sigma = 2.0
    heat = boundary_heatmap(vertical_edge(), sigma)
    distance = np.broadcast_to(edge_distance(48, 20), heat.shape)
    assert np.all(heat[distance >= 3 * sigma] == 0.0)
    assert np.all(heat[distance < 3 * sigma] > 0.0)
    assert float(heat.min()) >= 0.0
    assert float(heat.max()) <= 1.0


def test_diagonal_distances_are_euclidean() -> None:
    mask = np.zeros((40, 40), dtype=np.uint8)
    mask[20, 20] = 1  # a one-pixel island: its 4-neighbours and itself form the boundary
    heat = boundary_heatmap(mask, 3.0)
    # (24, 24) is (3, 4) from (21, 20) and (4, 3) from (20, 21): D = 5; (23, 24) is (3, 3) from (20, 21).
    assert heat[24, 24] == pytest.approx(math.exp(-(4**2 + 3**2) / 18.0), abs=1e-6)
    assert heat[23, 24] == pytest.approx(math.exp(-(3**2 + 3**2) / 18.0), abs=1e-6)


def test_uniform_and_unlabelled_masks_give_zeros() -> None:
    for mask in (
        np.zeros((16, 20), dtype=np.uint8),
        np.full((16, 20), 2, dtype=np.uint8),
        np.full((16, 20), IGNORE, dtype=np.uint8),
    ):
        heat = boundary_heatmap(mask, 2.0)
        assert heat.dtype == np.float32
        assert not heat.any()
        assert not boundary_mask(mask).any()


def test_ignore_regions_make_no_boundary_and_get_no_heat() -> None:
    # Ignore inside one class: no boundary at all.
    mask = np.ones((30, 30), dtype=np.uint8)
    mask[8:20, 5:14] = IGNORE
    mask[0:3, :] = IGNORE  # also along the frame border
    assert not boundary_heatmap(mask, 2.0).any()

    # Ignore away from a real edge: the same heat as without it, and 0 on the ignore pixels.
    clean = vertical_edge(30, 48, 30)
    blob = clean.copy()
    blob[10:18, 4:14] = IGNORE  # at least 16 px from the edge
    sigma = 2.0
    reference = boundary_heatmap(clean, sigma)
    heat = boundary_heatmap(blob, sigma)
    labelled = blob != IGNORE
    np.testing.assert_array_equal(heat[labelled], reference[labelled])
    assert not heat[~labelled].any()

    # Ignore within the heat of an edge but one labelled column short of it (columns 24..28; column 29 is
    # class 0, 30 class 1): the edge stays where it is and only the ignore pixels lose their heat.
    near = clean.copy()
    near[5:25, 24:29] = IGNORE
    heat = boundary_heatmap(near, sigma)
    labelled = near != IGNORE
    np.testing.assert_allclose(heat[labelled], reference[labelled], atol=1e-6)
    assert not heat[~labelled].any()


def test_ignore_band_between_classes_puts_the_boundary_in_its_middle() -> None:
    mask = vertical_edge(10, 40, 20)
    mask[:, 16:24] = IGNORE  # the true edge is unlabelled; labelled class 0 ends at 15, class 1 starts at 24
    sigma = 3.0
    heat = boundary_heatmap(mask, sigma)
    # Filled from the nearest label: 16..19 -> 0, 20..23 -> 1, so the boundary is at columns 19 and 20.
    assert not heat[:, 16:24].any()
    distance = edge_distance(40, 20)
    expected = np.where(distance < 3 * sigma, np.exp(-(distance**2) / (2 * sigma**2)), 0.0)
    expected[16:24] = 0.0
    for row in heat:
        np.testing.assert_allclose(row, expected, atol=1e-6)
    assert heat[0, 15] == pytest.approx(math.exp(-(4**2) / (2 * sigma**2)), abs=1e-6)


def test_binary_boundary_is_the_laplacian_and_any_class_change_counts() -> None:
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.random((60, 80)).astype(np.float32), (0, 0), 3)
    binary = (noise > np.median(noise)).astype(np.uint8)
    laplacian = cv2.Laplacian(binary.astype(np.float32), cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REPLICATE)
    np.testing.assert_array_equal(boundary_mask(binary), np.abs(laplacian) > 0.1)

    # 0 | 1 | 2 with a one-pixel class-1 column: the raw class-id Laplacian is 0 there (0 + 2 - 2 * 1),
    # but it is a class change and belongs to the boundary.
    mask = np.zeros((5, 9), dtype=np.uint8)
    mask[:, 4] = 1
    mask[:, 5:] = 2
    boundary = boundary_mask(mask)
    assert boundary[:, 3:6].all()
    assert not boundary[:, :3].any()
    assert not boundary[:, 6:].any()


@pytest.mark.parametrize("height", [1, 2, 3, 5, 7, 63, 64, 65, 511, 513, 1079])
def test_stride4_size_rounds_up_twice(height: int) -> None:
    width = height + 2
    expected = (math.ceil(math.ceil(height / 2) / 2), math.ceil(math.ceil(width / 2) / 2))
    assert stride4_size(height, width) == expected


def test_stride4_size_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="height"):
        stride4_size(0, 10)
    with pytest.raises(ValueError, match="width"):
        stride4_size(10, 2.5)  # type: ignore[arg-type]


def test_out_size_resizes_the_mask_first_and_sigma_is_in_output_pixels() -> None:
    mask = vertical_edge(64, 80, 40)
    out_size = stride4_size(64, 80)
    sigma = 1.5
    heat = boundary_heatmap(mask, sigma, out_size=out_size)
    assert heat.shape == (16, 20)
    reference = boundary_heatmap(vertical_edge(16, 20, 10), sigma)
    np.testing.assert_array_equal(heat, reference)

    odd = boundary_heatmap(np.pad(mask, ((0, 1), (0, 1)), mode="edge"), sigma, out_size=stride4_size(65, 81))
    assert odd.shape == (17, 21)
    assert odd[:, 9:12].max() == pytest.approx(1.0)

    # Ignore survives the nearest resize and still gets no heat.
    mask[:8, 36:44] = IGNORE
    heat = boundary_heatmap(mask, sigma, out_size=(16, 20))
    assert not heat[:2, 9:11].any()


@pytest.mark.parametrize("sigma", [0, -1.0, float("nan"), float("inf"), True, "2"])
def test_sigma_must_be_positive(sigma: object) -> None:
    with pytest.raises(ValueError, match="sigma"):
        boundary_heatmap(vertical_edge(), sigma)  # type: ignore[arg-type]


def test_bad_mask_and_out_size_are_refused() -> None:
    with pytest.raises(ValueError, match="mask"):
        boundary_heatmap(np.zeros((4, 4, 3), dtype=np.uint8), 1.0)
    with pytest.raises(ValueError, match="mask"):
        boundary_heatmap(np.zeros((4, 4), dtype=np.float32), 1.0)
    with pytest.raises(ValueError, match="out_size"):
        boundary_heatmap(vertical_edge(), 1.0, out_size=(0, 4))
    with pytest.raises(ValueError, match="out_size"):
        boundary_heatmap(vertical_edge(), 1.0, out_size=(4,))  # type: ignore[arg-type]
