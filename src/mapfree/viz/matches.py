"""Match figures for papers, and the figures `mapfree pose --out` writes for one pair."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from mapfree.atomic import save_figure_atomic
from mapfree.viz.style import styled

MATCH_CMAP, OUTLIER_COLOR = "viridis", "tab:red"


def side_by_side(image0: np.ndarray, image1: np.ndarray, gap: int) -> tuple[np.ndarray, int]:
    """Both (H, W, 3) uint8 images on one white canvas, `gap` pixels apart; returns it and image1's x offset."""
    h = max(image0.shape[0], image1.shape[0])
    offset = image0.shape[1] + gap
    canvas = np.full((h, offset + image1.shape[1], 3), 255, np.uint8)
    canvas[: image0.shape[0], : image0.shape[1]] = image0
    canvas[: image1.shape[0], offset:] = image1
    return canvas, offset


@styled
def plot_matches(image0: np.ndarray, image1: np.ndarray, pts0: np.ndarray, pts1: np.ndarray, scores: np.ndarray,
                 inliers: np.ndarray, path: str | Path, title: str = "", width_px: int = 1200, dpi: int = 120,
                 gap: int = 8, max_outliers: int = 150) -> Figure:
    """Matches (N, 2) pixel pairs between the images: inliers coloured by `scores` (colour bar), outliers thin red.

    The title gives the inlier and match counts; the strongest inliers are drawn on top, over at
    most `max_outliers` outliers (an even spread of them; the legend says how many are drawn).
    """
    scores, inliers = np.asarray(scores, dtype=np.float64), np.asarray(inliers, dtype=bool)
    canvas, offset = side_by_side(image0, image1, gap)
    ends = np.stack([pts0, pts1 + [offset, 0]], axis=1) if len(pts0) else np.zeros((0, 2, 2))
    width_in = width_px / dpi
    fig = Figure(figsize=(width_in, width_in * canvas.shape[0] / canvas.shape[1] * 0.85 + 1.3))
    ax = fig.add_subplot()
    ax.imshow(canvas)
    ax.set_axis_off()
    outliers = ends[~inliers]
    drawn = outliers[np.unique(np.linspace(0, len(outliers) - 1, min(len(outliers), max_outliers)).astype(int))]
    ax.add_collection(LineCollection(drawn, colors=OUTLIER_COLOR, linewidths=0.6, alpha=0.45))
    order = np.argsort(scores[inliers])
    shown = scores[inliers] if inliers.any() else scores
    norm = Normalize(*(np.nanmin(shown), np.nanmax(shown)) if len(shown) else (0.0, 1.0))
    lines = LineCollection(ends[inliers][order], cmap=MATCH_CMAP, norm=norm, linewidths=1.3)
    lines.set_array(scores[inliers][order])
    ax.add_collection(lines)
    if inliers.any():
        dots = ends[inliers][order].reshape(-1, 2)
        ax.scatter(*dots.T, c=np.repeat(scores[inliers][order], 2), cmap=MATCH_CMAP, norm=norm, s=6, zorder=3)
    fig.colorbar(lines, ax=ax, location="right", shrink=0.8, label="match probability (inliers)")
    outlier_label = f"outlier ({len(outliers)}" + (f", {len(drawn)} drawn)" if len(drawn) < len(outliers) else ")")
    ax.legend(handles=[Line2D([], [], color=lines.cmap(0.7), lw=2, label=f"inlier ({inliers.sum()})"),
                       Line2D([], [], color=OUTLIER_COLOR, lw=1, label=outlier_label)],
              loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=2, frameon=False)
    share = f" ({inliers.mean():.0%})" if len(inliers) else ""
    counts = f"{inliers.sum()} inliers of {len(inliers)} sampled matches{share}"
    ax.set_title(f"{title}\n{counts}" if title else counts)
    save_figure_atomic(fig, path, dpi=dpi)
    return fig
