"""Dense maps to MicKey's patch grid: crop like MicKey, then average every 14x14 patch."""

from __future__ import annotations

import torch

from mapfree.models.mickey import PATCH_SIZE, crop_to_patches


def patch_average(dense: torch.Tensor, min_valid_fraction: float = 0.5) -> torch.Tensor:
    """(..., H, W) maps to (..., H // 14, W // 14) patch means over the finite pixels.

    The right/bottom pixels MicKey drops (see `crop_to_patches`) are dropped here too. A patch
    whose share of finite pixels is below `min_valid_fraction` gets NaN: no target rather than
    a made-up one. Sums run in float64 so fp16 maps average exactly.
    """
    x = crop_to_patches(dense)
    *lead, h, w = x.shape
    x = x.reshape(*lead, h // PATCH_SIZE, PATCH_SIZE, w // PATCH_SIZE, PATCH_SIZE)
    valid = torch.isfinite(x)
    count = valid.sum(dim=(-3, -1))
    total = torch.where(valid, x.double(), 0.0).sum(dim=(-3, -1))
    mean = (total / count.clamp(min=1)).float()
    enough = (count > 0) & (count >= min_valid_fraction * PATCH_SIZE**2)
    return torch.where(enough, mean, float("nan"))
