"""Shared fixtures: a tiny synthetic Map-free dataset generated once per test session."""

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
