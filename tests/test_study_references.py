"""Reference rows: the run's own matches and solver with another depth at its keypoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mapfree.data.dataset import MapFreePairs
from mapfree.inference.frames import FrameFeatures
from mapfree.inference.mickey import MicKeyEstimator
from mapfree.models import MicKey, MicKeyConfig
from mapfree.robust.procrustes_ransac import ProcrustesRansacConfig
from mapfree.study.references import OtherDepthEstimator

SOLVER = ProcrustesRansacConfig(rounds=2, hypotheses=20, samples=64)


class ExactDepth:
    """The model's own depth at each keypoint (its patch value, read by keypoint order)."""

    name = "own"

    def __init__(self, frames: FrameFeatures):
        self.frames = frames

    def __call__(self, item, side, kpts):
        return self.frames.pairs([item])[side].depth[0].double().numpy()


def test_own_depth_gives_the_models_own_pose(tiny_dataset):
    """With the model's own depths swapped in, the row is the model's row: same features, matches and solver."""
    torch.manual_seed(0)
    model = MicKey(MicKeyConfig.tiny()).eval()
    item = MapFreePairs(tiny_dataset, "val")[0]
    frames = FrameFeatures(model)
    own = MicKeyEstimator(model, SOLVER, torch.Generator().manual_seed(3), frames)(item)
    swapped = OtherDepthEstimator(model, ExactDepth(frames), SOLVER, torch.Generator().manual_seed(3), frames)(item)
    assert own is not None and swapped is not None
    assert frames.extracted == 2  # both rows from one extraction of each frame
    np.testing.assert_allclose(swapped.R, own.R, atol=1e-6)
    np.testing.assert_allclose(swapped.t, own.t, atol=1e-6)
    assert swapped.confidence == pytest.approx(own.confidence, rel=1e-6)


def test_keypoints_without_depth_take_no_part(tiny_dataset):
    """Depth known only at some keypoints: the solver never uses the others (their rows are zeroed), and a
    pair with no depth at all has no estimate."""
    torch.manual_seed(0)
    model = MicKey(MicKeyConfig.tiny()).eval()
    item = MapFreePairs(tiny_dataset, "val")[0]

    class Holes:
        name = "holes"

        def __call__(self, item, side, kpts):
            depth = np.full(len(kpts), 4.0)
            depth[::2] = np.nan
            return depth

    class Nothing:
        name = "nothing"

        def __call__(self, item, side, kpts):
            return np.full(len(kpts), np.nan)

    fit = OtherDepthEstimator(model, Holes(), SOLVER, torch.Generator().manual_seed(0)).solve(item)
    used = fit.matches[0][fit.match_scores[0] > 0]
    assert len(used) and np.all(used.numpy() % 2 == 1)  # only keypoints with a depth (odd indices) are sampled
    assert OtherDepthEstimator(model, Nothing(), SOLVER, torch.Generator().manual_seed(0))(item) is None
