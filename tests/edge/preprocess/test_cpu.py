"""The CPU preprocessing path against the plain trainer recipe, the spec's checks, mapping results back."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.bundle.manifest import InputSpec
from edge.preprocess import (
    NOT_MEASURED,
    PreprocessSpec,
    UndistortMaps,
    preprocess_cpu,
    restore_mask,
    restore_probabilities,
)
from tests.edge.preprocess.helpers import IMAGENET_MEAN, IMAGENET_STD, camera, random_frame, reference

# (frame height, frame width, roi, output height, output width)
CASES = [
    (1080, 1920, None, 512, 512),
    (1080, 1920, (300, 120, 1200, 800), 384, 640),
    (721, 1283, (13, 7, 1001, 555), 257, 333),
    (480, 640, (0, 0, 640, 480), 480, 640),  # no resize at all
    (480, 640, (10, 20, 256, 128), 128, 256),  # a crop, no resize
    (480, 640, (100, 50, 256, 256), 512, 512),  # upscaling
    (37, 53, (1, 2, 50, 33), 16, 24),
    (600, 800, None, 300, 400),  # exactly half: OpenCV's area fast path
]


def _spec(
    case: tuple, color: str = "RGB", dtype: str = "float32", resize: str = "bilinear"
) -> PreprocessSpec:
    _, _, roi, height, width = case
    return PreprocessSpec(height, width, IMAGENET_MEAN, IMAGENET_STD, color, resize, roi, dtype)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[1]}x{c[0]}-roi{c[2]}-{c[4]}x{c[3]}")
@pytest.mark.parametrize("color", ["RGB", "BGR"])
def test_matches_the_trainer_recipe(case: tuple, color: str) -> None:
    spec = _spec(case, color)
    frame = random_frame(case[0], case[1], seed=case[1])
    result = preprocess_cpu(frame, spec)
    expected = reference(frame, spec)
    assert result.shape == (3, spec.height, spec.width)
    assert result.dtype == np.float32
    assert result.flags.c_contiguous
    assert np.abs(result - expected).max() <= 1e-5


@pytest.mark.parametrize("case", CASES[:3], ids=lambda c: f"{c[1]}x{c[0]}")
def test_float16_matches_at_float16_precision(case: tuple) -> None:
    spec = _spec(case, dtype="float16")
    frame = random_frame(case[0], case[1], seed=3)
    result = preprocess_cpu(frame, spec)
    expected = reference(frame, _spec(case))  # float32 recipe
    assert result.dtype == np.float16
    # float16 keeps 11 significant bits: half an ulp of values below 4 is under 2e-3
    np.testing.assert_allclose(result.astype(np.float32), expected, rtol=2**-11, atol=1e-4)
    assert np.array_equal(result, expected.astype(np.float16))


@pytest.mark.parametrize("resize", ["nearest", "area"])
def test_other_resize_modes_follow_opencv(resize: str) -> None:
    case = (721, 1283, (13, 7, 1001, 555), 257, 333)
    spec = _spec(case, resize=resize)
    frame = random_frame(721, 1283, seed=5)
    assert np.abs(preprocess_cpu(frame, spec) - reference(frame, spec)).max() <= 1e-5


@pytest.mark.parametrize(
    ("height", "width", "roi", "k1"),
    [
        (1080, 1920, None, -0.28),
        (1080, 1920, (300, 120, 1200, 800), -0.28),
        (721, 1283, (0, 0, 1283, 721), 0.25),  # pincushion: corners sample outside the frame (black)
        (240, 320, (10, 20, 200, 150), 0.25),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_undistortion_matches_remap_then_the_recipe(
    height: int, width: int, roi: tuple | None, k1: float, dtype: str
) -> None:
    maps = camera(height, width, k1)
    spec = PreprocessSpec(256, 320, IMAGENET_MEAN, IMAGENET_STD, roi=roi, dtype=dtype)
    frame = random_frame(height, width, seed=7)
    result = preprocess_cpu(frame, spec, undistort=maps)
    expected = reference(frame, spec, maps)
    assert np.abs(result.astype(np.float32) - expected.astype(np.float32)).max() <= 1e-5
    assert not np.array_equal(result, preprocess_cpu(frame, spec))  # the maps did something


def test_undistort_maps_from_calibration_are_opencvs() -> None:
    maps = camera(120, 160)
    assert maps.image_size == (120, 160)
    assert maps.map_x.dtype == np.float32
    assert maps.map_x.shape == (120, 160)
    matrix = np.array([[144.0, 0, 83.3], [0, 145.44, 57.3], [0, 0, 1]])
    map_x, map_y = cv2.initUndistortRectifyMap(
        matrix, np.array([-0.28, 0.09, 0.001, -0.0005, -0.01]), None, matrix, (160, 120), cv2.CV_32FC1
    )
    assert np.array_equal(maps.map_x, map_x)
    assert np.array_equal(maps.map_y, map_y)
    crop_x, crop_y = maps.crop((10, 20, 30, 40))
    assert crop_x.shape == (40, 30)
    assert np.array_equal(crop_y, map_y[20:60, 10:40])
    assert maps.crop((10, 20, 30, 40))[0] is crop_x  # cached


def test_undistort_maps_are_checked() -> None:
    k = np.eye(3)
    with pytest.raises(ValueError, match="camera_matrix must be a finite 3x3 matrix"):
        UndistortMaps.from_calibration(np.eye(2), (0, 0, 0, 0), (10, 10))
    with pytest.raises(ValueError, match=r"dist_coeffs must be 4, 5, 8, 12, 14 finite numbers"):
        UndistortMaps.from_calibration(k, (0, 0, 0), (10, 10))
    with pytest.raises(ValueError, match=r"image_size must be \(height, width\)"):
        UndistortMaps.from_calibration(k, (0, 0, 0, 0), (10, 0))
    with pytest.raises(ValueError, match="map_x must be a float32 array"):
        UndistortMaps(np.zeros((4, 4)), np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="differ in shape"):
        UndistortMaps(np.zeros((4, 4), np.float32), np.zeros((4, 5), np.float32))
    spec = PreprocessSpec(8, 8, IMAGENET_MEAN, IMAGENET_STD)
    with pytest.raises(ValueError, match=r"maps are for 160x120 frames but this frame is 64x48"):
        preprocess_cpu(random_frame(48, 64), spec, undistort=camera(120, 160))


def test_out_receives_the_result_in_place() -> None:
    spec = PreprocessSpec(64, 96, IMAGENET_MEAN, IMAGENET_STD, roi=(5, 6, 200, 100))
    frame = random_frame(240, 320, seed=9)
    batch = np.zeros((2, *spec.shape), np.float32)
    result = preprocess_cpu(frame, spec, out=batch[1])
    assert np.shares_memory(result, batch)
    assert np.array_equal(batch[1], reference(frame, spec))
    assert not batch[0].any()
    # a strided destination (not C-contiguous) still gets the values
    wide = np.zeros((3, 64, 192), np.float32)
    preprocess_cpu(frame, spec, out=wide[:, :, ::2])
    assert np.array_equal(wide[:, :, ::2], reference(frame, spec))
    with pytest.raises(ValueError, match=r"out must be a float32 array of shape \(3, 64, 96\)"):
        preprocess_cpu(frame, spec, out=np.zeros((3, 64, 96), np.float16))


def test_bad_frames_are_refused_with_what_was_expected() -> None:
    spec = PreprocessSpec(8, 8, IMAGENET_MEAN, IMAGENET_STD)
    with pytest.raises(ValueError, match=r"uint8 array of shape \(H, W, 3\) in BGR order, got float32"):
        preprocess_cpu(np.zeros((10, 10, 3), np.float32), spec)
    with pytest.raises(ValueError, match=r"got uint8 of shape \(10, 10\)"):
        preprocess_cpu(np.zeros((10, 10), np.uint8), spec)


def test_a_roi_outside_the_frame_names_the_roi_and_the_frame() -> None:
    spec = PreprocessSpec(8, 8, IMAGENET_MEAN, IMAGENET_STD, roi=(600, 0, 100, 100))
    with pytest.raises(ValueError, match=r"roi \(x=600, y=0, w=100, h=100\).*outside the 640x480 frame"):
        preprocess_cpu(random_frame(480, 640), spec)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"height": 0}, r"PreprocessSpec.height must be a positive integer \(pixels\), got 0"),
        ({"width": 12.5}, r"PreprocessSpec.width must be a positive integer \(pixels\), got 12.5"),
        ({"height": True}, r"PreprocessSpec.height must be a positive integer"),
        ({"mean": (0.5, 0.5)}, r"PreprocessSpec.mean must be 3 finite numbers"),
        ({"mean": "abc"}, r"PreprocessSpec.mean must be 3 finite numbers"),
        ({"std": (0.2, 0.0, 0.2)}, r"PreprocessSpec.std must be 3 positive finite numbers"),
        ({"std": (0.2, float("nan"), 0.2)}, r"PreprocessSpec.std must be 3 positive finite numbers"),
        ({"color": "RGBA"}, r"PreprocessSpec.color must be one of 'RGB', 'BGR', got 'RGBA'"),
        ({"resize": "cubic"}, r"PreprocessSpec.resize must be one of 'bilinear', 'nearest', 'area'"),
        ({"dtype": "int8"}, r"PreprocessSpec.dtype must be one of 'float32', 'float16', got 'int8'"),
        ({"roi": (0, 0, 10)}, r"PreprocessSpec.roi must be \(x, y, w, h\)"),
        ({"roi": (-1, 0, 10, 10)}, r"PreprocessSpec.roi must be \(x, y, w, h\).*x, y >= 0"),
        ({"roi": (0, 0, 0, 10)}, r"w, h > 0"),
        ({"roi": (0, 0, 1.5, 10)}, r"PreprocessSpec.roi must be \(x, y, w, h\): integers"),
    ],
)
def test_spec_values_are_checked(changes: dict, message: str) -> None:
    values = {"height": 8, "width": 8, "mean": IMAGENET_MEAN, "std": IMAGENET_STD, **changes}
    with pytest.raises(ValueError, match=message):
        PreprocessSpec(**values)


def test_spec_normalizes_numpy_values_and_lists() -> None:
    std = np.array([0.25, 0.25, 0.25])
    spec = PreprocessSpec(np.int64(8), 8, [0.5, 0.5, 0.5], std, roi=[1, 2, 3, np.int32(4)])
    assert spec.height == 8
    assert type(spec.height) is int
    assert spec.mean == (0.5, 0.5, 0.5)
    assert spec.std == (0.25, 0.25, 0.25)
    assert spec.roi == (1, 2, 3, 4)
    assert spec.lut.shape == (3, 256)
    assert spec.lut[0, 255] == np.float32(2.0)
    assert hash(spec) == hash(PreprocessSpec(8, 8, (0.5,) * 3, (0.25,) * 3, roi=(1, 2, 3, 4)))


def test_from_input_spec_takes_the_manifest_input() -> None:
    manifest_input = InputSpec(512, 640, IMAGENET_MEAN, IMAGENET_STD, color="BGR", resize="nearest")
    spec = PreprocessSpec.from_input_spec(manifest_input, roi=(0, 0, 100, 100), dtype="float16")
    assert (spec.height, spec.width, spec.color, spec.resize) == (512, 640, "BGR", "nearest")
    assert (spec.roi, spec.dtype) == ((0, 0, 100, 100), "float16")
    assert spec.mean == IMAGENET_MEAN
    resized = PreprocessSpec.from_input_spec(manifest_input, height=256, width=320)
    assert (resized.height, resized.width, resized.roi, resized.dtype) == (256, 320, None, "float32")
    with pytest.raises(ValueError, match=r"input.layout must be 'NCHW'"):
        PreprocessSpec.from_input_spec(InputSpec(8, 8, IMAGENET_MEAN, IMAGENET_STD, layout="NHWC"))
    with pytest.raises(ValueError, match=r"PreprocessSpec.dtype must be one of"):
        PreprocessSpec.from_input_spec(manifest_input, dtype="float64")
    with pytest.raises(ValueError, match=r"must be an edge\.bundle\.manifest\.InputSpec"):
        PreprocessSpec.from_input_spec({"height": 8})  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- back to the frame


def _blocky_classes(height: int, width: int, block: int, seed: int = 0) -> np.ndarray:
    """A class map made of ``block x block`` squares of classes 0..2."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 3, (height // block, width // block), dtype=np.uint8)
    return np.repeat(np.repeat(small, block, axis=0), block, axis=1)


