"""Depth sources: metric depth (metres) at matched keypoints, NaN where unknown.

A depth source is called as `source(item, side, kpts)` with a pair item, the image index
(0 or 1) and keypoints (N, 2) in that image's pixels; it returns (N,) depths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Protocol

import numpy as np

from mapfree.baselines.matches import to_numpy
from mapfree.data.images import read_depth


class DepthSource(Protocol):
    name: str

    def __call__(self, item: Mapping[str, Any], side: int, kpts: np.ndarray) -> np.ndarray: ...


def sample_nearest(depth: np.ndarray, kpts: np.ndarray) -> np.ndarray:
    """Depth map (H, W) at the nearest pixel of each keypoint (N, 2); NaN outside the image.

    Nearest, not bilinear: interpolating across an occlusion edge invents a depth that lies
    on neither surface.
    """
    h, w = depth.shape
    xy = np.rint(kpts).astype(np.int64) if len(kpts) else np.zeros((0, 2), np.int64)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    out = np.full(len(kpts), np.nan)
    out[inside] = depth[xy[inside, 1], xy[inside, 0]]
    return out


def image_size(item: Mapping[str, Any], side: int) -> tuple[int, int]:
    """(width, height) of the pair item's image `side`."""
    h, w = item[f"image{side}"].shape[-2:]
    return int(w), int(h)


class TrueDepth:
    """The dataset's depth maps (`frame.{suffix}.png` next to each frame, uint16 mm).

    Uses the item's `depth0`/`depth1` when the dataset already loaded them, otherwise reads
    the file beside `path0`/`path1`, resized (nearest) to the item's image size.
    """

    name = "true"

    def __init__(self, suffix: str = "depth"):
        self.suffix = suffix

    def depth_map(self, item: Mapping[str, Any], side: int) -> np.ndarray:
        if f"depth{side}" in item:
            return to_numpy(item[f"depth{side}"])
        frame = Path(item[f"path{side}"])
        return read_depth(frame.with_name(f"{frame.stem}.{self.suffix}.png"), image_size(item, side))

    def __call__(self, item: Mapping[str, Any], side: int, kpts: np.ndarray) -> np.ndarray:
        return sample_nearest(self.depth_map(item, side), kpts)
