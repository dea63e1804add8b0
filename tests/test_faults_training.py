"""Fault injection for training: a killed run resumes to the bit; user errors are one line with exit code 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

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
def test_killed_training_resumes_to_the_same_bits(tiny_dataset, tmp_path, workers):
    """SIGKILL a real `mapfree train` once its first `last.ckpt` exists; `--resume` must end where an
    uninterrupted run ends: every weight, every metric and the whole `history.json`."""
    config = tiny_config(tiny_dataset, tmp_path, trainer={"max_epochs": EPOCHS},
                         data={"num_workers": workers}).save(tmp_path / "cfg.yaml")
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
    assert torch.load(ckpt, weights_only=False)["epoch"] < EPOCHS - 1  # killed before the end
    finished(mapfree(*args, "--set", "trainer.name=killed", "--resume"))
    finished(whole)

    weights, history = run_outputs(tmp_path / "whole")
    resumed_weights, resumed_history = run_outputs(tmp_path / "killed")
    assert weights.keys() == resumed_weights.keys()
    assert all(torch.equal(weights[k], resumed_weights[k]) for k in weights)
    assert [int(row["epoch"]) for row in history] == list(range(EPOCHS))
    assert resumed_history == history  # every metric, bit for bit (JSON floats round-trip)
