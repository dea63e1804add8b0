"""What map-free-reloc ships beside the benchmark, made from a rendered scene: estimated depth PNGs and
precomputed correspondences, so `file:SUFFIX` and `npz:NAME` run offline."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from mapfree.data.correspondences import write_correspondences
from mapfree.data.images import read_image, write_depth
from mapfree.geometry.camera import backproject, pixel_grid, project
from mapfree.geometry.transforms import relative_pose

CORRESPONDENCE_STEP = 6
"""Reference pixels are taken on a grid of this step."""
CORRESPONDENCE_NOISE = 0.5
"""Standard deviation (pixels) of the noise added to both ends of a true correspondence."""
VISIBLE_TOLERANCE = 0.02
"""A point is visible in the query when its depth there is within this fraction of the query's depth map."""


def write_estimated_depth(path: Path, depth: np.ndarray, image_path: Path, key: str, seed: int) -> None:
    """`frame_NNNNN.SUFFIX.png` of the synthetic-metric teacher's map (rendered depth and the written image with
    monocular errors, the map `mapfree depth-prior --teacher synthetic-metric --seed SEED` computes at native
    size from the depth PNG); depths beyond the PNG's 65.5 m are written as missing."""
    from mapfree.depth_prior.synthetic import CALIBRATED, simulate

    write_depth(path, simulate(depth, read_image(image_path), True, replace(CALIBRATED, seed=seed), key))


def true_correspondences(depth0: np.ndarray, depth1: np.ndarray, K: np.ndarray, T0: np.ndarray, T1: np.ndarray,
                         rng: np.random.Generator) -> np.ndarray:
    """(M, 4) (x0, y0, x1, y1): reference grid pixels with depth, reprojected into the query where visible
    there (not occluded, inside the image), both ends with Gaussian pixel noise."""
    h, w = depth0.shape
    grid = pixel_grid(w, h, CORRESPONDENCE_STEP).reshape(-1, 2)
    z0 = depth0[grid[:, 1].astype(int), grid[:, 0].astype(int)]
    grid, z0 = grid[np.isfinite(z0)], z0[np.isfinite(z0)]
    T = relative_pose(T0, T1)
    points = backproject(grid, z0, K) @ T[:3, :3].T + T[:3, 3]
    front = points[:, 2] > 1e-6
    grid, points = grid[front], points[front]
    pixels = project(points, K)
    xy = np.rint(pixels).astype(np.int64)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    z1 = np.full(len(xy), np.nan)
    z1[inside] = depth1[xy[inside, 1], xy[inside, 0]]
    visible = np.abs(z1 - points[:, 2]) < VISIBLE_TOLERANCE * points[:, 2]
    corr = np.concatenate([grid[visible], pixels[visible]], axis=1)
    return corr + rng.normal(0.0, CORRESPONDENCE_NOISE, corr.shape)


def write_scene_correspondences(path: Path, reference: tuple[np.ndarray, np.ndarray],
                                queries: list[tuple[np.ndarray, np.ndarray]], K: np.ndarray,
                                rng: np.random.Generator) -> None:
    """A `correspondences_NAME.npz` of noisy true correspondences between the reference (depth, world-to-camera
    pose) and each query (depth, pose), queries in frame order."""
    depth0, T0 = reference
    write_correspondences(path, [true_correspondences(depth0, depth1, K, T0, T1, rng) for depth1, T1 in queries])
