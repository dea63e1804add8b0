"""Where every patch centre of one view lands in another, from depth and relative pose."""

from __future__ import annotations

import torch
from kornia.geometry.camera.perspective import project_points, unproject_points
from kornia.geometry.linalg import transform_points
from torch import Tensor

from mapfree.geometry.camera import Camera
from mapfree.geometry.homography import patch_centres


def reprojected_patch_targets(
    depth0: Tensor, depth1: Tensor, camera0: Camera, camera1: Camera, T_0to1: Tensor, grid: tuple[int, int],
    patch_size: int, rel_tol: float = 0.05, abs_tol: float = 0.05,
) -> tuple[Tensor, Tensor]:
    """The patch of view 1 that holds each patch centre of view 0, and whether it is seen there.

    depth0/depth1 (B, H, W) metres (NaN unknown), camera0/camera1 with K (B, 3, 3), T_0to1 (B, 4, 4) with
    x1 = R x0 + t. A centre is read at its nearest pixel, moved into view 1 and `visible` when
    it lands inside the (h, w) = `grid` patches in front of the camera and agrees with view 1's
    depth at its nearest pixel (|z - z1| <= rel_tol * z1 + abs_tol, so occluded points are
    not). Returns `target` (B, h * w) row-major patch indices (clamped where not visible) and
    `visible` (B, h * w), as :func:`mapfree.geometry.homography.patch_targets` does for warps.
    """
    h, w = grid
    B, H, W = depth0.shape
    batch = torch.arange(B, device=depth0.device)[:, None]
    centres = patch_centres(grid, patch_size).to(depth0.device, depth0.dtype).expand(B, -1, -1)
    col0, row0 = (centres + 0.5).floor().long().unbind(-1)
    z0 = depth0[batch, row0, col0]
    points = transform_points(T_0to1, unproject_points(centres, z0[..., None], camera0.K[:, None]))
    uv = project_points(points, camera1.K[:, None])
    col, row = (uv / patch_size).floor().unbind(-1)
    inside = torch.isfinite(z0) & (points[..., 2] > 1e-6) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    u1 = torch.nan_to_num(uv[..., 0] + 0.5).floor().clamp(0, W - 1).long()
    v1 = torch.nan_to_num(uv[..., 1] + 0.5).floor().clamp(0, H - 1).long()
    z1 = depth1[batch, v1, u1]
    visible = inside & torch.isfinite(z1) & ((points[..., 2] - z1).abs() <= rel_tol * z1 + abs_tol)
    col, row = torch.nan_to_num(col).clamp(0, w - 1), torch.nan_to_num(row).clamp(0, h - 1)
    return (row * w + col).long(), visible
