"""Fault injection for training: a killed run resumes to the bit; user errors are one line with exit code 2."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mapfree.data.errors import DataFormatError
from mapfree.data.scenes import split_pairs
from mapfree.depth_prior import MissingPriorError
from mapfree.training.data import MapFreeDataModule
from test_training_module import tiny_config

EPOCHS = 3


def mapfree(*args: str, **kwargs) -> subprocess.Popen:
    """`mapfree ARGS` in a fresh interpreter, one CPU thread (bit-identical numbers need the same thread count)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    code = "import sys, torch; torch.set_num_threads(1); from mapfree.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def finished(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return out


def run_outputs(run_dir: Path) -> tuple[dict[str, torch.Tensor], list[dict[str, float]]]:
    return load_file(run_dir / "model-last" / "model.safetensors"), json.loads((run_dir / "history.json").read_text())


@pytest.mark.parametrize("workers", [0, 1])
@pytest.mark.parametrize("val_check_interval", [1.0, 0.5], ids=["epoch-end", "mid-epoch"])
def test_killed_training_resumes_to_the_same_bits(tiny_dataset, tmp_path, workers, val_check_interval):
    """SIGKILL a real `mapfree train` once its first `last.ckpt` exists; `--resume` must end where an
    uninterrupted run ends: every weight, every metric and the whole `history.json` (with the curriculum
    and the depth warm-up, which follow the epoch and the step). With validation twice an epoch (as
    `mickey.yaml`) that checkpoint is written mid-epoch, after the first of 2 batches."""
    trainer = {"max_epochs": EPOCHS, "val_check_interval": val_check_interval}
    curriculum = {"enabled": True, "start": 0.5, "step": 0.5, "end": 1.0}  # keeps 1, then 2 of the 2 pairs
    depth = {"enabled": True, "source": "gt", "loss": "l2", "warmup_steps": 4}  # ramps over the resumed steps
    config = tiny_config(tiny_dataset, tmp_path, trainer=trainer, data={"num_workers": workers},
                         curriculum=curriculum, depth=depth)
    config = config.save(tmp_path / "cfg.yaml")
    args = ["train", "--config", str(config)]
    whole = mapfree(*args, "--set", "trainer.name=whole")
    killed = mapfree(*args, "--set", "trainer.name=killed", start_new_session=True)
    ckpt = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    while not ckpt.exists():
        assert killed.poll() is None, killed.communicate()[1][-3000:]
        time.sleep(0.02)
    os.killpg(killed.pid, signal.SIGKILL)  # the run and its loader workers
    killed.communicate()
    assert killed.returncode == -signal.SIGKILL
    loops = torch.load(ckpt, weights_only=False)["loops"]["fit_loop"]
    assert loops["epoch_progress"]["current"]["completed"] < EPOCHS - 1  # killed before the end
    trained = loops["epoch_loop.batch_progress"]["current"]["completed"]
    assert trained == (1 if val_check_interval < 1 else 2)  # of 2 batches an epoch: mid-epoch or at its end
    finished(mapfree(*args, "--set", "trainer.name=killed", "--resume"))
    finished(whole)

    weights, history = run_outputs(tmp_path / "whole")
    resumed_weights, resumed_history = run_outputs(tmp_path / "killed")
    assert weights.keys() == resumed_weights.keys()
    assert all(torch.equal(weights[k], resumed_weights[k]) for k in weights)
    per_epoch = round(1 / val_check_interval)
    assert [int(row["epoch"]) for row in history] == [e for e in range(EPOCHS) for _ in range(per_epoch)]
    assert resumed_history == history  # every metric, bit for bit (JSON floats round-trip)


