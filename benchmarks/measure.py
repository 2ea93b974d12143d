"""Time per frame of the slag measurement (:func:`edge.measure.measure_slag`) on CPU (JSON).

Masks are the exact class maps of synthetic snorkel scenes (:func:`edge.synth.render_slag`) at
512x512 and 1080p (1080x1920). Per size, four ways of calling the measurement are timed on the
same masks, in alternating rounds so that they see the same machine load:

``calibrated``
    ``mm_per_px`` and the calibrated axis angle (the axis is still estimated, for the check);
``estimated``
    ``mm_per_px`` only, the axis from the tube mask;
``homography``
    the image-to-plane homography and the tube diameter (scale check);
``probabilities``
    ``calibrated`` plus a ``(3, H, W)`` float32 probability map (NaN check and confidence).

Prints one JSON document with the median and 90th-percentile milliseconds per frame.

    python benchmarks/measure.py                      # 8 scenes per size, 20 rounds
    python benchmarks/measure.py --scenes 4 --rounds 10 --out measure.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.measure import SlagMeasurement, measure_slag
from edge.synth import SlagScene, render_slag

log = logging.getLogger("benchmarks.measure")

SIZES = {"512x512": (512, 512), "1080p": (1080, 1920)}


def _calls(scene: SlagScene) -> dict[str, Callable[[], SlagMeasurement]]:
    """The four ways of measuring one scene."""
    truth = scene.truth
    mask = scene.mask
    homography = np.asarray(truth.homography_image_to_plane)
    probabilities = np.zeros((3, *mask.shape), np.float32)
    for label in range(3):
        probabilities[label][mask == label] = 0.9
    probabilities += 0.05
    return {
        "calibrated": lambda: measure_slag(
            mask, mm_per_px=truth.mm_per_px, axis_angle_deg=truth.axis_angle_deg
        ),
        "estimated": lambda: measure_slag(mask, mm_per_px=truth.mm_per_px),
        "homography": lambda: measure_slag(
            mask, homography=homography, tube_diameter_mm=truth.tube_diameter_mm
        ),
        "probabilities": lambda: measure_slag(
            mask,
            mm_per_px=truth.mm_per_px,
            axis_angle_deg=truth.axis_angle_deg,
            probabilities=probabilities,
        ),
    }


def benchmark(size: tuple[int, int], scenes: int, rounds: int, seed: int) -> dict[str, object]:
    """Median and p90 ms per frame of each way of calling the measurement at one size."""
    rendered = [render_slag(seed, index, size) for index in range(scenes)]
    calls = [_calls(scene) for scene in rendered]
    for per_scene in calls:  # warm-up, and every scene must measure GOOD
        for name, call in per_scene.items():
            result = call()
            if not result.quality.is_good:
                log.warning("%s on a %dx%d scene: %s", name, *size, result.quality.reason)
    timings: dict[str, list[float]] = {name: [] for name in calls[0]}
    for _ in range(rounds):
        for name, values in timings.items():
            for per_scene in calls:
                start = time.perf_counter()
                per_scene[name]()
                values.append((time.perf_counter() - start) * 1e3)
    return {
        "height": size[0],
        "width": size[1],
        "scenes": scenes,
        "frames_timed": scenes * rounds,
        "ms_per_frame": {
            name: {
                "median": round(statistics.median(values), 3),
                "p90": round(float(np.percentile(values, 90)), 3),
            }
            for name, values in timings.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print (and optionally write) the JSON figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=8, help="synthetic scenes per size")
    parser.add_argument("--rounds", type=int, default=20, help="timed passes over the scenes")
    parser.add_argument("--seed", type=int, default=1, help="synthetic dataset seed")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    report = {
        "benchmark": "slag measurement per frame (measure_slag, CPU)",
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        },
        "sizes": {name: benchmark(size, args.scenes, args.rounds, args.seed) for name, size in SIZES.items()},
    }
    text = json.dumps(report, indent=2)
    if args.out is not None:
        args.out.write_text(text + "\n")
    sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
