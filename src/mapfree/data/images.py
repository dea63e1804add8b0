"""Image and depth-map loading with resizing and the matching intrinsics update."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image

from mapfree.data.errors import DataFormatError
from mapfree.errors import InputError
from mapfree.geometry.camera import Camera

if TYPE_CHECKING:
    from mapfree.data.scenes import Scene

DEPTH_SCALE = 1000.0
"""Depth PNGs store uint16 millimetres; 0 means no depth."""

MAX_PIXELS_ENV = "MAPFREE_MAX_PIXELS"
"""The environment variable that raises (or lowers) :func:`max_pixels`; an environment variable so that
data-loader workers see what the command was told (`--max-pixels`)."""

DEFAULT_MAX_PIXELS = 8192 * 8192
"""The largest image read or resized to by default (64 megapixels, 192 MiB as RGB, 768 MiB as floats)."""


def max_pixels() -> int:
    """The most pixels an image may have when read or resized to: `MAPFREE_MAX_PIXELS`, else the default."""
    text = os.environ.get(MAX_PIXELS_ENV)
    if text is None:
        return DEFAULT_MAX_PIXELS
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if limit < 1:
        raise InputError(f"{MAX_PIXELS_ENV}={text!r}: expected a positive number of pixels")
    return limit


def check_pixels(size: tuple[int, int], what: str) -> None:
    """InputError naming `what` when an image of `size` = (width, height) has more than :func:`max_pixels`,
    before any memory is spent on it."""
    width, height = size
    if width * height > (limit := max_pixels()):
        raise InputError(f"{what}: {width}x{height} is {width * height:,} pixels, more than the {limit:,} allowed "
                         f"(raise the cap with --max-pixels or {MAX_PIXELS_ENV})")


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB; DataFormatError if the file is missing, does not decode or is truncated, InputError
    if it has more pixels than :func:`max_pixels` (from its header, before decoding)."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "image not found")
    with contextlib.suppress(DataFormatError):  # a header Pillow cannot read: OpenCV's decoding says what is wrong
        image_size(path)
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DataFormatError(path, "image does not decode")
    _check_complete(path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image as :func:`read_image` returns it, from its header only (no decoding).

    DataFormatError if the file is missing, is not an image or is truncated; InputError if it has more pixels
    than :func:`max_pixels`.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "image not found")
    try:
        with Image.open(path) as image:
            width, height = image.size
            check_pixels((width, height), f"{path}: image")  # before Pillow reads more (PNG's EXIF can decode it all)
            rotated = image.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8)  # OpenCV applies the rotation
    except InputError:  # over the cap: a ValueError, but not a broken file
        raise
    except Image.DecompressionBombError as e:  # Pillow's own cap (179 megapixels), above the default one here
        raise InputError(f"{path}: image too large to open ({e})") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataFormatError(path, f"not a readable image ({e})") from None
    _check_complete(path)
    return (height, width) if rotated else (width, height)


def check_image_size(path: str | Path, size: tuple[int, int], expected: tuple[int, int]) -> None:
    """DataFormatError naming the image and both sizes if its (width, height) is not the one `intrinsics.txt` states."""
    if tuple(size) != tuple(expected):
        raise DataFormatError(path, f"image is {size[0]}x{size[1]} but intrinsics.txt says {expected[0]}x{expected[1]}")


def check_frame_images(scene: Scene, frames: Iterable[str]) -> None:
    """Up-front check of frames' images from their headers: present, complete, of the size `intrinsics.txt` states."""
    for frame in frames:
        camera, path = scene.camera(frame), scene.image_path(frame)
        check_image_size(path, image_size(path), (camera.width, camera.height))


_EXIF_ORIENTATION = 0x0112


def _check_complete(path: Path) -> None:
    """DataFormatError if a JPEG file has no end-of-image marker after its last scan (decoders fill in grey).

    Reads two bytes at either end; only a file that does not end with the marker (trailing bytes) is read whole.
    """
    with open(path, "rb") as f:
        if f.read(2) != b"\xff\xd8":
            return  # not a JPEG: the other decoders fail on truncation themselves
        f.seek(-2, os.SEEK_END)
        if f.read(2) == b"\xff\xd9":
            return
        f.seek(0)
        data = f.read()
    if data.find(b"\xff\xd9", data.rfind(b"\xff\xda")) < 0:  # entropy-coded data never holds 0xFFD9
        raise DataFormatError(path, "truncated JPEG: no end-of-image marker after the last scan")


def resize_image(image: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """`image` resized to `size` = (width, height): the one interpolation rule of every image road.

    Area averaging when both sides shrink (no aliasing), bilinear otherwise; None or the
    image's own size returns it unchanged.
    """
    if size is None or (image.shape[1], image.shape[0]) == tuple(size):
        return image
    check_pixels(size, "resize")
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
