"""Plot a run's loss and validation curves from its CSV logs."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def _read(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def plot_curves(steps_csv: Path, epochs_csv: Path, out_png: Path) -> Path:
    """Write a PNG with the training loss per step (raw and smoothed) and validation mIoU per epoch."""
    steps, epochs = _read(steps_csv), _read(epochs_csv)
    fig, (ax_loss, ax_miou) = plt.subplots(1, 2, figsize=(11, 4))
    if steps:
        x = np.array([int(r["step"]) for r in steps])
        y = np.array([float(r["loss"]) for r in steps])
        ax_loss.plot(x, y, color="0.75", linewidth=0.8, label="loss")
        window = max(1, len(y) // 50)
        if window > 1:
            smooth = np.convolve(y, np.ones(window) / window, mode="valid")
            ax_loss.plot(x[window - 1 :], smooth, color="C0", label=f"mean of {window} steps")
        ax_loss.set_yscale("log")
        ax_loss.legend()
    ax_loss.set_xlabel("step")
    ax_loss.set_title("training loss")
    rated = [r for r in epochs if r.get("val_miou")]
    if rated:
        x = [int(r["step"]) for r in rated]
        ax_miou.plot(x, [100 * float(r["val_miou"]) for r in rated], "o-", label="mIoU")
        ax_miou.plot(x, [100 * float(r["val_mpa"]) for r in rated], "s--", label="mPA")
        ax_miou.legend()
    ax_miou.set_xlabel("step")
    ax_miou.set_ylabel("%")
    ax_miou.set_title("validation")
    ax_miou.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
