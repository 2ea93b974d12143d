"""Joint image + mask augmentation: alignment, intensity-biased crop, determinism, config validation."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from trainer.data.augment import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentConfig,
    Augmenter,
    nearest_indices,
    normalize,
    resize_label_map,
    resize_pair,
)

# Class id -> RGB colour, far apart so that the class of a pixel can be read back from its colour.
PALETTE = np.array([(20, 20, 20), (230, 30, 30), (30, 220, 40), (40, 50, 230)], dtype=np.uint8)
IGNORE = 255


def shapes_scene(height: int = 150, width: int = 190) -> tuple[np.ndarray, np.ndarray]:
    """An image of coloured shapes and the mask it was drawn from (class = colour index)."""
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.rectangle(mask, (15, 20), (80, 70), 1, thickness=-1)
    cv2.circle(mask, (130, 60), 38, 2, thickness=-1)
    triangle = np.array([[40, 140], [100, 85], [175, 135]], dtype=np.int32)
    cv2.fillPoly(mask, [triangle], 3)
    cv2.circle(mask, (60, 45), 12, 2, thickness=-1)
    return PALETTE[mask], mask


def classes_from_colours(image: np.ndarray) -> np.ndarray:
    """The class of each pixel by nearest palette colour."""
    distance = ((image[:, :, None, :].astype(np.int32) - PALETTE[None, None].astype(np.int32)) ** 2).sum(-1)
    return distance.argmin(-1).astype(np.uint8)


def near_edge(mask: np.ndarray) -> np.ndarray:
    """Pixels within 1 px (8-neighbourhood) of a pixel whose 4-neighbour has another value."""
    edge = np.zeros(mask.shape, dtype=bool)
    edge[:, 1:] |= mask[:, 1:] != mask[:, :-1]
    edge[:, :-1] |= mask[:, 1:] != mask[:, :-1]
    edge[1:, :] |= mask[1:, :] != mask[:-1, :]
    edge[:-1, :] |= mask[1:, :] != mask[:-1, :]
    return cv2.dilate(edge.view(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


GEOMETRIC = AugmentConfig(
    crop_size=(96, 112),
    hflip_p=0.5,
    vflip_p=0.5,
    scale_range=(0.6, 1.7),
    rotate_deg=35.0,
    rotate_p=0.8,
    min_foreground=0.2,
).geometric_only()


def test_geometric_augmentation_keeps_mask_aligned_with_image() -> None:
    image, mask = shapes_scene()
    augment = Augmenter(GEOMETRIC)
    rng = np.random.default_rng(1234)
    agree_total = checked_total = 0
    agree_edges = checked_edges = 0
    saw_ignore = False
    for _ in range(60):
        out_image, out_mask = augment(image, mask, rng)
        recomputed = classes_from_colours(out_image)
        labelled = out_mask != IGNORE
        saw_ignore |= not labelled.all()
        interior = labelled & ~near_edge(out_mask)
        agree_total += int((recomputed[interior] == out_mask[interior]).sum())
        checked_total += int(interior.sum())
        # Stricter: every labelled pixel, edges included (catches half-pixel shifts between the two).
        agree_edges += int((recomputed[labelled] == out_mask[labelled]).sum())
        checked_edges += int(labelled.sum())
    assert saw_ignore, "rotations and downscales should have produced out-of-source (ignore) pixels"
    assert checked_total > 60 * 96 * 112 // 3
    assert agree_total / checked_total >= 0.99
    assert agree_edges / checked_edges >= 0.99  # a 1 px or 0.5 px image/mask shift gives about 0.98


def test_flips_and_integer_scale_are_exact() -> None:
    image, mask = shapes_scene(40, 50)
    both = AugmentConfig(crop_size=(40, 50), hflip_p=1.0, vflip_p=1.0, scale_range=(1.0, 1.0), rotate_p=0.0)
    out_image, out_mask = Augmenter(both.geometric_only())(image, mask, np.random.default_rng(0))
    np.testing.assert_array_equal(out_image, image[::-1, ::-1])
    np.testing.assert_array_equal(out_mask, mask[::-1, ::-1])

    double = AugmentConfig(crop_size=(80, 100), hflip_p=0.0, scale_range=(2.0, 2.0), rotate_p=0.0)
    _, out_mask = Augmenter(double.geometric_only())(image, mask, np.random.default_rng(0))
    np.testing.assert_array_equal(out_mask, mask.repeat(2, axis=0).repeat(2, axis=1))


def test_out_of_source_pixels_are_ignore_and_fill() -> None:
    image, mask = shapes_scene(30, 40)
    mask[0, 0] = IGNORE  # a labelled-as-ignore source pixel stays ignore but keeps its colour
    config = AugmentConfig(crop_size=(50, 64), hflip_p=0.0, scale_range=(1.0, 1.0), rotate_p=0.0)
    augment = Augmenter(config.geometric_only())
    for seed in range(5):
        out_image, out_mask = augment(image, mask, np.random.default_rng(seed))
        outside = np.all(out_image == config.fill, axis=-1)
        assert int((out_mask != IGNORE).sum()) == 30 * 40 - 1
        assert int((out_mask == IGNORE).sum()) == 50 * 64 - 30 * 40 + 1
        assert int(outside.sum()) == 50 * 64 - 30 * 40
        assert np.all(out_mask[outside] == IGNORE)
        # The source sits somewhere inside the padded crop, unchanged.
        rows, cols = np.nonzero(~outside)
        top, left = rows.min(), cols.min()
        np.testing.assert_array_equal(out_image[top : top + 30, left : left + 40], image)


def small_object_scene() -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros((200, 200), dtype=np.uint8)
    mask[170:182, 10:22] = 1  # 144 px near a corner
    image = np.full((200, 200, 3), 90, dtype=np.uint8)
    image[mask == 1] = (250, 250, 250)
    return image, mask


CROP_CONFIG = AugmentConfig(
    crop_size=(64, 64), hflip_p=0.0, scale_range=(1.0, 1.0), rotate_p=0.0, crop_attempts=5
).geometric_only()


def foreground_fraction(mask: np.ndarray) -> float:
    return float(((mask != 0) & (mask != IGNORE)).mean())


def test_intensity_biased_crop_meets_min_foreground_whenever_possible() -> None:
    image, mask = small_object_scene()
    rng = np.random.default_rng(7)
    for config in (
        dataclasses.replace(CROP_CONFIG, min_foreground=0.03),
        dataclasses.replace(CROP_CONFIG, min_foreground=0.03, crop_attempts=1),
        dataclasses.replace(CROP_CONFIG, min_foreground=0.03, scale_range=(1.0, 1.5), hflip_p=0.5),
    ):
        augment = Augmenter(config)
        fractions = [foreground_fraction(augment(image, mask, rng)[1]) for _ in range(150)]
        assert min(fractions) >= 0.03
    # Unreachable threshold: the best possible crop (the whole object) is taken, and nothing hangs.
    augment = Augmenter(dataclasses.replace(CROP_CONFIG, min_foreground=0.5))
    for _ in range(20):
        assert foreground_fraction(augment(image, mask, rng)[1]) == pytest.approx(144 / 64**2)


def test_crop_without_min_foreground_is_uniform() -> None:
    image, mask = small_object_scene()
    # Exact share of all crop positions that contain the whole object.
    positions = (200 - 64 + 1) ** 2
    rows = len([top for top in range(200 - 64 + 1) if top <= 170 and top + 64 >= 182])
    cols = len([left for left in range(200 - 64 + 1) if left <= 10 and left + 64 >= 22])
    expected = rows * cols / positions
    augment = Augmenter(dataclasses.replace(CROP_CONFIG, min_foreground=0.0))
    rng = np.random.default_rng(11)
    trials = 400
    hits = sum(foreground_fraction(augment(image, mask, rng)[1]) >= 144 / 64**2 for _ in range(trials))
    spread = 4.0 * np.sqrt(expected * (1.0 - expected) / trials)
    assert abs(hits / trials - expected) <= spread, (hits / trials, expected)
    assert hits / trials < 0.2  # far from "always on the object"


def test_background_only_image_gives_any_crop() -> None:
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    mask = np.zeros((100, 100), dtype=np.uint8)
    mask[:10] = IGNORE
    augment = Augmenter(dataclasses.replace(CROP_CONFIG, min_foreground=0.5))
    out_image, out_mask = augment(image, mask, np.random.default_rng(0))
    assert out_image.shape == (64, 64, 3)
    assert out_mask.shape == (64, 64)


def test_same_seed_same_output_and_shapes() -> None:
    image, mask = shapes_scene()
    augment = Augmenter(AugmentConfig(crop_size=(72, 88), blur_p=0.5, noise_p=0.5))
    for seed in range(4):
        first = augment(image, mask, np.random.default_rng(seed))
        second = augment(image, mask, np.random.default_rng(seed))
        np.testing.assert_array_equal(first[0], second[0])
        np.testing.assert_array_equal(first[1], second[1])
        assert first[0].shape == (72, 88, 3)
        assert first[1].shape == (72, 88)
        assert first[0].dtype == np.uint8
        assert first[1].dtype == np.uint8
    other = augment(image, mask, np.random.default_rng(99))
    assert not np.array_equal(other[0], first[0])


@pytest.mark.parametrize("size", [(20, 30), (150, 190), (400, 300)])
def test_output_shape_equals_crop_size_for_any_source(size: tuple[int, int]) -> None:
    image, mask = shapes_scene(*size)
    out_image, out_mask = Augmenter(AugmentConfig(crop_size=(64, 80)))(image, mask, np.random.default_rng(3))
    assert out_image.shape == (64, 80, 3)
    assert out_mask.shape == (64, 80)
    assert out_image.dtype == np.uint8
    assert out_mask.dtype == np.uint8


def test_photometric_ops_do_not_change_the_mask() -> None:
    image, mask = shapes_scene()
    strong = AugmentConfig(
        crop_size=(96, 96),
        brightness=0.4,
        contrast=0.5,
        hue_deg=30.0,
        saturation=0.5,
        value=0.5,
        blur_p=1.0,
        noise_p=1.0,
    )
    for seed in range(5):
        full_image, full_mask = Augmenter(strong)(image, mask, np.random.default_rng(seed))
        geo_image, geo_mask = Augmenter(strong.geometric_only())(image, mask, np.random.default_rng(seed))
        np.testing.assert_array_equal(full_mask, geo_mask)
        assert full_image.dtype == np.uint8
        assert not np.array_equal(full_image, geo_image)
    # Direct use: the input is not modified and the output stays uint8.
    before = image.copy()
    jittered = Augmenter(strong).photometric(image, np.random.default_rng(0))
    np.testing.assert_array_equal(image, before)
    assert jittered.dtype == np.uint8
    assert jittered.shape == image.shape


def test_photometric_off_returns_the_image_unchanged() -> None:
    image, _ = shapes_scene()
    out = Augmenter(AugmentConfig().geometric_only()).photometric(image, np.random.default_rng(0))
    np.testing.assert_array_equal(out, image)


def test_hue_shift_moves_colours() -> None:
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    image[...] = (200, 40, 40)  # red
    config = dataclasses.replace(
        AugmentConfig().geometric_only(), hue_deg=120.0, saturation=0.0, value=0.0, brightness=0.0
    )
    out = Augmenter(config).photometric(image, np.random.default_rng(5))
    assert not np.array_equal(out, image)
    # Value (max channel) and saturation are preserved by a pure hue rotation.
    assert abs(int(out.max()) - 200) <= 1
    assert abs(int(out.min()) - 40) <= 1


def test_evaluation_config_is_resize_pair() -> None:
    image, mask = shapes_scene()
    out_image, out_mask = Augmenter(AugmentConfig.evaluation((64, 96)))(image, mask, np.random.default_rng(0))
    ref_image, ref_mask = resize_pair(image, mask, (64, 96))
    np.testing.assert_array_equal(out_image, ref_image)
    np.testing.assert_array_equal(out_mask, ref_mask)


def test_resize_pair_uses_bilinear_and_half_pixel_nearest() -> None:
    image, mask = shapes_scene()
    out_image, out_mask = resize_pair(image, mask, (61, 83))
    np.testing.assert_array_equal(out_image, cv2.resize(image, (83, 61), interpolation=cv2.INTER_LINEAR))
    np.testing.assert_array_equal(out_mask, cv2.resize(mask, (83, 61), interpolation=cv2.INTER_NEAREST_EXACT))
    assert out_image.shape == (61, 83, 3)
    assert out_mask.dtype == np.uint8
    # The half-pixel nearest rule: output pixel d reads source floor((d + 0.5) * in / out).
    expected = np.floor((np.arange(37) + 0.5) * 100 / 37).astype(int)
    expected[18] = nearest_indices(100, 37)[18]  # an exact tie (50.0): either neighbour is right
    np.testing.assert_array_equal(nearest_indices(100, 37), expected)
    labels = np.arange(12, dtype=np.int64).reshape(3, 4)
    np.testing.assert_array_equal(resize_label_map(labels, (6, 8)), labels.repeat(2, 0).repeat(2, 1))


def test_resize_pair_rejects_bad_input() -> None:
    image, mask = shapes_scene()
    with pytest.raises(ValueError, match="mask shape"):
        resize_pair(image, mask[:-1], (10, 10))
    with pytest.raises(ValueError, match="image must be a uint8 RGB"):
        resize_pair(image.astype(np.float32), mask, (10, 10))
    with pytest.raises(ValueError, match="size"):
        resize_pair(image, mask, (0, 10))


def test_normalize_imagenet_convention() -> None:
    image = np.zeros((2, 3, 3), dtype=np.uint8)
    image[0, 0] = (255, 0, 128)
    out = normalize(image)
    assert out.dtype == np.float32
    assert out.shape == (3, 2, 3)
    assert out.flags["C_CONTIGUOUS"]
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    np.testing.assert_allclose(out[:, 0, 0], (np.array([255, 0, 128]) / 255 - mean) / std, rtol=1e-6)
    np.testing.assert_allclose(out[:, 1, 2], -mean / std, rtol=1e-6)
    custom = normalize(image, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    np.testing.assert_allclose(custom[0, 0, 0], 1.0)
    with pytest.raises(ValueError, match="std"):
        normalize(image, std=(0.2, 0.0, 0.2))
    with pytest.raises(ValueError, match="mean"):
        normalize(image, mean=(0.5, 0.5))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("crop_size", (0, 64)),
        ("crop_size", (64,)),
        ("resize_to", (64, -1)),
        ("hflip_p", 1.5),
        ("vflip_p", -0.1),
        ("scale_range", (0.0, 1.0)),
        ("scale_range", (2.0, 1.0)),
        ("rotate_deg", 200.0),
        ("rotate_p", 2.0),
        ("min_foreground", 1.1),
        ("crop_attempts", 0),
        ("crop_attempts", 2.5),
        ("brightness", -0.1),
        ("contrast", 1.5),
        ("hue_deg", 181.0),
        ("saturation", "a lot"),
        ("value", float("nan")),
        ("blur_p", 1.01),
        ("blur_sigma", (0.0, 1.0)),
        ("noise_p", -1.0),
        ("noise_std", (5.0, 1.0)),
        ("background_class", 255),
        ("ignore_index", 256),
        ("fill", (0, 0)),
    ],
)
def test_config_validation_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        AugmentConfig(**{field: value})


def test_config_accepts_lists_and_is_frozen() -> None:
    config = AugmentConfig(crop_size=[32, 48], scale_range=[0.5, 2], fill=[0, 0, 0])  # type: ignore[arg-type]
    assert config.crop_size == (32, 48)
    assert config.scale_range == (0.5, 2.0)
    assert config.fill == (0, 0, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.hflip_p = 0.1  # type: ignore[misc]


def test_augmenter_rejects_bad_inputs() -> None:
    image, mask = shapes_scene()
    augment = Augmenter(AugmentConfig(crop_size=(32, 32)))
    with pytest.raises(ValueError, match="rng"):
        augment(image, mask, 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mask must be a uint8"):
        augment(image, mask.astype(np.int64), np.random.default_rng(0))
    with pytest.raises(ValueError, match="image must be a uint8 RGB"):
        augment(image[..., 0], mask, np.random.default_rng(0))
    with pytest.raises(ValueError, match="image must be a uint8 RGB"):
        augment.photometric(image.astype(np.float32), np.random.default_rng(0))
    with pytest.raises(ValueError, match="rng"):
        augment.photometric(image, None)  # type: ignore[arg-type]
