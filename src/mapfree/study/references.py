"""Reference rows of a run: its own matches and solver with another depth at its keypoints.

The model's keypoints, confidences and match matrix stay as they are and MicKey's own probabilistic
Procrustes RANSAC solves them; only the depth at each keypoint changes: the true depth (what the
model's depths cost) or the teacher's at test time (whether the model learned more than the teacher
hands it). A keypoint without a depth there (sky, a missing prior) takes no part: its rows and
columns of the match matrix are zeroed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from mapfree.baselines.depth_sources import DepthSource
from mapfree.data.items import views
from mapfree.evaluation.submission import SubmissionEntry
from mapfree.inference.frames import FrameFeatures
from mapfree.models.mickey import Features, MatchMatrix, MicKey
from mapfree.models.pose import solve_mickey_poses
from mapfree.robust.procrustes_ransac import ProcrustesRansacConfig, RansacOutput


class OtherDepthEstimator:
    """A pair item to a submission line: MicKey's matches and solver with `depth`'s values at its keypoints."""

    def __init__(self, model: MicKey, depth: DepthSource, solver: ProcrustesRansacConfig,
                 generator: torch.Generator | None = None, frames: FrameFeatures | None = None):
        self.model, self.depth, self.solver, self.generator = model.eval(), depth, solver, generator
        self.frames = frames or FrameFeatures(self.model)
        """The network's features of each frame (share them with the estimator of the model's own row)."""

    def _swap(self, item: dict, side: int, features: Features) -> tuple[Features, torch.Tensor]:
        """The features with the other depth (1 m where it has none) and the mask of keypoints that have one."""
        kpts = features.kpts[0].double().cpu().numpy()
        depth = self.depth(item, side, kpts)
        known = np.isfinite(depth) & (depth > 0)
        values = torch.from_numpy(np.where(known, depth, 1.0)).to(features.depth)
        return replace(features, depth=values[None]), torch.from_numpy(known).to(features.kpts.device)

    @torch.inference_mode()
    def solve(self, item: dict) -> RansacOutput:
        """The solver's output for one pair item (a batch of one)."""
        view0, view1 = views(item)
        f0, f1, _ = self.frames.pairs([item])
        matches = self.model.match(f0, f1)
        f0, known0 = self._swap(item, 0, f0)
        f1, known1 = self._swap(item, 1, f1)
        keep = (known0[:, None] & known1[None, :]).to(matches.scores)
        scores = MatchMatrix(matches.matching, matches.scores * keep)
        return solve_mickey_poses(f0, f1, scores, view0["camera"], view1["camera"], self.solver, self.generator)

    def __call__(self, item: dict) -> SubmissionEntry | None:
        return SubmissionEntry.from_pose(views(item)[1]["frame"], self.solve(item).pose(0))
