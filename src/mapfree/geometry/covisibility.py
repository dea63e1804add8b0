"""Co-visibility of views with depth: the fraction of one view's surface seen by another."""

from __future__ import annotations

import numpy as np

from mapfree.geometry.camera import backproject, pixel_grid
from mapfree.geometry.transforms import invert_pose


def covisibility_matrix(
    depths: np.ndarray, Ks: np.ndarray, T_w2c: np.ndarray, rel_tol: float = 0.05, abs_tol: float = 0.05
) -> np.ndarray:
    """(F, F) matrix whose entry (a, b) is the fraction of view a's valid-depth pixels that
    land inside view b, in front of it, and agree with view b's depth there (not occluded).

    `depths` (F, H, W) in metres with NaN for unknown, `Ks` (F, 3, 3) for that resolution,
    `T_w2c` (F, 4, 4). Pixels are matched to the nearest pixel of b; a point agrees when
    |z - z_b| <= rel_tol * z_b + abs_tol. The diagonal is 1 for views with any depth.
    """
    F, H, W = depths.shape
    grid = pixel_grid(W, H)
    result = np.zeros((F, F))
    T_c2w = invert_pose(T_w2c)
    for a in range(F):
        valid = np.isfinite(depths[a]) & (depths[a] > 0)
        if not valid.any():
            continue
        pts_cam = backproject(grid[valid], depths[a][valid], Ks[a])
        pts_world = pts_cam @ T_c2w[a, :3, :3].T + T_c2w[a, :3, 3]
        # Pixel coordinates in every view at once: (F, 3, n) = K_f (R_f X + t_f).
        pts_b = T_w2c[:, :3, :3] @ pts_world.T + T_w2c[:, :3, 3:4]
        z = pts_b[:, 2]
        uvw = Ks @ pts_b
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.rint(uvw[:, 0] / uvw[:, 2])
            v = np.rint(uvw[:, 1] / uvw[:, 2])
        inside = (z > 1e-6) & (u >= 0) & (u < W) & (v >= 0) & (v < H)
        ui = np.where(inside, u, 0).astype(np.int64)
        vi = np.where(inside, v, 0).astype(np.int64)
        z_b = depths[np.arange(F)[:, None], vi, ui]
        agree = inside & np.isfinite(z_b) & (np.abs(z - z_b) <= rel_tol * z_b + abs_tol)
        result[a] = agree.mean(axis=1)
    return result
