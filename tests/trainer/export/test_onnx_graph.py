"""Export and parity helpers: error paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.export import OnnxExportError, export_onnx, parity
from trainer.models import build_model


class _NoOnnxOp(torch.nn.Module):
    """A module using an op that has no ONNX opset-17 export (singular values)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.svdvals(x.flatten(2))


def test_untraceable_model_gives_export_error(tmp_path: Path) -> None:
    with pytest.raises(OnnxExportError, match="_NoOnnxOp"):
        export_onnx(_NoOnnxOp(), tmp_path / "x.onnx")


def test_export_restores_training_mode_and_creates_folders(tmp_path: Path) -> None:
    model = build_model("shdm_mnv2").train()
    export_onnx(model, tmp_path / "deep" / "folder" / "model.onnx", sample_size=(64, 64))
    assert model.training
    assert (tmp_path / "deep" / "folder" / "model.onnx").is_file()


def test_parity_rejects_bad_inputs(tmp_path: Path) -> None:
    model = build_model("dlv3p_mnv2").eval()
    path = tmp_path / "m.onnx"
    export_onnx(model, path, sample_size=(64, 64))
    with pytest.raises(ValueError, match="at least one input"):
        parity(model, path, [])
    with pytest.raises(ValueError, match=r"must be \[N, 3, H, W\], got shape \(3, 64, 64\)"):
        parity(model, path, [np.zeros((3, 64, 64), np.float32)])
