"""No code from data: a checkpoint whose unpickling would run code, planted wherever a command reads one, is
refused with one line naming the file, and its code never runs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mapfree.baselines.learned import load_weights
from mapfree.cli import main
from mapfree.depth_prior.random_model import save_random_depth_anything
from mapfree.depth_prior.teachers import build_teacher
from mapfree.errors import InputError
from mapfree.models import MicKey, MicKeyConfig
from mapfree.training import run as training_run
from mapfree.training.config import TrainConfig
from test_training_module import tiny_config


class Payload:
    """Unpickling it opens `marker` for writing (creating it): the code a hostile checkpoint would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "MARKER"


def plant(path: Path, marker: Path) -> Path:
    """A checkpoint at `path` shaped like a training checkpoint, with the payload inside."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {"model.w": torch.zeros(1)}, "loops": {}, "hook": Payload(marker)}, path)
    return path


def one_line(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"mapfree {command}: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("resume", ["last", "path"])
def test_train_resume_refuses_a_payload_checkpoint(tiny_dataset, tmp_path, marker, capsys, resume):
    config = tiny_config(tiny_dataset, tmp_path).save(tmp_path / "cfg.yaml")
    ckpt = plant(tmp_path / ("run/checkpoints/last.ckpt" if resume == "last" else "elsewhere.ckpt"), marker)
    assert main(["train", "--config", str(config), "--resume", *([] if resume == "last" else [str(ckpt)])]) == 2
    assert f"trainer.resume: {ckpt} is not a readable checkpoint" in one_line(capsys, "train")
    assert not marker.exists()


def test_lightning_reads_the_resume_checkpoint_weights_only_too(tiny_dataset, tmp_path, marker, monkeypatch):
    """A checkpoint swapped in after the check (or a torch told to default to full pickles) still runs nothing."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    monkeypatch.setattr(training_run, "readable_checkpoint", lambda path: path)
    config = tiny_config(tiny_dataset, tmp_path, trainer={"resume": str(plant(tmp_path / "swapped.ckpt", marker))})
    with pytest.raises(Exception, match="Weights only load failed"):
        training_run.train(config)
    assert not marker.exists()


def test_export_refuses_a_payload_checkpoint(tmp_path, marker):
    ckpt = plant(tmp_path / "best-vcre.ckpt", marker)
    with pytest.raises(InputError, match=f"{ckpt}: not a readable PyTorch checkpoint"):
        training_run.export_model(ckpt, MicKey(MicKeyConfig.tiny()), tmp_path / "model", TrainConfig())
    assert not marker.exists() and not (tmp_path / "model").exists()


def test_from_pretrained_refuses_payload_checkpoints_and_folders(tmp_path, marker, capsys):
    folder = MicKey(MicKeyConfig.tiny()).save_pretrained(tmp_path / "model")
    released = plant(tmp_path / "mickey.ckpt", marker)
    with pytest.raises(InputError, match=f"{released}: not a readable PyTorch checkpoint"):
        MicKey.from_pretrained(released, folder / "config.yaml")
    plant(folder / "model.safetensors", marker)
    with pytest.raises(InputError, match=f"{folder / 'model.safetensors'}: not a readable safetensors file"):
        MicKey.from_pretrained(folder)
    intrinsics = tmp_path / "intrinsics.txt"
    intrinsics.write_text("a.png 50 50 28 28 56 56\n")
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((56, 56, 3), np.uint8))
    assert main(["pose", str(image), str(image), "--intrinsics", str(intrinsics), "--checkpoint", str(released),
                 "--config", str(folder / "config.yaml")]) == 2
    assert one_line(capsys, "pose").endswith(f"{released}: not a readable PyTorch checkpoint (truncated or corrupt?), "
                                             "or one holding Python objects that torch.load(weights_only=True) refuses "
                                             "(UnpicklingError: Unsupported global: GLOBAL io.open was not an allowed "
                                             "global by default)")
    assert not marker.exists()


def test_learned_matcher_weights_refuse_a_payload(tmp_path, marker):
    weights = plant(tmp_path / "superpoint_v1.pth", marker)
    with pytest.raises(InputError, match=f"{weights}: not a readable PyTorch checkpoint"):
        load_weights(weights)
    assert not marker.exists()


def test_teacher_weights_refuse_a_payload_in_one_line(tiny_dataset, tmp_path, marker, capsys):
    folder = save_random_depth_anything(tmp_path / "teacher", arch="tiny", input_size=56)
    (folder / "model.safetensors").unlink()
    plant(folder / "pytorch_model.bin", marker)
    with pytest.raises(InputError, match=f"{folder}: .*pickled weights file .*refused .*io.open was not an allowed"):
        build_teacher("depth-anything", str(folder), "cpu")
    capsys.readouterr()
    assert main(["depth-prior", "--data-root", str(tiny_dataset), "--split", "val", "--out", str(tmp_path / "store"),
                 "--teacher", "depth-anything", "--weights", str(folder), "--device", "cpu"]) == 2
    assert str(folder) in one_line(capsys, "depth-prior")
    assert not marker.exists()
