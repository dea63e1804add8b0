"""Differentiable, symmetric VCRE loss of relative pose hypotheses (MicKey's training loss).

The Map-free benchmark's VCRE places a 7 x 4 x 7 grid of virtual points (0.3 m spacing,
centred in x/y, z from 1.8 m) in front of a camera and measures how far their projections
move when the true pose is replaced by the estimate. The loss averages the error seen from
both cameras of a pair and soft-clips it with tanh(err / 80 px), so hopeless hypotheses
saturate instead of dominating the gradient. MicKey's 80 px are pixels of Map-free's
540-px-wide frames; on other widths the clip scales with the width (:func:`soft_clip_px`), as
the validation thresholds do, so it saturates at the same fraction of the image.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mapfree.evaluation.aggregate import BENCHMARK_IMAGE_WIDTH
from mapfree.geometry.camera import Camera

GRID_SHAPE = (7, 4, 7)
GRID_STEP = 0.3
GRID_Z_OFFSET = 1.8
SOFT_CLIP_PX = 80.0
"""MicKey's soft clip, pixels of Map-free's BENCHMARK_IMAGE_WIDTH-px-wide frames."""
MIN_DEPTH = 1e-3
"""Points closer than this (or behind the camera) project as if at this depth, then get clamped."""


def virtual_grid(device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """(196, 3) virtual points in camera coordinates, metres."""
    nx, ny, nz = GRID_SHAPE
    x = (torch.arange(nx, dtype=dtype, device=device) - (nx - 1) / 2) * GRID_STEP
    y = (torch.arange(ny, dtype=dtype, device=device) - (ny - 1) / 2) * GRID_STEP
    z = torch.arange(nz, dtype=dtype, device=device) * GRID_STEP + GRID_Z_OFFSET
    return torch.stack(torch.meshgrid(x, y, z, indexing="ij"), -1).reshape(-1, 3)


def soft_clip_px(clip_px: float | None, width: Tensor) -> float | Tensor:
    """The soft clip for VCRE measured in `width`-px-wide images: `clip_px` when given, else
    MicKey's SOFT_CLIP_PX scaled from Map-free's frame width to `width` (any shape)."""
    if clip_px is not None:
        return clip_px
    return SOFT_CLIP_PX * width / BENCHMARK_IMAGE_WIDTH


def _project_clamped(points: Tensor, camera: Camera) -> Tensor:
    """(..., P, 3) camera points to (..., P, 2) pixels clamped to [0, W] x [0, H] like the benchmark."""
    uvw = points @ camera.K.transpose(-1, -2)
    uv = uvw[..., :2] / uvw[..., 2:3].clamp_min(MIN_DEPTH)
    upper = camera.size.to(uv.dtype).unsqueeze(-2)
    return torch.minimum(uv.clamp_min(0.0), upper)


def _apply(R: Tensor, t: Tensor, points: Tensor) -> Tensor:
    return points @ R.transpose(-1, -2) + t.unsqueeze(-2)


def reprojection_error(R_err: Tensor, t_err: Tensor, camera: Camera) -> Tensor:
    """Mean pixel shift of the virtual grid moved by the error transform (R_err, t_err).

    R_err (..., 3, 3), t_err (..., 3); `camera` of tensors K (..., 3, 3), size (..., 2) = (W, H).
    Returns (...,).
    """
    grid = virtual_grid(R_err.device, R_err.dtype)
    uv_true = _project_clamped(grid.expand(*R_err.shape[:-2], -1, -1), camera)
    uv_est = _project_clamped(_apply(R_err, t_err, grid), camera)
    # the epsilon keeps the norm's gradient finite where a point did not move at all
    return ((uv_true - uv_est).square().sum(-1) + 1e-8).sqrt().mean(-1)


def symmetric_vcre(R: Tensor, t: Tensor, T_gt: Tensor, camera0: Camera, camera1: Camera) -> Tensor:
    """Mean of the VCRE seen by camera 1 (the benchmark's query side) and by camera 0, pixels.

    R (..., 3, 3), t (..., 3) estimate camera-0 -> camera-1; T_gt (..., 4, 4) the truth; camera0/camera1
    of tensors K (..., 3, 3) and size (..., 2) = (W, H), one per image. Leading dimensions broadcast.
    """
    R_gt, t_gt = T_gt[..., :3, :3], T_gt[..., :3, 3]
    R_gt_inv = R_gt.transpose(-1, -2)
    t_gt_inv = -(R_gt_inv @ t_gt.unsqueeze(-1)).squeeze(-1)
    # camera 1: points fixed in the true camera-1 frame, seen through T_est o T_gt^-1
    R1 = R @ R_gt_inv
    t1 = (R @ t_gt_inv.unsqueeze(-1)).squeeze(-1) + t
    # camera 0: points fixed in camera 0, seen through T_est^-1 o T_gt
    R_inv = R.transpose(-1, -2)
    R0 = R_inv @ R_gt
    t0 = (R_inv @ (t_gt - t).unsqueeze(-1)).squeeze(-1)
    return 0.5 * (reprojection_error(R1, t1, camera1) + reprojection_error(R0, t0, camera0))


def vcre_loss(
    R: Tensor,
    t: Tensor,
    T_gt: Tensor,
    camera0: Camera,
    camera1: Camera,
    clip_px: float | Tensor | None = SOFT_CLIP_PX,
) -> Tensor:
    """Symmetric VCRE (:func:`symmetric_vcre`) soft-clipped to [0, 1) by tanh(err / clip_px) (a tensor
    broadcasts against the leading dimensions); `clip_px=None` returns pixels."""
    err = symmetric_vcre(R, t, T_gt, camera0, camera1)
    return err if clip_px is None else torch.tanh(err / clip_px)
