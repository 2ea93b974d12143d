"""``steelsight-train``: the desktop trainer's command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from trainer import __version__

EPILOG = """\
examples:
  steelsight-train models                      list the networks with their true parameter counts
  steelsight-train models --macs --size 512x512
  steelsight-train models --arch shdm_r50 --pretrained resnet50-imagenet.pth
                                               check that a local ImageNet checkpoint fits
  steelsight-train demo --out demo_out         export and run the networks (untrained) in ONNX Runtime
  steelsight-train synth --task slag --count 400 --seed 1 --out data/slag_train --val-fraction 0.1
  steelsight-train synth --task weld --count 20 --seed 9 --out data/weld_video --video weld.mp4
  steelsight-train synth --task slag --count 4000 --seed 9 --split pool --out data/slag_pool
  steelsight-train select data/slag_pool --count 1600 --prefer "thickness_px<15"
                                               mark a training split that over-weights hard scenes
  steelsight-train train --config configs/slag_synthetic.toml --out runs/slag1
  steelsight-train train --config configs/slag_synthetic.toml --out runs/slag1 --resume
  steelsight-train train --config configs/slag_paper.toml --out runs/x --set stages.0.epochs=2
  torchrun --nproc_per_node 2 -m trainer train --config ... --out ...   (DistributedDataParallel)
  steelsight-train eval runs/slag1/best.pt --data data/slag_test --split test --out reports/slag1
  steelsight-train export runs/slag1/best.pt --out bundles/slag --eval-data data/slag_test --eval-split test
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

    synth = commands.add_parser(
        "synth",
        help="write a synthetic slag or weld dataset with exact ground truth (and optionally a video)",
        description=(
            "Render synthetic scenes with exact ground truth into the plain dataset layout: images/, "
            "masks/, splits.csv and truth.csv/truth.json (slag thickness in mm, weld area/width/depth). "
            "The same seed gives the same bytes. Train on one seed and test on another."
        ),
    )
    synth.add_argument("--task", choices=["slag", "weld"], required=True, help="which scene generator")
    synth.add_argument("--count", type=int, required=True, help="number of scenes")
    synth.add_argument("--seed", type=int, default=0, help="random seed (0)")
    synth.add_argument("--out", type=Path, required=True, help="output dataset folder (new or empty)")
    synth.add_argument("--size", type=parse_size, default=(512, 512), help="image HxW (512x512)")
    synth.add_argument("--split", default="train", help="split name written to splits.csv (train)")
    synth.add_argument("--val-fraction", type=float, default=0.0, help="last fraction of scenes marked 'val'")
    synth.add_argument("--video", type=Path, help="also write the scenes as an MP4 video (for the edge demo)")
    synth.add_argument("--fps", type=float, default=10.0, help="video frame rate (10)")

    select = commands.add_parser(
        "select",
        help="mark a training split in a synthetic pool, preferring scenes by their truth (hard cases)",
        description=(
            "Rewrite splits.csv of a set written by 'synth' so that COUNT scenes of the pool split are "
            "marked as the training split: first every scene whose truth.csv row meets one of the "
            "--prefer conditions, then scenes drawn at random from the rest. Over-weights rare hard "
            "cases (thin or low-contrast slag bands) without changing the generator. The images stay "
            "where they are; running the same selection again gives the same split. Never select "
            "from a test set."
        ),
    )
    select.add_argument("data", type=Path, help="dataset folder written by 'synth' (with truth.csv)")
    select.add_argument("--count", type=int, required=True, help="number of scenes to mark")
    select.add_argument(
        "--prefer",
        action="append",
        default=[],
        metavar="COND",
        help="COLUMN<VALUE, <=, >, >= or COLUMN=VALUE over truth.csv, e.g. thickness_px<15 (repeatable; any)",
    )
    select.add_argument("--from", dest="from_split", default="pool", help="split to take scenes from (pool)")
    select.add_argument("--split", default="train", help="split name of the chosen scenes (train)")
    select.add_argument("--seed", type=int, default=0, help="seed of the random draws (0)")

    train = commands.add_parser(
        "train",
        help="train a network from a TOML config (resumable; DDP under torchrun)",
        description=(
            "Train the network a TOML config describes (see configs/). The run folder gets run.json "
            "(resolved config, command, git commit, dataset fingerprints), last.pt and best.pt "
            "checkpoints, steps.csv, epochs.csv and curves.png. Under torchrun every process trains "
            "a share of each batch (DistributedDataParallel); rank 0 writes the files."
        ),
    )
    train.add_argument("--config", type=Path, required=True, help="TOML config file")
    train.add_argument("--out", type=Path, required=True, help="run folder")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set run.seed=3 --set stages.0.epochs=2 (TOML syntax)",
    )
    train.add_argument(
        "--stop-after-epochs",
        type=int,
        metavar="N",
        help="stop after N epochs of this invocation; continue later with --resume (for time budgets)",
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bar (for log files)")

    evaluate = commands.add_parser(
        "eval",
        help="measure a checkpoint on a dataset: IoU, mPA, F1, boundary F1, APRF, slag thickness error",
        description=(
            "Evaluate a training checkpoint on a dataset and write report.json, report.md and, where "
            "they apply, aprf.png (two-class tasks) and thickness.csv (synthetic slag sets with truth)."
        ),
    )
    evaluate.add_argument("checkpoint", type=Path, help="best.pt or last.pt of a run")
    evaluate.add_argument("--data", type=Path, required=True, help="dataset folder")
    evaluate.add_argument(
        "--format", default="plain", choices=["plain", "voc"], help="dataset layout (plain)"
    )
    evaluate.add_argument("--split", action="append", help="split(s) to evaluate (default: all)")
    evaluate.add_argument("--input-size", type=parse_size, help="network input HxW (default: the run's)")
    evaluate.add_argument("--threshold", type=float, help="binarization threshold chosen on validation")
    evaluate.add_argument(
        "--boundary-tolerance", type=float, default=2.0, help="boundary F1 tolerance px (2)"
    )
    evaluate.add_argument("--out", type=Path, help="report folder (default: print only)")

    export = commands.add_parser(
        "export",
        help="turn a checkpoint into a model bundle: FP32/FP16/INT8 ONNX, parity check, metrics, manifest",
        description=(
            "Export a training checkpoint as a model bundle (manifest.json, model.onnx, model.fp16.onnx, "
            "model.int8.onnx). The exporter checks PyTorch against ONNX Runtime on validation images and "
            "fails below the thresholds, calibrates INT8 on training images (the list is recorded), and "
            "with --eval-data measures PyTorch FP32 and ONNX FP32/FP16/INT8 side by side. The bundle is "
            "written to a temporary folder and moved into place only when every step passed."
        ),
    )
    export.add_argument("checkpoint", type=Path, help="best.pt or last.pt of a run")
    export.add_argument(
        "--out", type=Path, required=True, help="bundle folder (new, empty, or an old bundle)"
    )
    export.add_argument(
        "--eval-data", type=Path, help="dataset folder (plain layout) to measure the files on"
    )
    export.add_argument("--eval-split", action="append", help="split(s) of --eval-data (default: all)")
    export.add_argument("--input-size", type=parse_size, help="network input HxW (default: the run's)")
    export.add_argument("--calibration-count", type=int, default=200, help="INT8 calibration images (200)")
    export.add_argument(
        "--calibration-method",
        choices=["entropy", "percentile", "minmax"],
        default="entropy",
        help="(entropy)",
    )
    export.add_argument("--name", help="bundle name (default: the network's registry name)")
    export.add_argument("--version", default="1.0.0", help="bundle version (1.0.0)")
    export.add_argument(
        "--int8-exclude", action="append", default=[], metavar="NODE", help="keep this node in float in INT8"
    )
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


def _split_arg(splits: list[str] | None) -> str | list[str] | None:
    """A repeated --split option as the dataset config takes it: one name, a list, or None (all)."""
    return splits[0] if splits and len(splits) == 1 else splits


def _cmd_synth(args: argparse.Namespace) -> int:
    from trainer.synth import write_dataset

    out = write_dataset(
        args.task,
        args.count,
        args.seed,
        args.out,
        size=args.size,
        split=args.split,
        val_fraction=args.val_fraction,
        video=args.video,
        fps=args.fps,
    )
    print(f"wrote {args.count} {args.task} scenes to {out}" + (f" and {args.video}" if args.video else ""))
    return 0


def _cmd_select(args: argparse.Namespace) -> int:
    from trainer.data.truth_select import truth_select

    selection = truth_select(
        args.data,
        args.count,
        args.prefer,
        from_split=args.from_split,
        to_split=args.split,
        seed=args.seed,
    )
    print(f"{args.data}: {selection.describe()}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from trainer.config import load_config
    from trainer.train import train

    config = load_config(args.config, args.set)
    result = train(config, args.out, resume=args.resume, command=sys.argv, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) == 0:
        best = _describe_best(result.best_validation, config.run.best_by)
        print(f"finished {result.global_step} steps; {best}; run folder {result.out_dir}")
    return 0


def _describe_best(best: dict[str, Any] | None, best_by: str) -> str:
    """One line on what ``best.pt`` holds, for the end of a training run."""
    if best is None:
        return "no validation, no best.pt"
    where = f"stage {best['stage'] + 1} epoch {best['epoch'] + 1}" if "epoch" in best else "an earlier epoch"
    text = f"best.pt (by {'thickness error' if best_by == 'thickness' else 'mIoU'}): {where}, "
    text += f"validation mIoU {100 * best['miou']:.2f}"
    if best.get("thickness_percent") is not None:
        text += f", slag thickness error {best['thickness_percent']:.2f} % per scene"
    return text


def _cmd_eval(args: argparse.Namespace) -> int:
    from trainer.checkpoint import load_model
    from trainer.data.factory import DatasetConfig, open_dataset
    from trainer.evaluate import evaluate

    model, state = load_model(args.checkpoint)
    class_names = state["class_names"]
    split = _split_arg(args.split)
    dataset = open_dataset(DatasetConfig(args.format, args.data, split, len(class_names)))
    eval_size = args.input_size or (tuple(state["eval_size"]) if state.get("eval_size") else None)
    report = evaluate(
        model,
        dataset,
        class_names,
        eval_size,
        tuple(state["mean"]),
        tuple(state["std"]),
        boundary_tolerance=args.boundary_tolerance,
        threshold=args.threshold,
        out_dir=args.out,
    )
    print(report.to_markdown())
    if args.out:
        print(f"report written to {args.out}/")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from trainer.data.factory import DatasetConfig
    from trainer.export.bundle_writer import export_bundle

    eval_data = None
    if args.eval_data is not None:
        split = _split_arg(args.eval_split)
        eval_data = DatasetConfig("plain", args.eval_data, split)
    manifest = export_bundle(
        args.checkpoint,
        args.out,
        eval_data=eval_data,
        calibration_count=args.calibration_count,
        calibration_method=args.calibration_method,
        name=args.name,
        version=args.version,
        input_size=args.input_size,
        int8_exclude_nodes=args.int8_exclude,
        command=args.argv,
    )
    print(f"bundle {manifest.name} {manifest.version} written to {args.out}/")
    for precision in ("pytorch_fp32", "fp32", "fp16", "int8"):
        figures = manifest.metrics.get(precision)
        if isinstance(figures, dict) and figures.get("miou") is not None:
            print(f"  {precision:<13} mIoU {100 * figures['miou']:.2f}")
    return 0


# Errors that describe a problem with the user's input or files (their messages say what to do),
# by module: reported in one line instead of a traceback.
_USER_ERROR_CLASSES = {
    "trainer.export.onnx_graph": "OnnxExportError",
    "trainer.export.bundle_writer": "ExportError",
    "trainer.export.fp16": "Fp16ConversionError",
    "trainer.export.int8": "Int8QuantizationError",
}


def _user_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [ValueError, FileNotFoundError, FileExistsError, FloatingPointError]
    for module, name in _USER_ERROR_CLASSES.items():
        if module in sys.modules:  # only the modules the command imported
            found.append(getattr(sys.modules[module], name))
    return tuple(found)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    args.argv = ["steelsight-train", *(sys.argv[1:] if argv is None else argv)]  # recorded by export
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return 2
    handlers = {
        "models": _cmd_models,
        "demo": _cmd_demo,
        "synth": _cmd_synth,
        "select": _cmd_select,
        "train": _cmd_train,
        "eval": _cmd_eval,
        "export": _cmd_export,
    }
    try:
        return handlers[args.command](args)
    except Exception as exc:
        if not isinstance(exc, _user_errors()):
            raise  # a bug: keep the traceback
        print(f"steelsight-train {args.command}: error: {exc}", file=sys.stderr)
        return 2
