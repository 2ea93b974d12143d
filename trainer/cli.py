"""``steelsight-train``: the desktop trainer's command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

from trainer import __version__

EPILOG = """\
examples:
  steelsight-train models                      list the networks with their true parameter counts
  steelsight-train models --macs --size 512x512
  steelsight-train models --arch shdm_r50 --pretrained resnet50-imagenet.pth
                                               check that a local ImageNet checkpoint fits
  steelsight-train demo --out demo_out         export and run the networks (untrained) in ONNX Runtime
"""


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``HxW`` (e.g. ``512x512``) into ``(height, width)``."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HEIGHTxWIDTH, e.g. 512x512, got {text!r}") from None
    if height < 16 or width < 16:
        raise argparse.ArgumentTypeError(f"size must be at least 16x16, got {text!r}")
    return height, width


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="steelsight-train",
        description="Train, evaluate and export SteelSight's slag and weld segmentation networks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"steelsight {__version__}")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default: WARNING)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    models = commands.add_parser(
        "models",
        help="list the registered networks with their parameter counts",
        description=(
            "Print each registered network's true parameter count (inference graph; the training-only "
            "SHDM detail branch is counted separately) and the FP32 size in MB that torchsummary "
            "prints and papers sometimes quote as a parameter count."
        ),
    )
    models.add_argument("--arch", action="append", help="only this network (repeatable)")
    models.add_argument("--macs", action="store_true", help="also count multiply-accumulates (slower)")
    models.add_argument("--size", type=parse_size, default=(512, 512), help="input HxW for --macs (512x512)")
    models.add_argument(
        "--pretrained",
        type=Path,
        help="local torchvision ImageNet checkpoint to load into the backbone (checks that it fits)",
    )
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")

    demo = commands.add_parser(
        "demo",
        help="export the slag and weld networks to ONNX and run them in ONNX Runtime",
        description=(
            "Build the slag and weld networks with seeded, untrained weights, export each to ONNX "
            "opset 17, and compare ONNX Runtime with PyTorch on one frame (agreement and CPU time)."
        ),
    )
    demo.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (demo_out)")
    demo.add_argument("--size", type=parse_size, default=(512, 512), help="frame HxW (512x512)")
    return parser


def _cmd_models(args: argparse.Namespace) -> int:
    from trainer.models import REGISTRY, build_model, complexity

    names = args.arch or list(REGISTRY)
    rows = []
    for name in names:
        model = build_model(name, pretrained=args.pretrained)
        figures = complexity(model, args.size if args.macs else None)
        entry = REGISTRY[name]
        rows.append(
            {
                "name": name,
                "task": entry.task,
                "summary": entry.summary,
                "config": dataclasses.asdict(model.config),
                "params": figures.params,
                "train_params": figures.train_params,
                "params_mb": round(figures.megabytes, 2),
                "macs": figures.macs,
                "input_size": list(args.size) if args.macs else None,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = f"{'network':<22} {'task':<5} {'params':>12} {'train params':>13} {'MB (fp32)':>10}"
    if args.macs:
        header += f" {'GMACs@' + 'x'.join(map(str, args.size)):>16}"
    print(header)
    for row in rows:
        line = (
            f"{row['name']:<22} {row['task']:<5} {row['params']:>12,} {row['train_params']:>13,} "
            f"{row['params_mb']:>10.2f}"
        )
        if args.macs:
            line += f" {row['macs'] / 1e9:>16.2f}"
        print(line)
    print("\nparams: inference graph; train params: with training-only branches (SHDM detail head).")
    if args.pretrained:
        print(f"backbone weights loaded from {args.pretrained}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from trainer.demo import demo

    height, width = args.size
    print(f"exporting and running the demo networks at {height}x{width} (untrained weights)...")
    results = demo(args.out, args.size)
    columns = ("params", "max |diff|", "argmax agree", "torch ms", "ORT ms")
    widths = (10, 11, 13, 9, 8)
    print(f"{'network':<22} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)))
    for r in results:
        print(
            f"{r.arch:<22} {r.params:>10,} {r.max_abs_diff:>11.2e} {r.argmax_agreement:>13.4%} "
            f"{r.torch_ms:>9.1f} {r.onnxruntime_ms:>8.1f}"
        )
    print(f"ONNX graphs written to {args.out}/")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return 2
    handlers = {"models": _cmd_models, "demo": _cmd_demo}
    try:
        return handlers[args.command](args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"steelsight-train {args.command}: error: {exc}", file=sys.stderr)
        return 2
