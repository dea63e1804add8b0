"""Depth panels for papers: patch depths on one metric scale, relative-error maps and confidences.

Two layouts of the same panels: :func:`plot_depth_panels` has a row per frame (a pair's maps, as
`mapfree pose --out` draws them), :func:`plot_depth_sources` a row per depth source (the truth, a
teacher and every model on one pair), which stays a page wide however many sources there are.
"""

from __future__ import annotations

import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from mapfree.atomic import save_figure_atomic
from mapfree.models.backbone import PATCH_SIZE
from mapfree.viz.style import styled

DEPTH_CMAP, ERROR_CMAP, CONFIDENCE_CMAP = "turbo", "RdBu_r", "viridis"
NO_VALUE = {"facecolor": "0.82", "edgecolor": "0.55", "hatch": "///"}
"""How a patch without a value looks: its cell is transparent over hatched grey axes."""
CONFIDENCE_PERCENTILES = (2.0, 98.0)
"""The confidence colours span these percentiles of the non-zero confidences shown: a softmax over an image's
patches is far below 1 everywhere (a fixed 0-1 scale draws it in one colour), and the border the model zeroes
would pin the low end at 0."""


@dataclass
class DepthRow:
    """One frame: its (H, W, 3) uint8 image and (h, w) patch maps (NaN: no value).

    `depths` (metres) share one colour scale; each depth other than `reference` also gets a map of
    its relative error against the reference; `confidences` share another scale.
    """

    image: np.ndarray
    depths: dict[str, np.ndarray]
    reference: str | None = None
    confidences: dict[str, np.ndarray] = field(default_factory=dict)
    label: str = ""


@dataclass(frozen=True)
class Panel:
    """One cell of a depth figure: its `kind` (image, depth, error or confidence), the (H, W, 3) image or
    (h, w) patch map it shows, the (H, W) of its frame, and a note for its corner."""

    kind: str
    values: np.ndarray
    frame: tuple[int, int]
    note: str = ""


def depth_range(rows: list[DepthRow], percentile: float = 98.0) -> tuple[float, float]:
    """(0, the `percentile` of every positive finite reference depth, or of every depth without a reference):
    the shared scale of all depth panels, set by the truth so that a far-off estimate cannot flatten it."""
    values = np.concatenate([np.ravel(d) for row in rows for name, d in row.depths.items()
                             if row.reference in (None, name)])
    values = values[np.isfinite(values) & (values > 0)]
    return 0.0, float(np.percentile(values, percentile)) if values.size else 1.0


def confidence_range(rows: list[DepthRow]) -> tuple[float, float]:
    """The :data:`CONFIDENCE_PERCENTILES` of every finite non-zero confidence: the shared scale of the
    confidence panels (zeros fall below it)."""
    values = np.concatenate([np.ravel(c) for row in rows for c in row.confidences.values()] or [np.zeros(0)])
    values = values[np.isfinite(values) & (values != 0)]
    if not values.size:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(values, CONFIDENCE_PERCENTILES))
    return (lo, hi) if hi > lo else (lo, lo + max(abs(lo), 1e-12))  # a constant map: one colour, a valid scale


