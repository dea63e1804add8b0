"""Depth sources: metric depth (metres) at matched keypoints, NaN where unknown.

A depth source is called as `source(item, side, kpts)` with a pair item, the index of the view
(0 or 1) and keypoints (N, 2) in that view's pixels; it returns (N,) depths.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mapfree.baselines.matches import to_numpy
from mapfree.data.images import read_depth
from mapfree.data.items import view
from mapfree.errors import InputError

if TYPE_CHECKING:
    from mapfree.baselines.mickey import MicKeyFeatures


class DepthSource(Protocol):
    name: str

    def __call__(self, item: Mapping[str, Any], side: int, kpts: np.ndarray) -> np.ndarray: ...


def sample_nearest(depth: np.ndarray, kpts: np.ndarray) -> np.ndarray:
    """Depth map (H, W) at the nearest pixel of each keypoint (N, 2); NaN outside the image.

    Nearest, not bilinear: interpolating across an occlusion edge invents a depth that lies
    on neither surface.
    """
    h, w = depth.shape
    finite = np.isfinite(kpts).all(axis=1)
    xy = np.rint(np.where(finite[:, None], kpts, -1.0)).astype(np.int64)
    inside = finite & (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    out = np.full(len(kpts), np.nan)
    out[inside] = depth[xy[inside, 1], xy[inside, 0]]
    return out


def sample_patch_grid(grid: np.ndarray, kpts: np.ndarray, patch: float) -> np.ndarray:
    """Bilinear interpolation of per-patch values (rows, cols) at pixels (N, 2).

    Cell (i, j) covers pixels [j p, (j + 1) p) x [i p, (i + 1) p), so its value sits at the
    patch centre ((j + 0.5) p - 0.5, (i + 0.5) p - 0.5) in integer-centred pixels. Keypoints
    past the outer centres take the border value; a NaN neighbour or keypoint gives NaN.
    """
    rows, cols = grid.shape
    finite = np.isfinite(kpts).all(axis=1)
    kpts = np.where(finite[:, None], kpts, 0.0)
    u = np.clip((kpts[:, 0] + 0.5) / patch - 0.5, 0, cols - 1)
    v = np.clip((kpts[:, 1] + 0.5) / patch - 0.5, 0, rows - 1)
    j0 = np.minimum(np.floor(u).astype(int), max(cols - 2, 0))
    i0 = np.minimum(np.floor(v).astype(int), max(rows - 2, 0))
    j1, i1 = np.minimum(j0 + 1, cols - 1), np.minimum(i0 + 1, rows - 1)
    a, b = u - j0, v - i0
    top = (1 - a) * grid[i0, j0] + a * grid[i0, j1]
    bottom = (1 - a) * grid[i1, j0] + a * grid[i1, j1]
    return np.where(finite, (1 - b) * top + b * bottom, np.nan)


def rescale(kpts: np.ndarray, size: tuple[int, int], new_size: tuple[int, int]) -> np.ndarray:
    """Pixels of an image of `size` (W, H) in the same image resized to `new_size`."""
    return (kpts + 0.5) * (np.asarray(new_size, np.float64) / np.asarray(size, np.float64)) - 0.5


def image_size(item: Mapping[str, Any], side: int) -> tuple[int, int]:
    """(width, height) of the image of the pair item's view `side`."""
    h, w = view(item, side)["image"].shape[-2:]
    return int(w), int(h)


TRUE_DEPTH_SUFFIX = "depth"
"""The suffix of the dataset's own (true) depth maps: `frame_NNNNN.depth.png`."""


class FileDepth:
    """Depth maps stored beside each frame as `frame_NNNNN.{suffix}.png` (uint16 mm, 0 = unknown).

    `file:depth` (alias `true`) is the dataset's depth; Map-free also ships estimated depth as
    `file:dptkitti` and `file:dptnyu`, and `mapfree depth-prior --export-png` writes any metric
    prior this way. The map is resized (nearest) to the view's image size. For the true depth
    the view's `depth` is used when the dataset already loaded it.
    """

    def __init__(self, suffix: str = TRUE_DEPTH_SUFFIX, name: str | None = None):
        self.suffix = suffix
        self.name = name or f"file:{suffix}"

    def depth_map(self, item: Mapping[str, Any], side: int) -> np.ndarray:
        frame_view = view(item, side)
        if self.suffix == TRUE_DEPTH_SUFFIX and "depth" in frame_view:
            return to_numpy(frame_view["depth"])
        frame = Path(frame_view["path"])
        return read_depth(frame.with_name(f"{frame.stem}.{self.suffix}.png"), image_size(item, side))

    def __call__(self, item: Mapping[str, Any], side: int, kpts: np.ndarray) -> np.ndarray:
        return sample_nearest(self.depth_map(item, side), kpts)


class PriorDepth:
    """Metric depth from a depth-prior store (e.g. metric Depth Anything, DPT's role in Table 1).

    Uses the store's full-resolution map when it has one (nearest pixel), else interpolates
    its patch grid. The store must hold metric depth: relative inverse depth has no scale.
    A frame missing from the store raises :class:`~mapfree.depth_prior.MissingPriorError`.
    """

    name = "prior"

    def __init__(self, root: str | Path, split: str):
        from mapfree.depth_prior import METRIC_DEPTH, PriorStore

        self.store = PriorStore(root, split)
        if self.store.meta.quantity != METRIC_DEPTH:
            raise InputError(
                f"{root}: the depth-prior store holds {self.store.meta.quantity} ({self.store.meta.units}); "
                f"metric poses need {METRIC_DEPTH} (use a metric teacher, e.g. Depth Anything V2 Metric)"
            )

    def __call__(self, item: Mapping[str, Any], side: int, kpts: np.ndarray) -> np.ndarray:
        scene, frame = item["scene"], view(item, side)["frame"]
        prior = self.store.load(scene, frame)
        if self.store.meta.dense:
            dense = self.store.load_dense(scene, frame).astype(np.float32)
            return sample_nearest(dense, rescale(kpts, image_size(item, side), dense.shape[::-1]))
        in_prior = rescale(kpts, image_size(item, side), prior.image_size)
        return sample_patch_grid(prior.values.astype(np.float64), in_prior, self.store.meta.patch_size)


class MicKeyDepth:
    """MicKey's predicted metric depth (the "w/ MicKey" rows), interpolated at any keypoint.

    MicKey gives one depth per patch, at that patch's keypoint; between keypoints the grid is
    interpolated bilinearly with each value placed at its patch centre (at most half a patch
    from where MicKey put it), so any matcher's keypoints get a depth.
    """

    name = "mickey"

    def __init__(self, features: MicKeyFeatures):
        self.features = features

    def __call__(self, item: Mapping[str, Any], side: int, kpts: np.ndarray) -> np.ndarray:
        from mapfree.models.backbone import PATCH_SIZE

        feats = self.features(item)[side]
        grid = to_numpy(feats.depth[0]).reshape(feats.grid)
        return sample_patch_grid(grid, kpts, PATCH_SIZE)