def test_restore_mask_round_trips_a_class_map() -> None:
    frame_size = (600, 900)
    roi = (100, 40, 768, 512)
    spec = PreprocessSpec(256, 384, IMAGENET_MEAN, IMAGENET_STD, roi=roi)
    truth = np.full(frame_size, 7, np.uint8)
    truth[40:552, 100:868] = _blocky_classes(512, 768, block=8)
    # the network's view: the ROI at half resolution, nearest neighbour
    network = cv2.resize(truth[40:552, 100:868], (384, 256), interpolation=cv2.INTER_NEAREST_EXACT)
    restored = restore_mask(network, spec, frame_size)
    assert restored.shape == frame_size
    assert restored.dtype == np.uint8
    assert np.array_equal(restored[40:552, 100:868], truth[40:552, 100:868])  # exact for 2x blocks
    outside = np.ones(frame_size, bool)
    outside[40:552, 100:868] = False
    assert np.all(restored[outside] == NOT_MEASURED)


def test_restore_mask_at_a_non_integer_scale_agrees_away_from_edges() -> None:
    frame_size = (721, 1283)
    roi = (13, 7, 1001, 555)
    spec = PreprocessSpec(257, 333, IMAGENET_MEAN, IMAGENET_STD, roi=roi)
    truth = _blocky_classes(560, 1008, block=16, seed=2)[:555, :1001]
    network = cv2.resize(truth, (333, 257), interpolation=cv2.INTER_NEAREST_EXACT)
    restored = restore_mask(network, spec, frame_size)
    assert np.mean(restored[7:562, 13:1014] == truth) > 0.95
    assert restored[0, 0] == NOT_MEASURED
    assert restored[720, 1282] == NOT_MEASURED


