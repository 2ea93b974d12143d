"""export_bundle end to end: a tiny trained run becomes a bundle the edge loader accepts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch

from edge.bundle.hashing import sha256_file
from edge.bundle.loader import load_bundle
from edge.bundle.manifest import FILE_NAMES, Manifest, read_manifest
from edge.config_loader import from_mapping
from trainer.checkpoint import load_checkpoint, save_checkpoint
from trainer.config import TrainConfig
from trainer.data import DatasetConfig, open_dataset
from trainer.export.bundle_writer import (
    PALETTE,
    WELD_MATTING,
    ExportError,
    OnnxRuntimeModel,
    export_bundle,
)
from trainer.models import build_model
from trainer.synth import write_dataset
from trainer.train import train

SIZE = (64, 64)


def _slag_config(root: Path) -> dict[str, Any]:
    return {
        "model": {"arch": "slag_mnv2_dlv3p_ema", "options": {"width_mult": 0.5}},
        "data": {
            "class_names": ["background", "tube", "slag"],
            "train": {"format": "plain", "root": str(root), "split": "train"},
            "val": {"format": "plain", "root": str(root), "split": "val"},
            "eval_size": list(SIZE),
        },
        "loss": {"name": "cross_entropy"},
        "stages": [{"epochs": 1, "batch_size": 2, "lr": 0.01, "crop_size": list(SIZE)}],
        "run": {"seed": 1, "max_steps_per_epoch": 1, "amp": False},
    }


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Run PyTorch on one thread here: the tiny networks gain nothing from more, and on a busy
    2-core machine two OpenMP threads waiting on each other make each forward tens of times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def slag_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run folder (run.json, best.pt) from one training step on a tiny synthetic set."""
    base = tmp_path_factory.mktemp("slag")
    data = write_dataset("slag", 8, seed=4, out=base / "data", size=SIZE, val_fraction=0.25, progress=False)
    result = train(from_mapping(TrainConfig, _slag_config(data)), base / "run", progress=False)
    assert result.best_checkpoint is not None
    return result.best_checkpoint


@pytest.fixture(scope="module")
def eval_data(slag_run: Path) -> DatasetConfig:
    return DatasetConfig(format="plain", root=slag_run.parent.parent / "data", split="val")


