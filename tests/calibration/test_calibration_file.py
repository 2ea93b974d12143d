"""The calibration file: round trips, field-by-field refusal, atomic saving with a backup, geometry."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from calibration.calibration_file import (
    SCHEMA,
    Calibration,
    CalibrationError,
    Scale,
    Verification,
    backup_path,
    format_calibration,
    json_schema,
    load_calibration,
    save_calibration,
)

HEIGHT, WIDTH = 1080, 1920
K = ((1400.0, 0.0, 960.0), (0.0, 1400.0, 540.0), (0.0, 0.0, 1.0))
DIST = (-0.12, 0.05, 0.001, -0.0005, 0.0)


def similarity(scale_mm_per_px: float, angle_deg: float, tx: float, ty: float) -> np.ndarray:
    """Image -> plane homography ``plane = s * R(angle) @ (x, y) + t``."""
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    return np.array(
        [
            [scale_mm_per_px * c, -scale_mm_per_px * s, tx],
            [scale_mm_per_px * s, scale_mm_per_px * c, ty],
            [0, 0, 1],
        ]
    )


def full_calibration() -> Calibration:
    """A valid calibration with every field set."""
    return Calibration(
        camera_id="slagcam01",
        image_size=(HEIGHT, WIDTH),
        scale=Scale(
            method="homography",
            source="checkerboard",
            homography=similarity(0.25, 30.0, 10.0, -20.0),
            residual_mm=0.12,
            points_used=54,
            undistorted=True,
        ),
        technician="J. Smith",
        camera_matrix=np.array(K),
        dist_coeffs=np.array(DIST),
        roi=[(100, 100), (1800, 120), (1700, 1000), (150, 950)],
        axis_angle_deg=5.0,
        tube_diameter_mm=750.0,
        verification=Verification.from_lengths(500.0, 501.5, 1.0, reprojection_rms_px=0.31),
        created_at="2025-03-01T14:05:00+00:00",
        tool_version="steelsight-calibrate 0.1.0",
    )


def mm_per_px_calibration(**changes: Any) -> Calibration:
    """A valid calibration with only a mm-per-pixel factor (no intrinsics, no ROI, no verification)."""
    cal = Calibration(
        camera_id="weldcam02",
        image_size=(720, 1280),
        scale=Scale(method="mm_per_px", source="manual", mm_per_px=0.2),
        technician="A. Jones",
        created_at="2025-03-02T08:00:00Z",
    )
    return replace(cal, **changes)


def full_json() -> dict[str, Any]:
    return full_calibration().to_json()


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- round trips


def test_full_file_round_trips_and_matches_the_schema(tmp_path: Path) -> None:
    cal = full_calibration()
    path = save_calibration(cal, tmp_path / "calibration.json")
    assert path == tmp_path / "calibration.json"
    loaded = load_calibration(path)
    assert loaded == cal
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["schema"] == SCHEMA
    assert data["image_size"] == [HEIGHT, WIDTH]
    jsonschema.Draft202012Validator.check_schema(json_schema())
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calibration.json"]


def test_mm_per_px_file_without_intrinsics_loads(tmp_path: Path) -> None:
    data = mm_per_px_calibration().to_json()
    assert data["camera_matrix"] is None and data["scale"]["homography"] is None
    jsonschema.Draft202012Validator(json_schema()).validate(data)
    loaded = load_calibration(write_json(tmp_path / "cam.json", data))
    assert loaded == mm_per_px_calibration()
    assert loaded.roi_bounds() is None and loaded.roi_mask() is None
    points = np.array([[10.0, 20.0], [0.0, 0.0]])
    np.testing.assert_array_equal(loaded.undistort_points(points), points)


def test_format_calibration_summarizes() -> None:
    text = format_calibration(full_calibration())
    assert "slagcam01" in text and "1080x1920 (HxW)" in text and "PASS" in text
    assert "0.25 mm/px" in text
    assert "roi: whole image" in format_calibration(mm_per_px_calibration())


# ---------------------------------------------------------------------------- refusals


def _set(*keys: str | int, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return mutate


def _delete(key: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        del data[key]

    return mutate


def _mm_per_px(mm: float) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        data["scale"].update(method="mm_per_px", homography=None, mm_per_px=mm)

    return mutate


# (case id, mutation, field the error must name, words of the reason, whether the JSON Schema
# can express the rule too)
BAD_CASES = [
    ("missing field", _delete("technician"), "technician", "missing", True),
    ("unknown key", _set("scale", "mm_per_pixel", value=0.2), "scale.mm_per_pixel", "unknown", True),
    ("unknown top key", _set("notes", value="x"), "notes", "unknown", True),
    ("schema version", _set("schema", value="steelsight.calibration/2"), "schema", "does not read", True),
    (
        "singular homography",
        _set("scale", "homography", value=[[1, 2, 3], [2, 4, 6], [0, 0, 1]]),
        "scale.homography",
        "singular",
        False,
    ),
    (
        "ill-conditioned homography",
        _set("scale", "homography", value=[[1, 0, 0], [0, 1e-9, 0], [0, 0, 1]]),
        "scale.homography",
        "ill-conditioned",
        False,
    ),
    (
        "horizon in the image",
        _set("scale", "homography", value=[[1, 0, 0], [0, 1, 0], [0, -0.002, 1]]),
        "scale.homography",
        "infinity",
        False,
    ),
    (
        "homography without matrix",
        _set("scale", "homography", value=None),
        "scale.homography",
        "required",
        True,
    ),
    (
        "homography element",
        _set("scale", "homography", 1, 2, value="7"),
        "scale.homography[1][2]",
        "finite number",
        True,
    ),
    ("negative mm_per_px", _mm_per_px(-0.1), "scale.mm_per_px", "> 0", True),
    ("roi of 2 points", _set("roi", value=[[1, 1], [50, 50]]), "roi", "at least 3", True),
    ("roi outside", _set("roi", value=[[10, 10], [1920, 10], [10, 500]]), "roi[1]", "outside", False),
    (
        "roi self-intersecting",
        _set("roi", value=[[100, 100], [500, 500], [500, 100], [100, 500]]),
        "roi",
        "simple polygon",
        False,
    ),
    ("roi collinear", _set("roi", value=[[10, 10], [20, 20], [40, 40]]), "roi", "fold", False),
    ("axis angle 120", _set("axis_angle_deg", value=120), "axis_angle_deg", "-90 to 90", True),
    ("dist_coeffs of 6", _set("dist_coeffs", value=[0.1] * 6), "dist_coeffs", "OpenCV", True),
    ("only camera_matrix", _set("dist_coeffs", value=None), "dist_coeffs", "both", True),
    (
        "principal point outside",
        _set("camera_matrix", 0, 2, value=5000.0),
        "camera_matrix[0][2]",
        "principal point outside",
        False,
    ),
    ("K skew", _set("camera_matrix", 0, 1, value=0.5), "camera_matrix[0][1]", "must be 0", True),
    ("created_at not ISO", _set("created_at", value="1 March 2025"), "created_at", "ISO 8601", True),
    ("created_at naive", _set("created_at", value="2025-03-01T14:05:00"), "created_at", "timezone", True),
    ("verdict OK", _set("verification", "verdict", value="OK"), "verification.verdict", "PASS", True),
    ("verdict wrong", _set("verification", "verdict", value="FAIL"), "verification.verdict", "'PASS'", False),
    (
        "error_mm wrong",
        _set("verification", "error_mm", value=3.0),
        "verification.error_mm",
        "measured",
        False,
    ),
    ("image_size float", _set("image_size", value=[1080.0, 1920.5]), "image_size", "integers", True),
    (
        "undistorted without K",
        lambda d: d.update(camera_matrix=None, dist_coeffs=None),
        "scale.undistorted",
        "no camera_matrix",
        True,
    ),
    (
        "tube source without diameter",
        lambda d: (
            _mm_per_px(0.5)(d),
            d["scale"].update(source="tube_diameter"),
            d.update(tube_diameter_mm=None),
        ),
        "tube_diameter_mm",
        "required",
        True,
    ),
    ("points_used 3", _set("scale", "points_used", value=3), "scale.points_used", ">= 4", True),
    ("bool undistorted", _set("scale", "undistorted", value=1), "scale.undistorted", "true or false", True),
]


@pytest.mark.parametrize(
    ("mutate", "field", "reason", "schema_rejects"),
    [case[1:] for case in BAD_CASES],
    ids=[case[0] for case in BAD_CASES],
)
def test_bad_file_is_refused_naming_the_field(
    tmp_path: Path,
    mutate: Callable[[dict[str, Any]], None],
    field: str,
    reason: str,
    schema_rejects: bool,
) -> None:
    data = full_json()
    mutate(data)
    path = write_json(tmp_path / "calibration.json", data)
    with pytest.raises(CalibrationError) as info:
        load_calibration(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    assert f"'{field}'" in message, message
    assert reason in message, message
    assert "steelsight-calibrate" in message, message
    assert info.value.field == field
    assert info.value.source == str(path)
    if schema_rejects:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(json_schema()).validate(data)


def test_messages_name_the_calibration_step() -> None:
    data = full_json()
    data["scale"]["homography"] = [[1, 2, 3], [2, 4, 6], [0, 0, 1]]
    with pytest.raises(CalibrationError, match=r"steelsight-calibrate scale"):
        Calibration.from_json(data, source="cam.json")
    data = full_json()
    data["camera_matrix"][1][2] = -3.0
    with pytest.raises(CalibrationError, match=r"steelsight-calibrate intrinsics"):
        Calibration.from_json(data, source="cam.json")


def test_invalid_json_and_missing_file_name_the_path(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": "steelsight.calibration/1",', encoding="utf-8")
    with pytest.raises(CalibrationError, match=r"invalid JSON at line 1") as info:
        load_calibration(broken)
    assert str(broken) in str(info.value)
    missing = tmp_path / "nowhere" / "calibration.json"
    with pytest.raises(CalibrationError, match="not found") as info:
        load_calibration(missing)
    assert str(missing) in str(info.value)
    nan = write_json(tmp_path / "nan.json", full_json())
    nan.write_text(nan.read_text(encoding="utf-8").replace("750.0", "NaN"), encoding="utf-8")
    with pytest.raises(CalibrationError, match="NaN"):
        load_calibration(nan)
    not_object = write_json(tmp_path / "list.json", [1, 2])
    with pytest.raises(CalibrationError, match="JSON object"):
        load_calibration(not_object)


# ---------------------------------------------------------------------------- saving


def test_backup_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    first = mm_per_px_calibration()
    second = mm_per_px_calibration(scale=Scale(method="mm_per_px", source="manual", mm_per_px=0.3))
    save_calibration(first, path)
    assert not backup_path(path).exists()
    first_bytes = path.read_bytes()
    save_calibration(second, path)
    assert backup_path(path) == tmp_path / "calibration.json.bak"
    assert backup_path(path).read_bytes() == first_bytes
    assert load_calibration(path) == second
    save_calibration(second, path)  # same content again: the backup still holds the first
    assert backup_path(path).read_bytes() == first_bytes
    save_calibration(first, path, keep_backup=False)
    assert backup_path(path).read_bytes() == first_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calibration.json", "calibration.json.bak"]


def test_invalid_object_is_never_written(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    save_calibration(full_calibration(), path)
    before = path.read_bytes()
    bad = replace(full_calibration(), axis_angle_deg=120.0)
    with pytest.raises(CalibrationError, match=r"'axis_angle_deg'") as info:
        save_calibration(bad, path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calibration.json"]
    with pytest.raises(CalibrationError, match=r"'scale.mm_per_px'"):
        save_calibration(mm_per_px_calibration(scale=Scale("mm_per_px", "manual", mm_per_px=-1.0)), path)
    assert path.read_bytes() == before


def test_save_creates_the_folder(tmp_path: Path) -> None:
    path = save_calibration(mm_per_px_calibration(), tmp_path / "etc" / "steelsight" / "cam.json")
    assert load_calibration(path) == mm_per_px_calibration()


# ---------------------------------------------------------------------------- geometry


def test_image_to_plane_through_a_similarity_homography() -> None:
    cal = replace(full_calibration(), scale=replace(full_calibration().scale, undistorted=False))
    pts = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    expected = np.array([[10.0, -20.0], [10.0 + 25 * c, -20.0 + 25 * s], [10.0 - 25 * s, -20.0 + 25 * c]])
    np.testing.assert_allclose(cal.image_to_plane(pts), expected, atol=1e-9)
    assert cal.image_to_plane(np.array([100.0, 0.0])).shape == (2,)
    assert cal.length_mm((0, 0), (300, 400)) == pytest.approx(0.25 * 500)
    assert cal.mm_per_px_at((500, 500)) == pytest.approx(0.25)
    assert cal.mm_per_px_at((500, 500), direction_deg=90.0) == pytest.approx(0.25)


def test_local_scale_of_a_perspective_homography() -> None:
    # plane = (x, y) / (1 + 0.001 y): shrinks further down the image.
    h = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.001, 1.0]]
    cal = mm_per_px_calibration(scale=Scale("homography", "reference_points", homography=h, points_used=4))
    Calibration.from_json(cal.to_json())
    np.testing.assert_allclose(cal.image_to_plane(np.array([[200.0, 100.0]])), [[200 / 1.1, 100 / 1.1]])
    # along y: d/dy y / (1 + a y) = 1 / (1 + a y)^2; central difference over 1 px of that function
    along_y = 100.5 / 1.1005 - 99.5 / 1.0995
    assert cal.mm_per_px_at((0, 100), direction_deg=0.0) == pytest.approx(along_y, rel=1e-12)
    assert along_y == pytest.approx(1 / 1.21, rel=1e-6)
    assert cal.mm_per_px_at((0, 100), direction_deg=90.0) == pytest.approx(1 / 1.1, rel=1e-12)
    assert cal.mm_per_px_at((0, 100)) == pytest.approx(math.sqrt(1 / 1.1 / 1.21), rel=1e-6)
    assert cal.length_mm((0, 0), (0, 100)) == pytest.approx(100 / 1.1)
    axis = replace(cal, axis_angle_deg=0.0)
    assert axis.mm_per_px_at((0, 100)) == pytest.approx(along_y, rel=1e-12)


def test_mm_per_px_scale_about_the_origin() -> None:
    cal = mm_per_px_calibration()
    np.testing.assert_allclose(cal.image_to_plane(np.array([[10.0, 20.0]])), [[2.0, 4.0]])
    assert cal.length_mm((0, 0), (30, 40)) == pytest.approx(10.0)
    assert cal.mm_per_px_at((5, 5), direction_deg=45.0) == 0.2


def test_undistortion_before_a_scale_fitted_on_undistorted_points() -> None:
    cal = full_calibration()
    raw = np.array([[100.0, 80.0], [960.0, 540.0], [1800.0, 1000.0]])
    undistorted = cal.undistort_points(raw)
    np.testing.assert_allclose(undistorted[1], raw[1], atol=1e-6)  # the principal point stays
    assert np.linalg.norm(undistorted[0] - raw[0]) > 1.0  # the corner moves
    np.testing.assert_allclose(cal.image_to_plane(raw), cal.image_to_plane(undistorted, undistorted=True))
    plain = replace(cal, dist_coeffs=(0.0, 0.0, 0.0, 0.0))
    np.testing.assert_allclose(plain.undistort_points(raw), raw, atol=1e-6)


def test_check_image_size_names_both_sizes() -> None:
    cal = full_calibration()
    cal.check_image_size(1080, 1920)
    with pytest.raises(CalibrationError) as info:
        cal.check_image_size(720, 1280)
    message = str(info.value)
    assert "is for 1080x1920 (HxW) but frames are 720x1280" in message
    assert "recalibrate this camera or fix camera.width/height" in message


def test_roi_bounds_and_mask_of_a_triangle() -> None:
    cal = mm_per_px_calibration(image_size=(60, 80), roi=((10.0, 10.0), (50.0, 10.0), (10.0, 40.0)))
    Calibration.from_json(cal.to_json())
    assert cal.roi_bounds() == (10, 10, 41, 31)
    mask = cal.roi_mask()
    assert mask is not None and mask.dtype == np.uint8 and mask.shape == (60, 80)
    assert set(np.unique(mask)) == {0, 255}
    assert mask[10, 10] == 255 and mask[20, 20] == 255 and mask[10, 50] == 255 and mask[40, 10] == 255
    assert mask[35, 45] == 0 and mask[9, 20] == 0 and mask[20, 9] == 0
    ys, xs = np.nonzero(mask)
    assert (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) == cal.roi_bounds()
    area = 0.5 * 40 * 30
    assert area <= np.count_nonzero(mask) <= area + 40 + 30 + 50 + 3  # the area plus its border pixels
    subpixel = replace(cal, roi=((0.0, 0.2), (79.0, 0.0), (78.6, 59.0)))
    assert subpixel.roi_bounds() == (0, 0, 80, 60)
