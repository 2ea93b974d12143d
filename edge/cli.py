"""``steelsight-edge``: the camera runtime's command line."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import platform
import sys
from pathlib import Path

from edge import __version__

EPILOG = """\
examples:
  steelsight-edge run --config /etc/steelsight/slagcam01.toml
                                run the camera until SIGTERM (systemd) or Ctrl-C
  steelsight-edge run --config camera.toml --max-frames 200 --save-overlay overlays/
                                process 200 frames and write each with its mask blended in
  steelsight-edge measure --task slag --mask mask.png --mm-per-px 3.2
                                measure one mask offline (see measure --help)
  steelsight-edge info --config camera.toml
                                which backend this camera would use and why, the bundle, the device
  steelsight-edge info          what this camera can run: ONNX Runtime providers, TensorRT, pycuda, GPU
  steelsight-edge info --json   the same as JSON (for support tickets)
  steelsight-edge build-engine /opt/steelsight/bundles/slag --precision int8
                                build (or reuse) the TensorRT engine for this camera's GPU
"""


def _module_version(name: str) -> str | None:
    """The version of an importable module, or None when it cannot be imported."""
    try:
        module = importlib.import_module(name)
    except Exception:  # a broken CUDA install raises more than ImportError
        return None
    return str(getattr(module, "__version__", "unknown"))


def runtime_info() -> dict[str, object]:
    """Describe the inference stack available on this machine.

    Never imports torch. Reports the software version, Python, NumPy, ONNX
    Runtime and its execution providers, and whether TensorRT and pycuda
    import (the GPU path); each missing part is ``None``.
    """
    info: dict[str, object] = {
        "steelsight": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "numpy": _module_version("numpy"),
        "onnxruntime": _module_version("onnxruntime"),
        "onnxruntime_providers": None,
        "tensorrt": _module_version("tensorrt"),
        "pycuda": _module_version("pycuda"),
    }
    if info["onnxruntime"] is not None:
        import onnxruntime

        info["onnxruntime_providers"] = onnxruntime.get_available_providers()
    return info


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="steelsight-edge",
        description=(
            "SteelSight camera runtime: streams frames through the slag or weld network and publishes "
            "measurements over MQTT."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"steelsight {__version__}")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default: WARNING)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = commands.add_parser(
        "info",
        help="report the inference stack on this machine",
        description="Report which inference backends this machine can use (never imports torch).",
    )
    info.add_argument("--json", action="store_true", help="print JSON")
    info.add_argument("--config", type=Path, help="a camera config: also report its bundle and backend")

    run = commands.add_parser(
        "run",
        help="run a camera: source -> preprocessing -> inference -> post stage",
        description=(
            "Run the camera described by a runtime config (TOML, contract 4: [camera] [model] [measure] "
            "[mqtt] [outbox] [pipeline]). Unknown keys and bad values stop it before it starts, naming "
            "the key. SIGTERM or Ctrl-C finishes the frames already queued and exits 0. Under systemd "
            "(Type=notify) it reports READY, WATCHDOG and a STATUS line with fps. "
            "Exit codes: 0 done, 1 the run failed, 2 bad config, bundle or source."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--config", type=Path, required=True, help="the camera's TOML config")
    run.add_argument("--max-frames", type=int, help="stop after N frames (default: until the source ends)")
    run.add_argument(
        "--save-overlay", type=Path, metavar="DIR", help="write every frame with its mask blended in to DIR"
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set camera.fps=5 (repeatable; TOML values)",
    )
    run.add_argument("--summary-json", type=Path, help="also write the run's summary as JSON to this file")

    measure = commands.add_parser(
        "measure",
        help="measure one mask or image offline (slag thickness or weld geometry)",
        description=(
            "Measure one frame offline, as the camera would: a mask PNG of class ids (slag: 0 background, "
            "1 tube, 2 slag; weld: 0/1 or 0/255), or an image segmented by a model bundle on ONNX Runtime "
            "(weld images are refined by matting when the bundle defines it). The scale comes from the "
            "camera's calibration file or from --mm-per-px (with --axis-deg for slag; without it the axis "
            "is estimated from the tube). --json prints exactly one JSON object with the MQTT payload's "
            "field names. Exit codes: 0 measured (see its quality), 2 bad input."
        ),
        epilog=(
            "examples:\n"
            "  steelsight-edge measure --task slag --mask frame_mask.png --mm-per-px 3.2 --axis-deg -4\n"
            "  steelsight-edge measure --task slag --image frame.png --bundle bundles/slag "
            "--calibration slagcam01.json --json\n"
            "  steelsight-edge measure --task weld --image section.png --bundle bundles/weld --mm-per-px 0.05"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    measure.add_argument("--task", choices=["slag", "weld"], required=True, help="what to measure")
    measure.add_argument("--mask", type=Path, help="a mask PNG of class ids")
    measure.add_argument("--image", type=Path, help="an image to segment with --bundle")
    measure.add_argument("--bundle", type=Path, help="the model bundle folder for --image")
    measure.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp32", help="(fp32)")
    measure.add_argument("--calibration", type=Path, help="the camera's calibration file (JSON)")
    measure.add_argument("--mm-per-px", type=float, help="a fixed scale instead of a calibration file")
    measure.add_argument("--axis-deg", type=float, help="slag: the tube axis angle (default: estimated)")
    measure.add_argument(
        "--tube-diameter-mm", type=float, help="slag: the tube's outer diameter (scale check)"
    )
    measure.add_argument("--json", action="store_true", help="print one JSON object")

    demo = commands.add_parser(
        "demo",
        help="the demo: a synthetic furnace video through the demo bundle to a local MQTT broker",
        description=(
            "Render a synthetic furnace video with known slag thickness, start a private Mosquitto "
            "(or use --broker), run the camera on it with the committed demo bundle on ONNX Runtime, "
            "print every thickness the subscriber receives beside the truth, and write an overlay "
            "strip (PNG), an overlay video (MP4) and a summary (fps, latency, measured vs true). "
            "Exit codes: 0 every frame's thickness arrived, 1 some did not, 2 missing bundle, "
            "broker or bad argument."
        ),
        epilog=(
            "examples:\n"
            "  steelsight-edge demo\n"
            "  steelsight-edge demo --frames 100 --fps 0 --out /tmp/demo   # unpaced: as fast as it runs\n"
            "  steelsight-edge demo --broker localhost:1883    # watch with: mosquitto_sub -t 'demo/#' -v"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (demo_out)")
    demo.add_argument("--frames", type=int, default=40, help="frames in the furnace video (40)")
    demo.add_argument("--seed", type=int, default=2026, help="scene seed of the video (2026)")
    demo.add_argument(
        "--fps", type=float, default=5.0, help="camera frame rate (5, as a furnace camera; 0: unpaced)"
    )
    demo.add_argument("--bundle", type=Path, help="model bundle (default: bundles/demo_slag)")
    demo.add_argument("--broker", metavar="HOST:PORT", help="a running broker instead of a private Mosquitto")

    build = commands.add_parser(
        "build-engine",
        help="build (or reuse) the TensorRT engine of a model bundle on this GPU",
        description=(
            "Build a TensorRT engine from a model bundle for this device and cache it in the bundle's "
            "engines/ folder, keyed by TensorRT version, GPU, compute capability, precision, model "
            "hash and input profile. A cached engine whose key differs is rebuilt, never loaded. "
            "TensorRT 10 builds FP16 from model.onnx with the FP16 flag and INT8 from model.int8.onnx; "
            "TensorRT 11 builds strongly typed networks from model.fp16.onnx or model.int8.onnx. "
            "Exit codes: 0 ok, 1 build failed, 2 bad bundle or argument, 3 no TensorRT or GPU here."
        ),
    )
    build.add_argument("bundle", type=Path, help="model bundle folder (with manifest.json)")
    build.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp16", help="(fp16)")
    build.add_argument("--height", type=int, help="input height (default: the bundle's)")
    build.add_argument("--width", type=int, help="input width (default: the bundle's)")
    build.add_argument("--max-batch", type=int, default=1, help="largest batch the engine accepts (1)")
    build.add_argument(
        "--workspace-mib", type=int, default=1024, help="builder workspace limit in MiB (1024)"
    )
    build.add_argument("--force", action="store_true", help="rebuild even when a valid cached engine exists")
    return parser


def _broker_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--broker must be HOST:PORT, e.g. localhost:1883, got {text!r}")
    return host, int(port)


def _demo(args: argparse.Namespace) -> int:
    from edge.bundle.manifest import BundleError
    from edge.config_loader import ConfigError
    from edge.demo import format_report, run_demo
    from edge.sources import SourceError

    # The demo's own lines go to stdout; library warnings still reach stderr.
    try:
        if args.frames < 1:
            raise ValueError(f"--frames must be >= 1, got {args.frames}")
        if not args.fps >= 0:
            raise ValueError(f"--fps must be >= 0 (0: unpaced), got {args.fps}")
        broker = _broker_address(args.broker) if args.broker else None
        report = run_demo(
            args.out,
            bundle=args.bundle,
            frames=args.frames,
            seed=args.seed,
            fps=args.fps or None,
            broker=broker,
        )
    except (FileNotFoundError, ConnectionError, ConfigError, BundleError, SourceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in format_report(report):
        print(line)
    return 0 if report.complete else 1


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "build-engine":
        from edge.engines.build_cli import build_engine_command

        return build_engine_command(
            args.bundle,
            args.precision,
            args.height,
            args.width,
            args.max_batch,
            args.workspace_mib,
            args.force,
        )
    if args.command == "measure":
        from edge.measure_command import measure_command

        return measure_command(
            args.task,
            args.mask,
            args.image,
            args.bundle,
            args.calibration,
            args.mm_per_px,
            args.axis_deg,
            args.tube_diameter_mm,
            args.precision,
            args.json,
        )
    if args.command == "demo":
        return _demo(args)
    if args.command == "run":
        from edge.run_command import run_command

        return run_command(args.config, args.max_frames, args.save_overlay, args.set, args.summary_json)
    info = runtime_info()
    if args.config is not None:
        from edge.run_command import describe_camera

        try:
            info.update(describe_camera(args.config))
        except ValueError as exc:
            print(f"error: {exc}")
            return 2
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            shown = (
                "not installed" if value is None else ", ".join(value) if isinstance(value, list) else value
            )
            print(f"{key:<22} {shown}")
    return 0
