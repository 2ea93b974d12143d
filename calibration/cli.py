"""``steelsight-calibrate``: field calibration of a SteelSight camera, step by step.

Exit codes: 0 done (PASS), 1 a FAIL verdict (verify outside the tolerance, or intrinsics with too
large a reprojection error: nothing saved then), 2 bad input (the message names the file or
argument and says what to do).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from calibration import __version__
from calibration.calibration_file import (
    CalibrationError,
    format_calibration,
    load_calibration,
    write_json_atomic,
)
from calibration.capture import capture_views
from calibration.detect import BoardSpec
from calibration.errors import InputError
from calibration.geometry import calibration_intrinsics
from calibration.interactive import points_or_click
from calibration.intrinsics import (
    INTRINSICS_SCHEMA,
    IntrinsicsResult,
    calibrate_views,
    load_pending,
    pending_path,
)
from calibration.points import parse_length_pairs_or_plane_points, parse_point_list, parse_segment
from calibration.report import save_report
from calibration.roi_step import check_axis, check_roi, roi_from_image
from calibration.scale_step import (
    ScaleResult,
    scale_from_board,
    scale_from_pairs,
    scale_from_plane_points,
    scale_from_tube,
)
from calibration.settings import Settings, load_settings
from calibration.store import (
    Target,
    load_target,
    require_calibration,
    save_intrinsics,
    save_roi,
    save_scale,
    save_verification,
)
from calibration.synthetic_board import write_demo
from calibration.verify_step import check_image_size, verify_board, verify_points
from calibration.views import list_view_files, load_views, read_image, to_gray

__all__ = ["main"]

EXIT_OK, EXIT_FAIL, EXIT_INPUT = 0, 1, 2
_HELP_WIDTH = 100

_DESCRIPTION = (
    "Calibrate a SteelSight camera in the field: intrinsics from checkerboard views, the pixel-to-mm "
    "scale on the measurement plane, the region of interest and measurement axis, and a verification "
    "against a known length. Writes the calibration file (schema steelsight.calibration/1) that the edge "
    "runtime loads. Every step works from image files; where a display and a GUI-enabled OpenCV are "
    "present, points left out of --points can be clicked in a window."
)
_EPILOG = """\
examples, the steps in order (CAL.json is the camera's calibration file):
  steelsight-calibrate intrinsics --images views/ --pattern 9x6 --square-mm 25 --out CAL.json
  steelsight-calibrate scale --out CAL.json --board plane_board.png --pattern 9x6 --square-mm 25
  steelsight-calibrate roi --cal CAL.json --points "120,40;520,40;540,460;100,460" --axis-deg 2.5
  steelsight-calibrate verify --cal CAL.json --image ruler.png --points "102,88,530,95" --known-mm 400
  steelsight-calibrate show CAL.json

practise on generated images first:
  steelsight-calibrate demo demo_cal/

exit codes: 0 done / PASS, 1 FAIL verdict, 2 bad input (the message says what to fix).
"""

_EPILOG_INTRINSICS = """\
examples:
  steelsight-calibrate intrinsics --images views/ --pattern 9x6 --square-mm 25 --out slagcam01.json
  steelsight-calibrate intrinsics --camera v4l2:///dev/video0 --count 15 --pattern 9x6 --square-mm 25 \\
      --out slagcam01.json --save-dir views/
  steelsight-calibrate intrinsics --images views/ --charuco 7x5 --square-mm 30 --marker-mm 22 \\
      --out weldcam02.json
take the views with the board at different angles (up to about 45 degrees) and positions,
reaching every corner of the image, sharp and evenly lit.
"""
_EPILOG_SCALE = """\
examples:
  steelsight-calibrate scale --out CAL.json --board plane_board.png --pattern 9x6 --square-mm 25
  steelsight-calibrate scale --out CAL.json --image ref.png --points "102,88,530,95=400;110,300,520,310=400"
  steelsight-calibrate scale --out CAL.json --image ref.png \\
      --points "100,50=0,0;540,60=800,0;530,420=800,600;90,410=0,600"
  steelsight-calibrate scale --out CAL.json --image tube.png --tube-diameter-mm 750
the board or points must lie on the plane that is measured (e.g. the tube's front surface).
"""
_EPILOG_ROI = """\
examples:
  steelsight-calibrate roi --cal CAL.json --points "120,40;520,40;540,460;100,460" --axis-deg 2.5
  steelsight-calibrate roi --cal CAL.json --image tube.png --estimate-axis
  steelsight-calibrate roi --cal CAL.json --axis-deg -1.5      (the axis only; the ROI is kept)
"""
_EPILOG_VERIFY = """\
examples:
  steelsight-calibrate verify --cal CAL.json --image ruler.png --points "102,88,530,95" --known-mm 400
  steelsight-calibrate verify --cal CAL.json --image board_on_plane.png --pattern 9x6 --square-mm 25
use a different image from the one the scale came from, with the object on the measurement plane.
"""
_EPILOG_SHOW = """\
example:
  steelsight-calibrate show slagcam01.json
"""
_EPILOG_DEMO = """\
example:
  steelsight-calibrate demo demo_cal/
"""


def _wrap(text: str) -> str:
    """A description filled to the help width (the raw formatter keeps the epilog's examples as written)."""
    return textwrap.fill(text, width=_HELP_WIDTH)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=_HELP_WIDTH)


def _add_step(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str,
    epilog: str,
) -> argparse.ArgumentParser:
    """A step's parser: ``summary`` in the list of steps, ``description`` filled, the examples below."""
    return sub.add_parser(
        name, help=summary, formatter_class=_formatter, description=_wrap(description), epilog=epilog
    )


def _add_cal(parser: argparse.ArgumentParser, *flags: str) -> None:
    """The required calibration file argument (both spellings; the first one is shown in the help)."""
    parser.add_argument(*flags, dest="cal", type=Path, required=True, help="the calibration file CAL.json")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, help="TOML file with a [calibrate] table of thresholds (see the docs)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the steps do")


def _add_board(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("board (checkerboard, or ChArUco where OpenCV has cv2.aruco)")
    group.add_argument(
        "--pattern", help="checkerboard inner corners COLSxROWS, e.g. 9x6 (a board of 10x7 squares)"
    )
    group.add_argument(
        "--square-mm", type=float, help="side of one square in mm, measured on the printed board"
    )
    group.add_argument(
        "--charuco", metavar="SXxSY", help="ChArUco board of SX x SY squares (instead of --pattern)"
    )
    group.add_argument("--marker-mm", type=float, help="ChArUco marker side in mm")
    group.add_argument(
        "--aruco-dict", default="DICT_5X5_100", help="ChArUco dictionary (default DICT_5X5_100)"
    )


def _board(args: argparse.Namespace, required_by: str) -> BoardSpec:
    if args.square_mm is None:
        raise InputError("--square-mm", f"needed with {required_by}: the side of one square in mm")
    if args.charuco is not None:
        if args.marker_mm is None:
            raise InputError("--marker-mm", "needed with --charuco: the side of one marker in mm")
        return BoardSpec.charuco(args.charuco, args.square_mm, args.marker_mm, args.aruco_dict)
    if args.pattern is None:
        raise InputError(
            "--pattern", f"needed with {required_by}: the checkerboard's inner corners, e.g. 9x6"
        )
    return BoardSpec.checkerboard(args.pattern, args.square_mm)


def _add_identity(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--camera-id", help="camera id (the [camera] id of its runtime config); default: file name"
    )
    parser.add_argument(
        "--technician", help="who calibrates (default: $STEELSIGHT_TECHNICIAN or the login name)"
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="steelsight-calibrate",
        description=_wrap(_DESCRIPTION),
        epilog=_EPILOG,
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"steelsight {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="STEP")

    p = _add_step(
        sub,
        "intrinsics",
        "camera matrix and distortion from checkerboard views",
        "Camera matrix and lens distortion from 8-20 views of a flat checkerboard (or ChArUco board). "
        "Blurred and duplicate views are rejected with the reason; the RMS reprojection error is "
        "reported overall and per view, with the views to retake. When CAL.json exists its intrinsics "
        "are updated in place (scale and ROI kept); otherwise they wait in CAL.intrinsics.json for "
        "the scale step, because a calibration file needs a scale.",
        _EPILOG_INTRINSICS,
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", type=Path, help="folder of board images (PNG, JPEG, ...)")
    source.add_argument(
        "--camera", metavar="URI", help="capture live: 0, v4l2:///dev/video0, rtsp://..., file:///x.mp4"
    )
    p.add_argument("--count", type=int, default=12, help="views to capture with --camera (default 12)")
    p.add_argument("--save-dir", type=Path, help="where --camera saves the views (default: <CAL>_views/)")
    p.add_argument("--interval", type=float, default=1.5, help="seconds between live captures (default 1.5)")
    _add_board(p)
    p.add_argument(
        "--rational", action="store_true", help="8-coefficient distortion model (wide-angle lenses)"
    )
    _add_cal(p, "--out", "--cal")
    _add_identity(p)
    _add_common(p)

    p = _add_step(
        sub,
        "scale",
        "pixel-to-mm scale on the measurement plane",
        "The pixel-to-mm scale on the measurement plane, by one method: a board lying on the plane "
        "(--board: a homography), reference points (--points: pairs x1,y1,x2,y2=LENGTH_MM give one "
        "mm-per-pixel factor; four or more x,y=X_MM,Y_MM give a homography), or the immersion tube's "
        "outer diameter (--tube-diameter-mm with --image: side edges found automatically, or given as "
        "--points x1,y1,x2,y2 across the tube). Creates CAL.json (with the pending intrinsics, if "
        "any) or replaces its scale.",
        _EPILOG_SCALE,
    )
    _add_cal(p, "--out", "--cal")
    p.add_argument("--board", type=Path, help="image of a board lying on the measurement plane")
    p.add_argument("--image", type=Path, help="reference image (for --points and --tube-diameter-mm)")
    p.add_argument(
        "--points", help="reference points (see above); with --tube-diameter-mm: two side-edge points"
    )
    p.add_argument(
        "--known-mm", type=float, help="with clicked points: the distance between the two points (mm)"
    )
    p.add_argument("--tube-diameter-mm", type=float, help="outer diameter of the immersion tube (mm)")
    _add_board(p)
    _add_identity(p)
    _add_common(p)

    p = _add_step(
        sub,
        "roi",
        "region of interest and measurement axis",
        "The region of interest (a polygon in image pixels) and the measurement axis angle (degrees, "
        "0 = straight down the image, positive = the tube leans to the right), given as numbers or "
        "estimated from a reference image of the tube (its side edges). Updates an existing CAL.json.",
        _EPILOG_ROI,
    )
    _add_cal(p, "--cal", "--out")
    p.add_argument(
        "--points", help='ROI polygon "x,y;x,y;x,y;..." in image pixels, in order around the region'
    )
    p.add_argument("--axis-deg", type=float, help="measurement axis angle in degrees (-90..90)")
    p.add_argument("--image", type=Path, help="reference image of the tube (for --estimate-axis or clicking)")
    p.add_argument(
        "--estimate-axis", action="store_true", help="estimate the axis (and the ROI) from --image"
    )
    p.add_argument(
        "--margin", type=float, default=0.25, help="estimated ROI: margin beyond the tube's sides (x width)"
    )
    p.add_argument("--technician", help="who calibrates (default: the file's)")
    _add_common(p)

    p = _add_step(
        sub,
        "verify",
        "measure a known length: error in mm and %%, PASS/FAIL, report PNG",
        "Measure a known length in a fresh image through the calibration, exactly as the runtime "
        "measures, and compare: the error in mm and % and a verdict PASS/FAIL against the tolerance "
        "(--tolerance-pct, default from the config: 0.5 %). The result goes into the file's "
        "verification block; a report PNG (corners, ROI, axis, rulers in mm) and a JSON summary are "
        "written beside CAL.json.",
        _EPILOG_VERIFY,
    )
    _add_cal(p, "--cal", "--out")
    p.add_argument(
        "--image", type=Path, required=True, help="a fresh image with the known length on the plane"
    )
    p.add_argument("--points", help='the two ends of the known length "x1,y1,x2,y2" (image pixels)')
    p.add_argument("--known-mm", type=float, help="the true length between the two points (mm)")
    p.add_argument(
        "--tolerance-pct", type=float, help="PASS when |error| <= this %% of the length (default 0.5)"
    )
    p.add_argument("--report", type=Path, help="report PNG (default: CAL.verify.png beside CAL.json)")
    _add_board(p)
    _add_common(p)

    p = _add_step(
        sub,
        "show",
        "print a calibration file (or pending intrinsics) for people",
        "Print a human summary of a calibration file, or of a pending CAL.intrinsics.json.",
        _EPILOG_SHOW,
    )
    p.add_argument("file", type=Path, help="CAL.json or CAL.intrinsics.json")
    _add_common(p)

    p = _add_step(
        sub,
        "demo",
        "write synthetic images to practise every step on",
        "Write synthetic images of a known camera (640x480, fx 620, barrel distortion): checkerboard "
        "views, a board on the measurement plane, a second board and a ruler on that plane for "
        "verification, and a tube; prints the commands to run on them.",
        _EPILOG_DEMO,
    )
    p.add_argument("out", type=Path, help="folder to write into")
    p.add_argument("--views", type=int, default=10, help="checkerboard views (1-12, default 10)")
    _add_common(p)
    return parser


# ---------------------------------------------------------------------------- helpers


def _load_gray(path: Path, arg: str) -> tuple[np.ndarray, np.ndarray]:

    image = read_image(path, arg)
    return image, to_gray(image)


def _fmt_dist(dist: np.ndarray) -> str:
    names = ("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6")
    return " ".join(f"{name} {value:+.5f}" for name, value in zip(names, dist, strict=False))


def _print_intrinsics(result: IntrinsicsResult, settings: Settings) -> None:
    k = result.camera_matrix
    std = result.std
    for view in result.views:
        flag = "  <- retake" if view.name in result.retake else ""
        print(
            f"  {view.name}: {view.points} corners, sharpness {view.sharpness:.1f}, RMS {view.rms_px:.3f} "
            f"px{flag}"
        )
    for name, reason in result.rejected:
        print(f"  {name}: rejected: {reason}")
    print(
        f"camera matrix: fx {k[0, 0]:.2f} +/- {std[0]:.2f}, fy {k[1, 1]:.2f} +/- {std[1]:.2f}, cx "
        f"{k[0, 2]:.2f} +/- {std[2]:.2f}, cy {k[1, 2]:.2f} +/- {std[3]:.2f} px"
    )
    print(f"distortion: {_fmt_dist(result.dist_coeffs)}")
    verdict = "PASS" if result.passed else "FAIL"
    print(
        f"RMS reprojection error: {result.rms_px:.3f} px over {len(result.views)} views (limit "
        f"{settings.max_rms_px:g} px): {verdict}"
    )
    if result.retake:
        print(
            f"retake: {', '.join(result.retake)} (RMS above {settings.retake_rms_px:g} px: motion blur, a "
            "bent board or a wrong corner)"
        )
    else:
        print(f"retake: none (every view within {settings.retake_rms_px:g} px)")
    if result.uncovered:
        print(
            f"coverage: no corners in the {', '.join(result.uncovered)} of the image; add views with the "
            "board there for a better distortion model"
        )


# ---------------------------------------------------------------------------- steps


def _cmd_intrinsics(args: argparse.Namespace, settings: Settings) -> int:

    spec = _board(args, "intrinsics")
    if args.images is not None:
        files = list_view_files(args.images)
        views = load_views(files)
        source = str(args.images)
        print(
            f"views: {len(views)} images in {args.images}, {views[0].size[0]}x{views[0].size[1]} (HxW), "
            f"{spec.describe()}"
        )
    else:
        save_dir = args.save_dir or args.cal.with_name(args.cal.name.split(".")[0] + "_views")
        print(
            f"capturing {args.count} views from {args.camera} into {save_dir}: show the board at many angles"
        )
        views = capture_views(
            args.camera, args.count, spec, settings, save_dir, interval_s=args.interval, report=print
        )
        source = args.camera
        if not views:
            raise InputError(
                "--camera", f"no usable board view captured from {args.camera}; check the board and light"
            )
    result = calibrate_views(views, spec, settings, rational=args.rational, source=source)
    _print_intrinsics(result, settings)
    if not result.passed:
        print(
            f"FAIL: the overall RMS {result.rms_px:.3f} px is above {settings.max_rms_px:g} px; nothing "
            "saved. Retake the views listed above (or all of them) and run again."
        )
        return EXIT_FAIL
    written, notes = save_intrinsics(result, args.cal, args.camera_id, args.technician)
    print(f"wrote {written}")
    for note in notes:
        print(note)
    return EXIT_OK


def _scale_by_points(args: argparse.Namespace, target: Target) -> tuple[ScaleResult, tuple[int, int]]:
    """The reference-point scale: typed pairs or plane points, or two clicked points with --known-mm."""
    image = gray = None
    if args.image is not None:
        image, gray = _load_gray(args.image, "--image")
    text = args.points
    if text is not None and args.known_mm is not None:
        raise InputError(
            "--known-mm", "is for clicked points; with --points write each length after '=' instead"
        )
    if text is None and args.known_mm is None:
        raise InputError(
            "--board/--points/--tube-diameter-mm",
            "choose a scale method: --board IMAGE (a board on the plane), --points "
            '"x1,y1,x2,y2=LENGTH_MM;..." (reference points), or --tube-diameter-mm D --image IMAGE '
            "(the immersion tube)",
        )
    if text is None:
        clicked = points_or_click(
            None, str, image, 2, "--points", "click the two ends of the known length", "102,88,530,95=400"
        )
        text = f"{clicked}".replace(";", ",") + f"={args.known_mm:g}"
    refs = parse_length_pairs_or_plane_points(text)
    size = gray.shape[:2] if gray is not None else target.image_size
    if size is None:
        raise InputError("--image", "needed with --points for a new calibration file (for the image size)")
    height, width = size
    for item in refs:
        for x, y in item[:2] if len(item) == 3 else item[:1]:
            if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
                raise InputError(
                    "--points", f"point ({x:g},{y:g}) lies outside the {height}x{width} (HxW) image"
                )
    if len(refs[0]) == 3:
        return scale_from_pairs(refs, target.intrinsics), (height, width)  # type: ignore[arg-type]
    return scale_from_plane_points(refs, target.intrinsics), (height, width)  # type: ignore[arg-type]


def _cmd_scale(args: argparse.Namespace, settings: Settings) -> int:
    del settings
    methods = [
        name
        for name, value in (("--board", args.board), ("--tube-diameter-mm", args.tube_diameter_mm))
        if value is not None
    ]
    if len(methods) > 1:
        raise InputError(methods[1], f"choose one scale method: {methods[0]} or {methods[1]}, not both")
    target = load_target(args.cal)
    intrinsics = target.intrinsics
    print(f"intrinsics: {target.intrinsics_source()}")
    if args.board is not None:
        if args.points is not None:
            raise InputError(
                "--points", "not used with --board (the board's corners are the reference points)"
            )
        _, gray = _load_gray(args.board, "--board")
        result = scale_from_board(gray, _board(args, "--board"), intrinsics, str(args.board))
        size = gray.shape[:2]
    elif args.tube_diameter_mm is not None:
        if args.image is None:
            raise InputError("--image", "needed with --tube-diameter-mm: a reference image of the tube")
        _, gray = _load_gray(args.image, "--image")
        edge_points = parse_segment(args.points) if args.points is not None else None
        existing = target.existing
        axis = existing.axis_angle_deg if existing is not None else None
        mask = existing.roi_mask() if existing is not None else None
        if mask is not None and mask.shape != gray.shape:
            mask = None  # the size check in save_scale reports the mismatch
        result = scale_from_tube(
            gray, args.tube_diameter_mm, intrinsics, edge_points, axis, mask, str(args.image)
        )
        size = gray.shape[:2]
    else:
        result, size = _scale_by_points(args, target)
    for line in result.lines:
        print(line)
    cal, notes = save_scale(result, target, tuple(int(v) for v in size), args.camera_id, args.technician)
    centre = ((cal.width - 1) / 2.0, (cal.height - 1) / 2.0)
    print(
        f"scale: {cal.scale.method} from {cal.scale.source}, {cal.mm_per_px_at(centre):.5f} mm/px at the "
        "image centre, residual "
        f"{'-' if cal.scale.residual_mm is None else f'{cal.scale.residual_mm:.3f} mm'}"
    )
    for note in notes:
        print(note)
    return EXIT_OK


def _cmd_roi(args: argparse.Namespace, settings: Settings) -> int:

    del settings
    cal = require_calibration(args.cal, "roi")
    gray = image = None
    if args.image is not None:
        image, gray = _load_gray(args.image, "--image")
        check_image_size(cal, gray, str(args.image), args.cal.name)
    axis = check_axis(args.axis_deg) if args.axis_deg is not None else None
    roi = None
    if args.estimate_axis:
        if gray is None:
            raise InputError("--image", "needed with --estimate-axis: a reference image of the tube")
        if args.axis_deg is not None:
            raise InputError("--axis-deg", "give either --axis-deg or --estimate-axis, not both")

        estimate = roi_from_image(
            gray, calibration_intrinsics(cal), margin=args.margin, image_name=str(args.image)
        )
        axis = estimate.axis_angle_deg
        print(f"tube side edges found; axis angle {axis:.2f} deg")
        if args.points is None:
            roi = estimate.roi
            print("ROI estimated around the tube: " + ";".join(f"{x:g},{y:g}" for x, y in roi or ()))
    if args.points is not None or (roi is None and axis is None):
        points = points_or_click(
            args.points,
            parse_point_list,
            image,
            None,
            "--points",
            "click the ROI corners, Enter to finish",
            "120,40;520,40;540,460;100,460",
        )
        roi = tuple(points)  # type: ignore[arg-type]
    if roi is not None:
        check_roi(roi, cal.image_size)
    updated = save_roi(args.cal, cal, roi, axis, args.technician)
    bounds = updated.roi_bounds()
    print(
        f"wrote {args.cal}: ROI "
        + (
            "whole image"
            if updated.roi is None
            else f"{len(updated.roi)} points, bounding box (x, y, w, h) {bounds}"
        )
        + f", axis angle {'-' if updated.axis_angle_deg is None else f'{updated.axis_angle_deg:.2f} deg'}"
    )
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace, settings: Settings) -> int:

    cal = require_calibration(args.cal, "verify")
    tolerance = settings.verify_tolerance_pct if args.tolerance_pct is None else args.tolerance_pct
    if not (np.isfinite(tolerance) and tolerance > 0):
        raise InputError("--tolerance-pct", f"must be a percentage > 0, got {tolerance}")
    image, gray = _load_gray(args.image, "--image")
    check_image_size(cal, gray, str(args.image), args.cal.name)
    if args.pattern is not None or args.charuco is not None:
        if args.points is not None:
            raise InputError(
                "--points", "give either --points with --known-mm or a board (--pattern), not both"
            )
        result = verify_board(cal, gray, _board(args, "a board"), tolerance, str(args.image))
    else:
        if args.known_mm is None:
            raise InputError(
                "--known-mm", "needed: the true length between the two --points in mm (or use a board)"
            )
        p0, p1 = points_or_click(
            args.points,
            parse_segment,
            image,
            2,
            "--points",
            "click the two ends of the known length",
            "102,88,530,95",
        )  # type: ignore[misc]
        result = verify_points(cal, p0, p1, args.known_mm, tolerance)
    for m in result.measurements:
        print(
            f"  {m.label}: known {m.known_mm:.2f} mm, measured {m.measured_mm:.2f} mm, error "
            f"{m.error_mm:+.3f} mm ({m.error_pct:+.3f} %)"
        )
    ver = result.verification
    print(
        f"verify {ver.verdict}: worst error {ver.error_mm:+.3f} mm ({ver.error_pct:+.3f} %) on "
        f"{result.worst.label}, tolerance {tolerance:g} %"
    )
    cal = save_verification(args.cal, cal, ver)
    stem = args.cal.name[: -len(".json")] if args.cal.name.endswith(".json") else args.cal.name
    report = args.report or args.cal.with_name(f"{stem}.verify.png")
    save_report(report, image, cal, result)
    summary = report.with_suffix(".json")
    write_json_atomic(summary, result.summary(str(args.cal), str(args.image), str(report)))
    print(f"wrote the verification into {args.cal}, the report {report} and the summary {summary}")
    if not result.passed:
        print(
            "FAIL: the calibration measures this length outside the tolerance. Check that the object lies "
            "on the measurement plane and the points are on its ends; otherwise redo `scale` (and "
            "`intrinsics`)."
        )
        return EXIT_FAIL
    return EXIT_OK


def _cmd_show(args: argparse.Namespace, settings: Settings) -> int:

    del settings
    path: Path = args.file
    if not path.exists():
        raise InputError(str(path), "file not found; give CAL.json or CAL.intrinsics.json")
    try:
        schema = json.loads(path.read_text(encoding="utf-8")).get("schema")
    except (ValueError, AttributeError, UnicodeDecodeError):
        schema = None
    if schema == INTRINSICS_SCHEMA:
        pending = load_pending(path)
        k = pending.camera_matrix
        print(f"pending intrinsics of camera {pending.camera_id} ({path}): waiting for the scale step")
        print(
            f"{pending.image_size[0]}x{pending.image_size[1]} (HxW), {pending.board}, {len(pending.views)} "
            "views"
        )
        print(f"intrinsics: fx {k[0][0]:.1f} fy {k[1][1]:.1f} cx {k[0][2]:.1f} cy {k[1][2]:.1f} px")
        print(f"distortion: {_fmt_dist(np.asarray(pending.dist_coeffs))}")
        print(
            f"reprojection RMS {pending.reprojection_rms_px:.3f} px, by {pending.technician} at "
            f"{pending.created_at}"
        )
        return EXIT_OK
    cal = load_calibration(path)
    print(f"{path}:")
    print(format_calibration(cal))
    if cal.dist_coeffs is not None:
        print(f"distortion: {_fmt_dist(np.asarray(cal.dist_coeffs))}")
    if cal.roi is not None:
        print("roi points: " + ";".join(f"{x:g},{y:g}" for x, y in cal.roi))
    if pending_path(path).is_file():
        print(f"note: {pending_path(path).name} also exists (used only while {path.name} does not)")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:

    del settings
    if not 1 <= args.views <= 12:
        raise InputError("--views", f"must be 1..12, got {args.views}")
    truth = write_demo(args.out, views=args.views)
    out = args.out
    (p0, p1), length = truth["ruler"]["points_px"], truth["ruler"]["length_mm"]
    print(f"wrote demo images to {out}/ (camera truth in {out}/truth.json); try:")
    print(
        f"  steelsight-calibrate intrinsics --images {out}/views --pattern 9x6 --square-mm 25 --out "
        f"{out}/cam01.json"
    )
    print(
        f"  steelsight-calibrate scale --out {out}/cam01.json --board {out}/plane_board.png --pattern 9x6 "
        "--square-mm 25"
    )
    print(
        f'  steelsight-calibrate roi --cal {out}/cam01.json --points "150,60;500,60;520,420;130,420" '
        "--axis-deg 3"
    )
    print(
        f"  steelsight-calibrate verify --cal {out}/cam01.json --image {out}/ruler.png "
        f'--points "{p0[0]:g},{p0[1]:g},{p1[0]:g},{p1[1]:g}" --known-mm {length:g}'
    )
    print(
        f"  steelsight-calibrate verify --cal {out}/cam01.json --image {out}/verify_board.png --pattern "
        "9x6 --square-mm 25"
    )
    (t0, t1), t_length = truth["tube"]["ruler"]["points_px"], truth["tube"]["ruler"]["length_mm"]
    print("a slag camera (the tube's diameter gives the scale):")
    print(
        f"  steelsight-calibrate intrinsics --images {out}/views --pattern 9x6 --square-mm 25 --out "
        f"{out}/tube01.json"
    )
    print(
        f"  steelsight-calibrate scale --out {out}/tube01.json --image {out}/tube.png --tube-diameter-mm 120"
    )
    print(f"  steelsight-calibrate roi --cal {out}/tube01.json --image {out}/tube.png --estimate-axis")
    print(
        f"  steelsight-calibrate verify --cal {out}/tube01.json --image {out}/tube_ruler.png "
        f'--points "{t0[0]:g},{t0[1]:g},{t1[0]:g},{t1[1]:g}" --known-mm {t_length:g}'
    )
    return EXIT_OK


_COMMANDS = {
    "intrinsics": _cmd_intrinsics,
    "scale": _cmd_scale,
    "roi": _cmd_roi,
    "verify": _cmd_verify,
    "show": _cmd_show,
    "demo": _cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 FAIL verdict, 2 bad input)."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_INPUT
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings(args.config)
        return _COMMANDS[args.command](args, settings)
    except (InputError, CalibrationError, OSError) as exc:
        print(f"steelsight-calibrate {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except cv2.error as exc:  # an image OpenCV cannot work with (e.g. a degenerate board view)
        message = str(exc).strip().splitlines()[-1]
        print(
            f"steelsight-calibrate {args.command}: error: OpenCV could not process the input ({message}); "
            "check the images and arguments named in the command",
            file=sys.stderr,
        )
        return EXIT_INPUT
