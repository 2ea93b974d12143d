"""Slag thickness error of bundles through the camera's own path, on synthetic scenes with truth (JSON).

``steelsight-train eval`` resizes the logits to the image size before the argmax. The camera
does it the other way round: CPU preprocessing (:func:`edge.preprocess.preprocess_cpu`), the
ONNX Runtime engine's argmax at the network's size, the class map resized back by nearest
neighbour (:func:`edge.preprocess.restore_mask`), then :func:`edge.measure.measure_slag` with the
scene's exact homography, axis and tube diameter (what a calibrated camera knows). This script
measures that path for every bundle and precision given, side by side on the same scenes, and
summarises the errors with :func:`trainer.metrics.thickness_error` (the same figures as the
evaluation report).

    python benchmarks/bundle_thickness.py data/synth/slag_val bundles/demo_slag bundles/slag_compact_768
    python benchmarks/bundle_thickness.py data/synth/slag_test bundles/demo_slag --precisions fp32 int8

The folder is a synthetic slag set (``steelsight-train synth --task slag``) with ``truth.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from edge.bundle.loader import load_bundle
from edge.bundle.manifest import BundleError
from edge.engines.onnxruntime_engine import OnnxRuntimeEngine
from edge.measure import measure_slag
from edge.preprocess import PreprocessSpec, preprocess_cpu, restore_mask
from trainer.metrics import thickness_error


def _scenes(root: Path, split: str | None) -> list[dict[str, str]]:
    truth_path = root / "truth.csv"
    if not truth_path.is_file():
        raise SystemExit(f"{truth_path} not found: give a set made by steelsight-train synth --task slag")
    with truth_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "thickness_mm" not in rows[0]:
        raise SystemExit(f"{truth_path} holds no slag thickness truth")
    if split is not None:
        with (root / "splits.csv").open(newline="") as handle:
            keep = {row[0] for row in csv.reader(handle) if len(row) > 1 and row[1] == split}
        rows = [row for row in rows if row["stem"] in keep]
        if not rows:
            raise SystemExit(f"no scene of {root} is in split {split!r}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path, help="synthetic slag set with truth.csv")
    parser.add_argument("bundles", type=Path, nargs="+", help="slag model bundle folders")
    parser.add_argument("--split", default=None, help="only the scenes of this split (default: all)")
    parser.add_argument("--precisions", nargs="+", default=["fp32"], help="fp32, fp16, int8 (fp32)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    scenes = _scenes(args.data, args.split)
    rows: dict[str, list[dict[str, Any]]] = {}
    for bundle_dir in args.bundles:
        for precision in args.precisions:
            try:
                bundle = load_bundle(bundle_dir, precision=precision)
            except BundleError as error:
                parser.error(str(error))
            if bundle.manifest.task != "slag":
                parser.error(f"{bundle_dir} is a {bundle.manifest.task} bundle; this measures slag bundles")
            spec = PreprocessSpec.from_input_spec(bundle.manifest.input)
            key = f"{bundle_dir.name}/{precision}"
            rows[key] = []
            with OnnxRuntimeEngine(bundle, precision) as engine:
                for scene in tqdm(scenes, desc=key, unit="scene", file=sys.stderr):
                    image = cv2.imread(str(args.data / "images" / f"{scene['stem']}.png"), cv2.IMREAD_COLOR)
                    if image is None:
                        raise SystemExit(f"cannot read {args.data / 'images' / scene['stem']}.png")
                    output = engine.infer(preprocess_cpu(image, spec)[None])
                    classes = restore_mask(output.classes[0], spec, image.shape[:2])
                    measured = measure_slag(
                        classes,
                        homography=np.asarray(json.loads(scene["homography_image_to_plane"])),
                        axis_angle_deg=float(scene["axis_angle_deg"]),
                        tube_diameter_mm=float(scene["tube_diameter_mm"]),
                    )
                    value = measured.thickness_mm
                    rows[key].append(
                        {
                            "true_mm": float(scene["thickness_mm"]),
                            "measured_mm": None if math.isnan(value) else value,
                            "quality": str(measured.quality.code),
                        }
                    )
    result = {
        "benchmark": "bundle_thickness",
        "data": str(args.data),
        "split": args.split,
        "scenes": len(scenes),
        "cpus": os.cpu_count(),
        "results": {key: thickness_error(values) for key, values in rows.items()},
    }
    text = json.dumps(result, indent=2)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
