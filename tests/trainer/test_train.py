"""End-to-end training on tiny synthetic datasets: files, exact resume, DDP, SHDM, evaluation."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import cv2
import pytest
import torch

from edge.config_loader import ConfigError, from_mapping
from trainer.checkpoint import load_checkpoint
from trainer.config import TrainConfig
from trainer.synth import write_dataset
from trainer.train import train

SIZE = (96, 96)


@pytest.fixture(scope="module")
def slag_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("slag") / "data"
    write_dataset("slag", 12, seed=5, out=root, size=SIZE, val_fraction=0.25, progress=False)
    return root


@pytest.fixture(scope="module")
def weld_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("weld") / "data"
    write_dataset("weld", 10, seed=6, out=root, size=SIZE, val_fraction=0.2, progress=False)
    return root


def slag_config(root: Path, **run: Any) -> dict[str, Any]:
    return {
        "model": {"arch": "slag_mnv2_dlv3p_ema", "options": {"width_mult": 0.5}},
        "data": {
            "class_names": ["background", "tube", "slag"],
            "train": {"format": "plain", "root": str(root), "split": "train"},
            "val": {"format": "plain", "root": str(root), "split": "val"},
            "eval_size": [64, 64],
        },
        "loss": {"name": "cross_entropy"},
        "stages": [{"epochs": 3, "batch_size": 2, "lr": 0.01, "min_lr": 0.001, "crop_size": [64, 64]}],
        "run": {"seed": 3, "max_steps_per_epoch": 2, **run},
    }


def _config(raw: dict[str, Any]) -> TrainConfig:
    return from_mapping(TrainConfig, raw)


def _step_rows(run: Path) -> list[dict[str, str]]:
    with (run / "steps.csv").open(newline="") as handle:
        return [{k: v for k, v in row.items() if k != "images_per_s"} for row in csv.DictReader(handle)]


def test_a_run_writes_its_folder(slag_data: Path, tmp_path: Path) -> None:
    result = train(_config(slag_config(slag_data)), tmp_path / "run", progress=False)
    run = result.out_dir
    assert result.finished and result.global_step == 6
    info = json.loads((run / "run.json").read_text())
    assert info["config"]["model"]["arch"] == "slag_mnv2_dlv3p_ema"
    assert info["datasets"]["train"]["count"] == 9 and info["datasets"]["val"]["count"] == 3
    assert info["datasets"]["train"]["fingerprint"].startswith("plain:sha256:")
    assert "git_commit" in info
    assert len(_step_rows(run)) == 6
    with (run / "epochs.csv").open(newline="") as handle:
        epochs = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in epochs] == [0, 1, 2]
    assert all(0 <= float(r["val_miou"]) <= 1 for r in epochs)
    assert cv2.imread(str(run / "curves.png")) is not None
    best = load_checkpoint(run / "best.pt")
    assert best["best_miou"] == pytest.approx(max(float(r["val_miou"]) for r in epochs))
    lrs = [float(r["lr"]) for r in _step_rows(run)]
    assert lrs[0] == pytest.approx(0.01) and lrs[-1] == pytest.approx(0.001)


def test_resume_continues_exactly_where_the_run_stopped(slag_data: Path, tmp_path: Path) -> None:
    config = _config(slag_config(slag_data))
    whole = train(config, tmp_path / "whole", progress=False)
    first = train(config, tmp_path / "split", progress=False, stop_after_epochs=1)
    assert not first.finished and first.global_step == 2
    second = train(config, tmp_path / "split", resume=True, progress=False)
    assert second.finished and second.global_step == whole.global_step
    a, b = load_checkpoint(whole.last_checkpoint)["model"], load_checkpoint(second.last_checkpoint)["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert _step_rows(tmp_path / "whole") == _step_rows(tmp_path / "split")


def test_existing_run_is_not_overwritten_and_resume_needs_a_run(slag_data: Path, tmp_path: Path) -> None:
    config = _config(slag_config(slag_data))
    train(config, tmp_path / "run", progress=False, stop_after_epochs=1)
    with pytest.raises(FileExistsError, match="already holds a run; pass --resume"):
        train(config, tmp_path / "run", progress=False)
    with pytest.raises(FileNotFoundError, match="cannot resume"):
        train(config, tmp_path / "other", resume=True, progress=False)


def test_bad_config_values_are_named(slag_data: Path) -> None:
    raw = slag_config(slag_data)
    raw["stages"][0]["batch_size"] = 1
    with pytest.raises(ConfigError, match=r"batch_size must be >= 2 per process, got 1"):
        _config(raw)
    raw = slag_config(slag_data)
    raw["data"]["augment"] = {"hflip": 0.5}
    with pytest.raises(ConfigError, match="hflip"):
        train(_config(raw), "/tmp/never-written", progress=False)


def test_shdm_two_stage_run_and_evaluation(weld_data: Path, tmp_path: Path) -> None:
    raw = {
        "model": {"arch": "shdm_mnv2", "options": {"width_mult": 0.5}},
        "data": {
            "class_names": ["background", "weld"],
            "train": {"format": "plain", "root": str(weld_data), "split": "train"},
            "val": {"format": "plain", "root": str(weld_data), "split": "val"},
            "heatmap_sigma": 1.5,
        },
        "loss": {"name": "shdm"},
        "stages": [
            {"epochs": 1, "batch_size": 4, "lr": 0.02, "scale": 0.5, "crop_size": [48, 48]},
            {"epochs": 1, "batch_size": 2, "lr": 0.001, "crop_size": [96, 96]},
        ],
        "run": {"max_steps_per_epoch": 2},
    }
    result = train(_config(raw), tmp_path / "run", progress=False)
    parts = json.loads(_step_rows(result.out_dir)[0]["parts"])
    assert set(parts) >= {"focal", "heatmap_mse"}
    assert [int(r["stage"]) for r in _step_rows(result.out_dir)] == [0, 0, 1, 1]
    out = tmp_path / "report"
    cli = subprocess.run(
        [sys.executable, "-m", "trainer", "eval", str(result.last_checkpoint), "--data", str(weld_data),
         "--split", "val", "--out", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["images"] == 2 and 0 <= report["metrics"]["miou"] <= 1
    assert report["aprf"]["threshold_source"] == "best F1 on this set"
    assert cv2.imread(str(out / "aprf.png")) is not None
    assert "| weld |" in (out / "report.md").read_text()


def test_slag_evaluation_reports_thickness(slag_data: Path, tmp_path: Path) -> None:
    result = train(_config(slag_config(slag_data)), tmp_path / "run", progress=False, stop_after_epochs=1)
    out = tmp_path / "report"
    cli = subprocess.run(
        [sys.executable, "-m", "trainer", "eval", str(result.last_checkpoint), "--data", str(slag_data),
         "--split", "val", "--out", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["thickness"]["scenes"] == 3
    with (out / "thickness.csv").open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 3


def test_two_process_gloo_ddp_keeps_ranks_identical(slag_data: Path, tmp_path: Path) -> None:
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(slag_config(slag_data)))
    script = tmp_path / "ddp_run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, os, torch
            from trainer.config import TrainConfig
            from edge.config_loader import from_mapping
            from trainer.train import train
            config = from_mapping(TrainConfig, json.loads(open({str(config_path)!r}).read()))
            result = train(config, {str(tmp_path / "run")!r}, progress=False)
            torch.save(result.model.state_dict(), {str(tmp_path)!r} + f"/rank{{os.environ['RANK']}}.pt")
            """
        )
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launched = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)],
        capture_output=True, text=True, check=False, env=env, timeout=300,
    )  # fmt: skip
    assert launched.returncode == 0, launched.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    saved = load_checkpoint(tmp_path / "run" / "last.pt")["model"]
    assert all(torch.equal(saved[k], rank0[k]) for k in rank0)
    # Each step consumed one batch of 2 per process: 2 steps x 3 epochs, logged once by rank 0.
    assert len(_step_rows(tmp_path / "run")) == 6