def relative_error(depth: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(depth - reference) / reference where both are positive, NaN elsewhere."""
    ok = np.isfinite(depth) & np.isfinite(reference) & (depth > 0) & (reference > 0)
    return np.where(ok, (depth - reference) / np.where(ok, reference, 1.0), np.nan)


def _cmap(name: str) -> Colormap:
    return colormaps[name].with_extremes(bad=(0, 0, 0, 0))


def _panel(row: DepthRow, name: str, kind: str) -> Panel:
    """The panel of `row` a `kind` column shows for `name`; an error panel notes its AbsRel."""
    frame = row.image.shape[:2]
    if kind == "image":
        return Panel(kind, row.image, frame)
    if kind == "error":
        error = relative_error(row.depths[name], row.depths[row.reference])
        finite = np.isfinite(error)
        return Panel(kind, error, frame, f"AbsRel {np.abs(error[finite]).mean():.2f}" if finite.any() else "")
    return Panel(kind, (row.depths if kind == "depth" else row.confidences)[name], frame)


def _scales(rows: list[DepthRow], max_error: float) -> dict[str, tuple[str, float, float, str, str]]:
    """{kind: (colour map, low, high, colour bar label, extend)} of the map panels."""
    lo, hi = CONFIDENCE_PERCENTILES
    return {"depth": (DEPTH_CMAP, *depth_range(rows), "depth (m)", "max"),
            "error": (ERROR_CMAP, -max_error, max_error,
                      f"relative error (d - d_ref) / d_ref\nclipped at ±{max_error:g}", "both"),
            "confidence": (CONFIDENCE_CMAP, *confidence_range(rows),
                           f"confidence\nscale: {lo:g}-{hi:g}th percentile\nof its non-zero values", "both")}


def _caption(row: DepthRow) -> str:
    lines = ["hatched grey: patch without a value (no depth there, e.g. sky)"]
    if row.reference is not None:
        lines.append(f"depth scale: 0 to the 98th percentile of {row.reference}; errors against {row.reference}, "
                     "their mean |relative error| (AbsRel) in the corner")
    if row.confidences:
        lines.append("zero confidence (the border the model leaves out) lies below its scale")
    return "\n".join(lines)


def _draw(table: list[list[Panel | None]], row_labels: list[str], column_titles: list[str], rows: list[DepthRow],
          max_error: float, path: str | Path, title: str, panel_w: float, dpi: int) -> Figure:
    """The `table` of panels (None: an empty cell), a colour bar under each kind's panels, the legend below."""
    height, width = rows[0].image.shape[:2]
    fig = Figure(figsize=(panel_w * len(table[0]) + 0.3, panel_w * height / width * len(table) + 1.4))
    axes = fig.subplots(len(table), len(table[0]), squeeze=False)
    scales = _scales(rows, max_error)
    handles, groups = {}, defaultdict(list)
    for r, (panels, ax_row) in enumerate(zip(table, axes)):
        ax_row[0].set_ylabel(row_labels[r], fontsize=9)
        for ax, panel, heading in zip(ax_row, panels, column_titles):
            if r == 0:
                ax.set_title(heading, fontsize=9)
            if panel is None:
                ax.set_axis_off()
                continue
            h, w = panel.frame
            ax.set(xticks=[], yticks=[], xlim=(0, w), ylim=(h, 0))
            if panel.kind == "image":
                ax.imshow(panel.values, extent=(0, w, h, 0))
                continue
            cmap, lo, hi, _, _ = scales[panel.kind]
            ax.patch.set(**NO_VALUE)
            grid = panel.values
            handles[panel.kind] = ax.imshow(grid, cmap=_cmap(cmap), vmin=lo, vmax=hi, interpolation="nearest",
                                            extent=(0, grid.shape[1] * PATCH_SIZE, grid.shape[0] * PATCH_SIZE, 0))
            groups[panel.kind].append(ax)
            if panel.note:
                ax.text(0.03, 0.03, panel.note, transform=ax.transAxes, fontsize=7,
                        bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0, "pad": 1.5})
    for kind, (_, _, _, label, extend) in scales.items():
        if kind in handles:
            bar = fig.colorbar(handles[kind], ax=groups[kind], location="bottom", shrink=0.9, aspect=25,
                               extend=extend)
            bar.set_label(label, fontsize=9)
            bar.locator, bar.formatter = MaxNLocator(4), ScalarFormatter(useMathText=True)
            bar.formatter.set_powerlimits((-2, 4))  # 2.55 with x10^-3 beside the bar, not 0.00255
    caption = "\n".join(textwrap.fill(line, int(14 * fig.get_figwidth()) - 6)  # ~14 characters an inch at 8 pt
                        for line in _caption(rows[0]).splitlines())
    fig.legend(handles=[Patch(**NO_VALUE, label=caption)], loc="outside lower center", fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    save_figure_atomic(fig, path, dpi=dpi)
    return fig


@styled
def plot_depth_panels(rows: list[DepthRow], path: str | Path, title: str = "", max_error: float = 1.0,
                      dpi: int = 120) -> Figure:
    """A grid, one row per frame: image | depths (shared metre scale) | relative errors | confidences.

    Each group of columns has one colour bar (metres; signed relative error clipped at
    +-`max_error`; confidence between percentiles of the maps shown). Patches without a value are
    hatched grey, as the legend says.
    """
    first = rows[0]
    errors = [name for name in first.depths if first.reference is not None and name != first.reference]
    columns = ([("image", "image")] + [(name, "depth") for name in first.depths] + [(name, "error") for name in errors]
               + [(name, "confidence") for name in first.confidences])
    headings = {"image": "image", "depth": "{}", "error": "error of {}", "confidence": "{}"}
    table = [[_panel(row, name, kind) for name, kind in columns] for row in rows]
    return _draw(table, [row.label for row in rows], [headings[kind].format(name) for name, kind in columns], rows,
                 max_error, path, title, max(2.3, 9.0 / len(columns)), dpi)  # at least ~1000 px wide at 120 dpi


@styled
def plot_depth_sources(rows: list[DepthRow], path: str | Path, title: str = "", max_error: float = 1.0,
                       dpi: int = 150) -> Figure:
    """A row per depth source of `rows` (frames with the same sources and a reference): a column per frame
    of depths (shared metre scale), then one per frame of relative errors against the reference, under
    the frames' images. Four columns for a pair, whatever the number of sources."""
    first = rows[0]
    if first.reference is None:
        raise ValueError("plot_depth_sources draws errors against a reference depth; the rows name none")
    table: list[list[Panel | None]] = [[_panel(row, "", "image") for row in rows] * 2]
    table += [[_panel(row, name, "depth") for row in rows]
              + [None if name == first.reference else _panel(row, name, "error") for row in rows]
              for name in first.depths]
    titles = [f"{row.label}: depth" for row in rows] + [f"{row.label}: error" for row in rows]
    return _draw(table, ["image", *first.depths], titles, rows, max_error, path, title, 1.6, dpi)
