"""The two 6D rotation encodings of the released code (Zhou et al., "On the Continuity of Rotation
Representations in Neural Networks"): map-free-reloc's head reads its 6 numbers as the first two
*columns* of R, FAR's blend as the first two *rows*."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def columns_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """(B, 6) to (B, 3, 3): x from the first three numbers, z = x cross y_raw, y = z cross x, as columns."""
    x = unit(d6[:, :3])
    z = unit(torch.cross(x, d6[:, 3:6], dim=1))
    y = torch.cross(z, x, dim=1)
    return torch.stack([x, y, z], dim=2)


def unit(v: torch.Tensor) -> torch.Tensor:
    """Rows of `v` divided by their norm, floored at 1e-8 (map-free-reloc's guard)."""
    return v / v.pow(2).sum(1).sqrt().clamp_min(1e-8)[:, None]


def rows_6d_to_matrix(d6: torch.Tensor) -> torch.Tensor:
    """(..., 6) to (..., 3, 3): Gram-Schmidt on the two 3-vectors, their cross product third, as rows."""
    b1 = F.normalize(d6[..., :3], dim=-1)
    a2 = d6[..., 3:]
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    return torch.stack((b1, b2, torch.cross(b1, b2, dim=-1)), dim=-2)


def matrix_to_rows_6d(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) to (..., 6): the first two rows, flattened (inverse of :func:`rows_6d_to_matrix` on rotations)."""
    return R[..., :2, :].reshape(*R.shape[:-2], 6)