@pytest.fixture(scope="module")
def bundle(slag_run: Path, eval_data: DatasetConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundles") / "slag"
    export_bundle(
        slag_run,
        out,
        eval_data=eval_data,
        calibration_count=3,
        parity_images=2,
        name="slag-test",
        progress=False,
    )
    return out


def test_bundle_has_every_file_with_matching_hashes(bundle: Path) -> None:
    manifest = read_manifest(bundle)
    assert sorted(p.name for p in bundle.iterdir()) == sorted([*FILE_NAMES.values(), "manifest.json"])
    for precision, entry in manifest.files.items():
        path = bundle / entry.path
        assert entry.path == FILE_NAMES[precision]
        assert entry.sha256 == sha256_file(path) and entry.size_bytes == path.stat().st_size
    loaded = load_bundle(bundle)
    assert loaded.precisions == ("fp32", "fp16", "int8")
    assert {sig.output_shape[1] for sig in loaded.graphs.values()} == {3}
    # No staging or backup folders are left beside the bundle.
    assert [p.name for p in bundle.parent.iterdir()] == ["slag"]


def test_manifest_describes_the_model(bundle: Path, slag_run: Path) -> None:
    manifest = read_manifest(bundle)
    assert (manifest.name, manifest.version, manifest.task) == ("slag-test", "1.0.0", "slag")
    assert manifest.arch == "slag_mnv2_dlv3p_ema"
    assert [(c.id, c.name) for c in manifest.classes] == [(0, "background"), (1, "tube"), (2, "slag")]
    assert [c.color for c in manifest.classes] == list(PALETTE[:3])
    assert (manifest.input.height, manifest.input.width) == SIZE
    assert manifest.input.mean == pytest.approx((0.485, 0.456, 0.406))
    assert manifest.postprocess.kind == "argmax" and manifest.postprocess.threshold is None
    assert manifest.created_at.endswith("Z") and manifest.exporter.startswith("steelsight-trainer ")
    run = json.loads((slag_run.parent / "run.json").read_text())
    training = manifest.training
    assert training["git_commit"] == run["git_commit"] and training["command"] == run["command"]
    assert training["datasets"]["train"]["fingerprint"] == run["datasets"]["train"]["fingerprint"]
    assert training["config"]["model"]["arch"] == "slag_mnv2_dlv3p_ema"
    assert training["checkpoint"]["file"] == "best.pt"
    best = load_checkpoint(slag_run)["best_validation"]
    assert (
        training["checkpoint"]["best_validation"] == best
        and best["miou"] == training["checkpoint"]["best_val_miou"]
    )
    assert training["recipe"]["runs"][-1]["run"] == str(slag_run.parent)
    assert training["recipe"]["runs"][-1]["command"] is not None


def test_calibration_images_are_recorded_and_drawn_from_training(bundle: Path, slag_run: Path) -> None:
    quantization = read_manifest(bundle).quantization
    assert quantization is not None
    names = quantization["calibration_images"]
    train_names = open_dataset(DatasetConfig("plain", slag_run.parent.parent / "data", "train")).names
    assert len(names) == len(set(names)) == 3 and set(names) <= set(train_names)
    assert quantization["calibration_count"] == 3 and quantization["method"] == "entropy"
    assert quantization["excluded_nodes"][quantization["classifier"]] == "classifier"
    assert "Softmax" in quantization["fp16"]["float32_ops"]


def test_metrics_cover_pytorch_and_every_onnx_model(bundle: Path, eval_data: DatasetConfig) -> None:
    metrics = read_manifest(bundle).metrics
    assert metrics["eval_set"]["images"] == 2
    assert metrics["eval_set"]["fingerprint"].startswith("plain:sha256:")
    assert metrics["parity"]["max_abs_diff"] <= 1e-3 and metrics["parity"]["argmax_agreement"] >= 0.999
    for key in ("pytorch_fp32", "fp32", "fp16", "int8"):
        assert 0 <= metrics[key]["miou"] <= 1, key
        assert set(metrics[key]["per_class_iou"]) == {"background", "tube", "slag"}
    # ONNX Runtime FP32 is the same network as PyTorch.
    assert metrics["fp32"]["miou"] == pytest.approx(metrics["pytorch_fp32"]["miou"], abs=1e-3)
    assert metrics["int8_miou_drop"] == pytest.approx(metrics["fp32"]["miou"] - metrics["int8"]["miou"])


def test_onnx_runtime_model_maps_images_to_logits(bundle: Path) -> None:
    network = OnnxRuntimeModel(bundle / "model.int8.onnx")
    logits = network(torch.zeros(2, 3, 48, 80))
    assert logits.dtype == torch.float32 and tuple(logits.shape) == (2, 3, 48, 80)


def test_parity_failure_raises_and_keeps_the_earlier_bundle(bundle: Path, slag_run: Path) -> None:
    before = {p.name: sha256_file(p) for p in bundle.iterdir()}
    with pytest.raises(
        ExportError, match=r"max \|logit diff\| .* \(limit 0\), argmax agreement .* \(limit 1\)"
    ):
        export_bundle(
            slag_run, bundle, max_abs_diff=0.0, min_argmax_agreement=1.0, parity_images=1, progress=False
        )
    assert {p.name: sha256_file(p) for p in bundle.iterdir()} == before
    assert [p.name for p in bundle.parent.iterdir()] == ["slag"]


def test_out_dir_must_be_new_empty_or_a_bundle(slag_run: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not empty and holds no model bundle"):
        export_bundle(slag_run, other, progress=False)
    assert (other / "notes.txt").read_text() == "keep me"
    with pytest.raises(ExportError, match="precisions must include 'fp32'"):
        export_bundle(slag_run, tmp_path / "new", precisions=("int8",), progress=False)
    with pytest.raises(ExportError, match="unknown calibration_method 'kl'"):
        export_bundle(slag_run, tmp_path / "new", calibration_method="kl", progress=False)
    with pytest.raises(ExportError, match="bundle name 'slag test' is not usable"):
        export_bundle(slag_run, tmp_path / "new", name="slag test", progress=False)
    assert not (tmp_path / "new").exists()


def test_weld_bundle_replaces_an_earlier_bundle(bundle: Path, tmp_path: Path) -> None:
    """An untrained SHDM checkpoint saved like train() saves one, exported at its stage crop size
    over a copy of the slag bundle, which it replaces as a whole."""
    data = write_dataset("weld", 3, seed=8, out=tmp_path / "data", size=SIZE, progress=False)
    raw = {
        "model": {"arch": "shdm_mnv2", "options": {"width_mult": 0.5}},
        "data": {
            "class_names": ["background", "weld"],
            "train": {"format": "plain", "root": str(data), "split": "train"},
        },
        "stages": [{"epochs": 1, "batch_size": 2, "lr": 0.01, "crop_size": [96, 64]}],
    }
    config = from_mapping(TrainConfig, raw)
    model = build_model("shdm_mnv2", num_classes=2, width_mult=0.5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    checkpoint = save_checkpoint(
        {
            "arch": model.arch,
            "model_config": model.config.__dict__,
            "class_names": ["background", "weld"],
            "mean": list(config.data.mean),
            "std": list(config.data.std),
            "eval_size": config.data.eval_size,
            "config": config.to_dict(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": torch.amp.GradScaler("cuda", enabled=False).state_dict(),
            "stage": 0,
            "epoch": 0,
            "global_step": 0,
            "best_miou": None,
            "torch_rng": torch.get_rng_state(),
        },
        tmp_path / "weld" / "last.pt",
    )
    out = tmp_path / "bundle"
    shutil.copytree(bundle, out)
    manifest: Manifest = export_bundle(checkpoint, out, precisions=("fp32",), parity_images=1, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.onnx"]
    assert set(manifest.files) == {"fp32"} and manifest.quantization is None
    assert manifest.metrics.keys() == {"parity"}
    assert load_bundle(out).manifest == manifest
    assert manifest.task == "weld" and manifest.name == "shdm_mnv2"
    assert (manifest.input.height, manifest.input.width) == (96, 64)
    assert manifest.postprocess.kind == "threshold" and manifest.postprocess.threshold == 0.5
    assert (
        manifest.postprocess.matting == WELD_MATTING == {"foreground": 0.46, "background": 0.38, "alpha": 0.5}
    )
    # No run.json beside this checkpoint: the exporter fingerprints the training data itself.
    assert manifest.training["datasets"]["train"]["fingerprint"].startswith("plain:sha256:")
    assert manifest.training["git_commit"] is None
    graph = onnx.load(out / "model.onnx")
    assert graph.graph.output[0].type.tensor_type.shape.dim[1].dim_value == 2
    assert np.isfinite(manifest.metrics["parity"]["max_abs_diff"])
