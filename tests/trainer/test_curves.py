"""The run plot: a thickness panel appears exactly when validation measured slag thickness."""

from __future__ import annotations

from pathlib import Path

import cv2

from trainer.curves import plot_curves
from trainer.train import EPOCH_FIELDS, STEP_FIELDS


def _write(path: Path, fields: list[str], rows: list[dict[str, str]]) -> None:
    lines = [",".join(fields)] + [",".join(row.get(f, "") for f in fields) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def test_a_thickness_panel_only_with_thickness_figures(tmp_path: Path) -> None:
    steps = [
        {"stage": "0", "epoch": "0", "step": str(i), "lr": "0.01", "loss": str(1 / i)} for i in range(1, 9)
    ]
    _write(tmp_path / "steps.csv", STEP_FIELDS, steps)
    epoch = {"stage": "0", "epoch": "0", "step": "4", "val_miou": "0.9", "val_mpa": "0.95"}
    widths = {}
    for name, extra in (
        ("plain", {}),
        ("slag", {"val_thickness_percent": "3.5", "val_thickness_measured": "9"}),
    ):
        _write(tmp_path / f"{name}.csv", EPOCH_FIELDS, [{**epoch, **extra}, {**epoch, "step": "8", **extra}])
        image = cv2.imread(
            str(plot_curves(tmp_path / "steps.csv", tmp_path / f"{name}.csv", tmp_path / f"{name}.png"))
        )
        widths[name] = image.shape[1]
    assert widths == {"plain": 1100, "slag": 1650}
