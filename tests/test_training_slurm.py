"""Training inside a Slurm job, without a cluster: the allocation's tasks as devices and nodes, Lightning's Slurm
environment, and requeue on Slurm's signal (SIGUSR1) through a checkpoint after the step, which the requeued job
resumes to the same weights as an uninterrupted run (`scontrol` replaced by a script recording its call). The real
requeue through a real Slurm is in tests/test_slurm.py."""

from __future__ import annotations

import os
import signal
import stat
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from safetensors.torch import load_file

from mapfree.training import train
from mapfree.training.callbacks import last_checkpoint
from mapfree.training.slurm import REQUEUE_CHECKPOINT, RequeuedError, allocation, in_slurm_job, requeued
from test_training_module import tiny_config

JOB = {"SLURM_JOB_ID": "4242", "SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1", "SLURM_NNODES": "1",
       "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NODELIST": "localhost",
       "SLURM_JOB_NAME": "mapfree-train"}


def test_allocation_fills_auto_devices_and_nodes_from_the_step():
    step = {**JOB, "SLURM_NTASKS": "8", "SLURM_NTASKS_PER_NODE": "4(x2)", "SLURM_NNODES": "2"}
    assert allocation("auto", 1, step) == (4, 2)
    assert allocation(2, 3, step) == (2, 3)  # the config's own values stay
    assert allocation("auto", 1, {}) == ("auto", 1)  # not in a job
    assert not in_slurm_job({**step, "SLURM_JOB_NAME": "interactive"})  # an salloc shell: Lightning's rule
    assert requeued({"SLURM_RESTART_COUNT": "1"}) and not requeued({"SLURM_RESTART_COUNT": "0"}) and not requeued({})


def test_resume_last_takes_the_newest_checkpoint(tmp_path):
    assert last_checkpoint(tmp_path) is None
    (tmp_path / "last.ckpt").write_bytes(b"a")
    (tmp_path / REQUEUE_CHECKPOINT).write_bytes(b"b")
    os.utime(tmp_path / "last.ckpt", ns=(1, 1))
    assert last_checkpoint(tmp_path) == tmp_path / REQUEUE_CHECKPOINT
    os.utime(tmp_path / REQUEUE_CHECKPOINT, ns=(0, 0))
    assert last_checkpoint(tmp_path) == tmp_path / "last.ckpt"


class SignalAt(pl.Callback):
    """Slurm's warning: SIGUSR1 to this process in the middle of the training step after `step` steps (between
    its loss and its backward pass)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_before_backward(self, trainer: pl.Trainer, *args) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGUSR1)


@pytest.fixture
def fake_scontrol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`scontrol` on PATH writing its arguments to the returned file."""
    calls = tmp_path / "scontrol.calls"
    script = tmp_path / "bin" / "scontrol"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return calls


def test_signal_checkpoints_after_the_step_requeues_and_the_restart_resumes_exactly(
        tiny_dataset, tmp_path, fake_scontrol, monkeypatch):
    trainer = {"max_epochs": 2, "val_check_interval": 0.5}  # 2 steps an epoch, a validation after each
    whole = train(tiny_config(tiny_dataset, tmp_path, trainer={**trainer, "name": "whole"}))

    for key, value in JOB.items():
        monkeypatch.setenv(key, value)
    config = tiny_config(tiny_dataset, tmp_path, trainer={**trainer, "name": "requeued"})
    with pytest.raises(RequeuedError, match="job 4242 requeued at step 3"):
        train(config, extra_callbacks=[SignalAt(2)])  # signalled in step 3 of 4, which a validation follows
    assert fake_scontrol.read_text() == "requeue 4242\n"
    ckpt_dir = tmp_path / "requeued" / "checkpoints"
    assert last_checkpoint(ckpt_dir) == ckpt_dir / REQUEUE_CHECKPOINT
    assert torch.load(ckpt_dir / REQUEUE_CHECKPOINT, weights_only=False)["global_step"] == 3

    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")  # the requeued job runs the same command (no --resume)
    resumed = train(config)
    assert resumed.global_step == whole.global_step == 4
    assert not (ckpt_dir / REQUEUE_CHECKPOINT).exists()  # gone once the run went past it
    weights = load_file(whole.models["last"] / "model.safetensors")
    again = load_file(resumed.models["last"] / "model.safetensors")
    assert weights.keys() == again.keys() and all(torch.equal(weights[k], again[k]) for k in weights)
    assert resumed.history == whole.history
    assert "requeued job 4242" in (tmp_path / "requeued" / "train.log").read_text()
