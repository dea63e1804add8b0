"""Match figures for papers, and the figures `mapfree pose --out` writes for one pair."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
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


@dataclass(frozen=True)
class MatchPanel:
    """One pair's matches: (H, W, 3) uint8 images, (N, 2) pixel ends in each, their scores, the inlier mask and
    a title."""

    image0: np.ndarray
    image1: np.ndarray
    pts0: np.ndarray
    pts1: np.ndarray
    scores: np.ndarray
    inliers: np.ndarray
    title: str = ""


def _inlier_scores(panel: MatchPanel) -> np.ndarray:
    scores, inliers = np.asarray(panel.scores, dtype=np.float64), np.asarray(panel.inliers, dtype=bool)
    return scores[inliers] if inliers.any() else scores


def _draw_matches(ax: Axes, panel: MatchPanel, norm: Normalize, gap: int, max_outliers: int) -> LineCollection:
    """One pair on `ax`: inliers coloured by score under `norm` (strongest on top), an even spread of at most
    `max_outliers` outliers, the counts in the title and legend; returns the inliers' lines."""
    scores, inliers = np.asarray(panel.scores, dtype=np.float64), np.asarray(panel.inliers, dtype=bool)
    canvas, offset = side_by_side(panel.image0, panel.image1, gap)
    ends = np.stack([panel.pts0, panel.pts1 + [offset, 0]], axis=1) if len(panel.pts0) else np.zeros((0, 2, 2))
    ax.imshow(canvas)
    ax.set_axis_off()
    outliers = ends[~inliers]
    drawn = outliers[np.unique(np.linspace(0, len(outliers) - 1, min(len(outliers), max_outliers)).astype(int))]
    ax.add_collection(LineCollection(drawn, colors=OUTLIER_COLOR, linewidths=0.6, alpha=0.45))
    order = np.argsort(scores[inliers])
    lines = LineCollection(ends[inliers][order], cmap=MATCH_CMAP, norm=norm, linewidths=1.3)
    lines.set_array(scores[inliers][order])
    ax.add_collection(lines)
    if inliers.any():
        dots = ends[inliers][order].reshape(-1, 2)
        ax.scatter(*dots.T, c=np.repeat(scores[inliers][order], 2), cmap=MATCH_CMAP, norm=norm, s=6, zorder=3)
    outlier_label = f"outlier ({len(outliers)}" + (f", {len(drawn)} drawn)" if len(drawn) < len(outliers) else ")")
    ax.legend(handles=[Line2D([], [], color=lines.cmap(0.7), lw=2, label=f"inlier ({inliers.sum()})"),
                       Line2D([], [], color=OUTLIER_COLOR, lw=1, label=outlier_label)],
              loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=2, frameon=False)
    share = f" ({inliers.mean():.0%})" if len(inliers) else ""
    counts = f"{inliers.sum()} inliers of {len(inliers)} sampled matches{share}"
    ax.set_title(f"{panel.title}\n{counts}" if panel.title else counts)
    return lines


@styled
def plot_match_panels(panels: Sequence[MatchPanel], path: str | Path, title: str = "", width_px: int = 1200,
                      dpi: int = 120, gap: int = 8, max_outliers: int = 150) -> Figure:
    """The pairs of `panels` one above the other, their inliers coloured on one score scale (one colour bar)
    and outliers thin red; each title gives its pair's inlier and match counts, the legend how many
    outliers (at most `max_outliers`, an even spread) are drawn."""
    shown = np.concatenate([_inlier_scores(panel) for panel in panels])
    norm = Normalize(*(np.nanmin(shown), np.nanmax(shown)) if len(shown) else (0.0, 1.0))
    width_in = width_px / dpi
    heights = [width_in * canvas.shape[0] / canvas.shape[1] * 0.85 + 1.3
               for canvas, _ in (side_by_side(p.image0, p.image1, gap) for p in panels)]
    fig = Figure(figsize=(width_in, sum(heights) + (0.4 if title else 0.0)))
    axes = fig.subplots(len(panels), 1, squeeze=False, height_ratios=heights)[:, 0]
    lines = [_draw_matches(ax, panel, norm, gap, max_outliers) for ax, panel in zip(axes, panels)]
    fig.colorbar(lines[0], ax=list(axes), location="right", shrink=0.8 / len(panels) ** 0.5,
                 label="match probability (inliers)")
    if title:
        fig.suptitle(title)
    save_figure_atomic(fig, path, dpi=dpi)
    return fig


def plot_matches(image0: np.ndarray, image1: np.ndarray, pts0: np.ndarray, pts1: np.ndarray, scores: np.ndarray,
                 inliers: np.ndarray, path: str | Path, title: str = "", width_px: int = 1200, dpi: int = 120,
                 gap: int = 8, max_outliers: int = 150) -> Figure:
    """Matches (N, 2) pixel pairs between the images: :func:`plot_match_panels` of this one pair."""
    return plot_match_panels([MatchPanel(image0, image1, pts0, pts1, scores, inliers, title)], path,
                             width_px=width_px, dpi=dpi, gap=gap, max_outliers=max_outliers)
