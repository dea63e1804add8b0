"""Depth panels for papers: patch depths on one metric scale, relative-error maps and confidences."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mapfree.atomic import save_figure_atomic
from mapfree.models.backbone import PATCH_SIZE
from mapfree.viz.style import styled

DEPTH_CMAP, ERROR_CMAP, CONFIDENCE_CMAP = "turbo", "RdBu_r", "viridis"
NO_VALUE = {"facecolor": "0.82", "edgecolor": "0.55", "hatch": "///"}
"""How a patch without a value looks: its cell is transparent over hatched grey axes."""


@dataclass
class DepthRow:
    """One frame: its (H, W, 3) uint8 image and (h, w) patch maps (NaN: no value).

    `depths` (metres) share one colour scale; each depth other than `reference` also gets a map of
    its relative error against the reference; `confidences` lie in [0, 1].
    """

    image: np.ndarray
    depths: dict[str, np.ndarray]
    reference: str | None = None
    confidences: dict[str, np.ndarray] = field(default_factory=dict)
    label: str = ""


def depth_range(rows: list[DepthRow], percentile: float = 98.0) -> tuple[float, float]:
    """(0, the `percentile` of every positive finite depth): the shared scale of all depth panels."""
    values = np.concatenate([np.ravel(d) for row in rows for d in row.depths.values()])
    values = values[np.isfinite(values) & (values > 0)]
    return 0.0, float(np.percentile(values, percentile)) if values.size else 1.0


def relative_error(depth: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(depth - reference) / reference where both are positive, NaN elsewhere."""
    ok = np.isfinite(depth) & np.isfinite(reference) & (depth > 0) & (reference > 0)
    return np.where(ok, (depth - reference) / np.where(ok, reference, 1.0), np.nan)


def _cmap(name: str) -> Colormap:
    return colormaps[name].with_extremes(bad=(0, 0, 0, 0))


def _grid(row: DepthRow, name: str, kind: str) -> np.ndarray:
    """The (h, w) map a `kind` column ("depth", "error", "confidence") shows for `name`."""
    if kind == "error":
        return relative_error(row.depths[name], row.depths[row.reference])
    return (row.depths if kind == "depth" else row.confidences)[name]


@styled
def plot_depth_panels(rows: list[DepthRow], path: str | Path, title: str = "", max_error: float = 1.0,
                      dpi: int = 120) -> Figure:
    """A grid, one row per frame: image | depths (shared metre scale) | relative errors | confidences.

    Each group of columns has one colour bar (metres; signed relative error clipped at
    +-`max_error`; confidence). Patches without a value are hatched grey, as the legend says.
    """
    first = rows[0]
    errors = [name for name in first.depths if first.reference is not None and name != first.reference]
    columns = ([("image", "image")] + [(name, "depth") for name in first.depths] + [(name, "error") for name in errors]
               + [(name, "confidence") for name in first.confidences])
    height, width = first.image.shape[:2]
    panel_w = max(2.3, 9.0 / len(columns))  # at least ~1000 px wide at 120 dpi
    fig = Figure(figsize=(panel_w * len(columns), panel_w * height / width * len(rows) + 1.6))
    axes = fig.subplots(len(rows), len(columns), squeeze=False)
    vmin, vmax = depth_range(rows)
    styles = {"depth": (DEPTH_CMAP, vmin, vmax), "error": (ERROR_CMAP, -max_error, max_error),
              "confidence": (CONFIDENCE_CMAP, 0.0, 1.0)}
    headings = {"image": "image", "depth": "{}", "error": "error of {}", "confidence": "{}"}
    handles = {}
    for r, (row, ax_row) in enumerate(zip(rows, axes)):
        for ax, (name, kind) in zip(ax_row, columns):
            ax.set(xticks=[], yticks=[], xlim=(0, width), ylim=(height, 0))
            if r == 0:
                ax.set_title(headings[kind].format(name), fontsize=9)
            if kind == "image":
                ax.imshow(row.image, extent=(0, width, height, 0))
                ax.set_ylabel(row.label, fontsize=9)
                continue
            grid = _grid(row, name, kind)
            cmap, lo, hi = styles[kind]
            ax.patch.set(**NO_VALUE)
            handles[kind] = ax.imshow(grid, cmap=_cmap(cmap), vmin=lo, vmax=hi, interpolation="nearest",
                                      extent=(0, grid.shape[1] * PATCH_SIZE, grid.shape[0] * PATCH_SIZE, 0))
    for kind, label, extend in (("depth", "depth (m)", "max"),
                                ("error", f"relative error (d - d_ref) / d_ref, clipped at ±{max_error:g}", "both"),
                                ("confidence", "confidence", "neither")):
        if kind in handles:
            group = [ax for ax_col, (_, k) in zip(axes.T, columns) if k == kind for ax in ax_col]
            fig.colorbar(handles[kind], ax=group, location="bottom", shrink=0.9, aspect=25, label=label,
                         extend=extend)
    caption = "hatched grey: patch without a value (no depth there, e.g. sky)"
    if first.reference is not None:
        caption += f"; errors against {first.reference}"
    fig.legend(handles=[Patch(**NO_VALUE, label=caption)], loc="outside lower center", fontsize=9, frameon=False)
    if title:
        fig.suptitle(title)
    save_figure_atomic(fig, path, dpi=dpi)
    return fig
