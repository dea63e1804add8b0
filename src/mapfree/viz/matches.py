"""PNG visualisations of MicKey outputs: per-patch depth and confidence maps, and matches."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mapfree.atomic import imwrite_atomic


def colorize(values: np.ndarray, cmap: str, vmin: float | None = None, vmax: float | None = None,
             invalid: np.ndarray | None = None) -> np.ndarray:
    """(h, w) values to (h, w, 3) uint8 RGB through a matplotlib colormap; `invalid` pixels black."""
    import matplotlib

    values = np.asarray(values, dtype=np.float64)
    valid = np.isfinite(values) if invalid is None else np.isfinite(values) & ~invalid
    if not valid.any():
        return np.zeros((*values.shape, 3), np.uint8)
    lo = np.min(values[valid]) if vmin is None else vmin
    hi = np.max(values[valid]) if vmax is None else vmax
    scaled = np.clip((values - lo) / max(hi - lo, 1e-12), 0, 1)
    rgb = (matplotlib.colormaps[cmap](np.where(valid, scaled, 0))[..., :3] * 255).astype(np.uint8)
    rgb[~valid] = 0
    return rgb


def upsample_patches(rgb: np.ndarray, size: tuple[int, int], patch: int = 14) -> np.ndarray:
    """(h, w, 3) patch colours to an image of `size` = (W, H): 14x14 blocks from the top-left, black beyond."""
    out = np.zeros((size[1], size[0], 3), np.uint8)
    blocks = np.repeat(np.repeat(rgb, patch, axis=0), patch, axis=1)[: size[1], : size[0]]
    out[: blocks.shape[0], : blocks.shape[1]] = blocks
    return out


def depth_image(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Per-patch depth (h, w) in metres as a colour map of the image `size` = (W, H); near is bright.

    Non-positive depths (below 1 mm), which cannot be right, are drawn black.
    """
    rgb = colorize(depth, "magma_r", vmin=0.0,
                   vmax=float(np.nanpercentile(depth, 98)) if np.isfinite(depth).any() else 1.0,
                   invalid=~(depth > 1e-3))
    return upsample_patches(rgb, size)


def confidence_image(image: np.ndarray, confidence: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Per-patch confidence (h, w) as a heat map blended over the (H, W, 3) uint8 image."""
    heat = colorize(confidence, "inferno", vmin=0.0)
    heat = upsample_patches(heat, (image.shape[1], image.shape[0]))
    return cv2.addWeighted(image, 1 - alpha, heat, alpha, 0)


def matches_image(image0: np.ndarray, image1: np.ndarray, pts0: np.ndarray, pts1: np.ndarray,
                  weights: np.ndarray | None = None, max_lines: int = 300) -> np.ndarray:
    """Images side by side with lines between matched pixels, coloured by weight (strongest on top)."""
    h = max(image0.shape[0], image1.shape[0])
    canvas = np.zeros((h, image0.shape[1] + image1.shape[1], 3), np.uint8)
    canvas[: image0.shape[0], : image0.shape[1]] = image0
    canvas[: image1.shape[0], image0.shape[1]:] = image1
    if len(pts0) == 0:
        return canvas
    weights = np.ones(len(pts0)) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(weights)[-max_lines:]
    colours = colorize(weights[order][None], "viridis")[0]
    offset = np.array([image0.shape[1], 0])
    for i, colour in zip(order, colours):
        a = tuple(int(v) for v in np.round(pts0[i]))
        b = tuple(int(v) for v in np.round(pts1[i] + offset))
        c = tuple(int(v) for v in colour)
        cv2.line(canvas, a, b, c, 1, cv2.LINE_AA)
        cv2.circle(canvas, a, 2, c, -1, cv2.LINE_AA)
        cv2.circle(canvas, b, 2, c, -1, cv2.LINE_AA)
    return canvas


PAIR_FIGURES = ("depth0.png", "depth1.png", "confidence0.png", "confidence1.png", "matches.png")
"""The files `save_pair_figures` writes, in its order."""


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    return imwrite_atomic(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def save_pair_figures(out_dir: str | Path, image0: np.ndarray, image1: np.ndarray, depth0: np.ndarray,
                      depth1: np.ndarray, scr0: np.ndarray, scr1: np.ndarray, pts0: np.ndarray, pts1: np.ndarray,
                      weights: np.ndarray | None = None) -> list[Path]:
    """Write `PAIR_FIGURES` (depth0/1, confidence0/1, matches); maps are (h, w) patch grids."""
    out = Path(out_dir)
    images = (depth_image(depth0, (image0.shape[1], image0.shape[0])),
              depth_image(depth1, (image1.shape[1], image1.shape[0])),
              confidence_image(image0, scr0), confidence_image(image1, scr1),
              matches_image(image0, image1, pts0, pts1, weights))
    return [write_png(out / name, image) for name, image in zip(PAIR_FIGURES, images)]
