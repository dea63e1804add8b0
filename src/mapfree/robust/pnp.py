"""PnP RANSAC on lifted points: matches of image 0 lifted to 3D with depth, located in image 1.

The Map-free benchmark's "pnp" baseline: OpenCV's P3P inside RANSAC, then Levenberg-Marquardt
refinement on the inliers. Only image 0's depth is used, so the scale comes from one depth map.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mapfree.geometry.camera import backproject, project
from mapfree.robust.result import RelativePose, distinct_count, well_spread


@dataclass(frozen=True)
class PnPConfig:
    """RANSAC settings; the defaults are the Map-free baseline's (1000 iterations, 3 px, 0.9999)."""

    pixel_threshold: float = 3.0
    iterations: int = 1000
    confidence: float = 0.9999
    min_inliers: int = 6
    max_translation: float = 1000.0
    """Translations longer than this (metres) are a degenerate fit, reported as failure."""
    min_spread_px: float = 2.0
    """Inliers closer to a line than this (std, pixels) in image 1 are degenerate."""


def solve_pnp(
    kpts0: np.ndarray,
    kpts1: np.ndarray,
    K0: np.ndarray,
    K1: np.ndarray,
    depth0: np.ndarray,
    depth1: np.ndarray | None = None,
    config: PnPConfig = PnPConfig(),
) -> RelativePose:
    """Metric pose of camera 1 relative to camera 0 from matches (N, 2) and image 0's depths (N,).

    `depth1` is accepted for a uniform solver signature and ignored. The confidence is the
    number of inliers after refinement (reprojection error below the threshold); fewer than
    `min_inliers` distinct inliers, inliers on a line and other failures give
    :meth:`RelativePose.failure`.
    """
    kpts0, kpts1 = np.asarray(kpts0, np.float64).reshape(-1, 2), np.asarray(kpts1, np.float64).reshape(-1, 2)
    K0, K1 = np.asarray(K0, np.float64), np.asarray(K1, np.float64)
    n = len(kpts0)
    d0 = np.asarray(depth0, np.float64).reshape(n)
    usable = np.isfinite(kpts0).all(1) & np.isfinite(kpts1).all(1) & np.isfinite(d0) & (d0 > 0)
    if usable.sum() < max(config.min_inliers, 4):
        return RelativePose.failure(n)
    X0 = backproject(kpts0[usable], d0[usable], K0)
    x1 = kpts1[usable]
    try:
        ok, rvec, tvec, ransac_inliers = cv2.solvePnPRansac(
            X0, x1, K1, None, iterationsCount=config.iterations, reprojectionError=config.pixel_threshold,
            confidence=config.confidence, flags=cv2.SOLVEPNP_P3P,
        )
        if not ok or ransac_inliers is None or len(ransac_inliers) < config.min_inliers:
            return RelativePose.failure(n)
        idx = ransac_inliers.ravel()
        rvec, tvec = cv2.solvePnPRefineLM(X0[idx], x1[idx], K1, None, rvec, tvec)
    except cv2.error:
        return RelativePose.failure(n)
    R, t = cv2.Rodrigues(rvec)[0], tvec.ravel()
    if not np.isfinite(t).all() or np.linalg.norm(t) > config.max_translation:
        return RelativePose.failure(n)
    X1 = X0 @ R.T + t
    ahead = X1[:, 2] > 0
    err = np.full(len(X1), np.inf)
    err[ahead] = np.linalg.norm(project(X1[ahead], K1) - x1[ahead], axis=1)
    inliers = np.zeros(n, dtype=bool)
    inliers[np.flatnonzero(usable)[err < config.pixel_threshold]] = True
    if (distinct_count(kpts0[inliers], d0[inliers], kpts1[inliers]) < config.min_inliers
            or not well_spread(kpts1[inliers], config.min_spread_px)):
        return RelativePose.failure(n)
    return RelativePose.checked(R, t, inliers, float(inliers.sum()))
