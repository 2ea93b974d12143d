"""The slag scene generator: determinism, classes, pose limits and exact thickness ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.measure.slag_thickness import slag_thickness
from edge.synth import SlagScene, render_slag

SIZE = (256, 256)
SEED = 11
# Bands at least this thick (in pixels along the axis) are measured to 3 %: the mask quantises each
# band edge to half a pixel, so 3 % of a thinner band lies below what any mask-based method can resolve.
MIN_PX_FOR_3_PERCENT = 20.0


@pytest.fixture(scope="module")
def scenes() -> list[SlagScene]:
    """Scenes of one seed until 20 have a band of at least MIN_PX_FOR_3_PERCENT pixels."""
    found: list[SlagScene] = []
    thick = 0
    for index in range(120):
        scene = render_slag(SEED, index, SIZE)
        found.append(scene)
        thick += scene.truth.thickness_px >= MIN_PX_FOR_3_PERCENT
        if thick >= 20 and len(found) >= 24:
            break
    return found


def test_same_seed_and_index_give_identical_bytes() -> None:
    first, again = render_slag(5, 2, SIZE), render_slag(5, 2, SIZE)
    assert first.image.tobytes() == again.image.tobytes()
    assert first.mask.tobytes() == again.mask.tobytes()
    assert first.truth == again.truth


def test_other_index_or_seed_gives_another_scene() -> None:
    base = render_slag(5, 2, SIZE)
    for other in (render_slag(5, 3, SIZE), render_slag(6, 2, SIZE)):
        assert other.image.tobytes() != base.image.tobytes()
        assert other.truth.thickness_mm != base.truth.thickness_mm


def test_arrays_follow_the_project_convention(scenes: list[SlagScene]) -> None:
    scene = scenes[0]
    assert scene.image.shape == (*SIZE, 3) and scene.image.dtype == np.uint8
    assert scene.mask.shape == SIZE and scene.mask.dtype == np.uint8
    assert render_slag(0, 0, (96, 128)).image.shape == (96, 128, 3)


def test_classes_pose_and_band_placement(scenes: list[SlagScene]) -> None:
    for scene in scenes:
        truth = scene.truth
        assert set(np.unique(scene.mask)) == {0, 1, 2}
        assert -10.0 <= truth.tilt_deg <= 10.0
        assert abs(truth.axis_angle_deg - truth.tilt_deg) < 2.0
        assert 900.0 <= truth.tube_diameter_mm <= 1600.0
        assert 40.0 <= truth.thickness_mm <= 300.0
        assert 0.3 * SIZE[1] <= truth.tube_width_px <= 0.75 * SIZE[1]
        assert math.isclose(truth.thickness_px * truth.mm_per_px, truth.thickness_mm, rel_tol=1e-9)
        slag_rows, slag_cols = np.nonzero(scene.mask == 2)
        # The whole band is inside the image, with tube around it.
        assert slag_rows.min() > 0 and slag_rows.max() < SIZE[0] - 1
        assert slag_cols.min() > 0 and slag_cols.max() < SIZE[1] - 1
        cx, cy = truth.band_center_px
        assert scene.mask[round(cy), round(cx)] == 2
    assert any(abs(scene.truth.tilt_deg) > 5.0 for scene in scenes)


def test_slag_pixels_span_the_recorded_thickness_in_the_plane(scenes: list[SlagScene]) -> None:
    for scene in scenes:
        truth = scene.truth
        to_plane = np.asarray(truth.homography_image_to_plane)
        for label in (1, 2):
            rows, cols = np.nonzero(scene.mask == label)
            plane = np.column_stack([cols, rows, np.ones_like(cols)]) @ to_plane.T
            u, v = plane[:, 0] / plane[:, 2], plane[:, 1] / plane[:, 2]
            assert np.all(np.abs(u) <= truth.tube_diameter_mm / 2 + 1e-6)
            in_band = (v >= truth.band_top_mm - 1e-6) & (v <= truth.band_bottom_mm + 1e-6)
            assert np.all(in_band) if label == 2 else not np.any(in_band)
        extent = v.max() - v.min()  # v of the slag pixels (the last label)
        assert truth.thickness_mm - truth.mm_per_px <= extent <= truth.thickness_mm + 1e-6
        # The plane-to-image homography is the inverse of the recorded image-to-plane one.
        product = np.asarray(truth.homography_plane_to_image) @ to_plane
        np.testing.assert_allclose(product / product[2, 2], np.eye(3), atol=1e-9)


def test_thickness_from_the_mask_matches_the_truth(scenes: list[SlagScene]) -> None:
    thick = []
    for scene in scenes:
        truth = scene.truth
        result = slag_thickness(scene.mask, truth.axis_angle_deg, truth.mm_per_px)
        assert result.found and result.coverage > 0.9
        # Every band, however thin, is measured to within one pixel along the axis.
        assert abs(result.median_mm - truth.thickness_mm) <= truth.mm_per_px
        if truth.thickness_px >= MIN_PX_FOR_3_PERCENT:
            thick.append(truth)
            assert abs(result.median_mm - truth.thickness_mm) <= 0.03 * truth.thickness_mm
    assert len(thick) >= 20
    assert sum(abs(truth.tilt_deg) >= 3.0 for truth in thick) >= 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1, "index": 0}, "seed"),
        ({"seed": 0, "index": 1.5}, "index"),
        ({"seed": 0, "index": 0, "size": (32, 256)}, "size"),
        ({"seed": 0, "index": 0, "size": (256,)}, "size"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_slag(**kwargs)
