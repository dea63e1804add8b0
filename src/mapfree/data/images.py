"""Image and depth-map loading with resizing and the matching intrinsics update."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mapfree.data.errors import DataFormatError
from mapfree.geometry.camera import Camera

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


def resize_image(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """`image` resized to `size` = (width, height): the one interpolation rule of every image road.

    Area averaging when both sides shrink (no aliasing), bilinear otherwise; None or the
    image's own size returns it unchanged.
    """
    if size is None or (image.shape[1], image.shape[0]) == tuple(size):
        return image
    w, h = size
    shrink = w < image.shape[1] and h < image.shape[0]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def resize_view(image: np.ndarray, camera: Camera, size: tuple[int, int] | None) -> tuple[np.ndarray, Camera]:
    """`image` and its camera resized to `size` = (width, height) (see :func:`resize_image`)."""
    if size is None:
        return image, camera
    return resize_image(image, size), camera.resized(size)


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