def test_init_from_starts_from_an_earlier_runs_network(slag_data: Path, tmp_path: Path) -> None:
    from trainer.models import build_model
    from trainer.train import _init_from_checkpoint

    first = train(_config(slag_config(slag_data)), tmp_path / "first", progress=False)
    raw = slag_config(slag_data)
    raw["model"]["init_from"] = str(first.last_checkpoint)
    second = train(_config(raw), tmp_path / "second", progress=False, stop_after_epochs=1)
    assert second.global_step == 2  # a fresh schedule, not a resume
    model = build_model("slag_mnv2_dlv3p_ema", num_classes=3, width_mult=0.5)
    _init_from_checkpoint(model, first.last_checkpoint, "slag_mnv2_dlv3p_ema", announce=False)
    saved = load_checkpoint(first.last_checkpoint)["model"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key
    with pytest.raises(ValueError, match="holds a 'slag_mnv2_dlv3p_ema' network"):
        _init_from_checkpoint(model, first.last_checkpoint, "dlv3p_mnv2", announce=False)
    wider = build_model("slag_mnv2_dlv3p_ema", num_classes=3)
    with pytest.raises(ValueError, match="does not fit this network"):
        _init_from_checkpoint(wider, first.last_checkpoint, "slag_mnv2_dlv3p_ema", announce=False)
    raw["model"]["pretrained"] = "weights.pth"
    with pytest.raises(ConfigError, match="exclude each other"):
        _config(raw)
