"""Accuracy of the calibration steps on the synthetic demo photos of a known camera (JSON).

Runs ``steelsight-calibrate demo``, then ``intrinsics``, ``scale`` (a board on the measurement
plane) and ``verify`` (the board in another place: its sides and diagonals; and the 200 mm ruler)
exactly as a technician would, and compares the written files with the demo's ``truth.json``:
the relative error of fx, fy, cx, cy, the RMS reprojection error, and the worst length error of
each verification.

    python benchmarks/calibration_accuracy.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path


def _calibrate(*args: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "calibration",
            *args,
            *(("--technician", "benchmark") if args[0] in ("intrinsics", "scale") else ()),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"steelsight-calibrate {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def _worst_pct(verify_json: Path) -> float:
    measurements = json.loads(verify_json.read_text())["measurements"]
    return max(abs(m["error_pct"]) for m in measurements)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        _calibrate("demo", str(demo))
        truth = json.loads((demo / "truth.json").read_text())
        board = ["--pattern", truth["pattern"], "--square-mm", str(truth["square_mm"])]
        cal = demo / "cam01.json"
        _calibrate("intrinsics", "--images", str(demo / "views"), *board, "--out", str(cal))
        _calibrate("scale", "--out", str(cal), "--board", str(demo / "plane_board.png"), *board)
        _calibrate("verify", "--cal", str(cal), "--image", str(demo / "verify_board.png"), *board)
        board_worst = _worst_pct(demo / "cam01.verify.json")
        (p0x, p0y), (p1x, p1y) = truth["ruler"]["points_px"]
        points = f"{p0x},{p0y},{p1x},{p1y}"
        length = str(truth["ruler"]["length_mm"])
        _calibrate("verify", "--cal", str(cal), "--image", str(demo / "ruler.png"), "--points", points,
                   "--known-mm", length)  # fmt: skip
        ruler_worst = _worst_pct(demo / "cam01.verify.json")
        written = json.loads(cal.read_text())
    k, k_true = written["camera_matrix"], truth["camera"]["camera_matrix"]

    def error_pct(row: int, col: int) -> float:
        return round(100 * abs(k[row][col] - k_true[row][col]) / k_true[row][col], 4)

    result = {
        "benchmark": "calibration_accuracy",
        "image_size": truth["camera"]["image_size"],
        "intrinsics_error_pct": {
            "fx": error_pct(0, 0),
            "fy": error_pct(1, 1),
            "cx": error_pct(0, 2),
            "cy": error_pct(1, 2),
        },
        "reprojection_rms_px": round(written["verification"]["reprojection_rms_px"], 4),
        "scale_residual_mm": round(written["scale"]["residual_mm"], 4),
        "verify_board_worst_error_pct": round(board_worst, 4),
        "verify_ruler_error_pct": round(ruler_worst, 4),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