def train_cli(config: Path, *args: str) -> int:
    from mapfree.cli import main

    return main(["train", "--config", str(config), *args])


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("mapfree train: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.fixture
def writable_dataset(tiny_dataset: Path, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(tiny_dataset, root)
    return root


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", "truncated"])
def test_resume_from_a_broken_checkpoint_is_one_line(tiny_dataset, tmp_path, capsys, content):
    config = tiny_config(tiny_dataset, tmp_path).save(tmp_path / "cfg.yaml")
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    if content == "truncated":
        torch.save({"state_dict": {"w": torch.zeros(1000)}, "loops": {}}, ckpt)
        content = ckpt.read_bytes()[: ckpt.stat().st_size // 2]
    ckpt.write_bytes(content)
    assert train_cli(config, "--resume") == 2
    err = one_line_error(capsys)
    assert f"trainer.resume: {ckpt} is not a readable checkpoint (truncated or corrupt" in err
    assert train_cli(config, "--resume", str(tmp_path / "missing.ckpt")) == 2
    assert "trainer.resume: checkpoint not found" in one_line_error(capsys)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
@pytest.mark.parametrize("accelerator", ["gpu", "cuda"])
def test_gpu_without_cuda_is_one_line_before_any_work(tiny_dataset, tmp_path, capsys, accelerator):
    config = tiny_config(tiny_dataset, tmp_path).save(tmp_path / "cfg.yaml")
    assert train_cli(config, "--set", f"trainer.accelerator={accelerator}") == 2
    assert f"trainer.accelerator={accelerator}: no CUDA GPU is available" in one_line_error(capsys)
    assert not (tmp_path / "run").exists()


def test_missing_or_corrupt_init_checkpoint_is_one_line(tiny_dataset, tmp_path, capsys):
    config = tiny_config(tiny_dataset, tmp_path).save(tmp_path / "cfg.yaml")
    assert train_cli(config, "--finetune", str(tmp_path / "nowhere")) == 2
    assert f"init.checkpoint: not found: {tmp_path / 'nowhere'}" in one_line_error(capsys)
    from mapfree.models import MicKey

    model_dir = MicKey(tiny_config(tiny_dataset, tmp_path).model).save_pretrained(tmp_path / "model")
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert train_cli(config, "--finetune", str(model_dir)) == 2
    assert f"init.checkpoint: {weights}" in one_line_error(capsys)


def test_val_split_without_poses_fails_at_setup(writable_dataset, tmp_path, capsys):
    poses = sorted((writable_dataset / "val").glob("s*/poses.txt"))[0]
    poses.unlink()
    config = tiny_config(writable_dataset, tmp_path).save(tmp_path / "cfg.yaml")
    assert train_cli(config) == 2
    assert f"{poses}: file not found" in one_line_error(capsys)
    assert not (tmp_path / "run" / "checkpoints").exists()  # refused before the first epoch


def test_val_split_without_depth_maps_fails_at_setup(writable_dataset, tmp_path):
    for path in (writable_dataset / "val").glob("s*/seq*/*.depth.png"):
        path.unlink()
    cfg = tiny_config(writable_dataset, tmp_path)
    with pytest.raises(DataFormatError, match=r"\.depth\.png: missing: data\.val_depth_suffix='depth' needs"):
        MapFreeDataModule(cfg.data, cfg.depth).setup()


def test_prior_store_missing_a_training_frame_fails_at_setup(tiny_dataset, tmp_path):
    from mapfree.depth_prior.meta import METRIC_DEPTH, PriorMeta, ensure_meta
    from mapfree.depth_prior.store import frame_file, write_frame

    store = tmp_path / "prior"
    ensure_meta(store, PriorMeta(teacher="synthetic-metric", quantity=METRIC_DEPTH))
    cfg = tiny_config(tiny_dataset, tmp_path, depth={"enabled": True, "source": "prior", "prior_root": str(store),
                                                      "loss": "l2"})
    pairs = split_pairs(tiny_dataset, "train", cfg.data.min_overlap, cfg.data.max_overlap)
    frames = sorted({(p.scene, f) for p in pairs for f in (p.frame0, p.frame1)})
    for scene, frame in frames[1:]:
        write_frame(frame_file(store, "train", scene, frame), np.ones((8, 10), np.float32), (140, 112))
    with pytest.raises(MissingPriorError, match=rf"{store}: no depth prior for 1 of the {len(frames)} train frames"
                                                rf".*train/{frames[0][0]}/{frames[0][1]}.*depth\.missing=mask"):
        MapFreeDataModule(cfg.data, cfg.depth).setup()
