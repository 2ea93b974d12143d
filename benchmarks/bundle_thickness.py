"""Slag thickness error of bundles through the camera's own path, on synthetic scenes with truth (JSON).

``steelsight-train eval`` resizes the logits to the image size before the argmax. The camera
does it the other way round: CPU preprocessing (:func:`edge.preprocess.preprocess_cpu`), the
ONNX Runtime engine's argmax at the network's size, the class map resized back by nearest
neighbour (:func:`edge.preprocess.restore_mask`), then :func:`edge.measure.measure_slag` with the
scene's exact homography, axis and tube diameter (what a calibrated camera knows;
:meth:`trainer.data.slag_truth.SlagScene.measure`, as the evaluation does). This script
measures that path for every bundle and precision given, side by side on the same scenes, and
summarises the errors with :func:`trainer.metrics.thickness_error` (the same figures as the
evaluation report). Each scene is read once (:func:`trainer.data.open_dataset`, which names a bad
image or mask) and goes through every engine in turn, against the truth of
:func:`trainer.data.slag_truth.slag_truth`.

    python benchmarks/bundle_thickness.py data/synth/slag_val bundles/demo_slag bundles/slag_compact_768
    python benchmarks/bundle_thickness.py data/synth/slag_test bundles/demo_slag --precisions fp32 int8
    python benchmarks/bundle_thickness.py data/synth/slag_val bundles/demo_slag --rows reports/camera_path

The folder is a synthetic slag set (``steelsight-train synth --task slag``) with ``truth.csv``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import cv2
from tqdm import tqdm

from edge.bundle.loader import load_bundle
from edge.bundle.manifest import BundleError
from edge.engines.onnxruntime_engine import OnnxRuntimeEngine
from edge.preprocess import PreprocessSpec, preprocess_cpu, restore_mask
from trainer.data import DatasetConfig, DatasetError, open_dataset
from trainer.data.slag_truth import slag_truth
from trainer.metrics import thickness_error
from trainer.metrics.thickness_rows import write_thickness_rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path, help="synthetic slag set with truth.csv")
    parser.add_argument("bundles", type=Path, nargs="+", help="slag model bundle folders")
    parser.add_argument("--split", default=None, help="only the scenes of this split (default: all)")
    parser.add_argument("--precisions", nargs="+", default=["fp32"], help="fp32, fp16, int8 (fp32)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument(
        "--rows",
        type=Path,
        default=None,
        help="also write every scene's measurement to ROWS/<bundle>_<precision>.csv (the columns "
        "of the evaluation's thickness.csv)",
    )
    args = parser.parse_args()
    try:
        truth = slag_truth(args.data)
        dataset = open_dataset(DatasetConfig("plain", args.data, args.split, 3))
    except DatasetError as error:
        parser.error(str(error))
    if not truth:
        parser.error(
            f"{args.data} holds no slag thickness truth (truth.csv); give a set made by "
            "steelsight-train synth --task slag"
        )
    missing = [name for name in dataset.names if name not in truth]
    if missing:
        parser.error(f"{args.data}/truth.csv has no row for {len(missing)} scenes, e.g. {missing[0]}")
    rows: dict[str, list[dict[str, Any]]] = {}
    with ExitStack() as stack:
        engines: dict[str, tuple[PreprocessSpec, OnnxRuntimeEngine]] = {}
        for bundle_dir in args.bundles:
            for precision in args.precisions:
                try:
                    bundle = load_bundle(bundle_dir, precision=precision)
                except BundleError as error:
                    parser.error(str(error))
                if bundle.manifest.task != "slag":
                    parser.error(f"{bundle_dir} is a {bundle.manifest.task} bundle; give slag bundles")
                key = f"{bundle_dir.name}/{precision}"
                spec = PreprocessSpec.from_input_spec(bundle.manifest.input)
                engines[key] = (spec, stack.enter_context(OnnxRuntimeEngine(bundle, precision)))
                rows[key] = []
        # Each scene is read once and goes through every engine in turn.
        for sample in tqdm(dataset, total=len(dataset), desc="scenes", unit="scene", file=sys.stderr):
            frame = cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR)  # the camera's frames are BGR
            scene = truth[sample.name]
            for key, (spec, engine) in engines.items():
                output = engine.infer(preprocess_cpu(frame, spec)[None])
                rows[key].append(scene.measure(restore_mask(output.classes[0], spec, frame.shape[:2])))
    result = {
        "benchmark": "bundle_thickness",
        "data": str(args.data),
        "split": args.split,
        "scenes": len(dataset),
        "cpus": os.cpu_count(),
        "results": {key: thickness_error(values) for key, values in rows.items()},
    }
    if args.rows is not None:
        args.rows.mkdir(parents=True, exist_ok=True)
        for key, values in rows.items():
            write_thickness_rows(args.rows / f"{key.replace('/', '_')}.csv", values)
    text = json.dumps(result, indent=2)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