def test_restore_mask_without_roi_covers_the_frame_and_copies() -> None:
    spec = PreprocessSpec(4, 6, IMAGENET_MEAN, IMAGENET_STD)
    classes = np.arange(24, dtype=np.uint8).reshape(4, 6)
    same = restore_mask(classes, spec, (4, 6))
    assert np.array_equal(same, classes)
    assert not np.shares_memory(same, classes)
    bigger = restore_mask(classes, spec, (8, 12))
    assert np.array_equal(bigger[::2, ::2], classes)
    assert np.array_equal(bigger[1::2, 1::2], classes)


def test_restore_mask_checks_its_inputs() -> None:
    spec = PreprocessSpec(4, 6, IMAGENET_MEAN, IMAGENET_STD, roi=(0, 0, 10, 10))
    with pytest.raises(ValueError, match=r"classes must be a uint8 array of shape \(4, 6\)"):
        restore_mask(np.zeros((4, 6), np.int64), spec, (20, 20))
    with pytest.raises(ValueError, match=r"roi \(x=0, y=0, w=10, h=10\).*outside the 8x8 frame"):
        restore_mask(np.zeros((4, 6), np.uint8), spec, (8, 8))
    with pytest.raises(ValueError, match=r"frame_size must be \(height, width\)"):
        restore_mask(np.zeros((4, 6), np.uint8), spec, (20,))  # type: ignore[arg-type]


