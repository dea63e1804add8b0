"""The outcome of a two-view metric pose solver, with one failure convention for all solvers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RelativePose:
    """Transform from camera 0 to camera 1 (x1 = R x0 + t, metres) fitted to N correspondences.

    `inliers` (N,) marks the correspondences supporting the estimate and `confidence` is the
    solver's score (its inlier count). A failed solve is "no estimate": identity, zero
    translation, no inliers and confidence 0; solvers return it instead of raising or NaN.
    """

    R: np.ndarray
    t: np.ndarray
    inliers: np.ndarray
    confidence: float

    @property
    def valid(self) -> bool:
        return self.confidence > 0

    @classmethod
    def failure(cls, num_correspondences: int) -> RelativePose:
        return cls(np.eye(3), np.zeros(3), np.zeros(num_correspondences, dtype=bool), 0.0)

    @classmethod
    def checked(cls, R: np.ndarray, t: np.ndarray, inliers: np.ndarray, confidence: float) -> RelativePose:
        """The estimate, or the failure result when any value is non-finite or R is not a rotation."""
        R, t = np.asarray(R, dtype=np.float64), np.asarray(t, dtype=np.float64).reshape(3)
        inliers = np.asarray(inliers, dtype=bool)
        finite = np.isfinite(R).all() and np.isfinite(t).all() and np.isfinite(confidence)
        if not finite or confidence <= 0 or abs(np.linalg.det(R) - 1.0) > 1e-3:
            return cls.failure(len(inliers))
        return cls(R, t, inliers, float(confidence))


def distinct_count(*columns: np.ndarray) -> int:
    """Number of distinct rows of the arrays (N, ...) side by side: a match repeated in the input
    counts once, so duplicates never make a fit look supported."""
    if not columns or len(columns[0]) == 0:
        return 0
    return len(np.unique(np.concatenate([np.reshape(c, (len(c), -1)) for c in columns], axis=1), axis=0))


def well_spread(points: np.ndarray, min_std: float) -> bool:
    """Whether points (N, D) extend at least `min_std` along their thinnest principal direction.

    Only the two largest directions are checked, so 3D points on a plane still count as spread:
    coincident or collinear points make every two-view model degenerate, the fit then
    reflects noise rather than geometry.
    """
    if len(points) < 3:
        return False
    centred = points - points.mean(axis=0)
    thinnest = np.linalg.svd(centred, compute_uv=False)[min(points.shape[1], 2) - 1]
    return bool(thinnest / np.sqrt(len(points)) >= min_std)
