"""Throughput of the SQLite outbox: puts per second, and put+ack cycles per second. Prints JSON.

    python benchmarks/outbox.py
    python benchmarks/outbox.py --dir /var/lib/steelsight --count 2000 --modes FULL

Cases: 200-byte measurement payloads and 20 KiB mask payloads, for each ``synchronous`` mode.
``puts_per_s`` stores ``count`` rows into a new outbox (no sender); ``put_ack_per_s`` stores one
row and acknowledges it, ``count`` times (a sender that keeps up: the steady state). Each figure is
the median of ``--repeats`` runs, each in a new file. Run it on the camera's own storage with
``--dir``: the fsync cost of ``FULL`` depends on the device (the default is a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from edge.publish.outbox import SYNCHRONOUS_MODES, Outbox

CASES = {"measurement_200B": ("measurement", 200), "mask_20KiB": ("mask", 20 * 1024)}


def _run(folder: Path, mode: str, kind: str, size: int, count: int, with_ack: bool) -> float:
    path = folder / f"bench-{mode}-{kind}-{time.monotonic_ns()}.sqlite"
    payload = os.urandom(size)
    with Outbox(path, synchronous=mode) as outbox:
        start = time.perf_counter()
        for _ in range(count):
            row = outbox.put("bench/topic", lambda seq: payload, kind=kind)
            if with_ack:
                outbox.ack(row.id)
        elapsed = time.perf_counter() - start
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return count / elapsed


def main() -> int:
    """Run the benchmark and print the JSON figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dir", type=Path, default=None, help="folder for the outbox files (a temp dir)")
    parser.add_argument("--count", type=int, default=500, help="operations per run (500)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is kept (3)")
    parser.add_argument("--modes", nargs="+", default=list(SYNCHRONOUS_MODES), choices=SYNCHRONOUS_MODES)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="outbox-bench-") as tmp:
        folder = Path(tmp)
        results: dict[str, dict[str, dict[str, float]]] = {}
        for mode in args.modes:
            results[mode] = {}
            for name, (kind, size) in CASES.items():
                figures = {}
                for label, with_ack in (("puts_per_s", False), ("put_ack_per_s", True)):
                    runs = [_run(folder, mode, kind, size, args.count, with_ack) for _ in range(args.repeats)]
                    figures[label] = round(statistics.median(runs), 1)
                results[mode][name] = figures
    report = {
        "benchmark": "outbox",
        "dir": str(args.dir or Path(tempfile.gettempdir())),
        "count": args.count,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "results": results,
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
