"""The weld macro-section generator: determinism, joints, and mask geometry against the polygon truth."""

from __future__ import annotations

import numpy as np
import pytest

from edge.synth import WELD_JOINTS, WeldScene, render_weld
from edge.synth.weld import fill_polygon, polygon_area

SIZE = (256, 256)


@pytest.fixture(scope="module")
def scenes() -> list[WeldScene]:
    return [render_weld(3, index, SIZE) for index in range(12)]


def test_same_seed_and_index_give_identical_bytes() -> None:
    first, again = render_weld(9, 4, SIZE), render_weld(9, 4, SIZE)
    assert first.image.tobytes() == again.image.tobytes()
    assert first.mask.tobytes() == again.mask.tobytes()
    assert first.truth == again.truth


def test_other_index_or_seed_gives_another_scene() -> None:
    base = render_weld(9, 4, SIZE)
    for other in (render_weld(9, 8, SIZE), render_weld(10, 3, SIZE)):
        assert other.image.tobytes() != base.image.tobytes()
        assert other.truth.area_mm2 != base.truth.area_mm2


def test_every_joint_type_appears(scenes: list[WeldScene]) -> None:
    joints = [scene.truth.joint for scene in scenes]
    assert set(joints[:4]) == set(WELD_JOINTS)
    for joint in WELD_JOINTS:
        assert joints.count(joint) == 3


def test_classes_and_arrays(scenes: list[WeldScene]) -> None:
    for scene in scenes:
        assert scene.image.shape == (*SIZE, 3) and scene.image.dtype == np.uint8
        assert scene.mask.shape == SIZE and scene.mask.dtype == np.uint8
        assert set(np.unique(scene.mask)) == {0, 1}
        # The nugget is inside the image, not cut by its border.
        assert not scene.mask[[0, -1], :].any() and not scene.mask[:, [0, -1]].any()


def test_polygon_area_matches_the_mask(scenes: list[WeldScene]) -> None:
    for scene in scenes:
        truth = scene.truth
        mask_area = float(scene.mask.sum()) * truth.mm_per_px**2
        assert abs(mask_area - truth.area_mm2) <= 0.02 * truth.area_mm2, truth.joint
        assert truth.area_mm2 == pytest.approx(polygon_area(np.asarray(truth.polygon_mm)))


def test_width_and_depth_match_the_mask_extents(scenes: list[WeldScene]) -> None:
    for scene in scenes:
        truth = scene.truth
        top_row = int(truth.origin_px[1])
        assert top_row == truth.origin_px[1]
        cols = np.nonzero(scene.mask[top_row])[0]
        width_px = cols.max() - cols.min() + 1
        assert abs(width_px * truth.mm_per_px - truth.width_mm) <= truth.mm_per_px, truth.joint
        rows = np.nonzero(scene.mask.any(axis=1))[0]
        depth_px = rows.max() - top_row
        assert abs(depth_px * truth.mm_per_px - truth.depth_mm) <= truth.mm_per_px, truth.joint
        if truth.joint != "fillet":  # a fillet's top is the sharp toe on the web, not a rounded cap
            cap_px = top_row - rows.min()
            assert abs(cap_px * truth.mm_per_px - truth.cap_height_mm) <= truth.mm_per_px, truth.joint


def test_recorded_geometry_is_plausible(scenes: list[WeldScene]) -> None:
    for scene in scenes:
        truth = scene.truth
        assert 6.0 <= truth.plate_thickness_mm <= 25.0
        if truth.joint in ("butt_v", "butt_x"):
            assert truth.full_penetration and truth.depth_mm >= truth.plate_thickness_mm
        elif truth.joint == "incomplete_penetration":
            assert not truth.full_penetration and truth.depth_mm < truth.plate_thickness_mm
        else:
            assert truth.web_thickness_mm is not None and 0.0 < truth.depth_mm < truth.plate_thickness_mm


def test_fill_polygon_tests_pixel_centres() -> None:
    square = np.array([[1.5, 1.5], [5.5, 1.5], [5.5, 4.5], [1.5, 4.5]])
    filled = fill_polygon(square, (8, 8))
    expected = np.zeros((8, 8), bool)
    expected[2:5, 2:6] = True
    np.testing.assert_array_equal(filled, expected)
    # A concave polygon against a brute-force even-odd test at every pixel centre.
    rng = np.random.default_rng(0)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 30))
    radii = rng.uniform(5, 14, 30)
    star = np.column_stack([15.3 + radii * np.cos(angles), 15.7 + radii * np.sin(angles)])
    ys, xs = np.mgrid[0:32, 0:32]
    inside = np.zeros((32, 32), bool)
    for (x0, y0), (x1, y1) in zip(star, np.roll(star, -1, axis=0), strict=True):
        crosses = (np.minimum(y0, y1) <= ys) & (ys < np.maximum(y0, y1))
        x_at = x0 + (ys - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (xs < x_at)
    np.testing.assert_array_equal(fill_polygon(star, (32, 32)), inside)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="index"):
        render_weld(0, -3, SIZE)
    with pytest.raises(ValueError, match="size"):
        render_weld(0, 0, (256, 10))
