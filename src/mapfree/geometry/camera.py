"""Pinhole cameras. Pixel centres sit at integer coordinates (OpenCV convention)."""

from __future__ import annotations

import numpy as np


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """3x3 pinhole matrix."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def scale_intrinsics(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Intrinsics after resizing an image by (sx, sy).

    A pixel's area [x - 0.5, x + 0.5] maps to [sx x, sx (x + 1)] - 0.5, so with centres at
    integers: x' = sx (x + 0.5) - 0.5. Hence f' = s f and c' = s (c + 0.5) - 0.5.
    """
    K = np.asarray(K, dtype=np.float64).copy()
    K[0, 0] *= sx
    K[1, 1] *= sy
    K[0, 2] = sx * (K[0, 2] + 0.5) - 0.5
    K[1, 2] = sy * (K[1, 2] + 0.5) - 0.5
    return K


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(..., 3) camera-frame points to (..., 2) pixels. Points must have z > 0."""
    uvw = points @ np.asarray(K).T
    return uvw[..., :2] / uvw[..., 2:3]


def pixel_grid(width: int, height: int, step: int = 1) -> np.ndarray:
    """(h, w, 2) array of pixel-centre coordinates (x, y), every `step` pixels."""
    xs = np.arange(step // 2, width, step, dtype=np.float64)
    ys = np.arange(step // 2, height, step, dtype=np.float64)
    return np.stack(np.meshgrid(xs, ys), axis=-1)


def backproject(pixels: np.ndarray, depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(..., 2) pixels with (...) z-depths to (..., 3) camera-frame points."""
    K = np.asarray(K)
    x = (pixels[..., 0] - K[0, 2]) / K[0, 0]
    y = (pixels[..., 1] - K[1, 2]) / K[1, 1]
    return np.stack([x * depth, y * depth, depth], axis=-1)
