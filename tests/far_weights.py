"""Deterministic inputs of the FAR / RPR reference fixture: random weights in the released layout,
regression images and synthetic matches, all rebuilt from seeds (this is how
`fixtures/far_reference.npz` was produced; see its test)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from mapfree.models.far import FARNet, RegressionConfig, RelPoseRegressor
from mickey_weights import seeded_state

FAR_SEED, RPR_SEED = 26, 27
CASES = {"matches": 300, "few": 4}
"""Pairs of the fixture: a name and its number of matches (fewer than 5: the solvers' failure path)."""
MATCH_K = np.array([[600.0, 0.0, 270.0], [0.0, 600.0, 360.0], [0.0, 0.0, 1.0]], np.float32)
"""Intrinsics of the 540 x 720 matching images."""


def lightning_file(path: Path, model: torch.nn.Module, seed: int) -> Path:
    """`model`'s seeded random state dict saved as PyTorch Lightning saves a checkpoint (the keys its loader reads)."""
    torch.save({"state_dict": seeded_state(model, seed), "epoch": 0, "global_step": 0,
                "pytorch-lightning_version": "1.6.5"}, path)
    return path


def far_checkpoint(folder: Path, seed: int = FAR_SEED) -> Path:
    """FAR with seeded random weights in the released layout (its matcher's entries left out)."""
    return lightning_file(folder / "far_random.ckpt", FARNet(), seed)


def rpr_checkpoint(folder: Path, seed: int = RPR_SEED, head: str = "rot6d") -> Path:
    """map-free-reloc's regressor (`head` "rot6d": rot6d_trans, "3d3d") with seeded random weights in the
    released layout."""
    model = RelPoseRegressor(RegressionConfig(head=head))
    return lightning_file(folder / f"rpr_{head}_random.ckpt", model, seed)


def regression_images(seed: int, height: int = 360, width: int = 270) -> tuple[torch.Tensor, torch.Tensor]:
    """Two smooth random RGB images (1, 3, H, W) in [0, 1], quantised to 8 bits like decoded JPEGs."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(2, 3, 12, 9, generator=g)
    fine = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    fine = (fine + 0.05 * torch.rand(fine.shape, generator=g)).clamp(0, 1)
    images = (fine * 255).round() / 255
    return images[:1], images[1:]


def synthetic_matches(seed: int, count: int, outliers: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """float32 pixel matches (count, 2) of points seen by two cameras with MATCH_K (x1 = R x0 + t),
    0.5 px noise, a share of them replaced by random pixels."""
    rng = np.random.RandomState(seed)
    X = rng.uniform([-2, -2, 4], [2, 2, 8], (count, 3))
    R = cv2.Rodrigues(np.array([0.05, -0.1, 0.03]))[0]
    Y = X @ R.T + np.array([0.4, 0.05, 0.1])
    K = MATCH_K.astype(np.float64)
    k0 = (X @ K.T)[:, :2] / X[:, 2:] + rng.normal(0, 0.5, (count, 2))
    k1 = (Y @ K.T)[:, :2] / Y[:, 2:] + rng.normal(0, 0.5, (count, 2))
    bad = rng.rand(count) < outliers
    k1[bad] = rng.uniform([0, 0], [540, 720], (bad.sum(), 2))
    return k0.astype(np.float32), k1.astype(np.float32)
