"""Pinhole cameras. Pixel centres sit at integer coordinates (OpenCV convention).

:class:`Camera` and the functions here take NumPy arrays or torch tensors, one camera or a batch,
and dispatch on the array type: the module imports torch only in :meth:`Camera.to`, so
`mapfree.geometry` stays usable without it.
"""

from __future__ import annotations

import sys
from typing import Any, NamedTuple

import numpy as np


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """3x3 pinhole matrix."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def _array_module(array: Any) -> Any:
    """numpy, or torch for a tensor (already imported by whoever made the tensor)."""
    return sys.modules["torch"] if type(array).__module__.startswith("torch") else np


def _copy(K: Any) -> Any:
    """A copy of intrinsics to edit: float64 for NumPy input, the tensor's own dtype for torch."""
    return np.array(K, dtype=np.float64) if _array_module(K) is np else K.clone()


def _array_like(values: Any, like: Any) -> Any:
    """`values` as an array of the module, dtype (and device) of `like`."""
    if _array_module(like) is np:
        return np.asarray(values, dtype=like.dtype)
    return sys.modules["torch"].as_tensor(values, dtype=like.dtype, device=like.device)


def scale_intrinsics(K: Any, sx: Any, sy: Any) -> Any:
    """Intrinsics (..., 3, 3) after resizing an image by (sx, sy) (scalars or (...,) arrays).

    A pixel's area [x - 0.5, x + 0.5] maps to [sx x, sx (x + 1)] - 0.5, so with centres at
    integers: x' = sx (x + 0.5) - 0.5. Hence f' = s f and c' = s (c + 0.5) - 0.5.
    """
    K = _copy(K)
    K[..., 0, 0] *= sx
    K[..., 1, 1] *= sy
    K[..., 0, 2] = sx * (K[..., 0, 2] + 0.5) - 0.5
    K[..., 1, 2] = sy * (K[..., 1, 2] + 0.5) - 0.5
    return K


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


PRINCIPAL_POINT_TOLERANCE = 0.2
"""How far, as a fraction of the image's width or height, a principal point may lie outside the image: a
cropped frame keeps its lens's centre, but a point beyond this belongs to another camera or resolution."""


def principal_point_outside(K: np.ndarray, size: np.ndarray, tolerance: float = PRINCIPAL_POINT_TOLERANCE
                            ) -> np.ndarray:
    """(...,) whether the principal point of each K (..., 3, 3) lies outside its image `size` (..., 2) = (W, H)
    by more than `tolerance` of the image's width or height."""
    K, size = np.asarray(K, dtype=np.float64), np.asarray(size, dtype=np.float64)
    point = np.stack([K[..., 0, 2], K[..., 1, 2]], -1)
    return np.any((point < -tolerance * size) | (point > (1 + tolerance) * size), axis=-1)


class Camera(NamedTuple):
    """A pinhole camera: intrinsics `K` (..., 3, 3) of images `size` (..., 2) = (width, height) pixels.

    NumPy arrays or torch tensors; one camera or a batch along the leading dimensions (`size`
    may broadcast against them, e.g. one image size for N frames). A NamedTuple, so torch's
    default collate turns the cameras of a batch's items into one batched camera, field by field.
    Image operations return the camera of their result, so intrinsics never drift from pixels.
    """

    K: Any
    size: Any

    @classmethod
    def from_matrix(cls, K: Any, width: int, height: int) -> Camera:
        """One NumPy camera (float64) of a 3x3 matrix and its image's width and height."""
        return cls(np.asarray(K, dtype=np.float64).reshape(3, 3), np.array([width, height], dtype=np.float64))

    @property
    def width(self) -> int:
        """Image width in pixels (one camera)."""
        return int(self.size[..., 0])

    @property
    def height(self) -> int:
        """Image height in pixels (one camera)."""
        return int(self.size[..., 1])

    def resized(self, size: Any) -> Camera:
        """The camera of its image resized to `size` = (width, height) (see :func:`scale_intrinsics`)."""
        size = _array_like(size, self.size)
        scale = size / self.size
        return Camera(scale_intrinsics(self.K, scale[..., 0], scale[..., 1]), size)

    def cropped(self, left: int, top: int, width: int, height: int) -> Camera:
        """The camera of the `width` x `height` window whose top-left pixel is (left, top)."""
        K = _copy(self.K)
        K[..., 0, 2] -= left
        K[..., 1, 2] -= top
        return Camera(K, _array_like([width, height], self.size))

    def project(self, points: Any) -> Any:
        """(..., N, 3) camera-frame points to (..., N, 2) pixels (see :func:`project`)."""
        return project(points, self.K)

    def backproject(self, pixels: Any, depth: Any) -> Any:
        """(..., N, 2) pixels with (..., N) z-depths to (..., N, 3) camera points (see :func:`backproject`)."""
        return backproject(pixels, depth, self.K)

    def numpy(self) -> Camera:
        """The camera as float64 NumPy arrays (tensors are detached and moved to the CPU)."""
        return Camera(*(np.asarray(v.detach().cpu() if hasattr(v, "detach") else v, dtype=np.float64)
                        for v in (self.K, self.size)))

    def to(self, device: Any = None, dtype: Any = None) -> Camera:
        """The camera as torch tensors on `device` in `dtype` (None: as they are); NumPy arrays are converted."""
        import torch

        return Camera(torch.as_tensor(self.K, dtype=dtype, device=device),
                      torch.as_tensor(self.size, dtype=dtype, device=device))
