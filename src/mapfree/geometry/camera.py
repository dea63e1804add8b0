"""Pinhole cameras. Pixel centres sit at integer coordinates (OpenCV convention).

`backproject` and `project` take NumPy arrays or torch tensors (batched or not); this module
never imports torch, so `mapfree.geometry` stays usable without it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: 3x3 intrinsics `K` (float64) for an image of `width` x `height` pixels.

    Image operations return the camera of their result, so intrinsics never drift from pixels.
    """

    K: np.ndarray
    width: int
    height: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "K", np.asarray(self.K, dtype=np.float64).reshape(3, 3))
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.width, self.height

    def resized(self, size: tuple[int, int]) -> Camera:
        """The camera of this image resized to `size` = (width, height) (see :func:`scale_intrinsics`)."""
        w, h = size
        return Camera(scale_intrinsics(self.K, w / self.width, h / self.height), w, h)

    def cropped(self, left: int, top: int, width: int, height: int) -> Camera:
        """The camera of the `width` x `height` window whose top-left pixel is (left, top)."""
        K = self.K.copy()
        K[0, 2] -= left
        K[1, 2] -= top
        return Camera(K, width, height)


def _array_module(array: Any) -> Any:
    """numpy, or torch for a tensor (already imported by whoever made the tensor)."""
    return sys.modules["torch"] if type(array).__module__.startswith("torch") else np


def project(points: Any, K: Any) -> Any:
    """(..., 3) camera-frame points to (..., 2) pixels with (..., 3, 3) intrinsics. Points must have z > 0."""
    xp = _array_module(points)
    K = K if xp is not np else np.asarray(K)
    uvw = points @ xp.swapaxes(K, -1, -2)
    return uvw[..., :2] / uvw[..., 2:3]


def pixel_grid(width: int, height: int, step: int = 1) -> np.ndarray:
    """(h, w, 2) array of pixel-centre coordinates (x, y), every `step` pixels."""
    xs = np.arange(step // 2, width, step, dtype=np.float64)
    ys = np.arange(step // 2, height, step, dtype=np.float64)
    return np.stack(np.meshgrid(xs, ys), axis=-1)


def backproject(pixels: Any, depth: Any, K: Any) -> Any:
    """(..., N, 2) pixels with (..., N) z-depths to (..., N, 3) camera points: depth * K^-1 [u, v, 1].

    NumPy arrays or torch tensors (differentiable in all three); K is (3, 3) or batched (..., 3, 3).
    """
    xp = _array_module(pixels)
    if xp is np:
        pixels, depth, K = np.asarray(pixels), np.asarray(depth), np.asarray(K)
    rays = xp.concatenate([pixels, xp.ones_like(pixels[..., :1])], -1) @ xp.swapaxes(xp.linalg.inv(K), -1, -2)
    return rays * depth[..., None]
