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
    """Write a PNG with the training loss per step (raw and smoothed) and validation mIoU per epoch.

    When the validation measured slag thickness (``val_thickness_percent`` in ``epochs_csv``), a
    third panel shows that error per epoch, with the epochs that gave no figure left out.
    """
    steps, epochs = _read(steps_csv), _read(epochs_csv)
    thickness = [r for r in epochs if r.get("val_thickness_percent")]
    panels = 3 if thickness else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4))
    ax_loss, ax_miou = axes[0], axes[1]
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
    if thickness:
        ax_thick = axes[2]
        x = [int(r["step"]) for r in thickness]
        ax_thick.plot(x, [float(r["val_thickness_percent"]) for r in thickness], "o-", color="C3")
        ax_thick.set_xlabel("step")
        ax_thick.set_ylabel("mean per-scene error, %")
        ax_thick.set_title("validation slag thickness error")
        ax_thick.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
