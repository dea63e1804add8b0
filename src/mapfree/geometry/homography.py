"""Random homographies and the patch each patch centre lands in (self-supervised feature pretraining)."""

from __future__ import annotations

import math

import torch
from kornia.geometry.linalg import transform_points
from kornia.geometry.transform import get_perspective_transform
from torch import Tensor


def random_homographies(
    n: int,
    size: tuple[int, int],
    max_rotation_deg: float = 15.0,
    max_log_scale: float = 0.4,
    corner_jitter: float = 0.2,
    generator: torch.Generator | None = None,
) -> Tensor:
    """(n, 3, 3) homographies mapping pixels of a (height, width) = `size` image into its warp.

    Each one rotates the image about its centre by up to `max_rotation_deg`, scales it by
    exp(U(-max_log_scale, max_log_scale) / 2), then moves every corner by up to `corner_jitter`
    of the image side (the perspective part): the view changes a hand-held camera makes of a
    planar surface.
    """
    height, width = size
    uniform = lambda *shape: 2 * torch.rand(*shape, generator=generator) - 1  # noqa: E731
    corners = torch.tensor([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=torch.float32)
    centre = torch.tensor([(width - 1) / 2, (height - 1) / 2])
    angle = uniform(n) * math.radians(max_rotation_deg)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    scale = torch.exp(uniform(n) * max_log_scale / 2)
    moved = ((corners - centre) @ rotation.transpose(1, 2)) * scale[:, None, None] + centre
    moved = moved + uniform(n, 4, 2) * corner_jitter * torch.tensor([width, height])
    return get_perspective_transform(corners.expand(n, 4, 2), moved)


def patch_centres(grid: tuple[int, int], patch_size: int) -> Tensor:
    """(h * w, 2) pixel centres (x, y) of a row-major (h, w) patch grid."""
    h, w = grid
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return torch.stack([xs, ys], -1).reshape(-1, 2).float() * patch_size + (patch_size - 1) / 2


def patch_targets(homographies: Tensor, grid: tuple[int, int], patch_size: int) -> tuple[Tensor, Tensor]:
    """Where every patch centre of an image lands in its warps.

    Returns `target` (n, h * w): row-major index of the patch of the warped image that holds
    the warped centre, and `inside` (n, h * w): whether it lands inside that patch grid at all.
    """
    h, w = grid
    points = transform_points(homographies, patch_centres(grid, patch_size).expand(len(homographies), -1, -1))
    col, row = torch.floor(points[..., 0] / patch_size), torch.floor(points[..., 1] / patch_size)
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h) & torch.isfinite(points).all(-1)
    col, row = torch.nan_to_num(col).clamp(0, w - 1), torch.nan_to_num(row).clamp(0, h - 1)
    return (row * w + col).long(), inside
