"""From MicKey's features to metric relative poses: the one road of the API, inference and validation.

Keypoints are lifted with their depths through the cameras of the network's input images and
the correspondence probability matrix is sampled by MicKey's probabilistic Procrustes RANSAC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mapfree.geometry.camera import Camera, backproject
from mapfree.models.mickey import Features, MatchMatrix
from mapfree.robust.procrustes_ransac import ProcrustesRansacConfig, RansacOutput, mickey_pose_solver
from mapfree.robust.result import RelativePose


@dataclass(frozen=True)
class MicKeyPose(RelativePose):
    """A RelativePose from MicKey, with what produced it.

    The correspondences are the winning round's sampled `matches` (S, 2) (keypoint indices into
    features0, features1) with their probabilities `match_scores` (S,); `inliers` (S,) marks
    those supporting the pose. The features and the dense `match_matrix` are one-pair batches.
    """

    matches: np.ndarray
    match_scores: np.ndarray
    features0: Features
    features1: Features
    match_matrix: MatchMatrix

    @property
    def inlier_matches(self) -> np.ndarray:
        """(M, 2) keypoint indices of the inlier correspondences."""
        return self.matches[self.inliers]

    @property
    def inlier_scores(self) -> np.ndarray:
        """(M,) probabilities of the inlier correspondences."""
        return self.match_scores[self.inliers]


def _batched(camera: Camera, batch: int, device: torch.device) -> torch.Tensor:
    """The camera's intrinsics as float32 (batch, 3, 3) on `device` (one camera serves every pair)."""
    return torch.as_tensor(camera.K, dtype=torch.float32, device=device).expand(batch, 3, 3)


def solve_mickey_poses(
    feats0: Features,
    feats1: Features,
    match_matrix: MatchMatrix,
    camera0: Camera,
    camera1: Camera,
    solver: ProcrustesRansacConfig | None = None,
    generator: torch.Generator | None = None,
) -> RansacOutput:
    """Batched poses of B pairs from their features, match matrix and the cameras of the input images
    (batched (B, ...) or one camera for every pair; NumPy or torch).

    `solver` defaults to the released settings; `generator` (on the features' device) makes the
    sampling reproducible.
    """
    B, device = len(feats0.kpts), feats0.kpts.device
    pts0 = backproject(feats0.kpts.float(), feats0.depth.float(), _batched(camera0, B, device))
    pts1 = backproject(feats1.kpts.float(), feats1.depth.float(), _batched(camera1, B, device))
    return mickey_pose_solver(pts0, pts1, match_matrix.scores.float(), solver or ProcrustesRansacConfig(), generator)


def mickey_poses(fit: RansacOutput, feats0: Features, feats1: Features, match_matrix: MatchMatrix) -> list[MicKeyPose]:
    """The batched output of :func:`solve_mickey_poses` as one MicKeyPose per pair, with what produced it."""
    B = len(feats0.kpts)
    poses = []
    for b, (f0, f1) in enumerate(zip(feats0.split([1] * B), feats1.split([1] * B))):
        pose = fit.pose(b)
        poses.append(MicKeyPose(
            R=pose.R, t=pose.t, inliers=pose.inliers, confidence=pose.confidence,
            matches=fit.matches[b].cpu().numpy(), match_scores=fit.match_scores[b].float().cpu().numpy(),
            features0=f0, features1=f1,
            match_matrix=MatchMatrix(match_matrix.matching[b: b + 1], match_matrix.scores[b: b + 1]),
        ))
    return poses
