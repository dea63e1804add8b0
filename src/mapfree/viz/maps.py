"""Map images for the experiment loggers: an input frame next to its predicted depth, target depth and confidence,
as (H, W, 3) uint8 arrays (colour maps applied here, no figure)."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib import colormaps
from torch import Tensor


def colorize(grid: Tensor, cmap: str = "magma_r", lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """(h, w) values to (h, w, 3) uint8 colours; NaN is grey. Range: 2nd-98th percentile unless given."""
    values = grid.detach().float().cpu().numpy()
    finite = np.isfinite(values)
    if finite.any():
        lo = np.percentile(values[finite], 2) if lo is None else lo
        hi = np.percentile(values[finite], 98) if hi is None else hi
    lo, hi = (0.0, 1.0) if lo is None else (lo, hi)
    scaled = np.clip((values - lo) / max(hi - lo, 1e-9), 0, 1)
    rgb = (colormaps[cmap](np.nan_to_num(scaled))[..., :3] * 255).astype(np.uint8)
    rgb[~finite] = 128
    return rgb


def _upsample(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    rows = np.minimum(np.arange(height) * rgb.shape[0] // height, rgb.shape[0] - 1)
    cols = np.minimum(np.arange(width) * rgb.shape[1] // width, rgb.shape[1] - 1)
    return rgb[rows][:, cols]


def map_panel(image: Tensor, grid: tuple[int, int], depth: Tensor, confidence: Tensor,
              target: Tensor | None = None, metric_target: bool = True) -> np.ndarray:
    """(H, k * W, 3) uint8: image | predicted depth | [target depth] | confidence, side by side.

    image (3, H, W) in [0, 1]; depth, confidence, target (h * w,) patch values. A metric target
    and the prediction share the target's colour range, so equal colours mean equal metres.
    """
    h, w = grid
    H, W = image.shape[-2:]
    frame = (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).astype(np.uint8)
    lo = hi = None
    if target is not None and metric_target and torch.isfinite(target).any():
        finite = target[torch.isfinite(target)].float().cpu().numpy()
        lo, hi = np.percentile(finite, 2), np.percentile(finite, 98)
    panels = [frame, _upsample(colorize(depth.detach().view(h, w), lo=lo, hi=hi), H, W)]
    if target is not None:
        panels.append(_upsample(colorize(target.detach().view(h, w), lo=lo, hi=hi), H, W))
    panels.append(_upsample(colorize(confidence.detach().view(h, w), cmap="viridis"), H, W))
    return np.concatenate(panels, axis=1)