def test_restore_probabilities_is_bilinear_and_fills_outside() -> None:
    spec = PreprocessSpec(32, 48, IMAGENET_MEAN, IMAGENET_STD, roi=(10, 20, 96, 64))
    ramp = np.tile(np.linspace(0.0, 1.0, 48, dtype=np.float32), (32, 1))
    restored = restore_probabilities(ramp, spec, (100, 120))
    assert restored.shape == (100, 120)
    assert restored.dtype == np.float32
    inside = restored[20:84, 10:106]
    assert np.array_equal(inside, cv2.resize(ramp, (96, 64), interpolation=cv2.INTER_LINEAR))
    assert np.all(np.diff(inside, axis=1) >= 0)
    assert np.isnan(restored[0, 0])
    assert np.isnan(restored[:20]).all()
    stack = np.stack([ramp, 1 - ramp]).astype(np.float16)
    both = restore_probabilities(stack, spec, (100, 120), fill=0.0)
    assert both.shape == (2, 100, 120)
    np.testing.assert_allclose(both[0] + both[1], np.pad(np.ones((64, 96)), ((20, 16), (10, 14))), atol=2e-3)
    with pytest.raises(ValueError, match=r"probabilities must be a float array of shape \(32, 48\)"):
        restore_probabilities(np.zeros((32, 48), np.uint8), spec, (100, 120))
