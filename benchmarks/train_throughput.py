"""Training throughput (images/s) of a network on this machine: forward, backward and SGD step.

Prints JSON with, per (batch size, crop size), the median seconds per step over
the timed steps and the images per second, all measured in one run.

    python benchmarks/train_throughput.py                               # slag network, 512x512 and 256x256
    python benchmarks/train_throughput.py --arch shdm_mnv2 --size 512x512 --batch 2 --batch 4
    python benchmarks/train_throughput.py --compact --size 256x256 --batch 8   # and the compact variant

``--compact`` also measures the network with ``width_mult = 0.5`` and ``head_channels = 128`` (the
demo bundle's variant) in the same run and reports ``compact_speedup`` per batch and size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from trainer.cli import parse_size
from trainer.data.heatmap import stride4_size
from trainer.losses import LossConfig, make_loss
from trainer.models import REGISTRY, build_model

COMPACT = {"width_mult": 0.5, "head_channels": 128}


def measure(
    arch: str, batch: int, size: tuple[int, int], steps: int, warmup: int, options: dict | None = None
) -> dict[str, object]:
    torch.manual_seed(0)
    model = build_model(arch, **(options or {})).train()
    is_shdm = getattr(model, "detail_head", None) is not None
    loss_fn = make_loss(LossConfig(name="shdm" if is_shdm else "cross_entropy"))
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
    images = torch.randn(batch, 3, *size)
    masks = torch.randint(0, model.num_classes, (batch, *size))
    heatmap = torch.rand(batch, *stride4_size(*size)) if is_shdm else None
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        loss, _ = loss_fn(model(images), masks, heatmap)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {
        "arch": arch,
        "options": options or {},
        "batch": batch,
        "size": list(size),
        "seconds_per_step_median": round(seconds, 3),
        "images_per_s": round(batch / seconds, 2),
        "steps": steps,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", default="slag_mnv2_dlv3p_ema", choices=list(REGISTRY))
    parser.add_argument("--size", type=parse_size, action="append", help="crop HxW (512x512 and 256x256)")
    parser.add_argument("--batch", type=int, action="append", help="batch size (4)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (1)")
    parser.add_argument("--compact", action="store_true", help="also the width 0.5 / head 128 variant")
    args = parser.parse_args()
    results = []
    for size in args.size or [(512, 512), (256, 256)]:
        for batch in args.batch or [4]:
            full = measure(args.arch, batch, size, args.steps, args.warmup)
            results.append(full)
            if args.compact:
                compact = measure(args.arch, batch, size, args.steps, args.warmup, COMPACT)
                compact["compact_speedup"] = round(
                    float(full["seconds_per_step_median"]) / float(compact["seconds_per_step_median"]), 2
                )
                results.append(compact)
    print(
        json.dumps(
            {
                "benchmark": "train_throughput",
                "machine": {
                    "cpus": os.cpu_count(),
                    "torch": torch.__version__,
                    "python": platform.python_version(),
                },
                "results": results,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
