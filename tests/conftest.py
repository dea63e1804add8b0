"""Shared fixtures: a tiny synthetic Map-free dataset made once per session; no network and empty weight caches."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from mapfree.synth import SynthConfig, generate_dataset

if os.environ.get("PYTEST_XDIST_WORKER"):
    # xdist runs one worker per core; torch's own threads on top oversubscribe the cores and
    # make small tensor operations many times slower.
    torch.set_num_threads(1)

TINY_SYNTH = SynthConfig(seed=7, train_scenes=2, val_scenes=2, test_scenes=1, frames=10, size=(112, 140))


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2/2/1-scene dataset of 112x140 frames (read-only: copy it before modifying)."""
    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root, TINY_SYNTH, workers=1)
    return root


@pytest.fixture
def offline_weight_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No network (HF_HUB_OFFLINE) and empty Hugging Face and torch hub caches under `tmp_path` (returned), so
    learned matchers lack their weights whatever this machine holds."""
    from huggingface_hub import constants

    from mapfree.baselines import far, learned, vismatch_matcher

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(learned, "hub_checkpoints", lambda: tmp_path / "torch")
    monkeypatch.setattr(vismatch_matcher, "hub_checkpoints", lambda: tmp_path / "torch")
    monkeypatch.setattr(far, "hub_checkpoints", lambda: tmp_path / "torch")
    return tmp_path
