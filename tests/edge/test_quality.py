"""The image-quality gate on synthetic furnace and weld frames and on deliberately spoiled ones."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.frame import QualityVerdict
from edge.quality import QualityConfig, analysis_image, assess_quality
from edge.synth import render_slag, render_weld


def _bgr(rgb: np.ndarray) -> np.ndarray:
    """The synthetic renderers give RGB; cameras (and the gate) deliver BGR."""
    return np.ascontiguousarray(rgb[:, :, ::-1])


@pytest.fixture(scope="module")
def furnace() -> np.ndarray:
    return _bgr(render_slag(1, 0).image)


@pytest.fixture(scope="module")
def furnace_1080p() -> np.ndarray:
    return _bgr(render_slag(1, 0, size=(1080, 1920)).image)


def test_the_synthetic_frame_is_rgb_and_becomes_bgr(furnace: np.ndarray) -> None:
    scene = render_slag(1, 0)
    assert scene.image.dtype == np.uint8
    assert scene.image.shape == (512, 512, 3)
    assert np.array_equal(furnace[:, :, 0], scene.image[:, :, 2])


@pytest.mark.parametrize("which", ["furnace", "furnace_1080p"])
def test_a_normal_furnace_frame_passes(which: str, request: pytest.FixtureRequest) -> None:
    verdict = assess_quality(request.getfixturevalue(which))
    assert isinstance(verdict, QualityVerdict)
    assert verdict.ok, verdict.reasons
    assert verdict.reasons == ()
    assert set(verdict.figures) == {"mean", "saturated", "sharpness", "occluded"}
    assert all(isinstance(v, float) for v in verdict.figures.values())
    assert 25.0 < verdict.figures["mean"] < 230.0
    assert verdict.figures["sharpness"] > QualityConfig().min_sharpness


def test_synthetic_slag_and_weld_scenes_pass() -> None:
    for index in range(8):
        for render in (render_slag, render_weld):
            verdict = assess_quality(_bgr(render(5, index).image))
            assert verdict.ok, (render.__name__, index, verdict.reasons)


def test_a_dark_frame_fails_as_too_dark(furnace: np.ndarray) -> None:
    verdict = assess_quality((furnace * 0.08).astype(np.uint8))
    assert not verdict.ok
    assert verdict.reasons[0].startswith("too dark (mean ")
    assert verdict.reasons[0].endswith(" < 15.0)")
    assert verdict.figures["mean"] < 15.0


def test_a_saturated_frame_fails_as_saturated(furnace: np.ndarray) -> None:
    verdict = assess_quality(np.clip(furnace.astype(np.int32) * 3, 0, 255).astype(np.uint8))
    assert not verdict.ok
    assert verdict.reasons == (f"saturated ({verdict.figures['saturated']:.1%} of pixels >= 250 > 50.0%)",)
    assert verdict.figures["saturated"] > 0.5


def test_one_clipped_channel_counts_as_saturated() -> None:
    frame = np.full((240, 320, 3), 100, np.uint8)
    frame[:, :200, 2] = 255  # red clipped, blue and green fine
    verdict = assess_quality(frame, QualityConfig(min_sharpness=0.0))
    assert verdict.figures["saturated"] == pytest.approx(200 / 320, abs=0.01)
    assert verdict.reasons[0].startswith("saturated (62.")


@pytest.mark.parametrize(("which", "sigma"), [("furnace", 4.0), ("furnace_1080p", 12.0)])
def test_a_blurred_frame_fails_as_blurred(which: str, sigma: float, request: pytest.FixtureRequest) -> None:
    frame = request.getfixturevalue(which)
    verdict = assess_quality(cv2.GaussianBlur(frame, (0, 0), sigma))
    assert not verdict.ok
    assert len(verdict.reasons) == 1
    assert verdict.reasons[0].startswith("blurred or featureless (sharpness ")
    assert verdict.reasons[0].endswith(" < 10.0)")
    assert verdict.figures["sharpness"] < 10.0


def test_a_black_patch_over_the_lens_fails_as_occluded(furnace_1080p: np.ndarray) -> None:
    frame = furnace_1080p.copy()
    noise = np.random.default_rng(0).normal(6.0, 2.0, (1080, 1536, 3))  # sensor noise on black
    frame[:, :1536] = np.clip(noise, 0, 255).astype(np.uint8)
    verdict = assess_quality(frame)
    assert not verdict.ok
    assert verdict.reasons == ("occluded (80.0% of the view dark or fogged and featureless > 70.0%)",)
    assert verdict.figures["occluded"] == pytest.approx(0.8, abs=0.02)


def test_a_fogged_window_counts_as_occluded(furnace_1080p: np.ndarray) -> None:
    frame = furnace_1080p.copy()
    fog = np.random.default_rng(1).normal(238.0, 1.5, (900, 1920, 3))
    frame[:900] = np.clip(fog, 0, 255).astype(np.uint8)
    verdict = assess_quality(frame)
    assert not verdict.ok
    assert any(reason.startswith("occluded (8") for reason in verdict.reasons)


def test_clipped_glow_is_not_occlusion() -> None:
    frame = _bgr(render_slag(1, 0).image)
    frame[:300] = 255
    verdict = assess_quality(frame)
    assert verdict.figures["occluded"] < 0.1
    assert verdict.figures["saturated"] > 0.5


def test_the_analysis_image_is_about_320_wide_whatever_the_resolution() -> None:
    assert analysis_image(np.zeros((1080, 1920, 3), np.uint8)).shape == (180, 320, 3)
    assert analysis_image(np.zeros((721, 1283, 3), np.uint8)).shape == (180, 320, 3)
    assert analysis_image(np.zeros((512, 512, 3), np.uint8)).shape == (320, 320, 3)
    assert analysis_image(np.zeros((100, 200, 3), np.uint8)).shape == (100, 200, 3)
    frame = np.full((1080, 1920, 3), 77, np.uint8)
    assert np.all(analysis_image(frame) == 77)


def test_tiny_frames_are_measured_too() -> None:
    verdict = assess_quality(np.zeros((8, 8, 3), np.uint8))
    assert not verdict.ok
    assert verdict.figures["occluded"] == 1.0


def test_bad_images_are_refused() -> None:
    with pytest.raises(ValueError, match=r"image must be a uint8 array of shape \(H, W, 3\), got float32"):
        assess_quality(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match=r"got uint8 of shape \(10, 10\)"):
        assess_quality(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="image is empty"):
        assess_quality(np.zeros((0, 10, 3), np.uint8))


def test_the_config_defaults_are_valid() -> None:
    config = QualityConfig()
    assert config.min_mean_brightness < config.max_mean_brightness
    assert QualityConfig(min_mean_brightness=np.float32(5), occlusion_tile=np.int64(8)).occlusion_tile == 8


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"min_mean_brightness": -1}, r"QualityConfig.min_mean_brightness must be a grey level, at least 0"),
        ({"max_mean_brightness": 300}, r"QualityConfig.max_mean_brightness must be a grey level.*got 300"),
        (
            {"min_mean_brightness": 200, "max_mean_brightness": 100},
            r"min_mean_brightness \(200.0\) must be below",
        ),
        ({"max_saturated_fraction": 1.5}, r"QualityConfig.max_saturated_fraction must be a fraction"),
        ({"max_occluded_fraction": -0.1}, r"QualityConfig.max_occluded_fraction must be a fraction"),
        ({"min_sharpness": float("nan")}, r"QualityConfig.min_sharpness must be a finite number, got nan"),
        ({"min_sharpness": -3}, r"QualityConfig.min_sharpness must be a Laplacian variance, at least 0"),
        ({"saturation_level": 250.5}, r"QualityConfig.saturation_level must be an integer, got 250.5"),
        ({"saturation_level": 0}, r"QualityConfig.saturation_level must be a pixel value, at least 1"),
        ({"analysis_width": 8}, r"QualityConfig.analysis_width must be pixels, at least 32"),
        ({"occlusion_tile": 1}, r"QualityConfig.occlusion_tile must be pixels of the analysis image"),
        ({"occlusion_max_std": "2"}, r"QualityConfig.occlusion_max_std must be a finite number, got '2'"),
        ({"occlusion_dark": 240, "occlusion_bright": 230}, r"occlusion_dark \(240.0\) must be below"),
        ({"min_sharpness": True}, r"QualityConfig.min_sharpness must be a finite number, got True"),
    ],
)
def test_config_values_are_checked(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        QualityConfig(**changes)
