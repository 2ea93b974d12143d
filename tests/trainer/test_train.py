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
    # Validation gathered both ranks' shares: one process on the saved network measures the same.
    from trainer.data.factory import DatasetConfig, open_dataset
    from trainer.data.slag_truth import slag_truth
    from trainer.distributed import DistributedContext
    from trainer.evaluate import validate
    from trainer.models import build_model

    model = build_model("slag_mnv2_dlv3p_ema", num_classes=3, width_mult=0.5)
    model.load_state_dict(saved)
    dataset = open_dataset(DatasetConfig(format="plain", root=slag_data, split="val"))
    alone = validate(
        model, dataset, 3, (64, 64), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
        DistributedContext.from_env(), truth=slag_truth(slag_data),
    )  # fmt: skip
    with (tmp_path / "run" / "epochs.csv").open(newline="") as handle:
        last = list(csv.DictReader(handle))[-1]
    assert float(last["val_miou"]) == pytest.approx(float(alone.confusion.miou()), abs=1e-6)
    assert int(last["val_thickness_measured"]) == alone.thickness_measured
    if alone.thickness_percent is not None:
        assert float(last["val_thickness_percent"]) == pytest.approx(alone.thickness_percent, abs=1e-4)


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


class _Oracle(torch.nn.Module):
    """Answers every validation image with one-hot logits of a given mask (ground truth or not)."""

    def __init__(self, answers: dict[bytes, torch.Tensor]) -> None:
        super().__init__()
        self.answers = answers

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.answers[image.numpy().tobytes()] for image in images])


def _oracle(dataset: Any, masks: dict[str, Any]) -> _Oracle:
    from trainer.data.augment import normalize

    answers = {}
    for index in range(len(dataset)):
        sample = dataset[index]
        image = normalize(sample.image, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        one_hot = torch.nn.functional.one_hot(torch.from_numpy(masks[sample.name]).long(), 3)
        answers[torch.from_numpy(image).numpy().tobytes()] = one_hot.permute(2, 0, 1).float()
    return _Oracle(answers)


def test_validation_measures_slag_thickness_as_the_evaluation_does(slag_data: Path) -> None:
    import numpy as np

    from trainer.data.factory import DatasetConfig, open_dataset
    from trainer.data.slag_truth import slag_truth
    from trainer.distributed import DistributedContext
    from trainer.evaluate import evaluate, validate

    dataset = open_dataset(DatasetConfig(format="plain", root=slag_data, split="val"))
    truth = slag_truth(slag_data)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    ctx = DistributedContext.from_env()
    # The true masks, then masks whose slag band grows by 3 rows downwards (too thick).
    exact = {dataset[i].name: dataset[i].mask for i in range(len(dataset))}
    thick = {}
    for name, mask in exact.items():
        grown = mask.copy()
        for shift in range(1, 4):
            below = np.zeros_like(mask, dtype=bool)
            below[shift:] = mask[:-shift] == 2
            grown[below & (mask == 1)] = 2
        thick[name] = grown
    figures = []
    for masks in (exact, thick):
        model = _oracle(dataset, masks)
        result = validate(model, dataset, 3, None, mean, std, ctx, truth=truth)
        report = evaluate(model, dataset, ["background", "tube", "slag"], None, mean, std, progress=False)
        assert result.thickness_scenes == 3 and result.thickness_measured == report.thickness["measured"]
        assert result.thickness_percent == pytest.approx(report.thickness["mae_percent"])
        assert float(result.confusion.miou()) == pytest.approx(report.summary["miou"])
        figures.append(result.thickness_percent)
    assert figures[0] < 3 < figures[1]
    without = validate(_oracle(dataset, exact), dataset, 3, None, mean, std, ctx)
    assert without.thickness_scenes == 0 and without.thickness_percent is None


def test_best_by_thickness_keeps_the_epoch_with_the_lowest_thickness_error(
    slag_data: Path, tmp_path: Path
) -> None:
    result = train(_config(slag_config(slag_data, best_by="thickness")), tmp_path / "run", progress=False)
    with (result.out_dir / "epochs.csv").open(newline="") as handle:
        epochs = list(csv.DictReader(handle))
    assert all(r["val_thickness_measured"] != "" for r in epochs)
    best = load_checkpoint(result.out_dir / "best.pt")["best_validation"]

    # The rule: more scenes measured first, then the lower mean error; the first epoch wins ties.
    def key(row: dict[str, str]) -> tuple[int, float]:
        percent = row["val_thickness_percent"]
        return (-int(row["val_thickness_measured"]), float(percent) if percent else float("inf"))

    chosen = min(range(len(epochs)), key=lambda i: (key(epochs[i]), i))
    assert best["epoch"] == int(epochs[chosen]["epoch"])
    assert best["miou"] == pytest.approx(float(epochs[chosen]["val_miou"]))
    assert result.best_miou == pytest.approx(best["miou"])


def test_improves_follows_the_chosen_rule() -> None:
    from trainer.evaluate import Validation
    from trainer.metrics import ConfusionMatrix
    from trainer.train import _improves

    confusion = ConfusionMatrix(2)
    confusion.merge_matrix(torch.tensor([[8, 2], [0, 10]]).numpy())  # mIoU (0.8 + 10/12) / 2
    current = Validation(confusion, thickness_scenes=10, thickness_measured=9, thickness_percent=4.0)
    assert _improves(current, None, "thickness")
    assert _improves(current, {"miou": 0.8}, "miou") and not _improves(current, {"miou": 0.9}, "miou")
    best = {"miou": 0.99, "thickness_percent": 5.0, "thickness_measured": 9}
    assert _improves(current, best, "thickness")
    assert not _improves(current, {**best, "thickness_percent": 3.0}, "thickness")
    # One more scene measured beats a lower error over fewer scenes, and the reverse.
    assert _improves(current, {**best, "thickness_percent": 1.0, "thickness_measured": 8}, "thickness")
    assert not _improves(current, {**best, "thickness_percent": 9.0, "thickness_measured": 10}, "thickness")
    assert _improves(current, {"miou": 0.99}, "thickness")  # a best chosen before thickness was measured
    nothing = Validation(confusion, thickness_scenes=10, thickness_measured=0)
    assert not _improves(nothing, best, "thickness")


def test_best_by_thickness_needs_thickness_truth(weld_data: Path, tmp_path: Path) -> None:
    from trainer.data.sample import DatasetError

    raw = slag_config(weld_data, best_by="thickness")
    raw["data"]["class_names"] = ["background", "weld"]
    with pytest.raises(DatasetError, match="needs validation scenes with slag thickness truth"):
        train(_config(raw), tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="best_by must be one of miou, thickness, got 'iou'"):
        _config(slag_config(weld_data, best_by="iou"))


def test_a_log_from_before_new_columns_keeps_its_rows(tmp_path: Path) -> None:
    from trainer.train import EPOCH_FIELDS, _append_csv, _truncate_csv

    path = tmp_path / "epochs.csv"
    path.write_text(
        "stage,epoch,step,train_loss,val_miou,val_mpa,seconds\n0,0,2,0.5,0.7,0.8,1.0\n0,1,4,0.4,0.8,0.9,1.0\n"
    )
    _truncate_csv(path, 2, EPOCH_FIELDS)  # what a resume from step 2 does
    _append_csv(path, EPOCH_FIELDS, dict.fromkeys(EPOCH_FIELDS, "1"))
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == EPOCH_FIELDS
    assert rows[0]["val_miou"] == "0.7" and rows[0]["val_thickness_percent"] == ""
    assert rows[1] == dict.fromkeys(EPOCH_FIELDS, "1")
