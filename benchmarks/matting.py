"""Time of the SHDM matting refinement with the crop strategy against pymatting's full-image solve on
the same inputs, and of ``measure_weld``, per synthetic weld frame. Prints JSON.

    python benchmarks/matting.py
    python benchmarks/matting.py --sizes 512x512 --repeats 7 --full-repeats 3 --cold-compile

Inputs: ``render_weld`` scenes (RGB) with a deterministic soft probability map (a logistic ramp
across the true boundary, 10 px per unit logit, the true boundary at p = 0.42, a smooth wobble):
the unknown band is a few pixels wide around the whole fusion line, as in the tests.

Figures per size, medians over the scenes of the median over repeats, in milliseconds:
``crop_ms`` (:func:`edge.measure.matting.refine_weld_mask`, no time budget), ``full_ms``
(``pymatting.estimate_alpha_cf`` on the whole image with the same trimap, then ``alpha > 0.5``),
``speedup`` (``full_ms / crop_ms``), ``max_alpha_diff`` (largest difference of the two alphas on the
unknown band, over all scenes), ``measure_weld_ms`` (surface point given) and
``measure_weld_estimated_surface_ms``. ``warm_up_s`` is the first pymatting call of this process
(Numba loads its on-disk cache, or compiles); ``--cold-compile`` also times a compile from an empty
Numba cache in a subprocess.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import cv2
import numpy as np

from edge.measure.matting import MattingConfig, matting_crops, refine_weld_mask, trimap, warm_up
from edge.measure.weld import measure_weld
from edge.synth import render_weld

log = logging.getLogger("benchmarks.matting")


def _size(text: str) -> tuple[int, int]:
    """``HxW`` -> ``(height, width)``."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW, e.g. 512x512, got {text!r}") from None
    return height, width


def soft_probability(mask: np.ndarray, seed: int, softness: float = 10.0, wobble: float = 0.4) -> np.ndarray:
    """Deterministic soft weld probability: logistic across the true boundary, p = 0.42 on it."""
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform((mask == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    signed = np.where(mask > 0, inside - 0.5, 0.5 - outside)
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.standard_normal(mask.shape).astype(np.float32), (0, 0), 6.0)
    noise /= np.abs(noise).max()
    logit = np.log(0.42 / 0.58) + signed / softness + wobble * noise
    return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)


def _median_ms(call: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times), result


def _full_solve(image: np.ndarray, tri: np.ndarray) -> np.ndarray:
    from pymatting import estimate_alpha_cf

    alpha = estimate_alpha_cf(image.astype(np.float64) / 255.0, tri)
    _ = alpha > 0.5
    return alpha


def _cold_compile_s() -> float:
    """Seconds of the first pymatting call in a fresh process with an empty Numba cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        code = "from edge.measure.matting import warm_up; print(warm_up())"
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout
    return float(out.strip().splitlines()[-1])


def bench_size(size: tuple[int, int], scenes: int, repeats: int, full_repeats: int) -> dict[str, Any]:
    config = MattingConfig(max_seconds=None)
    crop_ms, full_ms, measure_ms, estimate_ms = [], [], [], []
    unknown_px, crops, crop_px, diff = [], [], [], 0.0
    for index in range(scenes):
        scene = render_weld(2, index, size)
        probability = soft_probability(scene.mask, seed=index)
        tri = trimap(probability, config)
        unknown = tri == 0.5

        ms, result = _median_ms(partial(refine_weld_mask, scene.image, probability, config), repeats)
        crop_ms.append(ms)
        unknown_px.append(result.unknown_px)
        crops.append(result.crops)
        ms, full = _median_ms(partial(_full_solve, scene.image, tri), full_repeats)
        full_ms.append(ms)
        diff = max(diff, float(np.abs(result.alpha[unknown] - full[unknown]).max()))

        crop_px.append(
            sum((y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in matting_crops(unknown, config.margin_px))
        )
        truth = scene.truth
        ms, _ = _median_ms(
            partial(measure_weld, result.mask, mm_per_px=truth.mm_per_px, surface_px=truth.origin_px), 10
        )
        measure_ms.append(ms)
        ms, _ = _median_ms(partial(measure_weld, result.mask, mm_per_px=truth.mm_per_px), 10)
        estimate_ms.append(ms)
        log.info("%dx%d scene %d: crop %.1f ms, full %.1f ms", *size, index, crop_ms[-1], full_ms[-1])
    crop, full = statistics.median(crop_ms), statistics.median(full_ms)
    return {
        "size": f"{size[0]}x{size[1]}",
        "scenes": scenes,
        "repeats": repeats,
        "full_repeats": full_repeats,
        "crop_ms": round(crop, 2),
        "full_ms": round(full, 2),
        "speedup": round(full / crop, 2),
        "unknown_px_median": int(statistics.median(unknown_px)),
        "crops_median": int(statistics.median(crops)),
        "crop_area_fraction_median": round(statistics.median(crop_px) / (size[0] * size[1]), 4),
        "max_alpha_diff": diff,
        "measure_weld_ms": round(statistics.median(measure_ms), 2),
        "measure_weld_estimated_surface_ms": round(statistics.median(estimate_ms), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=_size, nargs="+", default=[(512, 512), (1024, 1365)])
    parser.add_argument("--scenes", type=int, default=4, help="weld scenes per size (one per joint type)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of the crop solve per scene")
    parser.add_argument(
        "--full-repeats",
        type=int,
        nargs="+",
        default=[3, 1],
        help="runs of the full-image solve per scene, one value per size (the last is reused)",
    )
    parser.add_argument("--cold-compile", action="store_true", help="also time a Numba compile from scratch")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr)

    report: dict[str, Any] = {
        "benchmark": "weld matting (crop strategy vs full-image closed-form solve) and measure_weld",
        "cpu_count": os.cpu_count(),
        "warm_up_s": round(warm_up(), 3),
    }
    if args.cold_compile:
        report["cold_compile_s"] = round(_cold_compile_s(), 3)
    results = []
    for i, size in enumerate(args.sizes):
        full_repeats = args.full_repeats[min(i, len(args.full_repeats) - 1)]
        results.append(bench_size(size, args.scenes, args.repeats, full_repeats))
    report["sizes"] = results
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
