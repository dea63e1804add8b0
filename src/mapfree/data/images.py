"""Image and depth-map loading with resizing and the matching intrinsics update."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mapfree.data.errors import DataFormatError
from mapfree.geometry.camera import scale_intrinsics

DEPTH_SCALE = 1000.0
"""Depth PNGs store uint16 millimetres; 0 means no depth."""


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB; DataFormatError if the file is missing or does not decode."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "image not found")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DataFormatError(path, "image does not decode")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def resize_image(image: np.ndarray, K: np.ndarray, size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """Resize to `size` = (width, height) and return the image with its updated intrinsics."""
    if size is None or (image.shape[1], image.shape[0]) == tuple(size):
        return image, np.asarray(K, dtype=np.float64)
    w, h = size
    sx, sy = w / image.shape[1], h / image.shape[0]
    interp = cv2.INTER_AREA if sx < 1 and sy < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, (w, h), interpolation=interp), scale_intrinsics(K, sx, sy)


def read_depth(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W) float32 metres from a uint16 millimetre PNG; missing depth (0) becomes NaN.

    Resizing uses nearest neighbour so that no depth is invented across edges.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "depth map not found")
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.dtype != np.uint16 or raw.ndim != 2:
        raise DataFormatError(path, "depth map must be a single-channel uint16 PNG")
    if size is not None and (raw.shape[1], raw.shape[0]) != tuple(size):
        raw = cv2.resize(raw, tuple(size), interpolation=cv2.INTER_NEAREST)
    depth = raw.astype(np.float32) / DEPTH_SCALE
    depth[raw == 0] = np.nan
    return depth


def write_depth(path: str | Path, depth: np.ndarray) -> None:
    """Save metres as uint16 millimetres; NaN, Inf, non-positive or out-of-range values become 0."""
    mm = np.where(np.isfinite(depth) & (depth > 0), np.round(depth * DEPTH_SCALE), 0)
    mm = np.where(mm > np.iinfo(np.uint16).max, 0, mm).astype(np.uint16)
    if not cv2.imwrite(str(path), mm, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise OSError(f"could not write {path}")
